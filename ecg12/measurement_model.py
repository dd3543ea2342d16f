"""The measurement model: a logistic regression per class on the record features, averaged with the network.

Not the paper's (``--measurement-model``, docs/model.md). Two models that err differently: the network reads the
signal, this one only the record features (age, sex and the ECG measurements of ecg12.features), which mean the
same in every database. Its life in a training run:

- :meth:`MeasurementModel.fit`, once, on the training recordings' record features, before the network trains
  (deterministic: every rank, and a resumed run, fits the same model);
- :func:`choose_share`, after every epoch, on the validation recordings: its weight in the average, the one of
  :data:`SHARES` with the lowest validation loss (ecg12.training.validate);
- :class:`MeasuredNetwork`: a network and its measurement model as one classifier, what a model folder saves and
  loads (ecg12.inference), the logit of the weighted mean of their probabilities.

The network itself knows nothing of it: it trains, and its forward pass gives, its own logits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ecg12.network import ECGNetwork, feature_statistics, standardize

# The penalty on the squared weights, beside the mean BCE over recordings and classes: on the sample recordings'
# folds 1e-4 and 3e-4 scored alike, 1e-3 lower and none (unpenalised) far lower.
L2_PENALTY = 1e-4
# Its shares of the average tried on the validation recordings. The network keeps at least half of the vote: the
# regression is an aid to it, never the classifier (a validation loss allowed 3/4 lowered the random 5-fold metric
# on the sample recordings, docs/model.md), and all of the vote where the regression does not help, as a large
# training set should give.
SHARES = (0.0, 0.25, 0.5)
# model.pt (format 4) keeps each member's measurement model beside its network's tensors, under these names; its
# standardisation is the network's (feature_shift, feature_scale): both are fitted on the same training recordings.
SAVED_TENSORS = ("measurement_weight", "measurement_bias", "measurement_share")


class MeasurementModel(nn.Module):
    """One logistic regression per class on the first ``num_features`` record features, standardised with its
    training set's statistics and clipped as the network's head takes them (ecg12.network.standardize)."""

    def __init__(self, num_classes: int, num_features: int) -> None:
        super().__init__()
        # Buffers, not parameters: fitted once, apart, never by the network's optimiser.
        self.register_buffer("feature_shift", torch.zeros(num_features))
        self.register_buffer("feature_scale", torch.ones(num_features))
        self.register_buffer("weight", torch.zeros(num_classes, num_features))
        self.register_buffer("bias", torch.zeros(num_classes))

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, num_features: int) -> MeasurementModel:
        """The model of a training set: (n, >= num_features) record features and (n, classes) targets, 1 or 0, or
        -1 where a class is left out (unlabelled, as in the training loss).

        The mean BCE plus :data:`L2_PENALTY` times the squared weights, minimised to convergence in float64 by
        L-BFGS on the CPU: deterministic, and the same numbers on every device.
        """
        targets = torch.as_tensor(targets, dtype=torch.float64)
        model = cls(targets.shape[1], num_features)
        shift, scale = feature_statistics(features, num_features)
        model.feature_shift.copy_(shift)
        model.feature_scale.copy_(scale)
        inputs = model.standardized(torch.as_tensor(features, dtype=torch.float32)).double()
        kept = (targets >= 0).double()
        weight = torch.zeros(model.weight.shape, dtype=torch.float64, requires_grad=True)
        bias = torch.zeros(model.bias.shape, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=500, line_search_fn="strong_wolfe")

        def objective() -> torch.Tensor:
            optimizer.zero_grad()
            losses = nn.functional.binary_cross_entropy_with_logits(
                inputs @ weight.T + bias, targets.clamp(min=0), reduction="none"
            )
            loss = (losses * kept).sum() / kept.numel() + L2_PENALTY * (weight**2).sum()
            loss.backward()
            return loss

        optimizer.step(objective)
        with torch.no_grad():
            model.weight.copy_(weight)
            model.bias.copy_(bias)
        return model

    def standardized(self, record_features: torch.Tensor) -> torch.Tensor:
        """(B, >= num_features) record features -> the (B, num_features) the regression takes."""
        return standardize(record_features, self.feature_shift, self.feature_scale)

    def forward(self, record_features: torch.Tensor) -> torch.Tensor:
        """(B, >= num_features) record features -> (B, classes) logits."""
        return self.standardized(record_features) @ self.weight.T + self.bias

    def probabilities(self, record_features: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities, float64, of (n, >= num_features) record features."""
        on_device = torch.as_tensor(record_features, dtype=torch.float32, device=self.weight.device)
        with torch.no_grad():
            return torch.sigmoid(self(on_device)).double().cpu().numpy()


def choose_share(
    network: np.ndarray,
    measured: np.ndarray,
    loss_of: Callable[[np.ndarray], float],
    finish: Callable[[np.ndarray], np.ndarray] = lambda average: average,
) -> tuple[float, np.ndarray, float]:
    """The share of :data:`SHARES` whose average of the (n, classes) ``network`` and ``measured`` probabilities,
    ``finish``-ed (the criteria, where the network has them), has the lowest ``loss_of``, the smallest of a tie:
    (share, its probabilities, its loss)."""
    averages = {share: finish((1 - share) * network + share * measured) for share in SHARES}
    losses = {share: loss_of(average) for share, average in averages.items()}
    share = min(SHARES, key=losses.__getitem__)
    return share, averages[share], losses[share]


class MeasuredNetwork(nn.Module):
    """A network and its measurement model as one classifier: the logit of the weighted mean of their
    probabilities, ``share`` the measurement model's weight, led by the network's criteria (ecg12.criteria) where it
    has them and ``criteria`` is true (false: the average as it is, what a share is chosen from)."""

    def __init__(self, network: ECGNetwork, measurement: MeasurementModel, share: float, criteria: bool = True) -> None:
        super().__init__()
        if not network.config.measurement_model:  # what tells a model folder's reader to expect one
            raise ValueError("this network has no measurement model (ModelConfig.measurement_model)")
        self.network = network
        self.measurement = measurement
        self.register_buffer("share", torch.full((), float(share), device=measurement.weight.device))
        self.config = network.config
        self.criteria = criteria

    def forward(self, signals: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        """``signals`` (B, 12, T) in mV, ``record_features`` (B, >= num_record_features) -> logits (B, classes)."""
        logits = self.network.network_logits(signals, record_features)
        measured = torch.sigmoid(self.measurement(record_features).float())
        mixed = torch.logit((1 - self.share) * torch.sigmoid(logits.float()) + self.share * measured, eps=1e-7)
        return self.network.with_criteria(mixed, record_features) if self.criteria else mixed

    def with_share(self, share: float, criteria: bool = True) -> MeasuredNetwork:
        """The same network and measurement model (not copies) at another share, with or without the criteria."""
        return MeasuredNetwork(self.network, self.measurement, share, criteria)

    def saved_state(self) -> dict[str, torch.Tensor]:
        """The tensors as model.pt keeps them: the network's, and beside them the measurement model's weights and
        the share (:data:`SAVED_TENSORS`); a ValueError where the two standardise the record features differently,
        which that layout cannot hold."""
        network, measurement = self.network, self.measurement
        for name in ("feature_shift", "feature_scale"):
            if not torch.equal(getattr(network, name).cpu(), getattr(measurement, name).cpu()):
                raise ValueError("the measurement model was fitted on other recordings than the network's training set")
        weights = dict(zip(SAVED_TENSORS, (measurement.weight, measurement.bias, self.share), strict=True))
        # In the order of format 4's files (standardisation, measurement model, the rest): the same model saves to
        # the same bytes as when the measurement model was part of the network.
        own = network.state_dict()
        standardisation = {name: own.pop(name) for name in ("feature_shift", "feature_scale")}
        return {**standardisation, **weights, **own}

    @classmethod
    def from_saved_state(cls, network: ECGNetwork, state: dict[str, torch.Tensor]) -> MeasuredNetwork:
        """``network`` (built for the saved configuration) and its measurement model, loaded from a member's state
        as :meth:`saved_state` writes it (load_state_dict's errors for tensors missing or too many)."""
        missing = [name for name in SAVED_TENSORS if name not in state]
        if missing:
            raise ValueError(f"the measurement model's {', '.join(missing)} missing from the saved state")
        network.load_state_dict(network_state(state))
        weight, bias, share = (state[name] for name in SAVED_TENSORS)
        config = network.config
        measurement = MeasurementModel(config.num_classes, config.num_record_features)
        standardisation = {"feature_shift": network.feature_shift, "feature_scale": network.feature_scale}
        measurement.load_state_dict({**standardisation, "weight": weight, "bias": bias})
        return cls(network, measurement, float(share))


def network_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A saved state less the measurement model's tensors: the network's own. (Checkpoints written while the
    measurement model was part of the network hold both; a resumed run fits it again, to the same numbers.)"""
    return {name: tensor for name, tensor in state.items() if name not in SAVED_TENSORS}
