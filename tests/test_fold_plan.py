"""The folds of a cross-validation: the random plan is the stratified k-fold split, the source plan one per source."""

from __future__ import annotations

import numpy as np
import pytest

from ecg12.fold_plan import plan_folds
from ecg12.split import k_folds, source_of


def test_the_random_plan_is_the_stratified_k_fold_split_and_the_source_plan_one_fold_per_source() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random((30, 24)) < 0.2
    names = [f"{prefix}{i:04d}" for i, prefix in enumerate(["A", "HR", "Q", "E", "SYN"] * 6)]
    random = plan_folds(names, labels, seed=4, folds=3)
    assert random.count == 3 and random.title == "3-fold cross-validation" and random.fold_name(0) == "fold 1"
    np.testing.assert_array_equal(random.fold_of, k_folds(labels, 3, 4))
    assert plan_folds(names, labels, seed=4).count == 5
    by_source = plan_folds(names, labels, seed=4, group_by="source")
    assert by_source.count == 4 and by_source.title == "leave-one-source-out cross-validation"
    assert by_source.fold_sources == ("CPSC 2018", "PTB-XL", "Georgia", "SYN")
    assert [by_source.fold_sources[k] for k in by_source.fold_of] == [source_of(name) for name in names]
    assert by_source.fold_name(0) == "held out: CPSC 2018 (A, Q), 12 recordings"
    assert random.sources == by_source.sources  # the per-source rows of either grouping
    assert plan_folds(names, labels, seed=9, folds=4, group_by="source").fold_of.tolist() == by_source.fold_of.tolist()


def test_a_source_plan_that_cannot_be_made_is_refused() -> None:
    labels = np.zeros((6, 24), dtype=bool)
    with pytest.raises(ValueError, match=r"one fold per source, 2 here \(CPSC 2018 \(A, Q\), PTB-XL \(HR\)\), not 5"):
        plan_folds(["A1", "A2", "Q1", "HR1", "HR2", "HR3"], labels, seed=0, folds=5, group_by="source")
    with pytest.raises(
        ValueError, match=r"all 6 recordings come from one source, CPSC 2018 \(A, Q\).*nothing to train"
    ):
        plan_folds(["A1", "A2", "Q1", "Q2", "Q3", "A3"], labels, seed=0, group_by="source")
    with pytest.raises(ValueError, match="unknown grouping 'hospital'"):
        plan_folds(["A1", "HR1"], labels[:2], seed=0, group_by="hospital")
