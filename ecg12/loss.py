"""The training loss: class-weighted binary cross-entropy with optional hard example mining (the paper's)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from ecg12.config import check_keep_fraction


def class_weights(positives: np.ndarray, floor: float = 2.0) -> np.ndarray:
    """w_c = 1 / ln(max(N_c, floor)) for N_c training positives of class c, normalised to mean 1.

    Rare classes weigh more, but only logarithmically. N_c is floored (at least at 2) so that classes
    with 0 or 1 example get the largest finite weight instead of a division by zero or log(1) = 0; a
    higher floor stops the handful-of-examples classes of a small training set from dominating the
    loss (docs/model.md). Normalising to mean 1 keeps the loss scale, and so the learning rate,
    independent of the data set.
    """
    if floor < 2.0:
        raise ValueError(f"the class count floor must be at least 2 (ln 1 = 0), not {floor}")
    counts = np.maximum(np.asarray(positives, dtype=np.float64), floor)
    weights = 1.0 / np.log(counts)
    return weights / weights.mean()


class HardExampleBCELoss(nn.Module):
    """Weighted BCE averaged over classes per sample; only the hardest ``keep_fraction`` of the batch counts.

    Hard example mining as in the paper (keep_fraction 0.7): the per-sample losses are sorted and only
    the largest 70% are averaged, so the many easy examples (mostly clear sinus rhythm) stop dominating
    the gradient. keep_fraction 1 averages them all.
    """

    def __init__(self, weights: np.ndarray, keep_fraction: float = 0.7) -> None:
        super().__init__()
        check_keep_fraction(keep_fraction)
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.keep_fraction = keep_fraction

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B, C) logits and 0/1 targets -> (B,) weighted mean BCE per sample."""
        losses = functional.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
        return (losses * self.weights).mean(dim=1)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses = self.per_sample(logits, targets)
        keep = max(1, math.ceil(self.keep_fraction * losses.numel()))
        return torch.topk(losses, keep, sorted=False).values.mean()
