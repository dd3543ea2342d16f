"""The arithmetic a classifying network runs in: float32, or bfloat16 where the CPU has units for it.

Most current server CPUs have bfloat16 units beside their float32 ones (AVX512-BF16; AMX tiles on Intel's
since Sapphire Rapids), where oneDNN runs convolutions at about twice the float32 rate. bfloat16 keeps float32's
range with 8 bits of mantissa: the convolutions' sums lose digits, and a probability moves by a few thousandths at
most (measured on the shared recordings, docs/performance.md). Only the backbone's convolutions run in it; the
head, the record features' path and the measurement model stay in float32, where a few weights decide a class.

``auto`` (the driver's default) takes bfloat16 only where the CPU has the units, detected rather than assumed:
elsewhere (an AMD CPU without AVX512-BF16, an older Intel one) bfloat16 is emulated and slower than float32. On a
GPU, ``auto`` keeps float32, so that a GPU gives the CPU's float32 probabilities.
"""

from __future__ import annotations

import torch

from ecg12.config import PRECISION_CHOICES, PRECISIONS

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class PrecisionError(ValueError):
    """A precision this device cannot run, or one that does not exist."""


def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX tiles), as torch's cpuinfo reports."""
    for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        supported = getattr(torch.cpu, check, None)  # private in torch: absent in other versions means unknown
        if supported is not None and supported():
            return True
    return False


def resolve_precision(name: str, device: torch.device) -> torch.dtype:
    """The dtype of the backbone's convolutions for ``name`` (one of :data:`PRECISIONS`) on ``device``."""
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r}: use {', '.join(PRECISIONS)} ({PRECISION_CHOICES})")
    if name == "auto":
        fast = device.type == "cpu" and cpu_has_bfloat16_units()
        return torch.bfloat16 if fast else torch.float32
    return _DTYPES[name]


def describe(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``bfloat16``."""
    return str(dtype).removeprefix("torch.")
