"""Scoring folders of label (``.hea``) and output (``.csv``) files, as ``evaluate_model.py`` does.

The rules are those of the final official 2020 scorer (``evaluate_12ECG_score.py``):

* every ``.hea`` file of the labels folder (any case of the extension, hidden files skipped), in
  sorted order, needs ``NAME.csv`` in the outputs folder, otherwise it is an error naming the file;
  no label files at all is an error;
* a recording's labels are the codes of its ``#Dx`` line: a line starting with ``#Dx``, the codes
  after ``': '`` separated by commas, equivalent codes replaced by their class's first code;
* outputs are read with the rules of :func:`ecg12.outputs.parse_outputs`; a class named twice
  (or by two equivalent codes) is positive if any of its entries is, and its score is the mean of
  its entries' non-NaN scores; NaN scores become 0.

Where the official scorer crashes or misbehaves, this module does something reasonable and says so:
a header without a ``#Dx`` line has no labels (officially, the remaining labels shift onto the wrong
recordings or the scorer crashes); only the first ``#Dx`` line counts; ``#Dx:code`` without a space
is accepted; a recording without an output file that the driver's errors report (``errors.csv`` in the
outputs folder, see :func:`ecg12.outputs.report_name`) lists as failed is all-negative, as the driver's
all-negative outputs are, instead of stopping the scoring of the whole folder (:attr:`FolderMatrices.unanswered`).

Labels come from the header text itself, not from :func:`ecg12.headers.parse_header`: the official
rule is the raw ``#Dx`` line, and a label file need not be a complete, valid header to be scored.

Only the standard library, NumPy and light ``ecg12`` modules are imported, so that the command
starts quickly (no torch, scipy, wfdb or matplotlib on this path; a test checks it). ``--plots DIR``
draws figures of the scores (:func:`write_plots`), and only then imports matplotlib.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecg12.classes import WEIGHTS_FILE, ScoredClasses, abbreviate, canonical_code, class_name, load_weights
from ecg12.metrics import SCORE_NAMES, ChallengeScores, modified_confusion_matrix, score
from ecg12.outputs import ERRORS_FILE, output_lines, parse_binary, parse_codes, parse_scores, report_name

CLASS_SCORES_PLOT = "class_scores.png"
CREDIT_PLOT = "credit_and_confusion.png"

# np.sum adds up to this many values strictly left to right, as np.bincount does; longer runs
# use pairwise sums, so classes named this often in one file are averaged by np.nanmean itself.
_SEQUENTIAL_SUM_LIMIT = 7


class EvaluationError(Exception):
    """A problem with the folders or files to score; the message says which and what."""


def find_challenge_files(
    labels_dir: str | os.PathLike[str], outputs_dir: str | os.PathLike[str]
) -> tuple[list[str], list[str | None]]:
    """Label files and their output files (paths), sorted by label file name.

    An output file that is missing is None where the driver's errors report lists its recording (the file system
    could not hold its name, or the disk was full): an all-negative recording. Raises :class:`EvaluationError`
    if a folder is missing, an output file is missing otherwise (naming it) or there are no label files.
    """
    for folder, role in ((labels_dir, "labels"), (outputs_dir, "outputs")):
        if not os.path.isdir(folder):
            raise EvaluationError(f"{role} folder {os.fspath(folder)!r} does not exist or is not a folder")
    try:
        with os.scandir(labels_dir) as entries:
            label_names = sorted(
                entry.name
                for entry in entries
                if entry.name.lower().endswith(".hea") and not entry.name.startswith(".") and entry.is_file()
            )
        with os.scandir(outputs_dir) as entries:
            output_names = {entry.name for entry in entries if entry.is_file()}
    except OSError as error:
        raise EvaluationError(f"cannot list {error.filename!r}: {error.strerror}") from error

    label_prefix, output_prefix = os.path.join(labels_dir, ""), os.path.join(outputs_dir, "")
    expected = [name[:-4] + ".csv" for name in label_names]  # the name ends with '.hea' in some case: root + .csv
    label_files: list[str] = []
    output_files: list[str | None] = []
    failed: set[str] | None = None  # the recordings the driver's errors report lists, read when first needed
    for name, output_name in zip(label_names, expected, strict=True):
        output_file: str | None = output_prefix + output_name
        # The listing settles almost every case; isfile covers case-insensitive file systems.
        if output_name not in output_names and not os.path.isfile(output_file):
            if failed is None:
                failed = reported_failures(os.path.join(outputs_dir, report_name(ERRORS_FILE, expected)))
            if _printable(name[:-4]) not in failed:
                raise EvaluationError(f"output file {output_file!r} not found for label file {label_prefix + name!r}")
            output_file = None
        label_files.append(label_prefix + name)
        output_files.append(output_file)
    if not label_files:
        raise EvaluationError(f"no label files (.hea) found in {os.fspath(labels_dir)!r}")
    return label_files, output_files


def reported_failures(errors_file: str | os.PathLike[str]) -> set[str]:
    """The recordings (as the report writes their names) of a driver's errors report; none where there is none."""
    if not os.path.isfile(errors_file):
        return set()
    rows = list(csv.reader(io.StringIO(read_text(errors_file, "errors report"), newline="")))
    return {row[0] for row in rows[1:] if row}


def _printable(name: str) -> str:
    from ecg12.files import printable  # here: only a missing output file needs it (tempfile is slow to import)

    return printable(name)


def label_codes(header_text: str) -> tuple[str, ...]:
    """The codes of a header's first ``#Dx`` line, as the official scorer reads them.

    Lines end at a line feed, a carriage return or both, as in text-mode file iteration. No ``#Dx``
    line means no labels. Empty codes (``#Dx: ``) are dropped; they match no class.
    """
    start = header_text.find("#Dx")
    while start > 0 and header_text[start - 1] not in "\r\n":  # not at the start of a line
        start = header_text.find("#Dx", start + 1)
    if start < 0:
        return ()
    end = header_text.find("\n", start)
    line = header_text[start:end] if end >= 0 else header_text[start:]
    if "\r" in line:
        line = line.partition("\r")[0]
    fields = line.split(": ")
    value = fields[1] if len(fields) > 1 else line.partition(":")[2]
    return tuple(filter(None, [field.strip() for field in value.split(",")]))


def read_text(path: str | os.PathLike[str], role: str) -> str:
    """A file's text, undecodable bytes replaced; errors name the file (``role``: what it is).

    Plain ``os.open``/``os.read`` calls: for thousands of small files they take about a third of
    the time of ``open().read()`` or ``Path.read_bytes()``.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            chunks = [os.read(descriptor, 1 << 16)]
            while chunks[-1]:
                chunks.append(os.read(descriptor, 1 << 16))
        finally:
            os.close(descriptor)
    except OSError as error:
        raise EvaluationError(f"cannot read {role} {os.fspath(path)!r}: {error.strerror or error}") from error
    return b"".join(chunks).decode("utf-8", errors="replace")


def load_label_matrix(label_files: Sequence[str | os.PathLike[str]], classes: ScoredClasses) -> np.ndarray:
    """(recordings x classes) bool labels of the given header files."""
    return classes.encode([label_codes(read_text(path, "label file")) for path in label_files])


def load_output_matrices(
    output_files: Sequence[str | os.PathLike[str] | None], classes: ScoredClasses
) -> tuple[np.ndarray, np.ndarray]:
    """(recordings x classes) binary outputs (bool) and scores (float64) of the given output files (None: none,
    an all-negative recording).

    Each file is only split into its three lines (:func:`ecg12.outputs.output_lines`); the fields
    of all files are then parsed in two calls (:func:`~ecg12.outputs.parse_binary` and
    :func:`~ecg12.outputs.parse_scores` on the lines joined by commas, which the field-by-field
    rules allow), code lines once per distinct line, and duplicate classes merged on flat arrays
    of (recording, class, value) entries. This keeps Python work per file to a minimum.
    """
    position = {code: j for j, code in enumerate(classes.codes)}
    column_classes: dict[str, list[int]] = {}  # code line -> class of each field; files usually share one
    entry_class: list[int] = []
    fields_per_file: list[int] = []
    binary_lines: list[str] = []
    score_lines: list[str] = []
    for path in output_files:
        lines = None if path is None else output_lines(read_text(path, "output file"))
        if lines is None:  # none, or malformed: the recording is all-negative
            fields_per_file.append(0)
            continue
        code_line, binary_line, score_line = lines
        mapped = column_classes.get(code_line)
        if mapped is None:
            mapped = column_classes[code_line] = [position.get(canonical_code(c), -1) for c in parse_codes(code_line)]
        entry_class.extend(mapped)
        fields_per_file.append(len(mapped))
        binary_lines.append(binary_line)
        score_lines.append(score_line)
    binary = parse_binary(",".join(binary_lines)) if binary_lines else []
    scores = parse_scores(",".join(score_lines)) if score_lines else []
    return _merge_entries(
        len(output_files),
        len(classes.codes),
        np.repeat(np.arange(len(output_files)), fields_per_file),
        np.array(entry_class, dtype=np.int64),
        np.array(binary, dtype=bool),
        np.array(scores, dtype=np.float64),
    )


def _merge_entries(
    num_recordings: int,
    num_classes: int,
    recording: np.ndarray,
    class_index: np.ndarray,
    binary: np.ndarray,
    scores: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Combine (recording, class) entries: binary by any(), scores by np.nanmean, NaN -> 0."""
    scored = class_index >= 0
    cell = recording[scored] * num_classes + class_index[scored]
    binary, scores = binary[scored], scores[scored]
    size = num_recordings * num_classes

    binary_outputs = np.zeros(size, dtype=bool)
    binary_outputs[cell[binary]] = True

    # np.nanmean = (sum with NaN as 0) / (number of non-NaN values); bincount adds left to right.
    missing = np.isnan(scores)
    present = np.bincount(cell, weights=~missing, minlength=size)
    total = np.bincount(cell, weights=np.where(missing, 0.0, scores), minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        score_outputs = total / present
    entries = np.bincount(cell, minlength=size)
    for many in np.flatnonzero(entries > _SEQUENTIAL_SUM_LIMIT):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all NaN: the mean is NaN, then 0
            score_outputs[many] = np.nanmean(scores[cell == many])
    score_outputs[np.isnan(score_outputs)] = 0.0
    return binary_outputs.reshape(num_recordings, num_classes), score_outputs.reshape(num_recordings, num_classes)


@dataclass(frozen=True)
class FolderMatrices:
    """A labels folder and an outputs folder read into (recordings x classes) matrices."""

    classes: ScoredClasses
    labels: np.ndarray  # bool
    binary: np.ndarray  # bool
    scores: np.ndarray  # float64
    unanswered: tuple[str, ...] = ()  # label files without an output file, failed in the driver's errors report


def read_folders(
    labels_dir: str | os.PathLike[str],
    outputs_dir: str | os.PathLike[str],
    weights_file: str | os.PathLike[str] = WEIGHTS_FILE,
) -> FolderMatrices:
    """The classes of ``weights_file`` and the label and output matrices of the two folders."""
    try:
        classes = load_weights(weights_file)
    except OSError as error:
        raise EvaluationError(f"cannot read weights file {os.fspath(weights_file)!r}: {error.strerror}") from error
    except ValueError as error:
        raise EvaluationError(str(error)) from error
    label_files, output_files = find_challenge_files(labels_dir, outputs_dir)
    labels = load_label_matrix(label_files, classes)
    binary, scores = load_output_matrices(output_files, classes)
    unanswered = tuple(label for label, output in zip(label_files, output_files, strict=True) if output is None)
    return FolderMatrices(classes, labels, binary, scores, unanswered)


def evaluate_folders(
    labels_dir: str | os.PathLike[str],
    outputs_dir: str | os.PathLike[str],
    weights_file: str | os.PathLike[str] = WEIGHTS_FILE,
) -> tuple[ScoredClasses, ChallengeScores]:
    """Score the output files of ``outputs_dir`` against the label files of ``labels_dir``."""
    folders = read_folders(labels_dir, outputs_dir, weights_file)
    return folders.classes, score(folders.labels, folders.binary, folders.scores, folders.classes)


def write_plots(folder: str | os.PathLike[str], folders: FolderMatrices, scores: ChallengeScores) -> list[Path]:
    """Figures of a scoring in ``folder``: per-class AUROC and F-measure bars (:data:`CLASS_SCORES_PLOT`), and the
    metric's credit for each (label, output) pair beside where the outputs put each label
    (:data:`CREDIT_PLOT`); returns their paths. Imports matplotlib: only for ``--plots``."""
    from ecg12.plots import plot_class_scores, plot_credit_and_confusion

    folder = Path(folder)
    classes = folders.classes
    recordings = len(folders.labels)
    paths = [folder / CLASS_SCORES_PLOT, folder / CREDIT_PLOT]
    plot_class_scores(
        abbreviate(classes.codes),  # short: the bars' labels are side by side
        scores.auroc_classes,
        scores.f_measure_classes,
        folders.labels.sum(axis=0),
        paths[0],
        f"{recordings} recordings, Challenge metric {scores.challenge_metric:.3f}",
    )
    names = [class_name(code)[0] for code in classes.codes]  # both codes of a pair: the matrix's labels are turned
    plot_credit_and_confusion(
        names, classes.weights, modified_confusion_matrix(folders.labels, folders.binary), paths[1]
    )
    return paths


def format_scores(scores: ChallengeScores) -> str:
    """The official scores.csv text: a header line and one line of values with 3 decimals."""
    summary = scores.summary()
    return ",".join(SCORE_NAMES) + "\n" + ",".join(f"{summary[name]:.3f}" for name in SCORE_NAMES)


def format_class_scores(codes: Sequence[str], scores: ChallengeScores) -> str:
    """The official class_scores.csv text: class codes, then per-class AUROC, AUPRC and F-measure."""
    rows = [
        ("Classes", list(codes)),
        ("AUROC", [f"{x:.3f}" for x in scores.auroc_classes]),
        ("AUPRC", [f"{x:.3f}" for x in scores.auprc_classes]),
        ("F-measure", [f"{x:.3f}" for x in scores.f_measure_classes]),
    ]
    return "\n".join(",".join([name, *values]) for name, values in rows)


def main(argv: Sequence[str] | None = None) -> int:
    """``evaluate_model.py LABELS OUTPUTS [scores.csv [class_scores.csv]] [--weights PATH]``."""
    parser = argparse.ArgumentParser(
        prog="evaluate_model.py",
        description="Score Challenge output files against labels with the official 2020 metrics.",
    )
    parser.add_argument("labels", help="folder of label files (.hea)")
    parser.add_argument("outputs", help="folder of output files (NAME.csv for each NAME.hea)")
    parser.add_argument("scores_file", nargs="?", help="write the scores here (else print them)")
    parser.add_argument("class_scores_file", nargs="?", help="write the per-class scores here")
    parser.add_argument("--weights", default=WEIGHTS_FILE, help="weights table (default: %(default)s)")
    parser.add_argument(
        "--plots",
        metavar="DIR",
        help=f"also draw {CLASS_SCORES_PLOT} (per-class AUROC and F-measure) and {CREDIT_PLOT} (the metric's credit "
        "for each label/output pair beside where the outputs put each label) into DIR",
    )
    args = parser.parse_args(argv)
    from ecg12.files import atomic_write_text  # only now: tempfile is slow to import

    if args.plots is not None and os.path.exists(args.plots) and not os.path.isdir(args.plots):
        print(f"evaluate_model.py: error: --plots {args.plots} is a file: give a folder", file=sys.stderr)
        return 1
    for path in (args.scores_file, args.class_scores_file):
        if path is not None and os.path.isdir(path):  # found before the scoring, not after it
            print(
                f"evaluate_model.py: error: {path} is a folder: give a file name, e.g. {path}/scores.csv",
                file=sys.stderr,
            )
            return 1
    try:
        folders = read_folders(args.labels, args.outputs, args.weights)
        if folders.unanswered:
            print(
                f"evaluate_model.py: {len(folders.unanswered)} recordings without an output file, which the driver's "
                f"errors report lists as failed, scored as all-negative: {_printable(folders.unanswered[0])}"
                + (f" and {len(folders.unanswered) - 1} more" if len(folders.unanswered) > 1 else ""),
                file=sys.stderr,
            )
        classes = folders.classes
        scores = score(folders.labels, folders.binary, folders.scores, classes)
        if args.scores_file is None:
            print(format_scores(scores))
        else:
            atomic_write_text(args.scores_file, format_scores(scores))
        if args.class_scores_file is not None:
            atomic_write_text(args.class_scores_file, format_class_scores(classes.codes, scores))
        if args.plots is not None:
            write_plots(args.plots, folders, scores)
    except (EvaluationError, OSError) as error:
        print(f"evaluate_model.py: error: {error}", file=sys.stderr)
        return 1
    return 0
