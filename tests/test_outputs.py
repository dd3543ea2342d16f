"""Reading and writing Challenge output files with the official scorer's rules (ecg12.outputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg12.outputs import (
    format_outputs,
    load_outputs,
    output_lines,
    parse_binary,
    parse_codes,
    parse_outputs,
    parse_scores,
    save_outputs,
    universal_lines,
)

MALFORMED: tuple[list[str], list[bool], list[float]] = ([], [], [])


def test_round_trip(tmp_path):
    path = tmp_path / "A0001.csv"
    save_outputs(path, "A0001", ["164889003", "426783006"], [True, 0], [0.75, 1e-3])
    assert path.read_text() == "#A0001\n164889003,426783006\n1,0\n0.75,0.001\n"
    assert load_outputs(path) == (["164889003", "426783006"], [True, False], [0.75, 0.001])


def test_format_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        format_outputs("A", ["1", "2"], [1], [0.5, 0.5])


def test_fields_are_stripped_and_comment_and_blank_lines_skipped():
    text = "#A0001\n\n  # a comment after spaces\n a , b \n\t\n 1 , 0 \n# another\n 0.5 , 0.25 \n\n"
    assert parse_outputs(text) == (["a", "b"], [True, False], [0.5, 0.25])


@pytest.mark.parametrize("value", ["1", "True", "true", "T", "t"])
def test_accepted_true_values(value):
    assert parse_outputs(f"a,b\n{value},0\n0,0\n")[1] == [True, False]


@pytest.mark.parametrize("value", ["TRUE", "yes", "2", "1.0", "F", "y", ""])
def test_everything_else_is_false(value):
    assert parse_outputs(f"a,b\n{value},1\n0,0\n")[1] == [False, True]


def test_non_numbers_are_zero_but_nan_and_inf_are_numbers():
    codes, _, scores = parse_outputs("a,b,c,d,e\n0,0,0,0,0\nx,,nan,-inf,1e-2\n")
    assert codes == ["a", "b", "c", "d", "e"]
    assert scores[:2] == [0.0, 0.0]
    assert math.isnan(scores[2])  # NaN becomes 0 only after duplicates are averaged (ecg12.evaluation)
    assert scores[3:] == [-math.inf, 0.01]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "#A0001\n",
        "a,b\n1,0\n",  # two lines
        "#A\na,b\n\n# 1,0\n0.5,0.5\n",  # two lines once comments and blanks are dropped
        "a,b\n1,0,1\n0.5,0.5\n",  # unequal numbers of fields
        "a,b\n1,0\n0.5,0.5\n0.1\n",  # a fourth line counts too
    ],
)
def test_malformed_files_are_all_negative(text):
    assert parse_outputs(text) == MALFORMED


def test_lines_split_like_text_mode_iteration():
    assert universal_lines("a\rb\r\nc\nd") == ["a", "b", "c", "d"]
    assert universal_lines("a\x0bb\x0cc\x1cd\x85e\u2028f\n") == ["a\x0bb\x0cc\x1cd\x85e\u2028f", ""]
    # Old Mac and Windows line ends are line ends.
    assert parse_outputs("#A\ra,b\r1,0\r0.5,0.25\r") == (["a", "b"], [True, False], [0.5, 0.25])
    assert parse_outputs("#A\r\na,b\r\n1,0\r\n0.5,0.25\r\n") == (["a", "b"], [True, False], [0.5, 0.25])


@pytest.mark.parametrize("separator", ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_other_unicode_line_breaks_stay_inside_a_line(separator):
    # str.splitlines() would see four lines of two fields here and accept the file; the official
    # scorer sees a second line with three fields and treats the recording as all-negative.
    text = f"a,b\n1,0{separator}0,1\n0.5,0.25\n"
    assert parse_outputs(text) == MALFORMED
    # Inside a field they are whitespace that strip() removes, as officially.
    assert parse_outputs(f"a,b{separator}\n1,0\n0.5,0.25\n") == (["a", "b"], [True, False], [0.5, 0.25])


def test_undecodable_bytes_do_not_fail(tmp_path):
    path = tmp_path / "A.csv"
    path.write_bytes(b"#A\xff\na,b\n1,0\n0.5,\xff\n")
    assert load_outputs(path) == (["a", "b"], [True, False], [0.5, 0.0])


def official_binary(field: str) -> bool:
    return field.strip() in ("1", "True", "true", "T", "t")


def official_score(field: str) -> float:
    try:
        return float(field.strip())
    except ValueError:
        return 0.0


FIELD_POOL = ["1", "0", "T", " t", "true ", "True", "F", "x", "", " ", "0.5", " 2e-3 ", "nan", "-inf", "1_0"]
FIELD_POOL += ["\x1c1\x1c", "\x0c0.25", "1\u2028", "\xa01", "0x10", "１", "+.5", "5.", "t\t"]


def test_line_parsers_equal_the_field_by_field_rules():
    # The fast paths (no stripping when a line has no whitespace, one float() per field) must not
    # change any result: compare with the official per-field rules on random lines.
    rng = np.random.default_rng(3)
    for _ in range(300):
        fields = [FIELD_POOL[i] for i in rng.integers(0, len(FIELD_POOL), rng.integers(1, 8))]
        line = ",".join(fields)
        assert parse_binary(line) == [official_binary(f) for f in fields], line
        np.testing.assert_array_equal(parse_scores(line), [official_score(f) for f in fields], err_msg=repr(line))
        assert parse_codes(line) == [f.strip() for f in fields]


def test_output_lines():
    assert output_lines("#A\r\n a,b\n\n1,0\n#c\n0.5,x\n") == (" a,b", "1,0", "0.5,x")
    assert output_lines("a,b\n1,0\n") is None
    assert output_lines("a,b\n1,0\n1,0\n1\n") is None
