"""Signal preparation shared by training and inference: lead order, resampling, windows.

The paper's recipe: signals in mV, the twelve leads in the standard order, resampled to 500 Hz
with a polyphase filter, cut into 10 s windows (5,000 samples); shorter recordings are zero-padded.
No denoising.
"""

from __future__ import annotations

import math
import warnings
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly

from ecg12.headers import Header, RecordError

STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
TARGET_FREQUENCY = 500
WINDOW_SAMPLES = 5000  # 10 s at 500 Hz

_LEAD_INDEX = {name.lower(): index for index, name in enumerate(STANDARD_LEADS)}


class DegradedRecordingWarning(UserWarning):
    """A recording was usable only after a repair (zero-filled leads, filled gaps): its answer is less certain."""


class MissingLeadsWarning(DegradedRecordingWarning):
    """A recording lacks some of the twelve standard leads; they are zero-filled."""


def standardize_leads(signal: np.ndarray, lead_names: tuple[str, ...] | list[str], source: str) -> np.ndarray:
    """Reorder rows to the standard 12-lead order by name (case-insensitive); missing leads become zeros.

    Leads with other names (e.g. a rhythm strip) are ignored. A recording with none of the standard
    leads is an error; one with some missing gets a :class:`MissingLeadsWarning`.
    """
    out = np.zeros((len(STANDARD_LEADS), signal.shape[1]), dtype=signal.dtype)
    found = set()
    for row, name in enumerate(lead_names):
        index = _LEAD_INDEX.get(name.strip().lower())
        if index is not None and index not in found:
            out[index] = signal[row]
            found.add(index)
    if not found:
        raise RecordError(source, f"none of the 12 standard leads found (leads: {', '.join(lead_names)})")
    if len(found) < len(STANDARD_LEADS):
        missing = [STANDARD_LEADS[i] for i in range(len(STANDARD_LEADS)) if i not in found]
        warnings.warn(f"{source}: leads {', '.join(missing)} missing, zero-filled", MissingLeadsWarning, stacklevel=2)
    return out


def resample(signal: np.ndarray, frequency: float, target: int = TARGET_FREQUENCY) -> np.ndarray:
    """Resample along time with a polyphase anti-aliasing filter (257, 1000 Hz, ... -> 500 Hz)."""
    if math.isclose(frequency, target):
        return signal
    ratio = Fraction(target / frequency).limit_denominator(1000)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=1)


def prepare_signal(signal_mv: np.ndarray, header: Header) -> np.ndarray:
    """A recording in mV (header's lead order and rate) -> float32 (12, N) at 500 Hz, standard lead order."""
    if signal_mv.shape[1] == 0:
        raise RecordError(header.source, "recording has no samples")
    bad = ~np.isfinite(signal_mv)
    if bad.any():
        raise RecordError(header.source, f"{int(bad.sum())} samples are NaN or infinite")
    signal = standardize_leads(signal_mv, header.lead_names, header.source)
    return resample(signal, header.frequency).astype(np.float32)


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


def extract_windows(signal: np.ndarray, starts: np.ndarray, window: int = WINDOW_SAMPLES) -> np.ndarray:
    """Stack windows (len(starts), leads, window) from a (leads, N) signal, zero-padding past its end."""
    leads, length = signal.shape
    out = np.zeros((len(starts), leads, window), dtype=np.float32)
    for row, start in enumerate(starts):
        piece = signal[:, start : min(start + window, length)]
        out[row, :, : piece.shape[1]] = piece
    return out
