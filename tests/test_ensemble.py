"""Fold ensembles (--members K): every recording validated once, resumed members, members trained apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from model_folders import assert_same_state, read_rows
from trained_model import learnable_data, one_torch_thread, train_arguments

import train_model
from ecg12 import checkpoints
from ecg12.inference import load_classifier
from ecg12.model import FoldEnsemble


@pytest.mark.slow
def test_fold_ensemble_validates_every_record_once_and_resumes_what_is_missing(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    data = learnable_data(tmp_path_factory)
    model = tmp_path / "model"
    arguments = [*train_arguments(data, model, tmp_path / "cache", epochs=2), "--members", "3"]
    with one_torch_thread():
        assert train_model.main(arguments) == 0

    classifier = load_classifier(model)
    assert isinstance(classifier.model, FoldEnsemble) and len(classifier.model.members) == 3
    names = sorted(p.stem for p in data.glob("*.hea"))
    validated: list[str] = []
    for member in range(1, 4):
        rows = read_rows(model / checkpoints.MEMBERS_FOLDER / f"member{member}" / checkpoints.SPLIT_FILE)
        assert sorted(row["recording"] for row in rows) == names  # each member sees every record...
        validated += [row["recording"] for row in rows if row["subset"] == "validation"]
    assert sorted(validated) == names  # ...and validates on a different third of them
    bundle = torch.load(model / "model.pt", map_location="cpu", weights_only=True)
    assert bundle["members"] == 3 and bundle["training"]["train_config"]["members"] == 3

    # A run interrupted after two members: resuming trains the third and writes the same ensemble.
    shutil.rmtree(model / checkpoints.MEMBERS_FOLDER / "member3")
    (model / "model.pt").unlink()
    finished = model / checkpoints.MEMBERS_FOLDER / "member1" / "model.pt"
    finished_written = finished.stat().st_mtime_ns
    with one_torch_thread():
        assert train_model.main([*arguments, "--resume"]) == 0
    assert finished.stat().st_mtime_ns == finished_written  # a finished member is not trained again
    resumed = torch.load(model / "model.pt", map_location="cpu", weights_only=True)
    assert resumed["decision_rule"] == bundle["decision_rule"]
    for state, expected in zip(resumed["state_dicts"], bundle["state_dicts"], strict=True):
        assert_same_state(state, expected)


@pytest.mark.slow
def test_members_trained_apart_assemble_into_the_same_ensemble(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As on a machine with a GPU per member: --member I for each I (at once), then --resume assembles them."""
    data = learnable_data(tmp_path_factory)
    together, apart = tmp_path / "together", tmp_path / "apart"
    arguments = [*train_arguments(data, together, tmp_path / "cache", epochs=1), "--members", "2"]
    with one_torch_thread():
        assert train_model.main(arguments) == 0
        apart_arguments = [*train_arguments(data, apart, tmp_path / "cache", epochs=1), "--members", "2"]
        for member in ("2", "1"):
            assert train_model.main([*apart_arguments, "--member", member]) == 0
        assert not (apart / "model.pt").exists()  # a member alone is not the ensemble
        assert train_model.main([*apart_arguments, "--member", "3"]) == 1
        assert "member 3 does not exist" in capsys.readouterr().err
        assert train_model.main([*apart_arguments, "--resume"]) == 0
    assembled = torch.load(apart / "model.pt", map_location="cpu", weights_only=True)
    reference = torch.load(together / "model.pt", map_location="cpu", weights_only=True)
    assert assembled["decision_rule"] == reference["decision_rule"] and assembled["members"] == 2
    for state, expected in zip(assembled["state_dicts"], reference["state_dicts"], strict=True):
        assert_same_state(state, expected)
