#!/usr/bin/env python
"""Does a change keep the results? Train, classify and score with the working tree and with a git revision.

    python bench/same_results.py [REVISION] [--options="..."]   (REVISION default: HEAD)

REVISION is, say, the commit before a refactoring; ``--options`` are training options given to the working tree
only, to switch off what it added (``--options="--no-measurement-model"``) and compare the rest.

Checks out REVISION into a temporary git worktree, then runs the same fixed-seed recipe with both
trees, each in its own process on one CPU thread: train_model.py on data/sample/train (tiny network,
3 epochs of 64 windows, seed 0), driver.py on data/sample/test, evaluate_model.py. It compares the
weights (bit for bit), the decision rule, the per-epoch metrics, every output file and the scores,
prints what differs and exits 1 if anything does. A refactoring that must not change behaviour
passes; a change of the recipe or of the numerics shows up here.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ["--model-size", "tiny", "--epochs", "3", "--epoch-windows", "64", "--seed", "0", "--device", "cpu"]


def run_pipeline(tree: Path, out: Path, options: Sequence[str] = ()) -> None:
    """Train (with ``options`` on top of the recipe), classify and score the demo records with the code in ``tree``;
    everything goes to ``out``."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    data = ROOT / "data" / "sample"
    model = str(out / "model")
    steps = [
        ["train_model.py", str(data / "train"), model, *RECIPE, *options, "--cache-dir", str(out / "cache")],
        ["driver.py", model, str(data / "test"), str(out / "outputs")],
        ["evaluate_model.py", str(data / "test"), str(out / "outputs"), str(out / "scores.csv")],
    ]
    for step in steps:
        result = subprocess.run(
            [sys.executable, *step], cwd=tree, env=environment, capture_output=True, text=True, check=False
        )
        if result.returncode not in (0, 1):  # driver.py exits 1 when a recording failed: compared below
            raise SystemExit(f"{tree}: {step[0]} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")


def epoch_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a metrics.csv, every column but the wall-clock seconds (by name: columns follow it)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [{key: value for key, value in row.items() if key != "seconds"} for row in csv.DictReader(handle)]


def differences(before: Path, after: Path) -> list[str]:
    found = []
    old = torch.load(before / "model" / "model.pt", map_location="cpu", weights_only=True)
    new = torch.load(after / "model" / "model.pt", map_location="cpu", weights_only=True)
    for member, (old_state, new_state) in enumerate(zip(old["state_dicts"], new["state_dicts"], strict=True)):
        changed = [name for name in old_state if not torch.equal(old_state[name], new_state.get(name))]
        if changed or old_state.keys() != new_state.keys():
            found.append(f"weights of member {member}: {', '.join(changed) or 'other tensor names'}")
    if old["decision_rule"] != new["decision_rule"]:
        found.append(f"decision rule: {old['decision_rule']} -> {new['decision_rule']}")
    for name in ("metrics.csv",):
        if epoch_rows(before / "model" / name) != epoch_rows(after / "model" / name):
            found.append(f"{name} differs")
    old_outputs = {p.name: p.read_bytes() for p in (before / "outputs").glob("*.csv")}
    new_outputs = {p.name: p.read_bytes() for p in (after / "outputs").glob("*.csv")}
    found += [f"output {name} differs" for name in sorted(old_outputs.keys() | new_outputs.keys())
              if old_outputs.get(name) != new_outputs.get(name)]  # fmt: skip
    if (before / "scores.csv").read_text() != (after / "scores.csv").read_text():
        found.append("scores.csv differs")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revision", nargs="?", default="HEAD", help="git revision to compare the working tree with")
    parser.add_argument("--options", default="", help="training options for the working tree only (one string)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecg12-same-results-") as scratch:
        worktree = Path(scratch) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(worktree), arguments.revision], cwd=ROOT, check=True
        )
        try:
            run_pipeline(worktree, Path(scratch) / "before")
            run_pipeline(ROOT, Path(scratch) / "after", shlex.split(arguments.options))
            found = differences(Path(scratch) / "before", Path(scratch) / "after")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    print(
        f"working tree vs {arguments.revision}: "
        + ("; ".join(found) if found else "same weights, rule, metrics, outputs and scores")
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
