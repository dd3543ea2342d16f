"""The median beat and its global fiducial points (the measurements on them: tests/test_measurements.py)."""

from __future__ import annotations

import numpy as np

from ecg12.delineation import delineate, premature_beats
from ecg12.features import detect_beats
from ecg12.synthetic import KnownBeat, synthesize_known_ecg


def test_premature_beats_follow_an_rr_under_80_percent_of_the_median() -> None:
    beats = np.array([0, 500, 1000, 1390, 2000, 2500, 2900, 3500])  # RR 500 ms ... 390 and 400: 78% and 80%
    assert premature_beats(beats).tolist() == [False, False, False, True, False, False, False, False]
    assert not premature_beats(np.array([0, 100])).any()  # too few beats to tell


def test_fiducial_points_sit_where_the_waves_are_in_the_signal() -> None:
    beat = KnownBeat(heart_rate=60, pr_s=0.18, qrs_s=0.1, qt_s=0.4)
    signal, _ = synthesize_known_ecg(np.random.default_rng(0), beat)
    beats = detect_beats(signal)
    delineation = delineate(signal, beats, premature_beats(beats))
    assert delineation is not None
    # The first QRS onset of the synthetic recording is at 0.6 s; the median beat's aligned first beat is there.
    first = delineation.positions[0] - delineation.centre
    fiducials = delineation.fiducials
    expected = {"p_onset": 0.42, "p_offset": 0.52, "qrs_onset": 0.6, "qrs_offset": 0.7, "t_end": 1.0}
    for name, seconds in expected.items():
        found = (first + getattr(fiducials, name)) / 500
        assert abs(found - seconds) <= 0.01, (name, found)


def test_baseline_wander_does_not_move_the_fiducial_points() -> None:
    beat = KnownBeat()
    calm, _ = synthesize_known_ecg(np.random.default_rng(1), beat, wander_mv=0.0)
    wandering, _ = synthesize_known_ecg(np.random.default_rng(1), beat, wander_mv=0.6)
    found, templates = [], []
    for signal in (calm, wandering):
        beats = detect_beats(signal)
        delineation = delineate(signal, beats, premature_beats(beats))
        assert delineation is not None
        found.append(np.array([*vars(delineation.fiducials).values()]) - delineation.positions[0])
        templates.append(delineation.template)
    np.testing.assert_allclose(found[0], found[1], atol=3)  # within 6 ms
    # The median beats agree within 0.1 mV: the 0.67 Hz high-pass (and the median) took most of the wander out.
    assert np.abs(templates[0] - templates[1]).max() < 0.1
