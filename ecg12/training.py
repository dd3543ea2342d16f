"""Training one network: the epoch loop, one optimiser step, validation with the Challenge metric.

Reproducibility: everything random in an epoch (record order, window positions, noise) comes from
generators seeded with (seed, epoch), and the checkpoint written at the end of every epoch
(ecg12.checkpoints) holds every other state. A run killed at any moment therefore resumes
(``resume=True``) from the last complete epoch and repeats exactly what an uninterrupted run on the
same device would have done. ``model.pt`` is only ever replaced, atomically, by a complete better
model.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from ecg12.augment import SignalAugmentation
from ecg12.batches import EpochBatchSampler, ShardedBatches, WindowDataset, millivolts
from ecg12.checkpoints import (
    CHECKPOINT_FILE,
    CURVES_FILE,
    TrainingState,
    data_summary,
    load_checkpoint,
    recordings_summary,
    remove_run_temporaries,
    save_checkpoint,
    write_history,
    write_split,
)
from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.devices import autocast, autocast_dtype, configure_reproducibility, gradient_scaler, random_generator
from ecg12.distributed import SINGLE_PROCESS, Rank, mean_over_ranks, share, wait_for_all
from ecg12.inference import predict_scores, save_model_folder
from ecg12.loss import HardExampleBCELoss, SoftChallengeMetric, TrainingLoss, class_weights
from ecg12.measurement_model import MeasuredNetwork, MeasurementModel, choose_share
from ecg12.metrics import ChallengeScores, score
from ecg12.model import build_network
from ecg12.network import ECGNetwork
from ecg12.plots import plot_training_curves
from ecg12.split import unlabelled_classes
from ecg12.thresholds import DecisionRule, choose_decision_rule
from ecg12.training_run import TrainingRun

log = logging.getLogger(__name__)


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
    model: torch.nn.Module  # what the epoch saves if it is the best: the network, at its measurement share if any
    measurement_share: float | None = None  # the measurement model's share of the average, where there is one


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


def fit_network(run: TrainingRun, train_records: np.ndarray, validation_records: np.ndarray) -> dict[str, object]:
    """Train one network into ``run.folder`` on ``train_records``, early-stopped on ``validation_records``; returns
    the best epoch's row.

    Under torchrun every rank runs this: each trains on its share of the global batches, rank 0
    alone validates and writes, and sends the run's state to the others after every epoch.
    """
    config, cache, rank = run.config, run.cache, run.rank
    if len(train_records) < 2 or len(validation_records) < 1:
        raise ValueError(f"too few recordings ({len(train_records) + len(validation_records)}) for a validation split")
    log.info(
        "%d recordings for training, %d for validation; device %s%s",
        len(train_records),
        len(validation_records),
        run.device,
        f", {rank.world} processes" if rank.distributed else "",
    )
    batches = EpochBatchSampler(
        cache.lengths,
        train_records,
        batch_size=config.batch_size,
        min_epoch_windows=config.min_epoch_windows,
        max_shift=config.max_shift,
        seed=config.seed,
    )
    weights = class_weights(run.labels[train_records].sum(axis=0), config.class_count_floor)
    targets = loss_targets(run, train_records)
    step = network_step(run, train_records, weights, targets, len(batches))
    rank_batches = ShardedBatches(batches, rank) if rank.distributed else batches
    loader = training_loader(WindowDataset(cache, targets), rank_batches, config.workers, run.device)

    recordings = recordings_summary(cache, train_records, validation_records)
    data = data_summary(cache, np.concatenate([train_records, validation_records]))
    checkpoint = run.folder / CHECKPOINT_FILE
    # Checked before anything is written: a refused resume leaves the folder as it was.
    state = resume_run(checkpoint, config, recordings, step, rank) if run.resume else TrainingState()
    if rank.is_main:
        run.folder.mkdir(parents=True, exist_ok=True)
        remove_run_temporaries(run.folder)
        write_split(run.folder, cache, train_records, validation_records)
    training_info = {
        "train_config": asdict(config),
        "cache": str(cache.folder),
        "recordings": len(train_records) + len(validation_records),
        "training_recordings": len(train_records),
        "validation_recordings": len(validation_records),
        "class_weights": weights.tolist(),
        "processes": rank.world,
        "torch": str(torch.__version__),
    }

    for epoch in range(state.epoch + 1, config.epochs + 1):
        if state.epochs_without_improvement >= config.patience:
            break
        started = time.time()
        batches.set_epoch(epoch)
        step.noise = random_generator(run.device, config.seed * 100_003 + epoch)
        train_loss = train_epoch(step, loader, f"epoch {epoch}/{config.epochs}")
        failure = None  # what diverged, as rank 0 tells every rank
        if rank.is_main:
            try:
                if not math.isfinite(train_loss):
                    raise TrainingDiverged(f"training loss {train_loss}")
                result = validate(step.classifier(), run, validation_records, step.criterion)
            except TrainingDiverged as error:
                failure = str(error)
            else:
                row = epoch_row(epoch, train_loss, result, step.scheduler.get_last_lr()[0], time.time() - started)
                improved = state.record(epoch, row, result.scores.challenge_metric)
                log_epoch(row, improved)
                if improved:  # model.pt before the checkpoint: a kill in between repeats this epoch, to the same model
                    info = {**training_info, "best_epoch": epoch}
                    save_model_folder(run.folder, result.model, result.rule, config.window_stride, info)
                save_checkpoint(checkpoint, state, config, recordings, data, step)
                write_history(run.folder, state.history)
        state, failure = share((state, failure), rank)  # type: ignore[misc]
        if failure is not None:
            raise TrainingDiverged.in_epoch(epoch, failure, config.learning_rate)

    if rank.is_main:
        plot_training_curves(state.history, run.folder / CURVES_FILE)
        log.info("Best epoch %d: validation Challenge metric %.4f", state.best_epoch, state.best_score)
    wait_for_all(rank)  # the others may read what rank 0 wrote (a fold ensemble loads its member)
    return next(row for row in state.history if row["epoch"] == state.best_epoch)


def validate(
    model: ECGNetwork | MeasuredNetwork, run: TrainingRun, records: np.ndarray, criterion: TrainingLoss
) -> Validation:
    """Record-level probabilities of the validation ``records``, their loss, decision rule and Challenge scores.

    With a measurement model (a :class:`~ecg12.measurement_model.MeasuredNetwork`), its share of the average is
    chosen here (:func:`~ecg12.measurement_model.choose_share`; ``model``'s own share is not read): the one of the
    lowest validation loss, which weighs every recording and class, where the Challenge metric of a few dozen
    validation recordings turns on a handful of labels.
    """
    cache, config, device = run.cache, run.config, run.device
    measured = isinstance(model, MeasuredNetwork)
    # With a measurement model, the network's own probabilities as its share 0 gives them, before the criteria that
    # lead every average (MeasuredNetwork): each share's probabilities follow from them.
    alone = model.with_share(0.0, criteria=False) if measured else model
    inputs = ((cache.signal(int(r)), cache.features[int(r)]) for r in records)
    scores = predict_scores(alone, inputs, device, config.window_stride)
    if not np.isfinite(scores.probabilities).all():
        raise TrainingDiverged("validation outputs that are not finite")
    truth = run.labels[records]
    targets = torch.from_numpy(truth).to(device)

    def loss_of(probabilities: np.ndarray) -> float:
        clipped = np.clip(probabilities, 1e-7, 1 - 1e-7)
        return float(criterion.per_sample(torch.from_numpy(np.log(clipped / (1 - clipped))).to(device), targets).mean())

    chosen, share, probabilities = model, None, scores.probabilities
    if measured:
        # The network's maximum over windows plus a constant per recording: each average's record probabilities
        # are the average of the record probabilities. (The patch-fraction rule, needing each window's, is refused.)
        features = cache.features[records]
        measurements = model.measurement.probabilities(features)
        layer = model.network.criteria
        finishing = {"finish": lambda average: layer.probabilities(average, features)} if layer is not None else {}
        share, probabilities, loss = choose_share(probabilities, measurements, loss_of, **finishing)
        chosen = model.with_share(share)
    else:
        loss = loss_of(probabilities)
    rule = choose_decision_rule(truth, probabilities, config.decision_rule)
    labels_given = rule.apply(probabilities, scores.patch_fractions)  # only the patch-fraction rule reads fractions
    return Validation(loss, probabilities, rule, score(truth, labels_given, probabilities, run.classes), chosen, share)


def epoch_row(epoch: int, train_loss: float, result: Validation, learning_rate: float, seconds: float) -> dict:
    """The epoch's row of metrics.csv."""
    row = {
        "epoch": epoch,
        "train_loss": train_loss,
        "validation_loss": result.loss,
        **{f"validation_{key}": value for key, value in score_columns(result.scores).items()},
        "learning_rate": learning_rate,
        "seconds": seconds,
    }
    if result.measurement_share is not None:
        row["measurement_share"] = result.measurement_share
    return row


def log_epoch(row: dict, improved: bool) -> None:
    share = row.get("measurement_share")
    log.info(
        "epoch %d: train loss %.4f, validation loss %.4f, Challenge metric %.4f, AUROC %.3f%s%s (%.0f s)",
        row["epoch"],
        row["train_loss"],
        row["validation_loss"],
        row["validation_challenge_metric"],
        row["validation_auroc"],
        "" if share is None else f", measurement share {share:g}",
        " *best*" if improved else "",
        row["seconds"],
    )


def loss_targets(run: TrainingRun, train_records: np.ndarray) -> np.ndarray:
    """The (recordings, classes) float32 targets of the loss: the labels, and with ``mask_unlabelled_classes`` -1
    (left out) for the training recordings' classes that their databases do not give."""
    targets = run.labels.astype(np.float32)
    if run.config.mask_unlabelled_classes:
        unlabelled = unlabelled_classes([run.cache.names[int(r)] for r in train_records])
        # A class the recording does carry is kept: the table says its database did label it after all.
        unlabelled &= ~run.labels[train_records]
        targets[train_records] = np.where(unlabelled, -1.0, targets[train_records])
        log.info("Left out of the loss: %d class labels that the recordings' databases do not give", unlabelled.sum())
    return targets


def network_step(
    run: TrainingRun, train_records: np.ndarray, weights: np.ndarray, targets: np.ndarray, steps_per_epoch: int
) -> TrainingStep:
    """The training step of ``run``'s network (:func:`training_step`) on ``train_records``, with its measurement
    model fitted to their ``targets`` where the recipe has one."""
    features = run.cache.features[train_records]
    step = training_step(features, weights, run.config, run.device, steps_per_epoch, run.rank)
    if run.config.measurement_model:  # deterministic: every rank, and a resumed run, fits the same model
        fitted = MeasurementModel.fit(features, targets[train_records], step.network.config.num_record_features)
        step.measurement = fitted.to(run.device)
    return step


def training_step(
    train_features: np.ndarray,
    weights: np.ndarray,
    config: TrainConfig,
    device: torch.device,
    steps_per_epoch: int,
    rank: Rank = SINGLE_PROCESS,
) -> TrainingStep:
    """A new network and everything that trains it, on ``device``, seeded with ``config.seed``: the record
    features are standardised with the training recordings' ``train_features``, the loss weighs classes by
    ``weights``; under torchrun (``rank``) the network is one replica of DistributedDataParallel."""
    configure_reproducibility(device, config.deterministic)
    torch.manual_seed(config.seed)
    model = build_network(config.model_config())
    model.standardize_record_features(train_features)
    model = model.to(device)
    if rank.distributed:  # one replica per process, gradients averaged over the processes
        if device.type == "cuda":  # batch statistics over the global batch, as one process has them
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup_steps = max(1, round(config.warmup_epochs * steps_per_epoch))
    total_steps = config.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: _learning_rate_factor(step, warmup_steps, total_steps)
    )
    precision = autocast_dtype(device, config.amp)
    classes = scored_classes()
    return TrainingStep(
        model=model,
        criterion=TrainingLoss(
            HardExampleBCELoss(weights, config.hard_example_fraction),
            SoftChallengeMetric(classes.weights, classes.normal_index, rank),
            config.metric_loss,
        ).to(device),
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=gradient_scaler(device, precision),
        device=device,
        precision=precision,
        noise=random_generator(device, config.seed),
        augmentation=SignalAugmentation.of(config),
        rank=rank,
    )


def resume_run(
    checkpoint: Path, config: TrainConfig, recordings: dict, step: TrainingStep, rank: Rank = SINGLE_PROCESS
) -> TrainingState:
    """The state of the interrupted run whose checkpoint is ``checkpoint``, restored into ``step`` (on every rank)."""
    if not checkpoint.is_file():
        raise FileNotFoundError(f"cannot resume: {checkpoint} does not exist")
    state = load_checkpoint(checkpoint, config, recordings, step)
    if rank.is_main:
        if state.history:  # a kill between the checkpoint and metrics.csv leaves the file one epoch behind
            write_history(checkpoint.parent, state.history)
        log.info("Resuming after epoch %d (best %.4f at epoch %d)", state.epoch, state.best_score, state.best_epoch)
    return state


class TrainingDiverged(ValueError):
    """The training loss or the network's outputs became infinite or NaN: the learning rate is too high."""

    @classmethod
    def in_epoch(cls, epoch: int, symptom: str, learning_rate: float) -> TrainingDiverged:
        return cls(
            f"training diverged in epoch {epoch} ({symptom}): try a lower learning rate than --lr {learning_rate:g}"
        )


def training_loader(
    dataset: WindowDataset, batches: Sampler[list[tuple[int, int]]], workers: int, device: torch.device
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
    criterion: TrainingLoss
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    device: torch.device
    precision: torch.dtype | None  # autocast dtype; None: float32
    noise: torch.Generator  # on the training device (the noise is drawn where it is added), reseeded every epoch
    augmentation: SignalAugmentation
    rank: Rank = SINGLE_PROCESS
    # The measurement model, fitted to the training recordings before the first step where the recipe has one:
    # validated and saved beside the network, never trained.
    measurement: MeasurementModel | None = None

    @property
    def network(self) -> torch.nn.Module:
        """The network itself (inside DistributedDataParallel under torchrun)."""
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    def classifier(self) -> torch.nn.Module:
        """What is validated: the network, with its measurement model where it has one (at a share that
        :func:`validate` chooses)."""
        if self.measurement is None:
            return self.network
        return MeasuredNetwork(self.network, self.measurement, 0.0)

    def __call__(self, windows: torch.Tensor, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """One step on a batch as the loader gives it (int16 µV windows, on the host); returns the loss."""
        device = self.device
        signals = self.augmentation(millivolts(windows.to(device, non_blocking=True)), self.noise, self.rank)
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
    progress = tqdm(loader, desc=description, unit="batch", leave=False, disable=None if step.rank.is_main else True)
    for count, (windows, features, targets) in enumerate(progress, start=1):
        total += step(windows, features, targets)
        if not progress.disable and count % 20 == 0:
            progress.set_postfix(loss=f"{total.item() / count:.4f}")
    return float(mean_over_ranks(total, step.rank)) / max(len(loader), 1)
