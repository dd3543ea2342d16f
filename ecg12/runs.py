"""A training run from a data folder to a model folder: checks, the signal cache, one network or a fold ensemble."""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

from ecg12.checkpoints import (
    SKIPPED_FILE,
    TRAINING_LOCK,
    check_not_a_file,
    check_run,
    check_same_data,
    data_summary,
    has_checkpoint,
    member_folder,
    member_lock,
    member_numbers,
    report_skipped,
    set_previous_run_aside,
    settle_previous_run,
)
from ecg12.config import TrainConfig
from ecg12.distributed import Rank, process_group
from ecg12.ensemble import fit_fold_ensemble
from ecg12.files import one_run
from ecg12.model import network_size
from ecg12.onnx_export import export_trained_model
from ecg12.signal_cache import SignalCache, default_cache_root, load_or_build_cache
from ecg12.split import train_validation_split
from ecg12.training import fit_network
from ecg12.training_run import TrainingRun, where_to_train

log = logging.getLogger(__name__)


def train(
    data_folder: str | os.PathLike[str],
    model_folder: str | os.PathLike[str],
    config: TrainConfig | None = None,
    resume: bool = False,
    overwrite: bool = False,
    member: int | None = None,
) -> dict[str, object]:
    """Train a model on a folder of Challenge recordings into ``model_folder``; returns the best epoch's row.

    ``resume`` continues the interrupted run in ``model_folder``; without it, a folder that already
    holds a model is refused unless ``overwrite``: a new run then replaces it, keeping it aside until
    the new run has a model of its own (ecg12.checkpoints.set_previous_run_aside). One run at a time
    trains into a folder (it holds the folder's lock). Everything that can be checked is checked
    before the signal cache is built, the data before anything is written, and a folder this run
    created is removed again if it fails before. ``member`` (with ``config.members`` > 1) trains that
    fold model of the ensemble only, so that the members can train at once, one per GPU; a run with
    ``resume`` then assembles the finished members. Ctrl-C raises :class:`TrainingInterrupted`.
    """
    config = config or TrainConfig()
    rank, device = where_to_train(config)  # under torchrun rank 0 alone writes; an unusable device: before the cache
    model_folder = Path(model_folder)
    if member is not None and not 1 <= member <= config.members:
        raise ValueError(f"member {member} does not exist: choose 1 to --members ({config.members})")
    check_not_a_file(model_folder)
    with _hold(model_folder, config, member, rank):
        try:
            if rank.is_main and member is None:
                settle_previous_run(model_folder)  # of an --overwrite run that was killed
            checkpoints = check_run(model_folder, config, resume, overwrite, member)
            cache = load_cache(data_folder, config)  # under torchrun, one rank builds it and the others wait for it
            check_same_data(checkpoints, data_summary(cache, np.arange(len(cache))))
            if rank.is_main and member is None:  # runs of single members, at once, leave the ensemble's folder alone
                if overwrite and not resume:
                    set_previous_run_aside(model_folder)
                report_skipped(cache, model_folder)
            if len(cache) == 0:
                raise ValueError(f"{data_folder}: no usable recording (see {model_folder / SKIPPED_FILE})")
            run = TrainingRun.of(cache, config, model_folder, rank, device, resume)
            with process_group(rank, device):
                best = fit(run, np.arange(len(cache)), member)
            if rank.is_main and member is None:
                export_trained_model(model_folder)
            return best
        except KeyboardInterrupt:
            folder = model_folder if member is None else member_folder(model_folder, member)
            raise TrainingInterrupted(folder, resume or has_checkpoint(folder)) from None
        finally:
            if rank.is_main and member is None:
                settle_previous_run(model_folder)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train`: ``resumable`` when ``model_folder`` holds a run to continue with ``--resume``."""

    def __init__(self, model_folder: Path, resumable: bool) -> None:
        super().__init__(f"training into {model_folder} interrupted")
        self.model_folder = model_folder
        self.resumable = resumable


def _hold(model_folder: Path, config: TrainConfig, member: int | None, rank: Rank) -> AbstractContextManager[None]:
    """The locks of a run into ``model_folder`` (rank 0's): the folder's, and each fold model's that it trains or
    finds there (which --overwrite replaces). A run of one member holds that member's alone, so that the members
    can train at once, each in its own run.
    """
    if not rank.is_main:
        return nullcontext()
    if member is not None:
        return one_run(model_folder, [member_lock(member)], f"model folder {model_folder}")
    members = set(range(1, config.members + 1) if config.members > 1 else ()) | set(member_numbers(model_folder))
    names = [TRAINING_LOCK, *map(member_lock, sorted(members))]
    return one_run(model_folder, names, f"model folder {model_folder}")


def load_cache(data_folder: str | os.PathLike[str], config: TrainConfig) -> SignalCache:
    """The signal cache of a data folder, built with all CPU cores (up to 8) if needed."""
    workers = max(1, min(os.cpu_count() or 1, 8))
    return load_or_build_cache(data_folder, config.cache_dir or default_cache_root(), workers=workers)


def fit(run: TrainingRun, records: np.ndarray, member: int | None = None) -> dict[str, object]:
    """Train on the run's ``records`` into ``run.folder``: one network, or ``run.config.members`` fold models
    (``member``: that one alone)."""
    config = run.config
    departures = ", ".join(f"{name}={value!r}" for name, value in config.departures().items())
    parameters, flops = network_size(config.model_config())
    log.info(
        "Recipe %s%s: the %s network at size %s, %.3g M parameters, %.3g GFLOPs a 10 s window",
        config.recipe,
        f" with {departures}" if departures else "",
        config.architecture,
        config.model_size,
        parameters / 1e6,
        flops / 1e9,
    )
    if not run.labels[records].any():
        raise ValueError(f"no recording carries any of the {len(run.classes.codes)} scored classes")
    if config.members > 1:
        return fit_fold_ensemble(run, records, member)
    validation_mask = train_validation_split(run.labels[records], config.validation_fraction, config.seed)
    return fit_network(run, records[~validation_mask], records[validation_mask])
