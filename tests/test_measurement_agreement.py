"""bench/measurement_agreement.py: each defining measurement against its class's labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_scripts import load_bench_script

from ecg12.synthetic import make_learnable_dataset


def test_rate_criteria_find_the_synthetic_rhythm_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_bench_script("measurement_agreement")
    make_learnable_dataset(tmp_path / "data", 16, seed=2)  # rhythm classes told by heart rate, a quarter each
    assert script.main([str(tmp_path / "data")]) == 0
    rows = {tuple(cells[2:4]): cells for line in capsys.readouterr().out.splitlines() if (cells := line.split(" | "))}
    bradycardia = rows[("sinus bradycardia (4)", "< 60 bpm")]
    tachycardia = rows[("sinus tachycardia (4)", "> 100 bpm")]
    for row in (bradycardia, tachycardia):
        assert row[4:6] == ["100%", "100%"]  # finds all of its class; no sinus rhythm recording meets it
        assert float(row[6]) >= 0.9  # AUROC against every other recording (atrial fibrillation runs at 70-130)
    assert script.main([str(tmp_path / "nothing")]) == 1
    assert "is not a folder" in capsys.readouterr().err
