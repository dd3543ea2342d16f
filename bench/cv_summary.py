#!/usr/bin/env python
"""Compare cross-validation runs: pooled and per-source scores, and what averaging their outputs would score.

    python bench/cv_summary.py OUT1 OUT2 ... [--average]

Each OUT is a cross_validate.py folder. Prints, per run, its grouping, the pooled out-of-fold Challenge metric
with the run's own rule, its AUROC, and the Challenge metric of each source database. With --average, also
the runs' out-of-fold probabilities averaged recording by recording and labelled by max/5: what an ensemble of
those models would score, each recording classified only by models that never saw it (the runs must cover the
same recordings; their folds may differ, since every output is out-of-fold).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.classes import scored_classes  # noqa: E402
from ecg12.crossval_report import POOLED_ROW, SCORES_FILE, read_scores_table, row_source  # noqa: E402
from ecg12.metrics import score  # noqa: E402
from ecg12.split import source_of, source_order  # noqa: E402
from ecg12.thresholds import DecisionRule  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="cross_validate.py output folders")
    parser.add_argument("--average", action="store_true", help="also score the runs' averaged out-of-fold outputs")
    arguments = parser.parse_args(argv)
    for run in arguments.runs:
        if not (run / SCORES_FILE).is_file():
            print(f"cv_summary.py: {run} holds no finished cross-validation ({SCORES_FILE})", file=sys.stderr)
            return 1
    print(f"{'run':40s} {'grouping':9s} {'metric':>7s} {'AUROC':>6s}  per source (Challenge metric)")
    for run in arguments.runs:
        rows = read_scores_table(run / SCORES_FILE)
        pooled = rows[POOLED_ROW]
        sources = {row_source(name): row for name, row in rows.items() if row_source(name) is not None}
        per_source = "  ".join(f"{name}: {row['challenge_metric']:.3f}" for name, row in sources.items())
        print(
            f"{run.name:40s} {grouping(run):9s} {pooled['challenge_metric']:7.3f} {pooled['auroc']:6.3f}  {per_source}"
        )
    if arguments.average:
        print(averaged(arguments.runs))
    return 0


def grouping(run: Path) -> str:
    path = run / "grouping.json"
    return str(json.loads(path.read_text()).get("group_by", "random")) if path.is_file() else "random"


def averaged(runs: list[Path]) -> str:
    """The averaged out-of-fold outputs' pooled and per-source Challenge metric (max/5), as a line."""
    classes = scored_classes()
    loaded = [np.load(run / "oof.npz") for run in runs]
    names = [str(name) for name in loaded[0]["names"]]
    order = np.argsort(names)
    labels = loaded[0]["labels"][order]
    probabilities = []
    for run, oof in zip(runs, loaded, strict=True):
        run_names = [str(name) for name in oof["names"]]
        if sorted(run_names) != sorted(names):
            raise SystemExit(f"cv_summary.py: {run} covers other recordings than {runs[0]}")
        probabilities.append(oof["probabilities"][np.argsort(run_names)])
    mean = np.mean(probabilities, axis=0)
    binary = DecisionRule("max-fraction").apply(mean)
    pooled = score(labels, binary, mean, classes)
    sources = np.array([source_of(names[i]) for i in order])
    parts = []
    for source in sorted(set(sources), key=source_order):
        mask = sources == source
        metric = score(labels[mask], binary[mask], mean[mask], classes).challenge_metric
        parts.append(f"{source}: {metric:.3f}")
    return (
        f"{'average of the ' + str(len(runs)) + ' runs':40s} {'':9s} {pooled.challenge_metric:7.3f} "
        f"{pooled.auroc:6.3f}  " + "  ".join(parts)
    )


if __name__ == "__main__":
    sys.exit(main())
