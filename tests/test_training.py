"""Training one network under faults and misuse: validation, killed runs and exact resume, forgotten flags, Ctrl-C."""

from __future__ import annotations

import errno
import io
import json
import logging
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from model_folders import assert_same_state, read_rows
from trained_model import (
    EPOCHS,
    REPOSITORY,
    TrainedModel,
    learnable_data,
    one_torch_thread,
    subprocess_env,
    train_arguments,
)

import train_model
from ecg12 import checkpoints, files, inference, training
from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.distributed import SINGLE_PROCESS
from ecg12.files import temporary_key
from ecg12.inference import load_classifier, predict_scores
from ecg12.loss import HardExampleBCELoss, class_weights
from ecg12.measurement_model import SAVED_TENSORS, SHARES, MeasurementModel
from ecg12.metrics import score
from ecg12.signal_cache import load_or_build_cache
from ecg12.thresholds import DecisionRule
from ecg12.training_run import TrainingRun


def temporaries(folder: Path) -> list[str]:
    """Leftovers of atomic writes (``.KEY.XXXXXXXX.tmp``) in a folder."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


TRAINING_FILES = {
    "model.pt",
    "config.json",
    "thresholds.json",
    checkpoints.CHECKPOINT_FILE,
    checkpoints.HISTORY_FILE,
    checkpoints.CURVES_FILE,
    checkpoints.SPLIT_FILE,
    checkpoints.SKIPPED_FILE,
    "model.onnx",
    "model.json",
}


def written_by(temporary: str) -> str:
    """The training file an atomic write's temporary ``.KEY.XXXXXXXX.tmp`` was to become (else KEY)."""
    key = temporary.removeprefix(".").removesuffix(".tmp").rsplit(".", 1)[0]
    return next((name for name in TRAINING_FILES if temporary_key(name) == key), key)


def assert_same_history(rows: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    """metrics.csv rows equal up to floating-point tolerance, apart from the wall-clock seconds."""
    assert [row["epoch"] for row in rows] == [row["epoch"] for row in expected]
    for row, reference in zip(rows, expected, strict=True):
        assert row.keys() == reference.keys()
        for key in row.keys() - {"seconds"}:
            assert float(row[key]) == pytest.approx(float(reference[key]), rel=1e-6, abs=1e-9, nan_ok=True), key


def test_classes_without_positive_examples_get_finite_weights_and_thresholds(shared: TrainedModel) -> None:
    classes = scored_classes()
    cache = load_or_build_cache(shared.data, shared.cache)
    labels = classes.encode(cache.codes)
    absent = ~labels.any(axis=0)
    assert absent.sum() >= 15  # the learnable set uses 5 of the 24 classes

    weights = class_weights(labels.sum(axis=0))
    assert np.isfinite(weights).all() and (weights > 0).all()
    bundle = torch.load(shared.model / "model.pt", map_location="cpu", weights_only=True)
    assert np.isfinite(bundle["training"]["class_weights"]).all()

    # The per-class rule tunes a threshold for every class, absent ones included.
    classifier = load_classifier(shared.model)
    config = TrainConfig(model_size="tiny", device="cpu", decision_rule="per-class")
    criterion = HardExampleBCELoss(weights)
    run = TrainingRun.of(cache, config, shared.model, SINGLE_PROCESS, torch.device("cpu"))
    result = training.validate(classifier.model, run, np.arange(len(cache)), criterion)
    thresholds = np.array(result.rule.class_thresholds)
    assert thresholds.shape == (len(classes.codes),)
    assert np.isfinite(thresholds).all() and ((thresholds > 0) & (thresholds < 1)).all()
    assert math.isfinite(result.loss) and math.isfinite(result.scores.challenge_metric)


def test_validation_chooses_the_measurement_share_of_the_lowest_loss(shared: TrainedModel) -> None:
    classes = scored_classes()
    cache = load_or_build_cache(shared.data, shared.cache)
    labels, records = classes.encode(cache.codes), np.arange(len(cache))
    model = load_classifier(shared.model).model
    saved_share = float(model.share)
    config = TrainConfig(model_size="tiny", device="cpu", decision_rule="max-fraction")
    criterion = HardExampleBCELoss(class_weights(labels.sum(axis=0)))
    run = TrainingRun.of(cache, config, shared.model, SINGLE_PROCESS, torch.device("cpu"))
    result = training.validate(model, run, records, criterion)
    assert result.measurement_share in SHARES
    assert float(model.share) == saved_share  # the model validated is left as it was
    # What the epoch would save: the same network and measurement model at the share chosen.
    assert result.model.network is model.network and float(result.model.share) == result.measurement_share
    losses = {}
    for share in SHARES:  # each share through the classifier's own forward pass
        at_share = model.with_share(share)
        scores = predict_scores(at_share, ((cache.signal(i), cache.features[i]) for i in records), torch.device("cpu"))
        logits = torch.logit(torch.from_numpy(scores.probabilities), eps=1e-7)
        losses[share] = float(criterion.per_sample(logits, torch.from_numpy(labels)).mean())
        if share == result.measurement_share:
            np.testing.assert_allclose(scores.probabilities, result.probabilities, rtol=0, atol=1e-6)
            expected = score(labels, scores.labels(result.rule), scores.probabilities, classes)
            assert result.scores.challenge_metric == pytest.approx(expected.challenge_metric)
    assert result.loss == pytest.approx(min(losses.values()), rel=1e-5)
    assert len(set(losses.values())) > 1  # the shares differ: the choice is a real one


def test_the_default_recipe_fits_its_measurement_model_to_the_training_recordings_alone(shared: TrainedModel) -> None:
    classifier = load_classifier(shared.model)
    assert classifier.model.config.measurement_model
    cache = load_or_build_cache(shared.data, shared.cache)
    training = {
        row["recording"] for row in read_rows(shared.model / checkpoints.SPLIT_FILE) if row["subset"] == "training"
    }
    records = np.array([i for i, name in enumerate(cache.names) if name in training])
    assert 0 < len(records) < len(cache)  # the validation recordings are left out
    labels = scored_classes().encode(cache.codes)[records]
    refitted = MeasurementModel.fit(cache.features[records], labels, classifier.model.config.num_record_features)
    saved = classifier.model.measurement
    assert torch.equal(refitted.weight, saved.weight) and torch.equal(refitted.bias, saved.bias)
    assert saved.weight.abs().max() > 0.1


@pytest.mark.parametrize("architecture", ["msse", "resnext", "resnest"])
@pytest.mark.slow
def test_the_paper_recipe_trains_each_architecture_into_a_model_that_decides_patch_by_patch(
    architecture: str, shared: TrainedModel, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    options = ["--recipe", "paper", "--architecture", architecture]
    with one_torch_thread():
        assert train_model.main([*train_arguments(shared.data, model, shared.cache, epochs=1), *options]) == 0
    saved = json.loads((model / "config.json").read_text())
    assert saved["training"]["train_config"]["recipe"] == "paper"
    assert saved["decision_rule"]["mode"] == "patch-fraction" and saved["decision_rule"]["fraction"] == 0.2
    assert saved["model_config"]["architecture"] == architecture
    assert not saved["model_config"]["ecg_measurements"] and not saved["model_config"]["record_path"]
    assert not saved["model_config"]["measurement_model"]

    classifier = load_classifier(model)
    assert not hasattr(classifier.model, "measurement_weight")
    assert classifier.model.record_path is None and classifier.model.config.num_record_features == 4
    cache = load_or_build_cache(shared.data, shared.cache)
    scores = classifier.scores((cache.signal(i), cache.features[i]) for i in range(len(cache)))
    labels = classifier.challenge_outputs(scores)[1]
    expected = scores.patch_fractions >= 0.2
    assert np.array_equal(labels, scored_classes().expand(expected))
    assert (expected >= DecisionRule("max-fraction").apply(scores.probabilities)).all()


# --- resume -------------------------------------------------------------------------------------------------------


def copy_model(shared: TrainedModel, tmp_path: Path) -> Path:
    model = tmp_path / "model"
    shutil.copytree(shared.model, model)
    return model


@pytest.mark.parametrize("problem", ["no checkpoint", "truncated checkpoint", "other recipe"])
def test_resume_refuses_with_a_clear_error(
    problem: str, shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = copy_model(shared, tmp_path)
    checkpoint = model / checkpoints.CHECKPOINT_FILE
    cache = tmp_path / "cache"
    arguments = train_arguments(shared.data, model, cache)
    if problem == "no checkpoint":
        checkpoint.unlink()
    elif problem == "truncated checkpoint":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    else:
        arguments[arguments.index("--batch-size") + 1] = "8"
    before = (model / "model.pt").read_bytes()
    assert train_model.main([*arguments, "--resume"]) == 1
    message = capsys.readouterr().err
    assert message.startswith("train_model.py: ") and "resume" in message
    assert {"no checkpoint": "does not exist", "truncated checkpoint": "checkpoint", "other recipe": "batch_size"}[
        problem
    ] in message
    assert (model / "model.pt").read_bytes() == before
    assert not cache.exists()  # refused before the signal cache is built (minutes on the full set)


def test_resuming_a_finished_run_restores_its_history_and_removes_temporaries(
    shared: TrainedModel, tmp_path: Path
) -> None:
    # As left by a kill after the last checkpoint but before metrics.csv was written, and one inside a write.
    model = copy_model(shared, tmp_path)
    (model / checkpoints.HISTORY_FILE).unlink()
    (model / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    (model / ".model.pt.k1ll3d.tmp").write_bytes(b"half a model")
    before = (model / "model.pt").read_bytes()
    assert train_model.main([*train_arguments(shared.data, model, shared.cache), "--resume"]) == 0
    assert_same_history(read_rows(model / checkpoints.HISTORY_FILE), read_rows(shared.model / checkpoints.HISTORY_FILE))
    assert temporaries(model) == []
    assert (model / "model.pt").read_bytes() == before


def test_a_checkpoint_with_the_measurement_model_in_the_networks_state_resumes(
    shared: TrainedModel, tmp_path: Path
) -> None:
    # As ecg12 wrote checkpoints while the measurement model's tensors were the network's own buffers.
    model = copy_model(shared, tmp_path)
    checkpoint = torch.load(model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=False)
    saved = torch.load(model / "model.pt", map_location="cpu", weights_only=True)["state_dicts"][0]
    checkpoint["model"].update({name: saved[name] for name in SAVED_TENSORS})
    torch.save(checkpoint, model / checkpoints.CHECKPOINT_FILE)
    before = (model / "model.pt").read_bytes()
    assert train_model.main([*train_arguments(shared.data, model, shared.cache), "--resume"]) == 0
    assert (model / "model.pt").read_bytes() == before


@pytest.mark.slow
def test_training_killed_mid_epoch_resumes_to_the_uninterrupted_result(shared: TrainedModel, tmp_path: Path) -> None:
    """kill -9 the real train_model.py during epoch 2, then --resume: the same model as the uninterrupted run."""
    model = tmp_path / "model"
    arguments = train_arguments(shared.data, model, tmp_path / "cache")  # a fresh cache: built by the killed run
    log_path = tmp_path / "train.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "train_model.py", *arguments],
            cwd=REPOSITORY,
            env=subprocess_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            # metrics.csv gets its first row right after the first checkpoint: epoch 2 is starting.
            history = model / checkpoints.HISTORY_FILE
            deadline = time.monotonic() + 300
            while not history.exists() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert history.exists(), f"no checkpoint appeared:\n{log_path.read_text()}"
            epoch_seconds = float(read_rows(history)[0]["seconds"])
            time.sleep(0.5 * epoch_seconds)  # into epoch 2
            assert process.poll() is None, "the run ended before it could be killed"
            os.kill(process.pid, signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL

    # The folder holds complete files: a loadable checkpoint of a finished epoch and a loadable model. A kill
    # inside an atomic write leaves that write's temporary file (no process can remove a file when SIGKILLed),
    # never a partial model.pt or checkpoint.pt; the next run removes it.
    leftovers = temporaries(model)
    assert len(leftovers) <= 1
    assert all(written_by(name) in TRAINING_FILES for name in leftovers), leftovers
    checkpoint = torch.load(model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    assert 1 <= checkpoint["epoch"] < EPOCHS
    assert len(checkpoint["history"]) == checkpoint["epoch"]
    load_classifier(model)
    rows = read_rows(model / checkpoints.HISTORY_FILE)
    assert checkpoint["epoch"] - 1 <= len(rows) <= checkpoint["epoch"]

    assert train_model.main([*arguments, "--resume"]) == 0

    assert temporaries(model) == []
    assert_same_history(read_rows(model / checkpoints.HISTORY_FILE), read_rows(shared.model / checkpoints.HISTORY_FILE))
    resumed = torch.load(model / "model.pt", map_location="cpu", weights_only=True)
    reference = torch.load(shared.model / "model.pt", map_location="cpu", weights_only=True)
    assert resumed["training"]["best_epoch"] == reference["training"]["best_epoch"]
    assert resumed["decision_rule"] == reference["decision_rule"]
    assert_same_state(resumed["state_dicts"][0], reference["state_dicts"][0])
    final = torch.load(model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    expected = torch.load(shared.model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    assert final["epoch"] == EPOCHS
    assert_same_state(final["model"], expected["model"])


# --- misuse: a forgotten flag, other data, a file for a folder, a full disk, Ctrl-C ---------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    message = capsys.readouterr().err
    assert message.startswith("train_model.py: ") and message.count("\n") == 1, message
    return message


def test_a_second_run_into_a_model_folder_is_refused_without_resume_or_overwrite(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = copy_model(shared, tmp_path)
    before = (model / "model.pt").read_bytes()
    arguments = train_arguments(shared.data, model, shared.cache, epochs=1)
    assert train_model.main(arguments) == 1
    message = one_line_error(capsys)
    assert "already holds a model" in message and "--resume" in message and "--overwrite" in message
    assert (model / "model.pt").read_bytes() == before

    with one_torch_thread():
        assert train_model.main([*arguments, "--overwrite"]) == 0
    rows = read_rows(model / checkpoints.HISTORY_FILE)
    assert [row["epoch"] for row in rows] == ["1"]  # a new run of one epoch, not the old run's history
    assert sorted(p.name for p in model.iterdir()) == sorted(TRAINING_FILES)  # the old model gone, not kept aside
    checkpoint = torch.load(model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    assert checkpoint["epoch"] == 1 and checkpoint["train_config"]["epochs"] == 1


def test_resume_refuses_other_data(shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = copy_model(shared, tmp_path)
    data = tmp_path / "data"
    shutil.copytree(shared.data, data)
    for path in sorted(data.glob("*"))[:2]:  # one recording less (its .hea and .mat)
        path.unlink()
    before = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in model.iterdir()}
    assert train_model.main([*train_arguments(data, model, tmp_path / "cache"), "--resume"]) == 1
    message = one_line_error(capsys)
    assert "not the interrupted run's" in message and "recordings" in message
    # Nothing written: split.csv and skipped_records.csv still describe the model's run.
    assert {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in model.iterdir()} == before


@pytest.mark.parametrize("options", [["--resume", "--members", "2"], ["--members", "2", "--member", "1"]])
def test_fold_models_are_refused_into_the_folder_of_a_single_network(
    options: list[str], shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = copy_model(shared, tmp_path)
    before = sorted(model.rglob("*"))
    cache = tmp_path / "cache"
    assert train_model.main([*train_arguments(shared.data, model, cache), *options]) == 1
    message = one_line_error(capsys)
    assert str(model) in message and "single network" in message and "checkpoint.pt, model.pt" in message
    assert sorted(model.rglob("*")) == before and not cache.exists()


def test_resuming_an_ensemble_with_fewer_members_or_as_one_network_is_refused(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = learnable_data(tmp_path_factory)
    model = tmp_path / "model"
    arguments = [*train_arguments(data, model, tmp_path / "cache", epochs=1), "--members", "3", "--member", "3"]
    with one_torch_thread():
        assert train_model.main(arguments) == 0
    capsys.readouterr()
    assert train_model.main([*arguments[:-4], "--members", "2", "--resume"]) == 1
    assert "it holds fold models up to member3; resume it with the --members it was trained with" in one_line_error(
        capsys
    )
    assert train_model.main([*arguments[:-4], "--resume"]) == 1
    assert "holds a fold ensemble: resume it with the --members it was trained with" in one_line_error(capsys)
    assert train_model.main([*arguments[:-4], "--members", "3", "--resume", "--lr", "0.01"]) == 1
    assert "the run used different learning_rate" in one_line_error(capsys)


# --- one run per model folder ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("held", ["the folder", "a member"])
def test_a_second_run_into_a_model_folder_in_use_is_refused_in_one_line(
    held: str, shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model"
    arguments = train_arguments(shared.data, model, tmp_path / "cache", epochs=1)
    if held == "a member":  # a run of member 2 alone holds its lock: the whole ensemble's run may not train it
        arguments += ["--members", "2"]
    lock = checkpoints.TRAINING_LOCK if held == "the folder" else checkpoints.member_lock(2)
    with files.one_run(model, [lock], "the first run"):  # as a first run holds it while it trains
        assert train_model.main(arguments) == 1
        message = one_line_error(capsys)
        assert f"model folder {model} is in use by another run (it holds {model / lock})" in message
        assert sorted(p.name for p in model.iterdir()) == [lock]  # nothing written by the second run
    assert not model.exists()  # the first run, too, leaves no empty folder behind
    with one_torch_thread():
        assert train_model.main(arguments) == 0  # released: a run goes ahead, and leaves no lock file
    assert not list(model.glob(".*.lock"))


def test_a_real_training_run_holds_its_model_folder(shared: TrainedModel, tmp_path: Path) -> None:
    model = tmp_path / "model"
    arguments = [*train_arguments(shared.data, model, shared.cache, epochs=1000), "--patience", "1000"]
    first = subprocess.Popen(
        [sys.executable, "train_model.py", *arguments],
        cwd=REPOSITORY,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not (model / checkpoints.CHECKPOINT_FILE).exists() and time.monotonic() < deadline:
            assert first.poll() is None
            time.sleep(0.02)
        second = subprocess.run(
            [sys.executable, "train_model.py", *arguments, "--resume"],
            cwd=REPOSITORY,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1].startswith(f"train_model.py: model folder {model} is in use")


def test_a_model_folder_that_cannot_be_written_is_one_line_before_the_cache(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    create = os.open

    def read_only(path: str | os.PathLike[str], flags: int, *args: object) -> int:
        if Path(path).parent == model and flags & os.O_CREAT:  # as in a folder without write permission
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return create(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    cache = tmp_path / "cache"
    assert train_model.main(train_arguments(shared.data, model, cache)) == 1
    message = one_line_error(capsys)
    assert f"cannot write in model folder {model}: Permission denied" in message and ".tmp" not in message
    assert not cache.exists()


@pytest.mark.parametrize("problem", ["resume into a missing folder", "missing data", "model is a file", "model.pt"])
def test_unusable_folders_fail_in_one_line_before_anything_is_created(
    problem: str, shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, model, extra = shared.data, tmp_path / "model", []
    if problem == "resume into a missing folder":
        extra = ["--resume"]
    elif problem == "missing data":
        data = tmp_path / "no-data"
    elif problem == "model is a file":
        model.write_text("not a folder")
    else:
        model = copy_model(shared, tmp_path) / "model.pt"
    cache = tmp_path / "cache"
    assert train_model.main([*train_arguments(data, model, cache), *extra]) == 1
    message = one_line_error(capsys)
    expected = {
        "resume into a missing folder": "does not exist",
        "missing data": "no-data",
        "model is a file": "is a file, not a model folder",
        "model.pt": f"give the folder that holds it, {model.parent}",
    }[problem]
    assert expected in message
    if problem != "model.pt":
        assert not cache.exists()
        assert model.is_file() if problem == "model is a file" else not model.exists()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--patience", "0", "patience"),
        ("--val-fraction", "1", "validation fraction"),
        ("--lr", "0", "learning rate"),
        ("--decision-rule", "patch-fraction", "add --no-measurement-model"),
        ("--class-count-floor", "1", "--class-count-floor"),
        ("--warmup-epochs", "inf", "--warmup-epochs must be a finite number, not inf"),
        ("--warmup-epochs", "nan", "--warmup-epochs must be a finite number, not nan"),
        ("--noise", "nan", "--noise must be a finite number, not nan"),
        ("--seed", "-1", "--seed must be a whole number from 0 to"),
        ("--seed", str(10**20), "--seed must be a whole number from 0 to"),
    ],
)
def test_impossible_options_are_one_line(
    option: str, value: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], shared: TrainedModel
) -> None:
    arguments = train_arguments(shared.data, tmp_path / "model", tmp_path / "cache")
    assert train_model.main([*arguments, option, value]) == 1
    assert expected in one_line_error(capsys)
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("failure", ["diverges", "interrupted"])
def test_an_overwrite_that_fails_before_its_first_model_leaves_the_old_one(
    failure: str,
    shared: TrainedModel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = copy_model(shared, tmp_path)
    before = {path.name: path.read_bytes() for path in model.iterdir()}
    arguments = [*train_arguments(shared.data, model, shared.cache, epochs=1), "--overwrite"]
    if failure == "diverges":
        arguments += ["--lr", "1e6"]
    else:

        def interrupted(*args: object) -> float:
            raise KeyboardInterrupt

        monkeypatch.setattr(training, "train_epoch", interrupted)
    with one_torch_thread(), caplog.at_level(logging.WARNING, logger="ecg12.checkpoints"):
        code = train_model.main(arguments)
    message = one_line_error(capsys)
    if failure == "diverges":
        assert code == 1 and "training diverged in epoch 1" in message
    else:
        assert code == 130 and "nothing to resume" in message
    assert {path.name: path.read_bytes() for path in model.iterdir()} == before  # the old model, as it was
    assert f"{model} holds its previous model again" in caplog.text


def test_a_diverging_run_says_so(shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = train_arguments(shared.data, tmp_path / "model", shared.cache, epochs=1)
    with one_torch_thread():
        assert train_model.main([*arguments, "--lr", "1e6"]) == 1
    message = one_line_error(capsys)
    assert "training diverged in epoch 1" in message and "lower learning rate" in message


def test_a_full_disk_in_the_model_folder_is_one_line_and_leaves_no_partial_file(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"

    def full_disk(path: Path, write: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(checkpoints, "atomic_write", full_disk)  # the checkpoint
    monkeypatch.setattr(inference, "atomic_write", full_disk)  # model.pt
    with one_torch_thread():
        assert train_model.main(train_arguments(shared.data, model, shared.cache, epochs=1)) == 1
    message = one_line_error(capsys)
    assert "No space left on device" in message and str(model) in message
    assert not (model / "model.pt").exists() and temporaries(model) == []


@pytest.mark.parametrize("target", [checkpoints.CHECKPOINT_FILE, "model.pt"])
def test_a_disk_that_fills_inside_torch_save_is_one_line(
    target: str,
    shared: TrainedModel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torch.save meets ENOSPC inside its zip writer and raises a RuntimeError about it: still the one line."""
    model = tmp_path / "model"

    class FillingDisk(io.FileIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            if self.tell() + len(data) > 4096:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(data)

    def opened(path: str | os.PathLike[str], mode: str = "r", *args: object, **kwargs: object) -> object:
        if mode == "wb" and Path(path).name.startswith(f".{files.temporary_key(target)}."):
            return FillingDisk(path, "wb")
        return open(path, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(files, "open", opened, raising=False)
    with one_torch_thread():
        assert train_model.main(train_arguments(shared.data, model, shared.cache, epochs=1)) == 1
    message = one_line_error(capsys)
    assert message == f"train_model.py: {model / target}: No space left on device\n"
    assert temporaries(model) == [] and not (model / target).exists()


@pytest.mark.slow
def test_ctrl_c_stops_training_with_the_command_that_resumes_it(shared: TrainedModel, tmp_path: Path) -> None:
    model = tmp_path / "model"
    # Far too long to end by itself before the signal, even on a loaded machine: no early stop either.
    arguments = [*train_arguments(shared.data, model, shared.cache, epochs=1000), "--patience", "1000"]
    script = os.path.relpath(REPOSITORY / "train_model.py", tmp_path)  # started from another folder
    process = subprocess.Popen(
        [sys.executable, script, *arguments],
        cwd=tmp_path,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Where the test runner was started in the background (CI), a shell has set SIGINT to be ignored, and
        # children inherit that: give Ctrl-C its usual meaning, as in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 300
        while not (model / checkpoints.CHECKPOINT_FILE).exists() and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("train_model.py: interrupted; the last complete epoch is saved")
    assert "Traceback" not in stderr
    command = shlex.split(last.split("continue with: ", 1)[1])
    assert command[1:] == [script, *arguments, "--resume"]  # the script as started: the command runs as printed


def test_split_csv_quotes_names_with_commas(tmp_path: Path) -> None:
    class Names:
        names = ("plain", "with, comma", 'with "quotes"')

    checkpoints.write_split(tmp_path, Names(), np.array([0, 1]), np.array([2]))  # type: ignore[arg-type]
    rows = read_rows(tmp_path / checkpoints.SPLIT_FILE)
    assert [(row["recording"], row["subset"]) for row in rows] == [
        ("plain", "training"),
        ('with "quotes"', "validation"),
        ("with, comma", "training"),
    ]


def test_a_file_name_that_is_not_utf8_is_trained_on_and_listed(tmp_path: Path, shared: TrainedModel) -> None:
    data = tmp_path / "data"
    shutil.copytree(shared.data, data)
    original = sorted(data.glob("*.hea"))[0].stem
    odd = os.fsdecode(b"rec\xff")  # the surrogate escape Python gives a name that is not UTF-8
    for suffix in (".hea", ".mat"):
        (data / f"{original}{suffix}").rename(data / f"{odd}{suffix}")
    model = tmp_path / "model"
    with one_torch_thread():
        assert train_model.main(train_arguments(data, model, tmp_path / "cache", epochs=1)) == 0
    listed = {row["recording"] for row in read_rows(model / checkpoints.SPLIT_FILE)}
    assert "rec\\xff" in listed and original not in listed and len(listed) == len(list(data.glob("*.hea")))
