"""The model folder of a training run: checkpoints read without running code, and the model an --overwrite keeps."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from payloads import Payload
from trained_model import EPOCHS, TrainedModel, train_arguments

import train_model
from ecg12 import checkpoints
from ecg12.config import TrainConfig


def copy_model(shared: TrainedModel, tmp_path: Path) -> Path:
    model = tmp_path / "model"
    shutil.copytree(shared.model, model)
    return model


def folder_state(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_where_a_run_goes_may_change_on_resume_and_is_no_departure_from_its_recipe(tmp_path: Path) -> None:
    """One list (config.WHERE_TO_RUN) says both: a resumed run may move, and a recipe says nothing of where it runs."""
    saved = TrainConfig(model_size="tiny")
    moved = replace(saved, device="cpu", workers=0, deterministic=True, cache_dir=str(tmp_path), epochs=80)
    checkpoint, path = {"train_config": asdict(saved)}, tmp_path / "checkpoint.pt"
    checkpoints.check_same_run(checkpoint, path, moved)
    assert moved.departures() == {"model_size": "tiny", "epochs": 80}
    with pytest.raises(ValueError, match="the run used different amp"):
        checkpoints.check_same_run(checkpoint, path, replace(saved, amp=False))


def test_a_checkpoint_is_plain_data_that_loads_without_allowing_any_code(shared: TrainedModel) -> None:
    checkpoint = torch.load(shared.model / checkpoints.CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    history = checkpoint["history"]
    assert history and all(type(value) in (int, float) for row in history for value in row.values())
    assert checkpoint["data"]["recordings"] == len(list(shared.data.glob("*.hea")))


def test_a_code_payload_in_the_checkpoint_is_refused_in_one_line_and_never_runs(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = copy_model(shared, tmp_path)
    checkpoint = model / checkpoints.CHECKPOINT_FILE
    live = tmp_path / "live"
    torch.save({"train_config": Payload(live)}, checkpoint)
    torch.load(checkpoint, weights_only=False)  # the payload is real: loaded as before, it runs
    assert live.exists()

    marker = tmp_path / "marker"
    torch.save({"train_config": Payload(marker), "model": {}}, checkpoint)
    before = folder_state(model)
    assert train_model.main([*train_arguments(shared.data, model, tmp_path / "cache"), "--resume"]) == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and message.startswith("train_model.py: cannot resume: ")
    assert f"{checkpoint} is not a readable checkpoint (not a checkpoint written by ecg12)" in message
    assert not marker.exists()
    assert folder_state(model) == before
    assert not (tmp_path / "cache").exists()  # refused before the signal cache is built


def test_a_checkpoint_with_numpy_floats_in_its_history_still_resumes(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As written before the history was kept in plain floats: NumPy float64 scalars, allowed and nothing else."""
    model = copy_model(shared, tmp_path)
    path = model / checkpoints.CHECKPOINT_FILE
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint["history"] = [{key: np.float64(value) for key, value in row.items()} for row in checkpoint["history"]]
    del checkpoint["data"]  # not recorded then either
    torch.save(checkpoint, path)
    with pytest.raises(Exception, match="numpy"):  # not plain data: torch alone refuses it
        torch.load(path, map_location="cpu", weights_only=True)
    arguments = train_arguments(shared.data, model, shared.cache, epochs=EPOCHS + 1)  # one epoch more
    assert train_model.main([*arguments, "--resume"]) == 0, capsys.readouterr()
    resumed = torch.load(path, map_location="cpu", weights_only=True)  # rewritten as plain data
    assert [row["epoch"] for row in resumed["history"]] == list(range(1, EPOCHS + 2))


def test_an_overwritten_model_is_kept_aside_until_the_new_run_has_one(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.pt", "checkpoint.pt", "metrics.csv", "split.csv", "skipped_records.csv"):
        (model / name).write_text(f"old {name}")
    old = folder_state(model)
    checkpoints.set_previous_run_aside(model)
    assert [p.name for p in model.iterdir()] == [checkpoints.PREVIOUS_FOLDER]
    assert folder_state(model / checkpoints.PREVIOUS_FOLDER) == old

    (model / "split.csv").write_text("new split")  # the new run before its first model: nothing to resume
    checkpoints.settle_previous_run(model)
    assert folder_state(model) == old  # the previous model is back, without the new run's files

    checkpoints.set_previous_run_aside(model)
    (model / "model.pt").write_text("new model")
    (model / "checkpoint.pt").write_text("new checkpoint")
    checkpoints.settle_previous_run(model)  # the new run has its model: the old one goes
    assert folder_state(model) == {"model.pt": b"new model", "checkpoint.pt": b"new checkpoint"}


def test_an_unfinished_ensemble_that_replaces_a_model_keeps_it_aside_until_it_is_assembled(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.pt").write_text("old model")
    checkpoints.set_previous_run_aside(model)
    member = checkpoints.member_folder(model, 1)
    member.mkdir(parents=True)
    (member / "checkpoint.pt").write_text("member 1, epoch 3")
    checkpoints.settle_previous_run(model)  # interrupted: the new ensemble can be resumed, the old model stays aside
    assert (model / checkpoints.PREVIOUS_FOLDER / "model.pt").read_text() == "old model"
    assert (member / "checkpoint.pt").is_file()
    checkpoints.set_previous_run_aside(model)  # overwritten again: the unfinished run goes, the model aside stays
    assert not (model / checkpoints.MEMBERS_FOLDER).exists()
    assert (model / checkpoints.PREVIOUS_FOLDER / "model.pt").read_text() == "old model"


@pytest.mark.parametrize("step", ["setting aside", "putting back"])
def test_a_run_killed_while_it_moves_the_previous_model_leaves_it_whole_for_the_next(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.pt", "checkpoint.pt", "metrics.csv", "split.csv"):
        (model / name).write_text(f"old {name}")
    old = folder_state(model)
    if step == "putting back":
        checkpoints.set_previous_run_aside(model)
    moves = 0
    replace = os.replace

    def killed_after_two(source: object, destination: object) -> None:
        nonlocal moves
        moves += 1
        if moves > 2:
            raise KeyboardInterrupt  # as a kill between two renames
        replace(source, destination)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", killed_after_two)
        with pytest.raises(KeyboardInterrupt):
            if step == "setting aside":
                checkpoints.set_previous_run_aside(model)
            else:
                checkpoints.settle_previous_run(model)
    assert folder_state(model) != old  # half moved
    checkpoints.settle_previous_run(model)  # as the next run begins
    assert folder_state(model) == old
