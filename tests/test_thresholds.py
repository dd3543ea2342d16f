"""Decision rules: the paper's max/5 rule and per-class thresholds tuned for the Challenge metric."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg12.classes import scored_classes
from ecg12.metrics import challenge_metric
from ecg12.thresholds import (
    DecisionRule,
    choose_decision_rule,
    max_fraction_labels,
    patch_fractions,
    tune_class_thresholds,
    tune_max_fraction,
)


def test_max_fraction_rule_is_relative_to_the_recordings_top_probability() -> None:
    probabilities = np.array([[0.9, 0.2, 0.17], [0.05, 0.011, 0.009]])
    assert max_fraction_labels(probabilities).tolist() == [[True, True, False], [True, True, False]]


def test_every_recording_gets_at_least_one_label() -> None:
    probabilities = np.random.default_rng(0).random((50, 24)) * 1e-3
    assert max_fraction_labels(probabilities).any(axis=1).all()


def test_the_paper_decides_each_patch_and_takes_the_union() -> None:
    """The issue's example: patches (0.9, 0.1, 0.01) and (0.08, 0.03, 0.05). Max/5 marks class 0 in the first
    patch and all three in the second, so the union is every class; max/5 on the recording's maxima (0.9, 0.1,
    0.05) marks only class 0."""
    windows = np.array([[0.9, 0.1, 0.01], [0.08, 0.03, 0.05]])
    fractions = patch_fractions(windows)
    np.testing.assert_allclose(fractions, [1.0, 0.375, 0.625])
    union = DecisionRule("patch-fraction").apply(windows.max(axis=0)[None], fractions[None])
    assert union.tolist() == [[True, True, True]]
    assert DecisionRule("max-fraction").apply(windows.max(axis=0)[None]).tolist() == [[True, False, False]]
    with pytest.raises(ValueError, match="needs the patches"):
        DecisionRule("patch-fraction").apply(windows.max(axis=0)[None])


def test_the_patch_union_holds_every_label_of_the_recording_rule_and_agrees_on_one_patch() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        windows = rng.random((int(rng.integers(1, 6)), 24)) ** 4
        recording = windows.max(axis=0)[None]
        union = DecisionRule("patch-fraction").apply(recording, patch_fractions(windows)[None])
        by_recording = DecisionRule("max-fraction").apply(recording)
        assert (union >= by_recording).all() and union.any()
        if len(windows) == 1:
            assert np.array_equal(union, by_recording)


def test_patch_fractions_of_all_zero_probabilities_are_finite() -> None:
    assert np.isfinite(patch_fractions(np.zeros((3, 24)))).all()


def test_the_patch_fraction_rule_is_chosen_as_is_and_round_trips() -> None:
    labels = np.zeros((5, 24), dtype=bool)
    rule = choose_decision_rule(labels, np.full((5, 24), 0.5), "patch-fraction")
    assert rule == DecisionRule("patch-fraction", fraction=0.2)
    assert DecisionRule.from_dict(rule.to_dict(), 24) == rule


def test_decision_rule_round_trips_and_applies_per_class_thresholds() -> None:
    rule = DecisionRule("per-class", class_thresholds=(0.3, 0.6))
    assert DecisionRule.from_dict(rule.to_dict(), 2) == rule
    assert rule.apply(np.array([[0.4, 0.5]])).tolist() == [[True, False]]
    with pytest.raises(ValueError):
        DecisionRule("per-class")
    with pytest.raises(ValueError):
        DecisionRule("majority")
    with pytest.raises(ValueError, match="a tuned fraction is the tuned-fraction rule"):
        DecisionRule("max-fraction", 0.35)  # the name says the paper's 1/5


def test_thresholds_for_other_classes_are_refused_not_broadcast() -> None:
    with pytest.raises(ValueError, match="1 thresholds for 3 classes"):
        DecisionRule("per-class", class_thresholds=(0.5,)).apply(np.full((2, 3), 0.7))
    with pytest.raises(ValueError, match="2 thresholds for 24 classes"):
        DecisionRule.from_dict(DecisionRule("per-class", class_thresholds=(0.3, 0.6)).to_dict(), 24)


@pytest.mark.parametrize("fraction", [math.nan, 0.0, -0.2, 1.5, math.inf])
def test_a_fraction_outside_0_to_1_is_refused(fraction: float) -> None:
    with pytest.raises(ValueError, match=r"in \(0, 1\]"):
        DecisionRule("max-fraction", fraction)


def _separable_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels over the 24 classes and probabilities where each class is separable at 0.3."""
    rng = np.random.default_rng(seed)
    classes = scored_classes()
    labels = rng.random((300, 24)) < 0.15
    labels[:, 5] = False  # a class without any example
    probabilities = np.where(labels, rng.uniform(0.32, 0.45, labels.shape), rng.uniform(0.0, 0.28, labels.shape))
    labels[:, classes.normal_index] |= ~labels.any(axis=1)
    probabilities[:, classes.normal_index] = np.where(labels[:, classes.normal_index], 0.4, 0.1)
    return labels, probabilities


def test_tuned_thresholds_separate_classes_and_beat_a_fixed_threshold() -> None:
    classes = scored_classes()
    labels, probabilities = _separable_problem()
    thresholds = tune_class_thresholds(labels, probabilities, classes.weights, classes.normal_index)
    tuned = challenge_metric(labels, probabilities >= thresholds, classes.weights, classes.normal_index)
    fixed = challenge_metric(labels, probabilities >= 0.5, classes.weights, classes.normal_index)
    assert tuned == pytest.approx(1.0)
    assert fixed < 0.5
    for j in np.flatnonzero(labels.any(axis=0)):
        positives, negatives = probabilities[labels[:, j], j], probabilities[~labels[:, j], j]
        assert negatives.max() < thresholds[j] <= positives.min()


def test_a_class_without_examples_gets_a_defined_threshold() -> None:
    classes = scored_classes()
    labels, probabilities = _separable_problem()
    thresholds = tune_class_thresholds(labels, probabilities, classes.weights, classes.normal_index)
    assert np.isfinite(thresholds).all()
    # switching class 5 on never helps (no positives), so it stays off for every probability seen
    assert thresholds[5] > probabilities[:, 5].max()


def _second_diagnosis_problem() -> tuple[np.ndarray, np.ndarray]:
    """Every recording: its main class at 0.9, a true second class at half that (every other recording)
    and a false class at a third of it; only fractions in (1/3, 1/2] label all of them right."""
    rng = np.random.default_rng(3)
    n, c = 60, len(scored_classes().codes)
    labels = np.zeros((n, c), dtype=bool)
    probabilities = np.full((n, c), 0.01)
    for i in range(n):
        main, second, distractor = rng.choice(c, size=3, replace=False)
        labels[i, main], probabilities[i, main] = True, 0.9
        probabilities[i, distractor] = 0.3
        if i % 2 == 0:
            labels[i, second], probabilities[i, second] = True, 0.45
    return labels, probabilities


def test_tuned_fraction_keeps_second_diagnoses_and_drops_distractors() -> None:
    classes = scored_classes()
    labels, probabilities = _second_diagnosis_problem()
    fraction = tune_max_fraction(labels, probabilities, classes.weights, classes.normal_index)
    assert fraction == pytest.approx(0.35)  # the perfect fraction closest to the paper's 1/5

    def metric(f: float) -> float:
        return challenge_metric(labels, max_fraction_labels(probabilities, f), classes.weights, classes.normal_index)

    assert metric(fraction) == pytest.approx(1.0)
    assert metric(0.2) < 0.9


def test_the_tuned_fraction_rule_is_the_max_fraction_rule_with_the_tuned_fraction() -> None:
    from ecg12.thresholds import choose_decision_rule

    classes = scored_classes()
    labels, probabilities = _second_diagnosis_problem()
    rule = choose_decision_rule(labels, probabilities, "tuned-fraction")
    assert rule == DecisionRule("tuned-fraction", fraction=0.35)
    assert choose_decision_rule(labels, probabilities, "max-fraction") == DecisionRule("max-fraction", fraction=0.2)
    restored = DecisionRule.from_dict(rule.to_dict(), 24)
    assert restored == rule
    outputs = restored.apply(probabilities)
    np.testing.assert_array_equal(outputs, max_fraction_labels(probabilities, 0.35))
    assert challenge_metric(labels, outputs, classes.weights, classes.normal_index) == pytest.approx(1.0)


def test_tuned_fraction_stays_at_one_fifth_when_the_fraction_does_not_matter() -> None:
    classes = scored_classes()
    labels = np.eye(len(classes.codes), dtype=bool)
    probabilities = np.eye(len(classes.codes)) * 0.8  # every other class at 0: any fraction gives the same labels
    assert tune_max_fraction(labels, probabilities, classes.weights, classes.normal_index) == pytest.approx(0.2)


def test_auto_rule_tunes_per_class_thresholds_only_on_a_large_validation_set() -> None:
    from ecg12.config import TrainConfig
    from ecg12.thresholds import PER_CLASS_MIN_VALIDATION, resolve_rule

    assert resolve_rule("auto", PER_CLASS_MIN_VALIDATION) == "per-class"
    assert resolve_rule("auto", PER_CLASS_MIN_VALIDATION - 1) == "max-fraction"
    assert resolve_rule("per-class", 10) == "per-class" and resolve_rule("max-fraction", 10**6) == "max-fraction"
    assert resolve_rule("tuned-fraction", 10**6) == "tuned-fraction"
    assert TrainConfig().decision_rule == "auto"
    with pytest.raises(ValueError, match="decision rule"):
        TrainConfig(decision_rule="majority")
    with pytest.raises(ValueError, match="hard_example_fraction"):
        TrainConfig(hard_example_fraction=0.0)
