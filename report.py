#!/usr/bin/env python
"""Report on one recording: python report.py MODEL RECORDING [OUT.png|OUT.pdf]

Draws the recording as a clinician reads it (ECG grid paper, 25 mm/s, 10 mm/mV, the 3 x 4 layout and a lead II
rhythm strip, true size when the PDF is printed at 100 %), with its name, age, sex, sampling rate, the labels in
its header and the predicted diagnoses by name with their probabilities and thresholds; then, on the following
pages, which 10 s windows voted for each predicted class and a saliency map (Grad-CAM) of where in the leads and
time each decision came from. RECORDING is NAME, NAME.hea, NAME.mat or NAME.dat; the report goes to OUT
(default: NAME.pdf in the current folder), a PDF of one page each or a PNG of the pages one under the other.

Exit codes: 0 written, 1 the recording cannot be read or the report cannot be written, 2 a problem with MODEL,
130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ecg12.cli import INTERRUPTED, HelpFormatter, add_threads_argument, apply_threads
from ecg12.config import DEVICE_CHOICES
from ecg12.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("model", metavar="MODEL", help="trained model folder (the folder that holds model.pt)")
    parser.add_argument("recording", metavar="RECORDING", help="the recording: NAME, NAME.hea, NAME.mat or NAME.dat")
    parser.add_argument(
        "output",
        metavar="OUT",
        nargs="?",
        default=argparse.SUPPRESS,  # the default depends on RECORDING: said in the help, not shown as None
        help="the report, .pdf or .png (default: NAME.pdf in the current folder)",
    )
    parser.add_argument("--dpi", type=float, default=150.0, help="resolution of a PNG report (a PDF is vector)")
    parser.add_argument("--device", default="cpu", help=f"{DEVICE_CHOICES}; one recording is quick on the CPU")
    add_threads_argument(parser)
    arguments = parser.parse_args(argv)
    recording = Path(arguments.recording)
    if "output" in arguments and Path(arguments.output).suffix.lower() not in (".pdf", ".png"):
        parser.error(f"the report is written as .pdf or .png, not {arguments.output}")
    apply_threads(arguments)
    # Only now: torch and matplotlib take seconds to import, and --help or a usage error need not wait for them.
    from ecg12.classes import class_name
    from ecg12.devices import DeviceError
    from ecg12.files import printable
    from ecg12.headers import RecordError
    from ecg12.inference import ModelFolderError, load_classifier
    from ecg12.recording_analysis import header_path_of
    from ecg12.report import write_recording_report

    header = header_path_of(recording)
    output = Path(arguments.output) if "output" in arguments else Path(f"{header.stem}.pdf")
    try:
        classifier = load_classifier(arguments.model, arguments.device)
    except (ModelFolderError, DeviceError) as error:
        print(f"report.py: {printable(str(error))}", file=sys.stderr)
        return 2
    try:
        analysis = write_recording_report(classifier, header, output, arguments.dpi)
    except (RecordError, ValueError) as error:
        print(f"report.py: {printable(str(error))}", file=sys.stderr)
        return 1
    except OSError as error:  # the report cannot be written: a missing or read-only folder, a full disk
        where = f"{error.filename}: " if error.filename else ""
        print(f"report.py: {printable(where + str(error.strerror or error))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # nothing half-written stays: the report is written atomically
        print("report.py: interrupted; no report written", file=sys.stderr)
        return INTERRUPTED
    predicted = [class_name(analysis.classes.codes[index])[0] for index in analysis.predicted.nonzero()[0]]
    name = printable(analysis.header.record_name)
    print(f"{printable(str(output))}: {name}, predicted {', '.join(predicted) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
