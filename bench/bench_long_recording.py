#!/usr/bin/env python
"""Long recordings: peak memory and time of classifying one with driver.py, at 1 hour and at 24 hours.

    python bench/bench_long_recording.py [--hours 1 24] [--size paper] [--threads N] [--export] [--reference]

For each length, writes one 500 Hz 12-lead recording into a temporary folder (a MATLAB v4 file with an int16
``val``, as the Challenge ships them; a synthetic minute of ECG repeated; 24 hours is 1.04 GB on disk), classifies
it with driver.py in a fresh process and prints the driver's wall time and its peak resident memory (VmHWM of that
process, read by it as it ends; not getrusage, which Linux carries over from the parent, see bench_model.py). The
model is an untrained network of ``--size``: the time is the network's and the pipeline's whatever the weights.
With ``--export`` the model folder also holds its ONNX export, as training leaves it, and the driver's default
backend runs ONNX Runtime; without it, torch.

With ``--reference`` the shortest recording is also classified as the driver did before it read recordings a
segment at a time: the whole recording in memory (load_counts), prepared at once (prepare_signal), in one process.
The temporary folder is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.synthetic import header_text, synthesize_ecg, to_counts  # noqa: E402

FREQUENCY = 500
MAT_V4_INT16 = 30  # MATLAB v4 type code of a little-endian int16 numeric matrix
MAT_V4_NAME = b"val\0"


def write_long_recording(folder: Path, name: str, minutes: int) -> Path:
    """Write ``NAME.hea`` + ``NAME.mat`` of ``minutes`` of 12-lead ECG at 500 Hz, one minute at a time (the file is
    never in memory); returns the ``.mat`` path."""
    minute = to_counts(synthesize_ecg(np.random.default_rng(0), FREQUENCY, 60, 72.0))  # (12, 30000) int16
    samples = minute.shape[1] * minutes
    mat = folder / f"{name}.mat"
    with open(mat, "wb") as handle:
        handle.write(struct.pack("<5i", MAT_V4_INT16, minute.shape[0], samples, 0, len(MAT_V4_NAME)) + MAT_V4_NAME)
        frames = minute.T.tobytes()  # column-major: one sample of every lead after another
        for _ in range(minutes):
            handle.write(frames)
    # The header of one minute, with the whole recording's length and checksums (the sum of all samples, wrapped).
    lines = header_text(name, minute, FREQUENCY, age=65.0, sex="Male").splitlines()
    lines[0] = f"{name} 12 {FREQUENCY} {samples}"
    for lead, row in enumerate(minute):
        fields = lines[1 + lead].split()
        fields[6] = str((int(row.sum(dtype=np.int64)) * minutes + 32768) % 65536 - 32768)
        lines[1 + lead] = " ".join(fields)
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return mat


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def child(mode: str, model: str, data: str, outputs: str, threads: str) -> None:
    """Classify the recording of ``data``; print the wall time and this process's peak memory as JSON."""
    started = time.perf_counter()
    if mode == "driver":
        import driver

        code = driver.main([model, data, outputs, "--device", "cpu", "--threads", threads])
        assert code == 0, f"driver.py exited with {code}"
    else:  # the reference: the whole recording in memory, prepared at once
        import torch

        from ecg12.features import record_features
        from ecg12.headers import read_header
        from ecg12.inference import load_classifier
        from ecg12.preprocess import prepare_signal
        from ecg12.recordings import load_counts, to_millivolts

        torch.set_num_threads(int(threads))
        classifier = load_classifier(model, "cpu")
        (header_path,) = Path(data).glob("*.hea")
        header = read_header(header_path)
        counts = load_counts(header_path.with_suffix(".mat"), header)
        signal = prepare_signal(to_millivolts(counts, header), header)
        classifier.probabilities([(signal, record_features(signal, header.age, header.sex))])
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": peak_mb()}))


def measure(mode: str, model: Path, data: Path, outputs: Path, threads: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", mode, str(model), str(data), str(outputs), str(threads)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, nargs="+", default=[1, 24], help="recording lengths")
    parser.add_argument("--size", default="paper", help="model size (ecg12.config.MODEL_SIZES)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the driver")
    parser.add_argument("--export", action="store_true", help="export the model (the driver then runs ONNX Runtime)")
    parser.add_argument("--reference", action="store_true", help="also the whole-recording path, shortest length")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(*arguments.child)
        return

    import torch

    from ecg12.config import MODEL_SIZES
    from ecg12.inference import save_model_folder
    from ecg12.model import MultiScaleSENet
    from ecg12.onnx_export import export_model
    from ecg12.thresholds import DecisionRule

    backend = "ONNX Runtime (the export)" if arguments.export else f"torch {torch.__version__}"
    print(f"{backend}, {arguments.threads} threads, untrained {arguments.size} model, 500 Hz, 12 leads")
    results: dict[float, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-long-") as scratch:
        model = Path(scratch) / "model"
        torch.manual_seed(0)
        save_model_folder(model, MultiScaleSENet(MODEL_SIZES[arguments.size]), DecisionRule(), 5000, {"bench": True})
        if arguments.export:
            export_model(model)
        for hours in sorted(arguments.hours):
            data = Path(scratch) / f"data-{hours:g}h"
            data.mkdir()
            started = time.perf_counter()
            mat = write_long_recording(data, f"holter_{hours:g}h", round(hours * 60))
            written = time.perf_counter() - started
            windows = round(hours * 360)
            result = results[hours] = measure("driver", model, data, Path(scratch) / "out", arguments.threads)
            print(
                f"{hours:5g} h: {mat.stat().st_size / 1e9:.2f} GB written in {written:.0f} s; driver.py "
                f"{result['seconds']:.0f} s ({windows / result['seconds']:.0f} windows/s), "
                f"peak memory {result['peak_mb']:.0f} MB",
                flush=True,
            )
            if arguments.reference and hours == min(arguments.hours):
                whole = measure("whole", model, data, Path(scratch) / "out-whole", arguments.threads)
                print(
                    f"{hours:5g} h, whole recording in memory (reference): {whole['seconds']:.0f} s, "
                    f"peak memory {whole['peak_mb']:.0f} MB",
                    flush=True,
                )
            mat.unlink()  # 1 GB a day: one recording on disk at a time
    if len(results) > 1:
        short, long = min(results), max(results)
        print(
            f"{long:g} h / {short:g} h: time x{results[long]['seconds'] / results[short]['seconds']:.1f}, "
            f"peak memory x{results[long]['peak_mb'] / results[short]['peak_mb']:.2f}"
        )


if __name__ == "__main__":
    main()
