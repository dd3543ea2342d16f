#!/usr/bin/env python
"""Do the measurements say what the labels say? Each defining measurement against its class, on a data folder.

    python bench/measurement_agreement.py [DATA]    (default: ../shared/data/cinc2020-sample)

Measures every recording with ``ecg12.measurements.measure`` (and, for comparison, today's record features
``ecg12.features.measurements``) and prints one row per criterion: the measurement, its method, the class it
defines, the textbook threshold, the share of the class's recordings it finds (sensitivity), the share of sinus
rhythm recordings it leaves out (the converse), and the AUROC of the measurement alone for the class, over all
recordings and within each source database (``ecg12.split.source_of``; a source without both positives and
negatives shows ``-``); then the share of normal sinus rhythm recordings inside the physiological ranges. A
recording whose measurement could not be made (NaN) counts as not meeting the criterion and ranks lowest.
The thresholds are the textbook ones, not fitted here.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12 import features  # noqa: E402
from ecg12.classes import canonical_code, scored_classes  # noqa: E402
from ecg12.feature_names import MEASUREMENT_NAMES  # noqa: E402
from ecg12.measurements import Measurements, measure  # noqa: E402
from ecg12.metrics import auc  # noqa: E402
from ecg12.preprocess import prepare_signal  # noqa: E402
from ecg12.recordings import find_recordings, load_signal  # noqa: E402
from ecg12.split import source_of, source_order  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cinc2020-sample"
SINUS_RHYTHM = "426783006"
_HEART_RATE, _QRS_DURATION = (
    MEASUREMENT_NAMES.index(name) for name in ("heart rate / 100 bpm", "QRS duration / 100 ms")
)
_AXIS_COS, _AXIS_SIN = (MEASUREMENT_NAMES.index(name) for name in ("cos(QRS axis)", "sin(QRS axis)"))


@dataclass(frozen=True)
class Recording:
    name: str
    source: str
    codes: frozenset[str]  # canonical codes (equivalent classes merged)
    measured: Measurements
    today: np.ndarray  # features.measurements


@dataclass(frozen=True)
class Criterion:
    measurement: str
    method: str
    classes: tuple[str, ...]  # SNOMED CT codes (canonical), any of them
    class_name: str
    threshold: str
    meets: Callable[[float], bool]
    score: Callable[[float], float]  # larger = more of the class
    today: Callable[[np.ndarray], float] | None = None  # the same quantity from features.measurements


def _today_axis(values: np.ndarray) -> float:
    return math.degrees(math.atan2(values[_AXIS_SIN], values[_AXIS_COS]))


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "heart_rate",
        "60 / mean RR",
        ("426177001",),
        "sinus bradycardia",
        "< 60 bpm",
        lambda v: v < 60,
        lambda v: -v,
        lambda f: f[_HEART_RATE] * 100,
    ),
    Criterion(
        "heart_rate",
        "60 / mean RR",
        ("426627000",),
        "bradycardia",
        "< 60 bpm",
        lambda v: v < 60,
        lambda v: -v,
        lambda f: f[_HEART_RATE] * 100,
    ),
    Criterion(
        "heart_rate",
        "60 / mean RR",
        ("427084000",),
        "sinus tachycardia",
        "> 100 bpm",
        lambda v: v > 100,
        lambda v: v,
        lambda f: f[_HEART_RATE] * 100,
    ),
    Criterion(
        "pr",
        "P onset (tangent) to QRS onset",
        ("270492004",),
        "1st-degree AV block",
        "> 200 ms",
        lambda v: v > 200,
        lambda v: v,
    ),
    Criterion(
        "qrs",
        "global QRS, two leads moving",
        ("713427006",),
        "RBBB (complete or not)",
        ">= 120 ms",
        lambda v: v >= 120,
        lambda v: v,
        lambda f: f[_QRS_DURATION] * 100,
    ),
    Criterion(
        "qrs",
        "global QRS, two leads moving",
        ("164909002",),
        "LBBB",
        ">= 120 ms",
        lambda v: v >= 120,
        lambda v: v,
        lambda f: f[_QRS_DURATION] * 100,
    ),
    Criterion(
        "qrs_axis",
        "net QRS area, 6 limb leads",
        ("39732003",),
        "left axis deviation",
        "< -30 deg",
        lambda v: v < -30,
        lambda v: -v,
        _today_axis,
    ),
    Criterion(
        "qrs_axis",
        "net QRS area, 6 limb leads",
        ("47665007",),
        "right axis deviation",
        "> 90 deg",
        lambda v: v > 90,
        lambda v: v,
        _today_axis,
    ),
    Criterion(
        "qtc",
        "Bazett, global T end (tangent)",
        ("111975006",),
        "prolonged QT",
        ">= 460 ms",
        lambda v: v >= 460,
        lambda v: v,
    ),
    Criterion(
        "p_present",
        "beats agree on a P wave",
        ("164889003",),
        "atrial fibrillation",
        "no P wave",
        lambda v: v == 0,
        lambda v: -v,
    ),
    Criterion(
        "rr_cv",
        "RR standard deviation / mean",
        ("164889003",),
        "atrial fibrillation",
        "> 0.1",
        lambda v: v > 0.1,
        lambda v: v,
    ),
    Criterion(
        "limb_qrs_amplitude",
        "largest limb-lead QRS peak-to-peak",
        ("251146004",),
        "low QRS voltages",
        "< 0.5 mV",
        lambda v: v < 0.5,
        lambda v: -v,
    ),
)
# Physiological ranges of the sinus rhythm recordings that carry no other scored label.
NORMAL_RANGES: tuple[tuple[str, str, Callable[[float], bool]], ...] = (
    ("pr", "120-200 ms", lambda v: 120 <= v <= 200),
    ("qrs", "< 110 ms", lambda v: v < 110),
    ("qtc", "< 460 ms", lambda v: v < 460),
    ("heart_rate", "60-100 bpm", lambda v: 60 <= v <= 100),
    ("qrs_axis", "-30 to 90 deg", lambda v: -30 <= v <= 90),
)


def load_prepared(folder: Path) -> list[tuple[str, frozenset[str], np.ndarray]]:
    """(name, canonical label codes, the first 5 minutes as the driver prepares them) of every recording of a folder."""
    recordings = []
    for path in find_recordings(folder):
        header, signal = load_signal(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zero-filled leads etc.: measured as they are
            prepared = prepare_signal(signal, header)[:, : features.MEASURED_SAMPLES]
        recordings.append((path.stem, frozenset(canonical_code(code) for code in header.labels), prepared))
    return recordings


def load(folder: Path) -> list[Recording]:
    """Every recording of ``folder``, measured by both."""
    return [
        Recording(name, source_of(name), codes, measure(signal), features.measurements(signal))
        for name, codes, signal in load_prepared(folder)
    ]


def _auroc(positive: np.ndarray, scores: np.ndarray) -> float:
    if positive.all() or not positive.any():
        return math.nan
    ranked = np.where(np.isfinite(scores), scores, np.nanmin(scores[np.isfinite(scores)]) - 1.0)
    return float(auc(positive[:, None], ranked[:, None])[2][0])


def _cell(value: float, digits: int = 2) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def criterion_row(criterion: Criterion, recordings: list[Recording], sources: list[str]) -> list[str]:
    values = np.array([getattr(r.measured, criterion.measurement) for r in recordings], dtype=np.float64)
    positive = np.array([bool(r.codes & set(criterion.classes)) for r in recordings])
    normal = np.array([SINUS_RHYTHM in r.codes for r in recordings]) & ~positive
    meets = np.array([math.isfinite(v) and criterion.meets(v) for v in values])
    scores = np.array([criterion.score(v) if math.isfinite(v) else math.nan for v in values])
    row = [
        criterion.measurement,
        criterion.method,
        f"{criterion.class_name} ({positive.sum()})",
        criterion.threshold,
        f"{meets[positive].mean():.0%}" if positive.any() else "-",
        f"{(~meets[normal]).mean():.0%}" if normal.any() else "-",
        _cell(_auroc(positive, scores)),
    ]
    if criterion.today is not None:
        today = np.array([criterion.score(criterion.today(r.today)) for r in recordings])
        row.append(_cell(_auroc(positive, today)))
    else:
        row.append("none")
    for source in sources:
        inside = np.array([r.source == source for r in recordings])
        row.append(_cell(_auroc(positive[inside], scores[inside])) + f" ({positive[inside].sum()})")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="a folder of recordings")
    arguments = parser.parse_args(argv)
    if not arguments.data.is_dir():
        print(f"measurement_agreement.py: {arguments.data} is not a folder", file=sys.stderr)
        return 1
    recordings = load(arguments.data)
    if not recordings:
        print(f"measurement_agreement.py: no recordings in {arguments.data}", file=sys.stderr)
        return 1
    sources = sorted({r.source for r in recordings}, key=source_order)
    header = ["measurement", "method", "class (n)", "criterion", "finds", "NSR without", "AUROC", "today"]
    rows = [header + [f"{source} AUROC (n)" for source in sources]]
    rows += [criterion_row(criterion, recordings, sources) for criterion in CRITERIA]
    print(f"{len(recordings)} recordings of {arguments.data}")
    for row in rows:
        print("| " + " | ".join(row) + " |")

    scored = set(scored_classes().codes) - {SINUS_RHYTHM}
    normal = [r for r in recordings if SINUS_RHYTHM in r.codes and not r.codes & scored]
    print(f"\nnormal sinus rhythm recordings without another scored label: {len(normal)}")
    print("| measurement | range | inside | measured |")
    for name, text, inside in NORMAL_RANGES:
        values = np.array([getattr(r.measured, name) for r in normal], dtype=np.float64)
        finite = values[np.isfinite(values)]
        share = np.mean([inside(v) for v in finite]) if len(finite) else math.nan
        print(f"| {name} | {text} | {_cell(100 * share, 0)}% | {len(finite)} of {len(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
