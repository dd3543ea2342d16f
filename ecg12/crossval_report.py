"""What a cross-validation tells: its table of scores (cv_scores.csv), its report (report.md, class_scores.png).

The table's rows are named by the constants below, which the commands that read a cross-validation back
(table1.py, bench/cv_summary.py) use too: one row per fold, their mean and standard deviation, the pooled
out-of-fold outputs with the recipe's decision rule and with the other rules, and one row per source database.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ecg12.checkpoints import SKIPPED_FILE
from ecg12.classes import abbreviate, scored_classes
from ecg12.config import TrainConfig
from ecg12.files import atomic_write_text
from ecg12.fold_plan import FoldPlan, recordings
from ecg12.metrics import ChallengeScores
from ecg12.plots import plot_class_scores
from ecg12.split import source_label

SCORES_FILE = "cv_scores.csv"
REPORT_FILE = "report.md"
CLASS_SCORES_FILE = "class_scores.png"
RUN_COLUMN = "run"  # the table's first column: the row's name

MEAN_ROW = "mean of folds"
SD_ROW = "sd of folds"
POOLED_ROW = "pooled out-of-fold"  # the recipe's own decision rule, the cross-validation's result
MAX_FRACTION_ROW = "pooled, max/5 rule"
PATCH_FRACTION_ROW = "pooled, max/5 of each patch, the union (the paper's)"
CROSSFITTED_ROW = "pooled, per-class thresholds cross-fitted on OOF"
TUNED_ROW = "pooled, thresholds tuned on OOF (optimistic)"  # tuned and scored on the same outputs
SOURCE_ROW = "source "  # how the per-source rows' names begin (source_row)

HEADLINE = ["challenge_metric", "auroc", "auprc", "f_measure", "f_beta", "g_beta", "accuracy"]


def source_row(source: str, count: int | np.integer) -> str:
    """The name of the row of source database ``source``'s ``count`` recordings: ``"source PTB (S), 7 recordings"``."""
    return f"{SOURCE_ROW}{source_label(source)}, {recordings(count)}"


def row_source(name: str) -> str | None:
    """The source database whose row is named ``name`` (``"PTB"``), or None for a row of another kind."""
    if not name.startswith(SOURCE_ROW):
        return None
    return name.removeprefix(SOURCE_ROW).rsplit(", ", 1)[0].split(" (")[0]


@dataclass(frozen=True)
class CrossValidationResults:
    """A pooled cross-validation, as its report tells it."""

    plan: FoldPlan
    config: TrainConfig
    rows: dict[str, dict[str, float]]  # by the row names above, in the table's order
    pooled: ChallengeScores  # of the pooled out-of-fold outputs with the recipe's rule, per class too
    labels: np.ndarray  # (recordings, classes): the readable recordings' scored labels
    unreadable: int  # recordings that could not be read (listed in SKIPPED_FILE)


def write_scores_table(path: Path, rows: dict[str, dict[str, float]]) -> None:
    """``rows`` as a CSV table, one line per row (its name first), scores to 4 decimals."""
    columns = list(next(iter(rows.values())))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([RUN_COLUMN, *columns])
    for name, row in rows.items():
        writer.writerow([name, *(f"{row[c]:.4f}" if c in row else "" for c in columns)])
    atomic_write_text(path, buffer.getvalue())


def read_scores_table(path: Path) -> dict[str, dict[str, float]]:
    """The rows of a table :func:`write_scores_table` wrote, by name (a row's empty cells left out)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {
            row[RUN_COLUMN]: {key: float(value) for key, value in row.items() if key != RUN_COLUMN and value}
            for row in csv.DictReader(handle)
        }


def write_markdown_report(folder: Path, results: CrossValidationResults) -> None:
    """REPORT_FILE (the tables, in Markdown) and CLASS_SCORES_FILE (per-class AUROC and F-measure of the pooled
    outputs) into ``folder``."""
    plan, rows, pooled = results.plan, results.rows, results.pooled
    classes = scored_classes()
    names = abbreviate(classes.codes)
    positives = results.labels.sum(axis=0)
    plot_class_scores(
        names,
        pooled.auroc_classes,
        pooled.f_measure_classes,
        positives,
        folder / CLASS_SCORES_FILE,
        f"{plan.title}, pooled out-of-fold outputs",
    )
    if plan.group_by == "source":
        how = (
            "Each fold holds out one source database (told by the recording names' prefix) and is classified by a "
            "model trained on the other sources only: its row scores a database the model never saw."
        )
    else:
        how = (
            f"{plan.count} multilabel-stratified random folds, regardless of source database: the models train on "
            "recordings of the databases they are scored on."
        )
    table = ["| run | " + " | ".join(HEADLINE) + " |", "|---|" + "---|" * len(HEADLINE)]

    def table_rows(names: list[str]) -> list[str]:
        return [
            f"| {name} | " + " | ".join(f"{rows[name].get(k, float('nan')):.3f}" for k in HEADLINE) + " |"
            for name in names
        ]

    seconds = rows[POOLED_ROW]["seconds"]
    lines = [
        f"# {plan.title[0].upper()}{plan.title[1:]}",
        "",
        how,
        "",
        f"{results.labels.shape[0]} recordings, {seconds / 60:.1f} min of fold time. "
        f"Recipe: `{json.dumps(asdict(results.config))}`",
        "",
        f"{results.unreadable} recordings could not be read: listed with the reason in {SKIPPED_FILE}; their "
        "outputs are all-negative and they are not in the scores below."
        if results.unreadable
        else "Every recording could be read.",
        "",
        *table,
        *table_rows([name for name in rows if row_source(name) is None]),
        "",
        "## Per source (pooled out-of-fold outputs)",
        "",
        "The pooled out-of-fold outputs of each source database (told by the recording names' prefix), "
        "with the recipe's decision rule. "
        + (
            "Here each is its held-out fold: the score on a database the model never saw."
            if plan.group_by == "source"
            else "Compare with a leave-one-source-out cross-validation (`--group-by source`), whose models never "
            "saw the source they classify."
        ),
        "",
        *table,
        *table_rows([name for name in rows if row_source(name) is not None]),
        "",
        "## Per class (pooled out-of-fold outputs)",
        "",
        f"![per-class scores]({CLASS_SCORES_FILE})",
        "",
        "| class | code | positives | AUROC | AUPRC | F-measure |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {code} | {int(n)} | {a:.3f} | {p:.3f} | {f:.3f} |"
        for name, code, n, a, p, f in zip(
            names,
            classes.codes,
            positives,
            pooled.auroc_classes,
            pooled.auprc_classes,
            pooled.f_measure_classes,
            strict=True,
        )
    ]
    too_few = [f"{name} ({int(n)})" for name, n in zip(names, positives, strict=True) if n < 2]
    lines += [
        "",
        "Classes with fewer than 2 positive recordings cannot be scored meaningfully "
        f"(AUROC needs positives, F-measure is all-or-nothing): {', '.join(too_few) or 'none'}.",
        "",
    ]
    atomic_write_text(folder / REPORT_FILE, "\n".join(lines))
