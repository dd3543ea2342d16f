"""Command-line options shared by the scripts (train_model.py, cross_validate.py, driver.py, report.py)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields

from ecg12.config import ARCHITECTURES, DEVICE_CHOICES, MODEL_SIZES, OPTIONS, RECIPES, RULE_CHOICES, TrainConfig

INTERRUPTED = 130  # the exit status of a command ended by Ctrl-C: the shell's for a process ended by SIGINT (128 + 2)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help keeps the scripts' docstrings as written and shows every option's default."""


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training recipe's options, each stored under its TrainConfig field's name and only when given, so that
    the recipe (--recipe) supplies the rest; the help gives each default and, where it differs, the paper's."""
    recipe = parser.add_argument_group("recipe")
    recipe.add_argument(
        OPTIONS["recipe"],
        choices=sorted(RECIPES),
        default="default",
        help="the starting values of the options below: default (this project's, docs/model.md) or paper (the "
        "paper's method exactly); options given explicitly replace the recipe's values (both saved in the model)",
    )
    option = _recipe_option(recipe)
    option("model_size", choices=sorted(MODEL_SIZES))
    option("architecture", choices=ARCHITECTURES, help="msse: the paper's; the Table 1 comparators")
    option("epochs", type=int)
    option("batch_size", type=int)
    option(
        "min_epoch_windows",
        type=int,
        help="minimum training windows per epoch (small data sets are passed over several times)",
    )
    option("learning_rate", type=float, help="peak learning rate")
    option("weight_decay", type=float, help="AdamW's decoupled weight decay")
    option("warmup_epochs", type=float, help="linear warm-up of the learning rate, in epochs")
    option("patience", type=int, help="early-stopping patience (epochs)")
    option("validation_fraction", type=float)
    option(
        "members",
        type=int,
        help="fold models averaged at inference: K > 1 trains K networks, each validated on a different 1/K "
        "of the data (instead of --val-fraction)",
    )
    option(
        "class_count_floor",
        type=float,
        help="class weights are 1/ln(max(N_c, floor)) for N_c training positives",
    )
    option(
        "hard_example_fraction",
        type=float,
        help="fraction of each batch's per-sample losses kept, the largest (hard example mining; 1: off)",
    )
    option(
        "mask_unlabelled_classes",
        action=argparse.BooleanOptionalAction,
        help="leave out of the loss (and the measurement model's fit) the classes a recording's 2020 database was "
        "not annotated with (class table)",
    )
    option(
        "metric_loss",
        type=float,
        help="weight of 1 - the batch's soft Challenge metric added to the loss (0: off)",
    )
    option("noise_std", type=float, help="standard deviation (mV) of the Gaussian noise added in training")
    option("max_shift", type=int, help="samples a training window may start before or after the recording")
    option("gain_std", type=float, help="log-normal gain of each training window: sd of its logarithm")
    option("lead_gain_std", type=float, help="log-normal gain of each lead on top: sd of its logarithm")
    option("baseline_wander", type=float, help="largest 0.05-0.5 Hz wander added to a lead (mV)")
    option("mains_noise", type=float, help="largest 50/60 Hz interference added to a lead (mV)")
    option(
        "window_stride",
        type=int,
        help="samples between the 10 s windows of validation and classification (5000: windows side by side)",
    )
    option(
        "ecg_measurements",
        action=argparse.BooleanOptionalAction,
        help="give the head the 19 ECG measurements beside age and sex",
    )
    option(
        "record_path",
        action=argparse.BooleanOptionalAction,
        help="a linear path from the record features straight to the logits",
    )
    option(
        "measurement_model",
        action=argparse.BooleanOptionalAction,
        help="average the network with a logistic regression on the record features at inference",
    )
    option(
        "baseline_filter",
        action=argparse.BooleanOptionalAction,
        help="subtract each lead's 1 s moving average from the windows before the network (baseline wander)",
    )
    option(
        "criteria",
        action=argparse.BooleanOptionalAction,
        help="add the textbook criteria's evidence (heart rate < 60 bpm, PR > 200 ms, QRS >= 120 ms, axis...) to "
        "the logits of the classes they define (docs/model.md)",
    )
    option(
        "decision_rule",
        choices=RULE_CHOICES,
        help="auto: per-class thresholds from 1,000 validation recordings, else max-fraction; max-fraction: max/5 "
        "on the recording's probabilities; patch-fraction: max/5 on each patch, the union; tuned-fraction: "
        "max-fraction with the fraction tuned on the validation outputs",
    )
    option("device", help=DEVICE_CHOICES)
    option(
        "amp",
        action=argparse.BooleanOptionalAction,
        help="mixed precision on a GPU, bfloat16 where it has it, else float16 (--no-amp: float32)",
    )
    option(
        "deterministic",
        action=argparse.BooleanOptionalAction,
        help="only reproducible kernels on a GPU, for exact reruns (slower; the CPU is always reproducible)",
    )
    option("seed", type=int)
    option("workers", type=int, help="DataLoader workers (-1: auto)")
    option("cache_dir", help="signal cache root (empty: $ECG12_CACHE or ~/.cache/ecg12)")


def _recipe_option(group: argparse._ArgumentGroup) -> Callable[..., None]:
    """Adds the option of TrainConfig field ``field`` (its name in OPTIONS), stored only when given; its help ends
    with the default's value and the paper recipe's where that differs."""
    default, paper = TrainConfig(), TrainConfig.for_recipe("paper")

    def option(field: str, help: str = "", **kwargs: object) -> None:
        value, paper_value = getattr(default, field), getattr(paper, field)
        shown = f"default: {value!r}" + (f"; paper recipe: {paper_value!r}" if paper_value != value else "")
        text = f"{help} ({shown})" if help else f"({shown})"
        group.add_argument(OPTIONS[field], dest=field, default=argparse.SUPPRESS, help=text, **kwargs)  # type: ignore[arg-type]

    return option


def training_config(arguments: argparse.Namespace) -> TrainConfig:
    """The recipe of ``arguments.recipe`` with every training option that was given."""
    given = {f.name: getattr(arguments, f.name) for f in fields(TrainConfig) if hasattr(arguments, f.name)}
    given.pop("recipe", None)
    return TrainConfig.for_recipe(getattr(arguments, "recipe", "default"), **given)


def add_threads_argument(parser: argparse.ArgumentParser, spare_core_for: str = "") -> None:
    """``--threads N``, torch's CPU threads; 0, the default, is one per core (torch's own count), less one core
    where the command keeps one busy beside the network: ``spare_core_for`` says with what."""
    rule = (
        f" less one, the core that {spare_core_for} (at least 1)"
        if spare_core_for
        else " (1 is faster on a busy machine)"
    )
    parser.add_argument("--threads", type=int, default=0, help=f"CPU threads for torch; 0: one per core{rule}")
    parser.set_defaults(spare_cores=1 if spare_core_for else 0)


def apply_threads(arguments: argparse.Namespace) -> None:
    """Give torch the threads that ``--threads`` asks for (:func:`add_threads_argument`)."""
    import torch  # here, not at the top: parsing the arguments (--help) must not wait for torch

    if arguments.threads > 0:
        torch.set_num_threads(arguments.threads)
    elif arguments.spare_cores:
        torch.set_num_threads(max(torch.get_num_threads() - arguments.spare_cores, 1))


def rerun_command(script: str, argv: Sequence[str], *extra: str) -> str:
    """The shell command that runs ``script`` (the calling script's ``__file__``) again with its arguments ``argv``,
    less --resume and --overwrite, and ``extra``: the script named as it was started (``sys.argv[0]``, relative
    to the same working folder as the arguments), or by its full path where it was not started itself."""
    started = sys.argv[0] if sys.argv else ""
    try:
        invoked = started if started and os.path.samefile(started, script) else os.path.abspath(script)
    except OSError:
        invoked = os.path.abspath(script)
    options = [option for option in argv if option not in ("--resume", "--overwrite")]
    return shlex.join([sys.executable, invoked, *options, *extra])
