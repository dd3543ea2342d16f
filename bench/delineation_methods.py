#!/usr/bin/env python
"""ecg12's delineation against neurokit2's (the field's maintained library): accuracy and time per recording.

    pip install neurokit2==0.2.13 scikit-learn PyWavelets   (neurokit2 is not a dependency of ecg12)
    python bench/delineation_methods.py [DATA]    (default: ../shared/data/cinc2020-sample)

Both on the same signals in the same run. ecg12: ``ecg12.measurements.measure`` (12 leads, median beat,
global fiducial points). neurokit2: ``ecg_peaks`` then ``ecg_delineate(method="dwt")`` on lead II (it delineates
one lead), PR, QRS and QT as the medians over beats of R onset - P onset, R offset - R onset and T offset -
R onset. Prints the mean and standard deviation of the errors on synthetic beats with known intervals
(``ecg12/synthetic.py``), the AUROC of PR for 1st-degree AV block and of QRS for bundle branch block on DATA,
the share of recordings measured, the time per recording and the import time of each.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from measurement_agreement import DEFAULT_DATA, load_prepared  # noqa: E402

from ecg12.measurements import measure  # noqa: E402
from ecg12.metrics import auc  # noqa: E402
from ecg12.synthetic import KnownBeat, synthesize_known_ecg  # noqa: E402

SYNTHETIC = (
    KnownBeat(),
    KnownBeat(heart_rate=48, pr_s=0.26, qt_s=0.45),
    KnownBeat(heart_rate=115, pr_s=0.13, qt_s=0.31),
    KnownBeat(qrs_s=0.14, rbbb=True, qrs_axis_deg=30),
    KnownBeat(qrs_s=0.15, qrs_axis_deg=-50),
)


def neurokit_intervals(nk: object, signal: np.ndarray) -> tuple[float, float, float]:
    """PR, QRS and QT (ms) of lead II by neurokit2; NaN where it finds none."""
    lead = signal[1].astype(np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = nk.ecg_peaks(lead, sampling_rate=500)  # type: ignore[attr-defined]
            peaks = info["ECG_R_Peaks"]
            _, waves = nk.ecg_delineate(lead, peaks, sampling_rate=500, method="dwt")  # type: ignore[attr-defined]
    except Exception:  # neurokit2 raises on signals it cannot delineate
        return math.nan, math.nan, math.nan

    def median_ms(end: str, start: str) -> float:
        gaps = np.asarray(waves[end], dtype=np.float64) - np.asarray(waves[start], dtype=np.float64)
        gaps = gaps[np.isfinite(gaps) & (gaps > 0)]
        return float(np.median(gaps)) * 2.0 if len(gaps) else math.nan

    return (
        median_ms("ECG_R_Onsets", "ECG_P_Onsets"),
        median_ms("ECG_R_Offsets", "ECG_R_Onsets"),
        median_ms("ECG_T_Offsets", "ECG_R_Onsets"),
    )


def ecg12_intervals(signal: np.ndarray) -> tuple[float, float, float]:
    measured = measure(signal)
    return measured.pr, measured.qrs, measured.qt


def _auroc(positive: np.ndarray, values: np.ndarray) -> float:
    ranked = np.where(np.isfinite(values), values, np.nanmin(values) - 1.0)
    return float(auc(positive[:, None], ranked[:, None])[2][0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        import neurokit2 as nk
    except ImportError:
        print("delineation_methods.py: neurokit2 is not installed (pip install neurokit2==0.2.13)", file=sys.stderr)
        return 1
    print(f"import neurokit2: {time.perf_counter() - started:.2f} s")
    methods = {"ecg12": ecg12_intervals, "neurokit2": lambda signal: neurokit_intervals(nk, signal)}

    truths, found = [], {name: [] for name in methods}
    for index, beat in enumerate(SYNTHETIC):
        for seed in range(4):
            signal, truth = synthesize_known_ecg(np.random.default_rng([index, seed]), beat, noise_mv=0.02)
            truths.append((truth.pr_ms, truth.qrs_ms, truth.qt_ms))
            for name, method in methods.items():
                found[name].append(method(signal))
    print(f"synthetic: {len(truths)} recordings, error mean / SD (ms), share measured")
    for name in methods:
        errors = np.array(found[name]) - np.array(truths)
        cells = [
            f"{what} {np.nanmean(column):+.1f} / {np.nanstd(column):.1f} ({np.isfinite(column).mean():.0%})"
            for what, column in zip(("PR", "QRS", "QT"), errors.T, strict=True)
        ]
        print(f"  {name:10s} " + "   ".join(cells))

    recordings = load_prepared(arguments.data)
    iavb = np.array(["270492004" in codes for _, codes, _ in recordings])
    bbb = np.array([bool({"713427006", "59118001", "164909002"} & codes) for _, codes, _ in recordings])
    print(f"{arguments.data}: {len(recordings)} recordings ({iavb.sum()} IAVB, {bbb.sum()} bundle branch block)")
    for name, method in methods.items():
        started = time.perf_counter()
        values = np.array([method(signal) for _, _, signal in recordings])
        seconds = (time.perf_counter() - started) / len(recordings)
        print(
            f"  {name:10s} PR AUROC for IAVB {_auroc(iavb, values[:, 0]):.2f}, QRS AUROC for BBB "
            f"{_auroc(bbb, values[:, 1]):.2f}; measured PR {np.isfinite(values[:, 0]).mean():.0%}, QRS "
            f"{np.isfinite(values[:, 1]).mean():.0%}, QT {np.isfinite(values[:, 2]).mean():.0%}; "
            f"{1000 * seconds:.1f} ms per recording"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
