"""The network: shapes, kernels shared across leads, squeeze-and-excitation, the paper's kernel sizes, ensembles."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from networks import with_batch_norm_statistics
from torch import nn

from ecg12.config import MODEL_SIZES, ModelConfig
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.model import FoldEnsemble, MultiScaleSENet, ResidualSEBlock, SqueezeExcitation, fold_batch_norms
from ecg12.network import FEATURE_CLIP, remove_baseline


@pytest.fixture
def tiny() -> MultiScaleSENet:
    torch.manual_seed(0)
    return MultiScaleSENet(MODEL_SIZES["tiny"]).eval()


@pytest.mark.parametrize("size", sorted(MODEL_SIZES))
def test_logits_have_one_column_per_class(size: str) -> None:
    model = MultiScaleSENet(MODEL_SIZES[size]).eval()
    with torch.inference_mode():
        logits = model(torch.randn(2, 12, 5000), torch.zeros(2, NUM_RECORD_FEATURES))
    assert logits.shape == (2, 24)
    assert torch.isfinite(logits).all()


def test_every_convolution_is_one_lead_high(tiny: MultiScaleSENet) -> None:
    convolutions = [m for m in tiny.modules() if isinstance(m, nn.Conv2d)]
    assert convolutions
    assert all(conv.kernel_size[0] == 1 and conv.stride[0] == 1 for conv in convolutions)


def test_paper_kernel_sizes() -> None:
    model = MultiScaleSENet(ModelConfig())
    stem = [m for m in model.stem.modules() if isinstance(m, nn.Conv2d)]
    assert [conv.kernel_size[1] for conv in stem] == [50, 15]
    branch_kernels = {
        conv.kernel_size[1]
        for branch in model.branches
        for block in branch.blocks
        for conv in (block.conv1, block.conv2)
    }
    assert branch_kernels == {3, 5}
    assert all(isinstance(block, ResidualSEBlock) for branch in model.branches for block in branch.blocks)


def test_one_kernel_serves_all_leads(tiny: MultiScaleSENet) -> None:
    """Permuting the input leads permutes the per-lead features the same way: one kernel for all leads."""
    x = torch.randn(3, 12, 5000)
    permutation = torch.randperm(12)
    with torch.inference_mode():
        stem = tiny.stem(x.unsqueeze(1))
        stem_permuted = tiny.stem(x[:, permutation].unsqueeze(1))
        torch.testing.assert_close(stem_permuted, stem[:, :, permutation])
        for branch in tiny.branches:
            features = branch(stem).reshape(3, -1, 12)
            features_permuted = branch(stem_permuted).reshape(3, -1, 12)
            torch.testing.assert_close(features_permuted, features[:, :, permutation], rtol=1e-5, atol=1e-5)


def test_leads_do_not_mix_before_pooling(tiny: MultiScaleSENet) -> None:
    """Changing lead V1 leaves the stem output of every other lead untouched."""
    x = torch.randn(1, 12, 5000)
    changed = x.clone()
    changed[0, 6] += torch.randn(5000)
    with torch.inference_mode():
        a, b = tiny.stem(x.unsqueeze(1)), tiny.stem(changed.unsqueeze(1))
    others = [lead for lead in range(12) if lead != 6]
    torch.testing.assert_close(a[:, :, others], b[:, :, others])
    assert not torch.allclose(a[:, :, 6], b[:, :, 6])


def test_squeeze_excitation_rescales_channels_by_sigmoid_of_pooled_input() -> None:
    se = SqueezeExcitation(channels=4, reduction=2)
    first, _, second, _ = se.excite
    with torch.no_grad():
        first.weight.fill_(1.0)
        first.bias.zero_()
        second.weight.zero_()
        second.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 2.0]))
    x = torch.rand(2, 4, 12, 30)
    expected = x * torch.sigmoid(second.bias)[None, :, None, None]
    torch.testing.assert_close(se(x), expected)


def test_squeeze_is_a_global_average_over_leads_and_time() -> None:
    se = SqueezeExcitation(channels=2, reduction=1)
    captured: list[torch.Tensor] = []
    se.excite[0].register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    x = torch.randn(1, 2, 12, 50)
    se(x)
    torch.testing.assert_close(captured[0], x.mean(dim=(2, 3)))


def test_record_features_change_the_output(tiny: MultiScaleSENet) -> None:
    x = torch.randn(1, 12, 5000)
    male, female, faster = torch.zeros(3, NUM_RECORD_FEATURES)
    male[2], female[3], faster[4] = 1.0, 1.0, 1.2  # sex flags; heart rate (first measurement)
    with torch.inference_mode():
        outputs = [tiny(x, features[None]) for features in (male, female, faster)]
    assert not torch.allclose(outputs[0], outputs[1])
    assert not torch.allclose(outputs[0], outputs[2])


def test_without_measurements_the_head_takes_age_and_sex_only() -> None:
    model = MultiScaleSENet(dataclasses.replace(MODEL_SIZES["tiny"], ecg_measurements=False)).eval()
    x, features = torch.randn(1, 12, 5000), torch.zeros(1, NUM_RECORD_FEATURES)
    changed = features.clone()
    changed[0, 4:] = 3.0  # measurements are ignored
    with torch.inference_mode():
        torch.testing.assert_close(model(x, features), model(x, changed))


def test_config_round_trips_through_a_dictionary() -> None:
    config = MODEL_SIZES["small"]
    restored = ModelConfig.from_dict({k: list(v) if isinstance(v, tuple) else v for k, v in config.to_dict().items()})
    assert restored == config


def test_record_features_are_standardised_and_clipped(tiny: MultiScaleSENet) -> None:
    training_features = np.random.default_rng(0).normal(2.0, 3.0, (50, NUM_RECORD_FEATURES))
    tiny.standardize_record_features(training_features)
    used = tiny.config.num_record_features  # the leading entries: the criteria's measurements follow
    np.testing.assert_allclose(tiny.feature_shift.numpy(), training_features.mean(axis=0)[:used], rtol=1e-5)
    x = torch.randn(1, 12, 5000)
    at_the_clip = torch.as_tensor(tiny.feature_shift + FEATURE_CLIP * tiny.feature_scale)[None]
    with torch.inference_mode():
        torch.testing.assert_close(tiny(x, at_the_clip * 1e6), tiny(x, at_the_clip))


def test_fold_ensemble_averages_the_members_probabilities() -> None:
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        members.append(MultiScaleSENet(MODEL_SIZES["tiny"]).eval())
    x, features = torch.randn(2, 12, 5000), torch.rand(2, NUM_RECORD_FEATURES)
    with torch.inference_mode():
        expected = torch.stack([torch.sigmoid(member(x, features)) for member in members]).mean(dim=0)
        assert torch.allclose(torch.sigmoid(FoldEnsemble(members)(x, features)), expected, atol=1e-6)
        single = torch.sigmoid(FoldEnsemble(members[:1])(x, features))
        torch.testing.assert_close(single, torch.sigmoid(members[0](x, features)), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(expected, single, atol=1e-3)  # the members differ, so the average is not member 0


def test_fold_ensemble_members_must_share_one_architecture() -> None:
    with pytest.raises(ValueError, match="one architecture"):
        FoldEnsemble([MultiScaleSENet(MODEL_SIZES["tiny"]), MultiScaleSENet(MODEL_SIZES["small"])])
    with pytest.raises(ValueError, match="at least one"):
        FoldEnsemble([])


@pytest.mark.parametrize("ensemble", [False, True])
def test_folded_batch_norms_give_the_same_logits(ensemble: bool) -> None:
    torch.manual_seed(0)
    members = [with_batch_norm_statistics(MultiScaleSENet(MODEL_SIZES["paper"]), seed).eval() for seed in range(2)]
    model = FoldEnsemble(members).eval() if ensemble else members[0]
    folded = copy.deepcopy(model)
    fold_batch_norms(folded)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    remaining = [m for m in folded.modules() if isinstance(m, nn.BatchNorm2d)]
    blocks = [m for m in model.modules() if isinstance(m, ResidualSEBlock)]
    assert len(remaining) == len(norms) - len(blocks) - len(members if ensemble else members[:1])
    x, features = torch.randn(3, 12, 5000), torch.rand(3, NUM_RECORD_FEATURES)
    with torch.inference_mode():
        expected, logits = model(x, features), folded(x, features)
    assert not torch.equal(logits, expected)  # folded: other arithmetic...
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)  # ...the same logits within float32 rounding


def test_batch_norms_fold_only_with_running_statistics(tiny: MultiScaleSENet) -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(tiny.train())


def test_the_light_filter_removes_baseline_wander_and_keeps_the_waves() -> None:
    time = torch.arange(5000) / 500.0
    wander = 0.8 * torch.sin(2 * torch.pi * 0.15 * time) + 1.5  # breathing and an electrode offset, mV
    qrs_band = 0.5 * torch.sin(2 * torch.pi * 10.0 * time)
    filtered = remove_baseline((wander + qrs_band).repeat(1, 12, 1))[0, 0]
    middle = slice(500, 4500)  # away from the window's ends, where the average sees repeated end samples
    assert (filtered[middle] - qrs_band[middle]).abs().max() < 0.05
    assert remove_baseline(torch.full((1, 12, 5000), 3.0)).abs().max() < 1e-6


def test_a_network_with_the_light_filter_ignores_each_leads_offset() -> None:
    torch.manual_seed(0)
    network = MultiScaleSENet(dataclasses.replace(MODEL_SIZES["tiny"], baseline_filter=True)).eval()
    x, features = torch.randn(2, 12, 5000), torch.rand(2, NUM_RECORD_FEATURES)
    offsets = torch.linspace(-4.0, 4.0, 12)[None, :, None]
    with torch.inference_mode():
        torch.testing.assert_close(network(x + offsets, features), network(x, features), rtol=0, atol=1e-4)
        unfiltered = MultiScaleSENet(MODEL_SIZES["tiny"]).eval()
        unfiltered.load_state_dict(network.state_dict())
        assert (unfiltered(x + offsets, features) - unfiltered(x, features)).abs().max() > 1e-2
