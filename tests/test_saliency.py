"""Grad-CAM saliency (ecg12.saliency): computed from the model, of a fold ensemble's own output."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ecg12.config import MODEL_SIZES, WINDOW_SAMPLES, network_config
from ecg12.model import FoldEnsemble, MultiScaleSENet, build_network
from ecg12.saliency import grad_cam

TINY = MODEL_SIZES["tiny"]


def network(seed: int) -> MultiScaleSENet:
    torch.manual_seed(seed)
    model = MultiScaleSENet(TINY)
    # Running statistics away from their initial 0/1, as after training, so that batch norm is not the identity.
    generator = torch.Generator().manual_seed(seed + 100)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=generator))
            module.running_var.copy_(1.0 + 0.5 * torch.rand(module.num_features, generator=generator))
    return model.eval()


def window(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    time = np.arange(WINDOW_SAMPLES) / 500
    beats = np.exp(-(((time[None, :] % 0.8) - 0.4) ** 2) / 2e-4)  # a spike every 0.8 s
    return (rng.normal(0, 0.05, (12, WINDOW_SAMPLES)) + rng.uniform(0.5, 1.5, (12, 1)) * beats).astype(np.float32)


FEATURES = np.zeros(TINY.num_record_features, dtype=np.float32)


def test_maps_have_the_window_shape_are_non_negative_and_not_empty():
    maps = grad_cam(network(0), window(), FEATURES, [0, 5, 23])
    assert maps.shape == (3, 12, WINDOW_SAMPLES)
    assert maps.dtype == np.float32
    assert (maps >= 0).all() and np.isfinite(maps).all()
    assert (maps.max(axis=(1, 2)) > 0).all()
    assert not np.allclose(maps[0], maps[1])  # each class its own map


def test_the_map_is_computed_from_the_model():
    model = network(0)
    before = grad_cam(model, window(), FEATURES, [3])
    np.testing.assert_array_equal(grad_cam(model, window(), FEATURES, [3]), before)  # same model, same map
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.head[-1].weight.mul_(-1.0)  # the class's logit turned upside down: other evidence raises it
    after = grad_cam(changed, window(), FEATURES, [3])
    assert not np.allclose(after, before, rtol=0.05, atol=1e-6 * before.max())
    retrained = copy.deepcopy(model)
    with torch.no_grad():
        first_convolution = retrained.stem[0]
        first_convolution.weight.add_(0.5 * torch.randn_like(first_convolution.weight))
    assert not np.allclose(grad_cam(retrained, window(), FEATURES, [3]), before, rtol=0.05)


def test_the_map_follows_the_input():
    model = network(1)
    quiet = window()
    quiet[:, 2500:] = 0.0  # the second half of the window flat
    maps = grad_cam(model, window(), FEATURES, [0])
    assert not np.allclose(grad_cam(model, quiet, FEATURES, [0]), maps)


def test_an_ensemble_of_one_network_twice_has_that_networks_map():
    # logit(mean(sigmoid(z), sigmoid(z))) = z: each member's features get half the gradient, and the two halves add.
    member = network(2)
    ensemble = FoldEnsemble([member, copy.deepcopy(member)]).eval()
    alone = grad_cam(member, window(), FEATURES, [4, 7])
    np.testing.assert_allclose(
        grad_cam(ensemble, window(), FEATURES, [4, 7]), alone, rtol=1e-4, atol=1e-6 * alone.max()
    )


def test_an_ensembles_map_explains_its_own_output_not_a_members():
    first, second = network(3), network(4)
    ensemble = FoldEnsemble([first, second]).eval()
    combined = grad_cam(ensemble, window(), FEATURES, [1])
    for member in (first, second):
        assert not np.allclose(combined, grad_cam(member, window(), FEATURES, [1]), rtol=0.05)


def test_no_class_gives_no_map_and_the_model_is_left_as_it_was():
    model = network(5)
    model.train()
    assert grad_cam(model, window(), FEATURES, []).shape == (0, 12, WINDOW_SAMPLES)
    grad_cam(model, window(), FEATURES, [0])
    assert model.training  # restored
    assert all(parameter.grad is None for parameter in model.parameters())  # nothing accumulated for a later step
    assert not any(module._forward_hooks for module in model.modules())  # hooks removed


def test_a_module_that_is_not_a_network_is_refused():
    with pytest.raises(ValueError, match="not a network of ecg12"):
        grad_cam(torch.nn.Linear(2, 2), window(), FEATURES, [0])


@pytest.mark.parametrize("architecture", ["resnext", "resnest"])
def test_a_comparator_gets_one_map_over_time_for_every_lead(architecture: str) -> None:
    torch.manual_seed(0)
    model = build_network(network_config("tiny", architecture)).eval()
    maps = grad_cam(model, window(), FEATURES, [0, 7])
    assert maps.shape == (2, 12, WINDOW_SAMPLES) and (maps >= 0).all() and maps.max() > 0
    np.testing.assert_array_equal(maps[:, :1].repeat(12, axis=1), maps)  # the leads are mixed: one map for all
    assert not np.allclose(maps[0], maps[1])
