"""A training run from a data folder to a model folder: checks, the signal cache, one network or a fold ensemble."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ecg12.checkpoints import SKIPPED_FILE, check_model_folder, remove_previous_run, report_skipped
from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.data import SignalCache, default_cache_root, load_or_build_cache
from ecg12.devices import resolve_device
from ecg12.distributed import current_rank, device_of_rank, process_group
from ecg12.ensemble import fit_fold_ensemble, member_folder
from ecg12.model import network_size
from ecg12.split import train_validation_split
from ecg12.training import fit_network

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
    holds a model is refused unless ``overwrite`` (a new run then replaces it). Everything that can
    be checked is checked before the signal cache is built, and nothing is created before it is.
    ``member`` (with ``config.members`` > 1) trains that fold model of the ensemble only, so that the
    members can train at once, one per GPU; a run with ``resume`` then assembles the finished members.
    """
    config = config or TrainConfig()
    rank = current_rank()  # several processes under torchrun: rank 0 alone writes
    device = device_of_rank(resolve_device(config.device), rank)  # an unusable device: before the cache build
    model_folder = Path(model_folder)
    if member is not None and not 1 <= member <= config.members:
        raise ValueError(f"member {member} does not exist: choose 1 to --members ({config.members})")
    check_model_folder(model_folder if member is None else member_folder(model_folder, member), resume, overwrite)
    cache = load_cache(data_folder, config)  # under torchrun, one rank builds it and the others wait for it
    if rank.is_main and member is None:  # runs of single members, at once, leave the ensemble's folder alone
        model_folder.mkdir(parents=True, exist_ok=True)
        if overwrite and not resume:
            remove_previous_run(model_folder)
        report_skipped(cache, model_folder)
    if len(cache) == 0:
        raise ValueError(f"{data_folder}: no usable recording (see {model_folder / SKIPPED_FILE})")
    with process_group(rank, device):
        return fit(cache, np.arange(len(cache)), model_folder, config, resume, member)


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
    member: int | None = None,
) -> dict[str, object]:
    """Train on the cache's ``records`` into ``model_folder``: one network, or ``config.members`` fold models."""
    classes = scored_classes()
    labels = classes.encode(cache.codes)
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
    if not labels[records].any():
        raise ValueError(f"no recording carries any of the {len(classes.codes)} scored classes")
    if config.members > 1:
        return fit_fold_ensemble(cache, records, model_folder, config, resume, member)
    validation_mask = train_validation_split(labels[records], config.validation_fraction, config.seed)
    return fit_network(cache, records[~validation_mask], records[validation_mask], model_folder, config, resume)
