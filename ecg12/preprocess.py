"""Signal preparation shared by training and inference: lead order, missing samples, resampling, windows.

The paper's recipe: signals in mV, the twelve leads in the standard order, resampled to 500 Hz
with a polyphase filter, cut into 10 s windows (5,000 samples); shorter recordings are zero-padded.
No denoising.

Repairs that still give an answer warn with a :class:`DegradedRecordingWarning` subclass: leads
missing or unrecognised (:class:`MissingLeadsWarning`, zero-filled), NaN gaps filled
(:class:`FilledGapsWarning`), leads of gain 0 read at WFDB's default gain (:class:`UncalibratedLeadsWarning`).
What :func:`prepare_signal` returns is always finite.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import DTypeLike
from scipy.signal import firwin, resample_poly

from ecg12.config import TARGET_FREQUENCY, WINDOW_SAMPLES
from ecg12.headers import DEFAULT_ADC_GAIN, Header, RecordError

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


class UncalibratedLeadsWarning(DegradedRecordingWarning):
    """Some leads have an ADC gain of 0 (uncalibrated, in WFDB): read at its default gain, their amplitudes may be
    off by any factor."""


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


@dataclass(frozen=True)
class LeadSelection:
    """Where each standard lead comes from: ``(row of the recording, sign)``, or None for a missing (zero) lead."""

    sources: tuple[tuple[int, float] | None, ...]

    def apply(self, signal: np.ndarray) -> np.ndarray:
        """The recording's rows (leads x samples) in the standard order: inverted leads negated, missing ones zero."""
        out = np.zeros((len(STANDARD_LEADS), signal.shape[1]), dtype=signal.dtype)
        for index, chosen in enumerate(self.sources):
            if chosen is not None:
                row, sign = chosen
                out[index] = sign * signal[row]
        return out

    def per_lead(self, values: np.ndarray) -> np.ndarray:
        """A per-row quantity of the recording (e.g. its NaN counts) per standard lead, 0 for a missing lead."""
        return np.array([0 if chosen is None else values[chosen[0]] for chosen in self.sources], dtype=values.dtype)


def select_leads(lead_names: Sequence[str], has_samples: Sequence[bool], source: str) -> LeadSelection:
    """Choose the row of each standard lead by name (:func:`match_standard_lead`); see :func:`standardize_leads`.

    ``has_samples[row]`` says whether the row has a valid (not NaN) sample. Warns and raises as
    :func:`standardize_leads` describes.
    """
    sources: list[tuple[int, float] | None] = [None] * len(STANDARD_LEADS)
    without_samples: list[str] = []
    unrecognised: list[str] = []
    for row, name in enumerate(lead_names):
        match = match_standard_lead(name)
        if match is None:
            unrecognised.append(name)
            continue
        index, sign = match
        if sources[index] is not None:
            continue
        if not has_samples[row]:
            without_samples.append(STANDARD_LEADS[index])
            continue
        sources[index] = (row, sign)
    found = {index for index, chosen in enumerate(sources) if chosen is not None}
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
        warnings.warn(message, MissingLeadsWarning, stacklevel=3)
    return LeadSelection(tuple(sources))


def standardize_leads(signal: np.ndarray, lead_names: Sequence[str], source: str) -> np.ndarray:
    """Reorder rows to the standard 12-lead order by name (:func:`match_standard_lead`); missing leads become zeros.

    An inverted lead is negated. A row that is all NaN (no valid sample) counts as missing; of rows
    naming the same lead, the first with a valid sample is used. NaN gaps in the rows used stay, for
    :func:`fill_gaps`. Leads with other names (e.g. a rhythm strip) are ignored. A recording with
    none of the standard leads is an error; one with some missing gets a :class:`MissingLeadsWarning`
    naming them, and the lead names it did not recognise.
    """
    return select_leads(lead_names, ~np.isnan(signal).all(axis=1), source).apply(signal)


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
    empty = np.flatnonzero(gaps.all(axis=1))
    if empty.size:
        raise RecordError(source, f"lead {lead_names[empty[0]]} has no valid sample to fill its gaps from")
    _warn_filled_gaps(gaps.sum(axis=1), signal.shape[1], lead_names, source)
    return interpolate_gaps(signal)


def _warn_filled_gaps(missing: np.ndarray, num_samples: int, lead_names: Sequence[str], source: str) -> None:
    """The :class:`FilledGapsWarning` for ``missing[row]`` NaN samples filled in each row of ``num_samples``."""
    reports = [f"{missing[row]} of {num_samples} samples in {lead_names[row]}" for row in np.flatnonzero(missing)]
    warnings.warn(
        f"{source}: filled missing (NaN) samples by linear interpolation: {', '.join(reports)}",
        FilledGapsWarning,
        stacklevel=3,
    )


# The nearest valid sample of a row outside a stretch of a recording: (position in the recording, value), or None.
ValidNeighbour = Callable[[int], tuple[int, float] | None]


def interpolate_gaps(
    signal: np.ndarray,
    offset: int = 0,
    before: ValidNeighbour | None = None,
    after: ValidNeighbour | None = None,
) -> np.ndarray:
    """``signal`` with its NaN samples filled as :func:`fill_gaps` does, without warnings; ``signal`` itself if none.

    ``signal`` may be a stretch of a recording, starting at sample ``offset``: ``before(row)`` and
    ``after(row)`` then give the nearest valid sample of a row outside it, so that a gap that crosses
    the stretch's edge is filled as in the whole recording (the same two neighbours, so the same numbers).
    """
    gaps = np.isnan(signal)
    if not gaps.any():
        return signal
    filled = signal.copy()
    for row in np.flatnonzero(gaps.any(axis=1)):
        valid = np.flatnonzero(~gaps[row])
        positions, values = [valid + offset], [signal[row, valid]]
        if gaps[row, 0] and before is not None and (neighbour := before(row)) is not None:
            positions.insert(0, np.array([neighbour[0]]))
            values.insert(0, np.array([neighbour[1]]))
        if gaps[row, -1] and after is not None and (neighbour := after(row)) is not None:
            positions.append(np.array([neighbour[0]]))
            values.append(np.array([neighbour[1]]))
        missing = np.flatnonzero(gaps[row])
        filled[row, missing] = np.interp(missing + offset, np.concatenate(positions), np.concatenate(values))
    return filled


def resampling_ratio(frequency: float, target: int = TARGET_FREQUENCY) -> Fraction | None:
    """The rational up/down factor that takes ``frequency`` to ``target`` Hz, or None where that is 1."""
    if math.isclose(frequency, target):
        return None
    ratio = Fraction(target / frequency).limit_denominator(1000)
    return None if ratio == 1 else ratio


@functools.cache
def _resampling_filter(up: int, down: int) -> np.ndarray:
    """scipy's own choice for ``resample_poly`` (a Kaiser-windowed sinc, 10 taps per side per phase), made here so
    that its reach is known: an output sample depends on the inputs within half its length (upsampled)."""
    max_rate = max(up, down)
    taps = firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    taps.flags.writeable = False
    return taps


@functools.cache
def _largest_gain(up: int, down: int) -> float:
    """The most an output sample of :func:`resample` can exceed the largest input magnitude by: the largest sum
    of magnitudes of the (upsampled) filter's taps that meet one output."""
    taps = np.abs(_resampling_filter(up, down)) * up
    return max(float(taps[phase::up].sum()) for phase in range(up))


def resample(signal: np.ndarray, frequency: float, target: int = TARGET_FREQUENCY) -> np.ndarray:
    """Resample along time with a polyphase anti-aliasing filter (257, 1000 Hz, ... -> 500 Hz)."""
    ratio = resampling_ratio(frequency, target)
    if ratio is None:
        return signal
    taps = _resampling_filter(ratio.numerator, ratio.denominator)
    if np.issubdtype(signal.dtype, np.floating):  # as scipy does with its own filter
        taps = taps.astype(signal.dtype)
    return resample_poly(signal, ratio.numerator, ratio.denominator, axis=1, window=taps)


def resampled_length(num_samples: int, frequency: float, target: int = TARGET_FREQUENCY) -> int:
    """Length of a signal after :func:`resample` (scipy's resample_poly rule), known before reading it."""
    ratio = resampling_ratio(frequency, target)
    if ratio is None:
        return num_samples
    return math.ceil(num_samples * ratio.numerator / ratio.denominator)


def _input_range(start: int, stop: int, num_input: int, ratio: Fraction | None) -> tuple[int, int]:
    """The input samples ``[first, last)`` whose :func:`resample` gives output samples ``start:stop`` exactly as
    resampling the whole recording does: the filter's reach on both sides, and ``first`` a multiple of the
    ratio's denominator, so that the stretch's output samples fall on the whole recording's (from ``first``
    times the ratio on)."""
    if ratio is None:
        return start, stop
    up, down = ratio.numerator, ratio.denominator
    reach = (len(_resampling_filter(up, down)) - 1) // 2
    first = max((start * down - reach) // up - 1, 0)
    last = min(-(-((stop - 1) * down + reach) // up) + 2, num_input)
    return first - first % down, last


def prepare_signal(signal_mv: np.ndarray, header: Header) -> np.ndarray:
    """A recording in mV (header's lead order and rate) -> float32 (12, N) at 500 Hz, standard lead order, finite.

    NaN samples are missing ones: gaps are filled (:func:`fill_gaps`), a lead without any valid sample
    is missing (:func:`standardize_leads`). Infinite samples in a lead used are an error: no format
    marks a missing sample that way, so they mean a corrupt file. So are amplitudes beyond float32.
    The whole of :class:`PreparedSignal`, in memory.
    """
    prepared = PreparedSignal(lambda start, stop: signal_mv[:, start:stop], signal_mv.shape[1], header)
    return prepared.samples(0, prepared.shape[1])


# Reads a recording's samples start:stop in mV: (leads as in its header, stop - start) float64, NaN where missing.
MillivoltReader = Callable[[int, int], np.ndarray]

SEGMENT_SAMPLES = 5 * 60 * TARGET_FREQUENCY  # a long recording is prepared 5 minutes (at 500 Hz) at a time...
_SEGMENT_INPUT_SAMPLES = 5 * 60 * 1000  # ...or less at rates above 1,000 Hz: at most 5 minutes at 1,000 Hz read


def segment_length(frequency: float) -> int:
    """Samples (at 500 Hz) of a recording sampled at ``frequency`` Hz that :class:`PreparedSignal` prepares at once."""
    within_input = math.floor(_SEGMENT_INPUT_SAMPLES * TARGET_FREQUENCY / frequency)
    return max(WINDOW_SAMPLES, min(SEGMENT_SAMPLES, within_input))


@dataclass(frozen=True)
class _Survey:
    """What a pass over a whole recording found, per row (lead) of it."""

    missing: np.ndarray  # NaN samples
    infinite: np.ndarray  # infinite samples
    largest: np.ndarray  # the largest finite magnitude, mV (0 where none)


def _survey(read: MillivoltReader, num_samples: int, num_leads: int, chunk_samples: int) -> _Survey:
    missing = np.zeros(num_leads, dtype=np.int64)
    infinite = np.zeros(num_leads, dtype=np.int64)
    largest = np.zeros(num_leads, dtype=np.float64)
    for start in range(0, num_samples, chunk_samples):
        chunk = read(start, min(start + chunk_samples, num_samples))
        missing += np.isnan(chunk).sum(axis=1)
        infinite += np.isinf(chunk).sum(axis=1)
        largest = np.fmax(largest, np.fmax.reduce(np.abs(chunk), axis=1, initial=0.0))  # fmax passes over NaN
    return _Survey(missing, infinite, largest)


class PreparedSignal:
    """A recording prepared as :func:`prepare_signal` prepares it, computed a segment at a time as it is read.

    It reads as a (12, N) float32 array of mV at 500 Hz in the standard lead order: ``signal[rows,
    start:stop]`` or :meth:`samples` give new arrays of the samples asked for, computed from the
    stretch of the recording they need (:data:`SEGMENT_SAMPLES` at a time, the last segment kept for
    the next read), so that memory does not grow with the recording's length. A stretch is resampled
    with enough of the recording on both sides for the filter, from a sample on the whole recording's
    output grid, and gaps crossing its edges are filled from the same neighbours as in the whole
    recording: every sample is the one :func:`prepare_signal` computes from the whole recording.

    Everything that concerns the whole recording is settled when it is made, in one pass over it in
    chunks: missing and unrecognised leads (:class:`MissingLeadsWarning`), leads of gain 0
    (:class:`UncalibratedLeadsWarning`), the gaps to fill
    (:class:`FilledGapsWarning`), infinite samples and amplitudes beyond float32 (:class:`RecordError`).
    Reading it raises nothing but the reader's own errors (a file changed meanwhile).
    """

    dtype = np.dtype(np.float32)

    def __init__(self, read_millivolts: MillivoltReader, num_samples: int, header: Header) -> None:
        if num_samples == 0:
            raise RecordError(header.source, "recording has no samples")
        self._read = read_millivolts
        self._num_input = num_samples
        self._frequency = header.frequency
        self._ratio = resampling_ratio(header.frequency)
        self._segment_length = segment_length(header.frequency)
        self.shape = (len(STANDARD_LEADS), resampled_length(num_samples, header.frequency))
        # In chunks of a segment's input: the pass costs no more memory than a segment does.
        chunk_samples = math.ceil(self._segment_length * header.frequency / TARGET_FREQUENCY)
        survey = _survey(read_millivolts, num_samples, header.num_leads, chunk_samples)
        self._leads = select_leads(header.lead_names, survey.missing < num_samples, header.source)
        used = [header.leads[row] for row, _ in filter(None, self._leads.sources)]
        uncalibrated = [lead for lead in used if lead.uncalibrated]
        if uncalibrated:
            warnings.warn(
                f"{header.source}: ADC gain 0 (uncalibrated) in {', '.join(lead.name for lead in uncalibrated)}: "
                f"read at WFDB's default gain, {DEFAULT_ADC_GAIN:g} ADC units per {uncalibrated[0].units}",
                UncalibratedLeadsWarning,
                stacklevel=2,
            )
        infinite = self._leads.per_lead(survey.infinite)
        if infinite.any():
            counts = ", ".join(
                f"{count} in {lead}" for lead, count in zip(STANDARD_LEADS, infinite, strict=True) if count
            )
            raise RecordError(
                header.source, f"infinite samples (only NaN marks a missing sample, so these are not filled): {counts}"
            )
        missing = self._leads.per_lead(survey.missing)
        self._has_gaps = bool(missing.any())
        if self._has_gaps:
            _warn_filled_gaps(missing, num_samples, STANDARD_LEADS, header.source)
        self._check_amplitudes(float(self._leads.per_lead(survey.largest).max()), header.source)
        self._segment: tuple[int, np.ndarray] = (0, np.zeros((len(STANDARD_LEADS), 0), dtype=self.dtype))

    def __getitem__(self, key: object) -> np.ndarray:
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        if not isinstance(columns, slice) or columns.step not in (None, 1):
            raise TypeError("a prepared signal is read by ranges of samples: signal[rows, start:stop]")
        start, stop, _ = columns.indices(self.shape[1])
        return self.samples(start, stop)[rows]

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` (within the recording) of every lead: a new float32 (12, n) array."""
        start, stop = max(start, 0), min(stop, self.shape[1])
        stop = max(stop, start)
        segment_start, segment = self._segment
        if not segment_start <= start <= stop <= segment_start + segment.shape[1]:
            if stop - start > self._segment_length:
                return self._samples_by_segments(start, stop)
            segment_start, segment = start, self._compute(start, min(start + self._segment_length, self.shape[1]))
            self._segment = (segment_start, segment)
        return segment[:, start - segment_start : stop - segment_start].copy()

    def _samples_by_segments(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((len(STANDARD_LEADS), stop - start), dtype=self.dtype)
        for first in range(start, stop, self._segment_length):
            last = min(first + self._segment_length, stop)
            out[:, first - start : last - start] = self._compute(first, last)
        return out

    def _compute(self, start: int, stop: int) -> np.ndarray:
        return self._resampled(start, stop).astype(self.dtype)

    def _resampled(self, start: int, stop: int) -> np.ndarray:
        """Output samples ``start:stop`` in float64, from the input stretch that they depend on."""
        first, last = _input_range(start, stop, self._num_input, self._ratio)
        signal = self._leads.apply(self._read(first, last))
        if self._has_gaps:
            signal = interpolate_gaps(
                signal,
                first,
                before=lambda lead: self._valid_neighbour(lead, first, -1),
                after=lambda lead: self._valid_neighbour(lead, last, 1),
            )
        resampled = resample(signal, self._frequency)
        output_first = first if self._ratio is None else first * self._ratio.numerator // self._ratio.denominator
        return resampled[:, start - output_first : stop - output_first]

    def _valid_neighbour(self, lead: int, position: int, direction: int) -> tuple[int, float] | None:
        """The nearest valid sample of a standard lead before ``position`` (direction -1) or from it on (+1)."""
        chosen = self._leads.sources[lead]
        if chosen is None:
            return None
        row, sign = chosen
        size = 4096  # gaps are mostly short: look near first, then further
        while True:
            if direction < 0:
                start, stop = max(position - size, 0), position
            else:
                start, stop = position, min(position + size, self._num_input)
            if start >= stop:
                return None
            values = self._read(start, stop)[row]
            valid = np.flatnonzero(~np.isnan(values))
            if valid.size:
                index = int(valid[-1] if direction < 0 else valid[0])
                return start + index, sign * values[index]
            position = start if direction < 0 else stop
            size = min(2 * size, _SEGMENT_INPUT_SAMPLES)

    def _check_amplitudes(self, largest_input: float, source: str) -> None:
        """Amplitudes beyond float32 are an error; measured on the resampled signal only where the input's could
        give them (the filter can add to the largest input)."""
        gain = 1.0 if self._ratio is None else _largest_gain(self._ratio.numerator, self._ratio.denominator)
        if largest_input * gain * (1 + 1e-9) <= _FLOAT32_MAX:
            return
        largest = largest_input
        if self._ratio is not None:
            segments = range(0, self.shape[1], self._segment_length)
            largest = max(
                float(np.abs(self._resampled(first, min(first + self._segment_length, self.shape[1]))).max())
                for first in segments
            )
        if not largest <= _FLOAT32_MAX:
            raise RecordError(source, f"amplitudes too large to represent ({largest:.3g} mV)")


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
