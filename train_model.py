#!/usr/bin/env python
"""Train a model: python train_model.py DATA MODEL [options]  (defaults: the recipe of docs/model.md)."""

from __future__ import annotations

import argparse
import sys

from ecg12.cli import add_threads_argument, add_training_arguments, apply_threads, training_config
from ecg12.logs import configure_logging
from team_code import training_code


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", help="folder of Challenge recordings (.hea + .mat)")
    parser.add_argument("model", help="folder to write the model into")
    add_training_arguments(parser)
    add_threads_argument(parser)
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in MODEL")
    arguments = parser.parse_args(argv)
    apply_threads(arguments)
    try:
        training_code(arguments.data, arguments.model, training_config(arguments), resume=arguments.resume)
    except (ValueError, FileNotFoundError) as error:
        print(f"train_model.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
