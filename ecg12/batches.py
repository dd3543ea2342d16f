"""What the training loader iterates: windows cut from the signal cache, an epoch's batches, a rank's share of them.

Windows travel as int16 µV from the loader's processes and become float32 mV (:func:`millivolts`) on the training
device. :class:`EpochBatchSampler` is the loader's ``batch_sampler`` (one random window per record, reshuffled each
epoch); in a run of several processes (ecg12.distributed) :class:`ShardedBatches` gives each rank its share.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TypeVar

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ecg12.distributed import Rank
from ecg12.preprocess import WINDOW_SAMPLES, extract_windows
from ecg12.signal_cache import MICROVOLTS_PER_MV, SignalCache

Item = TypeVar("Item")


def millivolts(windows: torch.Tensor) -> torch.Tensor:
    """int16 µV windows as float32 mV, the same numbers as :meth:`SignalCache.signal` gives.

    Training windows travel as int16 and are converted where the network runs: half the bytes to
    copy to a GPU, and no float work in the loader's processes.
    """
    return windows.float() / MICROVOLTS_PER_MV


class WindowDataset(Dataset):
    """Training windows: item (record, start) -> (12 x 5000 int16 µV window, record features, labels).

    A window that starts before the recording (negative ``start``, the random shift) or runs past
    its end is zero-filled there.
    """

    def __init__(self, cache: SignalCache, labels: np.ndarray) -> None:
        self.cache = cache
        self.labels = labels.astype(np.float32)

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, item: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        record, start = item
        window = extract_windows(self.cache.microvolts(record).T, [start])[0]  # reads only the window's samples
        return window, self.cache.features[record], self.labels[record]


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """An epoch's batches of (record, window start), for the epoch set by :meth:`set_epoch`: a ``batch_sampler``.

    Each epoch shuffles the records and takes one random window of each. A small training set is
    passed over several times, in fresh orders, until the epoch holds ``min_epoch_windows``
    windows, so that an epoch is enough optimiser steps to be worth a validation. The start is
    uniform over every position that keeps the window within the recording, extended by
    ``max_shift`` samples on both sides (random shift; the uncovered part is zero-filled). A last
    batch of one is dropped (batch normalisation needs two samples). Everything random comes from
    a generator seeded with (seed, epoch).

    One DataLoader then serves every epoch, and its worker processes (``persistent_workers``) live
    for the whole run instead of being started again each epoch. The sampler runs in the main
    process, so ``set_epoch`` reaches it.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        records: np.ndarray,
        *,
        batch_size: int,
        min_epoch_windows: int,
        max_shift: int,
        seed: int,
    ) -> None:
        self.lengths = lengths
        self.records = records
        self.batch_size = batch_size
        self.min_epoch_windows = min_epoch_windows
        self.max_shift = max_shift
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        rng = np.random.default_rng([self.seed, epoch])
        passes = max(1, math.ceil(self.min_epoch_windows / max(len(self.records), 1)))
        order = np.concatenate([rng.permutation(self.records) for _ in range(passes)])
        latest = np.maximum(self.lengths[order] - WINDOW_SAMPLES, 0) + self.max_shift
        starts = rng.integers(-self.max_shift, latest + 1)
        items = [(int(r), int(s)) for r, s in zip(order, starts, strict=True)]
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        self.batches = [batch for batch in batches if len(batch) > 1]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def shard(batch: Sequence[Item], rank: Rank) -> list[Item]:
    """This rank's share of a global batch: items rank, rank + world, ... (every rank gets as many, or one less)."""
    return list(batch[rank.rank :: rank.world])


class ShardedBatches(Sampler[list[Item]]):
    """Each global batch of ``batches`` cut to this rank's share, for the DataLoader of one rank.

    Every rank sees the same global batches (same seed, same epoch), so all take the same number
    of steps, as DistributedDataParallel requires. A global batch too small to give every rank two
    items is dropped by all (batch normalisation needs two samples per rank).
    """

    def __init__(self, batches: Sampler[list[Item]], rank: Rank) -> None:
        self.batches = batches
        self.rank = rank

    def __iter__(self) -> Iterator[list[Item]]:
        for batch in self.batches:
            if len(batch) >= 2 * self.rank.world:
                yield shard(batch, self.rank)

    def __len__(self) -> int:
        return sum(1 for batch in self.batches if len(batch) >= 2 * self.rank.world)
