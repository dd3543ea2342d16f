#!/usr/bin/env python
"""Does the model rank each criterion class at least as well as its criterion's measurement alone?

    python bench/criterion_auroc.py DATA OUT1 OUT2 ... [--cache-dir DIR]

Each OUT is a cross_validate.py folder run on DATA. For each class with a textbook criterion (ecg12.criteria), the
AUROC of the run's pooled out-of-fold probabilities and the AUROC of the measurement alone (signed so that
"past the threshold" ranks high; a recording the measurement could not be made on ranks lowest), from the signal
cache's record features (their last columns are the criteria's measurements). Prints one row per class: the
positives, each run's model AUROC and the criterion's, and the runs' mean; and each run's pooled Challenge metric.
"""

from __future__ import annotations

import sys

import numpy as np
from crossval_runs import load_runs

from ecg12.classes import scored_classes
from ecg12.criteria import CRITERIA
from ecg12.feature_names import CRITERION_FEATURE_NAMES, CRITERION_FEATURES_START
from ecg12.metrics import auc, score


def main(argv: list[str] | None = None) -> int:
    runs = load_runs(__doc__, argv, "criterion_auroc.py")
    if runs is None:
        return 1
    classes = scored_classes()
    for run in runs:
        labels, probabilities, binary = (run.saved[key] for key in ("labels", "probabilities", "binary"))
        metric = score(labels, binary, probabilities, classes).challenge_metric
        print(f"{run.name}: pooled out-of-fold Challenge metric {metric:.3f}")
    print(f"\n{'class':12s} {'criterion':24s} {'positives':>9s}  " + "  ".join(f"{run.name:>13s}" for run in runs))
    print(
        f"{'':12s} {'':24s} {'':>9s}  " + "  ".join(f"{'model crit.':>13s}" for _ in runs) + "   mean model, criterion"
    )
    for criterion in CRITERIA:
        index = list(classes.codes).index(criterion.code)
        column = CRITERION_FEATURES_START + CRITERION_FEATURE_NAMES.index(criterion.measurement)
        cells, models, alone = [], [], []
        for run in runs:
            labels, probabilities = run.saved["labels"], run.saved["probabilities"]
            values = run.features[:, column].astype(np.float64) * (1.0 if criterion.above else -1.0)
            values = np.where(np.isnan(values), np.nanmin(values) - 1.0, values)
            model_auroc = auc(labels[:, [index]], probabilities[:, [index]])[2][0]
            criterion_auroc = auc(labels[:, [index]], values[:, None])[2][0]
            models.append(model_auroc)
            alone.append(criterion_auroc)
            cells.append(f"{model_auroc:6.3f} {criterion_auroc:6.3f}")
        positives = int(runs[0].saved["labels"][:, index].sum())
        mean = f"{np.nanmean(models):6.3f} {np.nanmean(alone):6.3f}" if positives else "     -      -"
        print(f"{criterion.name:12s} {criterion.statement:24s} {positives:9d}  " + "  ".join(cells) + f"   {mean}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
