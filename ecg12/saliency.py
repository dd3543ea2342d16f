"""Where in a window a class's output came from: Grad-CAM over leads and time.

Grad-CAM (Selvaraju et al., 2017) weighs the feature maps of a network's last convolutional stage by
the gradient of a class's logit with respect to them. In :class:`~ecg12.model.MultiScaleSENet` the
leads stay separate rows up to the pooling, and the head has a weight for every (channel, lead)
pair, so the weights here are per channel *and lead*: the gradient averaged over time only. The map
of one branch is then ``sum over channels of weight x activation`` at every (lead, time) position;
the maps of both branches (and, for a fold ensemble, of every member, through the gradient of the
ensemble's own output) are added before the ReLU keeps the evidence for the class, and the coarse
map (the last stage runs at 1/16 to 1/64 of 500 Hz) is interpolated to the window's samples.

The map explains the convolutional path only: the record features (age, sex, heart rate and the
other measurements of :mod:`ecg12.features`) reach the logits beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ecg12.model import Branch


def grad_cam(
    model: torch.nn.Module, window: np.ndarray, features: np.ndarray, class_indices: Sequence[int]
) -> np.ndarray:
    """(len(class_indices), leads, samples) float32 maps, >= 0, of one (leads, samples) window in mV.

    ``model`` is a :class:`~ecg12.model.MultiScaleSENet` or a :class:`~ecg12.model.FoldEnsemble` (any
    module whose convolutional features end in :class:`~ecg12.model.Branch` modules); ``features``
    are the recording's record features.
    """
    class_indices = [int(index) for index in class_indices]
    if not class_indices:
        return np.zeros((0, *window.shape), dtype=np.float32)
    branches = [module for module in model.modules() if isinstance(module, Branch)]
    if not branches:
        raise ValueError(f"{type(model).__name__} has no convolutional branches to explain")
    activations: list[torch.Tensor] = []
    # The stage's output after its batch norm: the ReLU of it is what the branch pools.
    hooks = [branch.norm.register_forward_hook(lambda _m, _i, out: activations.append(out)) for branch in branches]
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
    maps = np.stack([_class_map(activations, class_gradients, window.shape[1]) for class_gradients in gradients])
    return np.maximum(maps, 0.0).astype(np.float32)


def _class_map(activations: Sequence[torch.Tensor], gradients: Sequence[torch.Tensor], samples: int) -> np.ndarray:
    """(leads, samples) signed Grad-CAM of one class: every branch's (and member's) weighted activations added."""
    total = np.zeros((activations[0].shape[2], samples))
    for activation, gradient in zip(activations, gradients, strict=True):
        weights = gradient[0].mean(dim=2, keepdim=True)  # (channels, leads, 1): per channel and lead
        coarse = (weights * torch.relu(activation[0].detach())).sum(dim=0)
        total += _stretch(coarse.double().cpu().numpy(), samples)
    return total


def _stretch(coarse: np.ndarray, samples: int) -> np.ndarray:
    """(..., T) values at T evenly spaced positions -> (..., samples), linear between position centres."""
    steps = coarse.shape[-1]
    centres = (np.arange(steps) + 0.5) * samples / steps - 0.5
    positions = np.arange(samples)
    flat = coarse.reshape(-1, steps)
    stretched = np.stack([np.interp(positions, centres, row) for row in flat])
    return stretched.reshape(*coarse.shape[:-1], samples)
