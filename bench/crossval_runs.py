"""The finished cross-validations a bench reads, with each recording's record features from the signal cache.

Shared by bench/criterion_auroc.py and bench/measurements_alone.py: the data folder, the run folders and
``--cache-dir`` on the command line; each run's ``oof.npz`` (written by cross_validate.py) and the cache's features
of the recordings it classified, in its order.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.signal_cache import default_cache_root, load_or_build_cache  # noqa: E402


@dataclass(frozen=True)
class CrossValidationRun:
    """One cross_validate.py folder's pooled out-of-fold outputs, and the record features of its recordings."""

    name: str
    saved: dict[str, np.ndarray]  # oof.npz's arrays: names, labels, probabilities, folds (binary where written)
    features: np.ndarray  # (recordings, NUM_RECORD_FEATURES), in the order of saved["names"]


def load_runs(description: str, argv: list[str] | None, script: str) -> list[CrossValidationRun] | None:
    """The runs named on ``script``'s command line (DATA, run folders, --cache-dir; ``description`` its help), each
    with its features; None after one line on stderr where a run is unfinished or classified recordings that are not
    in the data folder."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the data folder the runs classified")
    parser.add_argument("runs", nargs="+", type=Path, help="cross_validate.py output folders")
    parser.add_argument("--cache-dir", type=Path, default=None, help="signal cache root (default: ecg12's)")
    arguments = parser.parse_args(argv)
    for run in arguments.runs:
        if not (run / "oof.npz").is_file():
            print(f"{script}: {run} holds no finished cross-validation (oof.npz)", file=sys.stderr)
            return None
    cache = load_or_build_cache(arguments.data, arguments.cache_dir or default_cache_root())
    row_of = {name: row for row, name in enumerate(cache.names)}
    runs = []
    for run in arguments.runs:
        with np.load(run / "oof.npz", allow_pickle=False) as file:
            saved = {key: file[key] for key in file.files}
        missing = [str(name) for name in saved["names"] if str(name) not in row_of]
        if missing:
            print(f"{script}: {run} classified recordings not in {arguments.data}: {missing[:3]}", file=sys.stderr)
            return None
        runs.append(CrossValidationRun(run.name, saved, cache.features[[row_of[str(n)] for n in saved["names"]]]))
    return runs
