"""Networks for the tests: batch norms with statistics and affine parameters that do something."""

from __future__ import annotations

import torch
from torch import nn


def with_batch_norm_statistics(model: nn.Module, seed: int) -> nn.Module:
    """``model`` with every batch norm's running statistics and affine parameters drawn from ``seed``: fresh ones
    are the identity in eval mode, so that folding, round trips and device comparisons would test nothing."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.1)
    return model
