"""What every architecture shares: the record features standardised and clipped, the light filter, and the head.

An architecture (the paper's network, ecg12.model; the Table 1 comparators, ecg12.comparators) is a subclass of
:class:`ECGNetwork` that builds its backbone: the head after it is the paper's, the same for all, so that the
architectures compare on their backbones alone (docs/model.md).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ecg12.config import ModelConfig

NUM_LEADS = 12
FEATURE_CLIP = 5.0  # standardised record features are clipped to +-5 standard deviations
# The measurement model's penalty on its squared weights, beside the mean BCE over recordings and classes: on the
# sample recordings' folds 1e-4 and 3e-4 scored alike, 1e-3 lower and none (unpenalised) far lower.
MEASUREMENT_MODEL_L2 = 1e-4
DEFAULT_MEASUREMENT_SHARE = 0.5  # until a validation chooses it (ecg12.training.validate)
BASELINE_SAMPLES = 500  # the light filter's moving average: 1 s at 500 Hz


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
        if config.measurement_model:  # buffers, not parameters: fitted once, apart, never by the optimiser
            self.register_buffer("measurement_weight", torch.zeros(config.num_classes, config.num_record_features))
            self.register_buffer("measurement_bias", torch.zeros(config.num_classes))
            # Its weight in the average with the network's probabilities, chosen on the validation recordings.
            self.register_buffer("measurement_share", torch.tensor(DEFAULT_MEASUREMENT_SHARE))

    def signal_features(self, signals: torch.Tensor) -> torch.Tensor:
        """(B, 12, T) mV -> (B, F) features of the backbone."""
        raise NotImplementedError

    def last_feature_maps(self) -> list[nn.Module]:
        """The modules whose outputs are the last feature maps before the pooling, (B, C, leads, T) or (B, C, T)
        (the leads mixed): what Grad-CAM explains (ecg12.saliency)."""
        raise NotImplementedError

    def forward(self, signals: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        """``signals`` (B, 12, T) in mV, ``record_features`` (B, >= num_record_features) -> logits (B, classes).

        In training mode these are the network's own logits, what the loss trains. In evaluation mode, with
        ``measurement_model``, they are the logits of the weighted mean of the network's and the measurement
        model's probabilities (``measurement_share`` the latter's weight): two models that err differently, one
        reading the signal, the other only the measurements, which mean the same in every database.
        """
        side = self.standardized(record_features)
        if self.config.baseline_filter:
            signals = remove_baseline(signals)
        logits = self.head(torch.cat([self.signal_features(signals), side], dim=1))
        if self.record_path is not None:
            logits = logits + self.record_path(side)
        if self.training or not self.config.measurement_model:
            return logits
        measured = torch.sigmoid(self._measured_logits(side).float())
        mixed = (1 - self.measurement_share) * torch.sigmoid(logits.float()) + self.measurement_share * measured
        return torch.logit(mixed, eps=1e-7)

    def _measured_logits(self, side: torch.Tensor) -> torch.Tensor:
        return side @ self.measurement_weight.T + self.measurement_bias

    def measurement_probabilities(self, record_features: np.ndarray) -> np.ndarray:
        """The measurement model's (n, classes) probabilities for (n, >= num_record_features) record features."""
        on_device = torch.as_tensor(record_features, dtype=torch.float32, device=self.feature_shift.device)
        with torch.no_grad():
            return torch.sigmoid(self._measured_logits(self.standardized(on_device))).double().cpu().numpy()

    def standardized(self, record_features: torch.Tensor) -> torch.Tensor:
        """(B, >= num_record_features) record features -> the (B, num_record_features) the head takes."""
        side = (record_features[:, : self.config.num_record_features] - self.feature_shift) / self.feature_scale
        # Clipped: a measurement far outside the training range (an odd recording from another database)
        # must not saturate every output.
        return side.clamp(-FEATURE_CLIP, FEATURE_CLIP)

    def standardize_record_features(self, features: np.ndarray) -> None:
        """Set the record features' standardisation from a training set's (n, >= num_record_features) features."""
        used = np.asarray(features, dtype=np.float64)[:, : self.config.num_record_features]
        self.feature_shift.copy_(torch.from_numpy(used.mean(axis=0)))
        self.feature_scale.copy_(torch.from_numpy(np.maximum(used.std(axis=0), 1e-2)))

    def fit_measurement_model(self, features: np.ndarray, targets: np.ndarray) -> None:
        """Fit the measurement model to a training set: (n, >= num_record_features) record features, standardised
        as the head takes them (:meth:`standardize_record_features` first), and (n, classes) targets, 1 or 0, or
        -1 where a class is left out (unlabelled, as in the training loss).

        One logistic regression per class, the mean BCE plus :data:`MEASUREMENT_MODEL_L2` times the squared weights,
        minimised to convergence in float64 by L-BFGS: deterministic, so a resumed run fits the same model.
        """
        if not self.config.measurement_model:
            raise ValueError("this network has no measurement model (ModelConfig.measurement_model)")
        on_device = torch.as_tensor(features, dtype=torch.float32, device=self.feature_shift.device)
        side = self.standardized(on_device).double().cpu()
        targets = torch.as_tensor(targets, dtype=torch.float64)
        kept = (targets >= 0).double()
        # Fitted on the CPU, wherever the network is: small, and the same numbers on every device.
        weight = torch.zeros(self.measurement_weight.shape, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(self.measurement_bias.shape, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=500, line_search_fn="strong_wolfe")

        def objective() -> torch.Tensor:
            optimizer.zero_grad()
            losses = nn.functional.binary_cross_entropy_with_logits(
                side @ weight.T + bias, targets.clamp(min=0), reduction="none"
            )
            loss = (losses * kept).sum() / kept.numel() + MEASUREMENT_MODEL_L2 * (weight**2).sum()
            loss.backward()
            return loss

        optimizer.step(objective)
        with torch.no_grad():
            self.measurement_weight.copy_(weight.to(self.measurement_weight.device, self.measurement_weight.dtype))
            self.measurement_bias.copy_(bias.to(self.measurement_bias.device, self.measurement_bias.dtype))
