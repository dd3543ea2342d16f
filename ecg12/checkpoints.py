"""A training run's model folder: the checks before a run, the checkpoint, and the files written beside it.

The checkpoint, written atomically at the end of every epoch, holds the configuration, which
recordings trained and validated, the model, optimiser, scheduler and scaler states and the random
states: a run killed at any moment resumes from the last complete epoch. Its tensors are saved
from the CPU, so a checkpoint written on a GPU resumes on any device. Everything else in it is
plain numbers, strings, lists and dicts, so that it is read back with ``torch.load(weights_only=True)``,
which runs no code whoever wrote the file. Beside it a run writes metrics.csv (one row per epoch),
split.csv and skipped_records.csv; ``model.pt`` and its JSON copies are written by
:func:`ecg12.inference.save_model_folder`.

A run with ``--overwrite`` keeps the model it replaces in :data:`PREVIOUS_FOLDER` until it has a
model of its own (:func:`set_previous_run_aside`, :func:`settle_previous_run`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import os
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ecg12.config import WHERE_TO_RUN, TrainConfig
from ecg12.devices import device_random_state, restore_device_random_state
from ecg12.files import atomic_write, atomic_write_text, printable, remove_temporaries
from ecg12.inference import MODEL_FILE, plain, unreadable_reason
from ecg12.measurement_model import network_state
from ecg12.scoring import ONNX_DESCRIPTION_FILE, ONNX_FILE
from ecg12.signal_cache import SignalCache

log = logging.getLogger(__name__)


CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "metrics.csv"
CURVES_FILE = "training_curves.png"
SKIPPED_FILE = "skipped_records.csv"
SPLIT_FILE = "split.csv"
MEMBERS_FOLDER = "members"  # fold models of an ensemble, each a complete model folder
PREVIOUS_FOLDER = ".previous-run"  # the run an --overwrite run replaces, kept until the new run has a model
_SETTING_ASIDE, _PUTTING_BACK = f"{PREVIOUS_FOLDER}.moving", f"{PREVIOUS_FOLDER}.returning"
TRAINING_LOCK = ".training.lock"  # held by the run that trains into a model folder (ecg12.files.one_run)
# What a training run writes into its model folder (model.pt, config.json and thresholds.json by save_model_folder;
# the export ecg12.runs.train writes at the end).
RUN_FILES = (
    MODEL_FILE,
    "config.json",
    "thresholds.json",
    CHECKPOINT_FILE,
    HISTORY_FILE,
    CURVES_FILE,
    SPLIT_FILE,
    ONNX_FILE,
    ONNX_DESCRIPTION_FILE,
)
_RUN_ENTRIES = (*RUN_FILES, SKIPPED_FILE, MEMBERS_FOLDER)
_CHECKPOINT_KEYS = (
    "train_config",
    "epoch",
    "best_epoch",
    "best_score",
    "epochs_without_improvement",
    "history",
    "model",
    "optimizer",
    "scheduler",
    "scaler",
    "torch_rng",
)
# Checkpoints written before their history was kept in plain floats hold NumPy float64 scalars: these rebuild such a
# scalar from its bytes and nothing else, so they may be read without allowing any other code.
_NUMPY_FLOAT_GLOBALS = [np._core.multiarray.scalar, np.dtype, np.dtypes.Float64DType]
# What may change on resume: where and how the run goes, and its epochs (a finished run continued for more).
_RESUMABLE_CHANGES = {*WHERE_TO_RUN, "epochs"}


def member_folder(model_folder: Path, member: int) -> Path:
    """The model folder of fold model ``member`` (1 to k) of the ensemble in ``model_folder``."""
    return Path(model_folder) / MEMBERS_FOLDER / f"member{member}"


def member_numbers(model_folder: Path) -> list[int]:
    """The fold models (1 to k) that have a folder in the ensemble's ``model_folder``, in order."""
    folders = (model_folder / MEMBERS_FOLDER).glob("member*")
    return sorted(int(path.name[6:]) for path in folders if path.name[6:].isdigit() and path.is_dir())


def member_lock(member: int) -> str:
    """The lock file, in the ensemble's folder, held by the run that trains fold model ``member``."""
    return f".member{member}.lock"


def check_not_a_file(model_folder: Path) -> None:
    """Refuse a model folder that is a file (``model.pt`` given for its folder, say)."""
    if model_folder.exists() and not model_folder.is_dir():
        hint = f": give the folder that holds it, {model_folder.parent}" if model_folder.name == MODEL_FILE else ""
        raise ValueError(f"{model_folder} is a file, not a model folder{hint}")


def check_run(
    model_folder: Path, config: TrainConfig, resume: bool, overwrite: bool, member: int | None = None
) -> list[Path]:
    """Refuse a run that cannot go into ``model_folder``, before any recording is read; the checkpoints it resumes.

    Refused: a resume without a folder or a checkpoint, or with other options than the run it
    resumes; a new run over a trained model without ``overwrite`` (a forgotten ``--resume`` would
    replace hours of training after one epoch; the organisers' harness always trains into a fresh
    folder, which passes); a change between one network and a fold ensemble, or of the number of
    members, on resume, and fold models (``member``) beside a single network. Each checkpoint
    returned has been read and matches ``config``; whether it was trained on the same data is
    known once the data are (:func:`check_same_data`).
    """
    check_not_a_file(model_folder)
    single = [name for name in (CHECKPOINT_FILE, MODEL_FILE) if (model_folder / name).is_file()]
    if (model_folder / MEMBERS_FOLDER).is_dir() and CHECKPOINT_FILE not in single:
        single = []  # an ensemble's folder: its model.pt is the assembled ensemble
    if config.members > 1 and single and member is not None:
        raise ValueError(
            f"{model_folder} holds a single network ({', '.join(single)}), and fold models (--member) go into an "
            "ensemble's folder: choose another folder"
        )
    if config.members > 1 and single and resume:
        raise ValueError(
            f"cannot resume {model_folder} with --members {config.members}: it holds a single network's run "
            f"({', '.join(single)}); resume it without --members, or replace it with --overwrite"
        )
    folder = model_folder if member is None else member_folder(model_folder, member)
    if not resume:
        previous = [name for name in (MODEL_FILE, CHECKPOINT_FILE, MEMBERS_FOLDER) if (folder / name).exists()]
        if previous and not overwrite:
            raise ValueError(
                f"{folder} already holds a model ({', '.join(previous)}): continue its run with --resume, "
                "or replace it with a new run with --overwrite"
            )
        return []
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot resume: model folder {folder} does not exist")
    if config.members == 1:
        checkpoint = folder / CHECKPOINT_FILE
        if not checkpoint.is_file():
            ensemble = (folder / MEMBERS_FOLDER).is_dir()
            hint = f" ({folder} holds a fold ensemble: resume it with the --members it was trained with)"
            raise FileNotFoundError(f"cannot resume: {checkpoint} does not exist{hint if ensemble else ''}")
        checkpoints = [checkpoint]
    else:
        trained = member_numbers(model_folder)
        if trained and trained[-1] > config.members:
            raise ValueError(
                f"cannot resume {model_folder} with --members {config.members}: it holds fold models up to "
                f"member{trained[-1]}; resume it with the --members it was trained with"
            )
        members = [member] if member is not None else range(1, config.members + 1)
        checkpoints = [member_folder(model_folder, i) / CHECKPOINT_FILE for i in members]
        checkpoints = [path for path in checkpoints if path.is_file()]
    for path in checkpoints:
        check_same_run(read_checkpoint(path), path, config)
    return checkpoints


def set_previous_run_aside(model_folder: Path) -> None:
    """Before a run with ``--overwrite``: move the model folder's run out of the way, into :data:`PREVIOUS_FOLDER`.

    It stays there until the new run has a model (:func:`settle_previous_run`), so that a new run that
    diverges or is interrupted before its first model leaves the old one. A run without a model (one
    interrupted before it had one) has nothing to keep and is deleted, so that none of its files can be
    mistaken for the new run's; a model already aside stays the one to go back to. The files move
    through a staging folder renamed at once, so that a kill in between is undone by the next run.
    """
    if not (model_folder / MODEL_FILE).is_file():
        _remove_run(model_folder)
        return
    aside, staging = model_folder / PREVIOUS_FOLDER, model_folder / _SETTING_ASIDE
    shutil.rmtree(aside, ignore_errors=True)
    staging.mkdir(exist_ok=True)
    for name in _RUN_ENTRIES:
        if (model_folder / name).exists():
            os.replace(model_folder / name, staging / name)
    os.replace(staging, aside)
    log.info("The previous model is kept in %s until the new run has its own", aside)


def settle_previous_run(model_folder: Path) -> None:
    """Once an ``--overwrite`` run ends (or at the next run, if it was killed): keep one model, and log which.

    The previous model is removed once the new run has one; it is put back if the new run left
    nothing to resume; it stays aside while the new run can be resumed (a fold ensemble whose
    members are not all trained).
    """
    for staging in (model_folder / _SETTING_ASIDE, model_folder / _PUTTING_BACK):
        if staging.is_dir():  # a kill while files moved: undo the move aside, finish putting them back
            _move_back(staging, model_folder)
    aside = model_folder / PREVIOUS_FOLDER
    if not aside.is_dir():
        return
    if (model_folder / MODEL_FILE).is_file():
        shutil.rmtree(aside)
        log.info("%s holds the new run's model; the model it replaced is removed", model_folder)
    elif has_checkpoint(model_folder):
        log.warning(
            "%s holds an unfinished run without a model yet (continue it with --resume); the model it replaces "
            "stays in %s until it has one",
            model_folder,
            aside,
        )
    else:
        _remove_run(model_folder)
        os.replace(aside, model_folder / _PUTTING_BACK)
        _move_back(model_folder / _PUTTING_BACK, model_folder)
        log.warning("The new run ended before it had a model: %s holds its previous model again", model_folder)


def _move_back(staging: Path, model_folder: Path) -> None:
    for entry in staging.iterdir():
        os.replace(entry, model_folder / entry.name)
    staging.rmdir()


def has_checkpoint(model_folder: Path) -> bool:
    """Whether ``model_folder`` holds a run to resume: a network's checkpoint, or one of a fold model's."""
    return (model_folder / CHECKPOINT_FILE).is_file() or any(
        (model_folder / MEMBERS_FOLDER).glob(f"member*/{CHECKPOINT_FILE}")
    )


def _remove_run(model_folder: Path) -> None:
    """Delete a run's files (not the previous run kept aside)."""
    for name in _RUN_ENTRIES:
        if (model_folder / name).is_dir():
            shutil.rmtree(model_folder / name)
        else:
            (model_folder / name).unlink(missing_ok=True)


@dataclass
class TrainingState:
    """Where a run stands after its last complete epoch."""

    epoch: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf
    epochs_without_improvement: int = 0
    history: list[dict[str, object]] | None = None

    def __post_init__(self) -> None:
        self.history = self.history or []

    def record(self, epoch: int, row: dict[str, object], score: float) -> bool:
        """Add epoch ``epoch``'s row with its validation ``score``; True when it is the best epoch so far."""
        self.history.append(row)
        self.epoch = epoch
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.epochs_without_improvement = score, epoch, 0
        else:
            self.epochs_without_improvement += 1
        return improved


class Trainable(Protocol):
    """What a checkpoint saves and restores besides the run's state (ecg12.training.TrainingStep is one)."""

    network: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device


def recordings_summary(cache: SignalCache, train_records: np.ndarray, validation_records: np.ndarray) -> dict:
    """Which recordings a run trains and validates on, in a form a resumed run can compare with its own."""
    digest = hashlib.sha256()
    for subset, records in (("training", train_records), ("validation", validation_records)):
        for index in records:
            digest.update(f"{subset}:".encode() + os.fsencode(cache.names[index]) + b"\n")  # any file name's bytes
    return {"training": len(train_records), "validation": len(validation_records), "digest": digest.hexdigest()}


def data_summary(cache: SignalCache, records: np.ndarray) -> dict:
    """The recordings of a run (names and labels), whatever their split: known as soon as the data are, and
    compared before anything is written (:func:`check_same_data`); the split follows from them and the recipe."""
    digest = hashlib.sha256()
    for index in np.sort(records):
        digest.update(os.fsencode(cache.names[index]) + b":" + ",".join(cache.codes[index]).encode() + b"\n")
    return {"recordings": len(records), "digest": digest.hexdigest()}


def save_checkpoint(
    path: Path,
    state: TrainingState,
    config: TrainConfig,
    recordings: dict,
    data: dict,
    trainable: Trainable,
) -> None:
    # Tensors are saved from the CPU, so a checkpoint written on a GPU resumes on any device; everything else as
    # plain numbers, strings, lists and dicts, which torch.load(weights_only=True) reads back.
    checkpoint = {
        "train_config": asdict(config),
        "recordings": recordings,
        "data": data,
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_score": float(state.best_score),
        "epochs_without_improvement": state.epochs_without_improvement,
        "history": plain(state.history),
        "model": _on_cpu(trainable.network.state_dict()),
        "optimizer": _on_cpu(trainable.optimizer.state_dict()),
        "scheduler": trainable.scheduler.state_dict(),
        "scaler": trainable.scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "device_rng": device_random_state(
            trainable.device
        ),  # the training device's only: another machine may have fewer
    }
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def read_checkpoint(path: Path) -> dict:
    """The checkpoint at ``path``, read without running any code it may hold; ValueError (one line) if it is not one."""
    try:
        with torch.serialization.safe_globals(_NUMPY_FLOAT_GLOBALS):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged or foreign files; checkpoints are atomic
        raise ValueError(
            f"cannot resume: {path} is not a readable checkpoint ({unreadable_reason(path, error, 'checkpoint')}): "
            "start over with --overwrite"
        ) from None
    missing = [key for key in _CHECKPOINT_KEYS if key not in checkpoint] if isinstance(checkpoint, dict) else ["all"]
    if missing:
        raise ValueError(f"cannot resume: {path} is not a complete checkpoint (no {', '.join(missing)})")
    return checkpoint


def check_same_run(checkpoint: dict, path: Path, config: TrainConfig) -> None:
    """Refuse to resume the checkpoint at ``path`` with another recipe than its run's."""
    try:
        saved = TrainConfig.from_dict(checkpoint["train_config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"cannot resume: {path} holds an unreadable configuration ({error})") from None
    differences = [
        f.name
        for f in fields(TrainConfig)
        if f.name not in _RESUMABLE_CHANGES and getattr(saved, f.name) != getattr(config, f.name)
    ]
    if differences:
        raise ValueError(f"cannot resume {path}: the run used different {', '.join(differences)}")


def check_same_data(checkpoints: list[Path], data: dict) -> None:
    """Refuse to resume the ``checkpoints`` (of :func:`check_run`) on other recordings than their run's, before
    anything is written; a checkpoint written before its data were recorded is checked on its split instead."""
    for path in checkpoints:
        before = read_checkpoint(path).get("data")
        if before is not None and before != data:
            raise ValueError(
                f"cannot resume {path}: the data are not the interrupted run's ({before['recordings']} recordings "
                f"then, {data['recordings']} now, or other names or labels): resume with the same DATA, or start over"
            )


def load_checkpoint(
    path: Path,
    config: TrainConfig,
    recordings: dict,
    trainable: Trainable,
) -> TrainingState:
    """Restore ``trainable`` from the checkpoint at ``path``, after checking that it is the same run."""
    checkpoint = read_checkpoint(path)
    check_same_run(checkpoint, path, config)
    before = checkpoint.get("recordings")
    if before is not None and before != recordings:
        raise ValueError(
            f"cannot resume {path}: the data are not the interrupted run's ({before['training']} training and "
            f"{before['validation']} validation recordings then, {recordings['training']} and "
            f"{recordings['validation']} now, or other names): resume with the same DATA, or start over"
        )
    trainable.network.load_state_dict(network_state(checkpoint["model"]))  # the measurement model is refitted
    trainable.optimizer.load_state_dict(checkpoint["optimizer"])
    trainable.scheduler.load_state_dict(checkpoint["scheduler"])
    # A scaler that was disabled (CPU, bfloat16) saved an empty state, which an enabled one rejects: a run
    # resumed on a float16 GPU then starts with a fresh scale, which adapts within a few steps.
    if checkpoint["scaler"] and trainable.scaler.is_enabled():
        trainable.scaler.load_state_dict(checkpoint["scaler"])
    torch.set_rng_state(checkpoint["torch_rng"])
    restore_device_random_state(trainable.device, checkpoint.get("device_rng"))
    return TrainingState(
        epoch=checkpoint["epoch"],
        best_epoch=checkpoint["best_epoch"],
        best_score=checkpoint["best_score"],
        epochs_without_improvement=checkpoint["epochs_without_improvement"],
        history=checkpoint["history"],
    )


def _on_cpu(value: object) -> object:
    """A state dict (nested dicts and lists of tensors) with every tensor copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_on_cpu(item) for item in value)
    return value


def write_history(folder: Path, history: list[dict[str, object]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(folder / HISTORY_FILE, buffer.getvalue())


def write_split(folder: Path, cache: SignalCache, train_records: np.ndarray, validation_records: np.ndarray) -> None:
    rows = [(cache.names[i], "training") for i in train_records] + [
        (cache.names[i], "validation") for i in validation_records
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # quotes names with commas or quotes
    writer.writerow(["recording", "subset"])
    writer.writerows((printable(name), subset) for name, subset in sorted(rows))
    atomic_write_text(folder / SPLIT_FILE, buffer.getvalue())


def report_skipped(cache: SignalCache, folder: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # quotes reasons with commas, quotes or line breaks
    writer.writerow(["recording", "reason"])
    writer.writerows((printable(name), printable(reason)) for name, reason in cache.skipped)
    atomic_write_text(folder / SKIPPED_FILE, buffer.getvalue())
    if cache.skipped:
        log.warning(
            "Skipped %d unreadable recordings (listed in %s), e.g. %s: %s",
            len(cache.skipped),
            folder / SKIPPED_FILE,
            *cache.skipped[0],
        )


def remove_run_temporaries(folder: Path) -> None:
    """Delete what a run killed inside an atomic write of one of its files left behind."""
    remove_temporaries(folder, (*RUN_FILES, SKIPPED_FILE))
