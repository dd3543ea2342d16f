"""The recipe as data: saved configurations read back exactly, unknown settings refused, no torch to parse options."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict

import pytest
from trained_model import REPOSITORY

from ecg12.config import MODEL_SIZES, ModelConfig, TrainConfig


def test_a_saved_training_configuration_reads_back_exactly() -> None:
    config = TrainConfig(model_size="tiny", epochs=3, learning_rate=1e-3, amp=False, deterministic=True)
    assert TrainConfig.from_dict(asdict(config)) == config
    older = {key: value for key, value in asdict(config).items() if key != "deterministic"}
    assert TrainConfig.from_dict(older).deterministic is False  # a setting added since takes its default


def test_an_unknown_key_in_a_saved_configuration_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown training configuration keys: colour, flavour"):
        TrainConfig.from_dict({**asdict(TrainConfig()), "flavour": 1, "colour": 2})


def test_model_configurations_read_back_from_json_lists() -> None:
    for config in MODEL_SIZES.values():
        as_json = {key: list(value) if isinstance(value, tuple) else value for key, value in config.to_dict().items()}
        assert ModelConfig.from_dict(as_json) == config


@pytest.mark.parametrize("script", ["train_model.py", "driver.py", "cross_validate.py", "evaluate_model.py"])
def test_option_parsing_does_not_import_torch(script: str) -> None:
    """--help (and any usage error) answers at once: torch, which takes seconds to import, is not loaded."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = [{script!r}, '--help']\n"
        "try:\n"
        f"    runpy.run_path({script!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch loaded' if 'torch' in sys.modules else 'torch not loaded', file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=True
    )
    assert "--help" in result.stdout and "(default:" in result.stdout  # --help shows the defaults
    assert result.stderr.strip().endswith("torch not loaded")
