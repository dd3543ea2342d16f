"""Inference: the maximum over windows, independence from batching, and model folders that cannot be used."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg12.classes import scored_classes
from ecg12.config import MODEL_SIZES, ModelConfig
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.inference import (
    MODEL_FILE,
    MODEL_FORMAT,
    CompiledNetwork,
    ModelFolderError,
    load_classifier,
    predict_probabilities,
    predict_scores,
    save_model_folder,
)
from ecg12.measurement_model import SAVED_TENSORS, MeasuredNetwork, MeasurementModel
from ecg12.model import FoldEnsemble, MultiScaleSENet
from ecg12.preprocess import WINDOW_SAMPLES, window_starts
from ecg12.scoring import RecordingScores, iterate_windows
from ecg12.thresholds import DecisionRule

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def network() -> MultiScaleSENet:
    """A tiny untrained network in eval mode, with non-trivial batch-norm statistics."""
    torch.manual_seed(0)
    net = MultiScaleSENet(MODEL_SIZES["tiny"])
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
    return net.eval()


def recording(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (12, samples) float32 'signal' whose amplitude changes every 2,000 samples, and record features."""
    rng = np.random.default_rng(seed)
    scale = np.repeat(rng.uniform(0.2, 3.0, samples // 2000 + 1), 2000)[:samples]
    signal = (rng.standard_normal((12, samples)) * scale).astype(np.float32)
    return signal, rng.uniform(0.0, 1.0, NUM_RECORD_FEATURES).astype(np.float32)


def by_hand(net: MultiScaleSENet, signal: np.ndarray, features: np.ndarray, stride: int) -> np.ndarray:
    """Sigmoid of every window, one window at a time, and the per-class maximum (windows sliced here, not by ecg12)."""
    outputs = []
    for start in window_starts(signal.shape[1], WINDOW_SAMPLES, stride):
        window = np.zeros((12, WINDOW_SAMPLES), dtype=np.float32)
        piece = signal[:, start : start + WINDOW_SAMPLES]
        window[:, : piece.shape[1]] = piece
        with torch.inference_mode():
            logits = net(torch.from_numpy(window[None]), torch.from_numpy(features[None]))
        outputs.append(torch.sigmoid(logits)[0].numpy())
    return np.stack(outputs)


@pytest.mark.parametrize(("samples", "stride"), [(16500, WINDOW_SAMPLES), (12000, 2500), (300, WINDOW_SAMPLES)])
def test_probability_is_the_maximum_over_windows(network: MultiScaleSENet, samples: int, stride: int) -> None:
    signal, features = recording(samples, seed=samples)
    per_window = by_hand(network, signal, features, stride)
    result = predict_scores(network, [(signal, features)], CPU, stride=stride, batch_size=2)  # windows span batches
    np.testing.assert_allclose(result.probabilities[0], per_window.max(axis=0), rtol=1e-5, atol=1e-7)
    # the paper's patch-wise rule: each class's largest fraction of its own window's top probability
    fractions = (per_window / per_window.max(axis=1, keepdims=True)).max(axis=0)
    np.testing.assert_allclose(result.patch_fractions[0], fractions, rtol=1e-5, atol=1e-7)
    assert (result.patch_fractions[0] <= 1.0 + 1e-12).all() and np.isclose(result.patch_fractions[0].max(), 1.0)
    if samples == 16500:  # windows at 0, 5000, 10000 and one aligned to the end; the maxima come from several
        assert list(window_starts(samples)) == [0, 5000, 10000, 11500]
        assert len(set(per_window.argmax(axis=0))) > 1


def test_probabilities_do_not_depend_on_batch_size_or_batch_neighbours(network: MultiScaleSENet) -> None:
    records = [recording(samples, seed) for seed, samples in enumerate([300, 5000, 12000, 16500, 7000, 2500])]
    total_windows = sum(len(window_starts(signal.shape[1])) for signal, _ in records)
    alone = RecordingScores.concatenate([predict_scores(network, [record], CPU) for record in records])

    seen: list[int] = []
    hook = network.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].shape[0]))
    try:
        for batch_size in (1, 3, 64):
            seen.clear()
            together = predict_scores(network, iter(records), CPU, batch_size=batch_size)
            for name in ("probabilities", "patch_fractions"):
                np.testing.assert_allclose(
                    getattr(together, name), getattr(alone, name), rtol=1e-5, atol=1e-7, err_msg=f"{name}, {batch_size}"
                )
            assert max(seen) <= batch_size and sum(seen) == total_windows
    finally:
        hook.remove()
    reversed_order = predict_probabilities(network, records[::-1], CPU, batch_size=5)
    np.testing.assert_allclose(reversed_order[::-1], alone.probabilities, rtol=1e-5, atol=1e-7)
    assert predict_probabilities(network, [], CPU).shape == (0, network.config.num_classes)


@pytest.mark.parametrize("samples", [1, 4999, 5000, 5001, 48_000])
def test_iterate_windows_yields_every_window_at_most_batch_at_a_time(samples: int) -> None:
    signal = np.arange(12 * samples, dtype=np.float32).reshape(12, samples)
    starts = window_starts(samples, WINDOW_SAMPLES, 2000)
    blocks = list(iterate_windows(signal, 2000, batch=4))
    assert all(1 <= len(block) <= 4 for block in blocks)
    windows = np.concatenate(blocks)
    assert windows.shape == (len(starts), 12, WINDOW_SAMPLES) and windows.dtype == np.float32
    for window, start in zip(windows, starts, strict=True):
        width = min(WINDOW_SAMPLES, samples - start)
        np.testing.assert_array_equal(window[:, :width], signal[:, start : start + width])
        assert not window[:, width:].any()


# --- model folders --------------------------------------------------------------------------------------------------


@pytest.fixture
def model_folder(network: MultiScaleSENet, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    rule = DecisionRule("per-class", class_thresholds=tuple(np.linspace(0.1, 0.9, 24)))
    save_model_folder(folder, network, rule, 2500, {"note": "test"})
    return folder


def test_model_folder_round_trip(network: MultiScaleSENet, model_folder: Path) -> None:
    assert sorted(p.name for p in model_folder.iterdir()) == ["config.json", MODEL_FILE, "thresholds.json"]
    classifier = load_classifier(model_folder)
    assert classifier.window_stride == 2500
    assert classifier.decision_rule.class_thresholds == tuple(np.linspace(0.1, 0.9, 24))
    for name, tensor in network.state_dict().items():
        torch.testing.assert_close(classifier.model.state_dict()[name], tensor, rtol=0, atol=0)
    signal, features = recording(9000, seed=1)
    np.testing.assert_allclose(  # within float32 rounding: the classifier runs inference_network's copy
        classifier.probabilities([(signal, features)]),
        predict_probabilities(network, [(signal, features)], CPU, stride=2500),
        rtol=0,
        atol=1e-6,
    )


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own
@pytest.mark.slow
def test_a_measurement_model_is_saved_loaded_and_averaged_in(tmp_path: Path) -> None:
    torch.manual_seed(3)
    network = MultiScaleSENet(dataclasses.replace(SMALLEST, measurement_model=True))
    rng = np.random.default_rng(3)
    features = rng.uniform(0.0, 1.0, (60, NUM_RECORD_FEATURES)).astype(np.float32)
    network.standardize_record_features(features)
    measurement = MeasurementModel.fit(features, rng.random((60, 24)) < 0.3, network.config.num_record_features)
    measured = MeasuredNetwork(network, measurement, 0.25).eval()
    save_model_folder(tmp_path / "model", measured, DecisionRule(), WINDOW_SAMPLES, {})
    saved = torch.load(tmp_path / "model" / MODEL_FILE, weights_only=True)
    assert saved["format"] == 4 and saved["model_config"]["measurement_model"]
    # Format 4's layout: the measurement model's tensors beside the network's, under their own names.
    assert set(saved["state_dicts"][0]) == set(network.state_dict()) | set(SAVED_TENSORS)
    classifier = load_classifier(tmp_path / "model")
    assert isinstance(classifier.model, MeasuredNetwork) and float(classifier.model.share) == 0.25
    torch.testing.assert_close(classifier.model.measurement.weight, measurement.weight, rtol=0, atol=0)
    records = [recording(samples, seed) for seed, samples in enumerate([5000, 16500])]
    expected = predict_probabilities(measured, records, CPU)
    assert not np.allclose(expected, predict_probabilities(network, records, CPU), atol=1e-3)  # it is averaged in
    np.testing.assert_allclose(classifier.probabilities(records), expected, rtol=0, atol=1e-6)
    assert classifier.compile()  # the compiled network averages it in too
    np.testing.assert_allclose(classifier.probabilities(records), expected, rtol=0, atol=1e-6)


def test_a_measurement_share_outside_0_to_1_is_refused_at_load(tmp_path: Path) -> None:
    network = MultiScaleSENet(dataclasses.replace(SMALLEST, measurement_model=True)).eval()
    measurement = MeasurementModel(network.config.num_classes, network.config.num_record_features)
    measured = MeasuredNetwork(network, measurement, 0.5).eval()
    save_model_folder(tmp_path / "model", measured, DecisionRule(), WINDOW_SAMPLES, {})
    weight("measurement_share", 1.5)(tmp_path / "model")
    with pytest.raises(ModelFolderError, match=r"measurement_share is 1.5, not in \[0, 1\]"):
        load_classifier(tmp_path / "model")


def test_a_tuned_fraction_rule_saved_under_its_former_name_loads_as_what_it_is(
    network: MultiScaleSENet, tmp_path: Path
) -> None:
    """Model folders written before the tuned-fraction rule had a name of its own stored "max-fraction" with it."""
    folder = tmp_path / "model"
    save_model_folder(folder, network, DecisionRule("tuned-fraction", 0.35), WINDOW_SAMPLES, {})
    bundle = torch.load(folder / MODEL_FILE, weights_only=True)
    assert bundle["decision_rule"]["mode"] == "tuned-fraction"
    bundle["decision_rule"]["mode"] = "max-fraction"  # as such a folder holds it
    torch.save(bundle, folder / MODEL_FILE)
    classifier = load_classifier(folder)
    assert classifier.decision_rule == DecisionRule("tuned-fraction", 0.35)
    scores = classifier.scores([recording(9000, seed=3)])
    expected = scores.probabilities >= 0.35 * scores.probabilities.max()
    np.testing.assert_array_equal(scores.labels(classifier.decision_rule), expected)
    bundle["decision_rule"] = DecisionRule("max-fraction").to_dict()  # the paper's 1/5 stays max-fraction
    torch.save(bundle, folder / MODEL_FILE)
    assert load_classifier(folder).decision_rule == DecisionRule("max-fraction")


def test_fold_ensemble_round_trip(network: MultiScaleSENet, tmp_path: Path) -> None:
    torch.manual_seed(1)
    ensemble = FoldEnsemble([network, MultiScaleSENet(MODEL_SIZES["tiny"]).eval()])
    save_model_folder(tmp_path / "model", ensemble, DecisionRule("max-fraction"), WINDOW_SAMPLES, {})
    classifier = load_classifier(tmp_path / "model")
    assert isinstance(classifier.model, FoldEnsemble) and len(classifier.model.members) == 2
    signal, features = recording(12000, seed=2)
    np.testing.assert_allclose(
        classifier.probabilities([(signal, features)]),
        predict_probabilities(ensemble, [(signal, features)], CPU),
        rtol=1e-6,
    )


# A network of one stage and one branch: the compiled-network tests compile it in 4-7 s instead of 20-40 s.
SMALLEST = ModelConfig(stem_channels=4, branch_kernels=(3,), stage_channels=(8,), se_reduction=4, hidden_units=8)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own
@pytest.mark.slow
def test_a_compiled_network_gives_the_eager_networks_probabilities(tmp_path: Path) -> None:
    torch.manual_seed(2)
    network = MultiScaleSENet(SMALLEST).eval()
    save_model_folder(tmp_path / "model", network, DecisionRule(), WINDOW_SAMPLES, {})
    classifier = load_classifier(tmp_path / "model")
    assert classifier.compile() and isinstance(classifier.network, CompiledNetwork)
    # One window (classified as a pair), several in one batch, more than a batch.
    records = [recording(samples, seed) for seed, samples in enumerate([5000, 16500, 300, 48_000])]
    for batch_size in (1, 5, 64):
        classifier.batch_size = batch_size
        np.testing.assert_allclose(
            classifier.probabilities(records),
            predict_probabilities(network, records, CPU),
            rtol=0,
            atol=1e-6,
            err_msg=f"batch size {batch_size}",
        )


def test_a_network_that_cannot_be_compiled_classifies_eagerly(
    model_folder: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_compiler(*args: object, **kwargs: object) -> object:
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", no_compiler)
    classifier = load_classifier(model_folder)
    eager = classifier.network
    with caplog.at_level(logging.WARNING):
        assert not classifier.compile()
    assert classifier.network is eager
    assert "Cannot compile the network (RuntimeError: no C++ compiler found)" in caplog.text
    signal, features = recording(9000, seed=1)
    assert classifier.probabilities([(signal, features)]).shape == (1, 24)


def rewrite(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Damage model.pt by changing its bundle in place (or replacing it by what ``change`` returns)."""

    def damage(folder: Path) -> None:
        bundle = torch.load(folder / MODEL_FILE, weights_only=True)
        replacement = change(bundle)
        torch.save(bundle if replacement is None else replacement, folder / MODEL_FILE)

    return damage


def without(*keys: str) -> Callable[[Path], None]:
    def change(bundle: dict) -> None:
        for key in keys:
            del bundle[key]

    return rewrite(change)


def updated(**values: object) -> Callable[[Path], None]:
    return rewrite(lambda bundle: bundle.update(values))


def truncated(size: Callable[[int], int]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        data = (folder / MODEL_FILE).read_bytes()
        (folder / MODEL_FILE).write_bytes(data[: size(len(data))])

    return damage


def removed(name: str | None = None) -> Callable[[Path], None]:
    """Delete one file of the folder, or the whole folder."""

    def damage(folder: Path) -> None:
        for path in folder.iterdir():
            if name is None or path.name == name:
                path.unlink()
        if name is None:
            folder.rmdir()

    return damage


def drop_tensor(bundle: dict) -> None:
    first = bundle["state_dicts"][0]
    del first[next(iter(first))]


def other_width(bundle: dict) -> None:
    bundle["model_config"]["hidden_units"] = 7


def unknown_rule(bundle: dict) -> None:
    bundle["decision_rule"]["mode"] = "vote"


def rule(**values: object) -> Callable[[Path], None]:
    return rewrite(lambda bundle: bundle["decision_rule"].update(values))


def weight(name: str, value: float) -> Callable[[Path], None]:
    """Set the first element of a tensor of the first member to ``value``."""
    return rewrite(lambda bundle: bundle["state_dicts"][0][name].view(-1).__setitem__(0, value))


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "folder missing": (removed(), "does not exist"),
    "model.pt missing": (removed(MODEL_FILE), "has no model.pt"),
    "model.pt empty": (truncated(lambda n: 0), "not a readable model file (the file is empty)"),
    "model.pt truncated": (truncated(lambda n: n // 2), "not a readable model file (truncated or damaged"),
    "model.pt garbage": (lambda folder: (folder / MODEL_FILE).write_bytes(b"garbage\n" * 64), "not a model written"),
    "not a bundle": (rewrite(lambda bundle: [1, 2, 3]), "not an ecg12 model file"),
    "state_dicts missing": (without("state_dicts"), "missing state_dicts"),
    "no member": (updated(state_dicts=[]), "non-empty list"),
    "two keys missing": (without("decision_rule", "window_stride"), "missing decision_rule, window_stride"),
    "newer format": (updated(format=MODEL_FORMAT + 1), f"format {MODEL_FORMAT + 1} (written by ecg12"),
    "older format": (updated(format=1), "format 1 (written by ecg12"),
    "other classes": (updated(classes=list(scored_classes().codes)[::-1]), "other classes"),
    "classes not a list": (updated(classes=None), "other classes"),
    "tensor missing": (rewrite(drop_tensor), "Missing key"),
    "other architecture": (rewrite(other_width), "size mismatch"),
    "unknown decision rule": (rewrite(unknown_rule), "unknown decision rule 'vote'"),
    "window stride not a number": (updated(window_stride="ten"), "window_stride"),
    "window stride zero": (updated(window_stride=0), "window_stride"),
    "thresholds for 5 classes": (rule(class_thresholds=[0.5] * 5), "5 thresholds for 24 classes"),
    "one threshold": (rule(class_thresholds=[0.5]), "1 thresholds for 24 classes"),
    "threshold NaN": (rule(class_thresholds=[0.5] * 23 + [math.nan]), "numbers in [0, 1], not nan"),
    "threshold above 1": (rule(class_thresholds=[1.5] + [0.5] * 23), "numbers in [0, 1], not 1.5"),
    "threshold a string": (rule(class_thresholds=["0.5"] * 24), "numbers in [0, 1], not '0.5'"),
    "thresholds not a list": (rule(class_thresholds=0.5), "class_thresholds must be a list, not 0.5"),
    "fraction NaN": (rule(mode="max-fraction", fraction=math.nan), "a number in (0, 1], not nan"),
    "fraction zero": (rule(mode="patch-fraction", fraction=0.0), "in (0, 1], not 0.0"),
    "fraction above 1": (rule(mode="max-fraction", fraction=2.0), "in (0, 1], not 2.0"),
    "rule not a dict": (updated(decision_rule="per-class"), "needs mode, fraction and class_thresholds"),
    "outputs for other classes": (rewrite(lambda bundle: bundle["model_config"].update(num_classes=23)), "23 outputs"),
    "weight NaN": (weight("head.0.weight", math.nan), "head.0.weight holds non-finite values"),
    "negative variance": (weight("stem.1.running_var", -1.0), "stem.1.running_var holds negative variances"),
    "feature scale zero": (weight("feature_scale", 0.0), "feature_scale holds values that are not positive"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_unusable_model_folder_gives_one_clear_error(damage: str, model_folder: Path) -> None:
    change, expected = DAMAGES[damage]
    change(model_folder)
    with pytest.raises(ModelFolderError) as raised:
        load_classifier(model_folder)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message  # one line
    assert str(model_folder) in message  # names the folder (or its model.pt)
    assert "weights_only" not in message  # no advice to load a foreign file with code execution enabled


def test_a_newer_format_says_update_and_an_older_one_retrain(model_folder: Path) -> None:
    for format_number, advice in ((MODEL_FORMAT + 1, "update ecg12"), (1, "retrain the model")):
        updated(format=format_number)(model_folder)
        with pytest.raises(ModelFolderError, match=advice):
            load_classifier(model_folder)


def test_a_model_of_the_criteria_first_rule_is_refused_with_retrain(tmp_path: Path) -> None:
    torch.manual_seed(0)
    network = MultiScaleSENet(dataclasses.replace(MODEL_SIZES["tiny"], criteria=True)).eval()
    folder = tmp_path / "model"
    save_model_folder(folder, network, DecisionRule(), WINDOW_SAMPLES, {})
    load_classifier(folder)  # as saved today: loads
    bundle = torch.load(folder / MODEL_FILE, weights_only=True)
    state = bundle["state_dicts"][0]
    state["criteria.share"] = state.pop("criteria.reach")  # as 44b2440 to 5a949b7 saved it
    torch.save(bundle, folder / MODEL_FILE)
    with pytest.raises(ModelFolderError, match=r"criteria's first rule.*retrain"):
        load_classifier(folder)


def test_a_format_2_model_of_the_previous_version_loads_as_the_network_it_was(
    network: MultiScaleSENet, model_folder: Path
) -> None:
    """Format 2 (ecg12 1.0) had no architecture or record path in model_config: it is msse with the path."""

    def as_version_1_0(bundle: dict) -> None:
        for key in ("architecture", "record_path", "measurement_model", "block_kernel", "cardinality", "radix"):
            del bundle["model_config"][key]
        bundle.update(format=2, version="1.0.0")

    rewrite(as_version_1_0)(model_folder)
    classifier = load_classifier(model_folder)
    assert classifier.model.config == network.config and classifier.model.record_path is not None
    signal, features = recording(9000, seed=2)
    np.testing.assert_allclose(
        classifier.probabilities([(signal, features)]),
        predict_probabilities(network, [(signal, features)], CPU, stride=2500),
        rtol=0,
        atol=1e-6,
    )


def test_scored_classes_of_a_saved_model_are_the_weights_file_classes(model_folder: Path) -> None:
    bundle = torch.load(model_folder / MODEL_FILE, weights_only=True)
    assert bundle["classes"] == list(scored_classes().codes) and bundle["format"] == MODEL_FORMAT
