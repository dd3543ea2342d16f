"""The shared training options reach the training recipe."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ecg12.cli import add_threads_argument, add_training_arguments, apply_threads, training_config
from ecg12.config import OPTIONS, TrainConfig

REPOSITORY = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    return training_config(parser.parse_args(list(argv)))


def test_defaults_are_the_recipe_defaults() -> None:
    assert parse() == TrainConfig()


def test_every_option_reaches_its_field() -> None:
    config = parse(
        *("--model-size", "tiny", "--epochs", "7", "--batch-size", "4", "--epoch-windows", "64"),
        *("--lr", "0.01", "--patience", "3", "--val-fraction", "0.3", "--members", "2"),
        *("--class-count-floor", "10", "--hard-examples", "0.5", "--decision-rule", "tuned-fraction"),
        *("--device", "cpu", "--no-amp", "--deterministic", "--seed", "5", "--workers", "0", "--cache-dir", "/tmp/c"),
    )
    assert config == TrainConfig(
        model_size="tiny",
        epochs=7,
        batch_size=4,
        min_epoch_windows=64,
        learning_rate=0.01,
        patience=3,
        validation_fraction=0.3,
        members=2,
        class_count_floor=10.0,
        hard_example_fraction=0.5,
        decision_rule="tuned-fraction",
        device="cpu",
        amp=False,
        deterministic=True,
        seed=5,
        workers=0,
        cache_dir="/tmp/c",
    )


def test_the_paper_recipe_and_options_given_on_top_of_it() -> None:
    assert parse("--recipe", "paper") == TrainConfig.for_recipe("paper")
    config = parse("--recipe", "paper", "--hard-examples", "1", "--ecg-measurements", "--architecture", "resnext")
    assert config.departures() == {"hard_example_fraction": 1.0, "ecg_measurements": True, "architecture": "resnext"}
    assert not config.record_path  # still the paper's


def test_every_recipe_option_reaches_its_field() -> None:
    config = parse(
        *("--weight-decay", "0.01", "--warmup-epochs", "2", "--noise", "0", "--max-shift", "0"),
        *("--window-stride", "2500", "--no-ecg-measurements", "--no-record-path", "--decision-rule", "patch-fraction"),
        *("--gain", "0.2", "--lead-gain", "0.1", "--baseline-wander", "0.3", "--mains-noise", "0.02"),
        *("--metric-loss", "0.5", "--architecture", "resnest", "--mask-unlabelled-classes", "--no-measurement-model"),
        "--baseline-filter",
    )
    assert config == TrainConfig(
        weight_decay=0.01,
        warmup_epochs=2.0,
        noise_std=0.0,
        max_shift=0,
        window_stride=2500,
        ecg_measurements=False,
        record_path=False,
        decision_rule="patch-fraction",
        gain_std=0.2,
        lead_gain_std=0.1,
        baseline_wander=0.3,
        mains_noise=0.02,
        metric_loss=0.5,
        architecture="resnest",
        mask_unlabelled_classes=True,
        measurement_model=False,
        baseline_filter=True,
    )


def test_an_impossible_option_is_refused() -> None:
    with pytest.raises(ValueError, match="hard_example_fraction"):
        parse("--hard-examples", "1.5")


def test_each_setting_is_the_option_its_messages_name() -> None:
    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    destinations = {flag: action.dest for action in parser._actions for flag in action.option_strings}
    assert {field: destinations[flag] for field, flag in OPTIONS.items()} == {field: field for field in OPTIONS}


@pytest.mark.parametrize("spare_core_for", ["", "prepares the next recordings"])
def test_threads_zero_is_one_per_core_less_the_cores_a_command_keeps_busy(spare_core_for: str) -> None:
    parser = argparse.ArgumentParser()
    add_threads_argument(parser, spare_core_for)
    assert spare_core_for in parser.format_help().replace("\n", " ").replace("  ", " ")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(4)  # as torch starts on a 4-core machine: one per core
        apply_threads(parser.parse_args(["--threads", "0"]))
        assert torch.get_num_threads() == (3 if spare_core_for else 4)
        torch.set_num_threads(1)
        apply_threads(parser.parse_args([]))
        assert torch.get_num_threads() == 1  # never none
        apply_threads(parser.parse_args(["--threads", "3"]))
        assert torch.get_num_threads() == 3  # a number given is the number used
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("script", ["driver.py", "train_model.py", "cross_validate.py", "report.py", "table1.py"])
def test_every_script_describes_threads_zero_by_the_one_rule(script: str) -> None:
    result = subprocess.run(
        [sys.executable, script, "--help"], cwd=REPOSITORY, capture_output=True, text=True, check=True
    )
    assert "--threads THREADS CPU threads for torch; 0: one per core" in " ".join(result.stdout.split())
