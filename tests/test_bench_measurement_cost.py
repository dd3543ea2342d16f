"""bench/bench_measurements.py: the cost of the measurements against the record features, and their memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_scripts import load_bench_script

from ecg12.synthetic import make_learnable_dataset


def test_prints_times_ratios_and_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_bench_script("bench_measurements")
    make_learnable_dataset(tmp_path / "data", 4, seed=5)
    assert script.main([str(tmp_path / "data"), "--rounds", "1", "--reference", "HEAD", "--hours", "0.02"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in lines if "ms   rounds:" in line}
    assert "x features.record_features" in rows["measurements.measure_record"]
    assert "x record_features at HEAD" in rows["measurements.measure"]
    assert any(line.strip().startswith("record_features at HEAD") for line in lines)
    assert sum("MB (process peak" in line for line in lines) == 4
