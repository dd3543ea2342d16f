"""The driver's fast path gives the outputs of the plain path, within OUTPUT_TOLERANCE (issue 18).

The fast path: the network with its batch norms folded and channels-last weights (inference.inference_network),
the median beat by partitioning (features.median_beat), recordings read and prepared while the network classifies the
previous chunk, in a thread of its own. The plain path is what the driver computed before: the model as saved, run
eagerly on each whole recording prepared at once, with NumPy's median. A paper-size fold ensemble with batch norms
that do something, over recordings at 500, 257 and 1000 Hz, short and several windows long.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from networks import with_batch_norm_statistics

import driver
from ecg12.config import MODEL_SIZES
from ecg12.features import record_features
from ecg12.headers import read_header
from ecg12.inference import load_classifier, predict_scores, save_model_folder
from ecg12.model import FoldEnsemble, MultiScaleSENet
from ecg12.outputs import load_outputs
from ecg12.preprocess import prepare_signal
from ecg12.recordings import load_counts, to_millivolts
from ecg12.synthetic import synthesize_ecg, write_record
from ecg12.thresholds import DecisionRule

# Probabilities may differ from the plain path's by float32 rounding (measured: at most 6e-8 over 200 recordings);
# a change of arithmetic beyond rounding (lower precision, other features) moves them by far more.
OUTPUT_TOLERANCE = 1e-6
RECORDINGS = {  # name: (sampling rate, seconds)
    "ten_seconds_a": (500, 10),
    "ten_seconds_b": (500, 10),
    "ten_seconds_c": (500, 10),
    "at_257_hz": (257, 12),
    "at_1000_hz": (1000, 10),
    "sixty_five_seconds": (500, 65),  # seven windows, the last one aligned to the end
    "three_seconds": (500, 3),  # one zero-padded window
}


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    members = [with_batch_norm_statistics(MultiScaleSENet(MODEL_SIZES["paper"]), seed).eval() for seed in range(2)]
    folder = tmp_path_factory.mktemp("ensemble") / "model"
    rule = DecisionRule("per-class", class_thresholds=tuple(np.linspace(0.3, 0.7, 24)))
    save_model_folder(folder, FoldEnsemble(members), rule, 5000, {"note": "test"})
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    for index, (name, (frequency, seconds)) in enumerate(RECORDINGS.items()):
        signal = synthesize_ecg(np.random.default_rng(index), frequency, seconds, 60.0 + 10 * index)
        write_record(folder, name, signal, frequency, age=40.0 + index, sex="Female" if index % 2 else "Male")
    return folder


def plain_outputs(model_folder: Path, data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities (27 each) of one recording the plain way."""
    classifier = load_classifier(model_folder)
    header = read_header(data / f"{name}.hea")
    signal = prepare_signal(to_millivolts(load_counts(data / f"{name}.mat", header), header), header)
    features = record_features(signal, header.age, header.sex)
    recording = predict_scores(classifier.model, [(signal, features)], torch.device("cpu"))
    _, labels, scores = classifier.challenge_outputs(recording)
    return labels[0], scores[0]


@pytest.mark.slow
def test_the_driver_gives_the_plain_paths_outputs_within_the_tolerance(
    model_folder: Path, data: Path, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs"
    assert (
        driver.main(
            [
                str(model_folder),
                str(data),
                str(outputs),
                "--device",
                "cpu",
                "--chunk-size",
                "3",
                "--precision",
                "float32",
            ]
        )
        == 0
    )
    thresholds = np.asarray(load_classifier(model_folder).classes.expand(np.linspace(0.3, 0.7, 24)[None])[0])
    for name in RECORDINGS:
        expected_labels, expected = plain_outputs(model_folder, data, name)
        _, labels, probabilities = load_outputs(outputs / f"{name}.csv")
        np.testing.assert_allclose(probabilities, expected, rtol=0, atol=OUTPUT_TOLERANCE, err_msg=name)
        decided = np.abs(expected - thresholds) > OUTPUT_TOLERANCE  # a label at its threshold may go either way
        np.testing.assert_array_equal(np.asarray(labels)[decided], expected_labels[decided].astype(bool), name)
