#!/usr/bin/env python
"""Reduced precision for inference: int8 (ONNX Runtime static quantisation) and bfloat16 against float32.

    python bench/bench_int8.py MODEL [--data DATA] [--calibration 32]

MODEL is a trained model folder (a single network or one with its measurement model). On the first 10 s window
of every recording in DATA (default: the shared sample recordings), with each recording's record features:
- torch float32 (the inference network, the reference), torch with bfloat16 convolutions (ecg12.precision),
  ONNX Runtime float32 and ONNX Runtime int8: the network exported to ONNX and quantised statically (QDQ,
  weights per channel, activations calibrated on the first ``--calibration`` recordings' windows, MinMax);
- for each: windows/s at batches of 16 and 64 on 1 and 2 threads, the largest change of a probability against
  torch float32, and the recordings whose labels change under the model's own decision rule (one window per
  recording, so the patch rules see one patch).
The load average is printed before and after: on a shared machine, say how loaded it was.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.headers import read_header  # noqa: E402
from ecg12.inference import Classifier, load_classifier  # noqa: E402
from ecg12.onnx_classifier import OnnxClassifier, onnx_session  # noqa: E402
from ecg12.onnx_export import export_network  # noqa: E402
from ecg12.preprocess import WINDOW_SAMPLES, extract_windows  # noqa: E402
from ecg12.recordings import list_recordings, open_counts  # noqa: E402
from ecg12.scoring import prepare_recording  # noqa: E402
from ecg12.thresholds import DecisionRule, patch_fractions  # noqa: E402

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def first_windows(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(n, 12, 5000) float32 first windows and (n, features) record features of every recording in ``data``."""
    windows, features = [], []
    for recording in list_recordings(data):
        header = read_header(recording.header)
        signal, record = prepare_recording(header, open_counts(recording.signal, header))
        windows.append(extract_windows(signal, np.array([0]), WINDOW_SAMPLES, np.float32)[0])
        features.append(record.astype(np.float32))
    return np.stack(windows), np.stack(features)


def torch_forward(network: torch.nn.Module) -> Forward:
    def forward(windows: np.ndarray, features: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = network(torch.from_numpy(windows), torch.from_numpy(features))
        return torch.sigmoid(logits.float()).numpy()

    return forward


class _Calibration(CalibrationDataReader):
    """The calibration windows, one batch of 8 at a time."""

    def __init__(self, windows: np.ndarray, features: np.ndarray) -> None:
        self.batches = iter(
            [{"signals": windows[i : i + 8], "record_features": features[i : i + 8]} for i in range(0, len(windows), 8)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def ort_forward(path: Path, threads: int) -> Forward:
    """The window probabilities of the ONNX file ``path`` as the driver's ONNX Runtime backend computes them."""
    return OnnxClassifier(onnx_session(path, threads), DecisionRule(), WINDOW_SAMPLES).window_probabilities


def windows_per_second(forward: Forward, windows: np.ndarray, features: np.ndarray, batch: int) -> float:
    windows, features = windows[:batch], features[:batch]
    forward(windows, features)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < 2.0:
        forward(windows, features)
        done += batch
    return done / (time.perf_counter() - started)


def in_batches(forward: Forward, windows: np.ndarray, features: np.ndarray) -> np.ndarray:
    return np.concatenate([forward(windows[i : i + 64], features[i : i + 64]) for i in range(0, len(windows), 64)])


def labels(classifier: Classifier, probabilities: np.ndarray) -> np.ndarray:
    fractions = np.stack([patch_fractions(row[None]) for row in probabilities])
    return classifier.decision_rule.apply(probabilities, fractions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a trained model folder")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/cinc2020-sample"))
    parser.add_argument("--calibration", type=int, default=32, help="recordings whose windows calibrate int8")
    arguments = parser.parse_args()
    windows, features = first_windows(Path(arguments.data))
    reference = load_classifier(arguments.model, "cpu")
    print(f"{len(windows)} recordings of {arguments.data}, model {arguments.model}; {load_average()}")
    with tempfile.TemporaryDirectory() as scratch:
        fp32_onnx, int8_onnx = Path(scratch) / "model.onnx", Path(scratch) / "model-int8.onnx"
        export_network(reference.network, fp32_onnx)
        started = time.perf_counter()
        quantize_static(
            str(fp32_onnx),
            str(int8_onnx),
            _Calibration(windows[: arguments.calibration], features[: arguments.calibration]),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        print(f"quantised in {time.perf_counter() - started:.1f} s")
        for threads in (1, 2):
            torch.set_num_threads(threads)
            paths = {
                "torch float32": torch_forward(reference.network),
                "torch bfloat16": torch_forward(load_classifier(arguments.model, "cpu", "bfloat16").network),
                "onnxruntime float32": ort_forward(fp32_onnx, threads),
                "onnxruntime int8": ort_forward(int8_onnx, threads),
            }
            full = in_batches(paths["torch float32"], windows, features)
            full_labels = labels(reference, full)
            print(f"\n{threads} thread(s):")
            for label, forward in paths.items():
                probabilities = in_batches(forward, windows, features)
                changed = int((labels(reference, probabilities) != full_labels).any(axis=1).sum())
                rates = [windows_per_second(forward, windows, features, batch) for batch in (16, 64)]
                print(
                    f"  {label:20s} batch 16 {rates[0]:6.1f} windows/s, batch 64 {rates[1]:6.1f}; largest probability "
                    f"change {np.abs(probabilities - full).max():.1e}, {changed} recordings with other labels"
                )
    print(f"({load_average()})")


if __name__ == "__main__":
    main()
