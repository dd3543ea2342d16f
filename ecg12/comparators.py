"""The Table 1 comparators: one-dimensional ResNeXt and ResNeSt backbones behind the paper's head.

Unlike the paper's network (ecg12.model), whose 1 x k kernels are shared by the leads and keep every lead a
separate row, these backbones take the 12 leads as the input channels of Conv1d layers, as the ImageNet
networks take colour channels: the first convolution mixes the leads, and everything after it sees one
multi-channel time series. That is the usual way of applying an image classifier to a 12-lead ECG, and it is
the design choice the paper's shared kernels are compared against.

    input (B, 12, T)
      stem: conv1d 12 -> C0, k 50 /4 -> BN -> ReLU -> conv1d k 15 /2 -> BN -> ReLU   (62.5 Hz, like msse)
      stages: one per entry of stage_channels, blocks_per_stage bottleneck blocks, the first with stride 2
      [max-pool | avg-pool over time] -> (B, 2 * C_last) -> the shared head (ecg12.network.ECGNetwork)

ResNeXt (Xie et al. 2017, aggregated residual transformations): the bottleneck's middle convolution is a
grouped convolution with ``cardinality`` groups, i.e. ``cardinality`` parallel paths of the same topology,
summed by the following 1 x 1 convolution.

ResNeSt (Zhang et al. 2020, split-attention networks): the bottleneck's middle convolution produces ``radix``
feature-map splits per cardinal group; they are summed, globally pooled, and a two-layer FC gives per-channel
attention logits over the splits (softmax across the radix, sigmoid when radix is 1) that weight the splits'
sum. It is squeeze-and-excitation (as in msse) generalised to a choice among convolutions.

Both blocks are post-activation (conv, BN, ReLU), as in both papers, and their widths come from
``COMPARATOR_SIZES`` (ecg12.config), chosen so that parameters and FLOPs per window match msse of the same size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ecg12.config import ModelConfig
from ecg12.network import NUM_LEADS, ECGNetwork

MIN_ATTENTION_UNITS = 8  # ResNeSt's attention FC has at least this many hidden units (the reference has 32)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv1d:
    """A Conv1d with 'same' padding (for odd kernels) and no bias: a batch norm always follows."""
    return nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)


def bottleneck_width(out_channels: int, ratio: float, multiple: int) -> int:
    """The bottleneck's inner width: ``ratio`` of the block's output, rounded to a multiple of the groups."""
    return max(multiple, round(out_channels * ratio / multiple) * multiple)


class Bottleneck(nn.Module):
    """1x1 conv -> BN -> ReLU -> middle conv (strided) -> 1x1 conv -> BN, plus a (projected) shortcut, ReLU.

    The middle convolution (with its BN and ReLU) is what distinguishes ResNeXt from ResNeSt. The stride sits in
    the middle convolution rather than the first 1 x 1 (ResNet v1.5, also ResNeXt's and ResNeSt's choice): a
    strided 1 x 1 would skip every other sample unseen.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int, middle: nn.Module) -> None:
        super().__init__()
        self.reduce = nn.Sequential(_conv(in_channels, width, 1), nn.BatchNorm1d(width), nn.ReLU(inplace=True))
        self.middle = middle
        self.expand = nn.Sequential(_conv(width, out_channels, 1), nn.BatchNorm1d(out_channels))
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = (
            nn.Sequential(_conv(in_channels, out_channels, 1, stride), nn.BatchNorm1d(out_channels))
            if needs_projection
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(self.middle(self.reduce(x)))
        return self.relu(out + self.shortcut(x))


class SplitAttention(nn.Module):
    """ResNeSt's split-attention convolution (Zhang et al. 2020), one-dimensional.

    A grouped convolution (``radix * cardinality`` groups) gives ``radix`` splits of ``channels`` maps each; their
    sum is averaged over time and passed through FC -> ReLU -> FC (grouped by cardinal group) to ``radix``
    logits per channel, normalised by a softmax across the radix (the r-softmax; a sigmoid gate when radix is
    1), and the output is the attention-weighted sum of the splits. No batch norm in the attention FC (the
    reference has one): it normalises one pooled vector per record, which fails for a batch of one in training.
    """

    def __init__(self, channels: int, kernel: int, stride: int, radix: int, cardinality: int, reduction: int) -> None:
        super().__init__()
        if radix < 1 or cardinality < 1 or channels % (radix * cardinality):
            raise ValueError(f"{channels} channels do not split into radix {radix} x cardinality {cardinality}")
        self.radix, self.cardinality, self.channels = radix, cardinality, channels
        self.conv = _conv(channels, channels * radix, kernel, stride, groups=radix * cardinality)
        self.norm = nn.BatchNorm1d(channels * radix)
        self.relu = nn.ReLU(inplace=True)
        # Hidden units a multiple of the cardinality, so that each cardinal group has its own.
        hidden = max(channels * radix // reduction, MIN_ATTENTION_UNITS)
        hidden = -(-hidden // cardinality) * cardinality
        # 1 x 1 convolutions on the (B, C, 1) pooled vector: grouped fully connected layers.
        self.fc1 = nn.Conv1d(channels, hidden, 1, groups=cardinality)
        self.fc2 = nn.Conv1d(hidden, channels * radix, 1, groups=cardinality)

    def attention(self, pooled: torch.Tensor) -> torch.Tensor:
        """(B, channels) pooled sum of the splits -> (B, radix, channels) weights, summing to 1 over the radix."""
        logits = self.fc2(self.relu(self.fc1(pooled[:, :, None])))  # (B, radix * channels, 1)
        batch = logits.shape[0]
        if self.radix == 1:
            return torch.sigmoid(logits).view(batch, 1, self.channels)
        # fc2's output is grouped by cardinal group, each group's logits ordered (radix, channel of the group);
        # the splits are ordered (radix, cardinal group, channel): transpose so that weights and splits match.
        logits = logits.view(batch, self.cardinality, self.radix, -1).transpose(1, 2)
        return F.softmax(logits, dim=1).reshape(batch, self.radix, self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.norm(self.conv(x)))
        batch, _, length = x.shape
        splits = x.view(batch, self.radix, self.channels, length)
        weights = self.attention(splits.sum(dim=1).mean(dim=2))
        return (splits * weights[:, :, :, None]).sum(dim=1)


class _ResNet1d(ECGNetwork):
    """The shared layout: 12-channel stem to 62.5 Hz, stages of bottleneck blocks, max and average pooling."""

    architecture = ""
    bottleneck_ratio = 0.5
    group_multiple = 1  # the bottleneck width is a multiple of this

    def __init__(self, config: ModelConfig) -> None:
        if config.architecture != self.architecture:
            raise ValueError(f"{type(self).__name__} builds {self.architecture!r}, not {config.architecture!r}")
        super().__init__(config)
        (first, second), (first_stride, second_stride) = config.stem_kernels, config.stem_strides
        # Two strided convolutions (/4, /2 at the default strides) as in msse, so that the stages start at the
        # same 62.5 Hz feature rate; BN and ReLU after both since the blocks are post-activation.
        self.stem = nn.Sequential(
            _conv(NUM_LEADS, config.stem_channels, first, first_stride),
            nn.BatchNorm1d(config.stem_channels),
            nn.ReLU(inplace=True),
            _conv(config.stem_channels, config.stem_channels, second, second_stride),
            nn.BatchNorm1d(config.stem_channels),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        channels = config.stem_channels
        for out_channels in config.stage_channels:
            width = bottleneck_width(out_channels, self.bottleneck_ratio, self.group_multiple_of(config))
            for index in range(config.blocks_per_stage):
                stride = 2 if index == 0 else 1
                blocks.append(Bottleneck(channels, width, out_channels, stride, self.middle(config, width, stride)))
                channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = channels
        self.build_head(2 * channels)

    def group_multiple_of(self, config: ModelConfig) -> int:
        """The bottleneck width must be divisible by the middle convolution's groups."""
        raise NotImplementedError

    def middle(self, config: ModelConfig, width: int, stride: int) -> nn.Module:
        """The bottleneck's middle (time) convolution with its BN and ReLU."""
        raise NotImplementedError

    def signal_features(self, signals: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(signals))
        # Max and average over time, as msse's branches pool: (B, 2 * C_last).
        return torch.cat([x.amax(dim=2), x.mean(dim=2)], dim=1)

    def last_feature_maps(self) -> list[nn.Module]:
        return [self.blocks]  # (B, C, T), after the last block's ReLU


class ResNeXt1d(_ResNet1d):
    """One-dimensional ResNeXt: bottlenecks whose middle convolution has ``cardinality`` groups.

    The inner width is half the block's output, as in ResNeXt-50 (32x4d: 128 of 256), so that the grouped
    convolution is the wide one and the 1 x 1 convolutions are the bottleneck.
    """

    architecture = "resnext"
    bottleneck_ratio = 0.5

    def group_multiple_of(self, config: ModelConfig) -> int:
        return config.cardinality

    def middle(self, config: ModelConfig, width: int, stride: int) -> nn.Module:
        return nn.Sequential(
            _conv(width, width, config.block_kernel, stride, groups=config.cardinality),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=True),
        )


class ResNeSt1d(_ResNet1d):
    """One-dimensional ResNeSt: bottlenecks whose middle convolution is a split-attention convolution.

    The inner width is a quarter of the block's output, as in ResNeSt-50 (2s1x64d: 64 of 256): the split
    attention convolution already produces ``radix`` times that many maps. ``cardinality`` is the number of
    cardinal groups; ResNeSt-50 has one, and at these widths (tens of channels) more would leave each group a
    handful of channels, so the configurations use 1.
    """

    architecture = "resnest"
    bottleneck_ratio = 0.25

    def group_multiple_of(self, config: ModelConfig) -> int:
        return config.radix * config.cardinality

    def middle(self, config: ModelConfig, width: int, stride: int) -> nn.Module:
        return SplitAttention(width, config.block_kernel, stride, config.radix, config.cardinality, config.se_reduction)


COMPARATORS: dict[str, type[ECGNetwork]] = {"resnext": ResNeXt1d, "resnest": ResNeSt1d}
