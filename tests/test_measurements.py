"""The cardiograph's measurements on synthetic beats whose intervals and axes are set by construction.

Tolerances are those IEC 60601-2-25 sets for the global intervals of diagnostic cardiographs on the CSE
recordings (mean differences within 10 ms for PR and QRS, 25 ms for QT), here asked of every recording.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg12.delineation import delineate, premature_beats
from ecg12.feature_names import CRITERION_FEATURE_NAMES, CRITERION_FEATURES_START, NUM_RECORD_FEATURES
from ecg12.features import MEASURED_SAMPLES, detect_beats, record_features
from ecg12.measurements import (
    _HEXAXIAL,
    CSV_COLUMNS,
    MEASUREMENT_NAMES,
    NOT_MEASURED,
    Measurements,
    csv_row,
    frontal_axis,
    measure,
    measure_record,
)
from ecg12.preprocess import STANDARD_LEADS
from ecg12.synthetic import KnownBeat, synthesize_known_ecg

INTERVAL_MS = 10.0
QT_MS = 25.0
AXIS_DEG = 10.0

BEATS = {
    "normal": KnownBeat(),
    "slow, long PR (1st-degree AV block)": KnownBeat(heart_rate=45, pr_s=0.28, qt_s=0.46, qrs_axis_deg=70),
    "fast, short PR": KnownBeat(heart_rate=125, pr_s=0.12, p_duration_s=0.08, qt_s=0.29),
    "right bundle branch block": KnownBeat(qrs_s=0.14, rbbb=True, qrs_axis_deg=20),
    "left axis deviation, wide QRS": KnownBeat(qrs_s=0.15, qrs_axis_deg=-55, t_axis_deg=120),
    "right axis deviation, long QT": KnownBeat(heart_rate=60, qrs_axis_deg=110, qt_s=0.52),
    "tall R, slurred S": KnownBeat(qrs_s=0.11, slurred=True, r_mv=2.5),
    "RBBB, tall R, slurred R'": KnownBeat(qrs_s=0.13, rbbb=True, slurred=True, r_mv=2.5, qrs_axis_deg=30),
    "smooth lobes, slurred S": KnownBeat(qrs_s=0.11, slurred=True, smooth=True),
    "PR segment depressed by the atrial T wave": KnownBeat(heart_rate=80, pr_s=0.24, atrial_repolarisation=True),
    "long PR at 110 bpm, P just after the previous T": KnownBeat(
        heart_rate=110, pr_s=0.22, p_duration_s=0.09, qt_s=0.3
    ),
    "150 bpm": KnownBeat(heart_rate=150, pr_s=0.12, p_duration_s=0.07, qt_s=0.26),
}


def angle_between(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(BEATS))
def test_intervals_and_axes_are_measured_within_the_standards_tolerances(name: str, seed: int) -> None:
    signal, truth = synthesize_known_ecg(np.random.default_rng([seed, len(name)]), BEATS[name], noise_mv=0.02)
    measured = measure(signal)
    assert measured.heart_rate == pytest.approx(truth.heart_rate, rel=0.02)
    assert abs(measured.pr - truth.pr_ms) <= INTERVAL_MS
    assert abs(measured.qrs - truth.qrs_ms) <= INTERVAL_MS
    assert abs(measured.qt - truth.qt_ms) <= QT_MS
    assert measured.qtc == pytest.approx(measured.qt / math.sqrt(60 / measured.heart_rate))
    assert measured.qtc_fridericia == pytest.approx(measured.qt / (60 / measured.heart_rate) ** (1 / 3))
    for axis, expected in (
        ("qrs_axis", truth.qrs_axis_deg),
        ("p_axis", truth.p_axis_deg),
        ("t_axis", truth.t_axis_deg),
    ):
        assert angle_between(getattr(measured, axis), expected) <= AXIS_DEG, axis
    assert measured.p_present == 1.0
    assert measured.premature_beats == 0


def test_the_textbook_criteria_follow_from_the_measurements() -> None:
    """Each synthetic class meets its own criterion and not the others'."""
    measured = {name: measure(synthesize_known_ecg(np.random.default_rng(9), beat)[0]) for name, beat in BEATS.items()}
    assert [name for name, m in measured.items() if m.pr > 200] == [
        "slow, long PR (1st-degree AV block)",
        "PR segment depressed by the atrial T wave",
        "long PR at 110 bpm, P just after the previous T",
    ]
    assert [name for name, m in measured.items() if m.qrs >= 120] == [
        "right bundle branch block",
        "left axis deviation, wide QRS",
        "RBBB, tall R, slurred R'",
    ]
    assert [name for name, m in measured.items() if m.qrs_axis < -30] == ["left axis deviation, wide QRS"]
    assert [name for name, m in measured.items() if m.heart_rate < 60] == ["slow, long PR (1st-degree AV block)"]
    assert [name for name, m in measured.items() if m.heart_rate > 100] == [
        "fast, short PR",
        "long PR at 110 bpm, P just after the previous T",
        "150 bpm",
    ]
    rbbb, normal = measured["right bundle branch block"], measured["normal"]
    assert rbbb.r_prime_v1 > 0.3 and rbbb.terminal_v1 > 0.2  # rSR' in V1, its terminal deflection positive
    assert normal.r_prime_v1 == 0 and normal.terminal_v1 < 0  # rS in V1
    assert measured["left axis deviation, wide QRS"].t_inverted_lateral >= 1  # T at 120 degrees: negative in I, aVL


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_left_bundle_branch_block_is_measured_to_the_end_of_its_qrs(seed: int) -> None:
    """No septal q, a broad notched R and a discordant T that begins in the QRS's last quarter: the QRS does not end
    inside the notch (slow, flat) nor run on into the steep ST-T."""
    beat = KnownBeat(qrs_s=0.15, lbbb=True, qrs_axis_deg=-10, t_axis_deg=170, qt_s=0.44)
    signal, truth = synthesize_known_ecg(np.random.default_rng(seed), beat, noise_mv=0.02)
    measured = measure(signal)
    assert abs(measured.qrs - truth.qrs_ms) <= INTERVAL_MS
    assert abs(measured.qt - truth.qt_ms) <= QT_MS
    assert angle_between(measured.qrs_axis, truth.qrs_axis_deg) <= AXIS_DEG
    assert measured.q_depth_lateral == 0  # no septal q in I, aVL, V5, V6


@pytest.mark.parametrize("heart_rate", [180.0, 200.0])
def test_fast_rates_are_measured(heart_rate: float) -> None:
    """At 180-200 bpm the T wave ends under 100 ms before the next QRS and the P wave rides on it."""
    beat = KnownBeat(heart_rate=heart_rate, pr_s=0.1, p_duration_s=0.06, qt_s=0.22)
    signal, truth = synthesize_known_ecg(np.random.default_rng(int(heart_rate)), beat, noise_mv=0.02)
    measured = measure(signal)
    assert measured.heart_rate == pytest.approx(truth.heart_rate, rel=0.02)
    assert abs(measured.qrs - truth.qrs_ms) <= INTERVAL_MS
    assert abs(measured.qt - truth.qt_ms) <= QT_MS


def test_atrial_fibrillation_has_no_p_wave_and_irregular_rr() -> None:
    beat = KnownBeat(p_waves=False)
    signal, truth = synthesize_known_ecg(np.random.default_rng(4), beat, rr_irregularity=0.25, fibrillation_mv=0.1)
    measured = measure(signal)
    assert measured.p_present == 0.0
    for name in ("pr", "p_duration", "p_axis", "p_amplitude_ii", "p_amplitude_v1"):
        assert math.isnan(getattr(measured, name)), name
    assert measured.rr_cv > 0.1
    assert abs(measured.qrs - truth.qrs_ms) <= INTERVAL_MS  # the ventricles are measured as ever
    sinus = measure(synthesize_known_ecg(np.random.default_rng(4), KnownBeat())[0])
    assert sinus.rr_cv < 0.02 and sinus.p_present == 1.0


def test_premature_ventricular_beats_are_counted_and_left_out_of_the_median_beat() -> None:
    signal, truth = synthesize_known_ecg(np.random.default_rng(5), KnownBeat(), seconds=20, premature_every=4)
    assert truth.premature_beats >= 3
    measured = measure(signal)
    assert measured.premature_beats == truth.premature_beats
    assert measured.premature_wide_beats == truth.premature_beats
    assert abs(measured.qrs - truth.qrs_ms) <= INTERVAL_MS and abs(measured.pr - truth.pr_ms) <= INTERVAL_MS
    beats = detect_beats(signal)
    delineation = delineate(signal, beats, premature_beats(beats))
    assert delineation is not None and (~delineation.dominant).sum() == truth.premature_beats


def test_a_flat_lead_makes_its_own_measurements_nan_and_no_others() -> None:
    signal, truth = synthesize_known_ecg(np.random.default_rng(6), BEATS["left axis deviation, wide QRS"])
    signal[STANDARD_LEADS.index("V1")] = 0.0  # zero-filled, as a missing lead is
    signal[STANDARD_LEADS.index("aVF")] = 0.0
    measured = measure(signal)
    for name in ("r_v1", "s_v1", "r_prime_v1", "terminal_v1", "sokolow_lyon", "p_amplitude_v1"):
        assert math.isnan(getattr(measured, name)), name
    assert abs(measured.qrs - truth.qrs_ms) <= INTERVAL_MS
    assert angle_between(measured.qrs_axis, truth.qrs_axis_deg) <= AXIS_DEG  # from the other five limb leads
    assert math.isfinite(measured.r_prime_v2) and math.isfinite(measured.q_depth_anterior)


@pytest.mark.parametrize("signal", [np.zeros((12, 5000)), np.ones((12, 300)), np.zeros((12, 0))])
def test_without_beats_nothing_is_made_up(signal: np.ndarray) -> None:
    measured = measure(signal)
    assert measured.beats == 0
    assert all(math.isnan(getattr(measured, name)) for name in MEASUREMENT_NAMES if name != "beats")


def test_only_the_first_measured_seconds_are_measured() -> None:
    first, _ = synthesize_known_ecg(np.random.default_rng(7), KnownBeat(heart_rate=60), seconds=300)
    later, _ = synthesize_known_ecg(np.random.default_rng(8), KnownBeat(heart_rate=120), seconds=60)
    assert first.shape[1] == MEASURED_SAMPLES
    whole = np.concatenate([first, later], axis=1)
    assert measure(whole) == measure(first)
    assert measure(whole).heart_rate == pytest.approx(60, rel=0.02)


def test_the_frontal_axis_is_the_direction_of_the_limb_leads_areas() -> None:
    for degrees in (-170.0, -60.0, -30.0, 0.0, 45.0, 90.0, 135.0, 180.0):
        vector = np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))])
        areas = _HEXAXIAL @ vector
        assert angle_between(frontal_axis(areas, np.ones(6, dtype=bool)), degrees) < 1e-9
        assert angle_between(frontal_axis(areas, np.array([True, False, False, False, False, True])), degrees) < 1e-9
    assert areas[5] == pytest.approx(math.sqrt(3) / 2 * vector[1])  # aVF: Goldberger's scale
    assert math.isnan(frontal_axis(np.zeros(6), np.ones(6, dtype=bool)))
    assert math.isnan(frontal_axis(np.ones(6), np.eye(6, dtype=bool)[0]))  # one lead cannot tell a direction


def test_csv_row() -> None:
    assert CSV_COLUMNS[:7] == ("recording", "heart_rate", "pr", "qrs", "qt", "qtc", "qrs_axis")
    assert len(set(CSV_COLUMNS)) == len(CSV_COLUMNS)
    assert csv_row("A0001", NOT_MEASURED) == ["A0001"] + [""] * len(MEASUREMENT_NAMES)
    values = dict.fromkeys(MEASUREMENT_NAMES, math.nan) | {"heart_rate": 72.349, "pr": 161.6, "p_amplitude_ii": 0.12345}
    row = dict(zip(CSV_COLUMNS, csv_row("x", Measurements(**values)), strict=True))
    assert (row["heart_rate"], row["pr"], row["p_amplitude_ii"], row["qrs"]) == ("72.3", "162", "0.123", "")
    for item in Measurements.__dataclass_fields__.values():
        assert set(item.metadata) == {"unit", "decimals", "description"}, item.name


def test_one_detection_gives_the_measurements_and_the_record_features() -> None:
    signal, _ = synthesize_known_ecg(np.random.default_rng(15), KnownBeat(), seconds=320)
    measurements, features = measure_record(signal, 61.0, "Female")
    assert measurements == measure(signal)
    np.testing.assert_array_equal(features[:CRITERION_FEATURES_START], record_features(signal, 61.0, "Female"))
    defining = [getattr(measurements, name) for name in CRITERION_FEATURE_NAMES]  # the criteria's, in their units
    np.testing.assert_array_equal(features[CRITERION_FEATURES_START:], np.float32(defining))
    assert features.shape == (NUM_RECORD_FEATURES,) and np.isfinite(defining).all()
