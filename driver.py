#!/usr/bin/env python
"""Classify a folder: python driver.py MODEL DATA OUTPUTS  -> OUTPUTS/NAME.csv per recording, OUTPUTS/errors.csv.

Loads the model once (load_12ECG_model), then classifies every recording; one that cannot be read
or classified gets an all-negative output and a row in errors.csv. Exits 1 if any recording failed.
"""

from __future__ import annotations

import argparse
import sys

from ecg12.classify import classify_folder
from ecg12.cli import add_threads_argument, apply_threads
from ecg12.devices import DEVICE_CHOICES, DeviceError
from ecg12.inference import ModelFolderError
from ecg12.logs import configure_logging
from team_code import load_12ECG_model


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="trained model folder")
    parser.add_argument("data", help="folder of recordings to classify")
    parser.add_argument("outputs", help="folder for the output files")
    parser.add_argument("--device", default="auto", help=DEVICE_CHOICES)
    parser.add_argument("--chunk-size", type=int, default=16, help="recordings batched through the network together")
    add_threads_argument(parser)
    arguments = parser.parse_args(argv)
    apply_threads(arguments)
    try:
        model = load_12ECG_model(arguments.model, arguments.device)
        result = classify_folder(model, arguments.data, arguments.outputs, arguments.chunk_size)
    except (ModelFolderError, DeviceError, FileNotFoundError, RuntimeError) as error:
        print(f"driver.py: {error}", file=sys.stderr)
        return 2
    print(result.summary())
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
