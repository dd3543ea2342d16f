"""Listing and loading Challenge recordings: ``NAME.mat`` (MATLAB ``val``, leads x samples) or WFDB ``.dat``.

:func:`list_recordings` is the product's one view of a data folder, for training, cross-validation
and the driver alike: every ``NAME`` of a ``.hea``, ``.mat`` or ``.dat`` file is a recording, and one
whose files cannot be read (a missing header or signal file, a folder, a broken link) says why.

WFDB ``.dat`` files in formats 16, 61, 80, 24, 32 and 212 with all leads in one file (PTB-XL's
layout) are decoded here from the parsed header; other WFDB layouts go through the ``wfdb`` package.

Signals come back as float64 arrays of shape (leads, samples), either in raw ADC counts (what the
Challenge's ``run_12ECG_classifier`` receives) or in millivolts. :func:`open_counts` reads a recording a
range of samples at a time instead (straight from the file for the Challenge's MATLAB v4 files and the
``.dat`` formats decoded here), so that classifying a day-long recording needs memory for a few minutes of
it. Samples that a WFDB ``.dat`` file marks as missing come back as NaN, as the ``wfdb`` package reads them.
Every failure is a :class:`~ecg12.headers.RecordError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import scipy.io

from ecg12.files import printable
from ecg12.headers import Header, RecordError, read_header

SIGNAL_SUFFIXES = (".mat", ".dat")  # in order of preference
RECORDING_SUFFIXES = (".hea", *SIGNAL_SUFFIXES)

# Millivolts per physical unit, by spelling in lower case with the micro prefix as 'u'. Any other unit is an error:
# taking it as mV would make amplitudes silently 1000x wrong (a microvolt header) or meaningless (mmHg).
_MILLIVOLTS_PER_UNIT = {
    "mv": 1.0,
    "millivolt": 1.0,
    "millivolts": 1.0,
    "uv": 1e-3,
    "microvolt": 1e-3,
    "microvolts": 1e-3,
    "nv": 1e-6,
    "nanovolt": 1e-6,
    "nanovolts": 1e-6,
    "v": 1e3,
    "volt": 1e3,
    "volts": 1e3,
}
# The micro prefix as written: micro sign (U+00B5, also Latin-1 byte 0xB5, see headers.read_header_text), Greek mu.
_MICRO_SIGNS = ("\u00b5", "\u03bc")

# The most samples (all leads together) of a signal file that is read whole (not a MATLAB v4 file of only 'val' nor a
# WFDB .dat file decoded here, which are read a range at a time): 512 MiB as float64 counts, 3.1 hours of 12 leads at
# 500 Hz. Checked on what the file declares, before it is read or decompressed: a 700 KB compressed MAT v5 file can
# declare 12 x 30,000,000 samples, 2.9 GB of float64.
MAX_WHOLE_FILE_SAMPLES = 2**26


class DataFolderError(ValueError):
    """The data folder does not exist, cannot be listed or holds no recordings."""


@dataclass(frozen=True)
class Recording:
    """A recording of the data folder: output ``NAME.csv``; ``problem`` says why its files cannot be read."""

    name: str
    header: Path
    signal: Path  # the .mat (preferred) or .dat file; where there is none, the .mat it would be
    problem: str | None = None


def list_recordings(folder: str | os.PathLike[str]) -> list[Recording]:
    """Every recording directly in ``folder``, sorted by name; :class:`DataFolderError` if there is none."""
    directory = Path(folder)
    entries = _list_folder(directory)
    files_by_name: dict[str, dict[str, os.DirEntry[str]]] = {}
    for entry in entries:
        name, suffix = os.path.splitext(entry.name)
        if not entry.name.startswith(".") and suffix.lower() in RECORDING_SUFFIXES:
            files_by_name.setdefault(name, {}).setdefault(suffix.lower(), entry)
    if not files_by_name:
        raise DataFolderError(_no_recordings_message(directory, entries))
    return [_recording(directory, name, files) for name, files in sorted(files_by_name.items())]


def _list_folder(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except FileNotFoundError as error:
        raise DataFolderError(f"data folder {directory} does not exist") from error
    except NotADirectoryError as error:
        raise DataFolderError(f"data folder {directory} is a file, not a folder") from error
    except OSError as error:
        raise DataFolderError(f"cannot list data folder {directory}: {error.strerror or error}") from error


def _no_recordings_message(directory: Path, entries: Sequence[os.DirEntry[str]]) -> str:
    message = f"no recordings in {directory}: it holds no .hea, .mat or .dat file"
    subfolders = sorted(printable(e.name) for e in entries if not e.name.startswith(".") and _is_folder(e))
    if subfolders:
        shown = ", ".join(f"{name}/" for name in subfolders[:5])
        more = f" and {len(subfolders) - 5} more" if len(subfolders) > 5 else ""
        message += (
            f"; it has subfolders {shown}{more}: recordings (NAME.hea + NAME.mat) are expected directly in {directory}"
        )
    return message


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _recording(directory: Path, name: str, files: dict[str, os.DirEntry[str]]) -> Recording:
    """The recording ``name`` from its entries (by lower-case suffix), with every problem of its files named."""
    problems = []
    header = files.get(".hea")
    if header is None:
        problems.append(f"header file {name}.hea is missing")
    elif (problem := _file_problem(header, "header file")) is not None:
        problems.append(problem)
    signals = [
        (files[suffix], _file_problem(files[suffix], "signal file")) for suffix in SIGNAL_SUFFIXES if suffix in files
    ]
    usable = [entry for entry, problem in signals if problem is None]
    if not signals:
        problems.append(f"signal file {name}.mat (or {name}.dat) is missing")
    elif not usable:
        problems.extend(problem for _, problem in signals if problem is not None)
    return Recording(
        name,
        Path(header.path) if header is not None else directory / f"{name}.hea",
        Path(usable[0].path) if usable else directory / f"{name}.mat",
        "; ".join(problems) or None,
    )


def _file_problem(entry: os.DirEntry[str], role: str) -> str | None:
    """Why ``entry`` cannot be read as a file (``role``: "header file" or "signal file"); None if it can."""
    try:
        if entry.is_file():
            return None
        if entry.is_dir():
            return f"{role} {entry.name} is a folder, not a file"
        if entry.is_symlink():
            return f"{role} {entry.name} is a broken symbolic link (to {os.readlink(entry.path)})"
    except OSError as error:
        return f"{role} {entry.name} cannot be examined: {error.strerror or error}"
    return f"{role} {entry.name} is not a regular file"


def find_recordings(folder: str | os.PathLike[str]) -> list[Path]:
    """Header files in ``folder`` (sorted, hidden files skipped) that have a usable signal file beside them.

    The official helper code's view of a folder (``helper_code.find_challenge_files``); the product
    itself works from :func:`list_recordings`, which also names the recordings it cannot read.
    """
    directory = Path(folder)
    if not directory.is_dir():
        raise RecordError(directory, "not a directory")
    try:
        return [recording.header for recording in list_recordings(directory) if recording.problem is None]
    except DataFolderError:  # an empty folder
        return []


def signal_file(header_path: str | os.PathLike[str]) -> Path:
    """The ``.mat`` (preferred) or ``.dat`` file that goes with a header."""
    path = Path(header_path)
    for suffix in SIGNAL_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise RecordError(path, "no .mat or .dat signal file beside the header")


class CountsReader:
    """A recording's raw ADC counts, read a range of samples at a time: (leads, samples) float64, NaN where missing.

    :func:`open_counts` gives one for a signal file; :func:`counts_in_memory` for counts already in memory.
    """

    def __init__(self, path: Path, num_leads: int, num_samples: int) -> None:
        self.path = path
        self.shape = (num_leads, num_samples)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Counts of samples ``start:stop`` of every lead, float64 (leads, stop - start)."""
        raise NotImplementedError


class _CountsArray(CountsReader):
    """Counts held in memory: a MAT file that is not a plain v4 ``val``, a record read by the wfdb package."""

    def __init__(self, path: Path, counts: np.ndarray) -> None:
        super().__init__(path, *counts.shape)
        self.counts = counts

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.counts[:, start:stop]


class _MatV4Counts(CountsReader):
    """A MATLAB v4 file holding only ``val`` (leads x samples, column-major: one sample of every lead after another),
    read where the samples lie with positional reads, so that only the samples asked for are ever in memory."""

    def __init__(self, path: Path, data_offset: int, dtype: np.dtype, num_leads: int, num_samples: int) -> None:
        super().__init__(path, num_leads, num_samples)
        self.data_offset = data_offset
        self.dtype = dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        leads = self.shape[0]
        offset = self.data_offset + start * leads * self.dtype.itemsize
        samples = np.fromfile(self.path, dtype=self.dtype, count=(stop - start) * leads, offset=offset)
        return np.ascontiguousarray(samples.reshape(stop - start, leads).T, dtype=np.float64)


class _DatCounts(CountsReader):
    """A WFDB signal file with all leads interleaved (one frame: a sample of every lead) in a format decoded here."""

    def __init__(self, path: Path, offset: int, fmt: str, num_leads: int, num_samples: int) -> None:
        super().__init__(path, num_leads, num_samples)
        self.offset = offset
        self.fmt = fmt

    def read(self, start: int, stop: int) -> np.ndarray:
        leads = self.shape[0]
        first, last = start * leads, stop * leads  # sample positions in the file
        # Format 212 packs two samples into 3 bytes: read from the start of the pair that holds the first sample.
        pair_start = first - first % 2 if self.fmt == "212" else first
        byte_start = int(pair_start * _BYTES_PER_SAMPLE[self.fmt])
        byte_stop = min(math.ceil(last * _BYTES_PER_SAMPLE[self.fmt]), self.data_bytes)
        raw = np.fromfile(self.path, dtype=np.uint8, count=byte_stop - byte_start, offset=self.offset + byte_start)
        samples = _decode(raw, self.fmt)[first - pair_start : last - pair_start]
        counts = samples.reshape(stop - start, leads).T.astype(np.float64)
        return _mark_missing_samples(counts, [self.fmt] * leads)

    @property
    def data_bytes(self) -> int:
        """The bytes that the samples take in the file."""
        return math.ceil(self.shape[0] * self.shape[1] * _BYTES_PER_SAMPLE[self.fmt])


def counts_in_memory(counts: np.ndarray, source: str | os.PathLike[str] = "<memory>") -> CountsReader:
    """A :class:`CountsReader` of (leads, samples) counts already in memory (the Challenge's ``val`` array)."""
    return _CountsArray(Path(source), np.asarray(counts, dtype=np.float64))


def open_counts(path: str | os.PathLike[str], header: Header) -> CountsReader:
    """The raw ADC counts of a signal file, checked against the header's shape, to be read a range at a time.

    A MATLAB v4 file holding only ``val`` (what the Challenge ships) and a WFDB ``.dat`` file in a format
    decoded here are read from the file as each range is asked for, so that a recording of any length
    costs memory for the samples read only. Any other file (other MAT versions, several variables, other
    WFDB layouts) is read whole, as :func:`load_counts` always did, after :func:`check_counts`. Every
    problem that :func:`load_counts` reports is reported here, by the same :class:`~ecg12.headers.RecordError`.
    """
    path = Path(path)
    counts = check_counts(path, header)
    if counts is None:
        counts = _CountsArray(path, _load_dat_with_wfdb(path) if _is_dat(path) else _load_mat(path))
        _check_shape(path, counts.shape, header)
    return counts


def check_counts(path: str | os.PathLike[str], header: Header) -> CountsReader | None:
    """Check, without reading a sample, that a signal file holds the header's leads x samples; the reader of a file
    read a range at a time, None for one that must be read whole.

    A RecordError where the file is missing or empty, cannot hold the samples the header declares (its size says
    so, or the shape its ``val`` declares), holds a complex ``val``, or must be read whole and declares more than
    :data:`MAX_WHOLE_FILE_SAMPLES` samples. It reads the headers of the file only (a few hundred bytes of a
    compressed MAT v5 element): what the training cache reserves and a file's memory are known before either is
    spent.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(path, "signal file not found")
    if _is_dat(path):
        counts = _open_dat(path, header)
        if counts is None:
            _check_whole_file_size(path, header.num_leads * header.num_samples)
        return counts
    if path.stat().st_size == 0:
        raise RecordError(path, "MAT file is empty (0 bytes)")
    declared = _declared_val(path)
    if declared is None:  # not a MAT file, or one without 'val': scipy.io names the problem when it reads the file
        _check_whole_file_size(path, header.num_leads * header.num_samples)
        return None
    if declared.complex:
        raise RecordError(path, "'val' is complex: ECG samples are real numbers (save the real part alone)")
    if declared.truncated:
        shape = " x ".join(map(str, declared.shape))
        raise RecordError(
            path, f"unreadable MAT file (truncated: its 'val' declares {shape}, more than the file holds)"
        )
    if len(declared.shape) != 2:
        raise RecordError(path, f"'val' must be a 2-D numeric array, got shape {declared.shape}")
    _check_shape(path, declared.shape, header)
    if declared.streamed is not None:
        return declared.streamed
    _check_whole_file_size(path, math.prod(declared.shape), declared.data_bytes)
    return None


def _is_dat(path: Path) -> bool:
    return path.suffix.lower() == ".dat"


def _check_shape(path: Path, shape: tuple[int, ...], header: Header) -> None:
    expected = (header.num_leads, header.num_samples)
    if shape != expected:
        raise RecordError(path, f"signal has shape {shape} but the header declares {expected} (leads, samples)")


def _check_whole_file_size(path: Path, samples: int, data_bytes: int = 0) -> None:
    """Refuse a file read whole that declares more than MAX_WHOLE_FILE_SAMPLES samples (or more bytes of them than
    that many float64 take)."""
    if samples > MAX_WHOLE_FILE_SAMPLES or data_bytes > 8 * MAX_WHOLE_FILE_SAMPLES:
        raise RecordError(
            path,
            f"signal file declares {samples:,} samples ({max(samples * 8, data_bytes) / 2**30:.1f} GiB in memory), "
            f"more than the {MAX_WHOLE_FILE_SAMPLES:,} that a file read whole may hold: save it as a MATLAB v4 "
            "file of 'val' alone or a WFDB .dat file in format 16, which are read a range at a time",
        )


def load_counts(path: str | os.PathLike[str], header: Header) -> np.ndarray:
    """Raw ADC counts (leads x samples, float64), checked against the header's shape.

    Missing samples are NaN: those a ``.dat`` file marks with its format's invalid value (as the
    ``wfdb`` package reads them), and NaN in a floating-point ``val``; infinite values are loaded as
    they are. :func:`ecg12.preprocess.prepare_signal`, which every classification and training path
    goes through, fills NaN gaps and rejects infinite values. A ``.mat`` file's integer values are
    all taken as samples, as the Challenge's own loader takes them. The whole recording is in memory:
    :func:`open_counts` reads it a range at a time.
    """
    return open_counts(path, header).read(0, header.num_samples)


def to_millivolts(counts: np.ndarray, header: Header) -> np.ndarray:
    """Convert ADC counts to millivolts: (counts - baseline) / gain x millivolts per unit, per lead.

    Every lead's units must be a voltage (:func:`millivolts_per_unit`), else this is a
    :class:`~ecg12.headers.RecordError` naming the header, the leads and their units. NaN stays NaN.
    """
    baselines, gains, scales = _millivolt_conversion(header)
    return (counts - baselines) / gains * scales


def millivolts_reader(counts: CountsReader, header: Header) -> Callable[[int, int], np.ndarray]:
    """Read samples ``start:stop`` of ``counts`` in millivolts (:func:`to_millivolts`); the units are checked now."""
    baselines, gains, scales = _millivolt_conversion(header)
    return lambda start, stop: (counts.read(start, stop) - baselines) / gains * scales


def _millivolt_conversion(header: Header) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per lead (as (leads, 1) columns): baseline, gain and millivolts per unit; RecordError for unknown units."""
    unknown = [
        f"lead {lead.name} in {lead.units!r}" for lead in header.leads if millivolts_per_unit(lead.units) is None
    ]
    if unknown:
        raise RecordError(
            header.source,
            f"units that are not a known voltage: {', '.join(unknown)} "
            "(known: mV, uV or \u00b5V, nV, V, and millivolt, microvolt, nanovolt, volt)",
        )
    gains = np.array([lead.adc_gain for lead in header.leads], dtype=np.float64)[:, None]
    baselines = np.array([lead.baseline for lead in header.leads], dtype=np.float64)[:, None]
    scales = np.array([millivolts_per_unit(lead.units) for lead in header.leads], dtype=np.float64)[:, None]
    return baselines, gains, scales


def millivolts_per_unit(units: str) -> float | None:
    """Millivolts in one ``units`` (mV, uV, µV, nV, V, millivolt(s), ... in any case); None if not a known voltage."""
    spelling = units.strip().lower()
    for micro in _MICRO_SIGNS:
        spelling = spelling.replace(micro, "u")
    return _MILLIVOLTS_PER_UNIT.get(spelling)


def load_signal(
    header_path: str | os.PathLike[str], signal_path: str | os.PathLike[str] | None = None
) -> tuple[Header, np.ndarray]:
    """Header and millivolt signal of the recording whose ``.hea`` is ``header_path`` (signal file: the one
    beside it, or ``signal_path``)."""
    header = read_header(header_path)
    counts = load_counts(signal_file(header_path) if signal_path is None else signal_path, header)
    return header, to_millivolts(counts, header)


@dataclass(frozen=True)
class _DeclaredArray:
    """What a MAT file declares of its ``val`` before its samples: shape, complex or real, the bytes its samples
    take (decompressed), and the reader of a MATLAB v4 file of ``val`` alone, read where it lies."""

    shape: tuple[int, ...]
    complex: bool
    data_bytes: int
    truncated: bool = False  # the file ends before the samples it declares (known for uncompressed files)
    streamed: _MatV4Counts | None = None


def _declared_val(path: Path) -> _DeclaredArray | None:
    """The ``val`` that a MATLAB v4 or v5 file declares; None for another file, or one without ``val``."""
    with open(path, "rb") as handle:
        head = handle.read(_MAT_V5_HEADER)
        if len(head) == _MAT_V5_HEADER and head[124:128] in (b"\x00\x01IM", b"\x01\x00MI"):  # version 1, byte order
            return _mat_v5_val(handle, "<" if head[126:128] == b"IM" else ">", path.stat().st_size)
    return _mat_v4_val(path)


# MATLAB v4 numeric types (the P digit of a variable's type code) and their NumPy types, as scipy.io reads them.
_MAT_V4_TYPES = {0: "f8", 1: "f4", 2: "i4", 3: "i2", 4: "u2", 5: "u1"}
_MAT_V4_HEADER = 20  # five int32: type code, rows, columns, imaginary flag, name length (with its NUL)


def _mat_v4_val(path: Path) -> _DeclaredArray | None:
    """The ``val`` of a MATLAB v4 file (its variables' headers read, one after another), with its reader where it
    is the file's only variable, real and numeric; None where the file is no v4 file or has no ``val``."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        for offset, data_offset, order, type_code, rows, columns, imaginary, name in _mat_v4_variables(handle, size):
            precision, matrix_type = divmod(type_code % 100, 10)
            if name != b"val" or matrix_type != 0 or type_code % 1000 >= 100:
                continue
            dtype = np.dtype(order + _MAT_V4_TYPES[precision])
            data_bytes = rows * columns * dtype.itemsize * (2 if imaginary else 1)
            alone = offset == 0 and not imaginary and size == data_offset + data_bytes
            streamed = _MatV4Counts(path, data_offset, dtype, rows, columns) if alone else None
            truncated = size < data_offset + data_bytes
            return _DeclaredArray((rows, columns), bool(imaginary), data_bytes, truncated, streamed)
    return None


def _mat_v4_variables(handle: IO[bytes], size: int) -> Iterator[tuple[int, int, str, int, int, int, int, bytes]]:
    """(offset, offset of its data, byte order, type code, rows, columns, imaginary flag, name) of each variable of
    a MATLAB v4 file; stops at the first header that is no v4 header (a v5 file, text, the end)."""
    offset = 0
    while offset + _MAT_V4_HEADER <= size:
        handle.seek(offset)
        head = handle.read(_MAT_V4_HEADER)
        # The byte order, as scipy.io guesses it: a little-endian type code is a small non-negative number.
        order = "<" if 0 <= struct.unpack("<i", head[:4])[0] <= 5000 else ">"
        type_code, rows, columns, imaginary, name_length = struct.unpack(f"{order}5i", head)
        machine, rest = divmod(type_code, 1000)
        precision = rest // 10 % 10
        if machine != {"<": 0, ">": 1}[order] or not 0 < name_length <= 4096 or rows < 0 or columns < 0:
            return
        if imaginary not in (0, 1) or precision not in _MAT_V4_TYPES:
            return
        name = handle.read(name_length).rstrip(b"\0")
        data_offset = offset + _MAT_V4_HEADER + name_length
        yield offset, data_offset, order, type_code, rows, columns, imaginary, name
        offset = data_offset + rows * columns * np.dtype(_MAT_V4_TYPES[precision]).itemsize * (1 + imaginary)


_MAT_V5_HEADER = 128  # text, subsystem offset, version, endian indicator
_MI_MATRIX, _MI_COMPRESSED = 14, 15  # MAT v5 data types of a top-level element
_MATRIX_HEAD = 256  # decompressed bytes of an element that hold its array's flags, dimensions and name


def _mat_v5_val(handle: IO[bytes], order: str, file_size: int) -> _DeclaredArray | None:
    """The ``val`` of a MAT v5 file (``handle`` after its 128-byte header), from the head of each top-level element:
    a compressed one is decompressed only as far as its array's flags, dimensions, name and data tag."""
    while tag := handle.read(8):
        if len(tag) < 8:
            return None
        data_type, size = struct.unpack(f"{order}II", tag)
        start = handle.tell()
        if data_type == _MI_COMPRESSED:
            matrix = _decompressed_head(handle, size, _MATRIX_HEAD)
        elif data_type == _MI_MATRIX:
            matrix = tag + handle.read(min(size, _MATRIX_HEAD))
        else:
            matrix = b""
        declared = _v5_array(matrix, order) if len(matrix) >= 8 else None
        if declared is not None and declared[0] == b"val":
            truncated = data_type == _MI_MATRIX and start + size > file_size
            return dataclasses.replace(declared[1], truncated=truncated)
        handle.seek(start + size + (-size % 8 if data_type == _MI_MATRIX else 0))
    return None


def _decompressed_head(handle: IO[bytes], size: int, wanted: int) -> bytes:
    """The first ``wanted`` bytes (or fewer) of the zlib stream of ``size`` bytes at ``handle``'s position."""
    decompressor = zlib.decompressobj()
    head, left = b"", size
    try:
        while len(head) < wanted:
            data = decompressor.unconsumed_tail or handle.read(min(left, 4096))
            if not data:
                break
            left -= 0 if decompressor.unconsumed_tail else len(data)
            head += decompressor.decompress(data, wanted - len(head))
    except zlib.error:
        return b""  # damaged: scipy.io names the problem when it reads the file
    return head


def _v5_array(matrix: bytes, order: str) -> tuple[bytes, _DeclaredArray] | None:
    """(name, what it declares) of a MAT v5 array element's head (its miMATRIX tag first); None if it is none."""
    data_type, size = struct.unpack(f"{order}II", matrix[:8])
    position = 8
    elements = []
    try:
        for _ in range(3):  # array flags, dimensions, name
            data, position = _v5_sub_element(matrix, position, order)
            elements.append(data)
        flags, dimensions, name = elements
        real_type, real_bytes = struct.unpack(f"{order}II", matrix[position : position + 8])
        shape = struct.unpack(f"{order}{len(dimensions) // 4}i", dimensions)
        class_flags = struct.unpack(f"{order}I", flags[:4])[0]
    except struct.error:
        return None
    if data_type != _MI_MATRIX:
        return None
    if real_type >> 16:  # small data element format: the size is in the upper half
        real_bytes = real_type >> 16
    return name.rstrip(b"\0"), _DeclaredArray(tuple(shape), bool(class_flags & 0x800), max(size, real_bytes))


def _v5_sub_element(buffer: bytes, position: int, order: str) -> tuple[bytes, int]:
    """(data, position after it) of the sub-element at ``position``, in either of v5's tag formats."""
    first, second = struct.unpack(f"{order}II", buffer[position : position + 8])
    if first >> 16:  # small data element: type and size in one word, the data in the next 4 bytes
        return buffer[position + 4 : position + 4 + (first >> 16)], position + 8
    return buffer[position + 8 : position + 8 + second], position + 8 + second + (-second % 8)


def _load_mat(path: Path) -> np.ndarray:
    try:
        contents = scipy.io.loadmat(path, variable_names=["val"])  # other variables are not read
    except Exception as error:  # scipy raises many types for empty, truncated or non-MAT files
        raise RecordError(path, f"unreadable MAT file ({type(error).__name__}: {error})") from error
    if "val" not in contents:
        names = ", ".join(sorted(name for name, _, _ in scipy.io.whosmat(path)))
        raise RecordError(path, f"MAT file has no variable 'val' (variables: {names or 'none'})")
    val = np.asarray(contents["val"])
    if np.iscomplexobj(val):
        raise RecordError(path, "'val' is complex: ECG samples are real numbers (save the real part alone)")
    if val.ndim != 2 or not np.issubdtype(val.dtype, np.number):
        raise RecordError(path, f"'val' must be a 2-D numeric array, got {val.dtype} with shape {val.shape}")
    return val.astype(np.float64)


# A WFDB format field: FORMAT[xSAMPLES_PER_FRAME][:SKEW][+BYTE_OFFSET].
_FORMAT_FIELD = re.compile(r"^(?P<format>\d+)(?:x(?P<per_frame>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$")
# Bytes per sample of the formats decoded here (212 packs two 12-bit samples into 3 bytes).
_BYTES_PER_SAMPLE = {"16": 2.0, "61": 2.0, "80": 1.0, "24": 3.0, "32": 4.0, "212": 1.5}
# WFDB's value for a missing sample in each format (its most negative value), as the wfdb package reads them;
# format 8 (first differences) has none.
_INVALID_SAMPLE = {
    "80": -(2**7),
    "508": -(2**7),
    "310": -(2**9),
    "311": -(2**9),
    "212": -(2**11),
    "16": -(2**15),
    "61": -(2**15),
    "160": -(2**15),
    "516": -(2**15),
    "24": -(2**23),
    "524": -(2**23),
    "32": -(2**31),
}


def _open_dat(path: Path, header: Header) -> CountsReader | None:
    """Counts of a WFDB signal file with all leads interleaved in one file (as PTB-XL ships them); None for a file
    that the ``wfdb`` package reads.

    The common formats (16, 61, 80, 24, 32, 212) are decoded here from the parsed header, so that
    the quirks this package accepts (a record name written ``NAME.dat``, non-ASCII bytes) hold for
    ``.dat`` records too and a short file gets a clear message; anything else (several signal
    files, several samples per frame, skew, other formats) is left to the ``wfdb`` package.
    """
    fields = {
        (match["format"], int(match["offset"] or 0)) if (match := _plain_format(lead.fmt)) else None
        for lead in header.leads
    }
    files = {Path(lead.file_name).name for lead in header.leads}
    if len(fields) != 1 or None in fields or len(files) != 1:
        return None
    ((fmt, offset),) = fields
    counts = _DatCounts(path, offset, fmt, header.num_leads, header.num_samples)
    # Compared before reading: reading what a header declares would allocate it, however little the file holds.
    needed = counts.data_bytes
    available = max(path.stat().st_size - offset, 0)
    if available < needed:
        raise RecordError(
            path,
            f"signal file is truncated: {available} bytes after offset {offset}, but {header.num_leads} leads x "
            f"{header.num_samples} samples in format {fmt} need {needed}",
        )
    return counts


def _mark_missing_samples(counts: np.ndarray, formats: list[str]) -> np.ndarray:
    """Set to NaN, in place, the samples of each lead that hold its WFDB format's missing-sample value."""
    for row, fmt in enumerate(formats):
        invalid = _INVALID_SAMPLE.get(fmt)
        if invalid is not None:
            counts[row, counts[row] == invalid] = np.nan
    return counts


def _plain_format(fmt: str) -> re.Match[str] | None:
    """The match of a format field decoded here: a known format, one sample per frame, no skew."""
    match = _FORMAT_FIELD.match(fmt)
    if match is None or match["format"] not in _BYTES_PER_SAMPLE:
        return None
    if (match["per_frame"] or "1") != "1" or (match["skew"] or "0") != "0":
        return None
    return match


def _decode(raw: np.ndarray, fmt: str) -> np.ndarray:
    """Signed sample values (int64) of the bytes of a WFDB signal file, in file order."""
    if fmt in ("16", "61", "32"):
        return raw.view({"16": "<i2", "61": ">i2", "32": "<i4"}[fmt]).astype(np.int64)
    if fmt == "80":  # offset binary
        return raw.astype(np.int64) - 128
    if fmt == "24":  # little-endian two's complement
        triples = raw.reshape(-1, 3).astype(np.int64)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        return np.where(values >= 1 << 23, values - (1 << 24), values)
    # 212: per pair, byte 0 = low 8 bits of sample 0, byte 1 = high nibbles (sample 1 | sample 0), byte 2 = sample 1
    padded = np.concatenate([raw, np.zeros(-len(raw) % 3, dtype=np.uint8)]).reshape(-1, 3).astype(np.int64)
    first = padded[:, 0] | ((padded[:, 1] & 0x0F) << 8)
    second = padded[:, 2] | ((padded[:, 1] & 0xF0) << 4)
    values = np.stack([first, second], axis=1).reshape(-1)
    return np.where(values >= 1 << 11, values - (1 << 12), values)


def _load_dat_with_wfdb(path: Path) -> np.ndarray:
    import wfdb  # imported here: it is slow to import and only unusual WFDB records need it

    try:
        record = wfdb.rdrecord(str(path.with_suffix("")), physical=False)
    except Exception as error:  # wfdb raises many types for malformed files
        raise RecordError(path, f"unreadable WFDB record ({type(error).__name__}: {error})") from error
    return _mark_missing_samples(np.asarray(record.d_signal, dtype=np.float64).T.copy(), list(record.fmt))
