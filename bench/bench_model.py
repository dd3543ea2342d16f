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

    python bench/bench_model.py --sections speed [--driver-records 200] [--reference 40ff2d8] [--repeats 3]

The speed section (issue 18: classification at the CPU's limit), paper-size network, on a folder of
``--driver-records`` synthetic 10 s recordings:
- the whole command, ``driver.py MODEL DATA OUTPUTS`` in a fresh process with its default options, for today's
  tree and for the tree at ``--reference`` (the commit before issue 18's changes, taken with ``git archive``),
  alternately, ``--repeats`` times each: wall time, the classification rate it prints, and how far the two
  trees' outputs differ (with ``--busy-core`` again while another process keeps one core busy);
- the network alone, windows/s at 1 and 2 threads and batches of 16, 32 and 64: the model as saved (eager,
  contiguous), ``inference_network`` (batch norms folded, channels-last weights) and, unless ``--no-compile``,
  ``torch.compile`` of it (with its compile time); GFLOP/s beside the rate of one large channels-last convolution
  (oneDNN's best case on this machine, the practical FLOP limit);
- the driver's levers in this process: torch threads with and without the overlap of reading and the network
  (the overlap switched off by running each chunk at once in the main thread), chunk sizes, the compiled network,
  and with ``--busy-core`` the threads and overlap again while another process keeps one core busy;
- where the time goes, one recording after another in one thread: read, prepare, resample (257 and 1000 Hz),
  record measurements, network, write; and the start-up: interpreter, imports, model loading, interpreter teardown.

    python bench/bench_model.py --sections precision --reference COMMIT [--model MODEL] [--data DATA]

The precision section (issue 26: the CPU's bfloat16 units), paper-size network: windows/s of the inference
network in float32 and with bfloat16 convolutions (batches of 16 and 64, 1 and 2 threads); with ``--model``, a
trained model's outputs on ``--data`` (default: the shared sample recordings) in both, the largest probability
difference and the recordings with other labels; and the whole command with its defaults (bfloat16 where the CPU
has the units) against the tree at ``--reference``, as in the speed section.
The load average is printed before and after each part: on a shared machine, say how loaded it was.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import driver  # noqa: E402
from ecg12 import classify  # noqa: E402
from ecg12.classify import classify_folder  # noqa: E402
from ecg12.config import MODEL_SIZES  # noqa: E402
from ecg12.feature_names import NUM_RECORD_FEATURES  # noqa: E402
from ecg12.features import MEASURED_SAMPLES, record_features  # noqa: E402
from ecg12.headers import read_header  # noqa: E402
from ecg12.inference import (  # noqa: E402
    Classifier,
    RecordingScores,
    compiled_network,
    inference_network,
    load_classifier,
    save_model_folder,
)
from ecg12.loss import HardExampleBCELoss  # noqa: E402
from ecg12.model import MultiScaleSENet  # noqa: E402
from ecg12.outputs import load_outputs, save_outputs  # noqa: E402
from ecg12.precision import cpu_has_bfloat16_units  # noqa: E402
from ecg12.preprocess import PreparedSignal  # noqa: E402
from ecg12.recordings import list_recordings, millivolts_reader, open_counts  # noqa: E402
from ecg12.synthetic import make_learnable_dataset, synthesize_ecg, write_record  # noqa: E402
from ecg12.thresholds import DecisionRule  # noqa: E402

BATCH = 32
REFERENCE_COMMIT = "40ff2d8"  # the last commit before issue 18's changes: the driver as it was
SUMMARY = re.compile(r"classified (\d+) recordings: .*\(([\d.]+) recordings/s\)")


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


# --- the speed section (issue 18) -------------------------------------------------------------------------------------


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def reference_tree(commit: str, folder: Path) -> Path | None:
    """The repository's files at ``commit`` extracted into ``folder`` (git archive), or None where git cannot."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=False)
    if archive.returncode != 0:
        print(f"no reference tree: git archive {commit}: {archive.stderr.decode().strip()}")
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def model_for_tree(tree: Path, model: Path, scratch: Path) -> Path:
    """``model``'s network (one msse of the paper's size, max/5) saved by ``tree``'s own code, in the model format
    that tree reads: an older tree cannot read a newer format, and the weights are what is compared."""
    weights = scratch / "reference-weights.pt"
    torch.save(torch.load(model / "model.pt", weights_only=True)["state_dicts"][0], weights)
    folder = scratch / "reference-model"
    save = (
        "import sys, torch\n"
        "from ecg12.config import MODEL_SIZES\n"
        "from ecg12.inference import save_model_folder\n"
        "from ecg12.model import MultiScaleSENet\n"
        "from ecg12.thresholds import DecisionRule\n"
        "network = MultiScaleSENet(MODEL_SIZES['paper'])\n"
        "network.load_state_dict(torch.load(sys.argv[1], weights_only=True))\n"
        "save_model_folder(sys.argv[2], network, DecisionRule(), 5000, {'benchmark': True})\n"
    )
    subprocess.run([sys.executable, "-c", save, str(weights), str(folder)], cwd=tree, check=True)
    return folder


def whole_command(
    tree: Path, model: Path, data: Path, outputs: Path, options: Sequence[str] = ()
) -> tuple[float, float]:
    """Wall seconds of ``driver.py MODEL DATA OUTPUTS [options]`` run from ``tree`` in a fresh process, and the
    classification rate it prints (recordings/s)."""
    command = [sys.executable, str(tree / "driver.py"), str(model), str(data), str(outputs), *options]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    match = SUMMARY.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"{tree / 'driver.py'} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, float(match.group(2))


def output_difference(first: Path, second: Path) -> tuple[float, int, int]:
    """Largest probability difference, recordings with other labels, and recordings compared, of two output folders."""
    largest, other_labels, names = 0.0, 0, sorted(p.name for p in first.glob("*.csv"))
    names = [name for name in names if name not in (classify.ERRORS_FILE, classify.WARNINGS_FILE)]
    for name in names:
        codes, labels, probabilities = load_outputs(first / name)
        other_codes, other, other_probabilities = load_outputs(second / name)
        assert codes == other_codes, name
        largest = max(largest, float(np.max(np.abs(np.subtract(probabilities, other_probabilities)))))
        other_labels += labels != other
    return largest, other_labels, len(names)


def compare_whole_commands(scratch: Path, model: Path, data: Path, reference: str, repeats: int) -> None:
    """Today's tree against the reference commit's, alternately, ``repeats`` times each; prints the medians."""
    print(f"\nwhole command, driver.py MODEL DATA OUTPUTS (defaults), median of {repeats}; {load_average()}")
    trees = {"this tree": ROOT}
    old = reference_tree(reference, scratch / "reference")
    if old is not None:
        trees[f"today's path ({reference})"] = old
    outputs = {label: scratch / f"whole-{index}" for index, label in enumerate(trees)}
    models = {label: model if tree == ROOT else model_for_tree(tree, model, scratch) for label, tree in trees.items()}
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
    for _ in range(repeats):
        for label, tree in trees.items():
            runs[label].append(whole_command(tree, models[label], data, outputs[label]))
    for label, measured in runs.items():
        wall = statistics.median(w for w, _ in measured)
        rate = statistics.median(r for _, r in measured)
        print(f"  {label:32s} {wall:5.2f} s whole command, classification {rate:6.1f} recordings/s")
    if old is not None:
        largest, other_labels, compared = output_difference(*outputs.values())
        print(
            f"  outputs, this tree against {reference}: {compared} recordings, largest probability difference "
            f"{largest:.1e}, {other_labels} with other labels"
        )
    print(f"  ({load_average()})")


def windows_per_second(network: torch.nn.Module, batch: int, seconds: float = 1.5) -> float:
    windows, features = torch.randn(batch, 12, 5000), torch.rand(batch, NUM_RECORD_FEATURES)
    with torch.inference_mode():
        network(windows, features)
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            network(windows, features)
            done += batch
    return done / (time.perf_counter() - started)


def convolution_gflops(threads: int) -> float:
    """Float32 GFLOP/s of one large channels-last 1 x 5 convolution (128 -> 128 channels, oneDNN): the best this
    machine's convolution library does, a practical limit for the network's convolutions."""
    torch.set_num_threads(threads)
    convolution = torch.nn.Conv2d(128, 128, (1, 5), padding=(0, 2), bias=False).to(memory_format=torch.channels_last)
    inputs = torch.randn(32, 128, 12, 256).to(memory_format=torch.channels_last)
    flops = 2 * 32 * 12 * 256 * 128 * 128 * 5
    with torch.inference_mode():
        convolution(inputs)
        started, repeats = time.perf_counter(), 0
        while time.perf_counter() - started < 1.5:
            convolution(inputs)
            repeats += 1
    return flops * repeats / (time.perf_counter() - started) / 1e9


def network_levers(classifier: Classifier, flops: int, compile_too: bool) -> None:
    """Windows/s of the saved model, the inference network and the compiled one, at 1 and 2 threads."""
    print(f"\nnetwork alone, windows/s (GFLOP/s; share of the large convolution's rate); {load_average()}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        limit = convolution_gflops(threads)
        cpu = torch.device("cpu")
        fast = inference_network(classifier.model, cpu)
        networks: dict[str, torch.nn.Module] = {"saved model, eager": classifier.model, "inference_network": fast}
        if compile_too:
            started = time.perf_counter()
            networks["compiled"] = compiled_network(inference_network(classifier.model, cpu), cpu, 64)
            print(f"  {threads} thread(s): compiled in {time.perf_counter() - started:.1f} s")
        print(f"  {threads} thread(s), large convolution {limit:.0f} GFLOP/s:")
        for label, network in networks.items():
            cells = []
            for batch in (16, 32, 64):
                rate = windows_per_second(network, batch)
                cells.append(
                    f"batch {batch}: {rate:5.0f} ({flops * rate / 1e9:4.0f}; {flops * rate / 1e9 / limit:4.0%})"
                )
            print(f"    {label:20s} " + "  ".join(cells))
    print(f"  ({load_average()})")


class InThisThread:
    """An executor that runs each call at once in the calling thread: classify_folder without its overlap."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __enter__(self) -> InThisThread:
        return self

    def __exit__(self, *exception: object) -> None:
        pass

    def submit(self, call, *args):  # type: ignore[no-untyped-def]
        future: Future[object] = Future()
        future.set_result(call(*args))
        return future


# label: (classifier, torch threads, overlap of reading and the network, chunk size)
Configurations = dict[str, tuple[Classifier, int, bool, int]]


def rates_in_rounds(configurations: Configurations, data: Path, scratch: Path, repeats: int) -> None:
    """classify_folder's rate for each configuration, ``repeats`` rounds of all in turn (so that a passing load on
    a shared machine touches them all alike); prints each one's median and single rates."""
    overlapping = classify.ThreadPoolExecutor
    rates: dict[str, list[float]] = {label: [] for label in configurations}
    for _ in range(repeats):
        for label, (network, threads, overlap, chunk_size) in configurations.items():
            torch.set_num_threads(threads)
            classify.ThreadPoolExecutor = overlapping if overlap else InThisThread  # type: ignore[misc]
            try:
                rates[label].append(driver_rate(network, data, scratch / "levers", chunk_size))
            finally:
                classify.ThreadPoolExecutor = overlapping  # type: ignore[misc]
    for label, measured in rates.items():
        print(f"  {label:58s} {statistics.median(measured):6.1f}  (of {', '.join(f'{r:.0f}' for r in measured)})")


def driver_levers(
    classifier: Classifier, data: Path, scratch: Path, repeats: int, compile_too: bool, busy_core: bool
) -> None:
    """classify_folder's rate in this process: torch threads with and without the overlap, chunk sizes and the
    compiled network; with ``busy_core``, the threads and overlap again while another process keeps a core busy."""
    print(f"\ndriver levers in this process, recordings/s, median of {repeats} rounds; {load_average()}")
    compiled = copy.copy(classifier)
    if compile_too:
        torch.set_num_threads(1)  # the compiled kernels keep the thread count they were compiled with
        started = time.perf_counter()
        compiled.compile()
        seconds = time.perf_counter() - started
        print(f"  compiled the network (1 thread; torch's caches warm from above) in {seconds:.1f} s")
    threads_and_overlap: Configurations = {
        "1 thread, overlapped, chunks of 16 (the driver's default)": (classifier, 1, True, 16),
        "1 thread, one chunk after another": (classifier, 1, False, 16),
        "2 threads, overlapped": (classifier, 2, True, 16),
        "2 threads, one chunk after another (today's)": (classifier, 2, False, 16),
    }
    configurations: Configurations = {
        **threads_and_overlap,
        **{f"1 thread, overlapped, chunks of {chunk}": (classifier, 1, True, chunk) for chunk in (8, 32, 64)},
    }
    if compile_too:
        configurations["1 thread, overlapped, compiled network"] = (compiled, 1, True, 16)
    rates_in_rounds(configurations, data, scratch, repeats)
    print(f"  ({load_average()})")
    if busy_core:
        print("  with another process keeping one core busy (a Python loop):")
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            rates_in_rounds(threads_and_overlap, data, scratch, repeats)
        finally:
            hog.kill()
            hog.wait()


def stage_times(classifier: Classifier, data: Path, scratch: Path) -> None:
    """Milliseconds per recording of each step of the driver, one step after another in one thread; the network
    on chunks of 16 recordings, as the driver batches them."""
    torch.set_num_threads(1)
    print(f"\nwhere the time goes, ms per recording, one thread, one step after another; {load_average()}")
    recordings = list_recordings(data)
    started = time.perf_counter()
    readers = []
    for recording in recordings:
        header = read_header(recording.header)
        readers.append((header, open_counts(recording.signal, header)))
    read = time.perf_counter()
    signals = [PreparedSignal(millivolts_reader(counts, header), counts.shape[1], header) for header, counts in readers]
    firsts = [signal.samples(0, MEASURED_SAMPLES) for signal in signals]
    prepared = time.perf_counter()
    pairs = zip(firsts, readers, strict=True)
    features = [record_features(first, header.age, header.sex) for first, (header, _) in pairs]
    measured = time.perf_counter()
    items = list(zip(signals, features, strict=True))
    rows = [classifier.scores(items[first : first + 16]) for first in range(0, len(items), 16)]
    _, labels, scores = classifier.challenge_outputs(RecordingScores.concatenate(rows))
    classified = time.perf_counter()
    (scratch / "stages").mkdir(exist_ok=True)
    codes = list(classifier.classes.output_codes)
    for index, recording in enumerate(recordings):
        save_outputs(scratch / "stages" / f"{recording.name}.csv", recording.name, codes, labels[index], scores[index])
    written = time.perf_counter()
    steps = {
        "read (header, open the .mat)": read - started,
        "prepare (leads, checks; 500 Hz: no resampling)": prepared - read,
        "record measurements": measured - prepared,
        "network (chunks of 16)": classified - measured,
        "write (atomic, flushed to disk)": written - classified,
    }
    print("  " + ", ".join(f"{step} {1000 * seconds / len(recordings):.2f}" for step, seconds in steps.items()))
    for frequency in (257, 1000):
        folder = scratch / f"rate-{frequency}"
        write_record(folder, "r", synthesize_ecg(np.random.default_rng(1), frequency, 10, 70.0), frequency)
        header = read_header(folder / "r.hea")
        started = time.perf_counter()
        for _ in range(20):
            counts = open_counts(folder / "r.mat", header)
            PreparedSignal(millivolts_reader(counts, header), counts.shape[1], header).samples(0, MEASURED_SAMPLES)
        print(
            f"  read and prepare a 10 s recording at {frequency} Hz (resampled to 500 Hz): "
            f"{1000 * (time.perf_counter() - started) / 20:.2f} ms"
        )
    print(f"  ({load_average()})")


STARTUP_CHILD = """
import os, sys, time
started = time.perf_counter()
import torch
torch_imported = time.perf_counter()
import scipy.signal
scipy_imported = time.perf_counter()
sys.path.insert(0, sys.argv[2])
import team_code
from ecg12.classify import classify_folder
imported = time.perf_counter()
team_code.load_12ECG_model(sys.argv[1], "cpu")
loaded = time.perf_counter()
print(torch_imported - started, scipy_imported - torch_imported, imported - scipy_imported, loaded - imported)
sys.stdout.flush()
if sys.argv[3] == "exit":
    os._exit(0)
"""


def startup_times(model: Path) -> None:
    """The driver's start-up and end in fresh processes: interpreter, imports, model loading, teardown."""
    print(f"\nstart-up, fresh processes, median of 3; {load_average()}")

    def run(*command: str) -> tuple[float, str]:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, *command], capture_output=True, text=True, check=True, cwd=ROOT)
        return time.perf_counter() - started, done.stdout

    bare = statistics.median(run("-c", "pass")[0] for _ in range(3))
    leaving = [run("-c", STARTUP_CHILD, str(model), str(ROOT), "exit") for _ in range(3)]
    tearing_down = [run("-c", STARTUP_CHILD, str(model), str(ROOT), "teardown")[0] for _ in range(3)]
    parts = np.median([[float(x) for x in out.split()] for _, out in leaving], axis=0)
    print(
        f"  interpreter {bare:.2f} s, import torch {parts[0]:.2f} s, scipy.signal {parts[1]:.2f} s, ecg12 and the "
        f"rest {parts[2]:.2f} s, model loading {parts[3]:.2f} s; interpreter teardown that os._exit skips "
        f"{statistics.median(tearing_down) - statistics.median(w for w, _ in leaving):.2f} s"
    )
    print(f"  ({load_average()})")


def speed_section(scratch: Path, arguments: argparse.Namespace) -> None:
    driver.keep_freed_memory_for_reuse()  # as driver.py does: the in-process measurements are its process's
    data = scratch / "speed-data"
    make_learnable_dataset(data, arguments.driver_records, seed=0)
    torch.manual_seed(0)
    model_dir = scratch / "speed-model"
    save_model_folder(model_dir, MultiScaleSENet(MODEL_SIZES["paper"]), DecisionRule(), 5000, {"benchmark": True})
    classifier = load_classifier(model_dir, "cpu")
    flops = forward_flops(classifier.model)
    print(
        f"\n== classification speed, paper network ({flops / 1e9:.3f} GFLOPs per window), "
        f"{arguments.driver_records} ten-second recordings, {os.cpu_count()} cores =="
    )
    compare_whole_commands(scratch, model_dir, data, arguments.reference, arguments.repeats)
    if arguments.busy_core:
        print("\nthe same with another process keeping one core busy (a Python loop):", end="")
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            compare_whole_commands(scratch, model_dir, data, arguments.reference, arguments.repeats)
        finally:
            hog.kill()
            hog.wait()
    network_levers(classifier, flops, not arguments.no_compile)
    driver_levers(classifier, data, scratch, arguments.repeats, not arguments.no_compile, arguments.busy_core)
    stage_times(classifier, data, scratch)
    startup_times(model_dir)


def precision_rates(model: torch.nn.Module) -> None:
    """Windows/s of the inference network in float32 and with bfloat16 convolutions, at 1 and 2 threads."""
    print(f"\nnetwork alone, windows/s, float32 against bfloat16 convolutions; {load_average()}")
    cpu = torch.device("cpu")
    networks = {str(dtype): inference_network(model, cpu, dtype) for dtype in (torch.float32, torch.bfloat16)}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for batch in (16, 64):
            rates = {label: windows_per_second(network, batch) for label, network in networks.items()}
            full, reduced = rates.values()
            print(
                f"  {threads} thread(s), batch {batch:2d}: float32 {full:6.1f}, "
                f"bfloat16 {reduced:6.1f} (x{reduced / full:.2f})"
            )
    print(f"  ({load_average()})")


def precision_outputs(model: Path, data: Path, scratch: Path) -> None:
    """A trained model's outputs on ``data`` in float32 and with bfloat16 convolutions: how far they differ."""
    folders = {}
    for precision in ("float32", "bfloat16"):
        folders[precision] = scratch / f"precision-{precision}"
        classify_folder(load_classifier(model, "cpu", precision), data, folders[precision], show_progress=False)
    largest, other_labels, compared = output_difference(*folders.values())
    print(
        f"\noutputs of {model} on {data}, float32 against bfloat16 convolutions: {compared} recordings, largest "
        f"probability difference {largest:.1e}, {other_labels} with other labels"
    )


def precision_section(scratch: Path, arguments: argparse.Namespace) -> None:
    """bfloat16 against float32: the network's rates, a trained model's outputs, and the whole command."""
    data = scratch / "speed-data"
    make_learnable_dataset(data, arguments.driver_records, seed=0)
    torch.manual_seed(0)
    model_dir = scratch / "speed-model"
    save_model_folder(model_dir, MultiScaleSENet(MODEL_SIZES["paper"]), DecisionRule(), 5000, {"benchmark": True})
    print(f"\n== precision, paper network, bfloat16 units: {'yes' if cpu_has_bfloat16_units() else 'no'} ==")
    precision_rates(load_classifier(model_dir).model)
    torch.set_num_threads(arguments.threads)
    if arguments.model:
        precision_outputs(Path(arguments.model), Path(arguments.data), scratch)
    compare_whole_commands(scratch, model_dir, data, arguments.reference, arguments.repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["paper", "small", "tiny"], choices=sorted(MODEL_SIZES))
    parser.add_argument("--records", type=int, default=96, help="10 s recordings classified per measurement")
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--sections", nargs="+", default=["sizes", "speed"], choices=["sizes", "speed", "precision"])
    parser.add_argument("--model", help="precision section: a trained model folder whose outputs are compared")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/cinc2020-sample"), help="for --model")
    parser.add_argument("--driver-records", type=int, default=200, help="10 s recordings of the speed section")
    parser.add_argument("--reference", default=REFERENCE_COMMIT, help="the commit whose driver.py is today's path")
    parser.add_argument("--repeats", type=int, default=3, help="whole-command runs of each tree")
    parser.add_argument("--no-compile", action="store_true", help="leave torch.compile out of the speed section")
    parser.add_argument(
        "--busy-core",
        action="store_true",
        help="speed section: also measure with one core kept busy by another process",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    if arguments.child:
        peak_memory_child(*arguments.child)
        return

    print(f"torch {torch.__version__}, {arguments.threads} threads, float32 matmul {matmul_gflops():.1f} GFLOP/s")
    if "speed" in arguments.sections:
        with tempfile.TemporaryDirectory() as scratch:
            speed_section(Path(scratch), arguments)
        torch.set_num_threads(arguments.threads)
    if "precision" in arguments.sections:
        with tempfile.TemporaryDirectory() as scratch:
            precision_section(Path(scratch), arguments)
        torch.set_num_threads(arguments.threads)
    if "sizes" not in arguments.sections:
        return
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
