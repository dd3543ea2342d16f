"""The measurement model: what it learns, its share, the average with the network, and its saved tensors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ecg12.config import MODEL_SIZES, ModelConfig
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.measurement_model import (
    SAVED_TENSORS,
    SHARES,
    MeasuredNetwork,
    MeasurementModel,
    choose_share,
    network_state,
)
from ecg12.model import MultiScaleSENet
from ecg12.network import FEATURE_CLIP

MEASURED = dataclasses.replace(MODEL_SIZES["tiny"], measurement_model=True)


def separable_features(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Record features whose 5th entry (the first measurement) decides class 3 and nothing else."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, NUM_RECORD_FEATURES)).astype(np.float32)
    labels = np.zeros((n, 24), dtype=bool)
    labels[:, 3] = features[:, 4] > 0.5
    return features, labels


def network_of(features: np.ndarray, seed: int = 0, config: ModelConfig = MEASURED) -> MultiScaleSENet:
    """A tiny network with a measurement model in its configuration, standardised on ``features``."""
    torch.manual_seed(seed)
    network = MultiScaleSENet(config)
    network.standardize_record_features(features)
    return network.eval()


def test_the_measurement_model_learns_what_the_measurements_decide() -> None:
    features, labels = separable_features()
    model = MeasurementModel.fit(features, labels, MEASURED.num_record_features)
    weights = model.weight.numpy()
    assert weights[3, 4] > 2.0 and np.abs(np.delete(weights[3], 4)).max() < weights[3, 4] / 5
    measured = model.probabilities(features)
    assert measured.shape == labels.shape and measured.dtype == np.float64
    assert (measured[:, 0] < 0.05).all()  # a class without positives: low everywhere, not 0.5
    assert measured[labels[:, 3], 3].mean() > 0.8 and measured[~labels[:, 3], 3].mean() < 0.2


def test_the_measurement_model_standardises_as_the_network_and_clips() -> None:
    features, labels = separable_features()
    features = features * 3.0 + 2.0
    model = MeasurementModel.fit(features, labels, MEASURED.num_record_features)
    network = network_of(features)
    assert torch.equal(model.feature_shift, network.feature_shift)
    assert torch.equal(model.feature_scale, network.feature_scale)
    at_the_clip = (model.feature_shift + FEATURE_CLIP * model.feature_scale)[None]
    torch.testing.assert_close(model(at_the_clip * 1e6), model(at_the_clip))


def test_the_measurement_model_fit_is_deterministic() -> None:
    features, labels = separable_features()
    fitted = [MeasurementModel.fit(features, labels, MEASURED.num_record_features) for _ in range(2)]
    assert torch.equal(fitted[0].weight, fitted[1].weight) and torch.equal(fitted[0].bias, fitted[1].bias)


def test_the_measurement_model_leaves_out_the_classes_a_recording_was_not_labelled_with() -> None:
    features, labels = separable_features()
    targets = labels.astype(np.float32)
    targets[labels[:, 3], 3] = -1.0  # every positive of class 3 left out: as if its database never labelled it
    model = MeasurementModel.fit(features, targets, MEASURED.num_record_features)
    assert model.probabilities(features)[:, 3].max() < 0.05  # only negatives counted


def test_the_measurement_model_reads_only_its_leading_features() -> None:
    features, labels = separable_features()
    model = MeasurementModel.fit(features, labels, 4)  # age and sex only
    assert model.weight.shape == (24, 4)
    changed = features.copy()
    changed[:, 4:] += 10.0
    np.testing.assert_array_equal(model.probabilities(changed), model.probabilities(features))


def test_the_network_gives_its_own_logits_in_training_and_in_evaluation() -> None:
    features, _ = separable_features()
    measured_config, plain_config = network_of(features), network_of(features)
    plain_config.config = MODEL_SIZES["tiny"]  # the same weights, a configuration without the measurement model
    x, batch = torch.randn(4, 12, 5000), torch.from_numpy(features[:4])
    for train in (True, False):
        outputs = []
        for network in (measured_config, plain_config):
            torch.manual_seed(1)  # the same dropout
            outputs.append(network.train(train)(x, batch))
        torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


@pytest.mark.parametrize("share", [0.0, 0.25, 0.5])
def test_a_measured_network_averages_the_two_models_probabilities(share: float) -> None:
    features, labels = separable_features()
    network = network_of(features)
    measurement = MeasurementModel.fit(features, labels, MEASURED.num_record_features)
    measured = MeasuredNetwork(network, measurement, share).eval()
    x, batch = torch.randn(4, 12, 5000), torch.from_numpy(features[:4])
    with torch.inference_mode():
        own = torch.sigmoid(network(x, batch)).double()
        expected = (1 - share) * own + share * torch.from_numpy(measurement.probabilities(features[:4]))
        torch.testing.assert_close(torch.sigmoid(measured(x, batch)).double(), expected, rtol=0, atol=1e-6)
    assert measured.with_share(0.5).network is network and float(measured.with_share(0.5).share) == 0.5


def test_with_criteria_the_criteria_lead_the_average_not_the_network_alone() -> None:
    features, labels = separable_features()
    features[:, -6:] = np.array([55.0, 230.0, 130.0, -60.0, 0.4, 480.0])  # every criterion met (criteria.py)
    network = network_of(features, config=dataclasses.replace(MEASURED, criteria=True))
    measurement = MeasurementModel.fit(features, labels, MEASURED.num_record_features)
    measured = MeasuredNetwork(network, measurement, 0.5).eval()
    x, batch = torch.randn(4, 12, 5000), torch.from_numpy(features[:4])
    with torch.inference_mode():
        average = torch.sigmoid(measured.with_share(0.5, criteria=False)(x, batch)).double().numpy()
        led = torch.sigmoid(measured(x, batch)).double().numpy()
        own = (0.5 * torch.sigmoid(network.network_logits(x, batch)).double()).numpy()
    np.testing.assert_allclose(average, own + 0.5 * measurement.probabilities(features[:4]), atol=1e-6)
    np.testing.assert_allclose(led, network.criteria.probabilities(average, features[:4]), atol=1e-5)
    changed = np.flatnonzero(np.abs(led - average).max(axis=0) > 1e-6)
    np.testing.assert_array_equal(changed, np.sort(network.criteria.class_index.numpy()))


def test_a_measured_network_needs_the_setting() -> None:
    features, labels = separable_features()
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="no measurement model"):
        MeasuredNetwork(MultiScaleSENet(MODEL_SIZES["tiny"]), MeasurementModel.fit(features, labels, 23), 0.5)


def test_the_share_of_the_lowest_loss_is_chosen_the_smallest_of_a_tie() -> None:
    network, measured = np.full((3, 2), 0.2), np.full((3, 2), 0.6)
    target = 0.3  # the average at 1/4
    share, average, loss = choose_share(network, measured, lambda p: float(np.abs(p - target).sum()))
    assert share == 0.25 and loss == pytest.approx(0.0)
    np.testing.assert_allclose(average, 0.75 * network + 0.25 * measured)
    assert choose_share(network, measured, lambda p: 1.0)[0] == SHARES[0]


def test_the_saved_state_is_the_networks_with_the_measurement_models_beside_it() -> None:
    features, labels = separable_features()
    network = network_of(features)
    measured = MeasuredNetwork(network, MeasurementModel.fit(features, labels, MEASURED.num_record_features), 0.25)
    state = measured.saved_state()
    assert set(state) == set(network.state_dict()) | set(SAVED_TENSORS)
    assert network_state(state).keys() == network.state_dict().keys()
    torch.manual_seed(5)  # other initial weights, all replaced by the saved ones
    loaded = MeasuredNetwork.from_saved_state(MultiScaleSENet(MEASURED), state).eval()
    assert float(loaded.share) == 0.25
    x, batch = torch.randn(2, 12, 5000), torch.from_numpy(features[:2])
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x, batch), measured.eval()(x, batch), rtol=0, atol=0)
    del state["measurement_bias"]
    with pytest.raises(ValueError, match="measurement_bias"):
        MeasuredNetwork.from_saved_state(MultiScaleSENet(MEASURED), state)


def test_a_measurement_model_of_other_recordings_cannot_be_saved_beside_the_network() -> None:
    features, _ = separable_features()
    other, other_labels = separable_features(seed=1)
    measured = MeasuredNetwork(network_of(features), MeasurementModel.fit(other, other_labels, 23), 0.5)
    with pytest.raises(ValueError, match="other recordings"):
        measured.saved_state()
