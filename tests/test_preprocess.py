"""Signal preparation: lead order, resampling, windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg12.headers import RecordError, parse_header
from ecg12.preprocess import (
    STANDARD_LEADS,
    MissingLeadsWarning,
    extract_windows,
    prepare_signal,
    resample,
    standardize_leads,
    window_starts,
)


def _header(leads: tuple[str, ...], frequency: float, samples: int) -> str:
    lines = [f"R1 {len(leads)} {frequency:g} {samples}"]
    lines += [f"R1.mat 16+24 1000/mV 16 0 0 0 0 {lead}" for lead in leads]
    return "\n".join([*lines, "#Age: 50", "#Sex: Male", "#Dx: 426783006"]) + "\n"


def test_leads_are_reordered_by_name_case_insensitively() -> None:
    names = [name.upper() for name in reversed(STANDARD_LEADS)]  # V6 ... AVR ... I
    signal = np.arange(12, dtype=np.float32)[:, None] * np.ones((1, 5))
    out = standardize_leads(signal, names, "r.hea")
    # input row i holds lead names[i]; after reordering, lead L's row holds its input row index
    assert out[:, 0].tolist() == [float(names.index(name.upper())) for name in STANDARD_LEADS]
    assert out[STANDARD_LEADS.index("aVR"), 0] == names.index("AVR")


def test_missing_leads_are_zero_filled_with_a_warning() -> None:
    signal = np.ones((6, 10), dtype=np.float32)
    with pytest.warns(MissingLeadsWarning, match="V1"):
        out = standardize_leads(signal, list(STANDARD_LEADS[:6]), "limb.hea")
    assert out.shape == (12, 10)
    assert (out[:6] == 1).all() and (out[6:] == 0).all()


def test_no_standard_lead_is_an_error_naming_the_file() -> None:
    with pytest.raises(RecordError, match=r"odd\.hea.*none of the 12 standard leads"):
        standardize_leads(np.ones((2, 10)), ["X", "Y"], "odd.hea")


@pytest.mark.parametrize("frequency", [257.0, 1000.0, 250.0, 360.0])
def test_resampling_to_500_hz_keeps_the_frequency_content(frequency: float) -> None:
    seconds = 8
    t = np.arange(int(seconds * frequency)) / frequency
    signal = np.vstack([np.sin(2 * np.pi * 7.0 * t)] * 12)
    out = resample(signal, frequency)
    assert out.shape[1] == math.ceil(signal.shape[1] * 500 / frequency)
    spectrum = np.abs(np.fft.rfft(out[0]))
    peak_hz = np.argmax(spectrum) * 500 / out.shape[1]
    assert peak_hz == pytest.approx(7.0, abs=0.2)


def test_resampling_500_hz_is_the_identity() -> None:
    signal = np.random.default_rng(0).normal(size=(12, 100))
    assert resample(signal, 500.0) is signal


@pytest.mark.parametrize(
    ("length", "expected"),
    [(100, [0]), (5000, [0]), (10000, [0, 5000]), (12000, [0, 5000, 7000]), (15000, [0, 5000, 10000])],
)
def test_windows_cover_the_recording_and_end_aligned(length: int, expected: list[int]) -> None:
    assert window_starts(length).tolist() == expected


def test_overlapping_windows_with_a_stride() -> None:
    assert window_starts(10000, stride=2500).tolist() == [0, 2500, 5000]


def test_windows_are_zero_padded_past_the_end() -> None:
    signal = np.ones((12, 3000), dtype=np.float32)
    windows = extract_windows(signal, window_starts(3000))
    assert windows.shape == (1, 12, 5000)
    assert (windows[0, :, :3000] == 1).all() and (windows[0, :, 3000:] == 0).all()


def test_prepare_signal_resamples_and_reorders() -> None:
    leads = tuple(reversed(STANDARD_LEADS))
    header = parse_header(_header(leads, 1000, 4000), "r.hea")
    signal = np.arange(12, dtype=np.float64)[:, None] * np.ones((1, 4000))
    out = prepare_signal(signal, header)
    assert out.dtype == np.float32 and out.shape == (12, 2000)
    assert out[STANDARD_LEADS.index("I"), 1000] == pytest.approx(11.0, abs=1e-3)


def test_non_finite_samples_are_an_error_naming_the_file() -> None:
    header = parse_header(_header(STANDARD_LEADS, 500, 10), "nan.hea")
    signal = np.zeros((12, 10))
    signal[3, 4] = np.nan
    signal[5, 5] = np.inf
    with pytest.raises(RecordError, match=r"nan\.hea: 2 samples are NaN or infinite"):
        prepare_signal(signal, header)
