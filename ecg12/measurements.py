"""What a 12-lead cardiograph prints: heart rate, intervals, axes and voltages, NaN where they cannot be made.

:func:`measure` takes a (12, N) mV signal at 500 Hz in the standard lead order and returns a
:class:`Measurements`: the rhythm from every detected beat (``features.detect_beats``) and the rest from the
median beat and its global fiducial points (``ecg12.delineation``). Like ``features.measurements`` it looks at the
first :data:`~ecg12.features.MEASURED_SECONDS` only. A measurement that cannot be made is NaN, never a guess:
no P wave (atrial fibrillation), fewer than two whole beats, a flat lead, a wave not found.
:func:`measure_record` gives the measurements and ``features.record_features`` from one beat detection.

Per-lead waves on the median beat, between the global QRS onset and offset: the QRS is cut where it crosses
the baseline (the level at QRS onset), and each part is a wave if it reaches 20 uV and lasts 6 ms (smaller
parts are noise of a median beat and are not counted, so they do not split a wave). The first wave, if
negative, is Q; the first positive wave is R, the negative one after it S, a positive one after that R'.
Lead groups: inferior II, III, aVF; lateral I, aVL, V5, V6; anterior V1-V4.

Axes are frontal, in degrees from -180 to 180, positive towards aVF (inferior), 0 towards lead I: the
least-squares direction of the wave's net area in the six limb leads, each lead a projection on its hexaxial
direction, the augmented leads scaled by sqrt(3)/2 as Goldberger's leads are.

:func:`csv_row` gives one row per recording for ``driver.py --measurements`` (:data:`CSV_COLUMNS`, units in
docs/model.md); NaN is an empty field.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from ecg12.delineation import SIMILAR_QRS, Delineation, delineate, premature_beats
from ecg12.feature_names import CRITERION_FEATURE_NAMES
from ecg12.features import MEASURED_SAMPLES, detect_beats, record_features
from ecg12.preprocess import STANDARD_LEADS, TARGET_FREQUENCY, DegradedRecordingWarning

NAN = math.nan
LEAD = {name: index for index, name in enumerate(STANDARD_LEADS)}
LIMB_LEADS = np.arange(6)
PRECORDIAL_LEADS = np.arange(6, 12)
LEAD_GROUPS: dict[str, tuple[str, ...]] = {
    "inferior": ("II", "III", "aVF"),
    "lateral": ("I", "aVL", "V5", "V6"),
    "anterior": ("V1", "V2", "V3", "V4"),
}
MINIMUM_WAVE_MV = 0.02
MINIMUM_WAVE_S = 0.006
TERMINAL_S = 0.04  # the terminal QRS deflection: the mean of its last 40 ms
INVERTED_T_MV = -0.1  # a T wave at least 0.1 mV (1 mm) below the baseline is inverted

# Hexaxial directions (degrees) and scales of I, II, III, aVR, aVL, aVF: the net area of a wave in lead k is
# scale_k * (x cos(angle_k) + y sin(angle_k)) for its frontal vector (x towards I, y towards aVF).
_HEXAXIAL_DEG = np.array([0.0, 60.0, 120.0, -150.0, -30.0, 90.0])
_HEXAXIAL_SCALE = np.array([1.0, 1.0, 1.0, math.sqrt(3) / 2, math.sqrt(3) / 2, math.sqrt(3) / 2])
_HEXAXIAL = _HEXAXIAL_SCALE[:, None] * np.stack(
    [np.cos(np.radians(_HEXAXIAL_DEG)), np.sin(np.radians(_HEXAXIAL_DEG))], 1
)


def _measurement(unit: str, decimals: int, description: str) -> float:
    """A :class:`Measurements` field: its unit, the decimals written to CSV, and what it is."""
    return field(metadata={"unit": unit, "decimals": decimals, "description": description})  # type: ignore[return-value]


@dataclass(frozen=True)
class Measurements:
    """A recording's measurements; NaN where one cannot be made. Field metadata: unit, CSV decimals, description."""

    heart_rate: float = _measurement("bpm", 1, "ventricular rate: 60 / the mean RR interval")
    pr: float = _measurement("ms", 0, "P onset to QRS onset")
    qrs: float = _measurement("ms", 0, "QRS onset to QRS offset, global over leads")
    qt: float = _measurement("ms", 0, "QRS onset to T end, global over leads")
    qtc: float = _measurement("ms", 0, "QT corrected for rate, Bazett: QT / sqrt(RR in s)")
    qrs_axis: float = _measurement("deg", 0, "frontal QRS axis (net area), -180 to 180, positive towards aVF")
    qtc_fridericia: float = _measurement("ms", 0, "QT / cube root of RR in s")
    p_axis: float = _measurement("deg", 0, "frontal P axis")
    t_axis: float = _measurement("deg", 0, "frontal T axis (ST-T area, QRS offset to T end)")
    p_present: float = _measurement("", 0, "1 if the beats agree on a P wave, 0 if not")
    p_duration: float = _measurement("ms", 0, "P onset to P offset")
    p_amplitude_ii: float = _measurement("mV", 3, "P wave in II, signed extreme")
    p_amplitude_v1: float = _measurement("mV", 3, "P wave in V1, signed extreme")
    beats: float = _measurement("", 0, "QRS complexes detected")
    rr_cv: float = _measurement("", 3, "RR intervals' standard deviation / mean")
    rmssd: float = _measurement("ms", 0, "root mean square of successive RR differences")
    premature_beats: float = _measurement("", 0, "beats after an RR under 80% of the median RR")
    premature_wide_beats: float = _measurement("", 0, "premature beats whose QRS differs from the median beat's")
    limb_qrs_amplitude: float = _measurement("mV", 3, "largest QRS peak-to-peak in a limb lead")
    precordial_qrs_amplitude: float = _measurement("mV", 3, "largest QRS peak-to-peak in V1-V6")
    sokolow_lyon: float = _measurement("mV", 3, "S in V1 + the larger R in V5 or V6")
    cornell: float = _measurement("mV", 3, "R in aVL + S in V3")
    r_v1: float = _measurement("mV", 3, "R wave in V1")
    s_v1: float = _measurement("mV", 3, "S wave depth in V1")
    r_prime_v1: float = _measurement("mV", 3, "R' in V1 (0 if none)")
    r_prime_v2: float = _measurement("mV", 3, "R' in V2 (0 if none)")
    terminal_v1: float = _measurement("mV", 3, "mean of the last 40 ms of the QRS in V1")
    terminal_v2: float = _measurement("mV", 3, "mean of the last 40 ms of the QRS in V2")
    s_i: float = _measurement("mV", 3, "S wave depth in I (0 if none)")
    s_v6: float = _measurement("mV", 3, "S wave depth in V6 (0 if none)")
    s_duration_i: float = _measurement("ms", 0, "S wave duration in I (0 if none)")
    s_duration_v6: float = _measurement("ms", 0, "S wave duration in V6 (0 if none)")
    q_depth_inferior: float = _measurement("mV", 3, "deepest Q wave in II, III, aVF (0 if none)")
    q_width_inferior: float = _measurement("ms", 0, "widest Q wave in II, III, aVF (0 if none)")
    q_depth_lateral: float = _measurement("mV", 3, "deepest Q wave in I, aVL, V5, V6")
    q_width_lateral: float = _measurement("ms", 0, "widest Q wave in I, aVL, V5, V6")
    q_depth_anterior: float = _measurement("mV", 3, "deepest Q wave in V1-V4")
    q_width_anterior: float = _measurement("ms", 0, "widest Q wave in V1-V4")
    t_amplitude_inferior: float = _measurement("mV", 3, "mean signed T wave of II, III, aVF")
    t_amplitude_lateral: float = _measurement("mV", 3, "mean signed T wave of I, aVL, V5, V6")
    t_amplitude_anterior: float = _measurement("mV", 3, "mean signed T wave of V1-V4")
    t_inverted_inferior: float = _measurement("", 0, "leads of II, III, aVF with T at or below -0.1 mV")
    t_inverted_lateral: float = _measurement("", 0, "leads of I, aVL, V5, V6 with T at or below -0.1 mV")
    t_inverted_anterior: float = _measurement("", 0, "leads of V1-V4 with T at or below -0.1 mV")


class MeasurementWarning(DegradedRecordingWarning):
    """A recording's measurements could not be made; it is classified without the criteria (ecg12.criteria)."""


MEASUREMENT_FIELDS = dataclasses.fields(Measurements)
MEASUREMENT_NAMES: tuple[str, ...] = tuple(item.name for item in MEASUREMENT_FIELDS)
CSV_COLUMNS: tuple[str, ...] = ("recording", *MEASUREMENT_NAMES)
NOT_MEASURED = Measurements(**dict.fromkeys(MEASUREMENT_NAMES, NAN))


def measure(signal: np.ndarray, frequency: float = TARGET_FREQUENCY, beats: np.ndarray | None = None) -> Measurements:
    """The :class:`Measurements` of a (12, N) mV signal in the standard lead order (its first 5 minutes).

    ``beats``: the first 5 minutes' ``features.detect_beats``, if already found (:func:`measure_record`).
    """
    signal = signal[:, : round(MEASURED_SAMPLES * frequency / TARGET_FREQUENCY)]
    beats = detect_beats(signal, frequency) if beats is None else beats
    premature = premature_beats(beats)
    values = {"beats": float(len(beats)), **_rhythm(beats, premature, frequency)}
    delineation = delineate(signal, beats, premature, frequency)
    if delineation is not None:
        values.update(_morphology(delineation, values["heart_rate"]))
        wide = premature[delineation.measured] & (delineation.similarity < SIMILAR_QRS)
        values["premature_wide_beats"] = float(wide.sum())
    return dataclasses.replace(NOT_MEASURED, **values)


def measure_record(signal: np.ndarray, age: float, sex: str) -> tuple[Measurements, np.ndarray]:
    """A prepared recording's (12, N) mV signal at 500 Hz: its :class:`Measurements` and its record feature
    vector (NUM_RECORD_FEATURES,): ``features.record_features(signal, age, sex)``, then the measurements that
    define classes (feature_names.CRITERION_FEATURE_NAMES, for ecg12.criteria), from one beat detection."""
    measured = signal[:, :MEASURED_SAMPLES]
    beats = detect_beats(measured)
    try:
        measurements = measure(measured, TARGET_FREQUENCY, beats)
    except Exception as error:  # an odd median beat must not cost the recording its classification
        warnings.warn(f"not measured ({type(error).__name__}: {error}): no criteria applied", MeasurementWarning, 2)
        measurements = NOT_MEASURED
    defining = [getattr(measurements, name) for name in CRITERION_FEATURE_NAMES]
    return measurements, np.concatenate([record_features(measured, age, sex, beats), defining]).astype(np.float32)


def _rhythm(beats: np.ndarray, premature: np.ndarray, frequency: float) -> dict[str, float]:
    if len(beats) < 2:
        return {}
    rr = np.diff(beats) / frequency * 1000.0
    values = {"heart_rate": 60000.0 / float(rr.mean()), "premature_beats": float(premature.sum())}
    if len(rr) >= 2:
        values["rr_cv"] = float(rr.std() / rr.mean())
        values["rmssd"] = float(np.sqrt(np.mean(np.square(np.diff(rr)))))
    return values


def frontal_axis(areas: np.ndarray, usable: np.ndarray) -> float:
    """The frontal axis (degrees) of a wave whose net areas in the six limb leads are ``areas``; NaN if unknown.

    ``usable`` (6,) bool: the limb leads to fit on (flat ones left out); at least two are needed.
    """
    if usable.sum() < 2:
        return NAN
    vector, *_ = np.linalg.lstsq(_HEXAXIAL[usable], areas[usable], rcond=None)
    if not np.isfinite(vector).all() or not vector.any():
        return NAN
    return math.degrees(math.atan2(vector[1], vector[0]))


def _morphology(delineation: Delineation, heart_rate: float) -> dict[str, float]:
    """Intervals, axes and per-lead waves of the median beat."""
    fiducials, template, frequency = delineation.fiducials, delineation.template, delineation.frequency
    values: dict[str, float] = {
        "p_present": float(delineation.p_present),
        "pr": delineation.milliseconds(fiducials.p_onset, fiducials.qrs_onset),
        "p_duration": delineation.milliseconds(fiducials.p_onset, fiducials.p_offset),
        "qrs": delineation.milliseconds(fiducials.qrs_onset, fiducials.qrs_offset),
        "qt": delineation.milliseconds(fiducials.qrs_onset, fiducials.t_end),
    }
    onset, offset = fiducials.qrs_onset, fiducials.qrs_offset
    if not (math.isfinite(onset) and math.isfinite(offset)) or round(offset) < round(onset):
        return values  # no QRS complex found in the median beat (noise, say): nothing measured on it
    rr_s = 60.0 / heart_rate
    values["qtc"] = values["qt"] / math.sqrt(rr_s)
    values["qtc_fridericia"] = values["qt"] / rr_s ** (1 / 3)
    usable = ~delineation.flat

    def area(start: float, end: float) -> np.ndarray:
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            return np.full(len(STANDARD_LEADS), NAN)
        return template[:, round(start) : round(end) + 1].sum(axis=1) / frequency

    for name, (start, end) in {
        "p_axis": (fiducials.p_onset, fiducials.p_offset),
        "qrs_axis": (fiducials.qrs_onset, fiducials.qrs_offset),
        "t_axis": (fiducials.qrs_offset, fiducials.t_end),
    }.items():
        areas = area(start, end)
        values[name] = frontal_axis(areas[:6], usable[:6]) if np.isfinite(areas).all() else NAN

    if delineation.p_present:
        p_wave = template[:, round(fiducials.p_onset) : round(fiducials.p_offset) + 1]
        for name, lead in (("p_amplitude_ii", LEAD["II"]), ("p_amplitude_v1", LEAD["V1"])):
            values[name] = _signed_extreme(p_wave[lead]) if usable[lead] else NAN

    qrs = template[:, round(fiducials.qrs_onset) : round(fiducials.qrs_offset) + 1]
    values.update(_voltages(qrs, _qrs_waves(qrs, usable, frequency), usable, frequency))
    if math.isfinite(fiducials.t_end):
        # The T wave's extreme: on the last three quarters of the ST-T segment (the first holds the ST segment).
        start = fiducials.qrs_offset + (fiducials.t_end - fiducials.qrs_offset) / 4
        t_wave = template[:, round(start) : round(fiducials.t_end) + 1]
        t_peaks = t_wave[np.arange(len(t_wave)), np.abs(t_wave).argmax(axis=1)]  # signed extremes (T end > QRS offset)
        for group, names in LEAD_GROUPS.items():
            leads = [LEAD[name] for name in names if usable[LEAD[name]]]
            if leads:
                values[f"t_amplitude_{group}"] = float(t_peaks[leads].mean())
                values[f"t_inverted_{group}"] = float((t_peaks[leads] <= INVERTED_T_MV).sum())
    return values


def _signed_extreme(row: np.ndarray) -> float:
    """The sample of ``row`` farthest from 0, with its sign."""
    return float(row[np.argmax(np.abs(row))]) if len(row) else NAN


@dataclass(frozen=True)
class _Waves:
    """Each lead's QRS waves, (12,) arrays: amplitudes (mV, depths positive) and durations (samples); 0 for a wave
    not there, NaN for a lead that cannot be measured."""

    q_depth: np.ndarray
    q_width: np.ndarray
    r: np.ndarray
    s_depth: np.ndarray
    s_width: np.ndarray
    r_prime: np.ndarray


def _qrs_waves(qrs: np.ndarray, usable: np.ndarray, frequency: float) -> _Waves:
    """The Q, R, S and R' waves of every lead's QRS complex (baseline 0), as the module's docstring says."""
    leads, length = qrs.shape
    values = {name: np.zeros(leads) for name in ("q_depth", "q_width", "r", "s_depth", "s_width", "r_prime")}
    if length:
        # The parts between baseline crossings, every lead's in one flat sequence (each lead's first sample starts one).
        positive = qrs > 0
        starts_part = np.ones((leads, length), dtype=bool)
        starts_part[:, 1:] = positive[:, 1:] != positive[:, :-1]
        starts = np.flatnonzero(starts_part)
        size = np.maximum.reduceat(np.abs(qrs).ravel(), starts)
        samples = np.diff(np.append(starts, leads * length))
        lead, sign = starts // length, positive.ravel()[starts]
        kept = (size >= MINIMUM_WAVE_MV) & (samples >= MINIMUM_WAVE_S * frequency)
        size, samples, lead, sign = size[kept], samples[kept], lead[kept], sign[kept]
        if len(size):
            # Kept parts of one sign in a row are one wave (a noise crossing split it).
            first = np.flatnonzero(np.r_[True, (lead[1:] != lead[:-1]) | (sign[1:] != sign[:-1])])
            size, samples = np.maximum.reduceat(size, first), np.add.reduceat(samples, first)
            lead, sign = lead[first], sign[first]
            rank = np.arange(len(lead)) - np.searchsorted(lead, lead)  # a wave's place in its lead
            q = (rank == 0) & ~sign
            values["q_depth"][lead[q]], values["q_width"][lead[q]] = size[q], samples[q]
            with_r, first_positive = np.unique(lead[sign], return_index=True)
            r = np.flatnonzero(sign)[first_positive]
            values["r"][with_r] = size[r]
            for after, names in ((1, ("s_depth", "s_width")), (2, ("r_prime", None))):
                wave = r + after
                there = wave < len(lead)
                there[there] = lead[wave[there]] == with_r[there]
                values[names[0]][with_r[there]] = size[wave[there]]
                if names[1]:
                    values[names[1]][with_r[there]] = samples[wave[there]]
    for array in values.values():
        array[~usable] = NAN
    return _Waves(**values)


def _voltages(qrs: np.ndarray, waves: _Waves, usable: np.ndarray, frequency: float) -> dict[str, float]:
    """QRS voltages, R', terminal deflections, S waves and Q waves by lead group (NaN for a flat lead)."""
    ms = 1000.0 / frequency
    values: dict[str, float] = {}
    span = np.ptp(qrs, axis=1)
    for name, leads in (("limb_qrs_amplitude", LIMB_LEADS), ("precordial_qrs_amplitude", PRECORDIAL_LEADS)):
        values[name] = float(span[leads][usable[leads]].max()) if usable[leads].any() else NAN
    terminal = qrs[:, max(qrs.shape[1] - round(TERMINAL_S * frequency), 0) :].mean(axis=1)

    def wave(lead: str, what: str, scale: float = 1.0) -> float:
        return float(getattr(waves, what)[LEAD[lead]]) * scale

    values.update(
        sokolow_lyon=wave("V1", "s_depth") + float(np.fmax(wave("V5", "r"), wave("V6", "r"))),
        cornell=wave("aVL", "r") + wave("V3", "s_depth"),
        r_v1=wave("V1", "r"),
        s_v1=wave("V1", "s_depth"),
        r_prime_v1=wave("V1", "r_prime"),
        r_prime_v2=wave("V2", "r_prime"),
        terminal_v1=float(terminal[LEAD["V1"]]) if usable[LEAD["V1"]] else NAN,
        terminal_v2=float(terminal[LEAD["V2"]]) if usable[LEAD["V2"]] else NAN,
        s_i=wave("I", "s_depth"),
        s_v6=wave("V6", "s_depth"),
        s_duration_i=wave("I", "s_width", ms),
        s_duration_v6=wave("V6", "s_width", ms),
    )
    for group, names in LEAD_GROUPS.items():
        found = [LEAD[name] for name in names if usable[LEAD[name]]]
        if found:
            values[f"q_depth_{group}"] = float(waves.q_depth[found].max())
            values[f"q_width_{group}"] = float(waves.q_width[found].max()) * ms
    return values


def csv_row(recording: str, measurements: Measurements) -> list[str]:
    """The :data:`CSV_COLUMNS` of one recording: its name, then each measurement (empty where NaN)."""
    cells = [recording]
    for item in MEASUREMENT_FIELDS:
        value = getattr(measurements, item.name)
        cells.append("" if not math.isfinite(value) else f"{value:.{item.metadata['decimals']}f}")
    return cells
