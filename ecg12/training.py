"""Training: data split, the epoch loop, validation with the Challenge metric, checkpoints and resume.

Reproducibility: everything random in an epoch (record order, window positions, noise) comes from
generators seeded with (seed, epoch), and the checkpoint written atomically at the end of every
epoch holds the model, optimiser, scheduler, scaler and global RNG states. A run killed at any
moment therefore resumes (``resume=True``) from the last complete epoch and repeats exactly what an
uninterrupted run would have done. ``model.pt`` is only ever replaced, atomically, by a complete
better model.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ecg12.classes import scored_classes
from ecg12.config import MODEL_SIZES, TrainConfig
from ecg12.data import (
    EpochBatchSampler,
    SignalCache,
    WindowDataset,
    default_cache_root,
    load_or_build_cache,
    millivolts,
)
from ecg12.devices import (
    autocast,
    autocast_dtype,
    configure_reproducibility,
    device_random_state,
    gradient_scaler,
    random_generator,
    resolve_device,
    restore_device_random_state,
)
from ecg12.files import atomic_write, atomic_write_text
from ecg12.inference import MODEL_FILE, load_classifier, predict_probabilities, save_model_folder
from ecg12.loss import HardExampleBCELoss, class_weights
from ecg12.metrics import ChallengeScores, score
from ecg12.model import FoldEnsemble, MultiScaleSENet
from ecg12.plots import plot_training_curves
from ecg12.split import k_folds, train_validation_split
from ecg12.thresholds import DecisionRule, choose_decision_rule

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
HISTORY_FILE = "metrics.csv"
CURVES_FILE = "training_curves.png"
SKIPPED_FILE = "skipped_records.csv"
SPLIT_FILE = "split.csv"
MEMBERS_FOLDER = "members"  # fold models of an ensemble, each a complete model folder
# What a training run writes into its model folder (model.pt, config.json and thresholds.json by save_model_folder).
RUN_FILES = (MODEL_FILE, "config.json", "thresholds.json", CHECKPOINT_FILE, HISTORY_FILE, CURVES_FILE, SPLIT_FILE)


def _learning_rate_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


@dataclass
class Validation:
    """Validation outputs of one epoch."""

    loss: float
    probabilities: np.ndarray
    rule: DecisionRule
    scores: ChallengeScores


def score_columns(scores: ChallengeScores) -> dict[str, float]:
    """The headline scores under column names for tables (metrics.csv, cross-validation)."""
    return {
        "challenge_metric": scores.challenge_metric,
        "auroc": scores.auroc,
        "auprc": scores.auprc,
        "accuracy": scores.accuracy,
        "f_measure": scores.f_measure,
        "f_beta": scores.f_beta_measure,
        "g_beta": scores.g_beta_measure,
    }


def validate(
    model: MultiScaleSENet,
    cache: SignalCache,
    records: np.ndarray,
    labels: np.ndarray,
    criterion: HardExampleBCELoss,
    config: TrainConfig,
    device: torch.device,
) -> Validation:
    """Record-level probabilities of the validation records, their decision rule and Challenge scores."""
    classes = scored_classes()
    inputs = ((cache.signal(int(r)), cache.features[int(r)]) for r in records)
    probabilities = predict_probabilities(model, inputs, device, config.window_stride)
    if not np.isfinite(probabilities).all():
        raise TrainingDiverged("validation outputs that are not finite")
    truth = labels[records]
    clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
    logits = torch.from_numpy(np.log(clipped / (1 - clipped))).to(device)
    loss = float(criterion.per_sample(logits, torch.from_numpy(truth).to(device)).mean())
    rule = choose_decision_rule(truth, probabilities, config.decision_rule)
    return Validation(loss, probabilities, rule, score(truth, rule.apply(probabilities), probabilities, classes))


def train(
    data_folder: str | os.PathLike[str],
    model_folder: str | os.PathLike[str],
    config: TrainConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> dict[str, object]:
    """Train a model on a folder of Challenge recordings into ``model_folder``; returns the best epoch's row.

    ``resume`` continues the interrupted run in ``model_folder``; without it, a folder that already
    holds a model is refused unless ``overwrite`` (a new run then replaces it). Everything that can
    be checked is checked before the signal cache is built, and nothing is created before it is.
    """
    config = config or TrainConfig()
    resolve_device(config.device)  # an unusable device is reported before the (long) cache build
    model_folder = Path(model_folder)
    check_model_folder(model_folder, resume, overwrite)
    cache = load_cache(data_folder, config)
    model_folder.mkdir(parents=True, exist_ok=True)
    if overwrite and not resume:
        _remove_previous_run(model_folder)
    _report_skipped(cache, model_folder)
    if len(cache) == 0:
        raise ValueError(f"{data_folder}: no usable recording (see {model_folder / SKIPPED_FILE})")
    return fit(cache, np.arange(len(cache)), model_folder, config, resume)


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


def _remove_previous_run(model_folder: Path) -> None:
    """Delete an earlier run's files (``--overwrite``), so that none of them can be mistaken for the new run's."""
    for name in RUN_FILES:
        (model_folder / name).unlink(missing_ok=True)
    shutil.rmtree(model_folder / MEMBERS_FOLDER, ignore_errors=True)


def load_cache(data_folder: str | os.PathLike[str], config: TrainConfig) -> SignalCache:
    """The signal cache of a data folder, built with all CPU cores (up to 8) if needed."""
    workers = max(1, min(os.cpu_count() or 1, 8))
    return load_or_build_cache(data_folder, config.cache_dir or default_cache_root(), workers=workers)


def fit(
    cache: SignalCache,
    records: np.ndarray,
    model_folder: str | os.PathLike[str],
    config: TrainConfig,
    resume: bool = False,
) -> dict[str, object]:
    """Train on the cache's ``records`` into ``model_folder``: one network, or ``config.members`` fold models."""
    classes = scored_classes()
    labels = classes.encode(cache.codes)
    if not labels[records].any():
        raise ValueError(f"no recording carries any of the {len(classes.codes)} scored classes")
    if config.members > 1:
        return fit_fold_ensemble(cache, records, model_folder, config, resume)
    validation_mask = train_validation_split(labels[records], config.validation_fraction, config.seed)
    return fit_network(cache, records[~validation_mask], records[validation_mask], model_folder, config, resume)


def fit_fold_ensemble(
    cache: SignalCache,
    records: np.ndarray,
    model_folder: str | os.PathLike[str],
    config: TrainConfig,
    resume: bool = False,
) -> dict[str, object]:
    """``config.members`` networks averaged at inference, as the rank-2 entry of 2020 ran its five fold models.

    The records are split into k = members multilabel-stratified folds; member i is validated (early
    stopping) on fold i and trained on the others, in ``MEMBERS_FOLDER/member{i}``. Every record is
    thus validated on once, and the decision rule is chosen on these pooled validation outputs: k
    times more recordings than one validation split gives. ``model.pt`` is written once, when all
    members are trained; ``resume`` resumes the member that was interrupted and skips finished ones.
    """
    model_folder = Path(model_folder)
    model_folder.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(model_folder)
    classes = scored_classes()
    labels = classes.encode(cache.codes)[records]
    fold_of = k_folds(labels, config.members, config.seed)
    probabilities = np.zeros(labels.shape)
    members: list[MultiScaleSENet] = []
    member_rows: list[dict[str, object]] = []
    for member in range(config.members):
        folder = model_folder / MEMBERS_FOLDER / f"member{member + 1}"
        held_out = fold_of == member
        log.info("Fold model %d/%d: validated on %d recordings", member + 1, config.members, int(held_out.sum()))
        resume_member = resume and (folder / CHECKPOINT_FILE).is_file()
        member_rows.append(fit_network(cache, records[~held_out], records[held_out], folder, config, resume_member))
        classifier = load_classifier(folder, config.device)
        inputs = ((cache.signal(int(r)), cache.features[int(r)]) for r in records[held_out])
        probabilities[held_out] = classifier.probabilities(inputs)
        members.append(classifier.model)  # type: ignore[arg-type]  # a member folder holds one network

    rule = choose_decision_rule(labels, probabilities, config.decision_rule)
    pooled = score_columns(score(labels, rule.apply(probabilities), probabilities, classes))
    log.info("Fold ensemble: pooled validation Challenge metric %.4f", pooled["challenge_metric"])
    training_info = {
        "train_config": asdict(config),
        "cache": str(cache.folder),
        "recordings": len(records),
        "member_best_epochs": [row["epoch"] for row in member_rows],
        **{f"pooled_validation_{key}": value for key, value in pooled.items()},
        "torch": str(torch.__version__),
    }
    save_model_folder(model_folder, FoldEnsemble(members), rule, config.window_stride, training_info)
    return {"members": config.members, **{f"validation_{key}": value for key, value in pooled.items()}}


def fit_network(
    cache: SignalCache,
    train_records: np.ndarray,
    validation_records: np.ndarray,
    model_folder: str | os.PathLike[str],
    config: TrainConfig,
    resume: bool = False,
) -> dict[str, object]:
    """Train one network on ``train_records``, early-stopped on ``validation_records``; returns the best epoch's row."""
    model_folder = Path(model_folder)
    model_folder.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(model_folder)
    device = resolve_device(config.device)
    labels = scored_classes().encode(cache.codes)
    records = np.concatenate([train_records, validation_records])
    if len(train_records) < 2 or len(validation_records) < 1:
        raise ValueError(f"too few recordings ({len(records)}) for a training/validation split")
    _write_split(model_folder, cache, train_records, validation_records)
    recordings = _recordings_summary(cache, train_records, validation_records)
    log.info(
        "%d recordings: %d for training, %d for validation; device %s",
        len(records),
        len(train_records),
        len(validation_records),
        device,
    )

    configure_reproducibility(device, config.deterministic)
    torch.manual_seed(config.seed)
    model = MultiScaleSENet(MODEL_SIZES[config.model_size])
    model.standardize_record_features(cache.features[train_records])
    model = model.to(device)
    weights = class_weights(labels[train_records].sum(axis=0), config.class_count_floor)
    criterion = HardExampleBCELoss(weights, config.hard_example_fraction).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    batches = EpochBatchSampler(
        cache.lengths,
        train_records,
        batch_size=config.batch_size,
        min_epoch_windows=config.min_epoch_windows,
        max_shift=config.max_shift,
        seed=config.seed,
    )
    warmup_steps = max(1, round(config.warmup_epochs * len(batches)))
    total_steps = config.epochs * len(batches)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _learning_rate_factor(step, warmup_steps, total_steps)
    )
    precision = autocast_dtype(device, config.amp)
    scaler = gradient_scaler(device, precision)

    state = _TrainingState()
    checkpoint_path = model_folder / CHECKPOINT_FILE
    if resume:
        if not checkpoint_path.is_file():
            raise FileNotFoundError(f"cannot resume: {checkpoint_path} does not exist")
        state = _load_checkpoint(checkpoint_path, config, recordings, model, optimizer, scheduler, scaler, device)
        if state.history:  # a kill between the checkpoint and metrics.csv leaves the file one epoch behind
            _write_history(model_folder, state.history)
        log.info("Resuming after epoch %d (best %.4f at epoch %d)", state.epoch, state.best_score, state.best_epoch)

    loader = training_loader(WindowDataset(cache, labels), batches, config.workers, device)
    training_info = {
        "train_config": asdict(config),
        "cache": str(cache.folder),
        "recordings": len(records),
        "training_recordings": len(train_records),
        "validation_recordings": len(validation_records),
        "class_weights": weights.tolist(),
        "torch": str(torch.__version__),
    }

    for epoch in range(state.epoch + 1, config.epochs + 1):
        if state.epochs_without_improvement >= config.patience:
            break
        started = time.time()
        batches.set_epoch(epoch)
        noise = random_generator(device, config.seed * 100_003 + epoch)
        step = TrainingStep(model, criterion, optimizer, scheduler, scaler, device, precision, noise, config.noise_std)
        train_loss = train_epoch(step, loader, f"epoch {epoch}/{config.epochs}")
        if not math.isfinite(train_loss):
            raise TrainingDiverged.in_epoch(epoch, f"training loss {train_loss}", config.learning_rate)
        try:
            result = validate(model, cache, validation_records, labels, criterion, config, device)
        except TrainingDiverged as error:
            raise TrainingDiverged.in_epoch(epoch, str(error), config.learning_rate) from None
        improved = result.scores.challenge_metric > state.best_score
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "validation_loss": result.loss,
            **{f"validation_{key}": value for key, value in score_columns(result.scores).items()},
            "learning_rate": scheduler.get_last_lr()[0],
            "seconds": time.time() - started,
        }
        state.history.append(row)
        if improved:
            state.best_score = result.scores.challenge_metric
            state.best_epoch = epoch
            state.epochs_without_improvement = 0
            save_model_folder(
                model_folder, model, result.rule, config.window_stride, {**training_info, "best_epoch": epoch}
            )
        else:
            state.epochs_without_improvement += 1
        state.epoch = epoch
        _save_checkpoint(checkpoint_path, state, config, recordings, model, optimizer, scheduler, scaler, device)
        _write_history(model_folder, state.history)
        log.info(
            "epoch %d: train loss %.4f, validation loss %.4f, Challenge metric %.4f, AUROC %.3f%s (%.0f s)",
            epoch,
            train_loss,
            result.loss,
            result.scores.challenge_metric,
            result.scores.auroc,
            " *best*" if improved else "",
            row["seconds"],
        )

    plot_training_curves(state.history, model_folder / CURVES_FILE)
    best = next(row for row in state.history if row["epoch"] == state.best_epoch)
    log.info("Best epoch %d: validation Challenge metric %.4f", state.best_epoch, state.best_score)
    return best


class TrainingDiverged(ValueError):
    """The training loss or the network's outputs became infinite or NaN: the learning rate is too high."""

    @classmethod
    def in_epoch(cls, epoch: int, symptom: str, learning_rate: float) -> TrainingDiverged:
        return cls(
            f"training diverged in epoch {epoch} ({symptom}): try a lower learning rate than --lr {learning_rate:g}"
        )


def training_loader(
    dataset: WindowDataset, batches: EpochBatchSampler, workers: int, device: torch.device
) -> DataLoader:
    """One DataLoader for the whole run: its ``workers`` processes (-1: 4 for a GPU, none for the CPU) persist
    across epochs, and its batches come in pinned memory for a GPU, so that their copy overlaps the network."""
    if workers < 0:
        workers = min(4, os.cpu_count() or 1) if device.type == "cuda" else 0
    return DataLoader(
        dataset,
        batch_sampler=batches,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )


@dataclass
class TrainingStep:
    """What one optimiser step needs: the network, its loss, optimiser and schedule, precision and noise."""

    model: torch.nn.Module
    criterion: HardExampleBCELoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: torch.dtype | None  # autocast dtype; None: float32
    noise: torch.Generator  # on the training device: the noise is drawn where it is added
    noise_std: float

    def __call__(self, windows: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """One step on a batch as the loader gives it (int16 µV windows, on the host); returns the loss."""
        device = self.device
        signals = millivolts(windows.to(device, non_blocking=True))
        if self.noise_std > 0:
            signals = signals + self.noise_std * torch.randn(signals.shape, generator=self.noise, device=device)
        with autocast(device, self.precision):
            logits = self.model(signals, features.to(device, non_blocking=True))
        loss = self.criterion(logits, targets.to(device, non_blocking=True))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach()


def train_epoch(step: TrainingStep, loader: DataLoader, description: str) -> float:
    """One pass over the loader's batches; returns the mean training loss.

    The losses are summed on the device: reading each one back (``.item()``) would make the host
    wait for the GPU at every step instead of queueing the next one; the progress bar reads the
    running mean only every 20 steps.
    """
    step.model.train()
    total = torch.zeros((), dtype=torch.float64, device=step.device)
    progress = tqdm(loader, desc=description, unit="batch", leave=False, disable=None)
    for count, (windows, features, targets) in enumerate(progress, start=1):
        total += step(windows, features, targets)
        if not progress.disable and count % 20 == 0:
            progress.set_postfix(loss=f"{total.item() / count:.4f}")
    return float(total) / max(len(loader), 1)


@dataclass
class _TrainingState:
    epoch: int = 0
    best_epoch: int = 0
    best_score: float = -math.inf
    epochs_without_improvement: int = 0
    history: list[dict[str, object]] | None = None

    def __post_init__(self) -> None:
        self.history = self.history or []


def _recordings_summary(cache: SignalCache, train_records: np.ndarray, validation_records: np.ndarray) -> dict:
    """Which recordings a run trains and validates on, in a form a resumed run can compare with its own."""
    digest = hashlib.sha256()
    for subset, records in (("training", train_records), ("validation", validation_records)):
        for index in records:
            digest.update(f"{subset}:{cache.names[index]}\n".encode())
    return {"training": len(train_records), "validation": len(validation_records), "digest": digest.hexdigest()}


def _save_checkpoint(
    path: Path,
    state: _TrainingState,
    config: TrainConfig,
    recordings: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
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
        "model": _on_cpu(model.state_dict()),
        "optimizer": _on_cpu(optimizer.state_dict()),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "device_rng": device_random_state(device),  # the training device's only: another machine may have fewer
    }
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def _load_checkpoint(
    path: Path,
    config: TrainConfig,
    recordings: dict,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
) -> _TrainingState:
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
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    # A scaler that was disabled (CPU, bfloat16) saved an empty state, which an enabled one rejects: a run
    # resumed on a float16 GPU then starts with a fresh scale, which adapts within a few steps.
    if checkpoint["scaler"] and scaler.is_enabled():
        scaler.load_state_dict(checkpoint["scaler"])
    torch.set_rng_state(checkpoint["torch_rng"])
    restore_device_random_state(device, checkpoint.get("device_rng"))
    return _TrainingState(
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


def _write_history(folder: Path, history: list[dict[str, object]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(folder / HISTORY_FILE, buffer.getvalue())


def _write_split(folder: Path, cache: SignalCache, train_records: np.ndarray, validation_records: np.ndarray) -> None:
    rows = [(cache.names[i], "training") for i in train_records] + [
        (cache.names[i], "validation") for i in validation_records
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # quotes names with commas or quotes
    writer.writerow(["recording", "subset"])
    writer.writerows(sorted(rows))
    atomic_write_text(folder / SPLIT_FILE, buffer.getvalue())


def _report_skipped(cache: SignalCache, folder: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")  # quotes reasons with commas, quotes or line breaks
    writer.writerow(["recording", "reason"])
    writer.writerows(cache.skipped)
    atomic_write_text(folder / SKIPPED_FILE, buffer.getvalue())
    if cache.skipped:
        log.warning(
            "Skipped %d unreadable recordings (listed in %s), e.g. %s: %s",
            len(cache.skipped),
            folder / SKIPPED_FILE,
            *cache.skipped[0],
        )


def _remove_temporaries(folder: Path) -> None:
    """Delete what a run killed inside an atomic write left behind (``.NAME.XXXX.tmp`` of this folder's files)."""
    for name in (*RUN_FILES, SKIPPED_FILE):
        for leftover in folder.glob(f".{name}.*.tmp"):
            leftover.unlink(missing_ok=True)
