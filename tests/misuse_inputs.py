#!/usr/bin/env python
"""Replays the misuse cases of issue 23 (input, driver and reader half) end to end and prints what each now does.

    python tests/misuse_inputs.py [--keep DIR]

Trains a tiny model on data/sample/train (2 epochs of 64 windows, seed 0, CPU), then plays each case with the real
scripts, each in a fresh process: crafted recordings beside 3 of data/sample/test (a 243-byte name, a 700 KB
compressed MAT v5 file declaring 12 x 30,000,000 samples, a complex ``val``, a lead of ADC gain 0), damaged copies
of model.pt, ``--device meta``, an outputs folder on a full disk, training on data/sample/train with a header that
declares 302,400,000 samples (cache on a 21 MB file system) or with the compressed MAT file, and a training
SIGKILLed while its cache workers wait. For each: the exit status, the last line on stdout and on stderr, the
outputs and the rows of errors.csv / warnings.csv / skipped_records.csv, and the process's peak memory (VmHWM; a
cache worker's own memory is not in it).

The full-disk and small-disk cases mount a tmpfs (they need root; elsewhere they say so and are skipped). The temporary
folder is removed at the end unless ``--keep DIR`` names where to put it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ecg12.synthetic import write_compressed_zeros_mat  # noqa: E402

SAMPLE = ROOT / "data" / "sample"
TRAINING = ["--model-size", "tiny", "--epochs", "2", "--epoch-windows", "64", "--seed", "0", "--device", "cpu"]
LONG_NAME = "心電図記録" * 16 + "長"  # 81 characters, 243 bytes
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def child(script: str, arguments: Sequence[str]) -> None:
    """Run ``script``'s main(arguments) in this process, then print its exit status and peak memory as JSON."""
    if script == "driver":
        import driver as module
    elif script == "train_model":
        import train_model as module
    else:
        from ecg12 import evaluation as module
    code = module.main(list(arguments))
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    sys.stdout.flush()
    print(json.dumps({"code": code, "peak_mb": peak}), file=sys.stderr)
    sys.stderr.flush()
    os._exit(code)  # as driver.py does: everything is written


def run(script: str, *arguments: object, timeout: float = 600) -> dict[str, object]:
    """Exit status, last stdout and stderr lines, peak memory of ``script`` run with ``arguments``."""
    command = [sys.executable, __file__, "--child", script, *map(str, arguments)]
    done = subprocess.run(command, cwd=ROOT, env=ENVIRONMENT, capture_output=True, text=True, timeout=timeout)
    errors = done.stderr.strip().splitlines()
    measured = json.loads(errors.pop()) if errors and errors[-1].startswith('{"code"') else {"peak_mb": math.nan}
    errors = [line for line in errors if "Traceback" in line or not line[:2].isdigit()]  # log lines aside
    outputs = done.stdout.strip().splitlines()
    return {
        "code": done.returncode,
        "stdout": outputs[-1] if outputs else "",
        "stderr": errors[-1] if errors else "",
        "traceback": any("Traceback" in line for line in done.stderr.splitlines()),
        "peak_mb": measured["peak_mb"],
    }


def rows(path: Path) -> list[list[str]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def shorten(text: str, length: int = 240) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def report(case: str, result: dict[str, object], outputs: Path | None = None, model: Path | None = None) -> None:
    print(f"\n== {case}")
    print(f"   exit {result['code']}{', TRACEBACK' if result['traceback'] else ''}; peak {result['peak_mb']:.0f} MB")
    print(f"   stdout: {shorten(str(result['stdout'])) or '-'}")
    print(f"   stderr: {shorten(str(result['stderr'])) or '-'}")
    if outputs is not None:
        if not outputs.is_dir():
            print("   outputs folder: not created")
        else:
            answers = sorted(p.name for p in outputs.glob("*.csv") if p.name not in ("errors.csv", "warnings.csv"))
            report_file = "present" if (outputs / "errors.csv").is_file() else "ABSENT"
            print(f"   {len(answers)} output files; errors.csv {report_file}")
            for name in ("errors.csv", "warnings.csv"):
                for row in rows(outputs / name):
                    print(f"   {name} row: {shorten(' | '.join(row))}")
    if model is not None:
        print(f"   model.pt {'written' if (model / 'model.pt').is_file() else 'ABSENT'}")
        for row in rows(model / "skipped_records.csv"):
            print(f"   skipped_records.csv row: {shorten(' | '.join(row))}")


def data_folder(folder: Path, names: Sequence[str] = ("A0041", "E07527", "HR00005")) -> Path:
    """``folder`` with 3 real recordings of data/sample/test."""
    folder.mkdir(parents=True)
    for name in names:
        for suffix in (".hea", ".mat"):
            shutil.copy(SAMPLE / "test" / f"{name}{suffix}", folder / f"{name}{suffix}")
    return folder


def copy_recording(source: Path, folder: Path, name: str, header: str | None = None) -> None:
    """Copy recording ``source`` (NAME.hea) into ``folder`` as ``name``, its header text replaced by ``header``."""
    text = source.read_text() if header is None else header
    old = source.stem
    lines = text.splitlines()
    lines[0] = lines[0].replace(old, name, 1)
    lines[1:] = [line.replace(f"{old}.mat", f"{name}.mat", 1) for line in lines[1:]]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shutil.copy(source.with_suffix(".mat"), folder / f"{name}.mat")


def header_declaring(source: Path, samples: int) -> str:
    lines = source.read_text().splitlines()
    fields = lines[0].split()
    fields[3] = str(samples)
    return "\n".join([" ".join(fields), *lines[1:]]) + "\n"


def write_bomb(folder: Path, name: str, samples: int = 30_000_000) -> Path:
    """A compressed MAT v5 ``val`` of 12 x ``samples`` zeros and its header (500 Hz)."""
    mat = write_compressed_zeros_mat(folder / f"{name}.mat", 12, samples)
    template = (SAMPLE / "test" / "A0041.hea").read_text().splitlines()
    leads = [line.replace("A0041.mat", f"{name}.mat", 1) for line in template[1:13]]
    (folder / f"{name}.hea").write_text("\n".join([f"{name} 12 500 {samples}", *leads, *template[13:]]) + "\n")
    return mat


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[bool]:
    """``folder`` on a tmpfs of ``size``; False (and a plain folder) where it cannot be mounted."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    try:
        yield mounted.returncode == 0
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(folder)], check=False)


def damaged_model(model: Path, folder: Path, rule: dict[str, object]) -> Path:
    import torch

    shutil.copytree(model, folder)
    bundle = torch.load(folder / "model.pt", weights_only=True)
    bundle["decision_rule"] = rule
    torch.save(bundle, folder / "model.pt")
    return folder


def children(pid: int) -> dict[int, str]:
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text():
                found[int(status.parent.name)] = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def running(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def killed_training(scratch: Path) -> None:
    """SIGKILL a training once its cache workers exist (160 recordings: 3 chunks), then look for its children."""
    data = scratch / "train-130"
    data.mkdir()
    for header in sorted((SAMPLE / "train").glob("*.hea")) + sorted((SAMPLE / "test").glob("*.hea")):
        for copy in "abcd":
            copy_recording(header, data, f"{header.stem}{copy}")
    arguments = [data, scratch / "model-killed", *TRAINING[:3], "200", *TRAINING[4:], "--cache-dir", scratch / "c130"]
    training = subprocess.Popen(
        [sys.executable, "train_model.py", *map(str, arguments)],
        cwd=ROOT,
        env=ENVIRONMENT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while sum("loky" in command for command in children(training.pid).values()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    left = children(training.pid)
    training.kill()
    training.wait()
    time.sleep(3)
    alive = [pid for pid in left if running(pid)]
    print("\n== training SIGKILLed after its cache was built (160 recordings, 2 cache workers)")
    print(f"   {len(left)} child processes before the kill; {len(alive)} still running 3 s after it")
    for pid in alive:  # ours: do not leave them behind
        print(f"   still running: {shorten(left[pid], 110)}")
        os.kill(pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", type=Path, help="put the temporary folder here and keep it")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments.child[0], arguments.child[1:])
        return
    if arguments.keep:
        arguments.keep.mkdir(parents=True)
    scratch_folder = tempfile.TemporaryDirectory(prefix="misuse-", dir=arguments.keep)
    scratch = Path(scratch_folder.name)
    try:
        play(scratch)
    finally:
        if arguments.keep is None:
            scratch_folder.cleanup()
        else:
            print(f"\nkept {scratch}")


def play(scratch: Path) -> None:
    model = scratch / "model"
    started = time.perf_counter()
    trained = run("train_model", SAMPLE / "train", model, *TRAINING, "--cache-dir", scratch / "cache")
    print(f"tiny model trained on data/sample/train: exit {trained['code']}, {time.perf_counter() - started:.0f} s")

    # 1. a recording name of 243 bytes
    data = data_folder(scratch / "long-name")
    copy_recording(SAMPLE / "test" / "A0051.hea", data, LONG_NAME)
    outputs = scratch / "out-long-name"
    report("recording named with 81 Japanese characters (243 bytes)", run("driver", model, data, outputs), outputs)
    scored = run("evaluate_model", data, outputs)
    print(f"   evaluate_model.py: exit {scored['code']}; stdout: {scored['stdout']}; stderr: {scored['stderr'] or '-'}")

    # 2. the decision rule of model.pt
    data = data_folder(scratch / "plain")
    rules = {
        "per-class thresholds for 5 of 24 classes": {
            "mode": "per-class",
            "fraction": 0.2,
            "class_thresholds": [0.5] * 5,
        },
        "one per-class threshold": {"mode": "per-class", "fraction": 0.2, "class_thresholds": [0.5]},
        "NaN fraction": {"mode": "max-fraction", "fraction": math.nan, "class_thresholds": []},
    }
    for index, (case, rule) in enumerate(rules.items()):
        damaged = damaged_model(model, scratch / f"model-rule-{index}", rule)
        outputs = scratch / f"out-rule-{index}"
        report(f"model.pt with {case}", run("driver", damaged, data, outputs), outputs)

    # 3. a compressed MAT v5 bomb, a complex val, a lead of gain 0
    data = data_folder(scratch / "bomb")
    mat = write_bomb(data, "bomb")
    outputs = scratch / "out-bomb"
    case = f"compressed MAT v5 of {mat.stat().st_size / 1e3:.0f} KB declaring 12 x 30,000,000 int16 samples"
    report(case, run("driver", model, data, outputs), outputs)
    import scipy.io

    data = data_folder(scratch / "complex")
    copy_recording(SAMPLE / "test" / "A0051.hea", data, "complex")
    val = scipy.io.loadmat(data / "complex.mat")["val"]
    scipy.io.savemat(data / "complex.mat", {"val": val + 1j * val}, format="4")
    outputs = scratch / "out-complex"
    report("complex val (MATLAB v4)", run("driver", model, data, outputs), outputs)
    data = data_folder(scratch / "gain-0")
    header = (SAMPLE / "test" / "A0051.hea").read_text().replace(" 1000/mV ", " 0/mV ", 1)
    copy_recording(SAMPLE / "test" / "A0051.hea", data, "gain_0", header)
    outputs = scratch / "out-gain-0"
    report("ADC gain 0 in lead I", run("driver", model, data, outputs), outputs)

    # 4. --device meta
    outputs = scratch / "out-meta"
    report("--device meta", run("driver", model, scratch / "plain", outputs, "--device", "meta"), outputs)

    # 5. a full disk: outputs on a 48 kB tmpfs, 20 recordings
    data = scratch / "twenty"
    data.mkdir()
    for index in range(20):
        copy_recording(SAMPLE / "test" / "A0041.hea", data, f"r{index:02d}")
    outputs = scratch / "out-full"
    with small_disk(outputs, "48k") as mounted:
        if mounted:
            report(
                "20 recordings into an outputs folder on a 48 kB tmpfs", run("driver", model, data, outputs), outputs
            )
            scored = run("evaluate_model", data, outputs)
            print(f"   evaluate_model.py: exit {scored['code']}; stderr: {shorten(str(scored['stderr']))}")
        else:
            print("\n== full disk: skipped (cannot mount a tmpfs here)")

    # 6. training: a header declaring 302,400,000 samples, the cache on a 21 MB tmpfs
    data = scratch / "train-lie"
    shutil.copytree(SAMPLE / "train", data)
    header = data / "A0002.hea"
    header.write_text(header_declaring(header, 302_400_000))
    cache = scratch / "cache-small"
    with small_disk(cache, "21m") as mounted:
        trained_here = scratch / "model-lie"
        result = run("train_model", data, trained_here, *TRAINING, "--cache-dir", cache)
        disk = "on a 21 MB tmpfs" if mounted else "(no tmpfs: on this disk)"
        report(
            f"training, 30 recordings, one header declaring 302,400,000 samples, cache {disk}",
            result,
            None,
            trained_here,
        )
        sizes = [sum(p.stat().st_size for p in c.iterdir()) for c in cache.iterdir() if c.is_dir()]
        print(f"   cache: {sum(sizes) / 1e6:.1f} MB")

    # 7. training with the compressed MAT bomb among the recordings
    data = scratch / "train-bomb"
    shutil.copytree(SAMPLE / "train", data)
    write_bomb(data, "bomb")
    trained_here = scratch / "model-bomb"
    result = run("train_model", data, trained_here, *TRAINING, "--cache-dir", scratch / "cache-bomb")
    report("training, 30 recordings and the compressed MAT v5 file", result, None, trained_here)

    # 8. a SIGKILLed training and its cache workers
    killed_training(scratch)


if __name__ == "__main__":
    main()
