"""Loading Challenge recordings: ``NAME.mat`` (MATLAB ``val``, leads x samples) or WFDB ``.dat``.

Signals come back as float64 arrays of shape (leads, samples), either in raw ADC counts (what the
Challenge's ``run_12ECG_classifier`` receives) or in millivolts. Every failure is a
:class:`~ecg12.headers.RecordError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.io

from ecg12.headers import Header, RecordError, read_header

SIGNAL_SUFFIXES = (".mat", ".dat")


def find_recordings(folder: str | os.PathLike[str]) -> list[Path]:
    """Header files in ``folder`` (sorted, hidden files skipped) that have a signal file beside them."""
    directory = Path(folder)
    if not directory.is_dir():
        raise RecordError(directory, "not a directory")
    headers = sorted(p for p in directory.iterdir() if p.suffix.lower() == ".hea" and not p.name.startswith("."))
    return [h for h in headers if any(h.with_suffix(s).is_file() for s in SIGNAL_SUFFIXES)]


def signal_file(header_path: str | os.PathLike[str]) -> Path:
    """The ``.mat`` (preferred) or ``.dat`` file that goes with a header."""
    path = Path(header_path)
    for suffix in SIGNAL_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise RecordError(path, "no .mat or .dat signal file beside the header")


def load_counts(path: str | os.PathLike[str], header: Header) -> np.ndarray:
    """Raw ADC counts (leads x samples, float64), checked against the header's shape."""
    path = Path(path)
    counts = _load_dat(path, header) if path.suffix.lower() == ".dat" else _load_mat(path)
    expected = (header.num_leads, header.num_samples)
    if counts.shape != expected:
        raise RecordError(path, f"signal has shape {counts.shape} but the header declares {expected} (leads, samples)")
    return counts


def to_millivolts(counts: np.ndarray, header: Header) -> np.ndarray:
    """Convert ADC counts to physical units: (counts - baseline) / gain, per lead."""
    gains = np.array([lead.adc_gain for lead in header.leads], dtype=np.float64)[:, None]
    baselines = np.array([lead.baseline for lead in header.leads], dtype=np.float64)[:, None]
    # Headers in microvolts exist in WFDB data; express everything in mV.
    scale = np.array([1e-3 if lead.units.lower() in ("uv", "µv") else 1.0 for lead in header.leads])[:, None]
    return (counts - baselines) / gains * scale


def load_signal(header_path: str | os.PathLike[str]) -> tuple[Header, np.ndarray]:
    """Header and millivolt signal of the recording whose ``.hea`` is ``header_path``."""
    header = read_header(header_path)
    counts = load_counts(signal_file(header_path), header)
    return header, to_millivolts(counts, header)


def _load_mat(path: Path) -> np.ndarray:
    try:
        contents = scipy.io.loadmat(path)
    except FileNotFoundError as error:
        raise RecordError(path, "file not found") from error
    except Exception as error:  # scipy raises many types for empty, truncated or non-MAT files
        raise RecordError(path, f"unreadable MAT file ({type(error).__name__}: {error})") from error
    if "val" not in contents:
        variables = sorted(k for k in contents if not k.startswith("__"))
        raise RecordError(path, f"MAT file has no variable 'val' (variables: {', '.join(variables) or 'none'})")
    val = np.asarray(contents["val"])
    if val.ndim != 2 or not np.issubdtype(val.dtype, np.number):
        raise RecordError(path, f"'val' must be a 2-D numeric array, got {val.dtype} with shape {val.shape}")
    return val.astype(np.float64)


def _load_dat(path: Path, header: Header) -> np.ndarray:
    import wfdb  # imported here: it is slow to import and only PTB-XL-style records need it

    try:
        record = wfdb.rdrecord(str(path.with_suffix("")), physical=False)
    except Exception as error:  # wfdb raises many types for malformed files
        raise RecordError(path, f"unreadable WFDB record ({type(error).__name__}: {error})") from error
    return np.asarray(record.d_signal, dtype=np.float64).T
