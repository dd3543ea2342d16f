"""What every architecture shares: the record features standardised and clipped, the light filter, and the head.

An architecture (the paper's network, ecg12.model; the Table 1 comparators, ecg12.comparators) is a subclass of
:class:`ECGNetwork` that builds its backbone: the head after it is the paper's, the same for all, so that the
architectures compare on their backbones alone (docs/model.md).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecg12.classes import scored_classes
from ecg12.config import ModelConfig
from ecg12.criteria import CriterionLayer

NUM_LEADS = 12
FEATURE_CLIP = 5.0  # standardised record features are clipped to +-5 standard deviations
BASELINE_SAMPLES = 500  # the light filter's moving average: 1 s at 500 Hz


def feature_statistics(features: np.ndarray, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The shift and scale that standardise the first ``count`` of a training set's (n, >= count) record features:
    their means and standard deviations (at least 0.01, so that a feature constant in training stays finite)."""
    used = np.asarray(features, dtype=np.float64)[:, :count]
    return torch.from_numpy(used.mean(axis=0)), torch.from_numpy(np.maximum(used.std(axis=0), 1e-2))


def standardize(record_features: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(B, >= len(shift)) record features -> their first len(shift), standardised by ``shift`` and ``scale`` and
    clipped to +-:data:`FEATURE_CLIP`: a measurement far outside the training range (an odd recording from another
    database) must not saturate every output."""
    side = (record_features[:, : shift.shape[0]] - shift) / scale
    return side.clamp(-FEATURE_CLIP, FEATURE_CLIP)


def remove_baseline(signals: torch.Tensor) -> torch.Tensor:
    """(B, leads, T) signals less each lead's centred moving average over :data:`BASELINE_SAMPLES` (the window's
    ends repeated beyond it): baseline wander and offsets removed, the QRS complexes and P and T waves kept.

    A running sum in float64 (a moving average of 500 samples at the cost of two subtractions per sample; the
    difference of two float32 sums would lose the signal's last digits to an offset of a few mV).
    """
    padded = nn.functional.pad(signals, (BASELINE_SAMPLES // 2, (BASELINE_SAMPLES - 1) // 2), mode="replicate")
    total = nn.functional.pad(padded.double().cumsum(dim=-1), (1, 0))
    baseline = (total[..., BASELINE_SAMPLES:] - total[..., :-BASELINE_SAMPLES]) / BASELINE_SAMPLES
    return signals - baseline.to(signals.dtype)


class ECGNetwork(nn.Module):
    """What every architecture shares: record features standardised and clipped, and the paper's head.

    A subclass builds its backbone, then calls :meth:`build_head` with the backbone's feature count, and
    implements :meth:`signal_features`, (B, 12, T) mV -> (B, F) pooled features. The head concatenates them with
    the record features (age and sex, plus the ECG measurements with ``ecg_measurements``) and maps them through
    FC -> ReLU -> dropout -> FC to the logits, plus a direct linear path from the record features with
    ``record_path``. One head for all, so that the architectures compare on their backbones alone
    (docs/model.md).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # The dtype the backbone computes in: float32, or bfloat16 in a network built to classify on a CPU with
        # bfloat16 units (ecg12.precision). Not a weight: never saved, and training always runs in float32.
        self.backbone_dtype = torch.float32

    def build_head(self, signal_features: int) -> None:
        """The head after the backbone, so that a seed gives the same initial weights as ever (creation order)."""
        config = self.config
        # Record features are standardised with statistics of the training set (set by the training code,
        # saved with the weights): RR variations differ by 0.02 between classes, heart rates by 0.5.
        self.register_buffer("feature_shift", torch.zeros(config.num_record_features))
        self.register_buffer("feature_scale", torch.ones(config.num_record_features))
        self.head = nn.Sequential(
            nn.Linear(signal_features + config.num_record_features, config.hidden_units),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden_units, config.num_classes),
        )
        # A direct linear path from the record features to the logits: rhythm and conduction diagnoses are
        # nearly linear in the measurements (heart rate, RR variation, QRS duration), learnt from few examples.
        self.record_path = nn.Linear(config.num_record_features, config.num_classes) if config.record_path else None
        # No parameters: built after the head, it leaves a seed's initial weights as they were.
        self.criteria = CriterionLayer(scored_classes().codes) if config.criteria else None

    def signal_features(self, signals: torch.Tensor) -> torch.Tensor:
        """(B, 12, T) mV -> (B, F) features of the backbone."""
        raise NotImplementedError

    def last_feature_maps(self) -> list[nn.Module]:
        """The modules whose outputs are the last feature maps before the pooling, (B, C, leads, T) or (B, C, T)
        (the leads mixed): what Grad-CAM explains (ecg12.saliency)."""
        raise NotImplementedError

    def forward(self, signals: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        """``signals`` (B, 12, T) in mV, ``record_features`` (B, >= num_record_features) -> logits (B, classes)."""
        return self.with_criteria(self.network_logits(signals, record_features), record_features)

    def with_criteria(self, logits: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        """``logits`` led by the textbook criteria where the network has them (ecg12.criteria), else as they are."""
        return logits if self.criteria is None else self.criteria(logits, record_features)

    def network_logits(self, signals: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        """The logits before the criteria: what the backbone, head and record path make of a window."""
        side = self.standardized(record_features)
        if self.config.baseline_filter:
            signals = remove_baseline(signals)
        if self.backbone_dtype == torch.float32:
            features = self.signal_features(signals)
        else:
            with torch.autocast(signals.device.type, dtype=self.backbone_dtype):
                features = self.signal_features(signals).float()
        logits = self.head(torch.cat([features, side], dim=1))
        if self.record_path is not None:
            logits = logits + self.record_path(side)
        return logits

    def standardized(self, record_features: torch.Tensor) -> torch.Tensor:
        """(B, >= num_record_features) record features -> the (B, num_record_features) the head takes."""
        return standardize(record_features, self.feature_shift, self.feature_scale)

    def standardize_record_features(self, features: np.ndarray) -> None:
        """Set the record features' standardisation from a training set's (n, >= num_record_features) features."""
        shift, scale = feature_statistics(features, self.config.num_record_features)
        self.feature_shift.copy_(shift)
        self.feature_scale.copy_(scale)
