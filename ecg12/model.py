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
    the record features, fitted apart (ecg12.measurement_model)

The head is :class:`~ecg12.network.ECGNetwork`'s, shared with the Table 1 comparators (ecg12.comparators).
:func:`build_network` builds the network of any architecture (:data:`NETWORKS`), and ``FoldEnsemble`` puts several
such networks (fold models) behind the same interface.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ecg12.comparators import COMPARATORS
from ecg12.config import WINDOW_SAMPLES, ModelConfig
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.network import NUM_LEADS, ECGNetwork


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


NETWORKS: dict[str, type[ECGNetwork]] = {"msse": MultiScaleSENet, **COMPARATORS}  # by ModelConfig.architecture


def network_size(config: ModelConfig) -> tuple[int, float]:
    """(parameters, forward FLOPs of one 12-lead 10 s window) of the network ``config`` describes, counted by
    torch's FLOP counter (a multiply-add is 2 FLOPs; convolutions and linear layers, which are nearly all)."""
    from torch.utils.flop_counter import FlopCounterMode  # here: only the benchmarks and the training log count

    network = build_network(config).eval()
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, NUM_LEADS, WINDOW_SAMPLES), torch.zeros(1, NUM_RECORD_FEATURES))
    return sum(parameter.numel() for parameter in network.parameters()), float(counter.get_total_flops())


def build_network(config: ModelConfig) -> ECGNetwork:
    """The network of ``config.architecture``: the paper's (msse) or a Table 1 comparator (ecg12.comparators)."""
    if config.architecture not in NETWORKS:
        raise ValueError(f"unknown architecture {config.architecture!r}")
    return NETWORKS[config.architecture](config)


class FoldEnsemble(nn.Module):
    """Networks of one architecture (trained on different folds) as one: the logit of their mean probability.

    A member is an :class:`~ecg12.network.ECGNetwork` or one with its measurement model
    (:class:`~ecg12.measurement_model.MeasuredNetwork`): anything with a ``config`` that gives logits.
    Averaging probabilities rather than logits keeps one over-confident member from outvoting the
    others, and returning a logit keeps the interface of a single network.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
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
