#!/usr/bin/env python
"""Export a trained model folder for ONNX Runtime: python export_model.py MODEL [OUT.onnx]

Writes OUT.onnx (default MODEL/model.onnx): the network as the driver runs it, fold ensembles and the measurement
model included, with its sigmoid (inputs ``signals`` (B, 12, 5000) mV at 500 Hz and ``record_features``
(B, 29); output ``probabilities`` (B, 24)), and OUT.json beside it: the classes, the decision rule, the window
and stride, and the SHA-256 of both files. ``driver.py MODEL DATA OUTPUTS --backend onnxruntime`` classifies from
it without torch (docs/deployment.md). Export again after retraining: the driver refuses an export of another
model.pt.

Exit codes: 0 written, 2 a problem with MODEL or OUT (one line says which), 130 interrupted (nothing half-written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecg12.cli import INTERRUPTED, HelpFormatter
from ecg12.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("model", help="trained model folder (the folder that holds model.pt)")
    parser.add_argument("out", nargs="?", help="the ONNX file to write (default: MODEL/model.onnx)")
    arguments = parser.parse_args(argv)
    from ecg12.onnx_export import export_model  # only now: torch takes seconds to import
    from ecg12.scoring import ModelFolderError, sidecar_path

    if arguments.out is not None and Path(arguments.out).suffix.lower() != ".onnx":
        print(f"export_model.py: {arguments.out}: the export's name must end in .onnx", file=sys.stderr)
        return 2
    try:
        path = export_model(arguments.model, arguments.out)
    except KeyboardInterrupt:
        print("interrupted: nothing was written", file=sys.stderr)
        return INTERRUPTED
    except (ModelFolderError, OSError) as error:
        print(f"export_model.py: {error}", file=sys.stderr)
        return 2
    print(f"exported {arguments.model} to {path} and {sidecar_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
