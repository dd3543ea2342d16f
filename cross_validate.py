#!/usr/bin/env python
"""Cross-validation: python cross_validate.py DATA OUT [--group-by random|source] [--folds 5] [--fold K | --pool] [...].

--group-by random (the default): k multilabel-stratified folds (--folds, 5 by default).
--group-by source: leave-one-source-out, one fold per source database, told by the recording name's
prefix (A and Q: CPSC 2018, S: PTB, HR: PTB-XL, E: Georgia, JS: Chapman-Shaoxing/Ningbo, I: INCART;
another prefix is its own source): each fold is scored by a model that never saw its database.

Writes OUT/foldK/ (models), OUT/outputs/ (out-of-fold Challenge outputs), OUT/cv_scores.csv, OUT/oof.npz,
OUT/grouping.json, OUT/report.md and OUT/class_scores.png, and prints the per-fold, mean, pooled and
per-source scores.

An interrupted run continues with --resume (finished folds are kept). Folds are independent: on a machine
with several GPUs, run one per GPU at once, then pool them (with the same --group-by and --folds):
    python cross_validate.py DATA OUT --fold 1 --device cuda:0 &   (... --fold 5 --device cuda:4 &)
    wait; python cross_validate.py DATA OUT --pool
"""

from __future__ import annotations

import argparse
import sys

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
    parser.add_argument("data", help="folder of Challenge recordings")
    parser.add_argument("output", help="folder for fold models, out-of-fold outputs and the report")
    parser.add_argument(
        "--group-by",
        choices=("random", "source"),
        default="random",
        help="random: multilabel-stratified folds; source: leave-one-source-out, one fold per source database",
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=argparse.SUPPRESS,
        help="the number of folds with --group-by random (default: 5); --group-by source has one per source",
    )
    step = parser.add_mutually_exclusive_group()
    step.add_argument(
        "--fold", type=int, metavar="K", help="run fold K (1 to --folds; with --group-by source, the K-th source) only"
    )
    step.add_argument("--pool", action="store_true", help="score the folds already run (with --fold) together")
    again = parser.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted cross-validation (or fold) in OUT: finished folds are kept",
    )
    again.add_argument("--overwrite", action="store_true", help="replace an earlier cross-validation (or fold) in OUT")
    add_training_arguments(parser)
    add_threads_argument(parser)
    arguments = parser.parse_args(argv)
    if arguments.pool and arguments.resume:
        parser.error("--pool scores the folds as they are: --resume continues folds (give it with --fold K, or alone)")
    apply_threads(arguments)
    from ecg12.crossval import cross_validate, pool_folds, run_fold  # only now: torch takes seconds to import

    config = training_config(arguments)
    folds, group_by = getattr(arguments, "folds", None), arguments.group_by
    try:
        if arguments.fold is not None:
            plan = run_fold(
                arguments.data,
                arguments.output,
                config,
                folds,
                arguments.fold,
                arguments.overwrite,
                group_by=group_by,
                resume=arguments.resume,
            )
            if group_by == "source":
                print(f"folds: {plan.describe()}")
            print(f"{plan.fold_label(arguments.fold - 1)} done; pool the folds with --pool when all are")
            return 0
        if arguments.pool:
            rows = pool_folds(arguments.data, arguments.output, config, folds, group_by=group_by)
        else:
            rows = cross_validate(
                arguments.data,
                arguments.output,
                config,
                folds,
                arguments.overwrite,
                group_by=group_by,
                resume=arguments.resume,
            )
    except (ValueError, FileNotFoundError) as error:
        print(f"cross_validate.py: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"cross_validate.py: {error.filename or arguments.output}: {error.strerror or error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if arguments.pool:
            advice = "run the same command again"
        else:
            command = rerun_command(__file__, argv, "--resume")
            advice = f"the finished folds are kept in {arguments.output}; continue with: {command}"
        print(f"cross_validate.py: interrupted; {advice}", file=sys.stderr)
        return INTERRUPTED
    columns = ["challenge_metric", "auroc", "auprc", "f_measure", "f_beta", "g_beta"]
    width = max(map(len, rows))
    print(" " * width + "".join(f"{c:>17s}" for c in columns))
    for name, row in rows.items():
        print(f"{name:{width}s}" + "".join(f"{row[c]:17.3f}" for c in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
