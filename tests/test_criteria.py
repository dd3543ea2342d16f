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
    ("name", "value", "expected"),
    [
        ("SB", 55.0, 2.0),  # 5 bpm below 60, in tolerances of 2.5 bpm
        ("SB", 65.0, -2.0),
        ("STach", 130.0, EVIDENCE_LIMIT),  # clipped
        ("IAVB", 230.0, 3.0),
        ("CRBBB/RBBB", 120.0, 0.5),  # QRS >= 120 ms: positive at 120
        ("LAD", -45.0, 2.0),
        ("RAD", 60.0, -EVIDENCE_LIMIT),
        ("LQRSV", 0.4, 2.0),
        ("LQT", 470.0, 1.0),
    ],
)
def test_evidence_is_the_distance_past_the_threshold_in_tolerances(name: str, value: float, expected: float) -> None:
    assert evidence([BY_NAME[name]], np.array([[value]]))[0, 0] == pytest.approx(expected)


def test_the_criterion_leads_its_class_and_leaves_the_others() -> None:
    layer = CriterionLayer(CODES)
    logits = torch.linspace(-2, 2, len(CODES))[None]
    out = layer(logits, features_with(heart_rate=50.0))
    changed = {CODES[i] for i in torch.nonzero(out[0] != logits[0]).flatten().tolist()}
    assert changed == {BY_NAME["SB"].code, BY_NAME["Brady"].code, BY_NAME["STach"].code}
    sb = CODES.index(BY_NAME["SB"].code)
    assert out[0, sb].item() == pytest.approx(EVIDENCE_LIMIT + REACH * math.tanh(logits[0, sb].item() / REACH))


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
