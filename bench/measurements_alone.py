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

import sys

import numpy as np
from crossval_runs import load_runs

from ecg12.classes import scored_classes
from ecg12.feature_names import CRITERION_FEATURES_START
from ecg12.measurement_model import MeasurementModel
from ecg12.metrics import score
from ecg12.thresholds import DecisionRule


def measurement_model_outputs(features: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold (n, classes) probabilities of the measurement model, one fit per fold on the other folds."""
    probabilities = np.zeros(labels.shape)
    for fold in np.unique(folds):
        training = folds != fold
        model = MeasurementModel.fit(features[training], labels[training], CRITERION_FEATURES_START)
        probabilities[~training] = model.probabilities(features[~training])
    return probabilities


def main(argv: list[str] | None = None) -> int:
    runs = load_runs(__doc__, argv, "measurements_alone.py")
    if runs is None:
        return 1
    classes, rule = scored_classes(), DecisionRule("max-fraction")
    print(f"{'run':40s} {'network':>15s} {'measurements':>15s} {'half and half':>15s}   (Challenge metric, AUROC)")
    for run in runs:
        labels, network, folds = (run.saved[key] for key in ("labels", "probabilities", "folds"))
        measured = measurement_model_outputs(run.features, labels, folds)
        cells = []
        for probabilities in (network, measured, (network + measured) / 2):
            scores = score(labels, rule.apply(probabilities), probabilities, classes)
            cells.append(f"{scores.challenge_metric:7.3f} {scores.auroc:7.3f}")
        print(f"{run.name:40s} " + " ".join(f"{cell:>15s}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
