"""The CQUPT_ECG multi-scale shared-convolution-kernel network with squeeze-and-excitation.

The 12-lead signal is treated as a one-channel image of height 12 (leads) and width T (time).
Every convolution has a 1 x k kernel, so one kernel is shared by all twelve leads: the network
learns waveform detectors once and applies them to each lead, which is what the paper means by a
shared convolution kernel. Leads stay separate rows through the whole network, so the classifier
at the end still knows in which lead a pattern occurred (needed for bundle branch blocks and axis
deviations).

    input (B, 1, 12, T) (less each lead's 1 s moving average, with ``baseline_filter``)
      stem: conv 1x50 /4 -> BN -> ReLU -> conv 1x15 /2
      branch k=3: residual SE blocks ... -> BN -> ReLU -> [max-pool | avg-pool over time]
      branch k=5: residual SE blocks ... -> BN -> ReLU -> [max-pool | avg-pool over time]
      concat(branch features, age/sex (+ ECG measurements)) -> FC -> ReLU -> dropout -> FC -> logits
      (+ a linear path from the record features to the logits, ``record_path``)
    at inference, with ``measurement_model``: a weighted mean of its probabilities and a logistic regression's on
    the record features, fitted apart (``ECGNetwork.fit_measurement_model``)

The head is :class:`ECGNetwork`'s, shared with the Table 1 comparators (ecg12.comparators).
``FoldEnsemble`` puts several such networks (fold models) behind the same interface.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ecg12.config import WINDOW_SAMPLES, ModelConfig

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


class SqueezeExcitation(nn.Module):
    """Channel attention: squeeze (global average per channel), excite (sigmoid(W2 relu(W1 z))), rescale."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        reduced = max(channels // reduction, 1)
        self.excite = nn.Sequential(
            nn.Linear(channels, reduced), nn.ReLU(inplace=True), nn.Linear(reduced, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.excite(x.mean(dim=(2, 3)))
        return x * weights[:, :, None, None]


def _time_conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    """A 1 x kernel convolution along time, shared by all leads, 'same' padding."""
    return nn.Conv2d(in_channels, out_channels, (1, kernel), stride=(1, stride), padding=(0, kernel // 2), bias=False)


class ResidualSEBlock(nn.Module):
    """Pre-activation residual block: (BN, ReLU, conv) x 2, then SE, plus a projected shortcut."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, reduction: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = _time_conv(in_channels, out_channels, kernel, stride)
        self.norm2 = nn.BatchNorm2d(out_channels)
        self.conv2 = _time_conv(out_channels, out_channels, kernel)
        self.se = SqueezeExcitation(out_channels, reduction)
        self.relu = nn.ReLU(inplace=True)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = _time_conv(in_channels, out_channels, 1, stride) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu(self.norm1(x))
        # As in pre-activation ResNets, a projection shortcut takes the activated input.
        shortcut = x if self.shortcut is None else self.shortcut(activated)
        out = self.conv1(activated)
        out = self.conv2(self.relu(self.norm2(out)))
        return self.se(out) + shortcut


class Branch(nn.Module):
    """Serial residual SE blocks of one kernel size, ending in dual (max and average) pooling over time."""

    def __init__(self, config: ModelConfig, kernel: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = config.stem_channels
        for out_channels in config.stage_channels:
            for index in range(config.blocks_per_stage):
                stride = 2 if index == 0 else 1
                blocks.append(ResidualSEBlock(channels, out_channels, kernel, stride, config.se_reduction))
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.BatchNorm2d(channels)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm(self.blocks(x)))
        # Pool over time only: one max and one average per channel and lead -> (B, 2 * C * leads).
        pooled = torch.cat([x.amax(dim=3), x.mean(dim=3)], dim=1)
        return pooled.flatten(1)


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


class MultiScaleSENet(ECGNetwork):
    """The paper's network: stem, two parallel branches (kernels 3 and 5), then the shared head; returns logits."""

    def __init__(self, config: ModelConfig | None = None) -> None:
        config = config or ModelConfig()
        if config.architecture != "msse":
            raise ValueError(f"MultiScaleSENet builds the msse architecture, not {config.architecture!r}")
        super().__init__(config)
        first, second = config.stem_kernels
        self.stem = nn.Sequential(
            nn.Conv2d(
                1,
                config.stem_channels,
                (1, first),
                stride=(1, config.stem_strides[0]),
                padding=(0, first // 2),
                bias=False,
            ),
            nn.BatchNorm2d(config.stem_channels),
            nn.ReLU(inplace=True),
            _time_conv(config.stem_channels, config.stem_channels, second, stride=config.stem_strides[1]),
        )
        self.branches = nn.ModuleList(Branch(config, kernel) for kernel in config.branch_kernels)
        self.build_head(sum(2 * branch.out_channels * NUM_LEADS for branch in self.branches))

    def signal_features(self, signals: torch.Tensor) -> torch.Tensor:
        x = self.stem(signals.unsqueeze(1))
        return torch.cat([branch(x) for branch in self.branches], dim=1)

    def last_feature_maps(self) -> list[nn.Module]:
        # Each branch's last batch norm: the ReLU of its output is what the branch pools.
        return [branch.norm for branch in self.branches]


def network_size(config: ModelConfig) -> tuple[int, float]:
    """(parameters, forward FLOPs of one 12-lead 10 s window) of the network ``config`` describes, counted by
    torch's FLOP counter (a multiply-add is 2 FLOPs; convolutions and linear layers, which are nearly all)."""
    from torch.utils.flop_counter import FlopCounterMode  # here: only the benchmarks and the training log count

    network = build_network(config).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, NUM_LEADS, WINDOW_SAMPLES), torch.zeros(1, config.num_record_features))
    return sum(parameter.numel() for parameter in network.parameters()), float(counter.get_total_flops())


def build_network(config: ModelConfig) -> ECGNetwork:
    """The network of ``config.architecture``: the paper's (msse) or a Table 1 comparator (ecg12.comparators)."""
    if config.architecture == "msse":
        return MultiScaleSENet(config)
    from ecg12.comparators import COMPARATORS  # here: the comparators import this module

    if config.architecture not in COMPARATORS:
        raise ValueError(f"unknown architecture {config.architecture!r}")
    return COMPARATORS[config.architecture](config)


class FoldEnsemble(nn.Module):
    """Networks of one architecture (trained on different folds) as one: the logit of their mean probability.

    Averaging probabilities rather than logits keeps one over-confident member from outvoting the
    others, and returning a logit keeps the interface of a single network.
    """

    def __init__(self, members: Sequence[ECGNetwork]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if len({member.config for member in members}) != 1:
            raise ValueError("the members of an ensemble must share one architecture")
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def forward(self, signals: torch.Tensor, record_features: torch.Tensor) -> torch.Tensor:
        probabilities = torch.stack([torch.sigmoid(m(signals, record_features).float()) for m in self.members])
        return torch.logit(probabilities.mean(dim=0), eps=1e-7)


def fold_batch_norms(model: nn.Module) -> None:
    """Fold every batch norm that directly follows a convolution into that convolution, in place (inference only).

    In the stem (conv, BN) and in each residual block (conv1, norm2) the normalisation is an affine map of the
    convolution's output, so it becomes the convolution's weights and bias: the same outputs (within float32
    rounding) for one pass less over those feature maps. The other batch norms (pre-activation, after the
    residual sum) have no convolution before them. The folded model has other parameters: classify with it,
    never train or save it.
    """
    if model.training:
        raise ValueError("batch norms fold only in eval mode (running statistics)")
    for module in list(model.modules()):
        if isinstance(module, MultiScaleSENet) and isinstance(module.stem[1], nn.BatchNorm2d):
            module.stem[0] = fuse_conv_bn_eval(module.stem[0], module.stem[1])
            module.stem[1] = nn.Identity()
        elif isinstance(module, ResidualSEBlock) and isinstance(module.norm2, nn.BatchNorm2d):
            module.conv1 = fuse_conv_bn_eval(module.conv1, module.norm2)
            module.norm2 = nn.Identity()
