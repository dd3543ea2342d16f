"""k-fold cross-validation: out-of-fold outputs, tables, report, and honest cross-fitted thresholds."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from synthetic import make_learnable_dataset

import cross_validate as cross_validate_script
from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.crossval import cross_validate, crossfitted_thresholds
from ecg12.evaluation import evaluate_folders


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, float]]]:
    data = tmp_path_factory.mktemp("data")
    make_learnable_dataset(data, 24, seed=3)
    out = tmp_path_factory.mktemp("cv")
    config = TrainConfig(
        model_size="tiny", epochs=1, min_epoch_windows=8, batch_size=4, device="cpu", cache_dir=str(out / "cache")
    )
    return data, out, cross_validate(data, out, config, folds=2)


def test_every_recording_gets_exactly_one_out_of_fold_output(run: tuple[Path, Path, dict]) -> None:
    data, out, _ = run
    recordings = sorted(p.stem for p in data.glob("*.hea"))
    assert sorted(p.stem for p in (out / "outputs").glob("*.csv")) == recordings
    oof = np.load(out / "oof.npz")
    assert sorted(oof["names"].tolist()) == recordings
    assert sorted(np.unique(oof["folds"]).tolist()) == [0, 1]
    assert (out / "fold1" / "model.pt").is_file() and (out / "fold2" / "model.pt").is_file()


def test_the_pooled_row_is_the_official_score_of_the_written_outputs(run: tuple[Path, Path, dict]) -> None:
    data, out, rows = run
    _, scores = evaluate_folders(data, out / "outputs")
    assert rows["pooled out-of-fold"]["challenge_metric"] == pytest.approx(scores.challenge_metric, abs=1e-9)
    assert rows["pooled out-of-fold"]["auroc"] == pytest.approx(scores.auroc, abs=1e-6)


def test_tables_and_report_are_written(run: tuple[Path, Path, dict]) -> None:
    _, out, rows = run
    with open(out / "cv_scores.csv", newline="") as handle:
        table = {row["run"]: row for row in csv.DictReader(handle)}
    assert {"fold 1", "fold 2", "mean of folds", "pooled out-of-fold", "pooled, max/5 rule"} <= set(table)
    assert float(table["fold 1"]["challenge_metric"]) == pytest.approx(rows["fold 1"]["challenge_metric"], abs=1e-4)
    report = (out / "report.md").read_text()
    assert "| pooled out-of-fold |" in report and "class_scores.png" in report and "fewer than 2" in report
    assert (out / "class_scores.png").stat().st_size > 10_000


def test_crossfitted_thresholds_never_use_the_labels_they_are_applied_to() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random((80, 24)) < 0.2
    probabilities = np.clip(labels * 0.4 + rng.random((80, 24)) * 0.5, 0, 1)
    folds = np.repeat([0, 1, 2, 3], 20)
    binary = crossfitted_thresholds(labels, probabilities, folds)
    changed = labels.copy()
    changed[folds == 2] = ~changed[folds == 2]  # fold 2's own labels play no part in fold 2's thresholds
    again = crossfitted_thresholds(changed, probabilities, folds)
    np.testing.assert_array_equal(binary[folds == 2], again[folds == 2])
    assert (binary[folds != 2] != again[folds != 2]).any()
    assert binary.shape == labels.shape and len(scored_classes().codes) == 24


def test_an_earlier_run_is_refused_or_replaced_without_stale_folds(
    run: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    data, earlier, _ = run
    out = tmp_path / "cv"
    shutil.copytree(earlier, out, ignore=shutil.ignore_patterns("cache"))
    shutil.copytree(out / "fold2", out / "fold3")  # as a 3-fold run into the same folder would have left
    config = TrainConfig(
        model_size="tiny", epochs=1, min_epoch_windows=8, batch_size=4, device="cpu", cache_dir=str(earlier / "cache")
    )
    with pytest.raises(ValueError, match=r"earlier cross-validation .*fold1, fold2, fold3.*--overwrite"):
        cross_validate(data, out, config, folds=2)
    assert (out / "fold3").is_dir()  # refused: nothing removed
    cross_validate(data, out, config, folds=2, overwrite=True)
    assert sorted(p.name for p in out.glob("fold*")) == ["fold1", "fold2"]


def test_unreadable_recordings_get_negative_outputs_and_are_listed(
    run: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(run[0], data)
    (data / "broken.hea").write_text((data / "SYN00001.hea").read_text().replace("SYN00001", "broken"))
    (data / "broken.mat").write_bytes(b"")  # an empty signal file
    (data / "orphan.mat").write_bytes((data / "SYN00002.mat").read_bytes())  # a signal file without a header
    config = TrainConfig(
        model_size="tiny", epochs=1, min_epoch_windows=8, batch_size=4, device="cpu", cache_dir=str(tmp_path / "cache")
    )
    cross_validate(data, tmp_path / "cv", config, folds=2)
    outputs = tmp_path / "cv" / "outputs"
    for name in ("broken", "orphan"):
        rows = (outputs / f"{name}.csv").read_text().splitlines()
        assert rows[0] == f"#{name}" and {float(v) for v in rows[2].split(",") + rows[3].split(",")} == {0.0}
    with open(tmp_path / "cv" / "skipped_records.csv", newline="") as handle:
        reasons = {row["recording"]: row["reason"] for row in csv.DictReader(handle)}
    assert reasons.keys() == {"broken", "orphan"} and "empty" in reasons["broken"] and "header" in reasons["orphan"]
    assert "2 recordings could not be read" in (tmp_path / "cv" / "report.md").read_text()


def test_folds_run_apart_and_pooled_give_the_same_report(run: tuple[Path, Path, dict], tmp_path: Path) -> None:
    """As on a machine with a GPU per fold: cross_validate.py --fold K for each K, then --pool."""
    data, together, _ = run
    out = tmp_path / "cv"
    common = [str(data), str(out), "--folds", "2", "--model-size", "tiny", "--epochs", "1", "--epoch-windows", "8"]
    common += ["--batch-size", "4", "--device", "cpu", "--cache-dir", str(together / "cache")]
    assert cross_validate_script.main([*common, "--pool"]) == 1  # no fold done yet: refused
    for fold in ("2", "1"):
        assert cross_validate_script.main([*common, "--fold", fold]) == 0
    assert cross_validate_script.main([*common, "--fold", "1"]) == 1  # already done: refused without --overwrite
    assert cross_validate_script.main([*common, "--pool"]) == 0
    pooled = np.load(out / "oof.npz")
    reference = np.load(together / "oof.npz")
    np.testing.assert_array_equal(pooled["names"], reference["names"])
    np.testing.assert_allclose(pooled["probabilities"], reference["probabilities"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(pooled["binary"], reference["binary"])
    for name in sorted(p.name for p in (together / "outputs").glob("*.csv")):
        assert (out / "outputs" / name).read_text() == (together / "outputs" / name).read_text()
