"""The Challenge-style API (helper_code) over every real sample recording and over hand-made variants.

Expected values are computed here independently of ``ecg12``: header fields by splitting lines,
signals with ``scipy.io.loadmat``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import STANDARD_LEADS, make_header_text, write_wfdb_dat

import helper_code
from ecg12.headers import RecordError, parse_header

MakeRecord = Callable[..., tuple[Path, Path]]

# wfdb (imported by some tests to cross-check) uses a pandas idiom that newer pandas deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")


def independent_header(path: Path) -> dict[str, object]:
    """The fields of a Challenge header, parsed naively (enough for the real sample files)."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    record = lines[0].split()
    num_leads = int(record[1])
    gains, baselines, leads = [], [], []
    for line in lines[1 : 1 + num_leads]:
        fields = line.split()
        match = re.fullmatch(r"([0-9.]+)(?:\((-?\d+)\))?(?:/\w+)?", fields[2])
        assert match is not None, line
        gains.append(float(match[1]))
        baselines.append(int(match[2]) if match[2] else int(fields[4]))
        leads.append(fields[8])
    comments = {line[1:].split(":")[0].strip(): line.split(":", 1)[1].strip() for line in lines if line[:1] == "#"}
    return {
        "id": record[0].removesuffix(".mat"),
        "num_leads": num_leads,
        "frequency": float(record[2]),
        "num_samples": int(record[3]),
        "gains": gains,
        "baselines": baselines,
        "leads": leads,
        "age": comments.get("Age"),
        "sex": comments.get("Sex"),
        "dx": [code.strip() for code in comments.get("Dx", "").split(",") if code.strip()],
    }


@pytest.fixture(scope="module")
def sample_files(sample_dir: Path) -> tuple[list[str], list[str]]:
    return helper_code.find_challenge_files(sample_dir)


def test_find_challenge_files_lists_every_sample_recording(sample_dir: Path, sample_files: tuple) -> None:
    header_files, recording_files = sample_files
    stems = sorted(path.stem for path in sample_dir.glob("*.mat"))
    assert len(header_files) == len(stems) >= 200
    assert [Path(h).stem for h in header_files] == stems
    assert [Path(r).stem for r in recording_files] == stems
    assert all(r.endswith(".mat") and h.endswith(".hea") for h, r in zip(header_files, recording_files, strict=True))


@pytest.mark.slow
def test_every_sample_recording_loads_with_its_declared_shape(sample_files: tuple) -> None:
    georgia_quirk = 0
    for header_file, recording_file in zip(*sample_files, strict=True):
        expected = independent_header(Path(header_file))
        header = helper_code.load_header(header_file)
        assert isinstance(header, str)
        georgia_quirk += header.split(maxsplit=1)[0].endswith(".mat")

        assert helper_code.get_recording_id(header) == expected["id"] == Path(header_file).stem
        assert helper_code.get_leads(header) == expected["leads"]
        assert helper_code.get_frequency(header) == expected["frequency"]
        assert helper_code.get_num_samples(header) == expected["num_samples"]
        np.testing.assert_array_equal(helper_code.get_adc_gains(header), expected["gains"])
        np.testing.assert_array_equal(helper_code.get_baselines(header), expected["baselines"])

        age = helper_code.get_age(header)
        assert isinstance(age, float)
        if expected["age"] in (None, "NaN", "Unknown"):
            assert math.isnan(age)
        else:
            assert age == float(expected["age"])  # type: ignore[arg-type]
        assert helper_code.get_sex(header) == expected["sex"]
        assert helper_code.get_labels(header) == expected["dx"]
        assert expected["dx"] and all(code.isdigit() for code in expected["dx"])  # type: ignore[union-attr]

        val = scipy.io.loadmat(recording_file)["val"].astype(np.float64)
        shape = (expected["num_leads"], expected["num_samples"])
        counts = helper_code.load_recording(recording_file, header)
        assert counts.shape == val.shape == shape
        np.testing.assert_array_equal(counts, val)
        physical = helper_code.load_recording(recording_file, header, physical=True)
        gains = np.array(expected["gains"])[:, None]
        baselines = np.array(expected["baselines"])[:, None]
        np.testing.assert_allclose(physical, (val - baselines) / gains, rtol=1e-12, atol=0)
    assert georgia_quirk >= 40  # the README's 43 Georgia headers named 'E00015.mat' on the record line


def test_sample_recordings_load_without_a_header_argument(sample_files: tuple) -> None:
    for header_file, recording_file in list(zip(*sample_files, strict=True))[::25]:
        np.testing.assert_array_equal(
            helper_code.load_recording(recording_file),
            helper_code.load_recording(recording_file, helper_code.load_header(header_file)),
        )


def test_sample_matches_wfdb_where_wfdb_can_read_it(sample_files: tuple) -> None:
    wfdb = pytest.importorskip("wfdb")
    checked = 0
    for header_file, recording_file in list(zip(*sample_files, strict=True))[::13]:
        if Path(header_file).read_text(errors="replace").split(maxsplit=1)[0].endswith(".mat"):
            continue  # the Georgia record-name quirk, which wfdb rejects
        record = wfdb.rdrecord(str(Path(header_file).with_suffix("")))
        physical = helper_code.load_recording(recording_file, helper_code.load_header(header_file), physical=True)
        np.testing.assert_allclose(physical, record.p_signal.T, rtol=1e-12, atol=1e-12)
        assert helper_code.get_leads(helper_code.load_header(header_file)) == record.sig_name
        checked += 1
    assert checked >= 10


# --- hand-made variants through the Challenge API ------------------------------------------------------------------


def test_header_getters_accept_text_or_parsed_header(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("A1", gain="1000.0(5)/mV", comments=("#Age: 63", "#Sex: M", "#Dx: 1, 2"))
    text = helper_code.load_header(header_path)
    assert text == header_path.read_text()
    for header in (text, parse_header(text, header_path)):
        assert helper_code.get_recording_id(header) == "A1"
        assert helper_code.get_leads(header) == list(STANDARD_LEADS)
        assert helper_code.get_age(header) == 63.0
        assert helper_code.get_sex(header) == "Male"
        assert helper_code.get_labels(header) == ["1", "2"]
    np.testing.assert_array_equal(helper_code.get_baselines(text), [5.0] * 12)
    np.testing.assert_array_equal(helper_code.get_adc_gains(text, ["V6", "I"]), [1000.0, 1000.0])
    val = scipy.io.loadmat(mat_path)["val"]
    np.testing.assert_allclose(helper_code.load_recording(mat_path, text, physical=True), (val - 5) / 1000.0)


def test_per_lead_getters_follow_the_requested_order() -> None:
    text = "r 2 500 4\nr.mat 16 100(1)/mV 16 0 0 0 0 II\nr.mat 16 200(2)/mV 16 0 0 0 0 I\n"
    np.testing.assert_array_equal(helper_code.get_adc_gains(text, ["I", "II"]), [200.0, 100.0])
    np.testing.assert_array_equal(helper_code.get_baselines(text, ["I", "II"]), [2.0, 1.0])
    with pytest.raises(RecordError, match="no lead named V1"):
        helper_code.get_adc_gains(text, ["I", "V1"])


@pytest.mark.parametrize(
    ("comments", "age", "sex"),
    [
        (("#Age: NaN", "#Sex: Unknown"), math.nan, "Unknown"),
        (("#Age: Unknown", "#Sex: F"), math.nan, "Female"),
        ((), math.nan, "Unknown"),
        (("#Age: 7", "#Sex: Female"), 7.0, "Female"),
    ],
)
def test_unknown_age_and_sex_load(make_record: MakeRecord, comments: tuple, age: float, sex: str) -> None:
    header_path, mat_path = make_record("U", comments=comments)
    header = helper_code.load_header(header_path)
    got = helper_code.get_age(header)
    assert isinstance(got, float)
    assert (math.isnan(got) and math.isnan(age)) or got == age
    assert helper_code.get_sex(header) == sex
    assert helper_code.load_recording(mat_path, header).shape == (12, 500)


def test_georgia_style_record_name(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("E00015", record_name="E00015.mat", date="05-May-2020 14:50:55")
    header = helper_code.load_header(header_path)
    assert helper_code.get_recording_id(header) == "E00015"
    assert helper_code.load_recording(mat_path, header).shape == (12, 500)


def test_non_ascii_header_loads(make_record: MakeRecord) -> None:
    text = make_header_text("N", 12, 500).encode() + "#Sx: r\u00e9sum\u00e9 \u2014\n".encode("latin-1", "replace")
    header_path, mat_path = make_record("N", header=text)
    header = helper_code.load_header(header_path)
    assert helper_code.get_labels(header) == ["426783006"]
    assert helper_code.load_recording(mat_path, header, physical=True).shape == (12, 500)


def test_dat_recording_through_helper_code(tmp_path: Path) -> None:
    wfdb = pytest.importorskip("wfdb")
    physical = np.random.default_rng(7).normal(0, 0.5, (800, 12)).round(3)
    write_wfdb_dat(tmp_path, "HR00001", physical, ["Age: 56", "Sex: Female", "Dx: 426783006"])
    header_files, recording_files = helper_code.find_challenge_files(tmp_path)
    assert recording_files == [str(tmp_path / "HR00001.dat")]
    header = helper_code.load_header(header_files[0])
    assert helper_code.get_labels(header) == ["426783006"]
    assert helper_code.get_age(header) == 56.0
    record = wfdb.rdrecord(str(tmp_path / "HR00001"))
    np.testing.assert_allclose(helper_code.load_recording(recording_files[0], header, physical=True), record.p_signal.T)
    np.testing.assert_array_equal(helper_code.load_recording(recording_files[0], header), (physical.T * 1000).round())


def test_malformed_header_is_a_record_error_naming_the_file(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("M1", header="M1 12 500\n")
    with pytest.raises(RecordError, match=r"M1\.hea: line 1: malformed record line"):
        helper_code.load_header(header_path)
    with pytest.raises(RecordError, match=r"M1\.hea: line 1: malformed record line"):
        helper_code.load_recording(mat_path)


def test_load_recording_without_its_header(make_record: MakeRecord) -> None:
    header_path, mat_path = make_record("M2")
    header_path.unlink()
    with pytest.raises(RecordError, match=r"M2\.hea: cannot read header"):
        helper_code.load_recording(mat_path)


def test_load_recording_checks_the_shape_against_the_header(make_record: MakeRecord) -> None:
    _, mat_path = make_record("M3", header=make_header_text("M3", 12, 499))
    with pytest.raises(RecordError, match=r"M3\.mat: signal has shape \(12, 500\) but the header declares \(12, 499\)"):
        helper_code.load_recording(mat_path)


def test_mat_loaded_like_wfdb_reads_it(make_record: MakeRecord) -> None:
    wfdb = pytest.importorskip("wfdb")
    header_path, mat_path = make_record("W1", gain="1000.0(5)/mV", num_samples=300)
    record = wfdb.rdrecord(str(header_path.with_suffix("")))
    np.testing.assert_allclose(helper_code.load_recording(mat_path, physical=True), record.p_signal.T, atol=1e-12)
