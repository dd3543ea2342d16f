"""Synthetic Challenge-format records for tests, benchmarks and the GPU check (gpu_check.py).

Three layers, all deterministic from a seed and needing only numpy and scipy.io:

* :func:`write_record` writes one recording the way the Challenge ships them: ``NAME.hea`` (record
  line, one ``NAME.mat 16+24 GAIN/mV ...`` line per lead, ``#Age/#Sex/#Dx/#Rx/#Hx/#Sx``) and
  ``NAME.mat`` (MATLAB v4, ``val`` = int16 ADC counts, leads x samples).
* :func:`synthesize_ecg` draws a plausible 12-lead ECG in mV: P, QRS and T waves are Gaussian
  bumps of a cardiac dipole projected onto the twelve lead axes (so the limb leads obey
  Einthoven's law exactly before noise), plus fibrillatory waves, baseline wander and noise.
* :func:`make_learnable_dataset` writes records whose labels (sinus rhythm, sinus bradycardia,
  sinus tachycardia, atrial fibrillation, right bundle branch block) follow from the signal, and
  :func:`make_messy_folder` writes good recordings next to every kind of broken input a real
  folder can hold, for the robustness test of the classifier driver.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

from ecg12.preprocess import STANDARD_LEADS

LIMB_LEADS: tuple[str, ...] = STANDARD_LEADS[:6]

# Scored SNOMED CT codes of the classes the learnable dataset uses.
SINUS_RHYTHM = "426783006"
SINUS_BRADYCARDIA = "426177001"
SINUS_TACHYCARDIA = "427084000"
ATRIAL_FIBRILLATION = "164889003"
RBBB = "59118001"
RHYTHM_CODES: tuple[str, ...] = (SINUS_RHYTHM, SINUS_BRADYCARDIA, SINUS_TACHYCARDIA, ATRIAL_FIBRILLATION)
# Real SNOMED CT codes that the 2020 Challenge does not score (myocardial ischemia, ST depression, ST changes).
UNSCORED_CODES: tuple[str, ...] = ("164861001", "429622005", "55930002")

# Heart-rate ranges (bpm) drawn for each rhythm class, inside the clinical definitions with a margin:
# sinus rhythm 60-100, bradycardia < 60 (here < 55), tachycardia > 100 (here > 105).
HEART_RATES: dict[str, tuple[float, float]] = {
    SINUS_RHYTHM: (62.0, 98.0),
    SINUS_BRADYCARDIA: (40.0, 52.0),
    SINUS_TACHYCARDIA: (110.0, 150.0),
    ATRIAL_FIBRILLATION: (70.0, 130.0),
}
NORMAL_QRS_S = (0.08, 0.10)  # QRS duration (s) of records without RBBB
RBBB_QRS_S = (0.13, 0.16)  # QRS duration (s) of RBBB records (complete RBBB: >= 120 ms)

_INT16 = np.iinfo(np.int16)

# Lead axes as unit vectors in (left, inferior, anterior) body coordinates. Limb leads follow the
# hexaxial reference (I at 0 degrees, II at 60 degrees); the augmented leads and III are Einthoven
# combinations of I and II, so the projected limb leads satisfy III = II - I exactly.
_LEAD_I = np.array([1.0, 0.0, 0.0])
_LEAD_II = np.array([math.cos(math.pi / 3), math.sin(math.pi / 3), 0.0])
_PRECORDIAL_ANGLES_DEG = (115.0, 95.0, 75.0, 60.0, 30.0, 0.0)  # V1..V6 in the transverse plane, from the left
_PRECORDIAL_GAIN = 1.4  # chest electrodes sit closer to the heart
_LEAD_MATRIX = np.stack(
    [
        _LEAD_I,
        _LEAD_II,
        _LEAD_II - _LEAD_I,  # III
        -(_LEAD_I + _LEAD_II) / 2,  # aVR
        _LEAD_I - _LEAD_II / 2,  # aVL
        _LEAD_II - _LEAD_I / 2,  # aVF
        *(
            _PRECORDIAL_GAIN * np.array([math.cos(math.radians(a)), 0.0, math.sin(math.radians(a))])
            for a in _PRECORDIAL_ANGLES_DEG
        ),
    ]
)

# Mean dipoles (mV) of the waves of a normal beat, in the same coordinates.
_P_DIPOLE = np.array([0.08, 0.13, 0.03])
_SEPTAL_DIPOLE = np.array([-0.12, 0.02, 0.12])  # septal q in I/V6, r in V1
_R_DIPOLE = np.array([1.0, 1.0, -0.3])
_S_DIPOLE = np.array([-0.3, -0.2, -0.3])
_T_DIPOLE = np.array([0.2, 0.2, 0.25])
_R_PRIME_DIPOLE = np.array([-0.5, 0.0, 0.9])  # RBBB: late rightward-anterior activation (R' in V1, wide S in I/V6)
_RBBB_T_SHIFT = np.array([0.1, 0.0, -0.35])  # RBBB: secondary T inversion in V1-V3
_F_WAVE_DIPOLE = np.array([0.2, 0.5, 0.8])  # atrial fibrillation waves, largest in V1 and the inferior leads

# Fixed bytes for the "binary garbage" header of the messy folder (fixed so that no seed can make it parse).
_GARBAGE = b"\x00\x89HDF\r\n\x1a\n\xff\xfe\x00\x01garbage\xc3\x28\x80 \x00 \xfe\n" * 8


def synthesize_ecg(
    rng: np.random.Generator,
    frequency: float,
    seconds: float,
    heart_rate: float,
    rr_irregularity: float = 0.03,
    qrs_width_s: float = 0.09,
    *,
    p_waves: bool = True,
    rsr_prime: bool = False,
    fibrillation_mv: float = 0.0,
    noise_mv: float = 0.015,
    wander_mv: float = 0.1,
    amplitude: float = 1.0,
) -> np.ndarray:
    """A synthetic 12-lead ECG in mV, shape (12, round(seconds * frequency)), standard lead order.

    Beats occur at RR intervals of mean ``60 / heart_rate`` s with a coefficient of variation of
    ``rr_irregularity`` (about 0.03 for sinus rhythm, 0.2-0.35 for atrial fibrillation). Each beat
    has a P wave (unless ``p_waves`` is false), a QRS complex lasting about ``qrs_width_s`` (septal
    q, R, S; with ``rsr_prime`` a late R' as in right bundle branch block) and a T wave whose
    delay follows the preceding RR (Bazett). ``fibrillation_mv`` adds 4-9 Hz atrial fibrillatory
    waves of that amplitude; baseline wander (below 0.5 Hz) and white noise are per lead.
    The per-record wave dipoles, PR interval and amplitudes vary at random around typical values.
    """
    if frequency <= 0 or seconds <= 0 or heart_rate <= 0:
        raise ValueError("frequency, seconds and heart_rate must be positive")
    num_samples = max(1, round(seconds * frequency))
    time = np.arange(num_samples) / frequency

    # Beat times: start before 0 so the first samples already hold part of a beat.
    mean_rr = 60.0 / heart_rate
    count = int((seconds + 2.0) / (mean_rr * 0.5)) + 2
    rr = mean_rr * np.clip(1.0 + rr_irregularity * rng.standard_normal(count), 0.5, 1.8)
    rr = np.maximum(rr, 0.25)
    beats = np.cumsum(rr) - rng.uniform(0.5, 1.0) * rr[0] - 1.0
    preceding_rr = rr  # the interval that ends at each beat
    keep = (beats > -1.0) & (beats < seconds + 1.0)
    beats, preceding_rr = beats[keep], preceding_rr[keep]

    def jitter(vector: np.ndarray, spread: float = 0.15) -> np.ndarray:
        return vector * (1.0 + spread * rng.standard_normal(3)) + 0.03 * rng.standard_normal(3)

    scale = amplitude * rng.uniform(0.8, 1.2)
    pr_interval = rng.uniform(0.14, 0.19)
    w = qrs_width_s
    # (dipole, delay after the R peak in s per beat, width sigma in s)
    waves: list[tuple[np.ndarray, np.ndarray, float]] = [
        (jitter(_SEPTAL_DIPOLE), np.full(len(beats), -0.3 * w), 0.07 * w),
        (jitter(_R_DIPOLE, 0.1), np.zeros(len(beats)), 0.12 * w),
        (jitter(_S_DIPOLE), np.full(len(beats), 0.3 * w if not rsr_prime else 0.2 * w), 0.08 * w),
    ]
    t_dipole = jitter(_T_DIPOLE) + (_RBBB_T_SHIFT if rsr_prime else 0.0)
    waves.append((t_dipole, w / 2 + 0.25 * np.sqrt(preceding_rr), 0.045 * math.sqrt(mean_rr) + 0.01))
    if p_waves:
        waves.append((jitter(_P_DIPOLE), np.full(len(beats), -pr_interval), 0.022))
    if rsr_prime:
        waves.append((jitter(_R_PRIME_DIPOLE, 0.1), np.full(len(beats), 0.42 * w), 0.11 * w))

    dipole = np.zeros((3, num_samples))
    for vector, delay, sigma in waves:
        heights = 1.0 + 0.05 * rng.standard_normal(len(beats))
        dipole += scale * vector[:, None] * _gaussian_train(beats + delay, heights, sigma, frequency, num_samples)
    if fibrillation_mv > 0:
        dipole += _F_WAVE_DIPOLE[:, None] / np.linalg.norm(_F_WAVE_DIPOLE) * _fibrillation(rng, time, fibrillation_mv)

    signal = _LEAD_MATRIX @ dipole
    signal += _wander(rng, time, wander_mv)
    signal += noise_mv * rng.standard_normal(signal.shape)
    return signal


def _gaussian_train(
    centres_s: np.ndarray, heights: np.ndarray, sigma_s: float, frequency: float, num_samples: int
) -> np.ndarray:
    """Sum of Gaussian bumps (peak ``heights``) at ``centres_s``: impulses convolved with one kernel."""
    positions = centres_s * frequency
    base = np.floor(positions).astype(np.int64)
    fraction = positions - base
    half = max(1, math.ceil(5 * sigma_s * frequency))
    impulses = np.zeros(num_samples + 2 * half + 2)
    # Linear interpolation of each impulse between its two neighbouring samples keeps sub-sample timing.
    for offset, weight in ((0, 1.0 - fraction), (1, fraction)):
        index = base + offset + half
        inside = (index >= 0) & (index < len(impulses))
        np.add.at(impulses, index[inside], (heights * weight)[inside])
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / (sigma_s * frequency)) ** 2)
    return np.convolve(impulses, kernel, mode="same")[half : half + num_samples]


def _fibrillation(rng: np.random.Generator, time: np.ndarray, amplitude_mv: float) -> np.ndarray:
    """Atrial fibrillatory waves: a few 4-9 Hz oscillations with slowly drifting amplitude."""
    waves = np.zeros_like(time)
    for _ in range(3):
        rate = rng.uniform(4.0, 9.0)
        drift = 1.0 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * time + rng.uniform(0, 2 * np.pi))
        waves += drift * np.sin(2 * np.pi * rate * time + rng.uniform(0, 2 * np.pi))
    return amplitude_mv * waves / 3.0


def _wander(rng: np.random.Generator, time: np.ndarray, amplitude_mv: float) -> np.ndarray:
    """Per-lead baseline wander: three sinusoids below 0.5 Hz (respiration, movement).

    Computed on a 20 Hz grid and interpolated: a 30-minute recording then costs little.
    """
    grid = np.arange(0.0, time[-1] + 0.1, 0.05)
    wander = np.zeros((len(STANDARD_LEADS), len(grid)))
    for _ in range(3):
        rates = rng.uniform(0.05, 0.5, (len(STANDARD_LEADS), 1))
        phases = rng.uniform(0, 2 * np.pi, (len(STANDARD_LEADS), 1))
        weights = rng.uniform(0.2, 1.0, (len(STANDARD_LEADS), 1))
        wander += weights * np.sin(2 * np.pi * rates * grid + phases)
    return amplitude_mv / 1.5 * np.stack([np.interp(time, grid, row) for row in wander])


# --- beats with intervals and axes set by construction -------------------------------------------------------------


@dataclass(frozen=True)
class KnownBeat:
    """The intervals (s) and frontal axes (degrees, positive towards aVF) of :func:`synthesize_known_ecg`'s beats.

    Every wave has a definite start and end, so that its fiducial points are known exactly: the P wave and the
    QRS lobes are half sines (they leave the baseline with a slope, as real P and QRS onsets do), the T wave
    rises as a squared sine over its first two thirds and falls as a quarter cosine, ending with its steepest
    slope, so that the tangent at its end meets the baseline at the end. The QRS is a septal q, an R along
    ``qrs_axis_deg`` and an S (with ``rbbb``, a late rightward-anterior R' after a shorter S: rSR' in V1,
    wide S in I and V6); the ST segment lasts 40% of the time from QRS offset to T end.

    ``slurred``: the last QRS lobe (S, or R' with ``rbbb``) peaks in its first quarter and returns to the
    baseline in a straight line over the rest, as a slurred terminal deflection does: at the QRS offset it is
    several times slower than the R. ``lbbb``: left bundle branch block: no septal q (the septum is activated
    from the left), a broad notched R along ``qrs_axis_deg`` and posterior (QS in V1), and a discordant T that
    begins in the last quarter of the QRS, so that the ST segment leaves the J point displaced and steep.
    ``smooth``: the QRS lobes are raised cosines, which leave and rejoin the baseline with no slope, as
    band-limited waves do (their first and last tenth are under a tenth of their height). ``r_mv``: the R
    wave's dipole (a tall R beside a slow terminal wave). ``atrial_repolarisation``: a Ta wave, opposite to the
    P wave and a third of it, from the P offset to 100 ms after the QRS onset: it depresses the PR segment below
    the TP segment.
    """

    heart_rate: float = 70.0
    pr_s: float = 0.16  # P onset to QRS onset
    p_duration_s: float = 0.10
    qrs_s: float = 0.09
    qt_s: float = 0.38  # QRS onset to T end
    p_axis_deg: float = 55.0
    qrs_axis_deg: float = 45.0
    t_axis_deg: float = 40.0
    p_waves: bool = True
    rbbb: bool = False
    slurred: bool = False
    lbbb: bool = False
    smooth: bool = False
    r_mv: float = 1.2
    atrial_repolarisation: bool = False


@dataclass(frozen=True)
class KnownTruth:
    """What a :func:`synthesize_known_ecg` recording measures by construction."""

    heart_rate: float  # bpm, 60 / the mean RR interval of the beats inside the recording
    pr_ms: float
    qrs_ms: float
    qt_ms: float
    p_axis_deg: float  # frontal direction of the P wave's area
    qrs_axis_deg: float  # frontal direction of the QRS complex's net area (q, R, S and R' together)
    t_axis_deg: float
    premature_beats: int


def _frontal_dipole(axis_deg: float, size: float, anterior: float) -> np.ndarray:
    """A dipole (left, inferior, anterior) of frontal ``size`` mV pointing ``axis_deg`` (0 = left, 90 = inferior)."""
    angle = math.radians(axis_deg)
    return np.array([size * math.cos(angle), size * math.sin(angle), anterior])


def _lobe(time: np.ndarray, start: float, end: float, shape: str = "sine") -> np.ndarray:
    """A unit wave between ``start`` and ``end`` (s), 0 outside: a half sine, a slurred lobe, or a T wave."""
    u = np.clip((time - start) / (end - start), 0.0, 1.0)
    inside = (time >= start) & (time <= end)
    if shape == "sine":
        return np.where(inside, np.sin(np.pi * u), 0.0)
    if shape == "raised":
        return np.where(inside, np.sin(np.pi * u) ** 2, 0.0)
    if shape == "slur":  # a quarter sine up to the peak at a quarter, then a straight line down to 0 at the end
        return np.where(inside, np.where(u < 0.25, np.sin(2 * np.pi * u), (1 - u) / 0.75), 0.0)
    rise = np.sin(np.pi / 2 * u / (2 / 3)) ** 2
    fall = np.cos(np.pi / 2 * (u - 2 / 3) / (1 / 3))
    return np.where(inside, np.where(u < 2 / 3, rise, fall), 0.0)


def _frontal_angle(vector: np.ndarray) -> float:
    return math.degrees(math.atan2(vector[1], vector[0]))


def synthesize_known_ecg(
    rng: np.random.Generator,
    beat: KnownBeat,
    frequency: float = 500,
    seconds: float = 10,
    *,
    rr_irregularity: float = 0.0,
    premature_every: int = 0,
    noise_mv: float = 0.01,
    wander_mv: float = 0.05,
    fibrillation_mv: float = 0.0,
) -> tuple[np.ndarray, KnownTruth]:
    """A 12-lead ECG in mV, (12, round(seconds * frequency)), of beats shaped as ``beat`` says, and its truth.

    Beats come every ``60 / heart_rate`` s (a coefficient of variation ``rr_irregularity`` around that). With
    ``premature_every`` k, every k-th beat is a premature ventricular beat instead, at 60% of the RR interval with a
    compensatory pause: a wide (160 ms) QRS, large and of another direction, no P wave, a discordant T. The leads are
    projections of the heart's dipole (:data:`_LEAD_MATRIX`, so Einthoven's and Goldberger's laws hold exactly),
    plus baseline wander and white noise; ``fibrillation_mv`` adds atrial fibrillatory waves.
    """
    num_samples = max(1, round(seconds * frequency))
    mean_rr = 60.0 / beat.heart_rate
    rr = mean_rr * np.clip(1.0 + rr_irregularity * rng.standard_normal(int(seconds / mean_rr) + 4), 0.5, 1.8)
    onsets = 0.6 + np.cumsum(np.r_[0.0, rr])  # QRS onsets (s); the first beat whole inside the recording
    premature = np.zeros(len(onsets), dtype=bool)
    if premature_every:
        premature[premature_every - 1 :: premature_every] = True
        # Early by 40% of an RR interval; the next normal beat comes when it would have (a compensatory pause).
        onsets = np.where(premature, onsets - 0.4 * np.r_[mean_rr, rr][: len(onsets)], onsets)
    keep = onsets + beat.qt_s < seconds
    onsets, premature = onsets[keep], premature[keep]

    scale = rng.uniform(0.8, 1.2)
    q, s = beat.qrs_s, (0.4 if beat.rbbb else 0.6)
    lobe = "raised" if beat.smooth else "sine"
    last = "slur" if beat.slurred else lobe
    if beat.lbbb:  # (dipole, start, end, shape) relative to the QRS onset
        qrs = [
            (np.array([0.15, 0.0, -0.1]), 0.0, 0.2 * q, lobe),
            (_frontal_dipole(beat.qrs_axis_deg, 0.9, -0.8), 0.1 * q, 0.6 * q, lobe),
            (_frontal_dipole(beat.qrs_axis_deg, 0.8, -0.7), 0.45 * q, q, last),
        ]
        t_start, t_dipole = 0.75 * q, _frontal_dipole(beat.t_axis_deg, 0.4, 0.45)
    else:
        qrs = [
            (np.array([-0.1, 0.03, 0.12]), 0.0, 0.15 * q, lobe),
            (_frontal_dipole(beat.qrs_axis_deg, beat.r_mv, -0.3), 0.15 * q, s * q, lobe),
            (np.array([-0.25, -0.15, -0.3]), s * q, (0.65 if beat.rbbb else 1.0) * q, lobe if beat.rbbb else last),
        ]
        if beat.rbbb:
            qrs.append((np.array([-0.45, 0.0, 0.8]), 0.65 * q, q, last))
        t_start, t_dipole = q + 0.4 * (beat.qt_s - q), _frontal_dipole(beat.t_axis_deg, 0.3, 0.25)
    p_dipole = _frontal_dipole(beat.p_axis_deg, 0.15, 0.03)
    atrial = [(p_dipole, -beat.pr_s, beat.p_duration_s - beat.pr_s, "sine")] if beat.p_waves else []
    if beat.p_waves and beat.atrial_repolarisation:
        atrial.append((-p_dipole / 3, beat.p_duration_s - beat.pr_s, 0.1, "sine"))
    normal = [*atrial, *qrs, (t_dipole, t_start, beat.qt_s, "t")]
    ectopic = [
        (np.array([-1.2, -1.2, 0.8]), 0.0, 0.09, "sine"),
        (np.array([0.5, 0.3, -0.4]), 0.09, 0.16, "sine"),
        (np.array([0.3, 0.3, -0.25]), 0.16 + 0.1, 0.16 + 0.32, "t"),
    ]

    time = np.arange(num_samples) / frequency
    dipole = np.zeros((3, num_samples))
    for onset, is_premature in zip(onsets, premature, strict=True):
        for vector, start, end, shape in ectopic if is_premature else normal:
            span = slice(max(math.floor((onset + start) * frequency), 0), math.ceil((onset + end) * frequency) + 1)
            dipole[:, span] += scale * vector[:, None] * _lobe(time[span], onset + start, onset + end, shape)
    if fibrillation_mv > 0:
        dipole += _F_WAVE_DIPOLE[:, None] / np.linalg.norm(_F_WAVE_DIPOLE) * _fibrillation(rng, time, fibrillation_mv)
    signal = _LEAD_MATRIX @ dipole + _wander(rng, time, wander_mv) + noise_mv * rng.standard_normal((12, num_samples))

    # The QRS net area: every wave's dipole integrated from QRS onset to offset (in LBBB the T wave begins inside).
    grid = np.linspace(0.0, q, 2001)
    qrs_area = sum(
        vector * np.trapezoid(_lobe(grid, start, end, shape), grid)
        for vector, start, end, shape in normal
        if 0 <= start < q
    )
    truth = KnownTruth(
        heart_rate=60.0 / float(np.mean(np.diff(onsets))),
        pr_ms=1000 * beat.pr_s if beat.p_waves else math.nan,
        qrs_ms=1000 * beat.qrs_s,
        qt_ms=1000 * beat.qt_s,
        p_axis_deg=beat.p_axis_deg if beat.p_waves else math.nan,
        qrs_axis_deg=_frontal_angle(qrs_area),
        t_axis_deg=beat.t_axis_deg,
        premature_beats=int(premature.sum()),
    )
    return signal, truth


# --- writing records -----------------------------------------------------------------------------------------------


def to_counts(signal_mv: np.ndarray, gain: float = 1000.0, baseline: int = 0) -> np.ndarray:
    """ADC counts of a mV signal as int16: ``round(mV * gain) + baseline``, clipped to the int16 range."""
    counts = np.rint(np.asarray(signal_mv, dtype=np.float64) * gain) + baseline
    return np.clip(counts, _INT16.min, _INT16.max).astype(np.int16)


def header_text(
    name: str,
    counts: np.ndarray,
    frequency: float,
    lead_names: Sequence[str] = STANDARD_LEADS,
    age: float | None = math.nan,
    sex: str = "Unknown",
    codes: Sequence[str] = (),
    gain: float = 1000.0,
    baseline: int = 0,
) -> str:
    """The Challenge header of int16 ``counts`` (leads x samples); see :func:`write_record`."""
    if counts.ndim != 2 or counts.shape[0] != len(lead_names):
        raise ValueError(f"counts of shape {counts.shape} do not match {len(lead_names)} lead names")
    # WFDB fields are separated by spaces: a name with spaces is written with underscores inside the header.
    token = "_".join(name.split())
    gain_field = f"{gain:.10g}" + (f"({baseline})" if baseline else "") + "/mV"
    lines = [f"{token} {len(lead_names)} {_number(frequency)} {counts.shape[1]}"]
    for row, lead in zip(counts, lead_names, strict=True):
        first = int(row[0]) if row.size else 0
        lines.append(f"{token}.mat 16+24 {gain_field} 16 0 {first} {_checksum(row)} 0 {lead}")
    age_text = "NaN" if age is None or not math.isfinite(age) else _number(age)
    lines += [f"#Age: {age_text}", f"#Sex: {sex}", f"#Dx: {','.join(codes)}", "#Rx: Unknown", "#Hx: Unknown"]
    lines.append("#Sx: Unknown")
    return "\n".join(lines) + "\n"


def write_record(
    folder: str | os.PathLike[str],
    name: str,
    signal_mv: np.ndarray,
    frequency: float,
    lead_names: Sequence[str] = STANDARD_LEADS,
    age: float | None = math.nan,
    sex: str = "Unknown",
    codes: Sequence[str] = (),
    gain: float = 1000.0,
    baseline: int = 0,
) -> Path:
    """Write ``NAME.hea`` and ``NAME.mat`` into ``folder`` (created if needed); returns the ``.hea`` path.

    ``signal_mv`` (leads x samples, mV) is stored as int16 counts ``round(mV * gain) + baseline``,
    clipped to the int16 range, in a MATLAB v4 ``val`` like the real files, so reading it back gives
    the signal to within ``0.5 / gain`` mV where it was not clipped. The header follows the
    Challenge layout: ``NAME NLEADS FS NSAMPLES``, one ``NAME.mat 16+24 GAIN/mV 16 0 FIRST CHECKSUM
    0 LEAD`` line per lead (``GAIN(BASELINE)/mV`` when ``baseline`` is not 0), then ``#Age``
    (``NaN`` when unknown), ``#Sex``, ``#Dx`` (comma-separated codes) and ``#Rx/#Hx/#Sx: Unknown``.
    A ``name`` with spaces names the files; inside the header its spaces become underscores.
    """
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    signal = np.atleast_2d(np.asarray(signal_mv, dtype=np.float64))
    counts = to_counts(signal, gain, baseline)
    text = header_text(name, counts, frequency, lead_names, age, sex, codes, gain, baseline)
    scipy.io.savemat(directory / f"{name}.mat", {"val": counts}, format="4")
    header_path = directory / f"{name}.hea"
    header_path.write_text(text, encoding="utf-8")
    return header_path


def write_compressed_zeros_mat(path: str | os.PathLike[str], leads: int, samples: int) -> Path:
    """Write a MAT v5 file whose one variable, a compressed ``val`` of ``leads`` x ``samples`` int16 zeros, is
    compressed as it is written (never in memory): 12 x 30,000,000 (720 MB of samples) is a 700 KB file."""
    data_bytes = leads * samples * 2
    padding = -data_bytes % 8
    array_head = (
        struct.pack("<IIII", 6, 8, 10, 0)  # array flags (miUINT32): class int16, real
        + struct.pack("<IIii", 5, 8, leads, samples)  # dimensions (miINT32)
        + struct.pack("<HH", 1, 3)  # the name (miINT8) as a small data element: "val"
        + b"val\0"
        + struct.pack("<II", 3, data_bytes)  # the real part (miINT16)
    )
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(struct.pack("<II", 14, len(array_head) + data_bytes + padding) + array_head)]
    block = bytes(1 << 22)
    for start in range(0, data_bytes + padding, len(block)):
        parts.append(compressor.compress(block[: min(len(block), data_bytes + padding - start)]))
    parts.append(compressor.flush())
    compressed = b"".join(parts)
    text = b"MATLAB 5.0 MAT-file, written by ecg12/synthetic.py".ljust(116, b" ")
    destination = Path(path)
    destination.write_bytes(text + bytes(8) + b"\x00\x01IM" + struct.pack("<II", 15, len(compressed)) + compressed)
    return destination


def _checksum(row: np.ndarray) -> int:
    """WFDB checksum: the sum of the samples as a signed 16-bit integer."""
    total = int(np.sum(row, dtype=np.int64))
    return (total + 32768) % 65536 - 32768


def _number(value: float) -> str:
    """``500`` rather than ``500.0``; other values as short as exact."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# --- learnable dataset ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordSpec:
    """What a synthetic record is made of (the learnable dataset's ground truth)."""

    rhythm: str  # one of RHYTHM_CODES
    rbbb: bool
    heart_rate: float
    age: float
    sex: str

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.rhythm, RBBB) if self.rbbb else (self.rhythm,)


def draw_spec(rng: np.random.Generator, rhythm: str, rbbb: bool) -> RecordSpec:
    """Heart rate, age and sex for a record of the given classes (a few unknown ages and sexes)."""
    low, high = HEART_RATES[rhythm]
    age = math.nan if rng.random() < 0.05 else float(rng.integers(18, 95))
    sex = "Unknown" if rng.random() < 0.05 else str(rng.choice(["Male", "Female"]))
    return RecordSpec(rhythm, rbbb, float(rng.uniform(low, high)), age, sex)


def synthesize_spec(rng: np.random.Generator, spec: RecordSpec, frequency: float, seconds: float) -> np.ndarray:
    """The ECG (mV, 12 x samples) of a :class:`RecordSpec`."""
    af = spec.rhythm == ATRIAL_FIBRILLATION
    return synthesize_ecg(
        rng,
        frequency,
        seconds,
        spec.heart_rate,
        rr_irregularity=float(rng.uniform(0.2, 0.35)) if af else float(rng.uniform(0.01, 0.04)),
        qrs_width_s=float(rng.uniform(*(RBBB_QRS_S if spec.rbbb else NORMAL_QRS_S))),
        p_waves=not af,
        rsr_prime=spec.rbbb,
        fibrillation_mv=float(rng.uniform(0.03, 0.08)) if af else 0.0,
        noise_mv=float(rng.uniform(0.005, 0.03)),
        wander_mv=float(rng.uniform(0.02, 0.2)),
    )


def make_learnable_dataset(
    folder: str | os.PathLike[str],
    n_records: int,
    seed: int,
    frequency: float = 500,
    seconds: float = 10,
    *,
    prefix: str = "SYN",
) -> list[tuple[str, tuple[str, ...]]]:
    """Write ``n_records`` records whose labels follow from their signals; returns (name, codes) in name order.

    Rhythm classes are exclusive and take turns (each about a quarter of the records): sinus
    rhythm 426783006 (62-98 bpm, regular), sinus bradycardia 426177001 (40-52 bpm), sinus
    tachycardia 427084000 (110-150 bpm) and atrial fibrillation 164889003 (irregular RR, no P waves,
    fibrillatory waves). A quarter of each rhythm class also has right bundle branch block 59118001
    (QRS 130-160 ms, rSR' in V1, wide S in I and V6). Names are ``PREFIX00001`` and up; the same
    ``seed`` and ``n_records`` write the same files.
    """
    order = np.random.default_rng([seed, 0]).permutation(n_records)
    records = []
    for index in range(n_records):
        slot = int(order[index])
        rhythm, rbbb = RHYTHM_CODES[slot % 4], (slot // 4) % 4 == 1
        rng = np.random.default_rng([seed, 1, index])
        spec = draw_spec(rng, rhythm, rbbb)
        name = f"{prefix}{index + 1:05d}"
        signal = synthesize_spec(rng, spec, frequency, seconds)
        write_record(folder, name, signal, frequency, STANDARD_LEADS, spec.age, spec.sex, spec.codes)
        records.append((name, spec.codes))
    return records


# --- a folder of good and broken inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MessyFolder:
    """What :func:`make_messy_folder` wrote; names are file stems (``NAME.mat`` / ``NAME.hea``).

    ``good``: recordings a driver must classify normally, with what is unusual about each.
    ``bad``: ``.mat`` files a driver iterating over the folder's ``.mat`` files must report as
    failed (loading raises ``RecordError``), with the reason. One of them (``bad_no_header``) has
    no header, so ``find_challenge_files`` does not list it; a driver that starts from
    ``find_challenge_files`` never sees it.
    ``not_listed``: ``.hea`` files without a signal file; ``find_challenge_files`` skips them and a
    driver iterating over ``.mat`` files never sees them. The product (``ecg12.recordings.list_recordings``)
    lists every header and every signal file, so it reports these, and ``bad_no_header``, as unreadable.
    """

    folder: Path
    good: dict[str, str] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)
    not_listed: dict[str, str] = field(default_factory=dict)

    @property
    def recordings(self) -> list[str]:
        """Every name that has a ``.mat`` file (good and bad), sorted."""
        return sorted([*self.good, *self.bad])


def make_messy_folder(folder: str | os.PathLike[str], seed: int, *, include_long: bool = True) -> MessyFolder:
    """Write good recordings next to every kind of broken input into ``folder``; see :class:`MessyFolder`.

    Good recordings are 10 s at 500 Hz unless their point is another length or rate; broken ones
    are 2 s. ``include_long`` adds the one large file, a 30-minute 12-lead recording at 257 Hz
    (INCART-like, about 11 MB). Ages, sexes and labels vary; the ones without a special point are
    sinus rhythm.
    """
    directory = Path(folder)
    directory.mkdir(parents=True, exist_ok=True)
    messy = MessyFolder(directory)
    counter = iter(range(1_000_000))

    def ecg(frequency: float = 500, seconds: float = 10, rhythm: str = SINUS_RHYTHM, rbbb: bool = False) -> np.ndarray:
        rng = np.random.default_rng([seed, next(counter)])
        return synthesize_spec(rng, draw_spec(rng, rhythm, rbbb), frequency, seconds)

    def good(
        name: str,
        why: str,
        signal: np.ndarray | None = None,
        frequency: float = 500,
        lead_names: Sequence[str] = STANDARD_LEADS,
        age: float = 60.0,
        sex: str = "Female",
        codes: Sequence[str] = (SINUS_RHYTHM,),
        gain: float = 1000.0,
        baseline: int = 0,
    ) -> Path:
        messy.good[name] = why
        signal = ecg(frequency) if signal is None else signal
        return write_record(directory, name, signal, frequency, lead_names, age, sex, codes, gain, baseline)

    # --- good ---
    good("good_normal", "ordinary 10 s, 500 Hz sinus rhythm")
    good("good_flat", "all-zero signal (leads off)", np.zeros((12, 5000)))
    good("good_short", "0.6 s long (300 samples), shorter than one window", ecg(500, 0.6))
    if include_long:
        good("good_incart_30min", "30 minutes at 257 Hz (INCART-like)", ecg(257, 1800), 257)
    good("good_1000hz", "1000 Hz (PTB-like)", ecg(1000), 1000)
    good("good_257hz", "257 Hz, 10 s", ecg(257), 257)
    order = [5, 0, 11, 3, 8, 1, 10, 6, 2, 9, 4, 7]
    good(
        "good_lead_order", "leads stored in another order", ecg()[order], lead_names=[STANDARD_LEADS[i] for i in order]
    )
    good("good_six_limb_leads", "only the 6 limb leads", ecg()[:6], lead_names=LIMB_LEADS)
    good("good_age_nan", "#Age: NaN", age=math.nan, sex="Male")
    good("good_sex_unknown", "#Sex: Unknown", sex="Unknown", age=44.0)
    good("good_unscored_codes", "only codes outside the scored classes", codes=UNSCORED_CODES)
    good("good_gain_4880", "gain 4880/mV and baseline -12 (Georgia-like gain)", gain=4880.0, baseline=-12)
    af_rbbb = ecg(rhythm=ATRIAL_FIBRILLATION, rbbb=True)
    good(
        "good_af_rbbb",
        "atrial fibrillation with RBBB, male, 81",
        af_rbbb,
        age=81.0,
        sex="Male",
        codes=(ATRIAL_FIBRILLATION, RBBB),
    )
    path = good("good_non_ascii", "non-ASCII bytes in the header (Latin-1 and UTF-8)")
    extra = "#Note: patient re\u00e7u \u00e0 l'h\u00f4pital\n".encode("latin-1") + "#Site: \u5317\u4eac\n".encode()
    path.write_bytes(path.read_bytes() + extra)
    path = good("good_dx_spaces", "#Dx list with spaces and a Georgia-style record name 'NAME.mat'")
    text = path.read_text().replace("good_dx_spaces 12", "good_dx_spaces.mat 12", 1)
    path.write_text(text.replace(f"#Dx: {SINUS_RHYTHM}", f"#Dx: {SINUS_RHYTHM} , {UNSCORED_CODES[0]}"))
    good("good name with spaces", "a file name with spaces (underscores inside the header)")
    gap_signal = ecg()
    mat = good("good_nan_gap", "float64 val with a 50-sample NaN gap in lead III, filled", gap_signal)
    val = to_counts(gap_signal).astype(np.float64)
    val[2, 100:150] = math.nan  # how WFDB readers give missing samples
    scipy.io.savemat(mat.with_suffix(".mat"), {"val": val}, format="4")

    # --- bad ---
    def bad(name: str, why: str) -> Path:
        messy.bad[name] = why
        return write_record(directory, name, ecg(500, 2), 500, age=50.0, sex="Male", codes=(SINUS_RHYTHM,))

    mat = bad("bad_truncated_mat", "MAT file cut in half").with_suffix(".mat")
    mat.write_bytes(mat.read_bytes()[: mat.stat().st_size // 2])
    bad("bad_empty_mat", "MAT file of 0 bytes").with_suffix(".mat").write_bytes(b"")
    bad("bad_not_mat", "a text file named .mat").with_suffix(".mat").write_text("this is not a MAT file\n" * 20)
    mat = bad("bad_no_val", "MAT file without a 'val' variable").with_suffix(".mat")
    scipy.io.savemat(mat, {"data": to_counts(ecg(500, 2)), "fs": 500}, format="4")
    bad("bad_no_header", "a .mat with no .hea beside it").unlink()
    bad("bad_empty_header", "header of 0 bytes").write_bytes(b"")
    path = bad("bad_malformed_header", "record line without the number of samples")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(" ".join(lines[0].split()[:3]) + "\n" + "".join(lines[1:]))
    path = bad("bad_garbage_header", "binary garbage instead of a header")
    path.write_bytes(_GARBAGE)
    path = bad("bad_missing_lead_lines", "record line declares 12 leads, header has 6 lead lines")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:7] + lines[13:]))
    mat = bad("bad_transposed", "val stored samples x leads").with_suffix(".mat")
    scipy.io.savemat(mat, {"val": to_counts(ecg(500, 2)).T.copy()}, format="4")
    mat = bad("bad_wrong_length", "header declares 1000 samples, val has 800").with_suffix(".mat")
    scipy.io.savemat(mat, {"val": to_counts(ecg(500, 2))[:, :800].copy()}, format="4")
    mat = bad("bad_3d_val", "val is a 3-D array").with_suffix(".mat")
    scipy.io.savemat(mat, {"val": np.zeros((12, 1000, 2), dtype=np.int16)})
    mat = bad("bad_inf", "float64 val with infinite samples").with_suffix(".mat")
    val = to_counts(ecg(500, 2)).astype(np.float64)
    val[2, 100:150] = math.inf
    scipy.io.savemat(mat, {"val": val}, format="4")

    # --- a header without its signal file ---
    orphan = write_record(directory, "orphan_header", ecg(500, 2), 500, age=30.0, sex="Male", codes=(SINUS_RHYTHM,))
    orphan.with_suffix(".mat").unlink()
    messy.not_listed["orphan_header"] = "a .hea whose .mat is absent: not listed by find_challenge_files"
    return messy
