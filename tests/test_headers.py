"""Header parsing: the variants real data contains, and a clear RecordError for each broken header."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import STANDARD_LEADS, make_header_text

from ecg12.headers import (
    DEFAULT_ADC_GAIN,
    MAX_DURATION_S,
    MAX_FREQUENCY_HZ,
    MAX_LEADS,
    MIN_FREQUENCY_HZ,
    Header,
    RecordError,
    parse_header,
    read_header,
    read_header_text,
)


def one_lead(gain: str = "1000/mV", comments: tuple[str, ...] = ()) -> str:
    return make_header_text("r", 1, 10, gain=gain, comments=comments)


def with_comment(comment: str) -> Header:
    return parse_header(make_header_text("r", 12, 10, comments=(comment,)), "r.hea")


# --- the record and lead lines -------------------------------------------------------------------------------------


def test_challenge_header_fields() -> None:
    text = make_header_text(
        "A0001", 12, 7500, comments=("#Age: 74", "#Sex: Male", "#Dx: 59118001,426783006", "#Rx: Unknown")
    )
    header = parse_header(text, "A0001.hea")
    assert header.record_name == "A0001"
    assert (header.num_leads, header.frequency, header.num_samples) == (12, 500.0, 7500)
    assert header.lead_names == STANDARD_LEADS
    assert [lead.adc_gain for lead in header.leads] == [1000.0] * 12
    assert [lead.baseline for lead in header.leads] == [0] * 12
    assert header.age == 74.0
    assert header.sex == "Male"
    assert header.labels == ("59118001", "426783006")
    assert header.text == text
    assert header.source == "A0001.hea"


@pytest.mark.parametrize(
    ("record_name", "expected"),
    [("E00015.mat", "E00015"), ("HR1.dat", "HR1"), ("rec.hea", "rec"), ("rec.MAT", "rec"), ("rec", "rec")],
)
def test_record_name_with_an_extension_is_accepted(record_name: str, expected: str) -> None:
    # Georgia headers write 'E00015.mat 12 500 5000 ...' on the record line; wfdb.rdheader rejects it.
    header = parse_header(make_header_text("E00015", 12, 5000, record_name=record_name), "E00015.hea")
    assert header.record_name == expected


@pytest.mark.parametrize("date", [None, "12-May-2020 12:33:59", "12:33:59 12/05/2020", "12:33:59"])
def test_record_line_with_or_without_date_and_time(date: str | None) -> None:
    header = parse_header(make_header_text("r", 12, 5000, date=date), "r.hea")
    assert (header.record_name, header.num_leads, header.frequency, header.num_samples) == ("r", 12, 500.0, 5000)


@pytest.mark.parametrize(("field", "expected"), [("257", 257.0), ("1000.0", 1000.0), ("500/250(0)", 500.0)])
def test_sampling_frequency_forms(field: str, expected: float) -> None:
    assert parse_header(make_header_text("r", 12, 10, frequency=field), "r.hea").frequency == expected


@pytest.mark.parametrize(
    ("gain", "adc_gain", "baseline", "units"),
    [
        ("1000/mV", 1000.0, 0, "mV"),
        ("1000(0)/mV", 1000.0, 0, "mV"),
        ("1000.0(5)/mV", 1000.0, 5, "mV"),  # WFDB: the bracketed number is the baseline
        ("4880/mV", 4880.0, 0, "mV"),
        ("200.0(-12)/mV", 200.0, -12, "mV"),
        ("1000/mv", 1000.0, 0, "mv"),
        ("1000/uV", 1000.0, 0, "uV"),
        ("1e3/mV", 1000.0, 0, "mV"),
        ("1000", 1000.0, 0, "mV"),  # no units: WFDB's default, millivolts
        ("0/mV", DEFAULT_ADC_GAIN, 0, "mV"),  # WFDB: gain 0 means uncalibrated, read as 200
    ],
)
def test_gain_field_variants(gain: str, adc_gain: float, baseline: int, units: str) -> None:
    (lead,) = parse_header(one_lead(gain), "r.hea").leads
    assert (lead.adc_gain, lead.baseline, lead.units) == (adc_gain, baseline, units)
    assert lead.uncalibrated == gain.startswith("0/")  # said so, for the warnings report (ecg12.preprocess)


def test_baseline_defaults_to_the_adc_zero() -> None:
    text = "r 1 500 10\nr.mat 16 1000/mV 16 7 0 0 0 I\n"
    (lead,) = parse_header(text, "r.hea").leads
    assert (lead.adc_zero, lead.baseline) == (7, 7)
    text = "r 1 500 10\nr.mat 16 1000(3)/mV 16 7 0 0 0 I\n"
    assert parse_header(text, "r.hea").leads[0].baseline == 3


def test_lead_description_with_spaces_and_interleaved_comments() -> None:
    text = (
        "# made by hand\nr 2 500 10\n# lead lines follow\n"
        "r.dat 16 200 16 0 0 0 0 ECG lead I\nr.dat 16 200 16 0 0 0 0 II\n"
    )
    assert parse_header(text, "r.hea").lead_names == ("ECG lead I", "II")


def test_crlf_line_endings_and_byte_order_mark() -> None:
    text = "\ufeff" + make_header_text("r", 12, 10).replace("\n", "\r\n")
    header = parse_header(text, "r.hea")
    assert header.record_name == "r"
    assert header.lead_names == STANDARD_LEADS
    assert header.sex == "Female"


# --- comments: age, sex, labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "expected"),
    [("#Age: 74", 74.0), ("#Age: 45.5", 45.5), ("# Age : 33", 33.0), ("#Age: 0", 0.0)],
)
def test_age_known(comment: str, expected: float) -> None:
    age = with_comment(comment).age
    assert isinstance(age, float)
    assert age == expected


@pytest.mark.parametrize("comment", ["#Age: NaN", "#Age: nan", "#Age: Unknown", "#Age:", "#Age: -1", "#Rx: Unknown"])
def test_age_unknown_is_nan(comment: str) -> None:
    age = with_comment(comment).age
    assert isinstance(age, float)
    assert math.isnan(age)


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("#Sex: Male", "Male"),
        ("#Sex: Female", "Female"),
        ("#Sex: M", "Male"),
        ("#Sex: F", "Female"),
        ("#Sex: male", "Male"),
        ("#Sex: FEMALE", "Female"),
        ("#Sex: Unknown", "Unknown"),
        ("#Sex:", "Unknown"),
        ("#Sex: NaN", "Unknown"),
        ("#Age: 50", "Unknown"),  # no #Sex line at all
    ],
)
def test_sex_variants(comment: str, expected: str) -> None:
    assert with_comment(comment).sex == expected


@pytest.mark.parametrize(
    ("comment", "expected"),
    [
        ("#Dx: 426783006", ("426783006",)),
        ("#Dx: 164889003,59118001", ("164889003", "59118001")),
        ("#Dx: 164889003, 59118001 , 270492004", ("164889003", "59118001", "270492004")),
        ("#Dx:164889003,,59118001,", ("164889003", "59118001")),
        ("#Dx:", ()),
        ("#Age: 50", ()),
    ],
)
def test_dx_lists(comment: str, expected: tuple[str, ...]) -> None:
    assert with_comment(comment).labels == expected


def test_first_of_repeated_comments_wins() -> None:
    header = parse_header(make_header_text("r", 1, 10, comments=("#Age: 30", "#Age: 40")), "r.hea")
    assert header.age == 30.0


def test_non_ascii_bytes_in_a_header_file(tmp_path: Path) -> None:
    raw = make_header_text("r", 12, 10, comments=("#Age: 61", "#Sex: Female", "#Dx: 426783006")).encode()
    raw += "#Sx: douleur thoracique \u00e9pisodique\n".encode("latin-1")  # invalid UTF-8 byte 0xE9
    raw += "#Hx: \u75c5\u53f2 \u2014 ok\n".encode()  # valid UTF-8, non-ASCII
    (tmp_path / "r.hea").write_bytes(raw + b"#Rx: \xff\xfe\x00\n")
    header = read_header(tmp_path / "r.hea")
    assert (header.record_name, header.age, header.sex, header.labels) == ("r", 61.0, "Female", ("426783006",))
    text = read_header_text(tmp_path / "r.hea")
    # A line that is not valid UTF-8 is read as Latin-1 (every byte is a character there); the others as UTF-8.
    assert "#Sx: douleur thoracique \u00e9pisodique\n" in text
    assert "#Hx: \u75c5\u53f2 \u2014 ok\n" in text
    assert "#Rx: \u00ff\u00fe\x00\n" in text


@pytest.mark.parametrize("micro", ["\u00b5".encode("latin-1"), "\u00b5".encode(), "\u03bc".encode()])
def test_micro_sign_in_units_survives_decoding(tmp_path: Path, micro: bytes) -> None:
    # Older WFDB tools wrote microvolts as the single Latin-1 byte 0xB5; newer ones write UTF-8.
    raw = make_header_text("r", 2, 10, gain="1000/UNITS").encode().replace(b"UNITS", micro + b"V")
    (tmp_path / "r.hea").write_bytes(raw)
    units = {lead.units for lead in read_header(tmp_path / "r.hea").leads}
    assert units == {micro.decode("utf-8" if len(micro) > 1 else "latin-1") + "V"}


# --- errors: RecordError naming the file and the problem -----------------------------------------------------------


def assert_record_error(text: str, *problem: str) -> RecordError:
    with pytest.raises(RecordError) as caught:
        parse_header(text, "/data/X0042.hea")
    message = str(caught.value)
    assert "X0042.hea" in message
    for word in problem:
        assert word in message, f"{word!r} not in {message!r}"
    assert caught.value.path == "/data/X0042.hea"
    return caught.value


@pytest.mark.parametrize("text", ["", "\n\n", "   \n", "# only a comment\n#Age: 5\n"])
def test_empty_header(text: str) -> None:
    assert_record_error(text, "empty")


@pytest.mark.parametrize(
    ("record_line", "problem"),
    [
        ("X0042", "malformed record line"),
        ("X0042 12 500", "malformed record line"),
        ("X0042 twelve 500 5000", "malformed record line"),
        ("X0042 12.5 500 5000", "malformed record line"),
        ("X0042 12 500 5000.5", "malformed record line"),
        ("X0042 12 500 many", "malformed record line"),
        ("X0042 12 fast 5000", "malformed record line"),
        ("X0042 12 0 5000", "sampling frequency"),
        ("X0042 12 -500 5000", "sampling frequency"),
        ("X0042 12 nan 5000", "sampling frequency"),
        ("X0042 12 inf 5000", "sampling frequency"),
        ("X0042 0 500 5000", "0 leads"),
        ("X0042 -3 500 5000", "-3 leads"),
        ("X0042 12 500 -1", "number of samples"),
        ("X0042/layout 12 500 5000", "malformed record name"),
    ],
)
def test_malformed_record_line(record_line: str, problem: str) -> None:
    lines = make_header_text("X0042", 12, 5000).splitlines()
    error = assert_record_error("\n".join([record_line, *lines[1:]]), problem)
    assert "line 1" in str(error)


@pytest.mark.parametrize(
    ("record_line", "problem"),
    [
        ("X0042 12 1e-300 5000", ("sampling frequency", "1e-300")),
        ("X0042 12 0.5 5000", ("sampling frequency", "0.5")),
        ("X0042 12 1e9 5000", ("sampling frequency", "1e9")),
        ("X0042 12 500 1000000000000000", ("1000000000000000 samples", "more than")),
        ("X0042 1000000 500 5000", ("1000000 leads", f"at most {MAX_LEADS}")),
        ("X0042/3 12 500 5000", ("multi-segment", "not supported")),
    ],
)
def test_record_line_beyond_what_a_recording_can_be(record_line: str, problem: tuple[str, ...]) -> None:
    lines = make_header_text("X0042", 12, 5000).splitlines()
    error = assert_record_error("\n".join([record_line, *lines[1:]]), *problem)
    assert "line 1" in str(error)


def test_multi_segment_header_is_refused_on_its_record_line() -> None:
    # A WFDB multi-segment header lists segments (name and length), not leads, after its record line.
    text = "X0042/3 12 500 15000\nX0042_layout 0\nX0042_001 5000\nX0042_002 10000\n#Dx: 426783006\n"
    error = assert_record_error(text, "multi-segment records", "not supported")
    assert "line 1" in str(error)


def test_sanity_limits_are_accepted_up_to_the_limit() -> None:
    def record(num_leads: int, frequency: float, num_samples: int) -> Header:
        names = [f"ch{index}" for index in range(num_leads)]
        text = make_header_text("r", num_leads, num_samples, frequency=repr(frequency), lead_names=names)
        return parse_header(text, "r.hea")

    assert record(12, MIN_FREQUENCY_HZ, 10).frequency == MIN_FREQUENCY_HZ
    assert record(12, MAX_FREQUENCY_HZ, 10).frequency == MAX_FREQUENCY_HZ
    assert record(MAX_LEADS, 500.0, 10).num_leads == MAX_LEADS
    longest = int(MAX_DURATION_S * 500)
    assert record(12, 500.0, longest).num_samples == longest
    for num_leads, frequency, num_samples in [
        (12, MIN_FREQUENCY_HZ * 0.999, 10),
        (12, MAX_FREQUENCY_HZ * 1.001, 10),
        (MAX_LEADS + 1, 500.0, 10),
        (12, 500.0, longest + 1),
        (12, MIN_FREQUENCY_HZ, int(MAX_DURATION_S * MIN_FREQUENCY_HZ) + 1),
    ]:
        with pytest.raises(RecordError, match=r"r\.hea: line 1: "):
            record(num_leads, frequency, num_samples)


def test_fewer_lead_lines_than_declared() -> None:
    lines = make_header_text("X0042", 12, 5000).splitlines()
    del lines[5:8]  # three lead lines gone
    assert_record_error("\n".join(lines), "declares 12 leads", "9 lead lines")


@pytest.mark.parametrize(
    ("lead_line", "problem"),
    [
        ("X0042.mat 16+24 1000/mV 16 0 0 0 0", "malformed lead line"),  # no lead name
        ("X0042.mat 16+24 1000/mV", "malformed lead line"),
        ("X0042.mat", "malformed lead line"),
        ("X0042.mat 16+24 high/mV 16 0 0 0 0 II", "unreadable gain"),
        ("X0042.mat 16+24 1000(5.5)/mV 16 0 0 0 0 II", "unreadable gain"),
        ("X0042.mat 16+24 nan/mV 16 0 0 0 0 II", "unreadable gain"),
        ("X0042.mat 16+24 1e999/mV 16 0 0 0 0 II", "invalid ADC gain"),
        ("X0042.mat 16+24 -1000/mV 16 0 0 0 0 II", "invalid ADC gain"),
        ("X0042.mat 16+24 1000/mV sixteen 0 0 0 0 II", "malformed lead line"),
        ("X0042.mat 16+24 1000/mV 16 zero 0 0 0 II", "malformed lead line"),
    ],
)
def test_malformed_lead_line(lead_line: str, problem: str) -> None:
    lines = make_header_text("X0042", 12, 5000).splitlines()
    lines[2] = lead_line
    error = assert_record_error("\n".join(lines), problem)
    assert "line 3" in str(error)


def test_missing_age_and_sex_are_not_errors() -> None:
    header = parse_header(make_header_text("r", 12, 10, comments=()), "r.hea")
    assert math.isnan(header.age)
    assert header.sex == "Unknown"
    assert header.labels == ()


def test_missing_header_file(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r"nothere\.hea: cannot read header"):
        read_header(tmp_path / "nothere.hea")
