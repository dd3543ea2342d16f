"""Record features: demographics, beat detection, rhythm and morphology measurements."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import sosfiltfilt, sosfreqz

from ecg12.feature_names import (
    CRITERION_FEATURES_START,
    MORPHOLOGY_FEATURE_NAMES,
    NUM_DEMOGRAPHICS,
    RHYTHM_FEATURE_NAMES,
)
from ecg12.features import (
    MEASURED_SAMPLES,
    _qrs_band,
    block_means,
    demographic_features,
    detect_beats,
    measurements,
    median_beat,
    morphology_features,
    record_features,
    rhythm_features,
    zero_phase,
)
from ecg12.preprocess import STANDARD_LEADS
from ecg12.synthetic import synthesize_ecg

QRS_DURATION = MORPHOLOGY_FEATURE_NAMES.index("QRS duration / 100 ms")


def rhythm_of(signal: np.ndarray) -> np.ndarray:
    return rhythm_features(detect_beats(signal), signal.shape[1])


def test_demographic_features() -> None:
    assert demographic_features(50.0, "Male").tolist() == [0.5, 0.0, 1.0, 0.0]
    assert demographic_features(float("nan"), "Unknown").tolist() == [0.0, 1.0, 0.0, 0.0]
    assert demographic_features(30.0, "Female").tolist() == pytest.approx([0.3, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("heart_rate", [45.0, 75.0, 130.0])
def test_beats_and_heart_rate_of_a_regular_rhythm(heart_rate: float) -> None:
    rng = np.random.default_rng(int(heart_rate))
    signal = synthesize_ecg(rng, 500, 10, heart_rate, rr_irregularity=0.0)
    assert abs(len(detect_beats(signal)) - heart_rate / 6) <= 1.5
    features = rhythm_of(signal)
    assert features[0] * 100 == pytest.approx(heart_rate, rel=0.05)
    assert features[1] < 0.05  # regular


def test_an_artefact_in_one_lead_does_not_hide_the_beats() -> None:
    """A loose V2 electrode (bursts of several mV over most of the recording) must not set the threshold for all."""
    rng = np.random.default_rng(11)
    clean = synthesize_ecg(rng, 500, 10, 105, rr_irregularity=0.0)
    noisy = clean.copy()
    bursts = np.repeat(rng.standard_normal(100), 50) * (rng.uniform(size=100) < 0.7).repeat(50)
    noisy[STANDARD_LEADS.index("V2")] += 5.0 * bursts * np.sin(np.arange(5000) / 3.0)
    expected = detect_beats(clean)
    found = detect_beats(noisy)
    assert len(found) == len(expected) and np.abs(found - expected).max() <= 10  # 20 ms: the alignment's reach


def test_beats_are_found_without_leads_i_and_ii() -> None:
    """Beats come from the independent leads (I, II, V1-V6); without I and II, from the other ten."""
    signal = synthesize_ecg(np.random.default_rng(16), 500, 10, 80, rr_irregularity=0.0)
    expected = detect_beats(signal)
    signal[:2] = 0.0  # zero-filled, as a missing lead is
    found = detect_beats(signal)
    assert len(found) == len(expected) and np.abs(found - expected).max() <= 5


def test_a_smaller_beat_is_found_by_searching_back() -> None:
    """A beat at half the amplitude of the others (a quarter of their energy, under the threshold) is still a beat."""
    signal = synthesize_ecg(np.random.default_rng(12), 500, 10, 70, rr_irregularity=0.0)
    beats = detect_beats(signal)
    smaller = signal.copy()
    middle = beats[len(beats) // 2]
    smaller[:, middle - 100 : middle + 100] *= 0.5
    assert len(detect_beats(smaller)) == len(beats)


def test_irregular_rhythm_has_a_large_rr_variation() -> None:
    rng = np.random.default_rng(0)
    regular = rhythm_of(synthesize_ecg(rng, 500, 10, 80, rr_irregularity=0.0))
    irregular = rhythm_of(synthesize_ecg(rng, 500, 10, 80, rr_irregularity=0.25, p_waves=False))
    assert irregular[1] > 3 * regular[1]
    assert irregular[3] > regular[3]


def test_a_wide_qrs_measures_wider_than_a_narrow_one() -> None:
    rng = np.random.default_rng(3)
    narrow = synthesize_ecg(rng, 500, 10, 70, qrs_width_s=0.08)
    wide = synthesize_ecg(rng, 500, 10, 70, qrs_width_s=0.15, rsr_prime=True)
    narrow_ms = morphology_features(narrow, detect_beats(narrow))[QRS_DURATION] * 100
    wide_ms = morphology_features(wide, detect_beats(wide))[QRS_DURATION] * 100
    assert 50 < narrow_ms < 130 and wide_ms > narrow_ms + 30


def test_flat_or_short_signals_give_zero_measurements() -> None:
    assert not measurements(np.zeros((12, 5000), np.float32)).any()
    assert not measurements(np.ones((12, 300), np.float32)).any()


def test_record_features_are_demographics_then_measurements() -> None:
    signal = synthesize_ecg(np.random.default_rng(1), 500, 10, 70.0)
    features = record_features(signal, 60.0, "Female")
    assert features.shape == (CRITERION_FEATURES_START,) and features.dtype == np.float32
    assert NUM_DEMOGRAPHICS + len(RHYTHM_FEATURE_NAMES) + len(MORPHOLOGY_FEATURE_NAMES) == CRITERION_FEATURES_START
    np.testing.assert_array_equal(features[:NUM_DEMOGRAPHICS], demographic_features(60.0, "Female"))
    np.testing.assert_array_equal(features[NUM_DEMOGRAPHICS:], measurements(signal))
    assert np.isfinite(features).all()


def test_record_features_measure_the_first_five_minutes_only() -> None:
    """A day-long recording is measured at the cost of 5 minutes; a 5-minute one is measured whole."""
    assert MEASURED_SAMPLES == 5 * 60 * 500
    first = synthesize_ecg(np.random.default_rng(2), 500, 300, 60.0)
    later = synthesize_ecg(np.random.default_rng(3), 500, 60, 120.0)  # a sixth minute twice as fast
    signal = np.concatenate([first, later], axis=1)
    features = record_features(signal, 60.0, "Female")
    np.testing.assert_array_equal(features, record_features(first, 60.0, "Female"))
    np.testing.assert_array_equal(features[NUM_DEMOGRAPHICS:], measurements(first))
    heart_rate = RHYTHM_FEATURE_NAMES.index("heart rate / 100 bpm")
    assert features[NUM_DEMOGRAPHICS + heart_rate] * 100 == pytest.approx(60.0, rel=0.05)
    assert measurements(signal)[heart_rate] > features[NUM_DEMOGRAPHICS + heart_rate]  # the whole would differ


@pytest.mark.parametrize("frequency", [257, 500, 1000])
def test_the_qrs_filter_follows_the_sampling_rate(frequency: int) -> None:
    """Beat detection passes the QRS band (5-25 Hz) and stops baseline wander and mains hum at any rate."""
    band = _qrs_band(frequency)
    hertz, response = sosfreqz(band, worN=[1.0, 12.0, 50.0], fs=frequency)
    gain = dict(zip(hertz.round().astype(int).tolist(), np.abs(response).tolist(), strict=True))
    assert gain[12] > 0.9 and gain[1] < 0.1 and gain[50] < 0.3, gain
    # And the same rhythm gives the same beats, in seconds.
    signal = synthesize_ecg(np.random.default_rng(7), frequency, 10, 75.0, rr_irregularity=0.0)
    beats = detect_beats(signal, frequency)
    assert rhythm_features(beats, signal.shape[1], frequency)[0] * 100 == pytest.approx(75.0, rel=0.05)


@pytest.mark.parametrize("beats", [2, 3, 11, 12])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_median_beat_is_numpys_median_bit_for_bit(beats: int, dtype: type) -> None:
    """The morphology features (and so the signal cache and every output) stay what np.median made them."""
    stacked = np.random.default_rng(beats).normal(size=(12, 350, beats)).astype(dtype)
    stacked[0, 0] = 0.25  # ties
    median = median_beat(stacked)
    assert median.dtype == dtype
    np.testing.assert_array_equal(median, np.median(stacked, axis=-1))


@pytest.mark.parametrize("frequency", [250.0, 500.0])
def test_zero_phase_is_scipys_sosfiltfilt(frequency: float) -> None:
    values = np.random.default_rng(13).standard_normal((12, 2500))
    np.testing.assert_array_equal(zero_phase(_qrs_band, frequency, values), sosfiltfilt(_qrs_band(frequency), values))


def test_block_means() -> None:
    values = np.random.default_rng(14).standard_normal((3, 103)).astype(np.float32)
    means = block_means(values, 4)
    assert means.shape == (3, 25) and means.dtype == np.float64
    np.testing.assert_allclose(means, values[:, :100].reshape(3, 25, 4).mean(axis=2, dtype=np.float64), rtol=1e-12)
