"""The training loss: class-weighted binary cross-entropy with optional hard example mining (the paper's), and
optionally a soft Challenge metric beside it (:class:`TrainingLoss`)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from ecg12.config import check_class_count_floor, check_keep_fraction, check_metric_loss
from ecg12.distributed import SINGLE_PROCESS, Rank, sum_over_ranks


def class_weights(positives: np.ndarray, floor: float = 2.0) -> np.ndarray:
    """w_c = 1 / ln(max(N_c, floor)) for N_c training positives of class c, normalised to mean 1.

    Rare classes weigh more, but only logarithmically. N_c is floored (at least at 2) so that classes
    with 0 or 1 example get the largest finite weight instead of a division by zero or log(1) = 0; a
    higher floor stops the handful-of-examples classes of a small training set from dominating the
    loss (docs/model.md). Normalising to mean 1 keeps the loss scale, and so the learning rate,
    independent of the data set.
    """
    check_class_count_floor(floor)
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
        """(B, C) logits and targets -> (B,) weighted mean BCE per sample. A target of 1 or 0 is a label; -1 is
        an entry without one (a class the recording's source does not label, ecg12.split.unlabelled_classes):
        it adds nothing, and the mean is still over all C classes, so that masking does not reweigh the rest."""
        targets = targets.float()
        losses = functional.binary_cross_entropy_with_logits(logits.float(), targets.clamp_min(0.0), reduction="none")
        return (losses * self.weights * (targets >= 0)).mean(dim=1)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        losses = self.per_sample(logits, targets)
        keep = max(1, math.ceil(self.keep_fraction * losses.numel()))
        return torch.topk(losses, keep, sorted=False).values.mean()


class SoftChallengeMetric(nn.Module):
    """The Challenge metric of a batch with probabilities in place of binary outputs: differentiable.

    The official metric credits an output k for a true class j with weight W[j, k] (1 on the diagonal, partial
    credit for related classes), each recording's credit divided by the number of classes that are labelled or
    output for it; it is normalised so that the inactive output (normal sinus rhythm only) scores 0 and the
    labels 1. Here an output is its probability, and the recording's count of labelled-or-output classes is
    sum_k max(label_k, probability_k): with 0/1 probabilities this is the official metric of the batch exactly.
    """

    def __init__(self, weights: np.ndarray, normal_index: int, rank: Rank = SINGLE_PROCESS) -> None:
        super().__init__()
        self.register_buffer("weights", torch.as_tensor(weights, dtype=torch.float32))
        self.normal_index = normal_index
        self.rank = rank  # under torchrun the metric is of the global batch, not of this rank's share

    def credit(self, labels: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """The unnormalised credit of ``outputs`` (B, C) in [0, 1] for 0/1 ``labels`` (B, C)."""
        counts = torch.maximum(labels, outputs).sum(dim=1, keepdim=True).clamp_min(1.0)
        confusion = (labels / counts).T @ outputs  # (C, C): label class j, output class k
        return (self.weights * confusion).sum()

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        labels = targets.float().clamp_min(0.0)  # an entry without a label (-1) counts as absent here
        inactive_outputs = torch.zeros_like(labels)
        inactive_outputs[:, self.normal_index] = 1.0
        credits = torch.stack(
            [
                self.credit(labels, torch.sigmoid(logits.float())),
                self.credit(labels, labels),
                self.credit(labels, inactive_outputs),
            ]
        )
        # Each credit is a sum over recordings, so the global batch's is the sum of the ranks' (with gradients).
        observed, correct, inactive = sum_over_ranks(credits, self.rank)
        # A batch whose labels score no better than the inactive output (every recording normal only) cannot
        # be normalised; it contributes nothing, as the official metric's own convention gives 0 there. Chosen on
        # the device (no reading back of the value: the host must not wait for the GPU at every step).
        span = correct - inactive
        return torch.where(span > 1e-6, (observed - inactive) / span.clamp_min(1e-6), torch.zeros_like(observed))


class TrainingLoss(nn.Module):
    """What training minimises: the weighted BCE (with hard example mining), plus ``metric_weight`` times one
    minus the batch's soft Challenge metric, so that the network is pushed towards the outputs the metric
    credits (partial credit between related classes) rather than treating every wrong class alike."""

    def __init__(self, bce: HardExampleBCELoss, metric: SoftChallengeMetric | None, metric_weight: float) -> None:
        super().__init__()
        check_metric_loss(metric_weight)
        self.bce = bce
        self.metric = metric if metric_weight > 0 else None
        self.metric_weight = metric_weight

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(B,) weighted BCE per sample: the validation loss."""
        return self.bce.per_sample(logits, targets)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        loss = self.bce(logits, targets)
        if self.metric is None:
            return loss
        return loss + self.metric_weight * (1.0 - self.metric(logits, targets))
