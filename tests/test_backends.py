"""Which backend the driver's default takes: the options only torch can do, and GPUs hidden from this process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from trained_model import REPOSITORY, subprocess_env

from ecg12 import precision
from ecg12.backends import cpu_has_bfloat16_units, gpu_visible, torch_only_options


def test_the_options_only_torch_can_do_are_named() -> None:
    assert torch_only_options("auto", "auto", "auto", None) == []
    assert torch_only_options("cpu", "never", "float32", None) == []
    assert torch_only_options("cuda:1", "always", "bfloat16", "reports") == [
        "--device",
        "--compile always",
        "--precision bfloat16",
        "--plots",
    ]


@pytest.mark.parametrize("hidden", ["", "-1", " "])
def test_gpus_hidden_by_cuda_visible_devices_are_not_seen(hidden: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert not gpu_visible()


def test_choosing_a_backend_imports_neither_torch_nor_onnx_runtime() -> None:
    script = "import sys, ecg12.backends\nprint(sorted({'torch', 'onnxruntime'} & set(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=REPOSITORY, env=subprocess_env(), capture_output=True)
    assert done.stdout.decode().strip() == "[]", done.stderr.decode()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="read from Linux's /proc/cpuinfo")
def test_bfloat16_units_are_found_as_torch_finds_them() -> None:
    assert cpu_has_bfloat16_units() == precision.cpu_has_bfloat16_units()
