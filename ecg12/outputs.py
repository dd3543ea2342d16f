r"""Challenge output files: ``#NAME``, then a line of class codes, binary labels and probabilities.

Reading follows the official 2020 scorer exactly: blank and ``#`` lines are skipped; a file with
fewer than three remaining lines, or lines with different numbers of fields, counts as all-negative;
line 2 is positive for ``1, True, true, T, t``; line 3 values that are not numbers count as 0.
Lines are split as Python's text-mode file iteration splits them (``\n``, ``\r\n`` and a lone
``\r``), not as :meth:`str.splitlines` does: that would also break lines at form feeds, vertical
tabs, ``\x1c``-``\x1e``, ``\x85`` and ``\u2028``/``\u2029``, which the official scorer keeps
inside a line.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence

TRUE_VALUES = frozenset({"1", "True", "true", "T", "t"})
# The driver's reports beside the outputs (ecg12.classify): the recordings without a real answer, and those
# answered after a repair. Under another name where a recording's output takes this one (report_name).
ERRORS_FILE = "errors.csv"
WARNINGS_FILE = "warnings.csv"


def format_outputs(
    recording_id: str, codes: Sequence[str], labels: Sequence[bool | int], probabilities: Sequence[float]
) -> str:
    """The text of one output file."""
    if not len(codes) == len(labels) == len(probabilities):
        raise ValueError("codes, labels and probabilities must have the same length")
    return (
        f"#{recording_id}\n"
        + ",".join(codes)
        + "\n"
        + ",".join(str(int(bool(label))) for label in labels)
        + "\n"
        + ",".join(repr(float(p)) for p in probabilities)
        + "\n"
    )


def save_outputs(
    output_file: str | os.PathLike[str],
    recording_id: str,
    codes: Sequence[str],
    labels: Sequence[bool | int],
    probabilities: Sequence[float],
) -> None:
    """Write one output file atomically (temporary file, then rename)."""
    from ecg12.files import atomic_write_text  # here, so that reading outputs (scoring) does not import tempfile

    atomic_write_text(output_file, format_outputs(recording_id, codes, labels, probabilities))


def report_name(preferred: str, output_names: Iterable[str]) -> str:
    """``preferred``, or with ``_2``, ``_3``... before the suffix: the first name, case aside, of no output file."""
    taken = {name.casefold() for name in output_names}
    stem, suffix = os.path.splitext(preferred)
    names = itertools.chain([preferred], (f"{stem}_{number}{suffix}" for number in itertools.count(2)))
    return next(name for name in names if name.casefold() not in taken)


def universal_lines(text: str) -> list[str]:
    """Split text into lines the way text-mode file iteration does (universal newlines), without the ends."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def output_lines(text: str) -> tuple[str, str, str] | None:
    """The code, binary-output and score lines of an output file's text; None if it is malformed.

    Blank and ``#`` lines are skipped; fewer than three lines, or lines with different numbers of
    fields (any further lines included), make the file malformed: the recording is all-negative.
    """
    lines = [line for line in universal_lines(text) if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) < 3 or len({line.count(",") for line in lines}) != 1:
        return None
    return lines[0], lines[1], lines[2]


def parse_codes(line: str) -> list[str]:
    """The class codes of a code line (fields stripped of surrounding whitespace)."""
    return [field.strip() for field in line.split(",")]


def parse_binary(line: str) -> list[bool]:
    """Binary outputs of a line of fields: true for ``1, True, true, T, t``, false for anything else."""
    fields = line.split(",")
    if line.split() == [line]:  # no whitespace anywhere: no field needs stripping
        return list(map(TRUE_VALUES.__contains__, fields))
    return [field.strip() in TRUE_VALUES for field in fields]


def parse_scores(line: str) -> list[float]:
    """Scores of a line of fields: the number each field spells, 0 for a field that is not a number."""
    fields = line.split(",")
    try:
        # float() accepts surrounding whitespace, and only whitespace that str.strip() removes too,
        # so where it succeeds on every field it gives what the field-by-field rule gives.
        return list(map(float, fields))
    except ValueError:
        return [_number_or_zero(field.strip()) for field in fields]


def parse_outputs(text: str) -> tuple[list[str], list[bool], list[float]]:
    """Codes, binary outputs and scores of an output file's text; empty lists if it is malformed."""
    lines = output_lines(text)
    if lines is None:
        return [], [], []
    return parse_codes(lines[0]), parse_binary(lines[1]), parse_scores(lines[2])


def load_outputs(output_file: str | os.PathLike[str]) -> tuple[list[str], list[bool], list[float]]:
    """Read one output file with the official scorer's rules (see :func:`parse_outputs`)."""
    with open(output_file, "rb") as handle:
        return parse_outputs(handle.read().decode("utf-8", errors="replace"))


def _number_or_zero(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
