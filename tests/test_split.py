"""Multilabel-stratified folds and validation splits."""

from __future__ import annotations

import numpy as np
import pytest

from ecg12.split import k_folds, train_validation_split


@pytest.fixture
def labels() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.random((400, 12)) < np.linspace(0.02, 0.4, 12)


def test_every_class_is_spread_evenly_over_the_folds(labels: np.ndarray) -> None:
    folds = k_folds(labels, 5, seed=0)
    per_fold = np.array([labels[folds == k].sum(axis=0) for k in range(5)])
    expected = labels.sum(axis=0) / 5
    assert (np.abs(per_fold - expected) <= 1.0 + 1e-9).all()
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 0.05 * len(labels)


def test_rare_classes_reach_every_fold_a_random_split_would_miss() -> None:
    labels = np.zeros((100, 2), dtype=bool)
    labels[:5, 0] = True  # five examples for five folds
    labels[5:60, 1] = True
    folds = k_folds(labels, 5, seed=3)
    assert sorted(folds[:5].tolist()) == [0, 1, 2, 3, 4]


def test_folds_are_deterministic_for_a_seed(labels: np.ndarray) -> None:
    assert (k_folds(labels, 5, seed=7) == k_folds(labels, 5, seed=7)).all()
    assert (k_folds(labels, 5, seed=7) != k_folds(labels, 5, seed=8)).any()


def test_validation_split_has_the_requested_size(labels: np.ndarray) -> None:
    mask = train_validation_split(labels, 0.2, seed=0)
    assert mask.sum() == pytest.approx(80, abs=1)
    with pytest.raises(ValueError):
        train_validation_split(labels, 1.5, seed=0)


def test_a_handful_of_recordings_still_gets_a_validation_recording() -> None:
    labels = np.eye(8, 3, dtype=bool)
    for seed in range(5):
        mask = train_validation_split(labels, 0.1, seed)
        assert 1 <= mask.sum() < len(mask)
