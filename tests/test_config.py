"""The recipe as data: saved configurations read back exactly, unknown settings refused, no torch to parse options."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from dataclasses import asdict

import pytest
from trained_model import REPOSITORY

from ecg12.config import MAX_SEED, MODEL_SIZES, OPTIONS, ModelConfig, TrainConfig


def test_a_saved_training_configuration_reads_back_exactly() -> None:
    config = TrainConfig(model_size="tiny", epochs=3, learning_rate=1e-3, amp=False, deterministic=True)
    assert TrainConfig.from_dict(asdict(config)) == config
    older = {key: value for key, value in asdict(config).items() if key != "deterministic"}
    assert TrainConfig.from_dict(older).deterministic is False  # a setting added since takes its default
    before_the_metric_loss = {key: value for key, value in asdict(config).items() if key != "metric_loss"}
    assert config.metric_loss == 0.5 and TrainConfig.from_dict(before_the_metric_loss).metric_loss == 0.0
    before_the_measurement_model = {key: value for key, value in asdict(config).items() if key != "measurement_model"}
    assert config.measurement_model and not TrainConfig.from_dict(before_the_measurement_model).measurement_model
    saved_model = {key: value for key, value in config.model_config().to_dict().items() if key != "measurement_model"}
    assert not ModelConfig.from_dict(saved_model).measurement_model  # a model of format 2 or 3 has none


def test_an_unknown_key_in_a_saved_configuration_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown training configuration keys: colour, flavour"):
        TrainConfig.from_dict({**asdict(TrainConfig()), "flavour": 1, "colour": 2})


def test_the_paper_recipe_is_the_papers_method() -> None:
    paper = TrainConfig.for_recipe("paper")
    assert paper.recipe == "paper" and paper.departures() == {}
    model = paper.model_config()
    assert not model.ecg_measurements and not model.record_path and model.architecture == "msse"
    assert not model.measurement_model and not model.baseline_filter  # the paper has no denoising
    assert not model.criteria  # nor a criterion layer
    assert model.num_record_features == 4  # age, "age unknown", male, female
    assert paper.class_count_floor == 2.0 and paper.hard_example_fraction == 0.7 and paper.metric_loss == 0.0
    assert paper.decision_rule == "patch-fraction" and paper.window_stride == 5000
    assert paper.noise_std > 0 and paper.max_shift > 0  # the paper's random shift and Gaussian noise
    default = TrainConfig()
    assert default.recipe == "default"
    assert default.model_config() == dataclasses.replace(MODEL_SIZES["paper"], measurement_model=True, criteria=True)
    changed = TrainConfig.for_recipe("paper", seed=4, hard_example_fraction=1.0, device="cpu", cache_dir="/tmp/c")
    assert changed.departures() == {"seed": 4, "hard_example_fraction": 1.0}
    assert TrainConfig.from_dict(asdict(changed)) == changed  # the recipe and every value are saved
    with pytest.raises(ValueError, match="unknown recipe 'papers'"):
        TrainConfig.for_recipe("papers")


def test_an_unknown_architecture_or_size_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown architecture 'vgg' .*msse, resnext, resnest"):
        TrainConfig(architecture="vgg")
    with pytest.raises(ValueError, match="unknown model size 'huge'"):
        TrainConfig(model_size="huge")
    for architecture in ("msse", "resnext", "resnest"):
        assert TrainConfig(architecture=architecture, model_size="tiny").model_config().architecture == architecture


def test_model_configurations_read_back_from_json_lists() -> None:
    for config in MODEL_SIZES.values():
        as_json = {key: list(value) if isinstance(value, tuple) else value for key, value in config.to_dict().items()}
        assert ModelConfig.from_dict(as_json) == config


@pytest.mark.parametrize(
    "script", ["train_model.py", "driver.py", "cross_validate.py", "evaluate_model.py", "table1.py"]
)
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


FLOAT_SETTINGS = [field.name for field in dataclasses.fields(TrainConfig) if isinstance(field.default, float)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("setting", FLOAT_SETTINGS)
def test_every_number_of_the_recipe_is_finite_and_a_refusal_names_its_option(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{OPTIONS[setting]} must be a finite number, not {value}$"):
        TrainConfig(**{setting: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("setting", "value", "option"),
    [("seed", -1, "--seed"), ("seed", MAX_SEED + 1, "--seed"), ("warmup_epochs", -0.5, "--warmup-epochs")],
)
def test_out_of_range_settings_are_refused_by_their_option(setting: str, value: float, option: str) -> None:
    with pytest.raises(ValueError, match=f"^{option} must "):
        TrainConfig(**{setting: value})  # type: ignore[arg-type]
    assert TrainConfig(seed=MAX_SEED).seed == MAX_SEED


def test_every_setting_but_none_has_its_option() -> None:
    assert set(OPTIONS) == {field.name for field in dataclasses.fields(TrainConfig)}
    assert len(set(OPTIONS.values())) == len(OPTIONS)
