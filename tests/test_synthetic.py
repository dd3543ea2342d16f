"""Synthetic records: exact round trips through helper_code, labels that follow from the signals, the messy folder."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import STANDARD_LEADS

import helper_code
from ecg12.headers import RecordError, read_header
from ecg12.preprocess import prepare_signal
from ecg12.recordings import load_counts, to_millivolts
from ecg12.synthetic import (
    ATRIAL_FIBRILLATION,
    RBBB,
    SINUS_BRADYCARDIA,
    SINUS_RHYTHM,
    SINUS_TACHYCARDIA,
    MessyFolder,
    make_learnable_dataset,
    make_messy_folder,
    synthesize_ecg,
    write_record,
)

# --- an independent R-peak detector and beat template, for checking the labels ------------------------------------


def r_peaks(signal_mv: np.ndarray, frequency: float) -> np.ndarray:
    """R-peak sample indices: squared slope of the 20 ms-smoothed leads, summed, smoothed 60 ms, thresholded."""
    short = max(1, round(0.02 * frequency))
    smooth = np.stack([np.convolve(row, np.ones(short) / short, mode="same") for row in signal_mv])
    width = max(1, round(0.06 * frequency))
    energy = np.convolve((np.diff(smooth, axis=1) ** 2).sum(axis=0), np.ones(width) / width, mode="same")
    above = np.r_[False, energy > 0.3 * np.percentile(energy, 99.5), False]
    starts = np.flatnonzero(above[1:] & ~above[:-1])
    ends = np.flatnonzero(above[:-1] & ~above[1:])
    peaks: list[int] = []
    for start, end in zip(starts, ends, strict=True):
        peak = start + int(np.argmax(energy[start:end]))
        if peaks and peak - peaks[-1] < 0.25 * frequency:  # refractory period: keep the stronger
            if energy[peak] > energy[peaks[-1]]:
                peaks[-1] = peak
        else:
            peaks.append(peak)
    return np.array(peaks)


def beat_template(signal_mv: np.ndarray, peaks: np.ndarray, before: int, after: int) -> np.ndarray:
    """Median beat (leads x (before + after)) around the peaks that fit in the recording."""
    beats = [signal_mv[:, p - before : p + after] for p in peaks if p >= before and p + after <= signal_mv.shape[1]]
    return np.median(np.stack(beats), axis=0)


def measure(signal_mv: np.ndarray, frequency: float) -> tuple[float, float, float]:
    """Heart rate (bpm), RR coefficient of variation, and the V1 deflection 30-100 ms after the R peak of II (mV)."""
    peaks = r_peaks(signal_mv, frequency)
    rr = np.diff(peaks) / frequency
    window = round(0.06 * frequency)
    fiducials = np.array(
        [max(0, p - window) + int(np.argmax(signal_mv[1, max(0, p - window) : p + window])) for p in peaks]
    )
    before, after = round(0.3 * frequency), round(0.2 * frequency)
    v1 = beat_template(signal_mv, fiducials, before, after)[STANDARD_LEADS.index("V1")]
    late = v1[before + round(0.03 * frequency) : before + round(0.1 * frequency)].max() - np.median(v1)
    return 60.0 / float(rr.mean()), float(rr.std() / rr.mean()), float(late)


# --- write_record --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("gain", "baseline"), [(1000.0, 0), (4880.0, 0), (200.0, -12), (1000.0, 5)])
def test_write_record_round_trips_through_helper_code(tmp_path: Path, gain: float, baseline: int) -> None:
    rng = np.random.default_rng(0)
    signal = np.cumsum(rng.normal(0, 0.05, (12, 1234)), axis=1)
    signal = np.clip(signal, -30_000 / gain, 30_000 / gain)
    header_path = write_record(
        tmp_path, "R1", signal, 500, age=64, sex="Male", codes=("1", "2"), gain=gain, baseline=baseline
    )
    assert header_path == tmp_path / "R1.hea"
    header = helper_code.load_header(header_path)
    assert helper_code.get_recording_id(header) == "R1"
    assert helper_code.get_leads(header) == list(STANDARD_LEADS)
    assert (helper_code.get_frequency(header), helper_code.get_num_samples(header)) == (500, 1234)
    assert (helper_code.get_age(header), helper_code.get_sex(header), helper_code.get_labels(header)) == (
        64.0,
        "Male",
        ["1", "2"],
    )
    np.testing.assert_array_equal(helper_code.get_adc_gains(header), [gain] * 12)
    np.testing.assert_array_equal(helper_code.get_baselines(header), [baseline] * 12)
    loaded = helper_code.load_recording(tmp_path / "R1.mat", header, physical=True)
    assert loaded.shape == signal.shape
    assert np.abs(loaded - signal).max() <= 0.5 / gain + 1e-12


def test_written_files_look_like_the_challenge_files(tmp_path: Path) -> None:
    signal = np.array([[0.001, 0.002, -0.003], [1.0, -1.0, 0.5]])
    write_record(
        tmp_path, "A9", signal, 500, lead_names=("I", "V1"), age=71.0, sex="Female", codes=(SINUS_RHYTHM, RBBB)
    )
    assert (tmp_path / "A9.hea").read_text() == (
        "A9 2 500 3\n"
        "A9.mat 16+24 1000/mV 16 0 1 0 0 I\n"
        "A9.mat 16+24 1000/mV 16 0 1000 500 0 V1\n"
        "#Age: 71\n#Sex: Female\n#Dx: 426783006,59118001\n#Rx: Unknown\n#Hx: Unknown\n#Sx: Unknown\n"
    )
    raw = (tmp_path / "A9.mat").read_bytes()
    assert raw[:4] == b"\x1e\x00\x00\x00"  # MATLAB v4, little-endian int16 matrix, as in the real files
    assert len(raw) == 24 + 2 * 6  # a 20-byte matrix header and 'val\0', then the samples
    val = scipy.io.loadmat(tmp_path / "A9.mat")["val"]
    np.testing.assert_array_equal(val, [[1, 2, -3], [1000, -1000, 500]])


def test_checksum_wraps_to_signed_16_bits_and_signal_is_clipped(tmp_path: Path) -> None:
    signal = np.full((1, 10), 20.0)  # 20 mV = 20000 counts; their sum overflows 16 bits
    signal[0, 0] = 50.0  # beyond int16: clipped to 32767
    write_record(tmp_path, "C1", signal, 250, lead_names=("II",))
    lead_line = (tmp_path / "C1.hea").read_text().splitlines()[1].split()
    total = 32767 + 9 * 20000
    assert int(lead_line[5]) == 32767
    assert int(lead_line[6]) == (total + 32768) % 65536 - 32768
    np.testing.assert_array_equal(scipy.io.loadmat(tmp_path / "C1.mat")["val"][0, :2], [32767, 20000])


def test_unknown_age_and_a_name_with_spaces(tmp_path: Path) -> None:
    header_path = write_record(tmp_path, "my record 1", np.zeros((12, 20)), 257, age=math.nan)
    assert header_path.name == "my record 1.hea"
    header = helper_code.load_header(header_path)
    assert header.startswith("my_record_1 12 257 20\n")
    assert "#Age: NaN\n#Sex: Unknown\n#Dx: \n" in header
    assert math.isnan(helper_code.get_age(header))
    assert helper_code.load_recording(tmp_path / "my record 1.mat").shape == (12, 20)


# --- synthesize_ecg ------------------------------------------------------------------------------------------------


def test_synthesize_ecg_is_deterministic_and_plausible() -> None:
    first = synthesize_ecg(np.random.default_rng(11), 500, 10, 72)
    again = synthesize_ecg(np.random.default_rng(11), 500, 10, 72)
    other = synthesize_ecg(np.random.default_rng(12), 500, 10, 72)
    assert first.shape == (12, 5000)
    assert first.dtype == np.float64
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.isfinite(first).all()
    peak_to_peak = np.ptp(first, axis=1)
    assert peak_to_peak[1] > 0.5  # lead II shows clear QRS complexes
    assert (peak_to_peak < 6).all()
    heart_rate, irregularity, _ = measure(first, 500)
    assert heart_rate == pytest.approx(72, abs=5)
    assert irregularity < 0.08


@pytest.mark.parametrize(("frequency", "seconds", "samples"), [(257, 3, 771), (1000, 0.5, 500), (500, 0.001, 1)])
def test_synthesize_ecg_length(frequency: float, seconds: float, samples: int) -> None:
    assert synthesize_ecg(np.random.default_rng(0), frequency, seconds, 80).shape == (12, samples)


def test_limb_leads_obey_einthoven_without_noise() -> None:
    ecg = synthesize_ecg(np.random.default_rng(3), 500, 4, 70, noise_mv=0, wander_mv=0)
    lead = {name: ecg[i] for i, name in enumerate(STANDARD_LEADS)}
    np.testing.assert_allclose(lead["III"], lead["II"] - lead["I"], atol=1e-12)
    np.testing.assert_allclose(lead["aVR"], -(lead["I"] + lead["II"]) / 2, atol=1e-12)
    np.testing.assert_allclose(lead["aVL"], lead["I"] - lead["II"] / 2, atol=1e-12)
    np.testing.assert_allclose(lead["aVF"], lead["II"] - lead["I"] / 2, atol=1e-12)


def test_p_waves_and_rsr_prime_are_where_they_should_be() -> None:
    def clean(**options: object) -> np.ndarray:
        return synthesize_ecg(np.random.default_rng(4), 500, 6, 50, 0.0, noise_mv=0, wander_mv=0, **options)  # type: ignore[arg-type]

    def template(ecg: np.ndarray) -> np.ndarray:
        peaks = r_peaks(ecg, 500)
        return beat_template(ecg, np.array([p - 30 + int(np.argmax(ecg[1, p - 30 : p + 30])) for p in peaks]), 150, 100)

    with_p, without_p = template(clean()), template(clean(p_waves=False))
    p_window = slice(150 - 100, 150 - 40)  # 200-80 ms before R
    assert np.ptp(with_p[1, p_window]) > 0.05
    assert np.ptp(without_p[1, p_window]) < 0.01
    v1 = STANDARD_LEADS.index("V1")
    normal, rbbb = template(clean(qrs_width_s=0.09)), template(clean(qrs_width_s=0.14, rsr_prime=True))
    late = slice(150 + 15, 150 + 50)  # 30-100 ms after R
    assert normal[v1, late].max() < 0.1
    assert rbbb[v1, late].max() > 0.5


# --- the learnable dataset -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def learnable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, tuple[str, ...]]]]:
    folder = tmp_path_factory.mktemp("learnable")
    return folder, make_learnable_dataset(folder, 32, seed=7)


def test_learnable_dataset_round_trips_with_balanced_labels(learnable: tuple[Path, list]) -> None:
    folder, records = learnable
    header_files, recording_files = helper_code.find_challenge_files(folder)
    assert (
        [Path(h).stem for h in header_files] == [name for name, _ in records] == [f"SYN{i:05d}" for i in range(1, 33)]
    )
    rhythms = {SINUS_RHYTHM: 0, SINUS_BRADYCARDIA: 0, SINUS_TACHYCARDIA: 0, ATRIAL_FIBRILLATION: 0}
    rbbb, ages, sexes = 0, set(), set()
    for (_, codes), header_file, recording_file in zip(records, header_files, recording_files, strict=True):
        header = helper_code.load_header(header_file)
        assert tuple(helper_code.get_labels(header)) == codes
        assert sum(code in rhythms for code in codes) == 1  # exactly one rhythm class
        assert set(codes) <= {*rhythms, RBBB}
        for code in codes:
            if code in rhythms:
                rhythms[code] += 1
        rbbb += RBBB in codes
        ages.add(helper_code.get_age(header))
        sexes.add(helper_code.get_sex(header))
        signal = helper_code.load_recording(recording_file, header, physical=True)
        assert signal.shape == (12, 5000)
        assert helper_code.get_frequency(header) == 500
    assert list(rhythms.values()) == [8, 8, 8, 8]
    assert 6 <= rbbb <= 12
    assert len(ages) >= 10
    assert {"Male", "Female"} <= sexes


def test_learnable_labels_follow_from_the_signals(learnable: tuple[Path, list]) -> None:
    folder, records = learnable
    for name, codes in records:
        signal = helper_code.load_recording(folder / f"{name}.mat", physical=True)
        heart_rate, irregularity, late_v1 = measure(signal, 500)
        context = f"{name} {codes}: {heart_rate:.0f} bpm, RR variation {irregularity:.3f}, late V1 {late_v1:.2f} mV"
        if ATRIAL_FIBRILLATION in codes:
            assert irregularity > 0.12, context
        else:
            assert irregularity < 0.08, context
            if SINUS_RHYTHM in codes:
                assert 60 <= heart_rate <= 100, context
            elif SINUS_BRADYCARDIA in codes:
                assert heart_rate < 55, context
            else:
                assert SINUS_TACHYCARDIA in codes
                assert heart_rate > 105, context
        if RBBB in codes:
            assert late_v1 > 0.5, context  # the R' of rSR' in V1
        else:
            assert late_v1 < 0.2, context


def test_learnable_dataset_is_deterministic(tmp_path: Path) -> None:
    first = make_learnable_dataset(tmp_path / "a", 5, seed=1, frequency=250, seconds=3)
    again = make_learnable_dataset(tmp_path / "b", 5, seed=1, frequency=250, seconds=3)
    make_learnable_dataset(tmp_path / "c", 5, seed=2, frequency=250, seconds=3)
    assert first == again
    for name, _ in first:
        for suffix in (".hea", ".mat"):
            assert (tmp_path / "a" / f"{name}{suffix}").read_bytes() == (
                tmp_path / "b" / f"{name}{suffix}"
            ).read_bytes()
    assert (tmp_path / "a" / "SYN00001.mat").read_bytes() != (tmp_path / "c" / "SYN00001.mat").read_bytes()
    assert helper_code.get_num_samples(helper_code.load_header(tmp_path / "a" / "SYN00001.hea")) == 750


# --- the messy folder ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> MessyFolder:
    return make_messy_folder(tmp_path_factory.mktemp("messy"), seed=5, include_long=False)


def test_messy_folder_holds_what_it_lists(messy: MessyFolder) -> None:
    files = {path.name for path in messy.folder.iterdir()}
    mats = {name.removesuffix(".mat") for name in files if name.endswith(".mat")}
    headers = {name.removesuffix(".hea") for name in files if name.endswith(".hea")}
    assert mats == set(messy.good) | set(messy.bad) == set(messy.recordings)
    assert not set(messy.good) & set(messy.bad)
    assert headers == mats - {"bad_no_header"} | set(messy.not_listed)
    assert files == {f"{name}.mat" for name in mats} | {f"{name}.hea" for name in headers}
    assert "good name with spaces" in messy.good
    assert len(messy.good) >= 15
    assert len(messy.bad) >= 12


def test_messy_good_recordings_load(messy: MessyFolder) -> None:
    for name in messy.good:
        header = helper_code.load_header(messy.folder / f"{name}.hea")
        signal = helper_code.load_recording(messy.folder / f"{name}.mat", header, physical=True)
        assert signal.shape == (len(helper_code.get_leads(header)), helper_code.get_num_samples(header)), name
        if name == "good_nan_gap":  # missing samples, as WFDB gives them: the product fills them
            assert np.isnan(signal).sum() == 50 and np.isnan(signal[2, 100:150]).all()
        else:
            assert np.isfinite(signal).all(), name
    header = {name: helper_code.load_header(messy.folder / f"{name}.hea") for name in messy.good}
    assert helper_code.get_leads(header["good_six_limb_leads"]) == list(STANDARD_LEADS[:6])
    assert sorted(helper_code.get_leads(header["good_lead_order"])) == sorted(STANDARD_LEADS)
    assert helper_code.get_leads(header["good_lead_order"]) != list(STANDARD_LEADS)
    assert helper_code.get_frequency(header["good_1000hz"]) == 1000
    assert helper_code.get_frequency(header["good_257hz"]) == 257
    assert helper_code.get_num_samples(header["good_short"]) < helper_code.get_frequency(header["good_short"])
    assert math.isnan(helper_code.get_age(header["good_age_nan"]))
    assert helper_code.get_sex(header["good_sex_unknown"]) == "Unknown"
    assert helper_code.get_recording_id(header["good_dx_spaces"]) == "good_dx_spaces"
    assert helper_code.get_labels(header["good_dx_spaces"]) == [SINUS_RHYTHM, "164861001"]
    assert b"\xe7" in (messy.folder / "good_non_ascii.hea").read_bytes()
    assert not np.any(helper_code.load_recording(messy.folder / "good_flat.mat"))


def test_messy_bad_recordings_fail_with_a_record_error(messy: MessyFolder) -> None:
    for name, reason in messy.bad.items():
        with pytest.raises(RecordError) as caught:  # what a driver iterating over the .mat files does
            mat = messy.folder / f"{name}.mat"
            header = read_header(mat.with_suffix(".hea"))
            prepare_signal(to_millivolts(load_counts(mat, header), header), header)
        assert name in str(caught.value), (name, reason)
    assert scipy.io.whosmat(messy.folder / "bad_inf.mat") == [("val", (12, 1000), "double")]
    assert scipy.io.whosmat(messy.folder / "good_nan_gap.mat") == [("val", (12, 5000), "double")]


def test_find_challenge_files_skips_what_has_no_header_or_no_signal(messy: MessyFolder) -> None:
    header_files, _ = helper_code.find_challenge_files(messy.folder)
    listed = {Path(path).stem for path in header_files}
    assert listed == set(messy.recordings) - {"bad_no_header"}
    assert not listed & set(messy.not_listed)


def test_messy_folder_with_the_30_minute_recording(tmp_path: Path) -> None:
    messy = make_messy_folder(tmp_path, seed=1)
    header = helper_code.load_header(tmp_path / "good_incart_30min.hea")
    assert (helper_code.get_frequency(header), helper_code.get_num_samples(header)) == (257, 257 * 1800)
    signal = helper_code.load_recording(tmp_path / "good_incart_30min.mat", header)
    assert signal.shape == (12, 257 * 1800)
    assert "good_incart_30min" in messy.good
    others = sum(path.stat().st_size for path in tmp_path.iterdir() if "incart" not in path.name)
    assert others < 4_000_000  # small apart from the long recording
