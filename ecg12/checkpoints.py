"""A training run's model folder: the checks before a run, the checkpoint, and the files written beside it.

The checkpoint, written atomically at the end of every epoch, holds the configuration, which
recordings trained and validated, the model, optimiser, scheduler and scaler states and the random
states: a run killed at any moment resumes from the last complete epoch. Its tensors are saved
from the CPU, so a checkpoint written on a GPU resumes on any device. Beside it a run writes
metrics.csv (one row per epoch), split.csv and skipped_records.csv; ``model.pt`` and its JSON
copies are written by :func:`ecg12.inference.save_model_folder`.
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

from ecg12.config import TrainConfig
from ecg12.data import SignalCache
from ecg12.devices import device_random_state, restore_device_random_state
from ecg12.files import atomic_write, atomic_write_text, printable, remove_temporaries
from ecg12.inference import MODEL_FILE
from ecg12.measurement_model import network_state

log = logging.getLogger(__name__)


CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "metrics.csv"
CURVES_FILE = "training_curves.png"
SKIPPED_FILE = "skipped_records.csv"
SPLIT_FILE = "split.csv"
MEMBERS_FOLDER = "members"  # fold models of an ensemble, each a complete model folder
# What a training run writes into its model folder (model.pt, config.json and thresholds.json by save_model_folder).
RUN_FILES = (MODEL_FILE, "config.json", "thresholds.json", CHECKPOINT_FILE, HISTORY_FILE, CURVES_FILE, SPLIT_FILE)


def check_model_folder(model_folder: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a model folder that is a file, a resume without a folder, and a new run over a trained model.

    A forgotten ``--resume`` would otherwise replace hours of training after one epoch; the
    organisers' harness always trains into a fresh folder, which passes.
    """
    if model_folder.exists() and not model_folder.is_dir():
        hint = f": give the folder that holds it, {model_folder.parent}" if model_folder.name == MODEL_FILE else ""
        raise ValueError(f"{model_folder} is a file, not a model folder{hint}")
    if resume:
        if not model_folder.is_dir():
            raise FileNotFoundError(f"cannot resume: model folder {model_folder} does not exist")
        return
    previous = [name for name in (MODEL_FILE, CHECKPOINT_FILE, MEMBERS_FOLDER) if (model_folder / name).exists()]
    if previous and not overwrite:
        raise ValueError(
            f"{model_folder} already holds a model ({', '.join(previous)}): continue its run with --resume, "
            "or replace it with a new run with --overwrite"
        )


def remove_previous_run(model_folder: Path) -> None:
    """Delete an earlier run's files (``--overwrite``), so that none of them can be mistaken for the new run's."""
    for name in RUN_FILES:
        (model_folder / name).unlink(missing_ok=True)
    shutil.rmtree(model_folder / MEMBERS_FOLDER, ignore_errors=True)


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


def save_checkpoint(
    path: Path,
    state: TrainingState,
    config: TrainConfig,
    recordings: dict,
    trainable: Trainable,
) -> None:
    # Tensors are saved from the CPU, so a checkpoint written on a GPU resumes on any device.
    checkpoint = {
        "train_config": asdict(config),
        "recordings": recordings,
        "epoch": state.epoch,
        "best_epoch": state.best_epoch,
        "best_score": state.best_score,
        "epochs_without_improvement": state.epochs_without_improvement,
        "history": state.history,
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


def load_checkpoint(
    path: Path,
    config: TrainConfig,
    recordings: dict,
    trainable: Trainable,
) -> TrainingState:
    """Restore ``trainable`` from the checkpoint at ``path``, after checking that it is the same run."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        saved = TrainConfig.from_dict(checkpoint["train_config"])
    except Exception as error:  # torch raises many types for damaged files; checkpoints are written atomically
        raise ValueError(
            f"cannot resume: {path} is not a readable checkpoint ({type(error).__name__}: {error})"
        ) from error
    # Only where and how fast the run goes may change on resume: device, workers, kernels, epochs, cache.
    ignored = {"device", "workers", "deterministic", "epochs", "cache_dir"}
    differences = [
        f.name
        for f in fields(TrainConfig)
        if f.name not in ignored and getattr(saved, f.name) != getattr(config, f.name)
    ]
    if differences:
        raise ValueError(f"cannot resume {path}: the run used different {', '.join(differences)}")
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
