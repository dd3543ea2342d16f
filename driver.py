#!/usr/bin/env python
"""Classify a folder: python driver.py MODEL DATA OUTPUTS  -> OUTPUTS/NAME.csv per recording, OUTPUTS/errors.csv.

Loads the model once (as team_code's load_12ECG_model: ecg12.backends), then classifies every recording: every
NAME.hea, NAME.mat or NAME.dat in DATA gets NAME.csv. One that cannot be read or classified gets an all-negative
output and a row in errors.csv; one answered after a repair (zero-filled leads...) a row in warnings.csv. Where a
recording is itself named errors or warnings, the report takes another name (errors_2.csv...); the summary line
says where the reports went.

Exit codes: 0 all recordings done, 1 some failed or a report could not be written (the summary line says how many
outputs were written), 2 nothing classified (a problem with MODEL, DATA or OUTPUTS, or another run writing into
OUTPUTS), 130 interrupted (Ctrl-C; the outputs written so far stay).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

from ecg12.backends import BACKEND_CHOICES, BACKENDS, torch_only_options
from ecg12.backends import load_model as load_model_of
from ecg12.cli import INTERRUPTED, HelpFormatter, add_threads_argument, apply_threads
from ecg12.config import DEVICE_CHOICES, PRECISION_CHOICES, PRECISIONS
from ecg12.logs import configure_logging
from ecg12.scoring import RecordingClassifier


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("model", help="trained model folder (the folder that holds model.pt)")
    parser.add_argument("data", help="folder of recordings to classify (NAME.hea + NAME.mat directly in it)")
    parser.add_argument("outputs", help="folder for the output files")
    parser.add_argument("--device", default="auto", help=DEVICE_CHOICES)
    parser.add_argument("--chunk-size", type=int, default=16, help="recordings batched through the network together")
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="where stderr is not a terminal (logs, nohup, docker run without -t): seconds between progress lines",
    )
    parser.add_argument(
        "--plots",
        metavar="DIR",
        help="also draw a report of every recording into DIR/NAME.pdf (report.py's; slow: off by default)",
    )
    parser.add_argument(
        "--compile",
        choices=("auto", "always", "never"),
        default="auto",
        help="compile the network (torch.compile: 30-40 s, 3-12 s with torch's cache warm; then about 1.4 times "
        "the recordings per second on a CPU); auto: on a CPU for folders of 20,000 recordings or more, where it pays",
    )
    parser.add_argument(
        "--measurements",
        metavar="FILE.csv",
        help="also write each recording's measurements (heart rate, PR, QRS, QT, QTc, axes...: docs/model.md) into "
        "FILE.csv, one row per recording, an empty field where one cannot be made; outside OUTPUTS",
    )
    parser.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_CHOICES)
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help=f"what runs the network: {BACKEND_CHOICES}")
    parser.add_argument(
        "--onnx", metavar="FILE.onnx", help="the export ONNX Runtime runs (default MODEL/model.onnx); means onnxruntime"
    )
    # While the network classifies a chunk, the main thread prepares the next one (ecg12.classify): a core of its
    # own keeps torch's threads from waiting for each other at every operation (docs/performance.md).
    add_threads_argument(parser, spare_core_for="reads and prepares the next recordings meanwhile")
    arguments = parser.parse_args(argv)
    conflict = backend_conflict(arguments)
    if conflict is not None:
        print(f"driver.py: {conflict}", file=sys.stderr)
        return 2
    # Only now: torch takes seconds to import, and --help or a usage error need not wait for it.
    from ecg12.classify import FolderInterrupted, classify_folder
    from ecg12.recordings import DataFolderError
    from ecg12.scoring import ModelFolderError

    model_folder = Path(arguments.model)
    if model_folder.is_file():
        message = f"{model_folder} is a file; pass the model folder that holds it, {model_folder.parent}"
        print(f"driver.py: {message}", file=sys.stderr)
        return 2
    try:
        model = load_model(model_folder, arguments)
        result = classify_folder(
            model,
            arguments.data,
            arguments.outputs,
            arguments.chunk_size,
            progress_interval=arguments.progress_interval,
            compile_network={"auto": None, "always": True, "never": False}[arguments.compile],
            measurements_file=arguments.measurements,
        )
    except FolderInterrupted as interrupted:
        print(
            f"interrupted: {interrupted.written} of {interrupted.total} recordings written to "
            f"{interrupted.output_folder}; run again to classify them all (the written ones come out the same)",
            file=sys.stderr,
        )
        return INTERRUPTED
    except KeyboardInterrupt:
        print("interrupted before any recording was classified", file=sys.stderr)
        return INTERRUPTED
    except (ModelFolderError, ValueError, DataFolderError, FileNotFoundError, RuntimeError) as error:
        print(f"driver.py: {error}", file=sys.stderr)
        return 2
    print(result.summary())
    if arguments.plots:
        from ecg12.recordings import list_recordings
        from ecg12.report import write_folder_reports  # only here: drawing needs matplotlib

        recordings = list_recordings(arguments.data)
        try:
            failures = write_folder_reports(model, recordings, arguments.plots)
        except KeyboardInterrupt:
            print(
                f"interrupted while drawing reports; the outputs in {arguments.outputs} are complete", file=sys.stderr
            )
            return INTERRUPTED
        print(f"reports: {len(recordings) - len(failures)} of {len(recordings)} drawn into {arguments.plots}")
        for name, problem in failures:
            print(f"{name}: no report: {problem}", file=sys.stderr)
    return 1 if result.failed or result.report_problem else 0


def backend_conflict(arguments: argparse.Namespace) -> str | None:
    """What in the options the backend cannot do, in a line that says what to do instead; None if nothing."""
    if arguments.backend == "torch":
        return "--onnx is the export ONNX Runtime runs; drop --backend torch" if arguments.onnx else None
    if arguments.backend == "auto" and arguments.onnx is None:
        return None  # auto takes torch where an option asks for it
    given = torch_only_options(arguments.device, arguments.compile, arguments.precision, arguments.plots)
    if given:
        return f"{', '.join(given)}: torch's only (ONNX Runtime runs on the CPU in float32); use --backend torch"
    return None


def load_model(folder: Path, arguments: argparse.Namespace) -> RecordingClassifier:
    """The classifier of ``folder`` on the backend asked for (ecg12.backends), on the threads ``--threads`` says."""
    torch_only = torch_only_options(arguments.device, arguments.compile, arguments.precision, arguments.plots)
    backend = "torch" if arguments.backend == "auto" and torch_only and arguments.onnx is None else arguments.backend
    onnx_threads = arguments.threads or max((os.cpu_count() or 1) - arguments.spare_cores, 1)
    recordings = count(arguments.data) if backend == "auto" else None  # only auto weighs the folder's size
    model = load_model_of(
        folder, backend, arguments.device, arguments.precision, arguments.onnx, onnx_threads, recordings
    )
    if model.backend == "torch":
        apply_threads(arguments)
    return model


def count(data: str) -> int | None:
    """How many recordings ``data`` holds; None where it cannot be listed (classify_folder then says why)."""
    from ecg12.recordings import DataFolderError, list_recordings

    try:
        return len(list_recordings(data))
    except (DataFolderError, OSError):
        return None


def keep_freed_memory_for_reuse() -> None:
    """Have glibc's malloc keep freed memory for the next allocations instead of returning it to the system.

    By default glibc gives blocks from 128 KB on their own pages (mmap) and returns freed memory at the top of its
    heap to the system: every forward pass then faults in its activations' pages afresh, a quarter of the
    network's time on this virtual machine. With blocks up to 32 MB from the heap and up to 128 MB kept free at
    its top, the pages are reused: 200 ten-second recordings classified 25% faster, a 1-hour recording with
    8% more peak memory (828 MB), which still does not grow with the length (docs/performance.md). Other C
    libraries: nothing to do.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's largest
    mallopt(m_trim_threshold, 128 * 1024 * 1024)


if __name__ == "__main__":
    keep_freed_memory_for_reuse()
    status = main()
    # Everything is written (outputs flushed to disk, reports renamed into place): leave without tearing the
    # interpreter down, which takes half a second with torch and scipy loaded (docs/performance.md).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
