"""A cross-validation's table and report: rows named once for writer and readers, the table read back, the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.crossval_report import (
    MEAN_ROW,
    POOLED_ROW,
    CrossValidationResults,
    read_scores_table,
    row_source,
    source_row,
    write_markdown_report,
    write_scores_table,
)
from ecg12.fold_plan import plan_folds
from ecg12.metrics import score
from ecg12.training import score_columns


def test_a_source_rows_name_gives_its_source_back() -> None:
    assert source_row("CPSC 2018", 122) == "source CPSC 2018 (A, Q), 122 recordings"
    assert row_source(source_row("CPSC 2018", 122)) == "CPSC 2018"
    assert row_source(source_row("SYN", 1)) == "SYN"  # a source without a table entry: no prefixes in brackets
    assert row_source(POOLED_ROW) is None and row_source("fold 1") is None


def test_the_table_reads_back_as_written(tmp_path: Path) -> None:
    rows = {"fold 1": {"challenge_metric": 0.25, "seconds": 12.0}, MEAN_ROW: {"challenge_metric": 0.5}}
    write_scores_table(tmp_path / "cv_scores.csv", rows)
    assert read_scores_table(tmp_path / "cv_scores.csv") == rows  # a row without seconds has an empty cell


def test_the_report_tables_the_pooled_rows_apart_from_the_sources_and_counts_the_unreadable(tmp_path: Path) -> None:
    classes = scored_classes()
    rng = np.random.default_rng(0)
    names = [f"{prefix}{i:03d}" for i, prefix in enumerate(["A", "HR"] * 6)]
    labels = rng.random((12, len(classes.codes))) < 0.3
    probabilities = rng.random(labels.shape)
    pooled = score(labels, probabilities > 0.5, probabilities, classes)
    plan = plan_folds(names, labels, seed=0, group_by="source")
    rows = {
        plan.fold_name(0): score_columns(pooled),
        POOLED_ROW: {**score_columns(pooled), "seconds": 90.0},
        source_row("CPSC 2018", 6): score_columns(pooled),
    }
    write_markdown_report(tmp_path, CrossValidationResults(plan, TrainConfig(), rows, pooled, labels, unreadable=2))
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# Leave-one-source-out cross-validation\n")
    assert "12 recordings, 1.5 min of fold time" in report and "2 recordings could not be read" in report
    main, per_source = report.split("## Per source")
    assert f"| {POOLED_ROW} |" in main and "| source CPSC 2018 (A, Q), 6 recordings |" not in main
    assert "| source CPSC 2018 (A, Q), 6 recordings |" in per_source.split("## Per class")[0]
    assert (tmp_path / "class_scores.png").stat().st_size > 0
