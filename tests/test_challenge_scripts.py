"""The organisers' unmodified 2020 scripts against this entry: run_12ECG_classifier.py and train_12ECG_classifier.py.

In the 2020 harness the organisers' driver.py and train_model.py replace ours and import these two root modules.
:func:`organisers_2020_driver` does what their driver does, step by step (written here, not copied), and its
outputs are compared with our driver.py's on the same model and recordings; the training test goes through
``train_12ECG_classifier(data, model)`` with default arguments, as their train_model.py calls it, with only the
default recipe swapped for a tiny quick one.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from trained_model import EPOCH_WINDOWS, REPOSITORY, TrainedModel, learnable_data

import driver
import team_code
from ecg12 import runs
from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.evaluation import evaluate_folders
from ecg12.outputs import load_outputs
from run_12ECG_classifier import load_12ECG_model, run_12ECG_classifier
from train_12ECG_classifier import train_12ECG_classifier

DEMO_TEST_RECORDINGS = REPOSITORY / "data" / "sample" / "test"


def organisers_2020_driver(model_directory: str, input_directory: str, output_directory: str) -> list[str]:
    """Classify a folder as the organisers' 2020 driver.py does; returns the recording files it went through.

    Their steps: the files of ``input_directory`` whose lower-cased name ends in ``mat`` and does not start with
    a dot, in ``os.listdir`` order; the output folder made if absent; ``load_12ECG_model(model_directory)``
    once; for each file, ``val`` of ``scipy.io.loadmat`` as a float64 array and the ``.hea`` beside it read
    with ``readlines()``; ``run_12ECG_classifier(data, header_data, model)`` with nothing else; the labels as
    an int array, the scores as a float64 array; ``NAME.csv`` holding ``#NAME``, then the classes, labels and
    scores, each joined with commas from ``str()`` of every value, one per line.
    """
    mat_files = [
        name
        for name in os.listdir(input_directory)
        if os.path.isfile(os.path.join(input_directory, name))
        and not name.lower().startswith(".")
        and name.lower().endswith("mat")
    ]
    if not os.path.isdir(output_directory):
        os.mkdir(output_directory)
    model = load_12ECG_model(model_directory)
    for mat_file in mat_files:
        mat_path = os.path.join(input_directory, mat_file)
        data = np.asarray(scipy.io.loadmat(mat_path)["val"], dtype=np.float64)
        with open(mat_path.replace(".mat", ".hea")) as header_file:
            header_data = header_file.readlines()
        current_label, current_score, classes = run_12ECG_classifier(data, header_data, model)
        labels = np.asarray(current_label, dtype=int)
        scores = np.asarray(current_score, dtype=np.float64)
        lines = [
            f"#{os.path.splitext(mat_file)[0]}",
            ",".join(classes),
            ",".join(str(label) for label in labels),
            ",".join(str(value) for value in scores),
        ]
        with open(os.path.join(output_directory, mat_file.replace(".mat", ".csv")), "w") as output_file:
            output_file.write("\n".join(lines) + "\n")
    return mat_files


def test_the_2020_modules_re_export_team_code_functions() -> None:
    """No second copy of the entry points: both harnesses must run the same code."""
    classifier_module = importlib.import_module("run_12ECG_classifier")
    assert classifier_module.load_12ECG_model is team_code.load_12ECG_model
    assert classifier_module.run_12ECG_classifier is team_code.run_12ECG_classifier


@pytest.mark.parametrize("folder", ["demo test recordings", "real sample recordings"])
@pytest.mark.slow
def test_organisers_2020_driver_gets_our_driver_outputs(
    folder: str, shared: TrainedModel, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = DEMO_TEST_RECORDINGS if folder == "demo test recordings" else request.getfixturevalue("sample_dir")
    theirs, ours = tmp_path / "organisers_outputs", tmp_path / "driver_outputs"

    mat_files = organisers_2020_driver(str(shared.model), str(data), str(theirs))
    assert driver.main([str(shared.model), str(data), str(ours), "--device", "cpu"]) == 0

    names = sorted(Path(mat_file).stem for mat_file in mat_files)
    assert len(names) >= 10
    assert sorted(path.stem for path in theirs.glob("*.csv")) == names
    assert sorted(path.stem for path in ours.glob("*.csv") if path.name != "errors.csv") == names
    output_codes = list(scored_classes().output_codes)
    positives = 0
    for name in names:
        their_codes, their_labels, their_probabilities = load_outputs(theirs / f"{name}.csv")
        our_codes, our_labels, our_probabilities = load_outputs(ours / f"{name}.csv")
        assert their_codes == our_codes == output_codes, name
        assert their_labels == our_labels, name
        # Our driver batches windows of several recordings through the network: equal up to rounding.
        np.testing.assert_allclose(their_probabilities, our_probabilities, rtol=1e-6, atol=1e-9, err_msg=name)
        assert 0 < max(their_probabilities) < 1, f"{name}: not a classified recording (all-negative answer?)"
        positives += sum(their_labels)
    assert positives > 0, "no positive label at all: the comparison would not see labels that differ"

    _, their_scores = evaluate_folders(data, theirs)
    _, our_scores = evaluate_folders(data, ours)
    theirs_summary, ours_summary = their_scores.summary(), our_scores.summary()
    # AUROC and AUPRC rank recordings: two nearly tied probabilities (an undertrained model gives many) that swap
    # within the rounding allowed above move them by up to 1/(positives x negatives) of a class.
    for name in ("AUROC", "AUPRC"):
        assert theirs_summary.pop(name) == pytest.approx(ours_summary.pop(name), abs=1e-3), name
    assert theirs_summary == pytest.approx(ours_summary, rel=1e-6, abs=1e-9)  # from the labels, which are equal


@pytest.mark.slow
def test_organisers_2020_training_call_writes_a_model_folder_their_driver_uses(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dataclasses.dataclass(frozen=True)
    class QuickTrainConfig(TrainConfig):
        """The default recipe made tiny and quick (as tests/trained_model.py trains), so that training takes seconds."""

        model_size: str = "tiny"
        epochs: int = 2
        batch_size: int = 4
        min_epoch_windows: int = EPOCH_WINDOWS
        device: str = "cpu"
        workers: int = 0
        cache_dir: str = str(tmp_path / "cache")

    # Wherever the default recipe is built from: were the patch to miss, the paper network would train for hours.
    monkeypatch.setattr(runs, "TrainConfig", QuickTrainConfig)
    monkeypatch.setattr(team_code, "TrainConfig", QuickTrainConfig, raising=False)
    data = learnable_data(tmp_path_factory)  # the shared model's small learnable synthetic records
    model = tmp_path / "model"
    os.mkdir(model)  # the organisers' train_model.py makes the folder before calling

    train_12ECG_classifier(str(data), str(model))

    recipe = json.loads((model / "config.json").read_text())["training"]["train_config"]
    assert recipe == dataclasses.asdict(QuickTrainConfig()), "the model was not trained with the default recipe"
    outputs = tmp_path / "outputs"
    mat_files = organisers_2020_driver(str(model), str(DEMO_TEST_RECORDINGS), str(outputs))
    assert len(mat_files) == 10
    for mat_file in mat_files:
        codes, _, probabilities = load_outputs(outputs / mat_file.replace(".mat", ".csv"))
        assert codes == list(scored_classes().output_codes)
        assert 0 < max(probabilities) < 1, f"{mat_file}: not classified by the new model"
