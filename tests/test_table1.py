"""table1.py: the paper's Table 1 from one cross-validation per architecture, runs reused, orderings told."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from trained_model import one_torch_thread

from ecg12 import table1
from ecg12.synthetic import make_learnable_dataset


@pytest.mark.slow
def test_two_architectures_are_tabulated_beside_the_paper_and_a_done_run_is_reused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    make_learnable_dataset(data, 16, seed=2)
    out = tmp_path / "table1"
    options = ["--folds", "2", "--model-size", "tiny", "--epochs", "1", "--epoch-windows", "8", "--batch-size", "4"]
    options += ["--device", "cpu", "--cache-dir", str(tmp_path / "cache")]
    with one_torch_thread():
        assert table1.main([str(data), str(out), "--architectures", "msse", "resnext", *options]) == 0
    first = capsys.readouterr().out
    assert "msse: cross-validated" in first and "resnext: cross-validated" in first
    table = (out / "table1.md").read_text()
    assert "recipe paper, size tiny" in table  # the paper's recipe unless told otherwise
    assert "(0.613)" in table and "(0.555)" in table  # the paper's Challenge metrics beside ours
    with open(out / "table1.csv", newline="") as handle:
        rows = {row["architecture"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"msse", "resnext"}
    for architecture, row in rows.items():
        pooled = table1.pooled_scores(out / architecture)
        assert float(row["challenge_metric"]) == pytest.approx(pooled["challenge_metric"], abs=1e-6)
        assert 5_000 < float(row["parameters"]) < 20_000  # the tiny sizes
    assert "challenge_metric: paper msse > resnext:" in table

    with one_torch_thread():
        assert table1.main([str(data), str(out), "--architectures", "msse", "resnext", *options]) == 0
    assert "cross-validated" not in capsys.readouterr().out  # both done: read back, not run again
