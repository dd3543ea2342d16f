"""End to end through the three Challenge scripts: train_model.py, driver.py, evaluate_model.py.

1. Synthetic records whose labels follow from the signal (rate, rhythm regularity, QRS width): a
   tiny model trained for a few short epochs must beat the all-normal output (Challenge metric 0 by
   definition) clearly on held-out synthetic records.
2. The real recordings shipped in data/sample: train, classify, score; every recording gets an
   output file and the scores are written in the official format.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecg12.classes import scored_classes
from ecg12.outputs import save_outputs
from ecg12.synthetic import make_learnable_dataset

REPOSITORY = Path(__file__).resolve().parents[1]
SAMPLE = REPOSITORY / "data" / "sample"


def run(script: str, *arguments: object) -> subprocess.CompletedProcess[str]:
    # One torch thread: on a shared 2-core machine two-thread kernels of a tiny model are much slower.
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(REPOSITORY / script), *map(str, arguments)],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )


def read_scores(path: Path) -> dict[str, float]:
    with open(path, newline="") as handle:
        header, values = list(csv.reader(handle))
    return dict(zip(header, map(float, values), strict=True))


@pytest.mark.slow
def test_learnable_synthetic_labels_are_learnt(tmp_path: Path) -> None:
    make_learnable_dataset(tmp_path / "train", 60, seed=1)
    make_learnable_dataset(tmp_path / "test", 24, seed=2, prefix="TST")
    model = tmp_path / "model"
    run(
        "train_model.py", tmp_path / "train", model, "--model-size", "tiny", "--epochs", 8, "--epoch-windows", 128,
        "--batch-size", 16, "--lr", 3e-3, "--device", "cpu", "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    run("driver.py", model, tmp_path / "test", tmp_path / "outputs", "--device", "cpu")
    run("evaluate_model.py", tmp_path / "test", tmp_path / "outputs", tmp_path / "scores.csv")

    # The reference: every recording called normal (sinus rhythm) and nothing else.
    classes = scored_classes()
    normal_only = [float(code == "426783006") for code in classes.output_codes]
    for header in (tmp_path / "test").glob("*.hea"):
        save_outputs(
            tmp_path / "normal" / f"{header.stem}.csv", header.stem, classes.output_codes, normal_only, normal_only
        )
    run("evaluate_model.py", tmp_path / "test", tmp_path / "normal", tmp_path / "normal_scores.csv")

    trained = read_scores(tmp_path / "scores.csv")
    all_normal = read_scores(tmp_path / "normal_scores.csv")
    assert all_normal["Challenge metric"] == 0.0
    assert trained["Challenge metric"] > all_normal["Challenge metric"] + 0.2
    assert trained["AUROC"] > 0.55


@pytest.mark.slow
def test_real_sample_records_train_classify_score(tmp_path: Path) -> None:
    model, outputs = tmp_path / "model", tmp_path / "outputs"
    run(
        "train_model.py", SAMPLE / "train", model, "--model-size", "tiny", "--epochs", 1, "--epoch-windows", 32,
        "--device", "cpu", "--cache-dir", tmp_path / "cache",
    )  # fmt: skip
    for name in ("model.pt", "config.json", "thresholds.json", "metrics.csv", "training_curves.png", "split.csv"):
        assert (model / name).is_file(), name
    result = run("driver.py", model, SAMPLE / "test", outputs, "--device", "cpu")
    assert "0 failed" in result.stdout
    run("evaluate_model.py", SAMPLE / "test", outputs, tmp_path / "scores.csv", tmp_path / "class_scores.csv")

    recordings = sorted(p.stem for p in (SAMPLE / "test").glob("*.mat"))
    assert recordings and sorted(p.stem for p in outputs.glob("*.csv") if p.name != "errors.csv") == recordings
    lines = (outputs / f"{recordings[0]}.csv").read_text().splitlines()
    assert lines[0] == f"#{recordings[0]}"
    assert lines[1].split(",") == list(scored_classes().output_codes)
    assert set(lines[2].split(",")) <= {"0", "1"}
    assert all(0.0 <= float(p) <= 1.0 for p in lines[3].split(","))
    scores = read_scores(tmp_path / "scores.csv")
    assert list(scores) == [
        "AUROC",
        "AUPRC",
        "Accuracy",
        "F-measure",
        "Fbeta-measure",
        "Gbeta-measure",
        "Challenge metric",
    ]
    assert (tmp_path / "class_scores.csv").read_text().startswith("Classes,270492004,")


@pytest.mark.parametrize("script", ["train_model.py", "driver.py", "evaluate_model.py", "cross_validate.py"])
def test_scripts_explain_themselves(script: str) -> None:
    assert "usage:" in run(script, "--help").stdout
