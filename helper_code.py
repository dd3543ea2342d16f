"""Challenge-style helper functions for reading recordings and writing outputs.

The names follow the Challenge's own helper code; the work is done by the ``ecg12`` package.
Header getters take the header text returned by :func:`load_header` (or a parsed ``Header``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ecg12.headers import Header, RecordError, parse_header, read_header, read_header_text
from ecg12.outputs import load_outputs, save_outputs
from ecg12.recordings import find_recordings, load_counts, signal_file, to_millivolts

__all__ = [
    "RecordError",
    "find_challenge_files",
    "get_adc_gains",
    "get_age",
    "get_baselines",
    "get_frequency",
    "get_labels",
    "get_leads",
    "get_num_samples",
    "get_recording_id",
    "get_sex",
    "load_header",
    "load_outputs",
    "load_recording",
    "save_outputs",
]


def find_challenge_files(data_directory: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Header files and their signal files (``.mat`` or ``.dat``) in a folder, sorted by name."""
    headers = find_recordings(data_directory)
    return [str(h) for h in headers], [str(signal_file(h)) for h in headers]


def load_header(header_file: str | os.PathLike[str]) -> str:
    """The header's text, validated (a malformed header raises ``RecordError`` naming the file)."""
    text = read_header_text(header_file)
    parse_header(text, header_file)
    return text


def load_recording(
    recording_file: str | os.PathLike[str], header: str | Header | None = None, physical: bool = False
) -> np.ndarray:
    """The signal as float64 (leads x samples): raw ADC counts, or mV with ``physical=True``.

    Without ``header``, the ``.hea`` beside the recording is read; its shape is always checked.
    """
    path = Path(recording_file)
    parsed = (
        _as_header(header, source=path.with_suffix(".hea"))
        if header is not None
        else read_header(path.with_suffix(".hea"))
    )
    counts = load_counts(path, parsed)
    return to_millivolts(counts, parsed) if physical else counts


def get_recording_id(header: str | Header) -> str:
    return _as_header(header).record_name


def get_leads(header: str | Header) -> list[str]:
    return list(_as_header(header).lead_names)


def get_frequency(header: str | Header) -> float:
    return _as_header(header).frequency


def get_num_samples(header: str | Header) -> int:
    return _as_header(header).num_samples


def get_adc_gains(header: str | Header, leads: list[str] | None = None) -> np.ndarray:
    return _per_lead(_as_header(header), leads, "adc_gain")


def get_baselines(header: str | Header, leads: list[str] | None = None) -> np.ndarray:
    return _per_lead(_as_header(header), leads, "baseline")


def get_age(header: str | Header) -> float:
    """Age in years; NaN when missing or unknown."""
    return _as_header(header).age


def get_sex(header: str | Header) -> str:
    """'Male', 'Female' or 'Unknown'."""
    return _as_header(header).sex


def get_labels(header: str | Header) -> list[str]:
    """The SNOMED CT codes of the ``#Dx`` line."""
    return list(_as_header(header).labels)


def _as_header(header: str | Header, source: str | os.PathLike[str] = "<header>") -> Header:
    return header if isinstance(header, Header) else parse_header(header, source)


def _per_lead(header: Header, leads: list[str] | None, attribute: str) -> np.ndarray:
    by_name = {lead.name: lead for lead in header.leads}
    names = header.lead_names if leads is None else leads
    missing = [name for name in names if name not in by_name]
    if missing:
        raise RecordError(header.source, f"header has no lead named {', '.join(missing)}")
    return np.array([getattr(by_name[name], attribute) for name in names], dtype=np.float64)
