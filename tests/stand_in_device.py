"""A stand-in accelerator for CPU-only tests: catches a tensor on the wrong device the way CUDA would.

Code written for a GPU fails there when one operation mixes a tensor on the GPU with one left in
host memory ("Expected all tensors to be on the same device"). On a CPU-only machine every tensor is
on the CPU, so such a mistake passes every test. This module gives the tests a second device:

* ``torch.device("meta")`` plays the GPU. The code under test receives it like any device
  (``TrainConfig(device="meta")``, ``load_classifier(folder, "meta")``) and moves its tensors there
  with the ordinary ``.to(device)`` and ``device=`` arguments.
* Inside :func:`stand_in_device`, a dispatch mode sees every tensor operation. A tensor moved or
  created on the stand-in device becomes a :class:`StandInTensor`: it reports device ``meta`` but
  keeps real values on the CPU, so the code computes real losses, gradients and probabilities.
* Every operation that involves a stand-in tensor checks its other tensor arguments by CUDA's rule:
  they must be on the stand-in device too, except zero-dimensional host tensors (CUDA accepts those
  as scalars). A violation raises :class:`DeviceMismatch` naming the operation and the shapes.
  Copying back (``.cpu()``) and reading a scalar (``.item()``) work as on a GPU; ``.numpy()`` of a
  device tensor fails as on a GPU.

Why not the bare ``meta`` device: its tensors have no values, so the code cannot run past the first
``.item()`` or ``.cpu().numpy()``; why not a structural check of the source: it would miss a tensor
made by a library (NumPy, a DataLoader) that reaches the device code. The meta device has no random
generator, so :func:`cpu_generator_for_stand_in` stands in for ``ecg12.devices.random_generator``;
the generator's device itself is only checked on a real GPU (``gpu_check.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from ecg12 import classify

STAND_IN = torch.device("meta")
_HOST = torch.device("cpu")


class DeviceMismatch(AssertionError):
    """An operation mixed tensors on the stand-in device with tensors in host memory."""


class StandInTensor(torch.Tensor):
    """A tensor 'on the device' (reports ``meta``) whose values live in a CPU tensor, ``elem``."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor) -> StandInTensor:
        return torch.Tensor._make_wrapper_subclass(  # type: ignore[attr-defined]
            cls,
            elem.size(),
            strides=elem.stride(),
            storage_offset=elem.storage_offset(),
            dtype=elem.dtype,
            layout=elem.layout,
            device=STAND_IN,
            requires_grad=elem.requires_grad,
        )

    def __init__(self, elem: torch.Tensor) -> None:
        self.elem = elem

    def __repr__(self) -> str:
        return f"StandInTensor({self.elem!r})"

    __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]

    @classmethod
    def __torch_dispatch__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return _run(func, args, kwargs or {})


def _requested_device(kwargs: dict[str, Any]) -> torch.device | None:
    device = kwargs.get("device")
    return None if device is None else torch.device(device)


def _run(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    tensors = [leaf for leaf in tree_leaves((args, kwargs)) if isinstance(leaf, torch.Tensor)]
    device_inputs = any(isinstance(t, StandInTensor) for t in tensors)
    if device_inputs:
        strays = [t for t in tensors if not isinstance(t, StandInTensor) and not (t.dim() == 0 and t.device == _HOST)]
        if strays:
            shapes = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in strays)
            raise DeviceMismatch(f"{func}: tensors on the device mixed with host tensors ({shapes})")
    requested = _requested_device(kwargs)
    if requested == STAND_IN:
        kwargs = {**kwargs, "device": _HOST}
    on_device = requested == STAND_IN or (device_inputs and requested != _HOST)
    args, kwargs = tree_map(lambda a: a.elem if isinstance(a, StandInTensor) else a, (args, kwargs))
    result = func(*args, **kwargs)
    if not on_device:
        return result
    return tree_map(lambda r: StandInTensor(r) if isinstance(r, torch.Tensor) else r, result)


class _StandInMode(TorchDispatchMode):
    """Turns tensors moved or created on the stand-in device into :class:`StandInTensor`."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if any(issubclass(t, StandInTensor) for t in types):
            return NotImplemented  # StandInTensor.__torch_dispatch__ handles it
        return _run(func, args, kwargs or {})


def cpu_generator_for_stand_in(device: torch.device, seed: int) -> torch.Generator:
    """Replacement of ``ecg12.devices.random_generator`` under the stand-in (meta has no generator)."""
    assert device == STAND_IN, f"the code asked for a generator on {device}, not on the training device"
    return torch.Generator().manual_seed(seed)


class _ThreadsOnTheStandIn(ThreadPoolExecutor):
    """A thread pool whose threads see the stand-in device too: a dispatch mode is the entering thread's alone, and
    the driver runs its network in a worker thread (ecg12.classify), as it would on a GPU."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, initializer=lambda: _StandInMode().__enter__(), **kwargs)


@contextmanager
def stand_in_device() -> Iterator[torch.device]:
    """Within the block, ``meta`` is a device with real values whose tensors must not meet host tensors."""
    original = classify.ThreadPoolExecutor
    classify.ThreadPoolExecutor = _ThreadsOnTheStandIn  # type: ignore[misc]
    try:
        with _StandInMode():
            yield STAND_IN
    finally:
        classify.ThreadPoolExecutor = original  # type: ignore[misc]
