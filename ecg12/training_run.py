"""One training run's set-up, worked out once: what every layer of a run reads (ecg12.runs, ecg12.ensemble,
ecg12.training, and ecg12.crossval for its folds).

:func:`where_to_train` places this process (its rank under torchrun, its device) before the signal cache is
built, so that an unusable device is reported first; :meth:`TrainingRun.of` then adds the cache, its labels and
the recipe, and :meth:`TrainingRun.into` gives the same run into another model folder (a fold model's, a fold's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ecg12.classes import ScoredClasses, scored_classes
from ecg12.config import TrainConfig
from ecg12.devices import resolve_device
from ecg12.distributed import Rank, current_rank, device_of_rank
from ecg12.signal_cache import SignalCache


def where_to_train(config: TrainConfig) -> tuple[Rank, torch.device]:
    """This process's rank (several under torchrun) and the device it trains on (under torchrun, a GPU each)."""
    rank = current_rank()
    return rank, device_of_rank(resolve_device(config.device), rank)


@dataclass(frozen=True)
class TrainingRun:
    """A training run into ``folder``: the recipe, the data and where this process trains.

    ``labels`` are the (recordings, classes) scored labels of every recording of ``cache``, in its order;
    ``resume``: continue the run that ``folder`` holds. Under torchrun every process has its own run of the same
    recipe and data, ``rank`` and ``device`` apart; rank 0 alone writes.
    """

    cache: SignalCache
    config: TrainConfig
    folder: Path
    rank: Rank
    device: torch.device
    classes: ScoredClasses
    labels: np.ndarray
    resume: bool = False

    @classmethod
    def of(
        cls,
        cache: SignalCache,
        config: TrainConfig,
        folder: str | os.PathLike[str],
        rank: Rank,
        device: torch.device,
        resume: bool = False,
    ) -> TrainingRun:
        """The run of ``config`` on ``cache`` into ``folder``, by the process :func:`where_to_train` placed."""
        classes = scored_classes()
        return cls(cache, config, Path(folder), rank, device, classes, classes.encode(cache.codes), resume)

    def into(self, folder: str | os.PathLike[str], resume: bool) -> TrainingRun:
        """The same recipe, data and place into another model folder, resumed there or not."""
        return replace(self, folder=Path(folder), resume=resume)
