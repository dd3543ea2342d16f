#!/usr/bin/env python
"""Model benchmark: FLOPs per 10 s patch, training samples/s, inference recordings/s, peak memory.

    python bench/bench_model.py [--sizes paper small tiny] [--records 96] [--threads N]

For each model size, in this process unless noted:
- parameters and forward FLOPs of one 12 x 5000 patch (torch's FLOP counter);
- training throughput: AdamW steps on batches of 32 random windows, samples/s;
- inference throughput on 10 s recordings: the network alone (windows of many recordings batched),
  and the whole driver path (read .mat + header, preprocess, network, write CSV) over a folder of
  synthetic recordings; the reference measured in the same run is the same folder classified one
  recording per forward pass (chunk size 1, as a per-recording Challenge driver does), so the
  printed ratio is what batching recordings buys;
- peak resident memory of training and of driver inference, each in a fresh subprocess;
- the machine's dense matmul rate (float32, same threads), to put the model's GFLOP/s in context.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # synthetic records: the tests' data generator

from synthetic import make_learnable_dataset  # noqa: E402

from ecg12.classify import classify_folder  # noqa: E402
from ecg12.config import MODEL_SIZES  # noqa: E402
from ecg12.features import NUM_RECORD_FEATURES  # noqa: E402
from ecg12.inference import Classifier, load_classifier, save_model_folder  # noqa: E402
from ecg12.loss import HardExampleBCELoss  # noqa: E402
from ecg12.model import MultiScaleSENet  # noqa: E402
from ecg12.thresholds import DecisionRule  # noqa: E402

BATCH = 32


def forward_flops(model: MultiScaleSENet) -> int:
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(torch.zeros(1, 12, 5000), torch.zeros(1, NUM_RECORD_FEATURES))
    return counter.get_total_flops()


def training_rate(model: MultiScaleSENet, steps: int) -> float:
    model.train()
    criterion = HardExampleBCELoss(np.ones(24))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    windows, features = torch.randn(BATCH, 12, 5000), torch.rand(BATCH, NUM_RECORD_FEATURES)
    targets = (torch.rand(BATCH, 24) < 0.1).float()

    def step() -> None:
        loss = criterion(model(windows, features), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH / (time.perf_counter() - started)


def network_rate(classifier: Classifier, records: int) -> float:
    inputs = [
        (np.random.default_rng(i).normal(size=(12, 5000)).astype(np.float32), np.zeros(NUM_RECORD_FEATURES, np.float32))
        for i in range(records)
    ]
    classifier.probabilities(inputs[:8])  # warm-up
    started = time.perf_counter()
    classifier.probabilities(inputs)
    return records / (time.perf_counter() - started)


def driver_rate(classifier: Classifier, data: Path, output: Path, chunk_size: int) -> float:
    result = classify_folder(classifier, data, output, chunk_size=chunk_size, show_progress=False)
    assert result.failed == 0, result.errors
    return (result.done + result.failed) / result.seconds


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def peak_memory_child(mode: str, size: str, model_dir: str, data: str, output: str) -> None:
    """Run one workload and print the peak resident set size in MB (called in a fresh subprocess)."""
    torch.manual_seed(0)
    if mode == "train":
        training_rate(MultiScaleSENet(MODEL_SIZES[size]), steps=2)
    else:
        driver_rate(load_classifier(model_dir), Path(data), Path(output), chunk_size=16)
    print(json.dumps({"peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that over from the
    parent across fork and exec, so a child started by a large parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(mode: str, size: str, model_dir: Path, data: Path, output: Path) -> float:
    command = [sys.executable, __file__, "--child", mode, size, str(model_dir), str(data), str(output)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["paper", "small", "tiny"], choices=sorted(MODEL_SIZES))
    parser.add_argument("--records", type=int, default=96, help="10 s recordings classified per measurement")
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    if arguments.child:
        peak_memory_child(*arguments.child)
        return

    print(f"torch {torch.__version__}, {arguments.threads} threads, float32 matmul {matmul_gflops():.1f} GFLOP/s")
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        make_learnable_dataset(data, arguments.records, seed=0)
        for size in arguments.sizes:
            torch.manual_seed(0)
            model = MultiScaleSENet(MODEL_SIZES[size])
            model_dir = Path(scratch) / f"model-{size}"
            save_model_folder(model_dir, model, DecisionRule(), 5000, {"benchmark": True})
            classifier = load_classifier(model_dir)
            flops = forward_flops(classifier.model)
            parameters = sum(p.numel() for p in model.parameters())
            network = network_rate(classifier, arguments.records)
            batched = driver_rate(classifier, data, Path(scratch) / f"out-{size}-batched", chunk_size=16)
            single = driver_rate(classifier, data, Path(scratch) / f"out-{size}-single", chunk_size=1)
            training = training_rate(MultiScaleSENet(MODEL_SIZES[size]), arguments.train_steps)
            train_mb = peak_memory("train", size, model_dir, data, Path(scratch) / "out-mem")
            infer_mb = peak_memory("infer", size, model_dir, data, Path(scratch) / "out-mem")
            print(
                f"\n[{size}] {parameters / 1e6:.2f} M parameters, {flops / 1e9:.3f} GFLOPs per 10 s patch (forward)\n"
                f"  training:  {training:6.1f} samples/s (batch {BATCH}, forward+backward+AdamW), "
                f"{3 * flops * training / 1e9:.1f} GFLOP/s; peak RSS {train_mb:.0f} MB\n"
                f"  inference: network alone {network:6.1f} recordings/s ({flops * network / 1e9:.1f} GFLOP/s)\n"
                f"             driver, 16 recordings per batch {batched:6.1f} recordings/s; "
                f"peak RSS {infer_mb:.0f} MB\n"
                f"             driver, 1 recording per batch (reference) {single:6.1f} recordings/s; "
                f"batching x{batched / single:.2f}"
            )


if __name__ == "__main__":
    main()
