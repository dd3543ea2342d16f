"""Compute devices: which one to use, mixed precision, reproducibility settings and the device's random state.

Everything that differs between the CPU and a CUDA GPU is decided here, so that the training and
inference code has a single path: tensors go to ``device``, the forward pass runs under
:func:`autocast` with the dtype of :func:`autocast_dtype`, and random numbers that must be on the
device come from :func:`random_generator`.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch

from ecg12.config import DEVICE_CHOICES


class DeviceError(ValueError):
    """A device that cannot be used here: an unknown name, CUDA asked for where there is none, or one that cannot
    compute (``meta``, a backend this build of torch lacks)."""


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> the first CUDA GPU when there is one, else the CPU; 'cpu', 'cuda', 'cuda:1' as given, if usable:
    checked by computing on it, so that a device refused here is refused before any recording is read."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise DeviceError(f"unknown device {name!r}: use {DEVICE_CHOICES}") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build of torch" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise DeviceError(f"device {name!r} requested, but CUDA is not available here ({build}): use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} requested, but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    try:  # a device torch knows by name may still not compute: meta tensors hold no data, others need their build
        computes = (torch.ones(2, device=device) * 2).sum().item() == 4
    except Exception as error:  # each backend fails in its own way (RuntimeError, NotImplementedError, ...)
        raise DeviceError(
            f"device {name!r} cannot compute here ({type(error).__name__}): use {DEVICE_CHOICES}"
        ) from error
    if not computes:
        raise DeviceError(f"device {name!r} computed 2 + 2 wrong: use {DEVICE_CHOICES}")
    return device


def autocast_dtype(device: torch.device, enabled: bool = True) -> torch.dtype | None:
    """The mixed-precision dtype for training on ``device``, or None for full precision.

    bfloat16 where the GPU supports it (Ampere and newer): float32's range, so no loss scaling is
    needed; float16 with a gradient scaler on older GPUs. The CPU trains in float32: its bfloat16
    kernels are slower than float32 ones on most processors.
    """
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[object]:
    """Mixed precision with ``dtype`` on ``device``; nothing at all when ``dtype`` is None."""
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def gradient_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """Loss scaling, enabled only for float16 (its small range lets small gradients underflow to zero)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def configure_reproducibility(device: torch.device, deterministic: bool) -> None:
    """Fast kernels (cuDNN's autotuner) by default; with ``deterministic``, only reproducible kernels.

    cuDNN's autotuner times several convolution algorithms and keeps the fastest, which may differ
    from run to run and sum in a different order, so two runs with one seed differ in the last
    bits and then drift apart. ``deterministic`` turns it off and asks torch for deterministic
    kernels; an operation that has none warns (``warn_only``) instead of stopping a long run.
    cuBLAS needs its workspace setting before its first use, hence the environment variable.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic


def random_generator(device: torch.device, seed: int) -> torch.Generator:
    """A random generator on ``device`` seeded with ``seed``, so that noise is drawn where it is used."""
    return torch.Generator(device=device).manual_seed(seed)


def device_random_state(device: torch.device) -> torch.Tensor | None:
    """The global random state of a CUDA device (dropout draws from it), or None on the CPU."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def restore_device_random_state(device: torch.device, state: torch.Tensor | None) -> None:
    """Restore :func:`device_random_state`; a state saved on another kind of device is not restored."""
    if device.type == "cuda" and state is not None:
        torch.cuda.set_rng_state(state, device)
