"""Signal preparation shared by training and inference: lead order, missing samples, resampling, windows.

The paper's recipe: signals in mV, the twelve leads in the standard order, resampled to 500 Hz
with a polyphase filter, cut into 10 s windows (5,000 samples); shorter recordings are zero-padded.
No denoising.

Repairs that still give an answer warn with a :class:`DegradedRecordingWarning` subclass: leads
missing or unrecognised (:class:`MissingLeadsWarning`, zero-filled), NaN gaps filled
(:class:`FilledGapsWarning`). What :func:`prepare_signal` returns is always finite.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import DTypeLike
from scipy.signal import resample_poly

from ecg12.config import TARGET_FREQUENCY, WINDOW_SAMPLES
from ecg12.headers import Header, RecordError

STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

_LEAD_INDEX = {name.lower(): index for index, name in enumerate(STANDARD_LEADS)}
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # a Python float: compared with a NumPy float32 it would be cast
# Lead names beyond case and surrounding spaces (see match_standard_lead): Roman numerals written DI/DII/DIII or
# D1/D2/D3 (European and Latin American devices), and a description prefix "ECG", "lead" or both ("ECG lead II").
_ALIASES = {"di": "i", "dii": "ii", "diii": "iii", "d1": "i", "d2": "ii", "d3": "iii"}
_DESCRIPTION_PREFIX = re.compile(r"^(?:ecg[\s_]*)?(?:lead[\s_]*)?")


class DegradedRecordingWarning(UserWarning):
    """A recording was usable only after a repair (zero-filled leads, filled gaps): its answer is less certain."""


class MissingLeadsWarning(DegradedRecordingWarning):
    """A recording lacks some of the twelve standard leads; they are zero-filled."""


class FilledGapsWarning(DegradedRecordingWarning):
    """Some samples of a lead were missing (NaN) and were filled by interpolation."""


def match_standard_lead(name: str) -> tuple[int, float] | None:
    """Position in :data:`STANDARD_LEADS` and sign of a lead name, or None if it names none of the twelve.

    Recognised beyond the standard names: any case and surrounding spaces (``AVR``, ``v1 ``), DI/DII/DIII
    and D1/D2/D3, a prefix "ECG" and/or "lead" (``Lead II``, ``ECG_V3``), and a leading minus (ASCII or
    U+2212) for an inverted lead, sign -1 (Cabrera displays record ``-aVR``). Modified leads (MLI,
    MLII, MLIII: Holter and Mason-Likar torso electrodes) are deliberately not the standard ones: their
    electrical axis differs, and axis deviation is among the classes.
    """
    key = name.strip().replace("\u2212", "-").lower()
    sign = 1.0
    if key.startswith("-"):
        sign, key = -1.0, key[1:].lstrip()
    key = _DESCRIPTION_PREFIX.sub("", key, count=1)
    index = _LEAD_INDEX.get(_ALIASES.get(key, key))
    return None if index is None else (index, sign)


def standardize_leads(signal: np.ndarray, lead_names: Sequence[str], source: str) -> np.ndarray:
    """Reorder rows to the standard 12-lead order by name (:func:`match_standard_lead`); missing leads become zeros.

    An inverted lead is negated. A row that is all NaN (no valid sample) counts as missing; of rows
    naming the same lead, the first with a valid sample is used. NaN gaps in the rows used stay, for
    :func:`fill_gaps`. Leads with other names (e.g. a rhythm strip) are ignored. A recording with
    none of the standard leads is an error; one with some missing gets a :class:`MissingLeadsWarning`
    naming them, and the lead names it did not recognise.
    """
    out = np.zeros((len(STANDARD_LEADS), signal.shape[1]), dtype=signal.dtype)
    found: set[int] = set()
    without_samples: list[str] = []
    unrecognised: list[str] = []
    for row, name in enumerate(lead_names):
        match = match_standard_lead(name)
        if match is None:
            unrecognised.append(name)
            continue
        index, sign = match
        if index in found:
            continue
        if np.isnan(signal[row]).all():
            without_samples.append(STANDARD_LEADS[index])
            continue
        out[index] = sign * signal[row]
        found.add(index)
    without_samples = [lead for lead in dict.fromkeys(without_samples) if _LEAD_INDEX[lead.lower()] not in found]
    empty_note = f"no valid samples in {', '.join(without_samples)}" if without_samples else ""
    if not found:
        leads = ", ".join(lead_names)
        raise RecordError(source, f"none of the 12 standard leads found (leads: {leads}" + (f"; {empty_note})"))
    if len(found) < len(STANDARD_LEADS):
        missing = [STANDARD_LEADS[i] for i in range(len(STANDARD_LEADS)) if i not in found]
        message = f"{source}: leads {', '.join(missing)} missing, zero-filled"
        if empty_note:
            message += f" ({empty_note})"
        if unrecognised:
            message += f"; unrecognised lead names: {', '.join(repr(name) for name in unrecognised)}"
        warnings.warn(message, MissingLeadsWarning, stacklevel=2)
    return out


def fill_gaps(signal: np.ndarray, lead_names: Sequence[str], source: str) -> np.ndarray:
    """Fill the NaN samples of each row (lead): linear interpolation inside, the nearest valid value at the ends.

    Gaps are dropped samples (WFDB's missing-sample value, read as NaN); a straight line between their
    neighbours adds no frequency content, and holding the edge value does not extrapolate a slope out
    of a few samples. Returns a filled copy, with a :class:`FilledGapsWarning` naming the leads and
    how many samples each had filled, or ``signal`` itself when it has no NaN. A row without any
    valid sample cannot be filled: an error (:func:`standardize_leads` treats such a lead as missing).
    """
    gaps = np.isnan(signal)
    if not gaps.any():
        return signal
    filled = signal.copy()
    reports = []
    for row in np.flatnonzero(gaps.any(axis=1)):
        valid = np.flatnonzero(~gaps[row])
        if valid.size == 0:
            raise RecordError(source, f"lead {lead_names[row]} has no valid sample to fill its gaps from")
        missing = np.flatnonzero(gaps[row])
        filled[row, missing] = np.interp(missing, valid, signal[row, valid])
        reports.append(f"{missing.size} of {signal.shape[1]} samples in {lead_names[row]}")
    warnings.warn(
        f"{source}: filled missing (NaN) samples by linear interpolation: {', '.join(reports)}",
        FilledGapsWarning,
        stacklevel=2,
    )
    return filled


def resampling_ratio(frequency: float, target: int = TARGET_FREQUENCY) -> Fraction | None:
    """The rational up/down factor that takes ``frequency`` to ``target`` Hz, or None where they are equal."""
    if math.isclose(frequency, target):
        return None
    return Fraction(target / frequency).limit_denominator(1000)


def resample(signal: np.ndarray, frequency: float, target: int = TARGET_FREQUENCY) -> np.ndarray:
    """Resample along time with a polyphase anti-aliasing filter (257, 1000 Hz, ... -> 500 Hz)."""
    ratio = resampling_ratio(frequency, target)
    if ratio is None:
        return signal
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=1)


def resampled_length(num_samples: int, frequency: float, target: int = TARGET_FREQUENCY) -> int:
    """Length of a signal after :func:`resample` (scipy's resample_poly rule), known before reading it."""
    ratio = resampling_ratio(frequency, target)
    if ratio is None:
        return num_samples
    return math.ceil(num_samples * ratio.numerator / ratio.denominator)


def prepare_signal(signal_mv: np.ndarray, header: Header) -> np.ndarray:
    """A recording in mV (header's lead order and rate) -> float32 (12, N) at 500 Hz, standard lead order, finite.

    NaN samples are missing ones: gaps are filled (:func:`fill_gaps`), a lead without any valid sample
    is missing (:func:`standardize_leads`). Infinite samples in a lead used are an error: no format
    marks a missing sample that way, so they mean a corrupt file. So are amplitudes beyond float32.
    """
    if signal_mv.shape[1] == 0:
        raise RecordError(header.source, "recording has no samples")
    signal = standardize_leads(signal_mv, header.lead_names, header.source)
    infinite = np.isinf(signal).sum(axis=1)
    if infinite.any():
        counts = ", ".join(f"{count} in {lead}" for lead, count in zip(STANDARD_LEADS, infinite, strict=True) if count)
        raise RecordError(
            header.source, f"infinite samples (only NaN marks a missing sample, so these are not filled): {counts}"
        )
    resampled = resample(fill_gaps(signal, STANDARD_LEADS, header.source), header.frequency)
    # Checked before the cast: float32 would turn them into infinities, which no network or int16 cache can take.
    largest = float(np.abs(resampled).max())
    if not largest <= _FLOAT32_MAX:
        raise RecordError(header.source, f"amplitudes too large to represent ({largest:.3g} mV)")
    return resampled.astype(np.float32)


def window_starts(num_samples: int, window: int = WINDOW_SAMPLES, stride: int = WINDOW_SAMPLES) -> np.ndarray:
    """Start indices of sliding windows that cover the whole recording.

    Windows start every ``stride`` samples; one more window is aligned to the end when the last
    stride leaves samples uncovered. A recording shorter than a window gets one (zero-padded) window.
    """
    if num_samples <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, num_samples - window + 1, stride, dtype=np.int64)
    if starts[-1] + window < num_samples:
        starts = np.append(starts, num_samples - window)
    return starts


def extract_windows(
    signal: np.ndarray, starts: Sequence[int] | np.ndarray, window: int = WINDOW_SAMPLES, dtype: DTypeLike = None
) -> np.ndarray:
    """Windows (len(starts), leads, window) of a (leads, N) signal, in ``dtype`` (default: the signal's).

    Where a window starts before the signal (a negative start: training's random shift) or runs
    past its end, it is zero-filled there. Only the windows' samples are read, so ``signal`` can be
    a view of a memory-mapped file.
    """
    leads, length = signal.shape
    out = np.zeros((len(starts), leads, window), dtype=signal.dtype if dtype is None else dtype)
    for row, start in enumerate(starts):
        first, last = max(int(start), 0), min(int(start) + window, length)
        if last > first:
            out[row, :, first - start : last - start] = signal[:, first:last]
    return out
