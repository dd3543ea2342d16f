r"""Classifying a folder of recordings: every recording gets an output file, whatever happens to the others.

Recordings are the names of the ``NAME.hea``, ``NAME.mat`` and ``NAME.dat`` entries directly in the data folder
(hidden ones aside). Each gets ``NAME.csv``, also when one of its files is missing, is a folder or is a broken
symbolic link: such a recording fails with that problem named. A recording that cannot be read, prepared or
classified gets an all-negative output (labels 0, probabilities 0, so the scorer counts it as negative) and a row
in the errors report (recording, stage, message). A recording that is usable only after a repair (the reading and
preparing code says so with a :class:`~ecg12.preprocess.DegradedRecordingWarning`, e.g. zero-filled missing leads)
gets its answer and, instead of a warning on stderr, a row per repair in the warnings report (recording, message),
so that the errors report stays the list of recordings without a real answer.

The reports are ``errors.csv`` (always written) and ``warnings.csv`` (written when a recording was repaired; a
previous run's is removed otherwise), unless a recording's output takes that name, case aside: a recording named
``errors`` keeps ``errors.csv`` and the report becomes ``errors_2.csv`` (or ``_3``...), the first name that is no
recording's output. :class:`FolderResult` and its summary line name the files.

The prepared recordings of a chunk go through the network together (batching windows across recordings); should
a chunk fail there, its recordings are retried one at a time so that only the culprit fails. The network and the
writes of a chunk run in a worker thread while the main thread reads and prepares the next chunk. Output files are
written atomically: a write that fails leaves the file as it was (absent, or a previous run's) and is reported as
a failure of stage ``write``; temporary files that a killed run left behind are removed by the next run.

Before the first recording is read, the output folder is checked writable and locked (its ``.driver.lock``, held
for the run: ecg12.files.one_run), so that a second run into the same folder stops at once instead of deleting
the first one's temporary files. Progress is a tqdm bar where stderr is a terminal and otherwise a log line every
``progress_interval`` seconds. Ctrl-C raises :class:`FolderInterrupted`, saying how many recordings were written.

File names that are not valid UTF-8 (bytes that Python holds as surrogate escapes) are classified like the
others; the output file name has the same bytes, and inside files and messages such bytes are written as ``\xff``
escapes, so that every file written is valid UTF-8.
"""

from __future__ import annotations

import csv
import errno
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecg12.files import FolderInUse, atomic_write_text, one_run, printable, remove_temporaries
from ecg12.headers import Header, RecordError, read_header
from ecg12.logs import Progress
from ecg12.measurements import CSV_COLUMNS, NOT_MEASURED, Measurements, csv_row
from ecg12.outputs import ERRORS_FILE, WARNINGS_FILE, report_name, save_outputs
from ecg12.preprocess import WINDOW_SAMPLES, DegradedRecordingWarning, PreparedSignal
from ecg12.recordings import Recording, list_recordings, open_counts
from ecg12.scoring import COMPILE_FROM_RECORDINGS, RecordingClassifier, prepare_measured_recording, prepare_recording

log = logging.getLogger(__name__)

LOCK_FILE = ".driver.lock"
ERRORS_HEADER = ("recording", "stage", "message")
WARNINGS_HEADER = ("recording", "message")


class OutputFolderError(RuntimeError):
    """The output folder cannot be created or written, is in use by another run, or a report cannot be written."""


class FolderInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`classify_folder`; the outputs written so far stay."""

    def __init__(self, written: int, total: int, output_folder: Path) -> None:
        super().__init__(f"{written} of {total} recordings written to {output_folder}")
        self.written = written
        self.total = total
        self.output_folder = output_folder


@dataclass
class FolderResult:
    """What happened to a folder: counts, time, one row per failure and per repair, and where the reports went."""

    done: int = 0
    failed: int = 0
    unwritten: int = 0  # failed recordings whose output file this run could not write (not even all-negative)
    seconds: float = 0.0
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (recording, stage, message)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (recording, message) of answered recordings
    errors_file: Path | None = None  # None when it could not be written (report_problem says why)
    warnings_file: Path | None = None  # None when no recording was repaired
    measurements_file: Path | None = None  # where the measurements went, when asked for and written
    report_problem: str | None = None  # why a report could not be written (a full disk, say)

    @property
    def repaired(self) -> int:
        """Recordings answered after at least one repair."""
        return len({name for name, _ in self.warnings})

    def summary(self) -> str:
        rate = (self.done + self.failed) / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"classified {self.done + self.failed} recordings: {self.done} done, {self.failed} failed, "
            f"{self.seconds:.1f} s ({rate:.1f} recordings/s)"
        )
        if self.unwritten:
            text += f"; {self.unwritten} failed without an output file written"
        if self.errors_file is not None:
            text += f"; failures listed in {printable(str(self.errors_file))}"
        if self.warnings_file is not None:
            text += f"; {self.repaired} answered after repairs, listed in {printable(str(self.warnings_file))}"
        if self.measurements_file is not None:
            text += f"; measurements in {printable(str(self.measurements_file))}"
        if self.report_problem is not None:
            text += f"; {printable(self.report_problem)}"
        return text


def prepare_output_folder(folder: Path) -> None:
    """Create ``folder`` if needed and check that a file can be written into it, before any recording is read."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(f"cannot create output folder {folder}: {error.strerror or error}") from error
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=folder)
        try:
            os.write(descriptor, b"ecg12\n")
        finally:
            os.close(descriptor)
            os.unlink(probe)
    except OSError as error:
        raise OutputFolderError(f"output folder {folder} is not writable: {error.strerror or error}") from error


@contextmanager
def output_folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``folder`` for one run (ecg12.files.one_run on its LOCK_FILE); :class:`OutputFolderError` if another run
    holds it or the lock file cannot be written."""
    with ExitStack() as held:
        try:
            held.enter_context(one_run(folder, [LOCK_FILE], f"output folder {folder}"))
        except FolderInUse as error:
            raise OutputFolderError(str(error)) from None
        except OSError as error:
            raise OutputFolderError(error.strerror or str(error)) from error
        yield


@contextmanager
def recorded_repairs() -> Iterator[list[str]]:
    """Collect the messages of the :class:`DegradedRecordingWarning` s raised inside; other warnings go on.

    Repairs are always collected, whatever the warning filters say: they are the warnings report, not stderr
    output. Other warnings meet the filters as usual (one turned into an error raises where it is warned).
    """
    repairs: list[str] = []
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DegradedRecordingWarning)
            yield repairs
    finally:
        for warning in caught:
            if issubclass(warning.category, DegradedRecordingWarning):
                repairs.append(str(warning.message))
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno, source=warning.source
                )


def classify_recording(
    classifier: RecordingClassifier, header: Header, counts: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Output codes, binary labels and probabilities (27 each) of one recording in raw ADC counts."""
    codes, labels, scores = classifier.challenge_outputs(classifier.scores([prepare_recording(header, counts)]))
    return codes, labels[0], scores[0]


def classify_folder(
    classifier: RecordingClassifier,
    data_folder: str | os.PathLike[str],
    output_folder: str | os.PathLike[str],
    chunk_size: int = 16,
    show_progress: bool = True,
    progress_interval: float = 10.0,
    compile_network: bool | None = None,
    measurements_file: str | os.PathLike[str] | None = None,
) -> FolderResult:
    """Classify every recording of ``data_folder`` into ``output_folder/NAME.csv``; never stops on one.

    ``measurements_file``: also measure every recording (:func:`~ecg12.measurements.measure`) and write one row per
    recording there (:data:`~ecg12.measurements.CSV_COLUMNS`; empty fields where a measurement cannot be made, all
    of them for a recording that could not be read). It must lie outside ``output_folder``, whose CSV files are the
    scorer's.

    ``compile_network``: classify with the network compiled (the classifier's ``compile``, falling back to the
    eager one); None compiles on a CPU for folders of :data:`~ecg12.scoring.COMPILE_FROM_RECORDINGS` or more recordings,
    where the time it takes pays. Raises :class:`DataFolderError` or :class:`OutputFolderError` (before any
    recording is read) and :class:`FolderInterrupted` on Ctrl-C; a report that cannot be written at the end is the
    result's ``report_problem``, beside the counts of what was written.
    """
    started = time.time()
    recordings = list_recordings(data_folder)
    output_folder = Path(output_folder)
    measurements_path = None if measurements_file is None else Path(measurements_file)
    if measurements_path is not None and measurements_path.parent.resolve() == output_folder.resolve():
        raise OutputFolderError(
            f"the measurements file {measurements_path} is in the outputs folder, where every CSV file is read as an "
            "output: write it elsewhere"
        )
    prepare_output_folder(output_folder)
    if measurements_path is not None:
        prepare_output_folder(measurements_path.parent)  # a folder that cannot take it fails now, not at the end
    with output_folder_lock(output_folder):
        if compile_network is None:
            compile_network = classifier.compiles_by_default and len(recordings) >= COMPILE_FROM_RECORDINGS
        if compile_network:
            classifier.compile()
        outputs = {f"{recording.name}.csv" for recording in recordings}
        errors_file = output_folder / report_name(ERRORS_FILE, outputs)
        warnings_file = output_folder / report_name(WARNINGS_FILE, outputs)
        remove_temporaries(output_folder, outputs | {errors_file.name, warnings_file.name})
        run = _FolderRun(classifier, output_folder, measuring=measurements_path is not None)
        progress = Progress(len(recordings), "classifying", "recordings", log, progress_interval, show_progress)
        try:
            with progress:
                run.classify(recordings, chunk_size, progress)
        except KeyboardInterrupt as interrupt:
            raise FolderInterrupted(run.result.done + run.result.failed, len(recordings), output_folder) from interrupt
        result = run.result
        try:
            if measurements_path is not None:
                _write_csv(measurements_path, CSV_COLUMNS, run.measurement_rows)
                result.measurements_file = measurements_path
            _write_csv(errors_file, ERRORS_HEADER, result.errors)
            result.errors_file = errors_file
            if result.warnings:
                _write_csv(warnings_file, WARNINGS_HEADER, result.warnings)
                result.warnings_file = warnings_file
            else:
                _remove_report(warnings_file)  # a previous run's repairs are not this run's
        except OutputFolderError as error:  # the outputs written stay, and the result says what they are
            result.report_problem = str(error)
    result.seconds = time.time() - started
    return result


@dataclass
class _Pending:
    """A recording read for the network: its prepared signal and record features, or why it failed before."""

    name: str
    inputs: tuple[PreparedSignal, np.ndarray] | None
    repairs: list[str] = field(default_factory=list)
    failure: tuple[str, str] | None = None  # (stage, message)
    written: bool = False  # its output file (an answer or all-negative) is written
    measurements: Measurements = NOT_MEASURED  # NaN where not measured (or not read)


class _FolderRun:
    """One run over a folder's recordings: reads them, classifies them in chunks and writes every output.

    Reading and preparing (this thread) overlap the network and the writes (one worker thread): while the network
    classifies a chunk and its outputs are written (and flushed to disk), the next chunk is read and prepared.
    Preparing stays in this thread because the repairs are collected with ``warnings.catch_warnings``, whose state
    is the process's: one thread alone may switch it. The worker changes nothing here: it returns what became
    of each recording, and this thread records that, in the recordings' order.
    """

    def __init__(self, classifier: RecordingClassifier, output_folder: Path, measuring: bool = False) -> None:
        self.classifier = classifier
        self.output_folder = output_folder
        self.measuring = measuring
        self.measurement_rows: list[list[str]] = []  # one per recording, in order, when measuring
        self.codes = list(classifier.classes.output_codes)
        self.result = FolderResult()
        self.in_flight: Future[list[_Pending]] | None = None  # the chunk in the network and being written

    def classify(self, recordings: Iterable[Recording], chunk_size: int, progress: Progress) -> None:
        # A chunk holds at most chunk_size recordings or chunk_size windows' worth of samples. A recording is
        # prepared a segment (5 minutes) at a time as the network reads it (PreparedSignal), and until then keeps
        # its first segment only: memory stays bounded however long the recordings are (two chunks at a time).
        sample_budget = max(chunk_size, 1) * WINDOW_SAMPLES
        chunk: list[_Pending] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecg12-network") as network:
            try:
                for recording in recordings:
                    chunk.append(self.read(recording))
                    samples = sum(item.inputs[0].shape[1] for item in chunk if item.inputs is not None)
                    if len(chunk) >= chunk_size or samples >= sample_budget:
                        self.record(progress)
                        self.in_flight, chunk = network.submit(self.classify_chunk, chunk), []
                self.record(progress)
                if chunk:
                    self.in_flight = network.submit(self.classify_chunk, chunk)
                    self.record(progress)
            except KeyboardInterrupt:
                # The chunk in the network goes on to its end (a thread cannot be stopped): count it, so that the
                # number of outputs written is right.
                self.record(progress)
                raise

    def read(self, recording: Recording) -> _Pending:
        """Read and prepare one recording, with its repairs; a failure fails it alone."""
        if recording.problem is not None:
            return _Pending(recording.name, None, failure=("read", recording.problem))
        stage = "read"
        try:
            with recorded_repairs() as repairs:
                header = read_header(recording.header)
                counts = open_counts(recording.signal, header)
                stage = "preprocess"
                signal, features, measurements = prepare_measured_recording(header, counts)
        except Exception as error:  # one bad recording must never stop the batch
            return _Pending(recording.name, None, failure=(stage, _describe(error)))
        return _Pending(recording.name, (signal, features), repairs, measurements=measurements)

    def record(self, progress: Progress) -> None:
        """Wait for the chunk in the network, if any, and count what became of its recordings."""
        if self.in_flight is None:
            return
        chunk = self.in_flight.result()
        self.in_flight = None
        for item in chunk:
            if self.measuring:
                self.measurement_rows.append(csv_row(printable(item.name), item.measurements))
            if item.failure is None:
                self.result.done += 1
                self.result.warnings.extend((item.name, repair) for repair in item.repairs)
            else:
                stage, message = item.failure
                print(f"{printable(item.name)}: {stage} failed: {printable(message)}", file=sys.stderr)
                self.result.errors.append((item.name, stage, message))
                self.result.failed += 1
                self.result.unwritten += not item.written
        progress.update(self.result.done + self.result.failed)

    def classify_chunk(self, chunk: list[_Pending]) -> list[_Pending]:
        """Classify a chunk's prepared recordings together and write every output (in the worker thread); returns
        the chunk with the failures of this stage set."""
        ready = [item for item in chunk if item.inputs is not None]
        try:
            chunk_scores = self.classifier.scores(item.inputs for item in ready)  # type: ignore[misc]
        except Exception:  # find the culprit: classify the chunk's recordings one at a time
            log.warning("A chunk failed in the network; classifying its recordings one by one")
            chunk_scores = None
        for index, item in enumerate(ready):
            try:
                row = (
                    chunk_scores.subset(slice(index, index + 1))
                    if chunk_scores is not None
                    else self.classifier.scores([item.inputs])  # type: ignore[list-item]
                )
                if not np.isfinite(row.probabilities).all():
                    raise ValueError("the network gave non-finite probabilities")
                _, labels, scores = self.classifier.challenge_outputs(row)
            except Exception as error:
                item.failure = ("classify", _describe(error))
                continue
            self.write(item, labels[0], scores[0])
        for item in chunk:
            item.inputs = None  # the prepared signal's segment is not needed any more
            if item.failure is not None and item.failure[0] != "write":
                zeros = np.zeros(len(self.codes))
                problem = self.save(item, zeros, zeros)
                if problem is not None:
                    stage, message = item.failure
                    item.failure = (stage, f"{message}; and its all-negative output could not be written: {problem}")
        return chunk

    def write(self, item: _Pending, labels: np.ndarray, probabilities: np.ndarray) -> None:
        # A failed write left the file as it was; an all-negative one must not replace it.
        problem = self.save(item, labels, probabilities)
        if problem is not None:
            item.failure = ("write", problem)

    def save(self, item: _Pending, labels: np.ndarray, probabilities: np.ndarray) -> str | None:
        """Write the recording's ``NAME.csv``; None, or why it could not be written."""
        path = self.output_folder / f"{item.name}.csv"
        try:
            save_outputs(path, printable(item.name), self.codes, labels, probabilities)
            item.written = True
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:
                return (
                    f"no output: its name {path.name} ({len(os.fsencode(path.name))} bytes) is longer than the file "
                    f"system of {self.output_folder} holds (evaluate_model.py scores it as all-negative)"
                )
            return _describe(error)
        return None


def _describe(error: BaseException) -> str:
    return str(error.problem) if isinstance(error, RecordError) else f"{type(error).__name__}: {error}"


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Write a CSV report atomically, every field made printable (valid UTF-8, one line)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([printable(value) for value in row] for row in rows)
    try:
        atomic_write_text(path, buffer.getvalue())
    except OSError as error:
        raise OutputFolderError(f"cannot write {path}: {error.strerror or error}") from error


def _remove_report(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as error:
        raise OutputFolderError(f"cannot remove the previous run's {path}: {error.strerror or error}") from error
