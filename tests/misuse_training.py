#!/usr/bin/env python
"""Misuse of training and cross-validation, replayed end to end: what each case of issue 23 now does.

    python tests/misuse_training.py [--data data/sample/train] [--work DIR]

A tiny model is trained on DATA (and a 2-fold cross-validation run) once; then each case runs the real
scripts (train_model.py, cross_validate.py) in a subprocess, as a user would, and prints its exit status,
its last line on stderr and what was checked afterwards (files unchanged, no code run, no cache built).
The full-disk and unwritable-folder cases mount a small tmpfs, which needs root; elsewhere they say so.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
from payloads import Payload  # noqa: E402  (beside this script: the code payload the tests plant)

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PREVIOUS = ".previous-run"  # ecg12.checkpoints.PREVIOUS_FOLDER (not imported: this script only runs the scripts)


class Cases:
    """The work folder, the reference runs and the options every case shares."""

    def __init__(self, data: Path, work: Path) -> None:
        self.data, self.work = data, work
        self.cache = work / "cache"
        self.count = 0

    def options(self, cache: Path | None = None, epochs: int = 2, windows: int = 16) -> list[str]:
        tiny = ["--model-size", "tiny", "--epochs", str(epochs), "--epoch-windows", str(windows), "--batch-size", "4"]
        return [*tiny, "--device", "cpu", "--workers", "0", "--cache-dir", str(cache or self.cache)]

    def folder(self, name: str) -> Path:
        self.count += 1
        return self.work / f"{self.count:02d}-{name}"

    def model_copy(self) -> Path:
        model = self.folder("model")
        shutil.copytree(self.work / "reference-model", model)
        return model

    def cv_copy(self) -> Path:
        out = self.folder("cv")
        shutil.copytree(self.work / "reference-cv", out)
        return out


def start(script: str, *arguments: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, script, *arguments],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C as in a terminal
    )


def run(script: str, *arguments: str, cwd: Path = ROOT) -> tuple[int, str]:
    """Exit status and last stderr line of ``script`` run to its end."""
    process = start(script, *arguments, cwd=cwd)
    _, stderr = process.communicate(timeout=600)
    return process.returncode, last_line(stderr)


def last_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    return lines[-1] if lines else "(nothing on stderr)"


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear: {last_line(process.communicate()[1])}")
        time.sleep(0.02)


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C: SIGINT, then the exit status and last line."""
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    return process.returncode, last_line(stderr)


def state(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder`` with its bytes and modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def same(before: dict[str, tuple[bytes, int]], folder: Path) -> str:
    return "folder unchanged" if state(folder) == before else "FOLDER CHANGED"


def mounted_tmpfs(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True)
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    except OSError:
        return False
    return result.returncode == 0


def unmount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], check=False)


# --- the cases: each returns (exit status, last line, what was checked) -------------------------------------------


def payload_checkpoint(c: Cases) -> tuple[int, str, str]:
    model = c.model_copy()
    marker = c.work / "marker-checkpoint"
    torch.save({"train_config": Payload(marker)}, model / "checkpoint.pt")
    code, line = run("train_model.py", str(c.data), str(model), *c.options(), "--resume")
    return code, line, "payload ran" if marker.exists() else "payload did not run"


def payload_held_out(kind: str) -> Callable[[Cases], tuple[int, str, str]]:
    def case(c: Cases) -> tuple[int, str, str]:
        out = c.cv_copy()
        marker = c.work / f"marker-{kind.replace(' ', '-')}"
        held_out = out / "fold1" / "held_out.npz"
        if kind == "pickle":
            held_out.write_bytes(pickle.dumps(Payload(marker)))
        else:
            np.savez(held_out, names=np.array([Payload(marker)], dtype=object))
        code, line = run("cross_validate.py", str(c.data), str(out), "--folds", "2", *c.options(), "--pool")
        return code, line, "payload ran" if marker.exists() else "payload did not run"

    return case


def payload_cache_index(c: Cases) -> tuple[int, str, str]:
    cache = c.folder("cache")
    shutil.copytree(c.cache, cache)
    index = next(cache.glob("*/index.json"))
    marker = c.work / "marker-index"
    index.write_bytes(pickle.dumps(Payload(marker)))
    code, line = run("train_model.py", str(c.data), str(c.folder("model")), *c.options(cache))
    return code, line, "payload ran" if marker.exists() else "payload did not run"


def into_single_network(*options: str) -> Callable[[Cases], tuple[int, str, str]]:
    def case(c: Cases) -> tuple[int, str, str]:
        model = c.model_copy()
        before = state(model)
        code, line = run("train_model.py", str(c.data), str(model), *c.options(), *options)
        return code, line, same(before, model)

    return case


def two_at_once(script: str, arguments: list[str], started: Path, *second: str) -> tuple[int, str, str]:
    """Run ``script`` with ``arguments`` while a first run of it, which has written ``started``, goes on."""
    first = start(script, *arguments)
    try:
        wait_for(started, first)
        code, line = run(script, *arguments, *second)
        still = "the first run goes on" if first.poll() is None else "THE FIRST RUN ENDED"
    finally:
        first.kill()
        first.wait()
    return code, line, still


def two_trainings_at_once(c: Cases) -> tuple[int, str, str]:
    model = c.folder("model")
    arguments = [str(c.data), str(model), *c.options(epochs=1000), "--patience", "1000"]
    return two_at_once("train_model.py", arguments, model / "checkpoint.pt")


def two_folds_at_once(c: Cases) -> tuple[int, str, str]:
    out = c.folder("cv")
    arguments = [str(c.data), str(out), "--folds", "2", *c.options(epochs=1000), "--patience", "1000", "--fold", "1"]
    return two_at_once("cross_validate.py", arguments, out / "fold1" / "checkpoint.pt", "--overwrite")


def resume_other_data(c: Cases) -> tuple[int, str, str]:
    model = c.model_copy()
    data = c.folder("data")
    shutil.copytree(c.data, data)
    for path in sorted(data.glob("*"))[:2]:
        path.unlink()  # one recording less
    before = state(model)
    code, line = run("train_model.py", str(data), str(model), *c.options(), "--resume")
    return code, line, same(before, model) + " (split.csv, skipped_records.csv included)"


def before_the_cache(*options: str, resume: bool = False) -> Callable[[Cases], tuple[int, str, str]]:
    def case(c: Cases) -> tuple[int, str, str]:
        model = c.model_copy() if resume else c.folder("model")
        cache = c.folder("cache")
        code, line = run("train_model.py", str(c.data), str(model), *c.options(cache), *options)
        return code, line, "cache built" if cache.exists() else "no cache built"

    return case


def resume_without_checkpoint(c: Cases) -> tuple[int, str, str]:
    model = c.folder("model")
    model.mkdir()
    cache = c.folder("cache")
    code, line = run("train_model.py", str(c.data), str(model), *c.options(cache), "--resume")
    return code, line, "cache built" if cache.exists() else "no cache built"


def overwrite_diverging(c: Cases) -> tuple[int, str, str]:
    model = c.model_copy()
    before = state(model)
    code, line = run("train_model.py", str(c.data), str(model), *c.options(), "--overwrite", "--lr", "1e6")
    return code, line, "the old model is back: " + same(before, model)


def overwrite_interrupted(c: Cases) -> tuple[int, str, str]:
    model = c.model_copy()
    before = state(model)
    options = c.options(windows=2000)  # an epoch of seconds, to be interrupted in
    process = start("train_model.py", str(c.data), str(model), *options, "--overwrite")
    wait_for(model / PREVIOUS, process)
    time.sleep(1.0)
    code, line = interrupt(process)
    return code, line, "the old model is back: " + same(before, model)


def overwrite_succeeds(c: Cases) -> tuple[int, str, str]:
    model = c.model_copy()
    old = (model / "model.pt").read_bytes()
    code, line = run("train_model.py", str(c.data), str(model), *c.options(epochs=1), "--overwrite")
    new = "a new model.pt" if (model / "model.pt").read_bytes() != old else "THE OLD model.pt"
    return code, line, f"{new}; {PREVIOUS} {'left' if (model / PREVIOUS).exists() else 'removed'}"


def full_disk(size: str, victim: str) -> Callable[[Cases], tuple[int, str, str]]:
    def case(c: Cases) -> tuple[int, str, str]:
        disk = c.folder("tmpfs")
        if not mounted_tmpfs(disk, f"size={size}"):
            return -1, "skipped: cannot mount a tmpfs here (needs root)", ""
        try:
            model = disk / "model"
            code, line = run("train_model.py", str(c.data), str(model), *c.options(epochs=1))
            partial = [p.name for p in model.iterdir() if p.name.endswith(".tmp")] if model.exists() else []
            left = sorted(p.name for p in model.iterdir()) if model.exists() else []
            checked = f"{victim} {'present' if victim in left else 'absent'}; temporaries left: {partial or 'none'}"
        finally:
            unmount(disk)
        return code, line, checked

    return case


def unwritable_model_folder(c: Cases) -> tuple[int, str, str]:
    disk = c.folder("read-only")
    if os.geteuid() == 0:
        if not mounted_tmpfs(disk, "ro,size=64k"):
            return -1, "skipped: cannot mount a read-only tmpfs here", ""
    else:
        disk.mkdir()
        disk.chmod(0o555)
    cache = c.folder("cache")
    try:
        code, line = run("train_model.py", str(c.data), str(disk), *c.options(cache))
    finally:
        if os.geteuid() == 0:
            unmount(disk)
    names_temporary = "names a temporary file" if ".tmp" in line else "names no temporary file"
    return code, line, f"{names_temporary}; {'cache built' if cache.exists() else 'no cache built'}"


def ctrl_c_from_another_folder(c: Cases) -> tuple[int, str, str]:
    model = c.folder("model")
    elsewhere = c.folder("elsewhere")
    elsewhere.mkdir()
    script = os.path.relpath(ROOT / "train_model.py", elsewhere)
    process = start(script, str(c.data), str(model), *c.options(epochs=1000), "--patience", "1000", cwd=elsewhere)
    wait_for(model / "checkpoint.pt", process)
    code, line = interrupt(process)
    printed = line.split("continue with: ", 1)[-1].split()
    return code, line, f"command names the script as started ({script}): {len(printed) > 1 and printed[1] == script}"


def ctrl_c_in_cross_validation(c: Cases) -> tuple[int, str, str]:
    out = c.folder("cv")
    arguments = [str(c.data), str(out), "--folds", "2", *c.options(windows=400)]
    process = start("cross_validate.py", *arguments)
    wait_for(out / "fold1" / "held_out.npz", process)
    finished = (out / "fold1" / "model.pt").stat().st_mtime_ns
    code, line = interrupt(process)
    advised = line.split("continue with: ", 1)[-1].split()[2:]
    resumed, resumed_line = run("cross_validate.py", *advised)
    kept = (out / "fold1" / "model.pt").stat().st_mtime_ns == finished
    return code, line, f"the advised command: exit {resumed} ({resumed_line.strip()[:60]}...); fold 1 kept: {kept}"


def truncated_held_out(c: Cases) -> tuple[int, str, str]:
    out = c.cv_copy()
    held_out = out / "fold2" / "held_out.npz"
    held_out.write_bytes(held_out.read_bytes()[:-200])
    common = [str(c.data), str(out), "--folds", "2", *c.options(epochs=1)]
    code, line = run("cross_validate.py", *common, "--pool")
    model = (out / "fold2" / "model.pt").read_bytes()
    again = run("cross_validate.py", *common, "--fold", "2")
    resumed = run("cross_validate.py", *common, "--fold", "2", "--resume")
    pooled = run("cross_validate.py", *common, "--pool")
    retrained = (out / "fold2" / "model.pt").read_bytes() != model
    return (
        code,
        line,
        f"--fold 2: exit {again[0]} ({again[1][:70]}...); --fold 2 --resume: exit {resumed[0]}, "
        f"model {'RETRAINED' if retrained else 'kept'}; --pool: exit {pooled[0]}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "sample" / "train")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    arguments = parser.parse_args()
    work = arguments.work or Path(tempfile.mkdtemp(prefix="misuse-training-"))
    work.mkdir(parents=True, exist_ok=True)
    c = Cases(arguments.data.resolve(), work.resolve())
    started = time.perf_counter()
    code, line = run("train_model.py", str(c.data), str(work / "reference-model"), *c.options())
    assert code == 0, line
    common = [str(c.data), str(work / "reference-cv"), "--folds", "2", *c.options(epochs=1)]
    code, line = run("cross_validate.py", *common)
    assert code == 0, line
    print(f"reference model and 2-fold cross-validation on {c.data}: {time.perf_counter() - started:.0f} s\n")

    cases: list[tuple[str, Callable[[Cases], tuple[int, str, str]]]] = [
        ("code payload in checkpoint.pt, --resume", payload_checkpoint),
        ("code payload as held_out.npz (a pickle), --pool", payload_held_out("pickle")),
        ("code payload in held_out.npz (an object array), --pool", payload_held_out("object array")),
        ("code payload as the signal cache's index.json", payload_cache_index),
        ("--resume --members 2 into a single network's folder", into_single_network("--resume", "--members", "2")),
        (
            "--members 2 --member 1 into a single network's folder",
            into_single_network("--members", "2", "--member", "1"),
        ),
        ("two trainings into one new folder at once", two_trainings_at_once),
        ("two cross_validate.py --fold 1 at once (the second with --overwrite)", two_folds_at_once),
        ("--resume with other data", resume_other_data),
        ("--resume with another seed", before_the_cache("--resume", "--seed", "4", resume=True)),
        ("--resume with another batch size", before_the_cache("--resume", "--batch-size", "8", resume=True)),
        ("--resume into an empty folder (no checkpoint)", resume_without_checkpoint),
        ("--overwrite --lr 1e6 (diverges in epoch 1)", overwrite_diverging),
        ("--overwrite, Ctrl-C in epoch 1", overwrite_interrupted),
        ("--overwrite that trains", overwrite_succeeds),
        ("Ctrl-C in cross_validate.py, then the advised command", ctrl_c_in_cross_validation),
        ("Ctrl-C, started from another folder", ctrl_c_from_another_folder),
        ("full disk while torch.save writes checkpoint.pt", full_disk("200k", "checkpoint.pt")),
        ("full disk while torch.save writes model.pt", full_disk("60k", "model.pt")),
        ("truncated held_out.npz: --pool, --fold 2, --fold 2 --resume", truncated_held_out),
        ("a MODEL folder that cannot be written", unwritable_model_folder),
        ("--class-count-floor 1", before_the_cache("--class-count-floor", "1")),
        ("--warmup-epochs inf", before_the_cache("--warmup-epochs", "inf")),
        ("--warmup-epochs nan", before_the_cache("--warmup-epochs", "nan")),
        ("--seed -1", before_the_cache("--seed", "-1")),
        ("--seed 1e20", before_the_cache("--seed", "1e20")),
        ("--seed 100000000000000000000", before_the_cache("--seed", str(10**20))),
        ("--noise nan", before_the_cache("--noise", "nan")),
    ]
    for name, case in cases:
        began = time.perf_counter()
        code, line, checked = case(c)
        print(f"{name}\n    exit {code} ({time.perf_counter() - began:.1f} s): {line}")
        if checked:
            print(f"    then: {checked}")
    if arguments.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
