"""Where in a window a class's output came from: Grad-CAM over leads and time.

Grad-CAM (Selvaraju et al., 2017) weighs the feature maps of a network's last convolutional stage by
the gradient of a class's logit with respect to them (:meth:`~ecg12.network.ECGNetwork.last_feature_maps`).
In :class:`~ecg12.model.MultiScaleSENet` the
leads stay separate rows up to the pooling, and the head has a weight for every (channel, lead)
pair, so the weights here are per channel *and lead*: the gradient averaged over time only. The map
of one branch is then ``sum over channels of weight x activation`` at every (lead, time) position;
the maps of both branches (and, for a fold ensemble, of every member, through the gradient of the
ensemble's own output) are added before the ReLU keeps the evidence for the class, and the coarse
map (the last stage runs at 1/16 to 1/64 of 500 Hz) is interpolated to the window's samples. The
Table 1 comparators (ecg12.comparators) mix the leads in their first convolution, so their maps say
when in the window, not in which lead: one map over time, the same for every lead.

The map explains the convolutional path only: the record features (age, sex, heart rate and the
other measurements of :mod:`ecg12.features`) reach the logits beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ecg12.network import ECGNetwork


def grad_cam(
    model: torch.nn.Module, window: np.ndarray, features: np.ndarray, class_indices: Sequence[int]
) -> np.ndarray:
    """(len(class_indices), leads, samples) float32 maps, >= 0, of one (leads, samples) window in mV.

    ``model`` is an :class:`~ecg12.network.ECGNetwork` of any architecture or a
    :class:`~ecg12.model.FoldEnsemble` of them; ``features`` are the recording's record features.
    """
    class_indices = [int(index) for index in class_indices]
    if not class_indices:
        return np.zeros((0, *window.shape), dtype=np.float32)
    layers = [layer for network in _networks(model) for layer in network.last_feature_maps()]
    activations: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: activations.append(out)) for layer in layers]
    device = next(model.parameters()).device
    signal = torch.from_numpy(window[None].astype(np.float32)).to(device)
    side = torch.from_numpy(features[None].astype(np.float32)).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            signal.requires_grad_(True)  # builds the graph even where the weights are frozen
            logits = model(signal, side).float()[0]
            # One forward pass, then a backward pass per class: from the logits to the last stage is only the
            # pooling and the head, so each costs little beside the forward pass through the convolutions.
            gradients = [torch.autograd.grad(logits[index], activations, retain_graph=True) for index in class_indices]
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    leads, samples = window.shape
    maps = np.stack([_class_map(activations, class_gradients, leads, samples) for class_gradients in gradients])
    return np.maximum(maps, 0.0).astype(np.float32)


def _networks(model: torch.nn.Module) -> list[ECGNetwork]:
    """The networks of a network or of a fold ensemble."""
    networks = [module for module in model.modules() if isinstance(module, ECGNetwork)]
    if not networks:
        raise ValueError(f"{type(model).__name__} is not a network of ecg12: nothing to explain")
    return networks


def _class_map(
    activations: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor], leads: int, samples: int
) -> np.ndarray:
    """(leads, samples) signed Grad-CAM of one class: every branch's (and member's) weighted activations added.
    Maps without a lead axis, (channels, T), are the same for every lead."""
    total = np.zeros((leads, samples))
    for activation, gradient in zip(activations, gradients, strict=True):
        maps, grads = activation[0].detach(), gradient[0]
        if maps.dim() == 2:  # (channels, T): the leads mixed
            maps, grads = maps[:, None], grads[:, None]
        weights = grads.mean(dim=2, keepdim=True)  # (channels, leads, 1): per channel and lead
        coarse = (weights * torch.relu(maps)).sum(dim=0)
        total += _stretch(coarse.double().cpu().numpy(), samples)  # broadcast over the leads when it has one row
    return total


def _stretch(coarse: np.ndarray, samples: int) -> np.ndarray:
    """(..., T) values at T evenly spaced positions -> (..., samples), linear between position centres."""
    steps = coarse.shape[-1]
    centres = (np.arange(steps) + 0.5) * samples / steps - 0.5
    positions = np.arange(samples)
    flat = coarse.reshape(-1, steps)
    stretched = np.stack([np.interp(positions, centres, row) for row in flat])
    return stretched.reshape(*coarse.shape[:-1], samples)
