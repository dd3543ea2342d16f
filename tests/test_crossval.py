"""Cross-validation (k-fold and leave-one-source-out): out-of-fold outputs, tables, report, cross-fitted thresholds."""

from __future__ import annotations

import csv
import errno
import json
import os
import pickle
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from payloads import Payload

import cross_validate as cross_validate_script
from ecg12 import crossval, files
from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.crossval import GROUPING_FILE, cross_validate, crossfitted_thresholds
from ecg12.evaluation import evaluate_folders
from ecg12.metrics import score
from ecg12.split import source_of
from ecg12.synthetic import make_learnable_dataset
from ecg12.thresholds import DecisionRule


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, float]]]:
    data = tmp_path_factory.mktemp("data")
    make_learnable_dataset(data, 24, seed=3)
    out = tmp_path_factory.mktemp("cv")
    config = TrainConfig(
        model_size="tiny", epochs=1, min_epoch_windows=8, batch_size=4, device="cpu", cache_dir=str(out / "cache")
    )
    return data, out, cross_validate(data, out, config, folds=2)


@pytest.mark.slow
def test_every_recording_gets_exactly_one_out_of_fold_output(run: tuple[Path, Path, dict]) -> None:
    data, out, _ = run
    recordings = sorted(p.stem for p in data.glob("*.hea"))
    assert sorted(p.stem for p in (out / "outputs").glob("*.csv")) == recordings
    oof = np.load(out / "oof.npz")
    assert sorted(oof["names"].tolist()) == recordings
    assert sorted(np.unique(oof["folds"]).tolist()) == [0, 1]
    assert (out / "fold1" / "model.pt").is_file() and (out / "fold2" / "model.pt").is_file()


@pytest.mark.slow
def test_the_pooled_row_is_the_official_score_of_the_written_outputs(run: tuple[Path, Path, dict]) -> None:
    data, out, rows = run
    _, scores = evaluate_folders(data, out / "outputs")
    assert rows["pooled out-of-fold"]["challenge_metric"] == pytest.approx(scores.challenge_metric, abs=1e-9)
    assert rows["pooled out-of-fold"]["auroc"] == pytest.approx(scores.auroc, abs=1e-6)


@pytest.mark.slow
def test_tables_and_report_are_written(run: tuple[Path, Path, dict]) -> None:
    _, out, rows = run
    with open(out / "cv_scores.csv", newline="") as handle:
        table = {row["run"]: row for row in csv.DictReader(handle)}
    assert {"fold 1", "fold 2", "mean of folds", "pooled out-of-fold", "pooled, max/5 rule"} <= set(table)
    assert float(table["fold 1"]["challenge_metric"]) == pytest.approx(rows["fold 1"]["challenge_metric"], abs=1e-4)
    report = (out / "report.md").read_text()
    assert "| pooled out-of-fold |" in report and "class_scores.png" in report and "fewer than 2" in report
    assert (out / "class_scores.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_papers_patch_rule_row_scores_the_union_of_each_patchs_decisions(run: tuple[Path, Path, dict]) -> None:
    _, out, rows = run
    oof = np.load(out / "oof.npz")
    order = {str(name): position for position, name in enumerate(oof["names"])}
    fractions = np.zeros(oof["probabilities"].shape)
    for fold in ("fold1", "fold2"):
        held_out = np.load(out / fold / "held_out.npz")
        fractions[[order[str(name)] for name in held_out["names"]]] = held_out["patch_fractions"]
    union = fractions >= 0.2
    assert (union >= DecisionRule("max-fraction").apply(oof["probabilities"])).all()
    expected = score(oof["labels"], union, oof["probabilities"], scored_classes()).challenge_metric
    row = rows["pooled, max/5 of each patch, the union (the paper's)"]
    assert row["challenge_metric"] == pytest.approx(expected, abs=1e-12)


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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


# --- misuse: an interrupted run, damaged or planted fold outputs, two runs of a fold, a full disk ------------------


def cv_arguments(data: Path, out: Path, cache: Path) -> list[str]:
    """cross_validate.py arguments of a quick 2-fold run."""
    common = [str(data), str(out), "--folds", "2", "--model-size", "tiny", "--epochs", "1", "--epoch-windows", "8"]
    return [*common, "--batch-size", "4", "--device", "cpu", "--cache-dir", str(cache)]


def copy_run(run: tuple[Path, Path, dict], tmp_path: Path) -> Path:
    out = tmp_path / "cv"
    shutil.copytree(run[1], out, ignore=shutil.ignore_patterns("cache"))
    return out


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    message = capsys.readouterr().err
    assert message.startswith("cross_validate.py: ") and message.count("\n") == 1, message
    return message


def test_ctrl_c_keeps_the_finished_folds_and_advises_resume(
    run: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, together, _ = run
    out = tmp_path / "cv"
    arguments = cv_arguments(data, out, together / "cache")
    trained = crossval.fit

    def interrupted_in_fold_2(run, *args, **kwargs):  # type: ignore[no-untyped-def]
        if run.folder.name == "fold2":
            raise KeyboardInterrupt
        return trained(run, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(crossval, "fit", interrupted_in_fold_2)
        assert cross_validate_script.main(arguments) == 130
    message = one_line(capsys)
    assert "--overwrite" not in message and f"the finished folds are kept in {out}" in message
    command = shlex.split(message.split("continue with: ", 1)[1])
    assert command[2:] == [*arguments, "--resume"]
    finished = (out / "fold1" / "model.pt").stat().st_mtime_ns
    assert cross_validate_script.main(command[2:]) == 0  # as advised
    assert (out / "fold1" / "model.pt").stat().st_mtime_ns == finished  # fold 1 kept, not trained again
    np.testing.assert_allclose(
        np.load(out / "oof.npz")["probabilities"], np.load(together / "oof.npz")["probabilities"], rtol=0, atol=1e-6
    )


def test_a_truncated_fold_output_is_one_line_and_the_fold_classifies_again_with_resume(
    run: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, together, _ = run
    out = copy_run(run, tmp_path)
    held_out = out / "fold2" / "held_out.npz"
    held_out.write_bytes(held_out.read_bytes()[:-200])  # as a kill in the middle of the write would have left it
    arguments = cv_arguments(data, out, together / "cache")
    assert cross_validate_script.main([*arguments, "--pool"]) == 1
    message = one_line(capsys)
    assert f"{held_out} cannot be read (BadZipFile" in message and "--fold 2 --resume" in message
    assert cross_validate_script.main([*arguments, "--fold", "2"]) == 1
    assert "continue it with --resume" in one_line(capsys)
    trained = (out / "fold2" / "model.pt").read_bytes()
    assert cross_validate_script.main([*arguments, "--fold", "2", "--resume"]) == 0
    assert (out / "fold2" / "model.pt").read_bytes() == trained  # classified again with its model, not retrained
    assert cross_validate_script.main([*arguments, "--pool"]) == 0


@pytest.mark.parametrize("kind", ["pickle", "object array"])
def test_a_code_payload_as_a_fold_output_is_refused_in_one_line_and_never_runs(
    kind: str, run: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, together, _ = run
    out = copy_run(run, tmp_path)
    held_out = out / "fold1" / "held_out.npz"
    live, marker = tmp_path / "live", tmp_path / "marker"
    if kind == "pickle":
        held_out.write_bytes(pickle.dumps(Payload(live)))
        np.load(held_out, allow_pickle=True)  # the payload is real: loaded with pickles allowed, it runs
        held_out.write_bytes(pickle.dumps(Payload(marker)))
    else:
        np.savez(held_out, names=np.array([Payload(live)], dtype=object))
        np.load(held_out, allow_pickle=True)["names"]
        np.savez(held_out, names=np.array([Payload(marker)], dtype=object))
    assert live.exists()
    assert cross_validate_script.main([*cv_arguments(data, out, together / "cache"), "--pool"]) == 1
    assert f"{held_out} cannot be read" in one_line(capsys)
    assert not marker.exists()


def test_a_second_run_of_a_fold_in_progress_is_refused_in_one_line(
    run: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, together, _ = run
    out = tmp_path / "cv"
    with files.one_run(out, [".fold1.lock"], "the first run"):  # as a run of fold 1 holds it
        assert cross_validate_script.main([*cv_arguments(data, out, together / "cache"), "--fold", "1"]) == 1
        assert f"fold 1 in {out} is in use by another run (it holds {out / '.fold1.lock'})" in one_line(capsys)
        assert sorted(p.name for p in out.iterdir()) == [".fold1.lock"]


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fold", [2, 3])  # one of this plan's folds, or a --fold 3 of a 3-fold plan into OUT
def test_an_overwrite_of_all_folds_is_refused_while_a_fold_runs_and_removes_nothing(
    fold: int, run: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, together, _ = run
    out = copy_run(run, tmp_path)
    before = files_in(out)
    lock = out / f".fold{fold}.lock"
    with files.one_run(out, [lock.name], "a run of one fold"):  # as cross_validate.py --fold K holds it
        arguments = [*cv_arguments(data, out, together / "cache"), "--overwrite"]
        assert cross_validate_script.main(arguments) == 1
        assert f"fold {fold} in {out} is in use by another run (it holds {lock})" in one_line(capsys)
    assert files_in(out) == before  # the earlier folds, outputs and report all kept


def test_pooling_is_refused_while_a_fold_runs_and_writes_nothing(
    run: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, together, _ = run
    out = copy_run(run, tmp_path)
    shutil.rmtree(out / "outputs")
    (out / "oof.npz").unlink()
    with files.one_run(out, [".fold1.lock"], "a run of fold 1"):  # as cross_validate.py --fold 1 --overwrite holds it
        assert cross_validate_script.main([*cv_arguments(data, out, together / "cache"), "--pool"]) == 1
        assert f"fold 1 in {out} is in use by another run (it holds {out / '.fold1.lock'})" in one_line(capsys)
    assert not (out / "outputs").exists() and not (out / "oof.npz").exists()


class SecondRunChecked(Exception):
    """Stops the first run once the second has been tried."""


def test_a_fold_run_is_refused_while_a_run_of_all_folds_holds_every_fold(
    run: tuple[Path, Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, together, _ = run
    out = tmp_path / "cv"
    config = tiny_config(together / "cache")

    def second_run_of_fold_2(training_run, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert training_run.folder.name == "fold1"  # the run of all folds, training its first fold
        with pytest.raises(files.FolderInUse, match=f"^fold 2 in {out} is in use by another run"):
            crossval.run_fold(data, out, config, 2, 2)
        raise SecondRunChecked

    monkeypatch.setattr(crossval, "fit", second_run_of_fold_2)
    with pytest.raises(SecondRunChecked):
        cross_validate(data, out, config, folds=2)
    assert not (out / "fold2").exists()


def test_a_full_disk_while_pooling_keeps_the_previous_out_of_fold_file(
    run: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, together, _ = run
    out = copy_run(run, tmp_path)
    before = (out / "oof.npz").read_bytes()

    def opened(path: str | os.PathLike[str], mode: str = "r", *args: object, **kwargs: object) -> object:
        if mode == "wb" and Path(path).name.startswith(f".{files.temporary_key('oof.npz')}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return open(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(files, "open", opened, raising=False)
    assert cross_validate_script.main([*cv_arguments(data, out, together / "cache"), "--pool"]) == 1
    assert one_line(capsys) == f"cross_validate.py: {out / 'oof.npz'}: No space left on device\n"
    assert (out / "oof.npz").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


# --- leave-one-source-out ------------------------------------------------------------------------------------------

# Recordings of three sources: CPSC 2018 (A and Q, one group), PTB-XL (HR) and Georgia (E).
SOURCE_PREFIXES = {"A": 8, "Q": 4, "HR": 8, "E": 8}
HELD_OUT = {
    "CPSC 2018": "held out: CPSC 2018 (A, Q), 12 recordings",
    "PTB-XL": "held out: PTB-XL (HR), 8 recordings",
    "Georgia": "held out: Georgia (E), 8 recordings",
}


def tiny_config(cache: Path) -> TrainConfig:
    return TrainConfig(
        model_size="tiny", epochs=1, min_epoch_windows=8, batch_size=4, device="cpu", cache_dir=str(cache)
    )


@pytest.fixture(scope="module")
def loso(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, float]]]:
    data = tmp_path_factory.mktemp("sources")
    for seed, (prefix, count) in enumerate(SOURCE_PREFIXES.items()):
        make_learnable_dataset(data, count, seed=10 + seed, prefix=prefix)
    out = tmp_path_factory.mktemp("loso")
    return data, out, cross_validate(data, out, tiny_config(out / "cache"), group_by="source")


@pytest.mark.slow
def test_no_fold_trains_on_the_source_it_holds_out(loso: tuple[Path, Path, dict]) -> None:
    data, out, _ = loso
    held_out_names: list[str] = []
    for fold, source in enumerate(HELD_OUT, start=1):
        with open(out / f"fold{fold}" / "split.csv", newline="") as handle:
            seen = [row["recording"] for row in csv.DictReader(handle)]
        held_out = [str(name) for name in np.load(out / f"fold{fold}" / "held_out.npz")["names"]]
        assert seen and {source_of(name) for name in seen} == set(HELD_OUT) - {source}
        assert {source_of(name) for name in held_out} == {source}
        held_out_names += held_out
    assert {name[0] for name in held_out_names if source_of(name) == "CPSC 2018"} == {"A", "Q"}
    assert sorted(held_out_names) == sorted(p.stem for p in data.glob("*.hea"))
    assert not (out / "fold4").exists()


@pytest.mark.slow
def test_the_source_report_names_the_held_out_sources_and_scores_each_source(loso: tuple[Path, Path, dict]) -> None:
    _, out, rows = loso
    sources = {name.replace("held out: ", "source "): name for name in HELD_OUT.values()}
    assert list(rows)[:3] == list(HELD_OUT.values())
    assert {"mean of folds", "sd of folds", "pooled out-of-fold", "pooled, max/5 rule"} <= set(rows)
    assert list(rows)[-3:] == list(sources)  # per-source rows, in the table's order
    for source_row, held_out_row in sources.items():  # a held-out fold is all of its source's outputs
        assert rows[source_row]["challenge_metric"] == pytest.approx(rows[held_out_row]["challenge_metric"])
    report = (out / "report.md").read_text()
    assert report.splitlines()[0] == "# Leave-one-source-out cross-validation"
    assert "| held out: PTB-XL (HR), 8 recordings |" in report and "| source Georgia (E), 8 recordings |" in report
    with open(out / "cv_scores.csv", newline="") as handle:
        assert [row["run"] for row in csv.DictReader(handle)] == list(rows)
    oof = np.load(out / "oof.npz")
    assert oof["sources"].tolist() == [source_of(str(name)) for name in oof["names"]]
    assert [list(HELD_OUT)[k] for k in oof["folds"]] == oof["sources"].tolist()
    assert str(oof["group_by"]) == "source" and oof["fold_names"].tolist() == list(HELD_OUT.values())
    recorded = json.loads((out / GROUPING_FILE).read_text())
    assert recorded["group_by"] == "source" and recorded["folds"] == 3


@pytest.mark.slow
def test_the_random_report_scores_each_source_too(run: tuple[Path, Path, dict]) -> None:
    _, out, rows = run
    pooled = {key: value for key, value in rows["pooled out-of-fold"].items() if key != "seconds"}
    assert rows["source SYN, 24 recordings"] == pytest.approx(pooled, abs=0, nan_ok=True)  # one source: all of it
    report = (out / "report.md").read_text()
    assert report.splitlines()[0] == "# 2-fold cross-validation" and "| source SYN, 24 recordings |" in report
    assert json.loads((out / GROUPING_FILE).read_text())["group_by"] == "random"


@pytest.mark.slow
def test_folds_of_another_grouping_are_refused_with_one_line(
    run: tuple[Path, Path, dict], loso: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def main(data: Path, out: Path, cache: Path, *options: str) -> tuple[int, str]:
        common = [str(data), str(out), "--model-size", "tiny", "--epochs", "1", "--epoch-windows", "8"]
        common += ["--batch-size", "4", "--device", "cpu", "--cache-dir", str(cache)]
        capsys.readouterr()
        code = cross_validate_script.main([*common, *options])
        return code, capsys.readouterr().err

    source_data, source_out, _ = loso
    mixed = tmp_path / "loso"
    shutil.copytree(source_out, mixed, ignore=shutil.ignore_patterns("cache"))
    for options in (["--pool"], ["--fold", "1"], ["--fold", "1", "--folds", "3", "--overwrite"]):
        code, error = main(source_data, mixed, source_out / "cache", *options)
        assert code == 1 and error.count("\n") == 1, (options, error)
        assert "holds the folds of a leave-one-source-out cross-validation (--group-by source)" in error
    random_data, random_out, _ = run
    mixed = tmp_path / "random"
    shutil.copytree(random_out, mixed, ignore=shutil.ignore_patterns("cache"))
    for options in (["--pool", "--group-by", "source"], ["--fold", "1", "--group-by", "source"], ["--pool"]):
        code, error = main(random_data, mixed, random_out / "cache", *options)
        assert code == 1 and error.count("\n") == 1, (options, error)
        assert "holds the folds of a 2-fold cross-validation (--group-by random --folds 2)" in error
    assert main(random_data, mixed, random_out / "cache", "--pool", "--folds", "2")[0] == 0  # the same grouping pools


@pytest.mark.slow
def test_a_source_fold_runs_alone_and_a_bad_fold_lists_the_sources(
    loso: tuple[Path, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, together, _ = loso
    out = tmp_path / "cv"
    common = [str(data), str(out), "--group-by", "source", "--model-size", "tiny", "--epochs", "1"]
    common += ["--epoch-windows", "8", "--batch-size", "4", "--device", "cpu", "--cache-dir", str(together / "cache")]
    assert cross_validate_script.main([*common, "--fold", "4"]) == 1
    error = capsys.readouterr().err
    assert "fold 4 does not exist: choose 1 to 3 (1: held out: CPSC 2018 (A, Q), 12 recordings; 2: " in error
    assert cross_validate_script.main([*common, "--folds", "5"]) == 1
    assert "one fold per source, 3 here" in capsys.readouterr().err
    assert cross_validate_script.main([*common, "--fold", "2"]) == 0
    printed = capsys.readouterr().out
    assert "1: held out: CPSC 2018 (A, Q), 12 recordings; 2: held out: PTB-XL (HR), 8 recordings;" in printed
    assert "fold 2 of 3 (held out: PTB-XL (HR), 8 recordings) done" in printed
    alone, reference = np.load(out / "fold2" / "held_out.npz"), np.load(together / "fold2" / "held_out.npz")
    np.testing.assert_array_equal(alone["names"], reference["names"])
    np.testing.assert_allclose(alone["probabilities"], reference["probabilities"], rtol=0, atol=1e-6)
    assert cross_validate_script.main([*common, "--pool"]) == 1  # folds 1 and 3 are not done
    assert "folds 1, 3 of 3 are not done" in capsys.readouterr().err
