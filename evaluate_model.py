#!/usr/bin/env python
"""Score a model's Challenge output files with the official 2020 metrics.

    python evaluate_model.py LABELS OUTPUTS [scores.csv [class_scores.csv]] [--weights weights.csv] [--plots DIR]

LABELS holds the recordings' headers (``.hea``, with their ``#Dx`` labels), OUTPUTS one
``NAME.csv`` per header. With two arguments the scores are printed; otherwise they are written to
scores.csv (and the per-class AUROC, AUPRC and F-measure to class_scores.csv). With --plots DIR, figures
too: per-class AUROC and F-measure bars, and the metric's credit for each (label, output) pair beside where
the outputs put each label. The work is done by :mod:`ecg12.evaluation`.
"""

import sys

from ecg12.evaluation import main

if __name__ == "__main__":
    sys.exit(main())
