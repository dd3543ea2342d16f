"""Per-recording features beside the signal: age and sex, and heart rate and rhythm regularity.

The paper feeds age and sex to the classifier head next to the convolutional features. Here the
head can also get a few RR-interval features of the whole recording (``ModelConfig.rhythm_features``).

Rhythm diagnoses (sinus rhythm, brady- and tachycardia, atrial fibrillation and flutter, sinus
arrhythmia, premature beats) are statements about RR intervals over the whole recording. A
convolutional network can learn them from the raw signal, but only from far more examples than a
small training set has; the handful of numbers below, computed by a classical detector, give the
network's classifier head the same information directly (beside age and sex).

Detector: the twelve leads' band-passed (5-25 Hz) derivatives, squared and summed (so that the
polarity of each lead does not matter), smoothed over 100 ms; beats are peaks at least 250 ms apart
above 30% of a robust maximum of that energy.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

from ecg12.preprocess import TARGET_FREQUENCY

DEMOGRAPHIC_FEATURE_NAMES: tuple[str, ...] = ("age / 100", "age unknown", "male", "female")
NUM_DEMOGRAPHICS = len(DEMOGRAPHIC_FEATURE_NAMES)
RHYTHM_FEATURE_NAMES: tuple[str, ...] = (
    "heart rate / 100 bpm",
    "RR coefficient of variation",
    "RMSSD / mean RR",
    "share of successive RR differences > 50 ms",
    "shortest RR / median RR",
    "longest RR / median RR",
    "beats detected / 10 s / 10",
)
NUM_RHYTHM_FEATURES = len(RHYTHM_FEATURE_NAMES)
NUM_RECORD_FEATURES = NUM_DEMOGRAPHICS + NUM_RHYTHM_FEATURES

_BAND = butter(2, [5.0, 25.0], btype="bandpass", fs=TARGET_FREQUENCY, output="sos")
_REFRACTORY_S = 0.25
_SMOOTHING_S = 0.1


def detect_beats(signal: np.ndarray, frequency: float = TARGET_FREQUENCY) -> np.ndarray:
    """Sample indices of the QRS complexes of a (12, N) mV signal at 500 Hz."""
    if signal.shape[1] < int(frequency):  # under a second: no rhythm to speak of
        return np.zeros(0, dtype=np.int64)
    filtered = sosfiltfilt(_BAND, signal.astype(np.float64), axis=1)
    energy = np.square(np.diff(filtered, axis=1)).sum(axis=0)
    width = max(int(_SMOOTHING_S * frequency), 1)
    energy = np.convolve(energy, np.ones(width) / width, mode="same")
    # A robust maximum: big artefacts (electrode pops) must not hide every normal beat.
    level = np.percentile(energy, 99.5)
    if level <= 0:
        return np.zeros(0, dtype=np.int64)
    peaks, _ = find_peaks(energy, height=0.3 * level, distance=int(_REFRACTORY_S * frequency))
    return peaks


def rhythm_features(signal: np.ndarray, frequency: float = TARGET_FREQUENCY) -> np.ndarray:
    """The :data:`RHYTHM_FEATURE_NAMES` of a (12, N) mV signal, float32, all 0 when under 3 beats are found."""
    beats = detect_beats(signal, frequency)
    features = np.zeros(NUM_RHYTHM_FEATURES, dtype=np.float32)
    seconds = signal.shape[1] / frequency
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


def record_features(signal: np.ndarray, age: float, sex: str) -> np.ndarray:
    """Demographic then rhythm features of a prepared (12, N) mV signal at 500 Hz: (NUM_RECORD_FEATURES,)."""
    return np.concatenate([demographic_features(age, sex), rhythm_features(signal)])
