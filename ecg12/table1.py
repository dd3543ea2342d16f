"""The paper's Table 1: k-fold cross-validation of its network (msse) and the ResNeXt and ResNeSt comparators.

    python table1.py DATA OUT [--architectures msse resnext resnest] [--folds 5] [training options]

Each architecture is cross-validated with the same recipe (the paper's unless --recipe says otherwise), folds,
seed, input, record features, head, loss and decision rule, into OUT/ARCHITECTURE/ (a cross_validate.py
folder: fold models, out-of-fold outputs, report.md). An architecture whose OUT/ARCHITECTURE/cv_scores.csv
exists is not run again unless --overwrite, so that the three can be run apart (one per GPU, or one per
core) and the table printed from all of them at the end. Prints and writes OUT/table1.md and OUT/table1.csv:
the paper's columns (F-beta, G-beta, Challenge metric of the pooled out-of-fold outputs) beside the paper's
numbers, AUROC, parameters, GFLOPs per 10 s window and the folds' time, and which of the paper's orderings hold.

The full data on a GPU (the paper's setting, 43,101 recordings; its time there is not measured yet):
    python table1.py DATA OUT --recipe paper --model-size paper --device cuda
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from dataclasses import replace
from pathlib import Path

from ecg12.cli import HelpFormatter, add_threads_argument, add_training_arguments, apply_threads, training_config
from ecg12.config import ARCHITECTURES, TrainConfig
from ecg12.files import atomic_write_text
from ecg12.logs import configure_logging

# The paper's Table 1 (5-fold cross-validation on the 2020 training set): F-beta, G-beta, Challenge metric.
PAPER = {
    "resnext": (0.497, 0.2568, 0.5546),
    "resnest": (0.4896, 0.2554, 0.5236),
    "msse": (0.5742, 0.3054, 0.6134),
}
COLUMNS = ("f_beta", "g_beta", "challenge_metric")


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("data", help="folder of Challenge recordings")
    parser.add_argument("output", help="folder for one cross-validation per architecture and the table")
    parser.add_argument("--architectures", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--overwrite", action="store_true", help="run an architecture again even if it is done")
    add_training_arguments(parser)
    add_threads_argument(parser)
    parser.set_defaults(recipe="paper")  # Table 1 is the paper's method
    arguments = parser.parse_args(argv)
    apply_threads(arguments)
    from ecg12.crossval import cross_validate  # only now: torch takes seconds to import
    from ecg12.crossval_report import SCORES_FILE
    from ecg12.model import network_size

    config = training_config(arguments)
    output = Path(arguments.output)
    rows: dict[str, dict[str, float]] = {}
    for architecture in arguments.architectures:
        folder = output / architecture
        run = replace(config, architecture=architecture)
        if arguments.overwrite or not (folder / SCORES_FILE).is_file():
            started = time.perf_counter()
            try:
                cross_validate(arguments.data, folder, run, arguments.folds, overwrite=arguments.overwrite)
            except (ValueError, OSError) as error:
                print(f"table1.py: {architecture}: {error}", file=sys.stderr)
                return 1
            print(f"{architecture}: cross-validated in {(time.perf_counter() - started) / 60:.1f} min")
        parameters, flops = network_size(run.model_config())
        rows[architecture] = {**pooled_scores(folder), "parameters": parameters, "gflops": flops / 1e9}
    table = format_table(rows, config, arguments.folds)
    print(table)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / "table1.md", table + "\n")
    atomic_write_text(output / "table1.csv", table_csv(rows))
    return 0


def pooled_scores(folder: Path) -> dict[str, float]:
    """The pooled out-of-fold row of a cross-validation's table."""
    from ecg12.crossval_report import POOLED_ROW, SCORES_FILE, read_scores_table  # torch: not for --help

    rows = read_scores_table(folder / SCORES_FILE)
    if POOLED_ROW not in rows:
        raise ValueError(f"{folder / SCORES_FILE} has no {POOLED_ROW!r} row")
    return rows[POOLED_ROW]


def format_table(rows: dict[str, dict[str, float]], config: TrainConfig, folds: int) -> str:
    """Markdown: ours beside the paper's, then which of the paper's orderings hold here."""
    lines = [
        f"# Table 1: {folds}-fold cross-validation, recipe {config.recipe}, size {config.model_size}",
        "",
        "| architecture | F-beta (paper) | G-beta (paper) | Challenge metric (paper) | AUROC | parameters "
        "| GFLOPs / window | folds' time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for architecture, row in rows.items():
        ours = " | ".join(f"{row[c]:.3f} ({paper:.3f})" for c, paper in zip(COLUMNS, PAPER[architecture], strict=True))
        lines.append(
            f"| {architecture} | {ours} | {row['auroc']:.3f} | {row['parameters'] / 1e6:.3f} M "
            f"| {row['gflops']:.3f} | {row['seconds'] / 60:.1f} min |"
        )
    lines += ["", "The paper's orderings here (pooled out-of-fold outputs):", ""]
    for column in COLUMNS:
        paper_order = sorted(PAPER, key=lambda a: -PAPER[a][COLUMNS.index(column)])
        present = [a for a in paper_order if a in rows]
        ours = sorted(present, key=lambda a: -rows[a][column])
        verdict = "holds" if ours == present else f"does not hold (here: {' > '.join(ours)})"
        lines.append(f"- {column}: paper {' > '.join(present)}: {verdict}")
    return "\n".join(lines)


def table_csv(rows: dict[str, dict[str, float]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    keys = ["f_beta", "g_beta", "challenge_metric", "auroc", "parameters", "gflops", "seconds"]
    writer.writerow(["architecture", *keys, *(f"paper_{c}" for c in COLUMNS)])
    for architecture, row in rows.items():
        writer.writerow([architecture, *(f"{row[k]:.6g}" for k in keys), *PAPER[architecture]])
    return buffer.getvalue()
