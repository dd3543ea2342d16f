"""Classifying a folder of recordings: every recording gets an output file, whatever happens to the others.

Recordings are read and prepared one by one; a recording that cannot be read or prepared gets an
all-negative output (labels 0, probabilities 0, so the scorer counts it as negative) and a row in
``errors.csv`` (recording, stage, message). The prepared recordings of a chunk go through the
network together (batching windows across recordings); should a chunk fail there, its recordings
are retried one at a time so that only the culprit fails. Output files are written atomically: a
write that fails leaves the file as it was (absent, or a previous run's) and is reported as a failure
of stage ``write``; temporary files that a killed run left behind are removed by the next run.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ecg12.files import atomic_write_text
from ecg12.headers import Header, RecordError, read_header
from ecg12.inference import Classifier, prepare_recording
from ecg12.outputs import save_outputs
from ecg12.preprocess import WINDOW_SAMPLES
from ecg12.recordings import load_counts

log = logging.getLogger(__name__)

ERRORS_FILE = "errors.csv"


class OutputFolderError(RuntimeError):
    """The output folder cannot be created, or errors.csv cannot be written into it."""


@dataclass
class FolderResult:
    """What happened to a folder: counts, time and one (recording, stage, message) row per failure."""

    done: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        rate = (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0
        return (
            f"classified {self.done + self.failed} recordings: {self.done} done, {self.failed} failed, "
            f"{self.seconds:.1f} s ({rate:.1f} recordings/s)"
        )


def find_signal_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Every ``.mat`` file in a folder, and ``.dat`` files of WFDB records without a ``.mat``, sorted."""
    directory = Path(folder)
    if not directory.is_dir():
        raise FileNotFoundError(f"data folder {directory} does not exist")
    files = [p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")]
    mats = {p.stem for p in files if p.suffix.lower() == ".mat"}
    chosen = [
        p
        for p in files
        if p.suffix.lower() == ".mat"
        or (p.suffix.lower() == ".dat" and p.stem not in mats and p.with_suffix(".hea").is_file())
    ]
    return sorted(chosen)


def classify_recording(
    classifier: Classifier, header: Header, counts: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Output codes, binary labels and probabilities (27 each) of one recording in raw ADC counts."""
    probabilities = classifier.probabilities([prepare_recording(header, counts)])
    codes, labels, scores = classifier.challenge_outputs(probabilities)
    return codes, labels[0], scores[0]


def classify_folder(
    classifier: Classifier,
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    chunk_size: int = 16,
    show_progress: bool = True,
) -> FolderResult:
    """Classify every recording of ``data_folder`` into ``output_folder/NAME.csv``; never stops on one."""
    started = time.time()
    files = find_signal_files(data_folder)
    output_folder = Path(output_folder)
    try:
        output_folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(f"cannot create output folder {output_folder}: {error.strerror or error}") from error
    _remove_temporaries(output_folder, {f"{path.stem}.csv" for path in files} | {ERRORS_FILE})
    result = FolderResult()
    codes = list(classifier.classes.output_codes)
    zeros = np.zeros(len(codes))

    def fail(name: str, stage: str, error: BaseException) -> None:
        message = str(error.problem) if isinstance(error, RecordError) else f"{type(error).__name__}: {error}"
        print(f"{name}: {stage} failed: {message}", file=sys.stderr)
        result.errors.append((name, stage, message))
        result.failed += 1
        if stage == "write":  # the atomic write left the file as it was; an all-negative one must not replace it
            return
        try:
            save_outputs(output_folder / f"{name}.csv", name, codes, zeros, zeros)
        except OSError as write_error:
            print(f"{name}: cannot write its output: {write_error}", file=sys.stderr)

    def write(name: str, labels: np.ndarray, probabilities: np.ndarray) -> None:
        try:
            save_outputs(output_folder / f"{name}.csv", name, codes, labels, probabilities)
            result.done += 1
        except OSError as error:
            fail(name, "write", error)

    pending: list[tuple[str, tuple[np.ndarray, np.ndarray]]] = []

    def classify_pending() -> None:
        try:
            probabilities = classifier.probabilities(item for _, item in pending)
        except Exception:  # find the culprit: classify the chunk's recordings one at a time
            log.warning("A chunk failed in the network; classifying its recordings one by one")
            probabilities = None
        for index, (name, item) in enumerate(pending):
            try:
                row = (
                    probabilities[index : index + 1] if probabilities is not None else classifier.probabilities([item])
                )
                if not np.isfinite(row).all():
                    raise ValueError("the network gave non-finite probabilities")
                _, labels, scores = classifier.challenge_outputs(row)
            except Exception as error:
                fail(name, "classify", error)
                continue
            write(name, labels[0], scores[0])
        pending.clear()

    # A chunk holds at most chunk_size recordings or chunk_size windows' worth of samples, so that
    # memory stays bounded however long the recordings are.
    sample_budget = max(chunk_size, 1) * WINDOW_SAMPLES
    for path in tqdm(files, desc="classifying", unit="rec", disable=None if show_progress else True):
        stage = "read"
        try:
            header = read_header(path.with_suffix(".hea"))
            counts = load_counts(path, header)
            stage = "preprocess"
            pending.append((path.stem, prepare_recording(header, counts)))
        except Exception as error:  # one bad recording must never stop the batch
            fail(path.stem, stage, error)
        if len(pending) >= chunk_size or sum(signal.shape[1] for _, (signal, _) in pending) >= sample_budget:
            classify_pending()
    classify_pending()

    try:
        _write_errors(output_folder / ERRORS_FILE, result.errors)
    except OSError as error:
        raise OutputFolderError(f"cannot write {output_folder / ERRORS_FILE}: {error.strerror or error}") from error
    result.seconds = time.time() - started
    return result


def _write_errors(path: Path, errors: list[tuple[str, str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["recording", "stage", "message"])
    writer.writerows(errors)
    atomic_write_text(path, buffer.getvalue())


def _remove_temporaries(folder: Path, names: set[str]) -> None:
    """Delete the ``.NAME.XXXXXXXX.tmp`` files that a run killed inside an atomic write of NAME left behind."""
    for path in folder.iterdir():
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            target = path.name[1:-4].rsplit(".", 1)[0]
            if target in names:
                path.unlink(missing_ok=True)
