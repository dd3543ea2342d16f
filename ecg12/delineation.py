"""The median beat of a 12-lead ECG and its fiducial points, found across leads as a cardiograph finds them.

Steps, on a (12, N) mV signal in the standard lead order:

1. A zero-phase 0.67 Hz high-pass removes baseline wander without distorting the ST segment (the largest cut-off
   the AHA/ACCF/HRS 2007 recommendations allow for a linear-phase filter).
2. Beats (``features.detect_beats``) are aligned to a first median beat by the shift (within 20 ms) that
   best matches its QRS, and compared with it: a beat whose QRS correlates less than 0.8 with it is of another
   kind (ventricular, aberrant or artefact). The median beat is the median of the dominant beats: those of
   the common kind that are not premature (``features.median_beat``), at most :data:`MEDIAN_BEATS` of them
   spread evenly over the recording.
3. Fiducial points on it, global over the independent leads (I, II, V1-V6; the other four limb leads are their
   combinations) that are not flat:

   - QRS onset and offset, as cardiographs take them: the earliest onset and the latest offset over leads. Each
     lead's slope (10 ms smoothing) is compared with its own threshold: 3% of its steepest QRS slope (a normal
     ST segment and the T wave's onset rise more slowly than that, relative to the lead's QRS), and at least
     4 standard deviations of the lead's slope noise (the median beat's deviation from its own 10 ms mean,
     robustly). The QRS lasts while at least two leads are above their thresholds (one lead's noise or
     artefact does not lengthen it, and a terminal wave seen in one lead is seen in its neighbour too); it
     ends where no more than one is above for 20 ms (longer than a notch inside the QRS). Where a steep ST segment
     (left bundle branch block) never lets the slopes that low, the lowest of 5, 10, 15 and 20% of the steepest
     slope that it does reach.
   - T end: the spatial magnitude of the ST-T wave (baseline at QRS onset); the tangent at its steepest descent
     after its peak meets the baseline (the tangent method). The peak is sought up to a QTc of 600 ms and
     100 ms before the next QRS, so that the next P wave is not taken for it; the descent until the magnitude
     is down to a fifth of the peak or at its first trough 20 uV deep (the next P wave rises after it), at the
     latest at the next QRS (at fast rates the T wave ends less than 100 ms before it).
   - P wave: the most prominent peak of the spatial magnitude between the previous beat's T peak and the QRS
     onset (at most 450 ms before it), so that a P wave on the end of the previous T (a long PR, a fast rate)
     is found; its onset and offset where the tangents at its steepest rise and fall meet the levels of the
     troughs on either side. It is present only if the beats agree on it: its deflection from its onset in
     some lead is at least five standard errors of the beats' spread there (robust: interquartile range),
     and at least 20 uV. Fibrillatory waves are not time-locked to the QRS, so their median is flat against
     their spread.

Fiducial points are fractional sample positions on the median beat (:class:`Fiducials`), NaN where not found.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, find_peaks

from ecg12.features import FLAT_LEAD_MV, INDEPENDENT_LEADS, block_means, median_beat, zero_phase
from ecg12.preprocess import TARGET_FREQUENCY

HIGH_PASS_HZ = 0.67
BEFORE_S, AFTER_S = 0.5, 0.7  # the median beat spans 500 ms before the detected QRS to 700 ms after
_WANDER_RATE_HZ = 25.0  # the wander is estimated on block means at this rate
_ALIGN_S = 0.02  # beats are re-aligned within +-20 ms
_MATCH_S = 0.06  # on the +-60 ms around the QRS
SIMILAR_QRS = 0.8  # correlation of a beat's QRS with the first median beat under which it is of another kind
PREMATURE_RR = 0.8  # a beat whose RR is under 80% of the median RR is premature
MEDIAN_BEATS = 64  # the median beat of at most 64 beats has an eighth of one beat's noise (a 10 s ECG has 8-20)

_SLOPE_SMOOTHING_S = 0.01
_WAVE_SMOOTHING_S = 0.02
_QRS_THRESHOLDS = (0.03, 0.05, 0.1, 0.15, 0.2)  # of each lead's steepest QRS slope
_NOISE_MULTIPLE = 4.0  # a lead's QRS threshold is at least 4 standard deviations of its slope noise
_MOVING_LEADS = 2  # the QRS lasts while at least this many leads move
_QUIET_S = 0.02  # below the threshold this long: outside the QRS (a notch inside it is shorter)
_QRS_SEARCH_S = (0.15, 0.2)  # QRS onset at most 150 ms before the detected QRS, offset at most 200 ms after
_LONGEST_QTC_S = 0.6  # the T end is sought up to a QTc of 600 ms
_ST_S = 0.06  # the T peak is sought from 60 ms after the QRS offset
_P_SEARCH_S = 0.45  # P onset at most 450 ms before the QRS onset
_P_GAP_S = 0.01  # the P peak is at least 10 ms before the QRS onset
_P_STANDARD_ERRORS = 5.0
_P_MINIMUM_MV = 0.02
_BASELINE_S = 0.01  # the isoelectric level: the mean of the 10 ms before the QRS onset


@functools.cache
def _wander_filter(frequency: float) -> np.ndarray:
    return butter(2, HIGH_PASS_HZ, btype="lowpass", fs=frequency, output="sos")


def high_passed(signal: np.ndarray, frequency: float) -> np.ndarray:
    """The (12, N) signal, 0.67 Hz high-passed with zero phase, in float64.

    The zero-phase high-pass is the signal less its zero-phase low-pass (the wander), which is computed on 40 ms
    block means (25 Hz, far above the wander) and interpolated linearly between the blocks' centres: a tenth of
    the cost of filtering every sample.
    """
    block = max(round(frequency / _WANDER_RATE_HZ), 1)
    blocks = max(signal.shape[1] // block, 1)
    means = block_means(signal, min(block, signal.shape[1]))
    if blocks > 3 * (2 * len(_wander_filter(frequency / block)) + 1):  # the filter's padding needs this many
        wander = zero_phase(_wander_filter, frequency / block, means)
    else:  # under a second or so: the mean is all the wander there is to see
        wander = np.broadcast_to(means.mean(axis=1, keepdims=True), means.shape)
    wander = np.concatenate([wander, wander[:, -1:]], axis=1)  # a last point for the interpolation
    # Between block centres b and b + 1 (sample b * block + (block - 1) / 2 and the next) the weight of b + 1 rises
    # from 0 to 1; before the first centre and after the last the wander is the nearest centre's.
    head = block // 2
    segments = min((signal.shape[1] - head) // block, blocks)
    rise = (np.arange(block) + head - (block - 1) / 2) / block
    low, high = wander[:, :segments, None], wander[:, 1 : segments + 1, None]
    level = np.empty(signal.shape)
    level[:, :head] = wander[:, :1]
    body = level[:, head : head + segments * block].reshape(signal.shape[0], segments, block)  # a view
    np.multiply(high - low, rise, out=body)
    body += low
    level[:, head + segments * block :] = wander[:, segments : segments + 1]
    return np.subtract(signal, level, out=level)


def flat_leads(signal: np.ndarray) -> np.ndarray:
    """(12,) bool: the leads whose peak-to-peak amplitude is under :data:`FLAT_LEAD_MV`."""
    return np.ptp(signal, axis=1) < FLAT_LEAD_MV


@dataclass(frozen=True)
class Fiducials:
    """Fractional sample positions on the median beat; NaN where a point was not found."""

    p_onset: float
    p_offset: float
    qrs_onset: float
    qrs_offset: float
    t_end: float


@dataclass(frozen=True)
class Delineation:
    """A recording's median beat, its fiducial points and what was learnt about its beats on the way.

    ``template`` (12, L) mV is the median beat with each lead's level at the QRS onset subtracted (when the QRS
    onset was found); sample ``centre`` is the detected QRS. ``positions`` are the aligned positions in the
    signal of the beats that the median beat could span (``measured`` says which of the detected beats they are),
    ``similarity`` their QRS correlation with the first median beat, and ``dominant`` those it was made of (at
    most :data:`MEDIAN_BEATS` of them, spread evenly).
    """

    template: np.ndarray
    centre: int
    frequency: float
    fiducials: Fiducials
    p_present: bool
    flat: np.ndarray
    measured: np.ndarray
    positions: np.ndarray
    similarity: np.ndarray
    dominant: np.ndarray

    def milliseconds(self, start: float, end: float) -> float:
        """The time from fiducial ``start`` to fiducial ``end`` (sample positions), in ms; NaN if either is."""
        return float((end - start) / self.frequency * 1000.0)


def premature_beats(beats: np.ndarray) -> np.ndarray:
    """(len(beats),) bool: beats that come after less than :data:`PREMATURE_RR` of the median RR interval."""
    premature = np.zeros(len(beats), dtype=bool)
    if len(beats) >= 3:
        rr = np.diff(beats)
        premature[1:] = rr < PREMATURE_RR * np.median(rr)
    return premature


def delineate(
    signal: np.ndarray, beats: np.ndarray, premature: np.ndarray, frequency: float = TARGET_FREQUENCY
) -> Delineation | None:
    """The median beat and fiducial points of a (12, N) mV signal with detected ``beats``; None under 2 whole beats.

    ``premature`` (per beat, :func:`premature_beats`) keeps premature beats out of the median beat.
    """
    before, after = round(BEFORE_S * frequency), round(AFTER_S * frequency)
    shift, match = round(_ALIGN_S * frequency), round(_MATCH_S * frequency)
    measured = np.flatnonzero((beats - before - shift >= 0) & (beats + after + shift <= signal.shape[1]))
    if len(measured) < 2:
        return None
    flat = flat_leads(signal)
    leads = INDEPENDENT_LEADS[~flat[INDEPENDENT_LEADS]]
    if len(leads) == 0:
        return None
    span = slice(int(beats[measured[0]]) - before - shift, int(beats[measured[-1]]) + after + shift)
    filtered = high_passed(signal[:, span], frequency)  # only the part the beats span
    located = beats[measured] - span.start

    # Align on the first median QRS: the shift of each beat that best matches it (a matched filter).
    windows = sliding_window_view(filtered, 2 * (match + shift), axis=1)
    around = windows[leads[:, None], located - match - shift]  # (leads, beats, time)
    reference = median_beat(around[:, :, shift:-shift].transpose(0, 2, 1))
    scores = np.einsum("lt,lkst->sk", reference, sliding_window_view(around, 2 * match, axis=2))
    located = located + scores.argmax(axis=0) - shift
    positions = located + span.start

    qrs = filtered[leads[:, None, None], located[None, None, :] + np.arange(-match, match)[:, None]]
    qrs = qrs.reshape(-1, len(positions))
    qrs = qrs - qrs.mean(axis=0)
    model = reference.ravel() - reference.mean()
    norms = np.linalg.norm(qrs, axis=0) * np.linalg.norm(model)
    similarity = np.divide(model @ qrs, norms, out=np.zeros(len(positions)), where=norms > 0)
    dominant = (similarity >= SIMILAR_QRS) & ~premature[measured]
    if dominant.sum() < 2:
        dominant = similarity >= SIMILAR_QRS
    if dominant.sum() < 2:
        dominant = np.ones(len(positions), dtype=bool)
    # At most MEDIAN_BEATS of them, spread evenly over the recording.
    chosen = np.flatnonzero(dominant)
    chosen = chosen[np.linspace(0, len(chosen) - 1, min(len(chosen), MEDIAN_BEATS)).round().astype(np.int64)]
    stack = filtered[:, located[chosen][None, :] + np.arange(-before, after)[:, None]]  # (12, L, chosen beats)
    template = median_beat(stack)

    rr = float(np.median(np.diff(beats))) if len(beats) >= 2 else math.inf
    qrs_onset, qrs_offset = _qrs_bounds(template[leads], before, frequency)
    if math.isnan(qrs_onset):
        fiducials = Fiducials(math.nan, math.nan, math.nan, math.nan, math.nan)
        return Delineation(
            template, before, frequency, fiducials, False, flat, measured, positions, similarity, dominant
        )
    baseline_at = slice(int(qrs_onset) - max(round(_BASELINE_S * frequency), 1), int(qrs_onset))
    template = template - template[:, baseline_at].mean(axis=1, keepdims=True)
    # The independent leads' waves smoothed over 20 ms, and their spatial magnitude (root sum of squares).
    waves = uniform_filter1d(template[leads], max(round(_WAVE_SMOOTHING_S * frequency), 1), axis=1)
    magnitude = np.sqrt(np.square(waves).sum(axis=0))
    t_peak, t_end = _t_wave(magnitude, qrs_onset, qrs_offset, rr, frequency)
    beats_at = (stack, leads, baseline_at)
    p_onset, p_offset, p_present = _p_wave(waves, magnitude, beats_at, qrs_onset, t_peak - rr, frequency)
    fiducials = Fiducials(p_onset, p_offset, qrs_onset, qrs_offset, t_end)
    return Delineation(
        template, before, frequency, fiducials, p_present, flat, measured, positions, similarity, dominant
    )


def _qrs_bounds(template: np.ndarray, centre: int, frequency: float) -> tuple[float, float]:
    """QRS onset and offset (samples) of independent leads' median beat: see the module's docstring."""
    half = round(_SLOPE_SMOOTHING_S / 2 * frequency)
    smoothed = uniform_filter1d(template, 2 * half + 1, axis=1)
    # A lead's noise: the median beat's robust deviation from its own 10 ms mean; the slope of the 10 ms mean (the
    # difference of two means 10 ms apart, one sample apart here) then has sqrt(2) / (2 half + 1) of it.
    noise = 1.4826 * np.median(np.abs(template - smoothed), axis=1) * math.sqrt(2) / (2 * half + 1)
    start = max(centre - round(_QRS_SEARCH_S[0] * frequency), 0)
    stop = min(centre + round(_QRS_SEARCH_S[1] * frequency), template.shape[1] - 1)
    slopes = np.abs(np.diff(smoothed[:, start : stop + 1], axis=1))  # slopes[:, i]: from start + i to start + i + 1
    near = slice(centre - round(_MATCH_S * frequency) - start, centre + round(_MATCH_S * frequency) - start)
    steepest = slopes[:, near].max(axis=1)
    if not steepest.any():
        return math.nan, math.nan
    peak = near.start + int(np.argmax(np.square(slopes[:, near]).sum(axis=0)))
    quiet = max(round(_QUIET_S * frequency), 1)
    moving = min(_MOVING_LEADS, len(template))
    onset = offset = math.nan
    for fraction in _QRS_THRESHOLDS:  # the lowest at which the QRS is seen to start (end): a sloped ST needs more
        ratio = slopes / np.maximum(fraction * steepest, _NOISE_MULTIPLE * noise)[:, None]
        activity = np.partition(ratio, len(ratio) - moving, axis=0)[len(ratio) - moving]  # the moving-th largest
        below = (activity < 1).astype(np.int64)
        # runs[i]: slopes i .. i + quiet - 1 all below the threshold.
        runs = np.convolve(below, np.ones(quiet, dtype=np.int64), mode="valid") == quiet
        before_peak = np.flatnonzero(runs[: peak - quiet + 1])
        after_peak = np.flatnonzero(runs[peak:]) + peak
        if math.isnan(onset) and len(before_peak):
            onset = float(before_peak[-1] + quiet)
        if math.isnan(offset) and len(after_peak):
            offset = float(after_peak[0])
        if not (math.isnan(onset) or math.isnan(offset)):
            break
    if math.isnan(onset) or math.isnan(offset):
        return math.nan, math.nan
    # The smoothing spreads the QRS by half its width on each side.
    return start + onset + half, start + offset - half


def _tangent(magnitude: np.ndarray, start: int, stop: int, falling: bool, level: float = 0.0) -> float:
    """Where the tangent at the steepest rise (or fall) of ``magnitude[start:stop]`` meets ``level``; NaN if flat."""
    if stop - start < 2:
        return math.nan
    slope = np.gradient(magnitude[start:stop])
    steepest = int(np.argmin(slope) if falling else np.argmax(slope))
    if (slope[steepest] >= 0) if falling else (slope[steepest] <= 0):
        return math.nan
    return start + steepest - (magnitude[start + steepest] - level) / slope[steepest]


def _t_wave(
    magnitude: np.ndarray, qrs_onset: float, qrs_offset: float, rr: float, frequency: float
) -> tuple[float, float]:
    """T peak and T end (samples): tangent method on the ST-T wave's spatial ``magnitude``; NaN if none is found."""
    start = int(qrs_offset) + round(_ST_S * frequency)
    # Before the next beat's P wave: at most 100 ms before the next QRS, and a QTc (Bazett) of at most 600 ms.
    longest_qt = _LONGEST_QTC_S * math.sqrt(rr / frequency) * frequency if math.isfinite(rr) else math.inf
    stop = int(min(len(magnitude), qrs_onset + rr - 0.1 * frequency, qrs_onset + longest_qt))
    if stop - start < 3:
        return math.nan, math.nan
    peak = start + int(np.argmax(magnitude[start:stop]))
    # The descent: from the peak until the magnitude is down to a fifth of it, or to its first trough 20 uV deep
    # (the next P wave rises after it), at the latest at the next QRS (at fast rates the T wave ends less than
    # 100 ms before it).
    after = magnitude[peak : int(min(len(magnitude), qrs_onset + rr))]
    low = np.flatnonzero(after < 0.2 * magnitude[peak])
    troughs, _ = find_peaks(-after, prominence=_P_MINIMUM_MV)
    descent_end = peak + min(
        int(low[0]) + 1 if len(low) else len(after), int(troughs[0]) + 1 if len(troughs) else len(after)
    )
    end = _tangent(magnitude, peak, descent_end, falling=True)
    return float(peak), (end if end < peak + len(after) else math.nan)


def _p_wave(
    waves: np.ndarray,
    magnitude: np.ndarray,
    beats_at: tuple[np.ndarray, np.ndarray, slice],
    qrs_onset: float,
    previous_t_peak: float,
    frequency: float,
) -> tuple[float, float, bool]:
    """P onset, offset (samples) and presence; NaN and False when the beats do not agree on a P wave.

    ``waves`` (leads, L) are the independent leads' median beat smoothed over 20 ms, ``magnitude`` their spatial
    magnitude; ``beats_at`` the (12, L, beats) beats the median beat is made of, the independent leads' rows and
    the samples of the baseline.
    """
    start = max(int(qrs_onset) - round(_P_SEARCH_S * frequency), 0)
    if math.isfinite(previous_t_peak):
        start = max(start, int(previous_t_peak) + 1)
    stop = int(qrs_onset) - round(_P_GAP_S * frequency)
    if stop - start < round(0.04 * frequency):
        return math.nan, math.nan, False
    window = magnitude[start : int(qrs_onset) + 1]
    peaks, properties = find_peaks(window[: stop - start], prominence=0.0)
    if not len(peaks):
        return math.nan, math.nan, False
    best = int(np.argmax(properties["prominences"]))
    peak = start + int(peaks[best])
    rise_from = start + int(properties["left_bases"][best])
    fall_to = peak + int(np.argmin(window[peak - start :]))  # the trough before the QRS
    # Do the beats agree? The P wave's deflection from its onset in each lead against the beats' spread there.
    # Each beat's own level at its QRS onset removed, the spread of the beats in the window.
    stack, leads, baseline_at = beats_at
    window_beats = stack[leads, start:stop] - stack[leads, baseline_at].mean(axis=1, keepdims=True)
    ordered = np.sort(window_beats, axis=-1)
    count = ordered.shape[-1]
    quartile_range = ordered[..., (3 * count) // 4] - ordered[..., count // 4]
    spread = np.median(quartile_range, axis=1) / 1.349  # a standard deviation, per lead
    height = np.abs(waves[:, peak] - waves[:, rise_from])
    needed = np.maximum(_P_STANDARD_ERRORS * spread / math.sqrt(count), _P_MINIMUM_MV)
    if not (height >= needed).any():
        return math.nan, math.nan, False
    onset = _tangent(magnitude, rise_from, peak + 1, falling=False, level=float(magnitude[rise_from]))
    offset = _tangent(magnitude, peak, fall_to + 1, falling=True, level=float(magnitude[fall_to]))
    if not (start - 1 <= onset < peak < offset <= qrs_onset):
        return math.nan, math.nan, False
    return onset, offset, True
