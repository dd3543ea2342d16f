"""The folds of a cross-validation: which recordings each fold holds out, and the folds' names in reports.

``group_by="random"``: k multilabel-stratified folds; ``group_by="source"``: one fold per source
database, told by the recording name's prefix (:func:`ecg12.split.source_of`), so that each fold
scores a database the model never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ecg12.split import k_folds, source_folds, source_label

GroupBy = Literal["random", "source"]
GROUPINGS: tuple[str, ...] = ("random", "source")
DEFAULT_FOLDS = 5  # of the random grouping


@dataclass(frozen=True)
class FoldPlan:
    """How the recordings of a signal cache are split into folds (:func:`plan_folds`).

    ``count``: the number of folds; ``fold_of``: the fold (0-based) of every recording, in the cache's
    order; ``sources``: the source database of every recording (:func:`ecg12.split.source_of`),
    whatever the grouping; ``source_names``: the sources present, in their stable order;
    ``fold_sources``: with the source grouping, the source each fold holds out (empty with the
    random grouping).
    """

    group_by: GroupBy
    count: int
    fold_of: np.ndarray
    sources: tuple[str, ...]
    source_names: tuple[str, ...]
    fold_sources: tuple[str, ...]

    @property
    def title(self) -> str:
        """``"leave-one-source-out cross-validation"`` or ``"5-fold cross-validation"``."""
        return title(self.group_by, self.count)

    def fold_name(self, fold: int) -> str:
        """The report's name of fold ``fold`` (0-based): ``"fold 3"``, or ``"held out: PTB (S), 7 recordings"``."""
        if self.group_by == "random":
            return f"fold {fold + 1}"
        return f"held out: {source_label(self.fold_sources[fold])}, {recordings(np.sum(self.fold_of == fold))}"

    def fold_label(self, fold: int) -> str:
        """Fold ``fold`` (0-based) for a log line: ``"fold 3 of 5"``, or ``"fold 3 of 6 (held out: PTB (S), ...)"``."""
        label = f"fold {fold + 1} of {self.count}"
        return label if self.group_by == "random" else f"{label} ({self.fold_name(fold)})"

    def describe(self) -> str:
        """Every fold by number and name, on one line: ``"1: held out: CPSC 2018 (A, Q), 122 recordings; 2: ..."``."""
        return "; ".join(f"{fold + 1}: {self.fold_name(fold)}" for fold in range(self.count))


def plan_folds(
    names: Sequence[str], labels: np.ndarray, seed: int, folds: int | None = None, group_by: str = "random"
) -> FoldPlan:
    """The folds of a cross-validation: the one place that assigns recordings to folds, for every step.

    ``group_by="random"``: ``folds`` (default 5) multilabel-stratified folds of the (recordings,
    classes) ``labels``, drawn from ``seed``. ``group_by="source"``: one fold per source database
    of the recording ``names``, in :func:`ecg12.split.source_folds`' order; ``folds``, if given,
    must be that number. Refused: an unknown grouping, fewer than 2 sources (a source that holds
    every recording leaves nothing to train on), or a number of folds that does not fit.
    """
    check_group_by(group_by)
    source_of_recording, source_names = source_folds(names)
    sources = tuple(source_names[int(i)] for i in source_of_recording)
    if group_by == "random":
        count = DEFAULT_FOLDS if folds is None else folds
        return FoldPlan("random", count, k_folds(labels, count, seed), sources, tuple(source_names), ())
    if not source_names:
        raise ValueError("there are no readable recordings to cross-validate")
    if len(source_names) < 2:
        raise ValueError(
            f"all {recordings(len(names))} come from one source, {source_label(source_names[0])}: "
            "leave-one-source-out cross-validation needs at least 2 sources (holding it out leaves nothing to train on)"
        )
    if folds is not None and folds != len(source_names):
        listed = ", ".join(source_label(source) for source in source_names)
        raise ValueError(
            f"leave-one-source-out cross-validation has one fold per source, {len(source_names)} here ({listed}), "
            f"not {folds}: leave out --folds"
        )
    return FoldPlan("source", len(source_names), source_of_recording, sources, tuple(source_names), tuple(source_names))


def check_group_by(group_by: str) -> None:
    """Refuse a grouping that is not one of :data:`GROUPINGS`."""
    if group_by not in GROUPINGS:
        raise ValueError(f"unknown grouping {group_by!r}: choose one of {', '.join(GROUPINGS)}")


def title(group_by: str, folds: int) -> str:
    """The name of a cross-validation of ``folds`` folds grouped by ``group_by``, for reports and messages."""
    return "leave-one-source-out cross-validation" if group_by == "source" else f"{folds}-fold cross-validation"


def recordings(count: int | np.integer) -> str:
    """``"1 recording"``, ``"7 recordings"``."""
    return f"{int(count)} recording{'' if count == 1 else 's'}"
