"""The paper's loss (class weights 1/log(N_c), hard example mining over the largest 70% of losses) and the soft
Challenge metric beside it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional

from ecg12.classes import scored_classes
from ecg12.config import TrainConfig
from ecg12.loss import HardExampleBCELoss, SoftChallengeMetric, TrainingLoss, class_weights
from ecg12.metrics import challenge_metric


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


def test_the_soft_metric_of_binary_outputs_is_the_official_challenge_metric() -> None:
    classes = scored_classes()
    metric = SoftChallengeMetric(classes.weights, classes.normal_index)
    rng = np.random.default_rng(0)
    for _ in range(5):
        labels = rng.random((40, 24)) < 0.1
        outputs = rng.random((40, 24)) < 0.15
        logits = torch.from_numpy(np.where(outputs, 60.0, -60.0))  # sigmoid: 0 or 1 in float32
        soft = float(metric(logits, torch.from_numpy(labels.astype(np.float32))))
        official = challenge_metric(labels, outputs, classes.weights, classes.normal_index)
        assert soft == pytest.approx(official, abs=1e-5)


def test_the_metric_loss_has_gradients_and_is_off_at_weight_zero() -> None:
    classes = scored_classes()
    torch.manual_seed(0)
    logits = torch.randn(16, 24, requires_grad=True)
    targets = (torch.rand(16, 24) < 0.1).float()
    bce = HardExampleBCELoss(np.ones(24), keep_fraction=1.0)
    metric = SoftChallengeMetric(classes.weights, classes.normal_index)
    assert torch.equal(TrainingLoss(bce, metric, 0.0)(logits, targets), bce(logits, targets))
    combined = TrainingLoss(bce, metric, 0.5)(logits, targets)
    combined.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    expected = bce(logits, targets) + 0.5 * (1 - metric(logits, targets))
    torch.testing.assert_close(combined, expected)
    # the metric term pushes towards the labels: a step down its gradient raises the soft metric
    logits.grad = None
    (1 - metric(logits, targets)).backward()
    stepped = (logits - 5.0 * logits.grad).detach()
    assert float(metric(stepped, targets)) > float(metric(logits.detach(), targets))


def test_a_batch_of_normal_recordings_only_gives_no_metric_term() -> None:
    classes = scored_classes()
    targets = torch.zeros(4, 24)
    targets[:, classes.normal_index] = 1.0
    value = SoftChallengeMetric(classes.weights, classes.normal_index)(torch.randn(4, 24), targets)
    assert float(value) == 0.0


def test_entries_without_a_label_add_nothing_to_the_loss() -> None:
    torch.manual_seed(1)
    logits = torch.randn(6, 4, requires_grad=True)
    labels = (torch.rand(6, 4) > 0.5).float()
    targets = labels.clone()
    targets[0, 2] = targets[3, 1] = -1.0  # not labelled by these recordings' sources
    weights = np.array([1.0, 2.0, 0.5, 1.5])
    loss = HardExampleBCELoss(weights, keep_fraction=1.0)
    elementwise = functional.binary_cross_entropy_with_logits(logits, labels, reduction="none") * torch.tensor(weights)
    known = (targets >= 0).float()
    torch.testing.assert_close(loss.per_sample(logits, targets), (elementwise * known).mean(dim=1).float())
    loss(logits, targets).backward()
    assert logits.grad[0, 2] == 0 and logits.grad[3, 1] == 0 and logits.grad[0, 0] != 0
    torch.testing.assert_close(loss.per_sample(logits, labels), (elementwise.mean(dim=1)).float())  # no -1: as before


def test_a_negative_metric_loss_weight_is_refused_by_the_loss_and_the_recipe() -> None:
    classes = scored_classes()
    bce, metric = HardExampleBCELoss(np.ones(24)), SoftChallengeMetric(classes.weights, classes.normal_index)
    with pytest.raises(ValueError, match="must not be negative"):
        TrainingLoss(bce, metric, -0.1)
    with pytest.raises(ValueError, match="must not be negative"):
        TrainConfig(metric_loss=-0.1)
