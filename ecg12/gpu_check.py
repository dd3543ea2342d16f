"""GPU check: the whole product on a CUDA GPU in a few minutes, with numbers. Exits non-zero on any failure.

    python gpu_check.py                 # on a CUDA machine (or: make gpu-check; inside the image too)
    python gpu_check.py --device cpu --model-size tiny --records 24 --epoch-windows 32   # dry run

Steps, each with the repository's own scripts in subprocesses, as a user runs them:
1. synthetic learnable Challenge records (ecg12.synthetic);
2. ``train_model.py`` trains the network for 2 short epochs on the device (mixed precision, loader
   workers), is killed (SIGKILL) after its first checkpoint and resumed with ``--resume``;
3. ``cross_validate.py`` on 2 folds;
4. ``driver.py`` classifies the records on the device and on the CPU with the same model: the
   probabilities must agree within PROBABILITY_TOLERANCE (TF32 convolutions and other kernels round
   differently), and so must the labels wherever a probability is not within that tolerance of the
   decision threshold;
5. ``evaluate_model.py`` scores the device's outputs;
6. in this process: training samples/s of the network for each ``--batch-sizes`` (the real training
   step: int16 windows copied from pinned memory, noise, autocast, AdamW), inference recordings/s,
   peak GPU memory.

Without CUDA (and without ``--device cpu``) it says so and exits 0, so that it can run anywhere.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ecg12.classes import ScoredClasses
from ecg12.config import MODEL_SIZES, TrainConfig
from ecg12.devices import autocast_dtype, resolve_device
from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.inference import load_classifier
from ecg12.outputs import load_outputs
from ecg12.preprocess import WINDOW_SAMPLES
from ecg12.synthetic import make_learnable_dataset
from ecg12.thresholds import DecisionRule
from ecg12.training import training_step

ROOT = Path(__file__).resolve().parents[1]  # the repository: the scripts the check runs
PROBABILITY_TOLERANCE = 5e-3


class CheckFailed(RuntimeError):
    """One step of the check did not do what it should."""


def run(step: str, *command: str, timeout: float = 600) -> str:
    """Run a repository script; its output is returned, or shown and the check failed."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise CheckFailed(f"{step}: exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    print(f"  {step}: ok ({time.perf_counter() - started:.1f} s)")
    return result.stdout + result.stderr


def train_kill_resume(arguments: list[str], model: Path) -> None:
    """Train, SIGKILL the run after its first checkpoint, resume it to the end."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "train_model.py", *arguments], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    checkpoint = model / "checkpoint.pt"
    try:
        while not checkpoint.exists() and process.poll() is None and time.perf_counter() - started < 600:
            time.sleep(0.05)
        if not checkpoint.exists():
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise CheckFailed(f"training wrote no checkpoint (exit {process.poll()}):\n{output[-3000:]}")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    print(f"  train, killed after its first checkpoint: ok ({time.perf_counter() - started:.1f} s)")
    run("resume to the end", "train_model.py", *arguments, "--resume")
    checkpoint_state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    epochs = [row["epoch"] for row in checkpoint_state["history"]]
    if epochs != [1, 2]:
        raise CheckFailed(f"the resumed run's history has epochs {epochs}, not [1, 2]")


def read_probabilities(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    outputs = {}
    for path in sorted(folder.glob("*.csv")):
        if path.name not in ("errors.csv", "warnings.csv"):
            _, labels, probabilities = load_outputs(path)
            outputs[path.stem] = (np.asarray(labels, float), np.asarray(probabilities, float))
    return outputs


def compare_devices(device_outputs: Path, cpu_outputs: Path, rule: DecisionRule, classes: ScoredClasses) -> float:
    """The largest probability difference; raises if it is over tolerance, or if a label differs where the
    CPU's probability is not within the tolerance of the decision threshold (only there may rounding flip it)."""
    on_device, on_cpu = read_probabilities(device_outputs), read_probabilities(cpu_outputs)
    if on_device.keys() != on_cpu.keys() or not on_device:
        raise CheckFailed(f"device and CPU outputs cover different recordings ({len(on_device)} vs {len(on_cpu)})")
    largest = 0.0
    for name, (labels, probabilities) in on_device.items():
        cpu_labels, cpu_probabilities = on_cpu[name]
        largest = max(largest, float(np.abs(probabilities - cpu_probabilities).max()))
        if rule.mode == "per-class":
            thresholds = classes.expand(np.asarray(rule.class_thresholds))
        else:
            thresholds = rule.fraction * cpu_probabilities.max()
        near_threshold = np.abs(cpu_probabilities - thresholds) <= PROBABILITY_TOLERANCE
        if ((labels != cpu_labels) & ~near_threshold).any():
            raise CheckFailed(f"{name}: device and CPU labels differ away from the decision threshold")
    if largest > PROBABILITY_TOLERANCE:
        raise CheckFailed(f"device and CPU probabilities differ by up to {largest:.2e} (> {PROBABILITY_TOLERANCE})")
    return largest


def training_throughput(size: str, batch: int, device: torch.device, steps: int) -> float:
    """Samples/s of the real training step (ecg12.training) on random int16 windows in pinned memory."""
    config = TrainConfig(model_size=size, batch_size=batch, device=str(device))
    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, NUM_RECORD_FEATURES)).astype(np.float32)
    step = training_step(features, np.ones(24), config, device, steps_per_epoch=steps)
    pin = device.type == "cuda"
    windows = torch.randint(-2000, 2000, (batch, 12, WINDOW_SAMPLES), dtype=torch.int16)
    batch_features = torch.from_numpy(features[:1]).repeat(batch, 1)
    targets = (torch.rand(batch, 24) < 0.1).float()
    if pin:
        windows, batch_features, targets = windows.pin_memory(), batch_features.pin_memory(), targets.pin_memory()
    step.model.train()
    for _ in range(3):  # warm-up: cuDNN's autotuner picks its kernels
        step(windows, batch_features, targets)
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        loss = step(windows, batch_features, targets)
    synchronize(device)
    rate = steps * batch / (time.perf_counter() - started)
    if not math.isfinite(float(loss)):
        raise CheckFailed(f"the training loss at batch {batch} is {float(loss)}")
    return rate


def inference_throughput(model_folder: Path, device: torch.device, records: int) -> float:
    """Recordings/s of 10 s recordings through the classifier on ``device`` (the network and its batching)."""
    classifier = load_classifier(model_folder, str(device))
    rng = np.random.default_rng(0)
    inputs = [
        (rng.normal(0, 0.3, (12, WINDOW_SAMPLES)).astype(np.float32), np.zeros(NUM_RECORD_FEATURES, np.float32))
        for _ in range(records)
    ]
    classifier.probabilities(inputs[:8])  # warm-up
    synchronize(device)
    started = time.perf_counter()
    classifier.probabilities(inputs)
    synchronize(device)
    return records / (time.perf_counter() - started)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check(arguments: argparse.Namespace, scratch: Path) -> list[str]:
    device = resolve_device(arguments.device)
    data, model = scratch / "data", scratch / "model"
    print(f"gpu-check on {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'})")
    make_learnable_dataset(data, arguments.records, seed=0)
    print(f"  {arguments.records} synthetic records: ok")
    common = [
        *("--model-size", arguments.model_size, "--device", arguments.device, "--seed", "0"),
        *("--epoch-windows", str(arguments.epoch_windows), "--workers", str(arguments.workers)),
        *("--cache-dir", str(scratch / "cache")),
    ]
    train_kill_resume([str(data), str(model), "--epochs", "2", *common], model)
    run("cross-validation, 2 folds", "cross_validate.py", str(data), str(scratch / "cv"), "--folds", "2",
        "--epochs", "1", *common)  # fmt: skip
    run("classify on the device", "driver.py", str(model), str(data), str(scratch / "out-device"),
        "--device", arguments.device)  # fmt: skip
    run("classify on the CPU", "driver.py", str(model), str(data), str(scratch / "out-cpu"), "--device", "cpu")
    classifier = load_classifier(model, "cpu")
    largest = compare_devices(scratch / "out-device", scratch / "out-cpu", classifier.decision_rule, classifier.classes)
    print(f"  device and CPU probabilities agree: largest difference {largest:.1e} (tolerance {PROBABILITY_TOLERANCE})")
    run("score", "evaluate_model.py", str(data), str(scratch / "out-device"), str(scratch / "scores.csv"),
        str(scratch / "class_scores.csv"))  # fmt: skip
    with open(scratch / "scores.csv", newline="") as handle:
        scores = next(csv.DictReader(handle))
    print(f"  Challenge metric of the 2-epoch model on its own training records: {scores['Challenge metric']}")

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    lines = [f"device: {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'})"]
    lines.append(f"mixed precision: {autocast_dtype(device) or 'none (float32)'}; torch {torch.__version__}")
    for batch in arguments.batch_sizes:
        rate = training_throughput(arguments.model_size, batch, device, arguments.steps)
        lines.append(f"training ({arguments.model_size} network, batch {batch}): {rate:,.0f} samples/s")
    rate = inference_throughput(model, device, arguments.inference_records)
    lines.append(f"inference ({arguments.model_size} network, 10 s recordings): {rate:,.0f} recordings/s")
    if device.type == "cuda":
        lines.append(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    lines.append(f"device vs CPU probabilities: largest difference {largest:.1e}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu for a dry run of the check itself")
    parser.add_argument("--model-size", default="paper", choices=sorted(MODEL_SIZES))
    parser.add_argument("--records", type=int, default=96, help="synthetic records to train and classify")
    parser.add_argument("--epoch-windows", type=int, default=512, help="training windows per epoch")
    parser.add_argument("--workers", type=int, default=2, help="loader workers of the training runs")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per batch size")
    parser.add_argument("--inference-records", type=int, default=512)
    arguments = parser.parse_args(argv)
    if arguments.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device here (torch {torch.__version__}): nothing to check")
        return 0
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="ecg12-gpu-check-") as scratch:
            lines = check(arguments, Path(scratch))
    except (CheckFailed, subprocess.TimeoutExpired) as error:
        print(f"gpu-check FAILED: {error}")
        return 1
    print("\n".join(["", *lines, f"gpu-check PASSED in {time.perf_counter() - started:.0f} s"]))
    return 0
