"""Multilabel-stratified folds and validation splits."""

from __future__ import annotations

import numpy as np
import pytest

from ecg12.classes import abbreviate, scored_classes
from ecg12.split import (
    SOURCE_PREFIXES,
    UNKNOWN_SOURCE,
    k_folds,
    source_folds,
    source_label,
    source_of,
    train_validation_split,
    unlabelled_classes,
)


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


def test_the_source_is_told_by_the_whole_name_prefix() -> None:
    assert source_of("A0001") == source_of("Q0019") == "CPSC 2018"  # two parts of one database: one group
    assert source_of("HR00001") == "PTB-XL"
    assert source_of("H00001") == "H"  # a hypothetical H is not PTB-XL: the whole prefix is looked up
    assert source_of("S0001") == "PTB" and source_of("E00015") == "Georgia" and source_of("I0001") != "PTB"
    assert source_of("JS00001") == "Chapman-Shaoxing/Ningbo"
    assert source_of("SYN00001") == "SYN"  # a prefix outside the table is its own source
    assert source_of("PTB0001") == "prefix PTB"  # ... even when it reads like a source's name
    assert source_of("00012") == source_of("_x") == UNKNOWN_SOURCE == "unknown"
    assert source_label("CPSC 2018") == "CPSC 2018 (A, Q)" and source_label("SYN") == "SYN"


def test_source_folds_follow_the_table_then_the_alphabet_whatever_the_order_of_the_names() -> None:
    names = ["SYN2", "E1", "00007", "Q5", "H3", "A1", "HR9", "SYN1", "A2"]
    fold_of, sources = source_folds(names)
    assert sources == ["CPSC 2018", "PTB-XL", "Georgia", "H", "SYN", "unknown"]
    assert fold_of.tolist() == [4, 2, 5, 0, 3, 0, 1, 4, 0]
    assert fold_of.dtype == np.int64
    shuffled = [names[i] for i in (8, 3, 0, 5, 1, 7, 2, 6, 4)]
    again, same_sources = source_folds(shuffled)
    assert same_sources == sources
    assert dict(zip(shuffled, again.tolist(), strict=True)) == dict(zip(names, fold_of.tolist(), strict=True))
    assert list(SOURCE_PREFIXES)[:2] == ["CPSC 2018", "St Petersburg INCART"] and source_folds([])[1] == []


def test_a_class_is_unlabelled_where_the_official_table_says_its_database_was_not_annotated_with_it() -> None:
    classes = scored_classes()
    abbreviation = dict(zip(abbreviate(classes.codes), range(len(classes.codes)), strict=True))
    unlabelled = unlabelled_classes(["A0001", "Q0001", "HR00001", "E00001", "JS00001", "S0001", "X1", "123"])
    cpsc, cpsc_extra, ptb_xl, georgia, chapman, ptb, other, unnamed = unlabelled
    # CPSC 2018 was annotated with nine diagnoses, seven of them scored (RBBB merged with CRBBB, PAC, PVC...)
    assert sorted(a for a, j in abbreviation.items() if not cpsc[j]) == ["AF", "CRBBB", "IAVB", "LBBB", "NSR", "PAC"]
    assert cpsc[abbreviation["SB"]] and cpsc[abbreviation["STach"]] and not cpsc_extra[abbreviation["STach"]]
    assert not georgia[abbreviation["SB"]] and georgia[abbreviation["PR"]]  # no pacing rhythm in Georgia
    assert ptb_xl[abbreviation["PVC"]] and not ptb_xl[abbreviation["LAD"]]
    assert ptb[abbreviation["IAVB"]] and not ptb[abbreviation["NSR"]]
    # databases the 2020 table does not count: every label taken as given
    assert not chapman.any() and not other.any() and not unnamed.any()
