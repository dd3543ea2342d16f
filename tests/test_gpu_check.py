"""gpu_check.py, run on CUDA machines: its own logic as a dry run on the CPU, and its answer without CUDA."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from trained_model import REPOSITORY, subprocess_env


def run_check(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "gpu_check.py", *arguments],
        cwd=REPOSITORY,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_the_check_passes_as_a_dry_run_on_the_cpu() -> None:
    """Every step (train, kill, resume, cross-validate, classify twice, compare, score, throughput) on the CPU."""
    result = run_check(
        *("--device", "cpu", "--model-size", "tiny", "--records", "16", "--epoch-windows", "16", "--workers", "0"),
        *("--batch-sizes", "4", "--steps", "1", "--inference-records", "8"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("resume to the end: ok", "cross-validation, 2 folds: ok", "probabilities agree", "score: ok"):
        assert step in result.stdout
    assert "training (tiny network, batch 4):" in result.stdout and "gpu-check PASSED" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.slow
def test_without_cuda_the_check_says_so_and_succeeds() -> None:
    result = run_check()
    assert result.returncode == 0 and "no CUDA device here" in result.stdout
