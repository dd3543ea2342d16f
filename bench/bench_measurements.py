#!/usr/bin/env python
"""Cost of the cardiograph's measurements (``ecg12.measurements.measure``) against today's record measurements.

    python bench/bench_measurements.py [DATA] [--rounds 3] [--reference COMMIT]
        (default DATA: ../shared/data/cinc2020-sample)

Time: every recording of DATA, prepared as the driver prepares it (its first 5 minutes at 500 Hz, float32), is
measured in alternating rounds in this process by ``measure``; by ``measure_record``, the measurements and the
record features from one beat detection (what the driver would call); and by ``features.record_features``, the
driver's call today; with ``--reference``, also by ``features.record_features`` as it was at COMMIT (its
``ecg12/features.py``, read with git). Prints the median over rounds of the mean ms per recording of each and
their ratios to the record features. All include the beat detector.

Memory: in a fresh process each (the reference's too), the peak resident memory (VmHWM) added by measuring a
24-hour 12-lead recording at 500 Hz (a view of one synthetic minute repeated, so that the recording itself costs
no memory), as the driver would pass it if it passed the whole: all look at the first 5 minutes only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measurement_agreement import DEFAULT_DATA, load_prepared  # noqa: E402

from ecg12 import features  # noqa: E402
from ecg12.measurements import measure, measure_record  # noqa: E402

AGE, SEX = 60.0, "Male"
MEASURERS: dict[str, Callable[[np.ndarray], object]] = {
    "measurements.measure": measure,
    "measurements.measure_record": lambda signal: measure_record(signal, AGE, SEX),
    "features.record_features": lambda signal: features.record_features(signal, AGE, SEX),
}


def reference_features(commit: str) -> Callable[[np.ndarray], object]:
    """``features.record_features`` of ``ecg12/features.py`` at ``commit``, imported from git as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:ecg12/features.py"], check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType(f"features_at_{commit}")
    exec(compile(source, f"{commit}:ecg12/features.py", "exec"), module.__dict__)
    return lambda signal: module.record_features(signal, AGE, SEX)


def peak_mb() -> float:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


class RepeatedMinute:
    """A (12, samples) recording whose column j is column j % 30000 of one minute: only the columns read cost memory."""

    def __init__(self, minute: np.ndarray, samples: int) -> None:
        self.minute, self.shape = minute, (minute.shape[0], samples)

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, columns = key
        return self.minute[rows][:, np.arange(*columns.indices(self.shape[1])) % self.minute.shape[1]]


def child(name: str, hours: float, reference: str | None) -> None:
    """Measure a ``hours``-long recording as the driver does; print this process's peak memory as JSON."""
    from ecg12.synthetic import synthesize_ecg

    minute = synthesize_ecg(np.random.default_rng(0), 500, 60, 72.0).astype(np.float32)
    day = RepeatedMinute(minute, round(hours * 3600 * 500))
    before = peak_mb()
    measurer = reference_features(reference) if reference and name not in MEASURERS else MEASURERS[name]
    measurer(day)  # type: ignore[arg-type]
    print(json.dumps({"added_mb": peak_mb() - before, "peak_mb": peak_mb()}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference", help="a commit whose features.record_features to time beside")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--hours", type=float, default=24.0)
    arguments = parser.parse_args(argv)
    if arguments.child:
        child(arguments.child, arguments.hours, arguments.reference)
        return 0
    measurers = dict(MEASURERS)
    if arguments.reference:
        measurers[f"record_features at {arguments.reference}"] = reference_features(arguments.reference)
    signals = [signal for _, _, signal in load_prepared(arguments.data)]
    times: dict[str, list[float]] = {name: [] for name in measurers}
    for _ in range(arguments.rounds):
        for name, measurer in measurers.items():
            started = time.perf_counter()
            for signal in signals:
                measurer(signal)
            times[name].append((time.perf_counter() - started) / len(signals) * 1000)
    print(f"{len(signals)} recordings of {arguments.data}, ms per recording (median of {arguments.rounds} rounds)")
    median = {name: statistics.median(times[name]) for name in measurers}
    references = [name for name in measurers if "record_features" in name]
    for name in measurers:
        rounds = ", ".join(f"{t:.2f}" for t in times[name])
        ratios = "  ".join(f"{median[name] / median[other]:.2f} x {other}" for other in references if other != name)
        print(f"  {name:34s} {median[name]:6.2f} ms   rounds: {rounds}   {ratios}")
    print(f"peak resident memory added by measuring a {arguments.hours:g}-hour recording (fresh process each)")
    for name in measurers:
        command = [sys.executable, __file__, "--child", name, "--hours", str(arguments.hours)]
        command += ["--reference", arguments.reference] if arguments.reference else []
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(f"  {name:34s} {result['added_mb']:7.1f} MB (process peak {result['peak_mb']:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
