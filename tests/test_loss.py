"""The paper's loss: class weights 1/log(N_c) and hard example mining over the largest 70% of losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional

from ecg12.loss import HardExampleBCELoss, class_weights


def test_class_weights_follow_inverse_log_counts_normalised_to_mean_one() -> None:
    counts = np.array([10, 100, 1000])
    raw = 1 / np.log(counts)
    np.testing.assert_allclose(class_weights(counts), raw / raw.mean())


def test_classes_without_examples_get_a_finite_weight() -> None:
    weights = class_weights(np.array([0, 1, 2, 50]))
    assert np.isfinite(weights).all()
    assert weights[0] == weights[1] == weights[2] > weights[3]


def test_a_higher_floor_weighs_all_rarer_classes_as_if_they_had_floor_examples() -> None:
    counts = np.array([0, 3, 9, 10, 40, 400])
    weights = class_weights(counts, floor=10)
    assert weights[0] == weights[1] == weights[2] == weights[3] > weights[4] > weights[5]
    raw = 1 / np.log([10, 10, 10, 10, 40, 400])
    np.testing.assert_allclose(weights, raw / raw.mean())
    with pytest.raises(ValueError, match="at least 2"):
        class_weights(counts, floor=1)


def test_hard_example_mining_averages_the_largest_seventy_percent() -> None:
    torch.manual_seed(0)
    logits = torch.randn(10, 3)
    targets = (torch.rand(10, 3) > 0.5).float()
    weights = np.array([1.0, 2.0, 0.5])
    loss = HardExampleBCELoss(weights, keep_fraction=0.7)
    per_sample = (
        functional.binary_cross_entropy_with_logits(logits, targets, reduction="none") * torch.tensor(weights)
    ).mean(dim=1)
    hardest = torch.sort(per_sample, descending=True).values[: math.ceil(0.7 * 10)]
    torch.testing.assert_close(loss(logits, targets), hardest.mean().float())
    # the easy 30% really are left out
    assert loss(logits, targets) > per_sample.mean()


def test_keeping_everything_is_the_weighted_mean() -> None:
    logits = torch.randn(6, 4)
    targets = torch.ones(6, 4)
    loss = HardExampleBCELoss(np.ones(4), keep_fraction=1.0)
    torch.testing.assert_close(loss(logits, targets), functional.binary_cross_entropy_with_logits(logits, targets))


def test_invalid_fraction_is_rejected() -> None:
    with pytest.raises(ValueError, match="keep_fraction"):
        HardExampleBCELoss(np.ones(2), keep_fraction=0.0)
