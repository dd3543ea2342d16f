"""Signal preparation: lead order, resampling, windows, and a long recording prepared a segment at a time."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from scipy.signal import resample_poly

from ecg12 import preprocess
from ecg12.headers import Header, RecordError, parse_header
from ecg12.preprocess import (
    STANDARD_LEADS,
    WINDOW_SAMPLES,
    DegradedRecordingWarning,
    FilledGapsWarning,
    MillivoltReader,
    MissingLeadsWarning,
    PreparedSignal,
    UncalibratedLeadsWarning,
    extract_windows,
    fill_gaps,
    prepare_signal,
    resample,
    resampling_ratio,
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


def test_leads_of_adc_gain_0_are_read_at_the_default_gain_with_a_warning_naming_them() -> None:
    text = _header(STANDARD_LEADS, 500, 5000)
    for lead in ("II", "V3"):
        text = text.replace(f"1000/mV 16 0 0 0 0 {lead}\n", f"0/mV 16 0 0 0 0 {lead}\n")
    header = parse_header(text, "r.hea")
    with pytest.warns(UncalibratedLeadsWarning) as caught:
        prepare_signal(np.ones((12, 5000)), header)
    (warning,) = caught
    assert (
        str(warning.message)
        == "r.hea: ADC gain 0 (uncalibrated) in II, V3: read at WFDB's default gain, 200 ADC units per mV"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare_signal(np.ones((12, 5000)), parse_header(_header(STANDARD_LEADS, 500, 5000), "r.hea"))


def distinct_rows(leads: int, samples: int = 10) -> np.ndarray:
    """Row r holds r + 1 (plus a slope, so that no two rows and no row and its negation are equal)."""
    return (np.arange(leads, dtype=np.float64)[:, None] + 1) * (1 + np.arange(samples) / samples)


@pytest.mark.parametrize(
    ("alias", "lead"),
    [
        ("DI", "I"),
        ("DII", "II"),
        ("DIII", "III"),
        ("D1", "I"),
        ("d2", "II"),
        ("D3", "III"),
        ("AVR", "aVR"),
        ("avR", "aVR"),
        ("AVL", "aVL"),
        ("aVf", "aVF"),
        (" V1 ", "V1"),
        ("v6", "V6"),
        ("Lead II", "II"),
        ("lead_V3", "V3"),
        ("ECG I", "I"),
        ("ECG lead aVL", "aVL"),
    ],
)
def test_lead_name_aliases_are_recognised(alias: str, lead: str) -> None:
    names = list(STANDARD_LEADS)
    names[STANDARD_LEADS.index(lead)] = alias
    signal = distinct_rows(12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegradedRecordingWarning)
        out = standardize_leads(signal, names, "alias.hea")
    np.testing.assert_array_equal(out, signal)


@pytest.mark.parametrize("inverted", ["-aVR", "-AVR", "\u2212aVR", "- aVR", "-DII"])
def test_inverted_lead_is_negated(inverted: str) -> None:
    lead = "II" if inverted.endswith("DII") else "aVR"
    row = STANDARD_LEADS.index(lead)
    names = list(STANDARD_LEADS)
    names[row] = inverted
    signal = distinct_rows(12)
    out = standardize_leads(signal, names, "cabrera.hea")
    np.testing.assert_array_equal(out[row], -signal[row])
    others = [index for index in range(12) if index != row]
    np.testing.assert_array_equal(out[others], signal[others])


def test_unrecognised_lead_names_are_named_in_the_missing_leads_warning() -> None:
    # Modified leads (Holter / Mason-Likar torso placement) are not the standard ones: their axis differs.
    names = ["I", "MLII", "V1", "Resp", "V 5"]
    with pytest.warns(MissingLeadsWarning) as caught:
        out = standardize_leads(distinct_rows(5), names, "holter.hea")
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("holter.hea: ")
    assert "II, III, aVR, aVL, aVF, V2, V3, V4, V5, V6 missing" in message
    assert "unrecognised lead names: 'MLII', 'Resp', 'V 5'" in message
    assert (out[STANDARD_LEADS.index("II")] == 0).all()


def test_no_warning_for_extra_leads_beside_all_twelve() -> None:
    signal = distinct_rows(13)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegradedRecordingWarning)
        out = standardize_leads(signal, [*STANDARD_LEADS, "Resp"], "r.hea")
    np.testing.assert_array_equal(out, signal[:12])


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


def test_windows_shifted_before_the_start_are_zero_filled_there_and_keep_the_dtype() -> None:
    """Training's random shift: a negative start moves the recording right (int16 µV, as the cache stores it)."""
    signal = np.arange(1, 12 * 8000 + 1, dtype=np.int16).reshape(12, 8000)
    windows = extract_windows(signal, [-500, 0, 7000, 9000])
    assert windows.dtype == np.int16 and windows.shape == (4, 12, 5000)
    np.testing.assert_array_equal(windows[0, :, 500:], signal[:, :4500])
    assert not windows[0, :, :500].any()
    np.testing.assert_array_equal(windows[1], signal[:, :5000])
    np.testing.assert_array_equal(windows[2, :, :1000], signal[:, 7000:])
    assert not windows[2, :, 1000:].any() and not windows[3].any()
    assert extract_windows(signal, [0], dtype=np.float32).dtype == np.float32


def test_prepare_signal_resamples_and_reorders() -> None:
    leads = tuple(reversed(STANDARD_LEADS))
    header = parse_header(_header(leads, 1000, 4000), "r.hea")
    signal = np.arange(12, dtype=np.float64)[:, None] * np.ones((1, 4000))
    out = prepare_signal(signal, header)
    assert out.dtype == np.float32 and out.shape == (12, 2000)
    assert out[STANDARD_LEADS.index("I"), 1000] == pytest.approx(11.0, abs=1e-3)


def ramps(leads: int, samples: int) -> np.ndarray:
    """Lead r rises from r mV with slope (r + 1) / samples: linear filling of a gap restores it exactly."""
    return np.arange(leads, dtype=np.float64)[:, None] + np.outer(np.arange(1, leads + 1), np.arange(samples)) / samples


def test_nan_gaps_are_filled_linearly_inside_and_with_edge_values_at_the_ends() -> None:
    header = parse_header(_header(STANDARD_LEADS, 500, 1000), "gaps.hea")
    clean = ramps(12, 1000)
    signal = clean.copy()
    ii, v3, v5 = (STANDARD_LEADS.index(name) for name in ("II", "V3", "V5"))
    signal[ii, 100:120] = np.nan
    signal[v3, :5] = np.nan
    signal[v5, -7:] = np.nan
    with pytest.warns(FilledGapsWarning) as caught:
        out = prepare_signal(signal, header)
    (message,) = [str(w.message) for w in caught]
    assert issubclass(FilledGapsWarning, DegradedRecordingWarning)
    assert message.startswith("gaps.hea: ")
    assert "20 of 1000 samples in II, 5 of 1000 samples in V3, 7 of 1000 samples in V5" in message
    expected = clean.copy()
    expected[v3, :5] = clean[v3, 5]
    expected[v5, -7:] = clean[v5, -8]
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_a_lead_that_is_all_nan_is_missing() -> None:
    header = parse_header(_header(STANDARD_LEADS, 500, 100), "flat.hea")
    signal = ramps(12, 100)
    v4 = STANDARD_LEADS.index("V4")
    signal[v4] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = prepare_signal(signal, header)
    assert [type(w.message) for w in caught] == [MissingLeadsWarning]
    assert re.search(r"flat\.hea: leads V4 missing.*no valid samples in V4", str(caught[0].message))
    assert (out[v4] == 0).all()
    others = [index for index in range(12) if index != v4]
    np.testing.assert_allclose(out[others], signal[others], rtol=1e-6)


def test_an_all_nan_duplicate_gives_way_to_the_usable_lead() -> None:
    signal = ramps(13, 50)
    signal[1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegradedRecordingWarning)
        out = standardize_leads(signal, [*STANDARD_LEADS, "II"], "twice.hea")
    np.testing.assert_array_equal(out[1], signal[12])


def test_nan_in_a_lead_that_is_not_used_is_no_repair() -> None:
    header = parse_header(_header((*STANDARD_LEADS, "Resp"), 500, 100), "resp.hea")
    signal = ramps(13, 100)
    signal[12, 10:20] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegradedRecordingWarning)
        out = prepare_signal(signal, header)
    np.testing.assert_allclose(out, signal[:12], rtol=1e-6)


def test_no_lead_with_a_valid_sample_is_an_error_naming_the_file() -> None:
    header = parse_header(_header(STANDARD_LEADS, 500, 10), "void.hea")
    with pytest.raises(RecordError, match=r"void\.hea: none of the 12 standard leads .*no valid samples"):
        prepare_signal(np.full((12, 10), np.nan), header)


def test_fill_gaps_refuses_a_lead_without_any_valid_sample() -> None:
    signal = ramps(2, 10)
    signal[1] = np.nan
    with pytest.raises(RecordError, match=r"r\.hea: lead II has no valid sample"):
        fill_gaps(signal, ["I", "II"], "r.hea")


def test_infinite_samples_are_an_error_naming_the_file_and_leads() -> None:
    header = parse_header(_header(STANDARD_LEADS, 500, 10), "inf.hea")
    signal = np.zeros((12, 10))
    signal[3, 4] = np.nan
    signal[5, 5:7] = np.inf
    signal[7, 1] = -np.inf
    with pytest.raises(RecordError, match=r"inf\.hea: infinite samples .*2 in aVF, 1 in V2"):
        prepare_signal(signal, header)


@pytest.mark.parametrize("frequency", [500, 1000])
def test_amplitudes_beyond_float32_are_an_error_not_infinity(frequency: int) -> None:
    header = parse_header(_header(STANDARD_LEADS, frequency, 100), "huge.hea")
    signal = np.zeros((12, 100))
    signal[0, 50] = float(np.finfo(np.float32).max) * 4
    with pytest.raises(RecordError, match=r"huge\.hea: amplitudes too large"):
        prepare_signal(signal, header)


# --- a long recording, prepared a segment at a time ------------------------------------------------------------------

SEGMENT = 6_000  # output samples per segment in these tests (12 s at 500 Hz), so that a minute has several


@pytest.fixture
def short_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments of :data:`SEGMENT` samples (and at most twice that read), instead of 5 minutes."""
    monkeypatch.setattr(preprocess, "SEGMENT_SAMPLES", SEGMENT)
    monkeypatch.setattr(preprocess, "_SEGMENT_INPUT_SAMPLES", 2 * SEGMENT)


def prepared_at_once(signal_mv: np.ndarray, header: Header) -> np.ndarray:
    """float64 (12, N): the whole recording prepared at once, resampled by scipy's resample_poly with its own
    default filter (how ecg12 prepared every recording before segments)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegradedRecordingWarning)
        signal = fill_gaps(standardize_leads(signal_mv, header.lead_names, header.source), STANDARD_LEADS, "")
    ratio = resampling_ratio(header.frequency)
    return signal if ratio is None else resample_poly(signal, ratio.numerator, ratio.denominator, axis=1)


def reader(signal_mv: np.ndarray, reads: list[tuple[int, int]] | None = None) -> MillivoltReader:
    """Read ``signal_mv`` by ranges, noting each range in ``reads``."""

    def read(start: int, stop: int) -> np.ndarray:
        if reads is not None:
            reads.append((start, stop))
        return signal_mv[:, start:stop]

    return read


@pytest.mark.parametrize("frequency", [500, 257, 1000, 360, 128])
def test_a_recording_read_a_segment_at_a_time_is_the_whole_recording_prepared_at_once(
    frequency: int, short_segments: None
) -> None:
    rng = np.random.default_rng(frequency)
    samples = round(61.3 * frequency)
    signal = rng.standard_normal((12, samples))
    names = list(STANDARD_LEADS)
    names[3] = "-aVR"  # inverted
    signal[7] = np.nan  # V2 missing
    edge = SEGMENT * frequency // 500  # input sample of the first segments' edge
    signal[1, edge - 37 : edge + 50] = np.nan  # a gap across a segment edge
    signal[6, edge // 2 : 3 * edge] = np.nan  # a gap longer than a segment
    signal[0, :20] = np.nan  # at the start and at the end: the nearest valid value
    signal[11, -33:] = np.nan
    header = parse_header(_header(tuple(names), frequency, samples), "long.hea")
    expected = prepared_at_once(signal, header).astype(np.float32)

    reads: list[tuple[int, int]] = []
    with (
        pytest.warns(FilledGapsWarning, match=rf"long\.hea: .* 87 of {samples} samples in II"),
        pytest.warns(MissingLeadsWarning, match="V2 missing"),
    ):
        prepared = PreparedSignal(reader(signal, reads), samples, header)
    assert prepared.shape == expected.shape and prepared.dtype == np.float32
    assert max(stop - start for start, stop in reads) <= 2 * SEGMENT  # the check of the whole recording, in chunks
    for start in window_starts(expected.shape[1], WINDOW_SAMPLES, 2500):  # as the network reads it
        np.testing.assert_array_equal(prepared[:, start : start + WINDOW_SAMPLES], expected[:, start:][:, :5000])
    for _ in range(10):
        start = int(rng.integers(0, expected.shape[1]))
        stop = int(rng.integers(start, expected.shape[1] + 1))
        np.testing.assert_array_equal(prepared.samples(start, stop), expected[:, start:stop])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegradedRecordingWarning)
        np.testing.assert_array_equal(prepare_signal(signal, header), expected)


def test_a_segment_is_computed_once_while_windows_are_read_in_order(short_segments: None) -> None:
    signal = np.random.default_rng(0).standard_normal((12, 40_000))
    reads: list[tuple[int, int]] = []
    prepared = PreparedSignal(reader(signal, reads), 40_000, parse_header(_header(STANDARD_LEADS, 500, 40_000)))
    reads.clear()
    windows = list(extract_windows(prepared, window_starts(40_000)))
    np.testing.assert_array_equal(np.concatenate(windows, axis=1), signal.astype(np.float32))
    assert reads == [(0, 6000), (5000, 11000), (10000, 16000), (15000, 21000), (20000, 26000), (25000, 31000),
                     (30000, 36000), (35000, 40000)]  # fmt: skip


def test_what_concerns_the_whole_recording_fails_it_before_any_segment_is_prepared(short_segments: None) -> None:
    signal = np.zeros((12, 60_000))
    signal[3, -5:] = np.inf  # in the last segment
    signal[3, 10] = -np.inf
    signal[9] = np.nan  # V4: no valid sample, so missing
    header = parse_header(_header(STANDARD_LEADS, 500, 60_000), "late.hea")
    with pytest.warns(MissingLeadsWarning, match="V4 missing"), pytest.raises(RecordError) as caught:
        PreparedSignal(reader(signal), 60_000, header)
    assert str(caught.value) == (
        "late.hea: infinite samples (only NaN marks a missing sample, so these are not filled): 6 in aVR"
    )
    with pytest.raises(RecordError, match="recording has no samples"):
        PreparedSignal(reader(signal[:, :0]), 0, header)


@pytest.mark.parametrize("frequency", [500, 257])
@pytest.mark.parametrize("amplitude", [1e39, 3.2e38, 1e36])  # 3.2e38: resampling overshoots float32, 500 Hz does not
def test_amplitudes_beyond_float32_anywhere_fail_the_recording_as_when_prepared_at_once(
    frequency: int, amplitude: float, short_segments: None
) -> None:
    samples = 40 * frequency
    signal = np.random.default_rng(1).standard_normal((12, samples))
    signal[4, samples - 200 : samples - 100] = amplitude  # a step in the last segment: the filter overshoots it
    signal[4, samples - 100 :] = -amplitude
    header = parse_header(_header(STANDARD_LEADS, frequency, samples), "huge.hea")
    largest = float(np.abs(prepared_at_once(signal, header)).max())
    if largest > float(np.finfo(np.float32).max):
        with pytest.raises(
            RecordError, match=re.escape(f"huge.hea: amplitudes too large to represent ({largest:.3g} mV)")
        ):
            PreparedSignal(reader(signal), samples, header)
    else:
        prepared = PreparedSignal(reader(signal), samples, header)
        assert float(np.abs(prepared.samples(0, prepared.shape[1])).max()) == np.float32(largest)
