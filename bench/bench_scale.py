#!/usr/bin/env python
"""Full-size benchmark: the 43,101-recording 2020 training set's shape, on this machine.

    python bench/bench_scale.py [--fraction 1.0] [--folder DIR] [--keep] [--train-batches 20]

Writes a synthetic Challenge-format data set with the real set's shape (at ``--fraction`` of its
size): 10,330 CPSC-like recordings of 6 to 60 s at 500 Hz, 74 half-hour recordings at 257 Hz
(INCART), 516 of about two minutes at 1000 Hz (PTB) and 32,181 of 10 s at 500 Hz (PTB-XL, Georgia),
12 leads of int16 counts in MATLAB v4 files, labelled with the scored classes at their frequencies
in the Challenge's own table (ecg12/dx_mapping_scored.csv, column Total). The signals are cheap:
slices of a few synthetic ECGs with noise; sizes and formats are real.

Then it measures, each step in a fresh process where memory matters (peak resident set, VmHWM):
- the signal cache build: time, size on disk, peak memory of the building process and of its
  worker processes;
  (peak memory is given twice: resident (VmHWM), which counts the pages of the memory-mapped cache a
  process has read, and the process's own (the peak of RssAnon), which is what it needs;)
- building one epoch's batches (34,500 training recordings at full size);
- training memory: a process that opens the cache and trains the paper network for
  ``--train-batches`` batches of 32 (one loader worker), peak memory;
- validation of 8,600 recordings (20%) through the tiny network, time of the network apart from the rest
  (reading the cache, windows, batching);
- tuning the per-class thresholds on 8,600 validation outputs;
- fitting the measurement model (the default recipe's logistic regression on the record features) to the other
  34,500 recordings' features.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.classes import scored_classes  # noqa: E402
from ecg12.synthetic import synthesize_ecg, write_record  # noqa: E402

FULL_SIZE = 43_101
# (how many, sampling rate in Hz, shortest and longest duration in s) of the 2020 training set's sources
SOURCES = (
    (10_330, 500, 6.0, 60.0),  # CPSC 2018 and CPSC-Extra
    (74, 257, 1800.0, 1800.0),  # St Petersburg INCART
    (516, 1000, 115.0, 120.0),  # PTB
    (32_181, 500, 10.0, 10.0),  # PTB-XL and Georgia
)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AnonymousPeak:
    """The peak of this process's own memory (RssAnon, sampled every 20 ms), without the pages of mapped files.

    VmHWM counts the signal cache's pages that the process has touched through its memory map; the
    kernel can drop those at any time (they are the page cache), so they are no memory the process needs.
    """

    def __init__(self) -> None:
        self.peak_kb = 0
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            time.sleep(0.02)

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak_kb / 1024


def children_peak_mb(pid: int | None = None) -> float:
    """Sum of the peak resident sets of this process's descendants still alive (joblib's reusable workers)."""
    pid = os.getpid() if pid is None else pid
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            status = Path(f"/proc/{child}/status")
            if status.exists():
                total += sum(
                    int(line.split()[1]) / 1024 for line in status.read_text().splitlines() if line.startswith("VmHWM:")
                )
                total += children_peak_mb(int(child))
    return total


def class_frequencies() -> tuple[list[str], np.ndarray]:
    """The scored codes and their share of the 43,101 recordings (the Challenge's table, column Total)."""
    with open(ROOT / "ecg12" / "dx_mapping_scored.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["SNOMED CT Code"] for row in rows], np.array([float(row["Total"]) for row in rows]) / FULL_SIZE


def write_dataset(folder: Path, fraction: float, seed: int = 0) -> int:
    """Write the data set; returns the number of recordings."""
    rng = np.random.default_rng(seed)
    codes, frequency = class_frequencies()
    templates = {rate: synthesize_ecg(rng, rate, 120.0, 70.0) for rate in {rate for _, rate, _, _ in SOURCES}}
    count = 0
    for how_many, rate, shortest, longest in SOURCES:
        for _ in range(max(1, round(how_many * fraction))):
            seconds = rng.uniform(shortest, longest)
            samples = int(seconds * rate)
            template = templates[rate]
            repeats = math.ceil(samples / template.shape[1])
            start = int(rng.integers(0, template.shape[1]))
            signal = np.roll(np.tile(template, repeats), -start, axis=1)[:, :samples]
            signal = signal + rng.normal(0, 0.02, signal.shape)
            labels = [code for code, p in zip(codes, frequency, strict=True) if rng.random() < p] or ["164889003"]
            age = float(rng.integers(18, 95))
            write_record(folder, f"S{count:05d}", signal, rate, age=age, sex="Male", codes=labels)
            count += 1
    return count


def child(step: str, data: str, cache: str, batches: str) -> None:
    """One measured step in this fresh process; prints a JSON line of its numbers."""
    import torch

    from ecg12.signal_cache import load_or_build_cache

    torch.set_num_threads(2)
    anonymous = AnonymousPeak()
    started = time.perf_counter()
    if step == "cache":
        built = load_or_build_cache(data, cache, workers=os.cpu_count() or 1)
        workers = children_peak_mb()
        size = sum(p.stat().st_size for p in built.folder.iterdir())
        result = {"seconds": time.perf_counter() - started, "bytes": size, "workers_peak_mb": workers}
    elif step == "train":
        result = train_steps(load_or_build_cache(data, cache), int(batches))
    else:
        result = validate_steps(load_or_build_cache(data, cache))
    print(json.dumps({**result, "peak_mb": peak_rss_mb(), "anonymous_peak_mb": anonymous.stop()}))


def train_steps(cache: object, batches: int) -> dict[str, float]:
    """Open the cache, draw an epoch's batches, train the paper network on ``batches`` of them."""
    import torch

    from ecg12.batches import EpochBatchSampler, WindowDataset
    from ecg12.config import TrainConfig
    from ecg12.split import train_validation_split
    from ecg12.training import training_loader, training_step

    config = TrainConfig(device="cpu", workers=1)
    labels = scored_classes().encode(cache.codes)  # type: ignore[attr-defined]
    validation = train_validation_split(labels, config.validation_fraction, config.seed)
    train_records = np.flatnonzero(~validation)
    started = time.perf_counter()
    sampler = EpochBatchSampler(
        cache.lengths,  # type: ignore[attr-defined]
        train_records,
        batch_size=config.batch_size,
        min_epoch_windows=config.min_epoch_windows,
        max_shift=config.max_shift,
        seed=0,
    )
    batches_seconds = time.perf_counter() - started
    step = training_step(
        cache.features[train_records],  # type: ignore[attr-defined]
        np.ones(24),
        config,
        torch.device("cpu"),
        len(sampler),
    )
    loader = training_loader(WindowDataset(cache, labels), sampler, config.workers, torch.device("cpu"))
    started = time.perf_counter()
    for count, (windows, features, targets) in enumerate(loader, start=1):
        step(windows, features, targets)
        if count == batches:
            break
    return {
        "epoch_batches_seconds": batches_seconds,
        "training_recordings": len(train_records),
        "train_seconds_per_batch": (time.perf_counter() - started) / batches,
    }


def validate_steps(cache: object) -> dict[str, float]:
    """Validation outputs of 20% of the recordings through the tiny network, network time apart; tuning time; the
    measurement model's fit to the other 80%."""
    import torch

    from ecg12.config import MODEL_SIZES
    from ecg12.inference import predict_probabilities
    from ecg12.measurement_model import MeasurementModel
    from ecg12.model import MultiScaleSENet
    from ecg12.split import train_validation_split
    from ecg12.thresholds import tune_class_thresholds

    classes = scored_classes()
    labels = classes.encode(cache.codes)  # type: ignore[attr-defined]
    validation = train_validation_split(labels, 0.2, 0)
    records = np.flatnonzero(validation)
    network = MultiScaleSENet(MODEL_SIZES["tiny"]).eval()
    network_seconds = 0.0

    def timed(*inputs: torch.Tensor) -> torch.Tensor:
        nonlocal network_seconds
        started = time.perf_counter()
        out = network(*inputs)
        network_seconds += time.perf_counter() - started
        return out

    timed.config = network.config  # type: ignore[attr-defined]  # what predict_probabilities reads
    timed.eval = network.eval  # type: ignore[attr-defined]
    started = time.perf_counter()
    inputs = ((cache.signal(int(r)), cache.features[int(r)]) for r in records)  # type: ignore[attr-defined]
    probabilities = predict_probabilities(timed, inputs, torch.device("cpu"))  # type: ignore[arg-type]
    total = time.perf_counter() - started
    started = time.perf_counter()
    tune_class_thresholds(labels[records], probabilities, classes.weights, classes.normal_index)
    tuning_seconds = time.perf_counter() - started
    features = cache.features[~validation]  # type: ignore[attr-defined]
    started = time.perf_counter()
    MeasurementModel.fit(features, labels[~validation], network.config.num_record_features)
    return {
        "validation_recordings": len(records),
        "validation_seconds": total,
        "validation_network_seconds": network_seconds,
        "tuning_seconds": tuning_seconds,
        "measurement_fit_recordings": len(features),
        "measurement_fit_seconds": time.perf_counter() - started,
    }


def measure(step: str, data: Path, cache: Path, batches: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", step, str(data), str(cache), str(batches)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fraction", type=float, default=1.0, help="of the 43,101 recordings")
    parser.add_argument("--folder", help="where to write the data and cache (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the data and cache afterwards")
    parser.add_argument("--train-batches", type=int, default=20)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(*arguments.child)
        return
    root = Path(arguments.folder or tempfile.mkdtemp(prefix="ecg12-scale-"))
    data, cache = root / "data", root / "cache"
    try:
        started = time.perf_counter()
        recordings = write_dataset(data, arguments.fraction)
        data_bytes = sum(p.stat().st_size for p in data.iterdir())
        print(
            f"data set: {recordings:,} recordings, {data_bytes / 1e9:.2f} GB on disk, "
            f"written in {time.perf_counter() - started:.0f} s"
        )
        built = measure("cache", data, cache, 0)
        print(
            f"cache build: {built['seconds']:.0f} s, {built['bytes'] / 1e9:.2f} GB on disk, peak memory "
            f"{built['peak_mb']:.0f} MB resident, {built['anonymous_peak_mb']:.0f} MB own (builder); "
            f"{built['workers_peak_mb']:.0f} MB resident (its workers together)"
        )
        trained = measure("train", data, cache, arguments.train_batches)
        print(
            f"training: one epoch's batches of {trained['training_recordings']:,.0f} recordings drawn in "
            f"{trained['epoch_batches_seconds']:.2f} s; paper network {trained['train_seconds_per_batch']:.2f} s per "
            f"batch of 32 on the CPU; peak memory {trained['peak_mb']:.0f} MB resident, "
            f"{trained['anonymous_peak_mb']:.0f} MB own (without the cache pages it mapped)"
        )
        validated = measure("validate", data, cache, 0)
        rest = validated["validation_seconds"] - validated["validation_network_seconds"]
        print(
            f"validation of {validated['validation_recordings']:,.0f} recordings (tiny network): "
            f"{validated['validation_seconds']:.0f} s, of which network "
            f"{validated['validation_network_seconds']:.0f} s and the rest {rest:.0f} s; "
            f"threshold tuning {validated['tuning_seconds']:.1f} s; "
            f"peak memory {validated['peak_mb']:.0f} MB resident, {validated['anonymous_peak_mb']:.0f} MB own"
        )
        print(
            f"measurement model fitted to {validated['measurement_fit_recordings']:,.0f} recordings' features in "
            f"{validated['measurement_fit_seconds']:.1f} s"
        )
    finally:
        if not arguments.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
