#!/usr/bin/env python
"""The whole driver command with its defaults and on each backend, against a reference commit's driver.

    python bench/bench_onnx.py [--records 200] [--repeats 3] [--reference 5819eef]

On ``--records`` synthetic ten-second 500 Hz recordings (ecg12.synthetic), the paper network (untrained, seed
0) in a model folder with its export (``export_model.py MODEL``, as training leaves it), each command in a fresh
process, the configurations one after another in each of ``--repeats`` rounds:
- this tree's ``driver.py MODEL DATA OUTPUTS`` with its defaults (``--backend auto``: ONNX Runtime from the
  export), with ``--backend torch`` (bfloat16 convolutions where the CPU has the units), and with ``--backend
  torch --precision float32``;
- the reference commit's driver with its defaults (its tree taken with ``git archive``; its own model folder,
  the same weights saved by its code).
Prints the median wall time, the rate the driver prints, the ratio to the reference, and how far each
configuration's outputs are from this tree's float32 torch outputs (largest probability difference, recordings
with other labels). The load average is printed before and after: on a shared machine, say how loaded it was.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from bench_model import load_average, model_for_tree, output_difference, reference_tree, whole_command

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecg12.config import MODEL_SIZES  # noqa: E402
from ecg12.inference import save_model_folder  # noqa: E402
from ecg12.model import MultiScaleSENet  # noqa: E402
from ecg12.onnx_export import export_model  # noqa: E402
from ecg12.synthetic import make_learnable_dataset  # noqa: E402
from ecg12.thresholds import DecisionRule  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", default="5819eef", help="the commit whose driver is today's")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        data = scratch / "data"
        make_learnable_dataset(data, arguments.records, seed=0)
        torch.manual_seed(0)
        model = scratch / "model"
        save_model_folder(model, MultiScaleSENet(MODEL_SIZES["paper"]), DecisionRule(), 5000, {"benchmark": True})
        export_model(model)
        configurations: dict[str, tuple[Path, Path, list[str]]] = {
            "torch float32": (ROOT, model, ["--backend", "torch", "--precision", "float32"]),
            "torch": (ROOT, model, ["--backend", "torch"]),
            "defaults (onnxruntime)": (ROOT, model, []),
        }
        old = reference_tree(arguments.reference, scratch / "reference")
        if old is not None:
            configurations[f"{arguments.reference}, defaults"] = (old, model_for_tree(old, model, scratch), [])
        print(
            f"{arguments.records} ten-second recordings, paper network, median of {arguments.repeats}; {load_average()}"
        )
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label in configurations}
        for _ in range(arguments.repeats):
            for index, (label, (tree, folder_model, options)) in enumerate(configurations.items()):
                runs[label].append(whole_command(tree, folder_model, data, scratch / f"out-{index}", options))
        walls = {label: statistics.median(wall for wall, _ in measured) for label, measured in runs.items()}
        reference_wall = walls[f"{arguments.reference}, defaults"] if old is not None else None
        for index, (label, measured) in enumerate(runs.items()):
            rate = statistics.median(r for _, r in measured)
            largest, other, compared = output_difference(scratch / "out-0", scratch / f"out-{index}")
            ratio = f", x{reference_wall / walls[label]:.2f} the reference's recordings/s" if reference_wall else ""
            print(
                f"  {label:22s} {walls[label]:5.2f} s whole command "
                f"({arguments.records / walls[label]:6.1f} recordings/s{ratio}), classification {rate:6.1f} "
                f"recordings/s; against torch float32: largest probability difference {largest:.1e}, "
                f"{other} of {compared} with other labels"
            )
    print(f"({load_average()})")


if __name__ == "__main__":
    main()
