"""Multilabel-stratified splits (iterative stratification, Sechidis et al., ECML PKDD 2011), and source databases.

Random splits of a small multilabel set easily leave a rare class out of a fold entirely.
Iterative stratification assigns the recordings of the rarest remaining class first, each to the
fold that still wants most examples of that class, so every class is spread as evenly as its count
allows.

For leave-one-source-out cross-validation, :func:`source_folds` gives one fold per source
database, told by the recording name's alphabetic prefix (:func:`source_of`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ecg12.classes import database_label_sets, scored_classes


def stratified_folds(labels: np.ndarray, proportions: list[float] | np.ndarray, seed: int) -> np.ndarray:
    """Assign each row of a (n, classes) bool matrix to a fold; returns (n,) fold indices.

    ``proportions`` are the desired fold sizes (normalised to sum 1). Deterministic for a seed.
    """
    labels = np.asarray(labels, dtype=bool)
    rng = np.random.default_rng(seed)
    proportions = np.asarray(proportions, dtype=np.float64)
    proportions = proportions / proportions.sum()
    num_rows = labels.shape[0]
    wanted_per_class = proportions[:, None] * labels.sum(axis=0)[None, :]  # (folds, classes)
    wanted_total = proportions * num_rows
    folds = np.full(num_rows, -1, dtype=np.int64)
    remaining = labels.copy()
    # Visit rows in a seeded random order so that ties between equal rows are broken at random.
    permutation = rng.permutation(num_rows)
    while True:
        counts = remaining[permutation].sum(axis=0)
        active = np.flatnonzero(counts)
        if active.size == 0:
            break
        rarest = active[np.argmin(counts[active])]
        for row in permutation[remaining[permutation, rarest]]:
            candidates = np.flatnonzero(wanted_per_class[:, rarest] == wanted_per_class[:, rarest].max())
            if candidates.size > 1:
                candidates = candidates[wanted_total[candidates] == wanted_total[candidates].max()]
            fold = candidates[rng.integers(candidates.size)] if candidates.size > 1 else candidates[0]
            folds[row] = fold
            wanted_per_class[fold] -= labels[row]
            wanted_total[fold] -= 1
            remaining[row] = False
    for row in permutation[folds[permutation] == -1]:  # rows without any class
        candidates = np.flatnonzero(wanted_total == wanted_total.max())
        fold = candidates[rng.integers(candidates.size)]
        folds[row] = fold
        wanted_total[fold] -= 1
    return folds


def k_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index (0..k-1) of every row, k equal multilabel-stratified folds."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    return stratified_folds(labels, np.full(k, 1.0 / k), seed)


def train_validation_split(labels: np.ndarray, validation_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the validation rows of a multilabel-stratified split."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError("the validation fraction must be between 0 and 1")
    folds = stratified_folds(labels, [1.0 - validation_fraction, validation_fraction], seed)
    mask = folds == 1
    if not mask.any() and len(mask) >= 2:  # a handful of recordings can round to an empty validation set
        mask[np.random.default_rng(seed).integers(len(mask))] = True
    return mask


# --- source databases -------------------------------------------------------------------------------------------------

# The Challenge's source databases, in the order the Challenge papers list them, with the alphabetic prefixes of
# their recording names. A and Q are two parts of one database (CPSC 2018 and its unused "extra" recordings, from
# the same hospitals), so they form one group: holding out one while training on the other would not test a
# database the model never saw.
SOURCE_PREFIXES: dict[str, tuple[str, ...]] = {
    "CPSC 2018": ("A", "Q"),
    "St Petersburg INCART": ("I",),
    "PTB": ("S",),
    "PTB-XL": ("HR",),
    "Georgia": ("E",),
    "Chapman-Shaoxing/Ningbo": ("JS",),
}
# The official class table's database of each name prefix (ecg12.classes.TABLE_DATABASES): it counts CPSC 2018
# and its extra recordings (Q) apart, and has no Chapman-Shaoxing/Ningbo column (added in 2021).
TABLE_DATABASE_OF_PREFIX = {
    "A": "CPSC",
    "Q": "CPSC-Extra",
    "I": "StPetersburg",
    "S": "PTB",
    "HR": "PTB-XL",
    "E": "Georgia",
}
UNKNOWN_SOURCE = "unknown"  # the source of a name that does not start with a letter
_SOURCE_OF_PREFIX: dict[str, str] = {
    prefix: source for source, prefixes in SOURCE_PREFIXES.items() for prefix in prefixes
}
_PREFIX = re.compile(r"[A-Za-z]+")


def name_prefix(name: str) -> str:
    """The alphabetic prefix of a name: its leading ASCII letters (``"HR00001"`` -> ``"HR"``; ``""`` if none)."""
    match = _PREFIX.match(name)
    return match.group() if match else ""


def source_of(name: str) -> str:
    """The source database of a recording, from its name's alphabetic prefix.

    The whole prefix is looked up, case-sensitively, in :data:`SOURCE_PREFIXES`: ``"HR00001"`` is
    PTB-XL while a hypothetical ``"H00001"`` is not. A prefix not in the table is its own source,
    named by the prefix (``"SYN00001"`` -> ``"SYN"``; ``"prefix PTB"`` for a prefix that is also the
    name of a source, so that it does not join that source); a name without a letter prefix is
    :data:`UNKNOWN_SOURCE`.
    """
    prefix = name_prefix(name)
    if not prefix:
        return UNKNOWN_SOURCE
    if prefix in _SOURCE_OF_PREFIX:
        return _SOURCE_OF_PREFIX[prefix]
    return f"prefix {prefix}" if prefix in SOURCE_PREFIXES or prefix == UNKNOWN_SOURCE else prefix


def source_label(source: str) -> str:
    """A source with its name prefixes, for reports: ``"CPSC 2018 (A, Q)"``; other sources as they are (``"SYN"``)."""
    prefixes = SOURCE_PREFIXES.get(source)
    return f"{source} ({', '.join(prefixes)})" if prefixes else source


def source_order(source: str) -> tuple[int, str]:
    """Sort key of the sources: the table's order, then the other prefixes alphabetically, then ``unknown``."""
    table = list(SOURCE_PREFIXES)
    if source in SOURCE_PREFIXES:
        return (table.index(source), "")
    return (len(table) + (source == UNKNOWN_SOURCE), source)


def source_folds(names: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """One fold per source database: the fold index (0-based) of every name, and the sources in fold order.

    Folds follow :func:`source_order` (CPSC 2018, INCART, PTB, PTB-XL, Georgia, Chapman-Shaoxing/Ningbo,
    then prefixes outside the table alphabetically, then ``unknown``), counting only the sources present
    in ``names``: the same names always give the same folds, whatever their order.
    """
    sources = [source_of(name) for name in names]
    present = sorted(set(sources), key=source_order)
    fold_of_source = {source: fold for fold, source in enumerate(present)}
    return np.array([fold_of_source[source] for source in sources], dtype=np.int64), present


def unlabelled_classes(names: Sequence[str]) -> np.ndarray:
    """(n, classes) bool: True where a recording comes from a 2020 database that was not annotated with the class
    (ecg12.classes.database_label_sets: the official class table's counts per database), so that its missing label
    says the class was not looked for, not that it is absent. Training can leave those entries out of the loss
    (``TrainConfig.mask_unlabelled_classes``). A recording of any other source (Chapman-Shaoxing/Ningbo, which
    came after the 2020 table, or a name without a known prefix) has every label taken as given.
    """
    label_sets = database_label_sets()
    unlabelled = np.zeros((len(names), len(scored_classes().codes)), dtype=bool)
    for row, name in enumerate(names):
        database = TABLE_DATABASE_OF_PREFIX.get(name_prefix(name))
        if database is not None:
            unlabelled[row] = ~label_sets[database]
    return unlabelled
