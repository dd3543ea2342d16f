"""The Table 1 comparators: shapes, ResNeXt's groups, ResNeSt's split attention, sizes matched to msse, training."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from networks import with_batch_norm_statistics
from torch import nn

from ecg12.comparators import COMPARATORS, Bottleneck, ResNeSt1d, ResNeXt1d, SplitAttention
from ecg12.config import MODEL_SIZES, WINDOW_SAMPLES, network_config
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.model import build_network, network_size
from ecg12.network import ECGNetwork

ARCHITECTURES = sorted(COMPARATORS)
MATCH_TOLERANCE = 0.25  # parameters and FLOPs per window within 25% of msse (COMPARATOR_SIZES aims within 6%)


def tiny(architecture: str, seed: int = 0) -> ECGNetwork:
    torch.manual_seed(seed)
    return build_network(network_config("tiny", architecture))


def inputs(batch: int, length: int = WINDOW_SAMPLES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    signals = torch.randn(batch, 12, length, generator=generator)
    return signals, torch.rand(batch, NUM_RECORD_FEATURES, generator=generator)


@functools.cache
def size_of(size: str, architecture: str) -> tuple[int, float]:
    """(parameters, forward FLOPs of one 12 x 5000 window); cached: msse "paper" is counted once."""
    return network_size(network_config(size, architecture))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("size", sorted(MODEL_SIZES))
def test_build_network_gives_the_architecture_with_one_logit_per_class(architecture: str, size: str) -> None:
    model = build_network(network_config(size, architecture))
    assert type(model) is COMPARATORS[architecture]
    assert model.config.architecture == architecture
    if size != "tiny":
        return  # the larger sizes are run by the size test below
    with torch.inference_mode():
        logits = model.eval()(*inputs(2))
    assert logits.shape == (2, 24)
    assert torch.isfinite(logits).all()


def test_the_comparators_are_the_named_classes() -> None:
    assert set(COMPARATORS) == {"resnext", "resnest"}
    assert COMPARATORS["resnext"] is ResNeXt1d and COMPARATORS["resnest"] is ResNeSt1d
    with pytest.raises(ValueError, match="builds 'resnext'"):
        ResNeXt1d(network_config("tiny", "resnest"))
    with pytest.raises(ValueError, match="builds 'resnest'"):
        ResNeSt1d(MODEL_SIZES["tiny"])


@pytest.mark.parametrize("size", sorted(MODEL_SIZES))
def test_resnext_middle_convolutions_have_cardinality_groups(size: str) -> None:
    config = network_config(size, "resnext")
    model = build_network(config)
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == len(config.stage_channels) * config.blocks_per_stage
    for block in blocks:
        conv = block.middle[0]
        assert isinstance(conv, nn.Conv1d)
        assert conv.groups == config.cardinality
        assert conv.kernel_size == (config.block_kernel,)
        assert conv.in_channels % config.cardinality == 0 and conv.in_channels // config.cardinality >= 2
    # Only the middle convolutions are grouped; the first one takes all 12 leads as its input channels.
    assert model.stem[0].in_channels == 12
    assert {m.groups for m in model.modules() if isinstance(m, nn.Conv1d)} == {1, config.cardinality}


@pytest.mark.parametrize("size", sorted(MODEL_SIZES))
def test_resnest_middle_convolutions_are_split_attention(size: str) -> None:
    config = network_config(size, "resnest")
    attention = [m for m in build_network(config).modules() if isinstance(m, SplitAttention)]
    assert len(attention) == len(config.stage_channels) * config.blocks_per_stage
    for module in attention:
        assert module.conv.groups == config.radix * config.cardinality
        assert module.conv.out_channels == config.radix * module.channels


@pytest.mark.parametrize(("radix", "cardinality"), [(2, 1), (3, 2), (4, 4)])
def test_split_attention_weights_sum_to_one_over_the_radix(radix: int, cardinality: int) -> None:
    torch.manual_seed(0)
    module = SplitAttention(channels=48, kernel=5, stride=1, radix=radix, cardinality=cardinality, reduction=4)
    weights = module.attention(torch.randn(6, 48) * 3)
    assert weights.shape == (6, radix, 48)
    assert (weights > 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(6, 48))


def test_split_attention_with_radix_one_is_a_sigmoid_gate() -> None:
    torch.manual_seed(0)
    module = SplitAttention(channels=8, kernel=3, stride=1, radix=1, cardinality=1, reduction=4)
    pooled = torch.randn(3, 8)
    expected = torch.sigmoid(module.fc2(F.relu(module.fc1(pooled[:, :, None]))))[:, None, :, 0]
    torch.testing.assert_close(module.attention(pooled), expected)


def test_split_attention_weights_the_splits_of_their_own_cardinal_group() -> None:
    """Attention logits favouring split 1 in cardinal group 0 and split 0 in group 1 select exactly those maps."""
    torch.manual_seed(0)
    module = SplitAttention(channels=4, kernel=3, stride=1, radix=2, cardinality=2, reduction=1).eval()
    with torch.no_grad():
        module.fc2.weight.zero_()
        # fc2's output is grouped by cardinal group, each ordered (radix, channel of the group).
        module.fc2.bias.copy_(torch.tensor([-50.0, -50.0, 50.0, 50.0, 50.0, 50.0, -50.0, -50.0]))
    x = torch.randn(2, 4, 30)
    with torch.inference_mode():
        splits = module.relu(module.norm(module.conv(x))).view(2, 2, 4, 30)  # (batch, radix, channel, time)
        output = module(x)
    torch.testing.assert_close(output[:, :2], splits[:, 1, :2])
    torch.testing.assert_close(output[:, 2:], splits[:, 0, 2:])


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("size", sorted(MODEL_SIZES))
def test_parameters_and_flops_match_msse(architecture: str, size: str) -> None:
    msse_parameters, msse_flops = size_of(size, "msse")
    parameters, flops = size_of(size, architecture)
    assert parameters == pytest.approx(msse_parameters, rel=MATCH_TOLERANCE)
    assert flops == pytest.approx(msse_flops, rel=MATCH_TOLERANCE)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("size", sorted(MODEL_SIZES))
def test_the_head_is_msse_s(architecture: str, size: str) -> None:
    config, msse = network_config(size, architecture), MODEL_SIZES[size]
    for name in ("hidden_units", "dropout", "ecg_measurements", "record_path", "num_classes"):
        assert getattr(config, name) == getattr(msse, name)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_state_dict_round_trip_gives_the_same_outputs(architecture: str) -> None:
    model = with_batch_norm_statistics(tiny(architecture, seed=0), seed=1).eval()
    restored = tiny(architecture, seed=2).eval()
    x = inputs(3)
    with torch.inference_mode():
        expected = model(*x)
        assert not torch.allclose(restored(*x), expected)
        restored.load_state_dict(model.state_dict())
        torch.testing.assert_close(restored(*x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_training_step_gives_finite_gradients_and_lowers_the_loss(architecture: str) -> None:
    model = tiny(architecture).train()
    signals, features = inputs(8)
    targets = (torch.rand(8, 24, generator=torch.Generator().manual_seed(3)) < 0.2).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for step in range(8):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(signals, features), targets)
        loss.backward()
        if step == 0:
            for name, parameter in model.named_parameters():
                assert parameter.grad is not None, name
                assert torch.isfinite(parameter.grad).all(), name
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize(("batch", "length"), [(1, WINDOW_SAMPLES), (1, 2500), (3, 5001), (2, 7500)])
def test_other_batch_sizes_and_recording_lengths(architecture: str, batch: int, length: int) -> None:
    model = tiny(architecture).eval()
    with torch.inference_mode():
        logits = model(*inputs(batch, length))
    assert logits.shape == (batch, 24)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_batch_of_one_in_eval_mode_is_the_same_as_in_a_batch(architecture: str) -> None:
    model = with_batch_norm_statistics(tiny(architecture), seed=4).eval()
    x, features = inputs(3)
    with torch.inference_mode():
        together = model(x, features)
        alone = torch.cat([model(x[i : i + 1], features[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(alone, together, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_under_bfloat16_autocast(architecture: str) -> None:
    model = with_batch_norm_statistics(tiny(architecture), seed=5)
    x = inputs(2)
    with torch.inference_mode():
        reference = model.eval()(*x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(*x)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(logits.float(), reference, rtol=0.1, atol=0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # and training: a backward pass through bfloat16
        model.train()(*x).float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
