"""The scored SNOMED CT classes of the 2020 Challenge, their equivalences and the scoring weights.

The official ``weights.csv`` (repository root) lists 27 codes. Three pairs are scored as one class,
named by the first code of the pair, so the metric and the model work on 24 classes; the output
files still name all 27 codes, both codes of a pair carrying the same value.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_FILE = REPOSITORY_ROOT / "weights.csv"
CLASS_TABLE_FILE = Path(__file__).resolve().parent / "dx_mapping_scored.csv"

NORMAL_CLASS = "426783006"  # sinus rhythm: the "inactive" reference output of the Challenge metric
EQUIVALENT_CLASSES: tuple[tuple[str, str], ...] = (
    ("713427006", "59118001"),  # complete RBBB == RBBB
    ("284470004", "63593006"),  # PAC == SVPB
    ("427172004", "17338001"),  # PVC == VPB
)
_REPRESENTATIVE = {code: pair[0] for pair in EQUIVALENT_CLASSES for code in pair}


def canonical_code(code: str) -> str:
    """The representative code of an equivalence pair, or the code itself."""
    return _REPRESENTATIVE.get(code, code)


@dataclass(frozen=True)
class ScoredClasses:
    """The merged classes in weights-file order and the matching weight matrix."""

    codes: tuple[str, ...]  # 24 representative codes
    weights: np.ndarray  # (24, 24) float64
    output_codes: tuple[str, ...]  # the 27 codes of the weights file, in its order

    @property
    def normal_index(self) -> int:
        return self.codes.index(NORMAL_CLASS)

    def encode(self, recordings_codes: Iterable[Iterable[str]]) -> np.ndarray:
        """One-hot (recordings x classes) bool matrix; equivalent codes merged, unscored codes dropped."""
        position = {code: j for j, code in enumerate(self.codes)}
        rows = list(recordings_codes)
        labels = np.zeros((len(rows), len(self.codes)), dtype=bool)
        for i, codes in enumerate(rows):
            for code in codes:
                j = position.get(canonical_code(code))
                if j is not None:
                    labels[i, j] = True
        return labels

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Map (..., 24) per-class values to (..., 27) values in ``output_codes`` order."""
        position = {code: j for j, code in enumerate(self.codes)}
        columns = [position[canonical_code(code)] for code in self.output_codes]
        return np.asarray(values)[..., columns]


def load_weights(path: str | os.PathLike[str] = WEIGHTS_FILE) -> ScoredClasses:
    """Load a Challenge weights table, merging equivalent classes as the official scorer does."""
    with open(path, newline="") as handle:
        table = [[cell.strip() for cell in row] for row in csv.reader(handle) if row]
    if len(table) < 2:
        raise ValueError(f"{path}: the weights table is empty")
    column_codes = table[0][1:]
    row_codes = [row[0] for row in table[1:]]
    if row_codes != column_codes or any(len(row) != len(column_codes) + 1 for row in table[1:]):
        raise ValueError(f"{path}: the weights table must be square with the same codes on rows and columns")
    # As in the official scorer, a cell that is not a number is NaN, and NaN weights count as 0 in the metric.
    values = np.array([[_number_or_nan(cell) for cell in row[1:]] for row in table[1:]], dtype=np.float64)

    merged = [canonical_code(code) for code in row_codes]
    codes = list(dict.fromkeys(merged))
    first = [merged.index(code) for code in codes]
    for j, code in enumerate(merged):
        k = merged.index(code)
        if k != j and not (np.array_equal(values[j], values[k]) and np.array_equal(values[:, j], values[:, k])):
            raise ValueError(f"{path}: equivalent classes {row_codes[k]} and {row_codes[j]} have different weights")
    return ScoredClasses(codes=tuple(codes), weights=values[np.ix_(first, first)], output_codes=tuple(row_codes))


def _number_or_nan(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return float("nan")


@cache
def scored_classes() -> ScoredClasses:
    """The official classes and weights shipped at the repository root (loaded once)."""
    return load_weights(WEIGHTS_FILE)


@cache
def class_abbreviations() -> dict[str, str]:
    """SNOMED CT code -> abbreviation (AF, RBBB, ...) from the official class table, for reports."""
    with open(CLASS_TABLE_FILE, newline="") as handle:
        return {row["SNOMED CT Code"]: row["Abbreviation"] for row in csv.DictReader(handle)}


def abbreviate(codes: Sequence[str]) -> list[str]:
    """Readable names for class codes (the code itself where the table has none)."""
    names = class_abbreviations()
    return [names.get(code, code) for code in codes]


@cache
def class_terms() -> dict[str, str]:
    """SNOMED CT code -> the class's term in the official class table (atrial fibrillation, ...), for reports."""
    with open(CLASS_TABLE_FILE, newline="") as handle:
        return {row["SNOMED CT Code"]: row["Dx"] for row in csv.DictReader(handle)}


# The databases of the 2020 training set as the official class table names them (its count columns).
TABLE_DATABASES = ("CPSC", "CPSC-Extra", "StPetersburg", "PTB", "PTB-XL", "Georgia")


@cache
def database_label_sets() -> dict[str, np.ndarray]:
    """Database -> (24,) bool: the scored classes it was annotated with, from the official class table's count of
    each class in each database (a class of an equivalent pair counts for the merged class).

    The 2020 databases were labelled with different sets of diagnoses: CPSC with nine (no sinus bradycardia or
    tachycardia, no axis deviations), PTB mostly with sinus rhythm and myocardial infarction. A class with no
    recording in a database was not looked for there.
    """
    classes = scored_classes()
    position = {code: j for j, code in enumerate(classes.codes)}
    label_sets = {database: np.zeros(len(classes.codes), dtype=bool) for database in TABLE_DATABASES}
    with open(CLASS_TABLE_FILE, newline="") as handle:
        for row in csv.DictReader(handle):
            j = position.get(canonical_code(row["SNOMED CT Code"]))
            if j is None:
                continue
            for database in TABLE_DATABASES:
                label_sets[database][j] |= int(row[database]) > 0
    return label_sets


def class_name(code: str) -> tuple[str, str]:
    """(abbreviation, term) of a class, both codes of an equivalent pair named: ("CRBBB/RBBB", "complete right
    bundle branch block / right bundle branch block"); the code itself where the table has none."""
    representative = canonical_code(code)
    codes = next((pair for pair in EQUIVALENT_CLASSES if pair[0] == representative), (code,))
    abbreviations, terms = class_abbreviations(), class_terms()
    return "/".join(abbreviations.get(c, c) for c in codes), " / ".join(terms.get(c, c) for c in codes)
