#!/usr/bin/env python
"""Input pipeline benchmark: training windows per second the loader delivers, without any network.

    python bench/bench_loader.py [--records 512] [--windows 4096] [--workers 0 2 4] [--epochs 5] [--utilisation 0.05]

Builds a signal cache of synthetic 10 s recordings, then times one epoch of the training loader
(ecg12.training.training_loader: int16 windows, persistent workers; the median of ``--epochs``
epochs after a warm-up epoch) for each worker count. The reference, measured in the same run on the same batches, is the
pipeline before issue 11: float32 windows made in the loader and Gaussian noise added in the main
process after it (one CPU thread, as the training process had it).

It then prints what one GPU would consume: the paper network's training FLOPs per window (forward
counted by torch, forward + backward taken as 3x the forward) at a stated fraction of an NVIDIA
H200's dense bfloat16 peak, and how many loader workers (CPU cores) that rate needs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.batches import EpochBatchSampler, WindowDataset  # noqa: E402
from ecg12.classes import scored_classes  # noqa: E402
from ecg12.config import MODEL_SIZES, TrainConfig  # noqa: E402
from ecg12.model import network_size  # noqa: E402
from ecg12.preprocess import WINDOW_SAMPLES  # noqa: E402
from ecg12.signal_cache import SignalCache, load_or_build_cache  # noqa: E402
from ecg12.synthetic import make_learnable_dataset  # noqa: E402
from ecg12.training import training_loader  # noqa: E402

H200_BF16_DENSE_FLOPS = 989e12  # NVIDIA's H200 (SXM) datasheet: 1,979 TFLOPS with sparsity, half without
BATCH = 32


class FloatWindowDataset(WindowDataset):
    """The reference: float32 mV windows made in the loader (as before issue 11)."""

    def __getitem__(self, item: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        record, start = item
        window = np.zeros((12, WINDOW_SAMPLES), dtype=np.float32)
        piece = self.cache.signal(record, start, start + WINDOW_SAMPLES)
        offset = max(-start, 0)
        width = min(piece.shape[1], WINDOW_SAMPLES - offset)
        window[:, offset : offset + width] = piece[:, :width]
        return window, self.cache.features[record], self.labels[record]


def sampler(cache: SignalCache, windows: int) -> EpochBatchSampler:
    config = TrainConfig()
    return EpochBatchSampler(
        cache.lengths,
        np.arange(len(cache)),
        batch_size=BATCH,
        min_epoch_windows=windows,
        max_shift=config.max_shift,
        seed=0,
    )


def timed_epoch(loader: DataLoader, batches: EpochBatchSampler, epoch: int, noise_std: float = 0.0) -> float:
    """Windows per second over one epoch; with ``noise_std``, noise is added in this process (the reference)."""
    batches.set_epoch(epoch)
    generator = torch.Generator().manual_seed(epoch)
    count = 0
    started = time.perf_counter()
    for windows, _, _ in loader:
        if noise_std:
            windows = windows + noise_std * torch.randn(windows.shape, generator=generator)
        count += len(windows)
    return count / (time.perf_counter() - started)


def median_rate(loader: DataLoader, batches: EpochBatchSampler, epochs: int, noise_std: float = 0.0) -> float:
    """The median windows/s over ``epochs`` timed epochs, after one warm-up epoch (workers started, page cache)."""
    timed_epoch(loader, batches, 0, noise_std)
    return float(np.median([timed_epoch(loader, batches, epoch, noise_std) for epoch in range(1, epochs + 1)]))


def loader_rate(cache: SignalCache, labels: np.ndarray, windows: int, workers: int, epochs: int) -> float:
    batches = sampler(cache, windows)
    loader = training_loader(WindowDataset(cache, labels), batches, workers, torch.device("cpu"))
    return median_rate(loader, batches, epochs)


def reference_rate(cache: SignalCache, labels: np.ndarray, windows: int, workers: int, epochs: int) -> float:
    batches = sampler(cache, windows)
    loader = DataLoader(FloatWindowDataset(cache, labels), batch_sampler=batches, num_workers=workers)
    return median_rate(loader, batches, epochs, TrainConfig().noise_std)


def training_flops_per_window(size: str = "paper") -> float:
    return 3.0 * network_size(MODEL_SIZES[size])[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=512, help="10 s synthetic recordings in the cache")
    parser.add_argument("--windows", type=int, default=4096, help="windows per timed epoch")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per measurement (the median is shown)")
    parser.add_argument("--utilisation", type=float, default=0.05, help="fraction of the H200's peak assumed")
    arguments = parser.parse_args()
    torch.set_num_threads(1)  # the training process's own thread does the collation, as in training

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, batches of {BATCH} windows (12 x 5000)")
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        make_learnable_dataset(data, arguments.records, seed=0)
        cache = load_or_build_cache(data, Path(scratch) / "cache", workers=os.cpu_count() or 1)
        labels = scored_classes().encode(cache.codes)
        rates = {}
        for workers in arguments.workers:
            rates[workers] = loader_rate(cache, labels, arguments.windows, workers, arguments.epochs)
            reference = reference_rate(cache, labels, arguments.windows, workers, arguments.epochs)
            print(
                f"  {workers} workers: {rates[workers]:8.0f} windows/s   reference (float32 windows, noise in the "
                f"main process) {reference:8.0f} windows/s   x{rates[workers] / reference:.2f}"
            )

    flops = training_flops_per_window()
    needed = arguments.utilisation * H200_BF16_DENSE_FLOPS / flops
    print(
        f"\npaper network: {flops / 1e9:.2f} GFLOP per training window (3 x forward); an H200 at "
        f"{arguments.utilisation:.0%} of its {H200_BF16_DENSE_FLOPS / 1e12:.0f} TFLOPS bfloat16 peak trains "
        f"{needed:,.0f} windows/s."
    )
    if any(workers > 0 for workers in rates):
        per_worker = max(rates[workers] / workers for workers in rates if workers > 0)
        print(
            f"Best measured rate per loader worker: {per_worker:,.0f} windows/s -> about "
            f"{math.ceil(needed / per_worker)} worker processes (CPU cores) per such GPU."
        )


if __name__ == "__main__":
    main()
