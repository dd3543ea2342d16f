#!/usr/bin/env python
"""Train a model: python train_model.py DATA MODEL [options]  (defaults: the recipe of docs/model.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecg12.cli import (
    INTERRUPTED,
    HelpFormatter,
    add_threads_argument,
    add_training_arguments,
    apply_threads,
    rerun_command,
    training_config,
)
from ecg12.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("data", help="folder of Challenge recordings (.hea + .mat)")
    parser.add_argument("model", help="folder to write the model into")
    add_training_arguments(parser)
    add_threads_argument(parser)
    parser.add_argument(
        "--member",
        type=int,
        metavar="I",
        help="with --members K: train fold model I only (members at once, one per GPU; then --resume assembles them)",
    )
    run = parser.add_mutually_exclusive_group()
    run.add_argument("--resume", action="store_true", help="continue the interrupted run in MODEL")
    run.add_argument("--overwrite", action="store_true", help="replace the model already in MODEL with a new run")
    arguments = parser.parse_args(argv)
    apply_threads(arguments)
    from team_code import training_code  # only now: torch takes seconds to import, --help and usage errors don't

    try:
        training_code(
            arguments.data,
            arguments.model,
            training_config(arguments),
            resume=arguments.resume,
            overwrite=arguments.overwrite,
            member=arguments.member,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"train_model.py: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a full disk, a folder that cannot be written: the model folder keeps complete files
        where = f"{error.filename}: " if error.filename else ""
        print(f"train_model.py: {where}{error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        resumable = getattr(interrupt, "resumable", False)  # a TrainingInterrupted, unless before training began
        print(f"train_model.py: {interrupted_advice(Path(arguments.model), argv, resumable)}", file=sys.stderr)
        return INTERRUPTED
    return 0


def interrupted_advice(model: Path, argv: list[str], resumable: bool) -> str:
    """What to do after Ctrl-C: the command that continues the run, if it has a complete epoch to continue from."""
    if not resumable:
        return "interrupted before the first epoch was complete: nothing to resume; run the same command again"
    command = rerun_command(__file__, argv, "--resume")
    return f"interrupted; the last complete epoch is saved in {model}; continue with: {command}"


if __name__ == "__main__":
    sys.exit(main())
