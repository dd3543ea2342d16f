"""Command-line options shared by train_model.py and cross_validate.py."""

from __future__ import annotations

import argparse

from ecg12.config import DECISION_RULES, DEVICE_CHOICES, MODEL_SIZES, TrainConfig


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help keeps the scripts' docstrings as written and shows every option's default."""


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training recipe's options; defaults are TrainConfig's (docs/model.md)."""
    defaults = TrainConfig()
    parser.add_argument("--model-size", choices=sorted(MODEL_SIZES), default=defaults.model_size)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument(
        "--epoch-windows",
        type=int,
        default=defaults.min_epoch_windows,
        help="minimum training windows per epoch (small data sets are passed over several times)",
    )
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="peak learning rate")
    parser.add_argument("--patience", type=int, default=defaults.patience, help="early-stopping patience (epochs)")
    parser.add_argument("--val-fraction", type=float, default=defaults.validation_fraction)
    parser.add_argument(
        "--members",
        type=int,
        default=defaults.members,
        help="fold models averaged at inference: K > 1 trains K networks, each validated on a different 1/K "
        "of the data (instead of --val-fraction)",
    )
    parser.add_argument(
        "--class-count-floor",
        type=float,
        default=defaults.class_count_floor,
        help="class weights are 1/ln(max(N_c, floor)) for N_c training positives",
    )
    parser.add_argument(
        "--hard-examples",
        type=float,
        default=defaults.hard_example_fraction,
        help="fraction of each batch's per-sample losses kept, the largest (hard example mining; 1: off)",
    )
    parser.add_argument(
        "--decision-rule",
        choices=DECISION_RULES,
        default=defaults.decision_rule,
        help="auto: per-class thresholds from 1,000 validation recordings, else the paper's max/5 rule; "
        "tuned-fraction: the max-fraction rule with the fraction tuned on the validation outputs",
    )
    parser.add_argument("--device", default=defaults.device, help=DEVICE_CHOICES)
    parser.add_argument(
        "--no-amp",
        dest="amp",
        action="store_false",
        help="train in float32 on a GPU too (default: mixed precision, bfloat16 where the GPU has it, else float16)",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="only reproducible kernels on a GPU, for exact reruns (slower; the CPU is always reproducible)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers, help="DataLoader workers (-1: auto)")
    parser.add_argument("--cache-dir", default=defaults.cache_dir, help="signal cache root (default ~/.cache/ecg12)")


def training_config(arguments: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model_size=arguments.model_size,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        min_epoch_windows=arguments.epoch_windows,
        learning_rate=arguments.lr,
        patience=arguments.patience,
        validation_fraction=arguments.val_fraction,
        members=arguments.members,
        class_count_floor=arguments.class_count_floor,
        hard_example_fraction=arguments.hard_examples,
        decision_rule=arguments.decision_rule,
        device=arguments.device,
        amp=arguments.amp,
        deterministic=arguments.deterministic,
        seed=arguments.seed,
        workers=arguments.workers,
        cache_dir=arguments.cache_dir,
    )


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch; 0: torch's choice, one per core (1 is faster on a busy machine)",
    )


def apply_threads(arguments: argparse.Namespace) -> None:
    import torch  # here, not at the top: parsing the arguments (--help) must not wait for torch

    if arguments.threads > 0:
        torch.set_num_threads(arguments.threads)
