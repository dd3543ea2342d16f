"""Criteria: the evidence of each textbook criterion, by construction; the layer in the logits; what fired."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from ecg12.classes import scored_classes
from ecg12.config import MODEL_SIZES, TrainConfig
from ecg12.criteria import CRITERIA, EVIDENCE_LIMIT, REACH, CriterionLayer, evidence, fired
from ecg12.feature_names import CRITERION_FEATURE_NAMES, CRITERION_FEATURES_START, NUM_RECORD_FEATURES
from ecg12.measurements import NOT_MEASURED
from ecg12.model import MultiScaleSENet

CODES = scored_classes().codes
BY_NAME = {criterion.name: criterion for criterion in CRITERIA}


def features_with(**measured: float) -> torch.Tensor:
    """One recording's record features: zeros, and the criteria's measurements given (NaN where not given)."""
    row = torch.zeros(1, NUM_RECORD_FEATURES)
    row[0, CRITERION_FEATURES_START:] = math.nan
    for name, value in measured.items():
        row[0, CRITERION_FEATURES_START + CRITERION_FEATURE_NAMES.index(name)] = value
    return row


def test_every_criterion_is_a_scored_class_on_a_measurement_the_layer_is_given() -> None:
    assert {criterion.code for criterion in CRITERIA} <= set(CODES)
    assert {criterion.measurement for criterion in CRITERIA} == set(CRITERION_FEATURE_NAMES)
    assert len(CriterionLayer(CODES).class_index) == len(CRITERIA) == len({c.code for c in CRITERIA})


@pytest.mark.parametrize(
    ("name", "value", "distance"),
    [
        ("SB", 55.0, 2.0),  # 5 bpm below 60, in tolerances of 2.5 bpm
        ("SB", 65.0, -2.0),
        ("STach", 130.0, 12.0),
        ("IAVB", 230.0, 3.0),
        ("CRBBB/RBBB", 120.0, 0.5),  # QRS >= 120 ms: positive at 120
        ("LAD", -45.0, 2.0),
        ("RAD", 60.0, -4.0),
        ("LQRSV", 0.4, 2.0),
        ("LQT", 470.0, 1.0),
    ],
)
def test_evidence_is_the_distance_past_the_threshold_in_tolerances_softly_limited(
    name: str, value: float, distance: float
) -> None:
    expected = distance / (1 + abs(distance) / EVIDENCE_LIMIT)
    assert evidence([BY_NAME[name]], np.array([[value]]))[0, 0] == pytest.approx(expected)


def test_evidence_keeps_the_measurements_order_however_far_and_never_reaches_certainty() -> None:
    rates = np.arange(20.0, 300.0, 0.5)
    layer = CriterionLayer(CODES)
    sb = CODES.index(BY_NAME["SB"].code)
    for found in (
        evidence([BY_NAME["SB"]], rates[:, None])[:, 0],
        layer(torch.zeros(len(rates), len(CODES)), torch.cat([features_with(heart_rate=r) for r in rates]))[:, sb],
    ):
        assert np.all(np.diff(np.asarray(found)) < 0) and np.all(np.abs(np.asarray(found)) < EVIDENCE_LIMIT)


def test_the_criterion_leads_its_class_and_leaves_the_others() -> None:
    layer = CriterionLayer(CODES)
    logits = torch.linspace(-2, 2, len(CODES))[None]
    out = layer(logits, features_with(heart_rate=50.0))
    changed = {CODES[i] for i in torch.nonzero(out[0] != logits[0]).flatten().tolist()}
    assert changed == {BY_NAME["SB"].code, BY_NAME["Brady"].code, BY_NAME["STach"].code}
    sb = CODES.index(BY_NAME["SB"].code)
    strength = 4.0 / (1 + 4.0 / EVIDENCE_LIMIT)  # 10 bpm below 60: 4 tolerances
    assert out[0, sb].item() == pytest.approx(strength + REACH * math.tanh(logits[0, sb].item() / REACH), rel=1e-6)


def test_however_sure_the_network_a_recording_short_of_the_criterion_ranks_below_one_that_meets_it() -> None:
    layer = CriterionLayer(CODES)
    sb = CODES.index(BY_NAME["SB"].code)
    sure, doubtful = torch.full((1, len(CODES)), 50.0), torch.full((1, len(CODES)), -50.0)
    short = layer(sure, features_with(heart_rate=66.0))[0, sb]  # 2.4 tolerances short of < 60 bpm
    meets = layer(doubtful, features_with(heart_rate=54.0))[0, sb]  # 2.4 past it
    assert meets > short
    # Within the measurement's error of each other, the network decides.
    assert layer(sure, features_with(heart_rate=61.0))[0, sb] > layer(doubtful, features_with(heart_rate=59.0))[0, sb]


def test_a_measurement_that_could_not_be_made_leaves_the_logits_as_they_are() -> None:
    logits = torch.randn(1, len(CODES))
    assert torch.equal(CriterionLayer(CODES)(logits, features_with()), logits)


def test_a_class_never_loses_probability_as_its_measurement_moves_past_its_threshold() -> None:
    layer = CriterionLayer(CODES)
    logits = torch.randn(1, len(CODES))
    stach = CODES.index(BY_NAME["STach"].code)
    rates = np.arange(40.0, 180.0, 1.0)
    outputs = [layer(logits, features_with(heart_rate=rate))[0, stach].item() for rate in rates]
    assert np.all(np.diff(outputs) >= 0) and outputs[-1] > outputs[0]


def test_the_default_recipe_has_the_layer_and_the_papers_does_not() -> None:
    assert TrainConfig().model_config().criteria
    assert not TrainConfig.for_recipe("paper").model_config().criteria
    network = MultiScaleSENet(dataclasses.replace(MODEL_SIZES["tiny"], criteria=True)).eval()
    assert "criteria.threshold" in network.state_dict()  # the model keeps the criteria it was trained with
    plain = MultiScaleSENet(MODEL_SIZES["tiny"]).eval()
    assert plain.criteria is None and not any(name.startswith("criteria") for name in plain.state_dict())
    signals = torch.randn(1, 12, 5000)
    with torch.inference_mode():
        slow, fast = network(signals, features_with(heart_rate=40.0)), network(signals, features_with(heart_rate=150.0))
    sb, stach = CODES.index(BY_NAME["SB"].code), CODES.index(BY_NAME["STach"].code)
    assert slow[0, sb] > fast[0, sb] and fast[0, stach] > slow[0, stach]


def test_fired_names_the_criteria_a_recording_meets_with_its_value() -> None:
    measured = dataclasses.replace(NOT_MEASURED, heart_rate=52.4, pr=240.0, qrs=90.0, qrs_axis=float("nan"))
    met = {criterion.name: text for criterion, text in fired(measured)}
    assert met == {"SB": "heart rate < 60 bpm (52)", "Brady": "heart rate < 60 bpm (52)", "IAVB": "PR > 200 ms (240)",
                   "LPR": "PR > 200 ms (240)"}  # fmt: skip


def test_the_reach_is_kept_only_where_the_network_ranks_the_validation_recordings_better() -> None:
    layer = CriterionLayer(CODES)
    sb, stach = CODES.index(BY_NAME["SB"].code), CODES.index(BY_NAME["STach"].code)
    rates = np.array([50.0, 58.0, 62.0, 70.0, 95.0, 105.0, 130.0, 61.0])
    features = torch.cat([features_with(heart_rate=rate) for rate in rates]).numpy()
    truth = np.zeros((len(rates), len(CODES)), dtype=bool)
    truth[[0, 1, 2], sb] = True  # 62 bpm labelled SB: the rate alone ranks it below 61
    truth[[5, 6], stach] = True
    given = np.full((len(rates), len(CODES)), 0.5)
    given[:, sb] = [0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.2]  # the network ranks all three SB first: better
    given[:, stach] = [0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.9, 0.1]  # it puts 95 bpm among STach: worse
    reach, chosen = layer.choose_reach(truth, given, features)
    by_class = dict(zip(layer.class_index.tolist(), reach, strict=True))
    assert by_class[sb] == REACH and by_class[stach] == 0.0
    assert by_class[CODES.index(BY_NAME["IAVB"].code)] == 0.0  # no PR measured, no positives: nothing to rank
    np.testing.assert_array_equal(chosen[:, sb], given[:, sb])
    alone = 1 / (1 + np.exp(-evidence([BY_NAME["STach"]], rates[:, None])[:, 0]))
    np.testing.assert_allclose(chosen[:, stach], alone, rtol=1e-6)
    # At reach 0 the layer gives the criterion alone, whatever the network says.
    layer.reach.copy_(torch.from_numpy(reach))
    logits = torch.full((len(rates), len(CODES)), 30.0)
    out = torch.sigmoid(layer(logits, torch.from_numpy(features)).double()).numpy()
    np.testing.assert_allclose(out[:, stach], alone, rtol=1e-6)
    alone_sb = 1 / (1 + np.exp(-evidence([BY_NAME["SB"]], rates[:, None])[:, 0]))
    assert np.all(out[:, sb] > alone_sb)  # at REACH the network's logit still moves it


def test_a_model_saved_with_one_reach_for_all_criteria_loads_with_it_for_each() -> None:
    layer = CriterionLayer(CODES)
    state = layer.state_dict()
    state["reach"] = torch.tensor(0.5)  # as 5a949b7 saved it
    layer.load_state_dict(state)
    assert layer.reach.shape == (len(layer.class_index),) and torch.all(layer.reach == 0.5)
