"""Signal loading: .mat and WFDB .dat files, whole or by ranges, counts -> mV, and a RecordError for every broken
file."""

from __future__ import annotations

import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import STANDARD_LEADS, make_header_text, write_mat, write_wfdb_dat

from ecg12.headers import RecordError, parse_header, read_header
from ecg12.preprocess import FilledGapsWarning, prepare_signal
from ecg12.recordings import (
    MAX_WHOLE_FILE_SAMPLES,
    check_counts,
    find_recordings,
    load_counts,
    load_signal,
    open_counts,
    signal_file,
    to_millivolts,
)
from ecg12.synthetic import write_compressed_zeros_mat

MakeRecord = Callable[..., tuple[Path, Path]]

# wfdb (imported by some tests to cross-check) uses a pandas idiom that newer pandas deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")


# --- .mat files ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mat_format", ["4", "5"])
@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float64])
def test_mat_counts_round_trip(tmp_path: Path, mat_format: str, dtype: type) -> None:
    val = np.random.default_rng(1).integers(-32768, 32767, (12, 777)).astype(dtype)
    write_mat(tmp_path / "r.mat", val, fmt=mat_format)
    header = parse_header(make_header_text("r", 12, 777), tmp_path / "r.hea")
    counts = load_counts(tmp_path / "r.mat", header)
    assert counts.dtype == np.float64
    np.testing.assert_array_equal(counts, val.astype(np.float64))


@pytest.mark.parametrize(
    ("gain", "units", "expected"),
    [
        ("1000/mV", "mV", lambda c: c / 1000.0),
        ("1000(0)/mV", "mV", lambda c: c / 1000.0),
        ("1000.0(5)/mV", "mV", lambda c: (c - 5) / 1000.0),
        ("4880/mV", "mV", lambda c: c / 4880.0),
        ("200.0(-12)/mv", "mv", lambda c: (c + 12) / 200.0),
        ("1000/uV", "uV", lambda c: c / 1000.0 / 1000.0),  # counts per microvolt -> mV
        ("1/\u00b5V", "\u00b5V", lambda c: c / 1000.0),
        ("2/V", "V", lambda c: c / 2.0 * 1000.0),
    ],
)
def test_millivolts_are_counts_minus_baseline_over_gain(
    gain: str, units: str, expected: Callable[[np.ndarray], np.ndarray]
) -> None:
    counts = np.random.default_rng(2).integers(-3000, 3000, (12, 50)).astype(np.float64)
    header = parse_header(make_header_text("r", 12, 50, gain=gain), "r.hea")
    assert header.leads[0].units == units
    np.testing.assert_allclose(to_millivolts(counts, header), expected(counts), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("units", "millivolts_per_unit"),
    [
        ("mV", 1.0),
        ("MV", 1.0),
        ("millivolt", 1.0),
        ("Millivolts", 1.0),
        ("uV", 1e-3),
        ("UV", 1e-3),
        ("\u00b5V", 1e-3),  # micro sign
        ("\u03bcV", 1e-3),  # Greek small letter mu
        ("\u00b5v", 1e-3),
        ("microvolt", 1e-3),
        ("MicroVolts", 1e-3),
        ("nV", 1e-6),
        ("nanovolt", 1e-6),
        ("V", 1e3),
        ("volt", 1e3),
        ("Volts", 1e3),
    ],
)
def test_units_spellings_convert_to_millivolts(units: str, millivolts_per_unit: float) -> None:
    counts = np.random.default_rng(6).integers(-3000, 3000, (12, 50)).astype(np.float64)
    header = parse_header(make_header_text("r", 12, 50, gain=f"250(7)/{units}"), "r.hea")
    np.testing.assert_allclose(to_millivolts(counts, header), (counts - 7) / 250 * millivolts_per_unit, rtol=1e-12)


@pytest.mark.parametrize("units", ["mmHg", "NU", "kV", "\ufffdV", "mV2", "degC", "u", "mu"])
def test_unknown_units_are_an_error_naming_the_file_lead_and_units(units: str) -> None:
    text = make_header_text("r", 3, 50, lead_names=["I", "II", "III"])
    text = text.replace("1000/mV 16 0 0 0 0 II\n", f"1000/{units} 16 0 0 0 0 II\n")
    header = parse_header(text, "/data/X0043.hea")
    with pytest.raises(RecordError) as caught:
        to_millivolts(np.zeros((3, 50)), header)
    message = str(caught.value)
    assert message.startswith("/data/X0043.hea: ")
    assert f"lead II in {units!r}" in message


def test_latin1_microvolts_in_a_header_file(make_record: MakeRecord) -> None:
    # The micro sign as the single Latin-1 byte 0xB5, as older WFDB tools wrote it: counts per microvolt.
    header_bytes = make_header_text("U1", 12, 500, gain="5/\u00b5V").encode("latin-1")
    header_path, mat_path = make_record("U1", header=header_bytes)
    _, signal = load_signal(header_path)
    counts = scipy.io.loadmat(mat_path)["val"]
    np.testing.assert_allclose(signal, counts / 5 / 1000)


def test_millivolts_per_lead_gain_and_baseline() -> None:
    text = "r 3 500 4\nr.mat 16 100(1)/mV 16 0 0 0 0 I\nr.mat 16 200/mV 16 -4 0 0 0 II\nr.mat 16 0/mV 16 0 0 0 0 V1\n"
    header = parse_header(text, "r.hea")
    counts = np.arange(12, dtype=np.float64).reshape(3, 4)
    expected = np.stack([(counts[0] - 1) / 100, (counts[1] + 4) / 200, counts[2] / 200])
    np.testing.assert_allclose(to_millivolts(counts, header), expected)


def test_load_signal_reads_the_header_beside_the_signal(make_record: MakeRecord) -> None:
    header_path, _ = make_record("A0001", num_samples=321, gain="500(10)/mV")
    header, signal = load_signal(header_path)
    val = scipy.io.loadmat(header_path.with_suffix(".mat"))["val"]
    assert header.record_name == "A0001"
    np.testing.assert_allclose(signal, (val - 10) / 500.0)


def test_float_val_with_finite_values_loads(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record(val=np.linspace(-5, 5, 24).reshape(12, 2))
    np.testing.assert_array_equal(
        load_counts(mat_path, read_header(header_path)), np.linspace(-5, 5, 24).reshape(12, 2)
    )


# --- WFDB .dat files -----------------------------------------------------------------------------------------------


def wfdb_record(folder: Path, name: str, digital: np.ndarray, fmt: str) -> Path:
    """Write a record with wfdb.wrsamp (digital samples x leads); returns the .dat path.

    wfdb cannot write formats 61 (big-endian 16 bit) and 160 (offset-binary 16 bit); those are
    written as format 16, then their bytes and the header's format field are rewritten.
    """
    import wfdb

    leads = digital.shape[1]
    wfdb.wrsamp(
        name,
        fs=500,
        units=["mV"] * leads,
        sig_name=list(STANDARD_LEADS[:leads]),
        d_signal=digital,
        fmt=["16" if fmt in ("61", "160") else fmt] * leads,
        adc_gain=[1000.0] * leads,
        baseline=[0] * leads,
        write_dir=str(folder),
        comments=["Age: 56", "Sex: Female", "Dx: 426783006"],
    )
    dat, header = folder / f"{name}.dat", folder / f"{name}.hea"
    if fmt in ("61", "160"):
        values = digital.astype(np.int64).reshape(-1)
        dat.write_bytes(values.astype(">i2").tobytes() if fmt == "61" else (values + 32768).astype("<u2").tobytes())
        header.write_text(header.read_text().replace(f"{name}.dat 16 ", f"{name}.dat {fmt} "))
    return dat


def test_ptbxl_style_dat_matches_wfdb(tmp_path: Path) -> None:
    import wfdb

    physical = np.random.default_rng(3).normal(0, 1, (1000, 12)).round(3)
    header_path = write_wfdb_dat(tmp_path, "00001_hr", physical)
    assert "1000.0(0)/mV" in header_path.read_text()  # the PTB-XL gain style
    header, signal = load_signal(header_path)
    record = wfdb.rdrecord(str(tmp_path / "00001_hr"))
    digital = wfdb.rdrecord(str(tmp_path / "00001_hr"), physical=False)
    assert signal_file(header_path).suffix == ".dat"
    np.testing.assert_array_equal(load_counts(tmp_path / "00001_hr.dat", header), digital.d_signal.T)
    np.testing.assert_allclose(signal, record.p_signal.T, atol=1e-12)
    np.testing.assert_allclose(signal, physical.T, atol=1e-9)


@pytest.mark.parametrize(
    ("fmt", "low", "high", "shape"),
    [
        ("16", -32767, 32767, (200, 12)),
        ("61", -32767, 32767, (200, 12)),
        ("80", -127, 127, (200, 12)),
        ("24", -(2**23) + 1, 2**23 - 1, (200, 12)),
        ("32", -(2**31) + 1, 2**31 - 1, (200, 12)),
        ("212", -2047, 2047, (200, 12)),
        ("212", -2047, 2047, (5, 3)),  # an odd number of samples in all
        ("160", -32767, 32767, (200, 12)),  # decoded by the wfdb package
    ],
)
def test_dat_formats_match_wfdb(tmp_path: Path, fmt: str, low: int, high: int, shape: tuple[int, int]) -> None:
    import wfdb

    digital = np.random.default_rng(4).integers(low, high, shape, endpoint=True)
    digital[0, 0], digital[1, 0] = low, high
    dat = wfdb_record(tmp_path, "rec", digital, fmt)
    header = read_header(dat.with_suffix(".hea"))
    counts = load_counts(dat, header)
    np.testing.assert_array_equal(counts, wfdb.rdrecord(str(tmp_path / "rec"), physical=False).d_signal.T)
    np.testing.assert_array_equal(counts, digital.T)


def test_dat_with_georgia_record_name_and_non_ascii_header(tmp_path: Path) -> None:
    digital = np.random.default_rng(5).integers(-500, 500, (300, 12))
    dat = wfdb_record(tmp_path, "E00015", digital, "16")
    header_path = dat.with_suffix(".hea")
    raw = header_path.read_bytes().replace(b"E00015 12", b"E00015.dat 12", 1) + "#Sx: \u00e9\n".encode("latin-1")
    header_path.write_bytes(raw)
    header, signal = load_signal(header_path)
    assert header.record_name == "E00015"
    np.testing.assert_allclose(signal, digital.T / 1000.0)


@pytest.mark.parametrize("fmt", ["16", "61", "80", "24", "32", "212", "160"])
def test_dat_invalid_samples_are_nan_like_wfdb(tmp_path: Path, fmt: str) -> None:
    # WFDB reserves each format's most negative value for a missing sample; wfdb's physical reading makes it NaN.
    import wfdb

    bits = {"16": 16, "61": 16, "80": 8, "24": 24, "32": 32, "212": 12, "160": 16}[fmt]
    digital = np.random.default_rng(7).integers(-100, 100, (50, 12))
    invalid = -(2 ** (bits - 1))
    digital[10:20, 2] = invalid
    digital[0, 5] = invalid
    digital[:, 7] = invalid
    dat = wfdb_record(tmp_path, "rec", digital, fmt)
    counts = load_counts(dat, read_header(dat.with_suffix(".hea")))
    physical = wfdb.rdrecord(str(tmp_path / "rec")).p_signal.T
    missing = np.equal(digital.T, invalid)
    np.testing.assert_array_equal(np.isnan(counts), missing)
    np.testing.assert_array_equal(np.isnan(counts), np.isnan(physical))
    np.testing.assert_array_equal(counts[~missing], digital.T[~missing])


def test_dat_gap_is_filled_when_prepared(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 1000, 2), (12, 1)).T  # a ramp in every lead: linear filling restores it
    digital = ramp.copy()
    digital[100:110, 1] = -32768
    dat = wfdb_record(tmp_path, "gap", digital, "16")
    header, signal = load_signal(dat.with_suffix(".hea"))
    with pytest.warns(FilledGapsWarning, match=r"gap\.hea: .*10 of 500 samples in II"):
        prepared = prepare_signal(signal, header)
    np.testing.assert_allclose(prepared, ramp.T / 1000.0, atol=1e-6)


def test_dat_declaring_more_than_its_file_holds_allocates_nothing_for_it(tmp_path: Path) -> None:
    dat = wfdb_record(tmp_path, "big", np.ones((100, 12), dtype=np.int64), "16")
    header_path = dat.with_suffix(".hea")
    days = 6 * 24 * 3600 * 500  # within the header limits: 6 days at 500 Hz, 7.5 GB of format-16 samples
    header_path.write_text(header_path.read_text().replace("big 12 500 100", f"big 12 500 {days}", 1))
    tracemalloc.start()
    try:
        with pytest.raises(RecordError, match=r"big\.dat: signal file is truncated: 2400 bytes"):
            load_counts(dat, read_header(header_path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_truncated_dat(tmp_path: Path) -> None:
    dat = wfdb_record(tmp_path, "rec", np.ones((100, 12), dtype=np.int64), "16")
    dat.write_bytes(dat.read_bytes()[:1000])
    with pytest.raises(RecordError, match=r"rec\.dat: signal file is truncated: 1000 bytes .* need 2400"):
        load_counts(dat, read_header(dat.with_suffix(".hea")))


def test_dat_shorter_than_header_through_wfdb(tmp_path: Path) -> None:
    dat = wfdb_record(tmp_path, "rec", np.ones((100, 12), dtype=np.int64), "160")
    dat.write_bytes(dat.read_bytes()[:1001])
    with pytest.raises(RecordError, match=r"rec\.dat: "):
        load_counts(dat, read_header(dat.with_suffix(".hea")))


# --- broken .mat files: RecordError naming the file and the problem ------------------------------------------------


def load_error(header_path: Path, mat_path: Path) -> str:
    with pytest.raises(RecordError) as caught:
        load_signal(header_path)
    message = str(caught.value)
    assert mat_path.name in message or header_path.name in message
    return message


def test_mat_without_val_lists_its_variables(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("X1")
    scipy.io.savemat(mat_path, {"data": np.zeros((12, 500)), "fs": 500})
    message = load_error(header_path, mat_path)
    assert "X1.mat" in message
    assert "no variable 'val'" in message
    assert "data, fs" in message


def test_empty_mat(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("X2")
    mat_path.write_bytes(b"")
    assert "X2.mat: MAT file is empty (0 bytes)" in load_error(header_path, mat_path)


@pytest.mark.parametrize("fraction", [0.5, 0.9, 0.01])
def test_truncated_mat(make_record: MakeRecord, fraction: float) -> None:
    header_path, mat_path = make_record("X3")
    data = mat_path.read_bytes()
    mat_path.write_bytes(data[: int(len(data) * fraction)])
    assert "X3.mat: unreadable MAT file" in load_error(header_path, mat_path)


@pytest.mark.parametrize("content", [b"this is not a MAT file, just some text\n" * 10, bytes(range(256)) * 4])
def test_not_a_mat_file(make_record: MakeRecord, content: bytes) -> None:
    header_path, mat_path = make_record("X4")
    mat_path.write_bytes(content)
    assert "X4.mat: unreadable MAT file" in load_error(header_path, mat_path)


def test_transposed_val(make_record: MakeRecord) -> None:
    val = np.zeros((12, 500), dtype=np.int16)
    header_path, mat_path = make_record("X5", val=val)
    write_mat(mat_path, val.T)
    message = load_error(header_path, mat_path)
    assert "X5.mat: signal has shape (500, 12) but the header declares (12, 500)" in message


@pytest.mark.parametrize("shape", [(12, 499), (12, 501), (11, 500), (1, 6000)])
def test_val_shape_disagrees_with_header(make_record: MakeRecord, shape: tuple[int, int]) -> None:
    header_path, mat_path = make_record("X6", num_samples=500, header=make_header_text("X6", 12, 500))
    write_mat(mat_path, np.zeros(shape, dtype=np.int16))
    assert f"signal has shape {shape} but the header declares (12, 500)" in load_error(header_path, mat_path)


def test_three_dimensional_val(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("X7", header=make_header_text("X7", 12, 500))
    scipy.io.savemat(mat_path, {"val": np.zeros((12, 500, 2))})
    assert "'val' must be a 2-D numeric array" in load_error(header_path, mat_path)


def test_non_numeric_val(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("X8", header=make_header_text("X8", 1, 5))
    scipy.io.savemat(mat_path, {"val": np.array(["hello"])})
    assert "'val' must be a 2-D numeric array" in load_error(header_path, mat_path)


def test_nan_samples_load_and_are_filled_when_prepared(make_record: MakeRecord) -> None:
    val = np.random.default_rng(8).integers(-2000, 2000, (12, 500)).astype(np.float64)
    val[3, 100:110] = np.nan
    header_path, mat_path = make_record("X9", val=val)
    header = read_header(header_path)
    counts = load_counts(mat_path, header)
    assert np.count_nonzero(np.isnan(counts)) == 10
    with pytest.warns(FilledGapsWarning, match=r"X9\.hea: .*10 of 500 samples in aVR"):
        prepared = prepare_signal(to_millivolts(counts, header), header)
    assert np.isfinite(prepared).all()


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_samples_load_but_cannot_be_prepared(make_record: MakeRecord, bad: float) -> None:
    val = np.zeros((12, 500))
    val[3, 100:110] = bad
    header_path, mat_path = make_record("X9", val=val)
    header = read_header(header_path)
    counts = load_counts(mat_path, header)
    assert np.count_nonzero(~np.isfinite(counts)) == 10
    with pytest.raises(RecordError, match=r"X9\.hea: infinite samples .*10 in aVR"):
        prepare_signal(to_millivolts(counts, header), header)


def test_missing_signal_file(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("X10")
    mat_path.unlink()
    with pytest.raises(RecordError, match=r"X10\.hea: no \.mat or \.dat signal file"):
        load_signal(header_path)
    with pytest.raises(RecordError, match=r"X10\.mat: signal file not found"):
        load_counts(mat_path, read_header(header_path))


def test_missing_header_file(make_record: MakeRecord) -> None:
    header_path, _ = make_record("X11")
    header_path.unlink()
    with pytest.raises(RecordError, match=r"X11\.hea: cannot read header"):
        load_signal(header_path)


# --- finding recordings --------------------------------------------------------------------------------------------


def test_find_recordings(tmp_path: Path, make_record: MakeRecord) -> None:
    make_record("B2")
    make_record("A1")
    make_record("with space")
    orphan, _ = make_record("C3")
    orphan.with_suffix(".mat").unlink()  # a header whose signal file is absent is not listed
    make_record(".hidden")
    (tmp_path / "lonely.mat").write_bytes(b"")  # a signal file without header is not listed either
    (tmp_path / "notes.txt").write_text("x")
    dat = wfdb_record(tmp_path, "D4", np.zeros((10, 12), dtype=np.int64), "16")
    found = find_recordings(tmp_path)
    assert [path.name for path in found] == ["A1.hea", "B2.hea", "D4.hea", "with space.hea"]
    assert signal_file(found[2]) == dat
    assert signal_file(found[3]) == tmp_path / "with space.mat"


def test_find_recordings_in_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="not a directory"):
        find_recordings(tmp_path / "absent")


# --- reading a range of samples ------------------------------------------------------------------------------------


def random_ranges(samples: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, samples, 8)
    return [
        (0, samples),
        (0, 1),
        (samples - 1, samples),
        *((int(s), int(rng.integers(s, samples + 1))) for s in starts),
    ]


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float64, np.float32, np.uint8, np.uint16])
def test_a_v4_mat_is_read_by_ranges_as_scipy_reads_it_whole(tmp_path: Path, dtype: type) -> None:
    val = np.random.default_rng(9).integers(0, 250, (12, 1001)).astype(dtype)
    if np.issubdtype(dtype, np.floating):
        val[2, 10:20] = np.nan
    write_mat(tmp_path / "r.mat", val)
    counts = open_counts(tmp_path / "r.mat", parse_header(make_header_text("r", 12, 1001), tmp_path / "r.hea"))
    assert counts.shape == (12, 1001)
    for start, stop in random_ranges(1001, seed=1):
        np.testing.assert_array_equal(counts.read(start, stop), val[:, start:stop].astype(np.float64))


def test_a_long_v4_mat_costs_memory_for_the_range_read_only(tmp_path: Path) -> None:
    samples = 500_000  # 12 MB of int16 in the file, 48 MB as float64
    write_mat(tmp_path / "long.mat", np.ones((12, samples), dtype=np.int16))
    header = parse_header(make_header_text("long", 12, samples), tmp_path / "long.hea")
    tracemalloc.start()
    try:
        counts = open_counts(tmp_path / "long.mat", header)
        window = counts.read(250_000, 255_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(window, np.ones((12, 5000)))
    assert peak < 2 * window.nbytes


@pytest.mark.parametrize("layout", ["v5", "two variables", "val second"])
def test_other_mat_files_are_read_whole_with_the_same_counts(tmp_path: Path, layout: str) -> None:
    val = np.random.default_rng(10).integers(-500, 500, (12, 300)).astype(np.int16)
    path = tmp_path / "r.mat"
    if layout == "v5":
        scipy.io.savemat(path, {"val": val})
    else:
        variables = {"val": val, "fs": np.array([[500]])}
        scipy.io.savemat(path, dict(reversed(variables.items())) if layout == "val second" else variables, format="4")
    counts = open_counts(path, parse_header(make_header_text("r", 12, 300), tmp_path / "r.hea"))
    for start, stop in random_ranges(300, seed=2):
        np.testing.assert_array_equal(counts.read(start, stop), val[:, start:stop])


@pytest.mark.parametrize(
    ("fmt", "leads"), [("16", 12), ("61", 12), ("80", 12), ("24", 12), ("32", 12), ("212", 12), ("212", 3)]
)
def test_a_dat_file_is_read_by_ranges_as_it_is_read_whole(tmp_path: Path, fmt: str, leads: int) -> None:
    bits = {"16": 16, "61": 16, "80": 8, "24": 24, "32": 32, "212": 12}[fmt]
    digital = np.random.default_rng(11).integers(-100, 100, (301, leads))  # an odd number of samples
    digital[40:60, 1] = -(2 ** (bits - 1))  # missing samples
    dat = wfdb_record(tmp_path, "rec", digital, fmt)
    whole = load_counts(dat, read_header(dat.with_suffix(".hea")))
    counts = open_counts(dat, read_header(dat.with_suffix(".hea")))
    for start, stop in random_ranges(301, seed=3):
        np.testing.assert_array_equal(counts.read(start, stop), whole[:, start:stop])
    assert np.isnan(counts.read(30, 70)[1, 10:30]).all()


# --- what one file may cost: declared sizes checked before reading -------------------------------------------------


def test_a_compressed_mat_declaring_more_than_a_file_read_whole_may_hold_is_refused_before_decompressing(
    tmp_path: Path,
) -> None:
    samples = MAX_WHOLE_FILE_SAMPLES // 12 + 1  # 12 x 5,592,406 int16 zeros: 134 MB of samples in a 130 KB file
    path = write_compressed_zeros_mat(tmp_path / "bomb.mat", 12, samples)
    assert path.stat().st_size < 200_000
    header = parse_header(make_header_text("bomb", 12, samples), tmp_path / "bomb.hea")
    tracemalloc.start()
    try:
        with pytest.raises(RecordError) as refused:
            open_counts(path, header)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(refused.value)
    assert message.startswith(f"{path}: signal file declares {12 * samples:,} samples")
    assert f"more than the {MAX_WHOLE_FILE_SAMPLES:,} that a file read whole may hold" in message
    assert peak < 1_000_000


def test_a_compressed_mat_within_the_bound_is_read(tmp_path: Path) -> None:
    path = write_compressed_zeros_mat(tmp_path / "r.mat", 12, 1000)
    counts = load_counts(path, parse_header(make_header_text("r", 12, 1000), tmp_path / "r.hea"))
    np.testing.assert_array_equal(counts, np.zeros((12, 1000)))


def test_a_compressed_mat_of_another_shape_than_its_header_is_refused_before_decompressing(tmp_path: Path) -> None:
    path = write_compressed_zeros_mat(tmp_path / "r.mat", 12, 6_000_000)
    tracemalloc.start()
    try:
        with pytest.raises(RecordError, match=r"signal has shape \(12, 6000000\) but the header declares \(12, 5000\)"):
            open_counts(path, parse_header(make_header_text("r", 12, 5000), tmp_path / "r.hea"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


@pytest.mark.parametrize("mat_format", ["4", "5"])
def test_a_complex_val_is_refused_with_a_clear_error(tmp_path: Path, mat_format: str) -> None:
    val = np.ones((12, 500)) + 1j * np.ones((12, 500))
    write_mat(tmp_path / "r.mat", val, fmt=mat_format)
    header = parse_header(make_header_text("r", 12, 500), tmp_path / "r.hea")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not numpy's ComplexWarning, which drops the imaginary part
        with pytest.raises(RecordError, match=r"r\.mat: 'val' is complex: ECG samples are real numbers"):
            load_counts(tmp_path / "r.mat", header)


@pytest.mark.parametrize("layout", ["v4 alone", "v4 two variables", "v5"])
def test_check_counts_refuses_a_header_declaring_more_than_the_file_holds_without_reading_it(
    tmp_path: Path, layout: str
) -> None:
    path = tmp_path / "r.mat"
    variables = {"val": np.ones((12, 500), dtype=np.int16)}
    if layout == "v5":
        scipy.io.savemat(path, variables)
    else:
        scipy.io.savemat(path, {**variables, "fs": np.array([[500]])} if "two" in layout else variables, format="4")
    week = parse_header(make_header_text("r", 12, 302_400_000), tmp_path / "r.hea")  # 7 days at 500 Hz
    with pytest.raises(RecordError, match=r"signal has shape \(12, 500\) but the header declares \(12, 302400000\)"):
        check_counts(path, week)
    reader = check_counts(path, parse_header(make_header_text("r", 12, 500), tmp_path / "r.hea"))
    assert (reader is not None) == (layout == "v4 alone")  # read a range at a time; the others are read whole
