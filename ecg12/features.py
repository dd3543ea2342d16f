"""Per-recording features beside the signal: age and sex, and classical ECG measurements.

The paper feeds age and sex to the classifier head next to the convolutional features. Here the
head can also get a few measurements of the whole recording (``ModelConfig.ecg_measurements``):

- rhythm, from RR intervals: heart rate and its regularity. Rhythm diagnoses (sinus rhythm, brady-
  and tachycardia, atrial fibrillation and flutter, sinus arrhythmia, premature beats) are
  statements about RR intervals over the whole recording;
- morphology, from the median beat: QRS duration, electrical axis, QRS amplitudes, the terminal
  QRS deflection in V1, V6 and I (bundle branch blocks), T-wave polarity.

A convolutional network can learn these from the raw signal, but only from far more examples than a
small training set has; measured directly, they let the classifier head learn the diagnoses they
define from a few dozen examples, and they mean the same on recordings from other databases.

All of them are measured on the first :data:`MEASURED_SECONDS` (5 minutes) of a recording, in training and
in classification alike: every recording of the 2020 Challenge data but the 30-minute INCART ones is
shorter, and a day-long Holter recording is then measured at the cost of 5 minutes of it. The network's
windows still cover the whole recording.

Beat detector (``detect_beats``), on block means at about 250 Hz (the QRS band is far below its Nyquist frequency)
of the independent leads (I, II, V1-V6; all twelve if I or II is flat: the other four are their combinations,
and would count one arm electrode's artefact five times): each lead's band-passed (5-25 Hz) derivative, squared
(so that the lead's polarity does not matter) and smoothed over 100 ms, is divided by its typical QRS energy (the
median of its 2 s maxima: every 2 s hold a beat above 30 bpm, so one artefact or a few odd beats do not set it)
and capped at 1, so that a lead's artefact weighs no more than a lead's beat; the leads are summed. Beats are
peaks at least 250 ms apart above 30% of the sum's typical QRS peak; where an RR interval exceeds 1.66 times the
median, the largest peak inside it above half that threshold is a beat too (Pan and Tompkins' search back, for a
beat of smaller amplitude).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import butter, find_peaks, sosfilt, sosfilt_zi

from ecg12.feature_names import MORPHOLOGY_FEATURE_NAMES, RHYTHM_FEATURE_NAMES
from ecg12.preprocess import TARGET_FREQUENCY

MEASURED_SECONDS = 5 * 60  # the measurements describe the first 5 minutes of a recording
MEASURED_SAMPLES = MEASURED_SECONDS * TARGET_FREQUENCY

INDEPENDENT_LEADS = np.array([0, 1, 6, 7, 8, 9, 10, 11])  # I, II, V1-V6: III, aVR, aVL, aVF are combinations
FLAT_LEAD_MV = 0.01  # a lead whose peak-to-peak is under 10 uV is flat (zero-filled, or no electrode)

_QRS_BAND_HZ = (5.0, 25.0)  # where the QRS complex has most of its energy, below T waves' and above noise
_DETECTION_HZ = 250.0  # beats are found on block means at about this rate
_REFRACTORY_S = 0.25
_SMOOTHING_S = 0.1
_LEVEL_WINDOW_S = 2.0  # a lead's typical QRS energy: the median of its maxima over 2 s windows
_THRESHOLD = 0.3  # of the typical QRS peak
_SEARCH_BACK_RR = 1.66  # an RR interval this many times the median is searched for a missed beat (Pan and Tompkins)
_SEARCH_BACK_THRESHOLD = 0.5  # at this share of the threshold


@functools.cache
def _qrs_band(frequency: float) -> np.ndarray:
    """The QRS band-pass filter for signals sampled at ``frequency`` Hz (designed once per rate)."""
    return butter(2, _QRS_BAND_HZ, btype="bandpass", fs=frequency, output="sos")


@functools.cache
def _steady_state(design: Callable[[float], np.ndarray], frequency: float) -> np.ndarray:
    return sosfilt_zi(design(frequency))


def zero_phase(design: Callable[[float], np.ndarray], frequency: float, values: np.ndarray) -> np.ndarray:
    """``scipy.signal.sosfiltfilt(design(frequency), values, axis=1)`` of (rows, n) ``values``, the same numbers.

    sosfiltfilt solves for the filter's steady state at every call, a third of its cost on a 10 s recording; here
    it is solved once per filter design and rate (``design`` is a cached function of the rate).
    """
    sos = design(frequency)
    state = _steady_state(design, frequency)[:, None, :]  # (sections, 1, 2): one row's steady state per unit input
    taps = 2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    edge = 3 * taps
    if values.shape[1] <= edge:
        raise ValueError(f"zero_phase: {values.shape[1]} samples, more than {edge} needed")
    extended = np.concatenate(
        [2 * values[:, :1] - values[:, edge:0:-1], values, 2 * values[:, -1:] - values[:, -2 : -edge - 2 : -1]], axis=1
    )
    forward, _ = sosfilt(sos, extended, axis=1, zi=state * extended[None, :, :1])
    backward, _ = sosfilt(sos, forward[:, ::-1], axis=1, zi=state * forward[None, :, -1:])
    return backward[:, ::-1][:, edge:-edge]


def block_means(signal: np.ndarray, block: int) -> np.ndarray:
    """(rows, N // block) float64: the means of ``signal``'s consecutive ``block``-sample blocks (a remainder dropped).

    A product with a vector of 1 / block: numpy's mean over a short last axis is ten times slower.
    """
    blocks = signal.shape[1] // block
    return signal[:, : blocks * block].reshape(signal.shape[0], blocks, block) @ np.full(block, 1.0 / block)


def _typical_peak(values: np.ndarray, window: int) -> np.ndarray:
    """The median over consecutive ``window``-sample windows of the maximum of ``values`` (..., n) in each."""
    count = values.shape[-1] // window
    if count < 1:
        return values.max(axis=-1)
    maxima = values[..., : count * window].reshape(*values.shape[:-1], count, window).max(axis=-1)
    return np.median(maxima, axis=-1)


def detect_beats(signal: np.ndarray, frequency: float = TARGET_FREQUENCY) -> np.ndarray:
    """Sample indices of the QRS complexes of a (12, N) mV signal sampled at ``frequency`` Hz (module docstring)."""
    if signal.shape[1] < int(frequency):  # under a second: no rhythm to speak of
        return np.zeros(0, dtype=np.int64)
    block = max(round(frequency / _DETECTION_HZ), 1)
    rate = frequency / block
    if len(signal) == len(INDEPENDENT_LEADS) + 4 and (np.ptp(signal[:2], axis=1) >= FLAT_LEAD_MV).all():
        signal = signal[INDEPENDENT_LEADS]
    slopes = np.square(np.diff(zero_phase(_qrs_band, rate, block_means(signal, block)), axis=1))
    energy = uniform_filter1d(slopes, max(int(_SMOOTHING_S * rate), 1), axis=1, mode="constant")
    window = max(int(_LEVEL_WINDOW_S * rate), 1)
    level = _typical_peak(energy, window)
    active = level > 0
    if not active.any():
        return np.zeros(0, dtype=np.int64)
    combined = np.minimum(energy[active] / level[active, None], 1.0).sum(axis=0)
    threshold = _THRESHOLD * float(_typical_peak(combined, window))
    distance = max(int(_REFRACTORY_S * rate), 1)
    peaks, _ = find_peaks(combined, height=threshold, distance=distance)
    peaks = _search_back(combined, peaks, _SEARCH_BACK_THRESHOLD * threshold, distance)
    # To the signal's samples: the peak between its neighbours (a parabola through three), slope i lies between
    # blocks i and i + 1, and block b's centre is sample b * block + (block - 1) / 2.
    inner = peaks[(peaks > 0) & (peaks < len(combined) - 1)]
    before, at, after = combined[inner - 1], combined[inner], combined[inner + 1]
    curvature = before - 2 * at + after
    shift = np.zeros(len(peaks))
    shift[(peaks > 0) & (peaks < len(combined) - 1)] = np.divide(
        0.5 * (before - after), curvature, out=np.zeros(len(inner)), where=curvature < 0
    )
    positions = np.rint((peaks + np.clip(shift, -0.5, 0.5) + 0.5) * block + (block - 1) / 2).astype(np.int64)
    return np.minimum(positions, signal.shape[1] - 1)


def _search_back(energy: np.ndarray, peaks: np.ndarray, height: float, distance: int) -> np.ndarray:
    """``peaks`` and, in each RR interval over :data:`_SEARCH_BACK_RR` times the median, its largest peak above
    ``height`` at least ``distance`` from both ends."""
    if len(peaks) < 3:
        return peaks
    rr = np.diff(peaks)
    long = np.flatnonzero(rr > _SEARCH_BACK_RR * np.median(rr))
    if not len(long):
        return peaks
    candidates, properties = find_peaks(energy, height=height, distance=distance)
    found = []
    for index in long:
        inside = (candidates >= peaks[index] + distance) & (candidates <= peaks[index + 1] - distance)
        if inside.any():
            found.append(candidates[inside][np.argmax(properties["peak_heights"][inside])])
    return np.sort(np.concatenate([peaks, np.array(found, dtype=peaks.dtype)]))


def rhythm_features(beats: np.ndarray, num_samples: int, frequency: float = TARGET_FREQUENCY) -> np.ndarray:
    """The :data:`RHYTHM_FEATURE_NAMES` of a recording's beats, float32, all 0 when under 3 beats are found."""
    features = np.zeros(len(RHYTHM_FEATURE_NAMES), dtype=np.float32)
    seconds = num_samples / frequency
    if seconds > 0:
        features[6] = len(beats) / seconds  # beats per second = beats / 10 s / 10
    if len(beats) < 3:
        return features
    rr = np.diff(beats) / frequency
    median = float(np.median(rr))
    successive = np.abs(np.diff(rr))
    features[:6] = [
        60.0 / median / 100.0,
        rr.std() / rr.mean(),
        np.sqrt(np.mean(successive**2)) / rr.mean(),
        np.mean(successive > 0.05),
        rr.min() / median,
        min(rr.max() / median, 5.0),  # a long pause (or a missed beat) saturates
    ]
    return features


def demographic_features(age: float, sex: str) -> np.ndarray:
    """Age and sex as four numbers: age / 100, age missing, male, female (unknown sex: both 0).

    A missing age becomes 0 plus the "unknown" flag, so the network can tell unknown from newborn.
    """
    known = math.isfinite(age)
    return np.array(
        [min(age, 110.0) / 100.0 if known else 0.0, 0.0 if known else 1.0, sex == "Male", sex == "Female"],
        dtype=np.float32,
    )


def median_beat(beats: np.ndarray) -> np.ndarray:
    """The median over the last axis of (..., beats) samples: what ``np.median(beats, axis=-1)`` gives, bit for bit.

    Partitioned along the last (contiguous) axis at the middle; for an even count the other middle value is the
    largest below it. np.median partitions at both middles at once, five times slower on a 10 s recording
    (about 1 ms of the driver's 5 ms per recording).
    """
    middle = beats.shape[-1] // 2
    ordered = np.partition(beats, middle, axis=-1)
    if beats.shape[-1] % 2:
        return ordered[..., middle]
    return (ordered[..., :middle].max(axis=-1) + ordered[..., middle]) / 2


def morphology_features(signal: np.ndarray, beats: np.ndarray, frequency: float = TARGET_FREQUENCY) -> np.ndarray:
    """The :data:`MORPHOLOGY_FEATURE_NAMES` of a (12, N) mV signal's median beat; all 0 under 2 whole beats.

    The median over beats (aligned on the detector's peaks, from 250 ms before to 450 ms after) is
    robust to the odd premature beat and to noise. Its baseline is the PR segment (120-60 ms before
    the peak). The QRS is where the summed absolute slope of all leads exceeds 20% of its maximum
    around the peak.
    """
    features = np.zeros(len(MORPHOLOGY_FEATURE_NAMES), dtype=np.float32)
    before, after = int(0.25 * frequency), int(0.45 * frequency)
    beats = beats[(beats >= before) & (beats + after <= signal.shape[1])]
    if len(beats) < 2:
        return features
    template = median_beat(signal[:, beats[None, :] + np.arange(-before, after)[:, None]])  # (12, L, beats)
    pr_segment = template[:, before - int(0.12 * frequency) : before - int(0.06 * frequency)]
    template = template - np.median(pr_segment, axis=1, keepdims=True)
    slope = np.convolve(np.abs(np.diff(template, axis=1)).sum(axis=0), np.ones(5) / 5, mode="same")
    search = int(0.12 * frequency)
    peak = before - search + int(np.argmax(slope[before - search : before + search]))
    if slope[peak] <= 0:
        return features
    limit, threshold = int(0.05 * frequency), 0.2 * slope[peak]
    onset = peak
    while onset > before - search - limit and slope[onset] > threshold:
        onset -= 1
    offset = peak
    while offset < before + search + limit and slope[offset] > threshold:
        offset += 1
    qrs = template[:, onset : offset + 1]
    area = qrs.sum(axis=1) / frequency
    axis = math.atan2(area[5], area[0])  # aVF against I
    terminal = template[:, max(offset - int(0.04 * frequency), onset) : offset + 1].mean(axis=1)
    t_wave = template[:, offset + int(0.1 * frequency) : offset + int(0.28 * frequency)].mean(axis=1)
    lateral = t_wave[[0, 1, 10, 11]]
    qrs_size = np.abs(qrs).max(axis=1) + 1e-3
    features[:] = [
        (offset - onset) / frequency * 10,
        math.cos(axis),
        math.sin(axis),
        np.ptp(qrs[:6], axis=1).max(),
        np.ptp(qrs[6:], axis=1).max(),
        terminal[6],
        terminal[11],
        terminal[0],
        lateral.mean(),
        np.mean(lateral < 0),
        np.mean(t_wave[6:] / qrs_size[6:]),
        (peak - onset) / frequency * 10,
    ]
    return features


def measurements(
    signal: np.ndarray, frequency: float = TARGET_FREQUENCY, beats: np.ndarray | None = None
) -> np.ndarray:
    """Rhythm then morphology features (as ecg12.feature_names names them) of a (12, N) mV signal at 500 Hz.

    ``beats``: the signal's :func:`detect_beats`, if already found (``measurements.measure_record`` shares them).
    """
    beats = detect_beats(signal, frequency) if beats is None else beats
    return np.concatenate(
        [rhythm_features(beats, signal.shape[1], frequency), morphology_features(signal, beats, frequency)]
    )


def record_features(signal: np.ndarray, age: float, sex: str, beats: np.ndarray | None = None) -> np.ndarray:
    """Demographics then measurements of a prepared (12, N) mV signal at 500 Hz: (CRITERION_FEATURES_START,), the
    leading part of the record feature vector (ecg12.measurements.measure_record appends the rest).

    The measurements are those of the signal's first :data:`MEASURED_SAMPLES` (5 minutes); the rest, if
    any, is not looked at (it need not even be passed). ``beats``: those of the first 5 minutes, if already found.
    """
    measured = signal[:, :MEASURED_SAMPLES]
    return np.concatenate([demographic_features(age, sex), measurements(measured, TARGET_FREQUENCY, beats)])
