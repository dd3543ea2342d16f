"""Multilabel-stratified splits (iterative stratification, Sechidis et al., ECML PKDD 2011).

Random splits of a small multilabel set easily leave a rare class out of a fold entirely.
Iterative stratification assigns the recordings of the rarest remaining class first, each to the
fold that still wants most examples of that class, so every class is spread as evenly as its count
allows.
"""

from __future__ import annotations

import numpy as np


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
