#!/usr/bin/env python
"""Train a model: python train_model.py DATA MODEL [options]  (see --help; defaults are the paper's recipe)."""

from __future__ import annotations

import argparse
import sys

from ecg12.logs import configure_logging
from ecg12.model import MODEL_SIZES
from ecg12.training import TrainConfig
from team_code import training_code


def parse_arguments(argv: list[str] | None = None) -> tuple[argparse.Namespace, TrainConfig]:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", help="folder of Challenge recordings (.hea + .mat)")
    parser.add_argument("model", help="folder to write the model into")
    parser.add_argument("--model-size", choices=sorted(MODEL_SIZES), default=defaults.model_size)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate, help="peak learning rate")
    parser.add_argument("--patience", type=int, default=defaults.patience, help="early-stopping patience (epochs)")
    parser.add_argument("--val-fraction", type=float, default=defaults.validation_fraction)
    parser.add_argument("--decision-rule", choices=["max-fraction", "per-class"], default=defaults.decision_rule)
    parser.add_argument("--device", default=defaults.device, help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers, help="DataLoader workers (-1: auto)")
    parser.add_argument("--cache-dir", default=defaults.cache_dir, help="signal cache root (default ~/.cache/ecg12)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in MODEL")
    arguments = parser.parse_args(argv)
    config = TrainConfig(
        model_size=arguments.model_size,
        epochs=arguments.epochs,
        batch_size=arguments.batch_size,
        learning_rate=arguments.lr,
        patience=arguments.patience,
        validation_fraction=arguments.val_fraction,
        decision_rule=arguments.decision_rule,
        device=arguments.device,
        seed=arguments.seed,
        workers=arguments.workers,
        cache_dir=arguments.cache_dir,
    )
    return arguments, config


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    arguments, config = parse_arguments(argv)
    try:
        training_code(arguments.data, arguments.model, config, resume=arguments.resume)
    except (ValueError, FileNotFoundError) as error:
        print(f"train_model.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
