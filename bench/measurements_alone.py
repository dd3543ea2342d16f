#!/usr/bin/env python
"""How much does the network add to the record features? The measurement model alone on a run's folds.

    python bench/measurements_alone.py DATA OUT1 OUT2 ... [--cache-dir DIR]

Each OUT is a cross_validate.py folder run on DATA. For each fold of each run, the measurement model (the logistic
regression of ``ecg12.measurement_model.MeasurementModel`` on age, sex and the ECG measurements) is fitted on the
recordings the fold's model trained on (its validation recordings included) and classifies the held-out ones.
Prints, per run, the pooled out-of-fold Challenge metric and AUROC, with max/5, of the run's own outputs, of the
measurement model alone, and of the two averaged half and half: what the signal adds to the measurements on those
folds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.classes import scored_classes  # noqa: E402
from ecg12.feature_names import CRITERION_FEATURES_START  # noqa: E402
from ecg12.measurement_model import MeasurementModel  # noqa: E402
from ecg12.metrics import score  # noqa: E402
from ecg12.signal_cache import default_cache_root, load_or_build_cache  # noqa: E402
from ecg12.thresholds import DecisionRule  # noqa: E402


def measurement_model_outputs(features: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold (n, classes) probabilities of the measurement model, one fit per fold on the other folds."""
    probabilities = np.zeros(labels.shape)
    for fold in np.unique(folds):
        training = folds != fold
        model = MeasurementModel.fit(features[training], labels[training], CRITERION_FEATURES_START)
        probabilities[~training] = model.probabilities(features[~training])
    return probabilities


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the data folder the runs classified")
    parser.add_argument("runs", nargs="+", type=Path, help="cross_validate.py output folders")
    parser.add_argument("--cache-dir", type=Path, default=None, help="signal cache root (default: ecg12's)")
    arguments = parser.parse_args(argv)
    for run in arguments.runs:
        if not (run / "oof.npz").is_file():
            print(f"measurements_alone.py: {run} holds no finished cross-validation (oof.npz)", file=sys.stderr)
            return 1
    cache = load_or_build_cache(arguments.data, arguments.cache_dir or default_cache_root())
    row_of = {name: row for row, name in enumerate(cache.names)}
    classes, rule = scored_classes(), DecisionRule("max-fraction")
    print(f"{'run':40s} {'network':>15s} {'measurements':>15s} {'half and half':>15s}   (Challenge metric, AUROC)")
    for run in arguments.runs:
        with np.load(run / "oof.npz", allow_pickle=False) as saved:
            names, labels, network, folds = (saved[key] for key in ("names", "labels", "probabilities", "folds"))
        missing = [str(name) for name in names if name not in row_of]
        if missing:
            print(f"measurements_alone.py: {run} classified recordings not in {arguments.data}: {missing[:3]}")
            return 1
        features = cache.features[[row_of[str(name)] for name in names]]
        measured = measurement_model_outputs(features, labels, folds)
        cells = []
        for probabilities in (network, measured, (network + measured) / 2):
            scores = score(labels, rule.apply(probabilities), probabilities, classes)
            cells.append(f"{scores.challenge_metric:7.3f} {scores.auroc:7.3f}")
        print(f"{run.name:40s} " + " ".join(f"{cell:>15s}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
