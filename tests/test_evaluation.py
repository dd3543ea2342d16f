"""Scoring folders of labels and outputs (ecg12.evaluation, evaluate_model.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ecg12.classes import load_weights, scored_classes
from ecg12.evaluation import (
    CLASS_SCORES_PLOT,
    CREDIT_PLOT,
    EvaluationError,
    _merge_entries,
    evaluate_folders,
    find_challenge_files,
    format_class_scores,
    format_scores,
    label_codes,
    load_label_matrix,
    load_output_matrices,
    main,
    read_text,
)
from ecg12.metrics import SCORE_NAMES

REPOSITORY = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "metric-cases"
CASES = sorted(p for p in REFERENCE.glob("*") if (p / "expected.json").is_file()) if REFERENCE.is_dir() else []
needs_cases = pytest.mark.skipif(not CASES, reason=f"reference metric cases not found in {REFERENCE}")

CLASSES = scored_classes()
RBBB, CRBBB = "59118001", "713427006"  # an equivalent pair; the class is named by 713427006
AF, NORMAL = "164889003", "426783006"


def column(code: str) -> int:
    return CLASSES.codes.index(code)


def header(dx: str | None) -> str:
    lines = ["A 12 500 5000", *(f"A.mat 16 1000/mV 16 0 0 0 0 {lead}" for lead in ("I", "II")), "#Age: 50"]
    if dx is not None:
        lines.append(f"#Dx: {dx}")
    return "\n".join([*lines, "#Rx: Unknown"]) + "\n"


def outputs(codes: list[str], binary: list[str], scores: list[str]) -> str:
    return f"#A\n{','.join(codes)}\n{','.join(binary)}\n{','.join(scores)}\n"


def write_case(folder: Path, recordings: dict[str, tuple[str, str | None]]) -> tuple[Path, Path]:
    """labels/NAME.hea and outputs/NAME.csv for {NAME: (header text, output text or None)}."""
    labels, outs = folder / "labels", folder / "outputs"
    labels.mkdir(exist_ok=True)
    outs.mkdir(exist_ok=True)
    for name, (header_text, output_text) in recordings.items():
        (labels / f"{name}.hea").write_text(header_text)
        if output_text is not None:
            (outs / f"{name}.csv").write_text(output_text)
    return labels, outs


def load_case(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    label_files, output_files = find_challenge_files(folder / "labels", folder / "outputs")
    return load_label_matrix(label_files, CLASSES), *load_output_matrices(output_files, CLASSES)


# ---------------------------------------------------------------------------------------------
# The reference cases: every value of expected.json


def expected_values(case: Path) -> dict:
    return json.loads((case / "expected.json").read_text())


def as_array(values: list[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else v for v in values], dtype=float)


@needs_cases
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_reference_case(case):
    expected = expected_values(case)
    classes, scores = evaluate_folders(case / "labels", case / "outputs")
    assert list(classes.codes) == expected["classes"]
    for name, value in scores.summary().items():
        assert value == pytest.approx(expected[name], abs=1e-9), name
    for key, actual in (
        ("class AUROC", scores.auroc_classes),
        ("class AUPRC", scores.auprc_classes),
        ("class F-measure", scores.f_measure_classes),
    ):
        wanted = as_array(expected[key])
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(wanted), err_msg=key)
        np.testing.assert_allclose(actual[~np.isnan(actual)], wanted[~np.isnan(wanted)], rtol=0, atol=1e-9)


def run_cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPOSITORY / "evaluate_model.py"), *arguments],
        capture_output=True,
        text=True,
        cwd=REPOSITORY,
        timeout=60,
    )


def official_text(expected: dict) -> tuple[str, str]:
    scores = ",".join(f"{expected[name]:.3f}" for name in SCORE_NAMES)
    classes = "\n".join(
        [
            "Classes," + ",".join(expected["classes"]),
            *(
                name + "," + ",".join(f"{x:.3f}" for x in as_array(expected[key]))
                for name, key in (("AUROC", "class AUROC"), ("AUPRC", "class AUPRC"), ("F-measure", "class F-measure"))
            ),
        ]
    )
    return ",".join(SCORE_NAMES) + "\n" + scores, classes


@needs_cases
def test_command_writes_both_files(tmp_path):
    # The messy case (files with NaN, True/False, missing and duplicate codes) if there is one.
    case = next((c for c in CASES if expected_values(c).get("kind") == "messy"), CASES[0])
    expected_scores, expected_classes = official_text(expected_values(case))
    scores_file, class_file = tmp_path / "out" / "scores.csv", tmp_path / "out" / "class_scores.csv"
    result = run_cli(str(case / "labels"), str(case / "outputs"), str(scores_file), str(class_file))
    assert result.returncode == 0, result.stderr
    assert scores_file.read_text() == expected_scores
    assert class_file.read_text() == expected_classes
    assert "nan" in expected_classes  # the case has classes without positives
    assert sorted(p.name for p in scores_file.parent.iterdir()) == ["class_scores.csv", "scores.csv"]  # no temporaries


@needs_cases
def test_command_prints_scores_with_two_arguments():
    case = CASES[0]
    result = run_cli(str(case / "labels"), str(case / "outputs"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == official_text(expected_values(case))[0] + "\n"


def test_format_of_nan_and_negative_values(tmp_path):
    labels, outs = write_case(
        tmp_path,
        {
            "A": (header(AF), outputs([NORMAL], ["1"], ["0.5"])),
            "B": (header(NORMAL), outputs([AF], ["1"], ["0.5"])),
        },
    )
    classes, scores = evaluate_folders(labels, outs)
    text = format_scores(scores)
    assert text.splitlines()[0] == "AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric"
    assert text.splitlines()[1].startswith("0.000,0.500,0.000,0.000,0.000,0.000,")
    assert text.splitlines()[1].split(",")[-1].startswith("-")  # worse than the normal-only model
    rows = format_class_scores(classes.codes, scores).split("\n")
    assert [row.split(",")[0] for row in rows] == ["Classes", "AUROC", "AUPRC", "F-measure"]
    assert all(len(row.split(",")) == 25 for row in rows)
    assert rows[1].split(",")[1 + column(AF)] == "0.000"
    assert rows[1].split(",")[1] == "nan"


# ---------------------------------------------------------------------------------------------
# Labels


def test_label_codes_follow_the_official_dx_line():
    assert label_codes(header(f"{AF}, {RBBB} ,")) == (AF, RBBB)
    assert label_codes(header(None)) == ()  # officially a crash or shifted labels; here no labels
    assert label_codes(header("")) == ()
    assert label_codes("#Dx:164889003\n") == ("164889003",)  # officially a crash
    assert label_codes("A 12 500 5000\r#Dx: 1,2\r#Dx: 3\r") == ("1", "2")  # old Mac line ends; first line only
    assert label_codes(" #Dx: 1\n# Dx: 2\n") == ()  # the line must start with '#Dx'
    assert label_codes("#Age: 5 #Dx: 9\r\n#Dx: 1\r\n") == ("1",)
    assert label_codes("#Dx: 1\x0c2,3\x1c\n") == ("1\x0c2", "3")  # not line breaks for the official reader


def test_large_and_undecodable_files_are_read_whole(tmp_path):
    text = "#Age: 1\n" * 20000 + f"#Dx: {AF},\xff\n"
    path = tmp_path / "A.hea"
    path.write_bytes(text.encode("latin-1"))  # > 64 KiB, and not UTF-8
    assert read_text(path, "label file").endswith("#Dx: 164889003,\ufffd\n")
    assert label_codes(read_text(path, "label file")) == (AF, "\ufffd")
    with pytest.raises(EvaluationError, match=r"cannot read label file .*B\.hea"):
        read_text(tmp_path / "B.hea", "label file")


def test_equivalent_label_codes_are_merged(tmp_path):
    write_case(
        tmp_path,
        {
            "A": (header(RBBB), outputs([AF], ["0"], ["0"])),
            "B": (header(f"{CRBBB},{RBBB},{AF},999999"), outputs([AF], ["0"], ["0"])),
            "C": (header(None), outputs([AF], ["0"], ["0"])),
        },
    )
    labels, _, _ = load_case(tmp_path)
    expected = np.zeros((3, 24), dtype=bool)
    expected[0, column(CRBBB)] = True
    expected[1, [column(CRBBB), column(AF)]] = True
    np.testing.assert_array_equal(labels, expected)


# ---------------------------------------------------------------------------------------------
# Outputs


def test_equivalent_and_duplicate_output_classes(tmp_path):
    codes = [CRBBB, AF, RBBB, AF, NORMAL, NORMAL, "999999"]
    write_case(
        tmp_path,
        {
            "A": (
                header(AF),
                outputs(codes, ["0", "0", "1", "0", "0", "0", "1"], ["0.2", "0.1", "0.6", "0.4", "nan", "0.3", "1"]),
            )
        },
    )
    _, binary, scores = load_case(tmp_path)
    assert binary[0, column(CRBBB)]  # any() over the pair
    assert not binary[0, column(AF)] and not binary[0, column(NORMAL)]
    assert scores[0, column(CRBBB)] == pytest.approx(0.4)  # mean of 0.2 and 0.6
    assert scores[0, column(AF)] == pytest.approx(0.25)  # mean of the duplicates
    assert scores[0, column(NORMAL)] == 0.3  # NaN left out of the mean
    assert binary.sum() == 1 and np.count_nonzero(scores) == 3  # the unscored code is ignored


def test_nan_and_non_numbers_become_zero(tmp_path):
    write_case(
        tmp_path,
        {"A": (header(AF), outputs([AF, NORMAL, RBBB, CRBBB], ["1", "1", "0", "0"], ["nan", "high", "NaN", "nan"]))},
    )
    _, binary, scores = load_case(tmp_path)
    assert binary[0, column(AF)] and binary[0, column(NORMAL)]
    assert not np.isnan(scores).any()
    assert np.count_nonzero(scores) == 0


@pytest.mark.parametrize("value", ["1", "True", "true", "T", "t"])
def test_true_values(tmp_path, value):
    write_case(tmp_path, {"A": (header(AF), outputs([AF, NORMAL], [value, "TRUE"], ["0.9", "0.1"]))})
    _, binary, _ = load_case(tmp_path)
    assert binary[0, column(AF)] and not binary[0, column(NORMAL)]


@pytest.mark.parametrize(
    "text",
    [
        f"#A\n{AF},{NORMAL}\n1,1\n",  # two lines
        f"#A\n{AF},{NORMAL}\n1,1\n0.5,0.5,0.5\n",  # unequal numbers of fields
        "",
    ],
)
def test_malformed_output_file_is_all_negative(tmp_path, text):
    write_case(tmp_path, {"A": (header(AF), outputs([AF], ["1"], ["0.9"])), "B": (header(AF), text)})
    _, binary, scores = load_case(tmp_path)
    assert binary[0, column(AF)] and scores[0, column(AF)] == 0.9
    assert not binary[1].any() and not scores[1].any()


def test_comment_and_blank_lines_are_skipped(tmp_path):
    text = f"#A\n\n# note\n{AF},{NORMAL}\n   \n1,0\n#x\n0.75,0.5\n\n"
    write_case(tmp_path, {"A": (header(AF), text)})
    _, binary, scores = load_case(tmp_path)
    assert binary[0, column(AF)] and not binary[0, column(NORMAL)]
    assert scores[0, column(AF)] == 0.75 and scores[0, column(NORMAL)] == 0.5


def test_means_of_many_duplicates_equal_numpy_nanmean_bitwise():
    # Means must be bit-identical to the official np.nanmean: a last-bit difference can break or
    # make a tie between recordings and change the AUC.
    rng = np.random.default_rng(5)
    entries = []
    for recording in range(200):
        count = recording % 13 + 1
        values = rng.standard_normal(count) * 10.0 ** rng.integers(-6, 6, count)
        values[rng.random(count) < 0.2] = np.nan
        entries.extend((recording, value) for value in values)
    recording = np.array([r for r, _ in entries])
    values = np.array([v for _, v in entries])
    binary, scores = _merge_entries(200, 1, recording, np.zeros(len(entries), dtype=np.int64), values > 0, values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.array([np.nanmean(list(values[recording == r])) for r in range(200)])
    expected[np.isnan(expected)] = 0
    np.testing.assert_array_equal(scores[:, 0], expected)
    np.testing.assert_array_equal(binary[:, 0], [np.any(values[recording == r] > 0) for r in range(200)])


# ---------------------------------------------------------------------------------------------
# Files and errors


def test_file_discovery(tmp_path):
    labels, outs = write_case(tmp_path, {"B": (header(AF), outputs([AF], ["1"], ["1"]))})
    (labels / "A.HEA").write_text(header(NORMAL))
    (outs / "A.csv").write_text(outputs([NORMAL], ["1"], ["1"]))
    (labels / ".hidden.hea").write_text(header(AF))  # hidden: skipped, needs no output
    (labels / "notes.txt").write_text("x")
    (labels / "folder.hea").mkdir()  # not a file
    (labels / "C.v2.Hea").write_text(header(AF))
    (outs / "C.v2.csv").write_text(outputs([AF], ["1"], ["1"]))
    label_files, output_files = find_challenge_files(labels, outs)
    assert [Path(f).name for f in label_files] == ["A.HEA", "B.hea", "C.v2.Hea"]
    assert [Path(f).name for f in output_files] == ["A.csv", "B.csv", "C.v2.csv"]
    assert Path(label_files[0]).parent == labels and Path(output_files[0]).parent == outs


def test_missing_output_file_is_an_error_naming_it(tmp_path):
    labels, outs = write_case(tmp_path, {"A": (header(AF), outputs([AF], ["1"], ["1"])), "B": (header(AF), None)})
    with pytest.raises(EvaluationError, match=r"B\.csv.* not found for label file .*B\.hea"):
        evaluate_folders(labels, outs)
    result = run_cli(str(labels), str(outs))
    assert result.returncode == 1
    assert "B.csv" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def test_a_missing_output_that_the_drivers_errors_report_lists_is_all_negative(tmp_path, capsys):
    answered = outputs([AF, NORMAL], ["1", "0"], ["0.9", "0.1"])
    labels, outs = write_case(tmp_path, {"A": (header(AF), answered), "B": (header(NORMAL), None)})
    (outs / "errors.csv").write_text("recording,stage,message\nB,write,no output: its name is too long\n")
    all_negative = outputs([AF, NORMAL], ["0", "0"], ["0", "0"])
    (tmp_path / "written").mkdir()
    written = write_case(tmp_path / "written", {"A": (header(AF), answered), "B": (header(NORMAL), all_negative)})
    assert format_scores(evaluate_folders(labels, outs)[1]) == format_scores(evaluate_folders(*written)[1])
    assert main([str(labels), str(outs)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("AUROC,")
    message = captured.err.strip()
    assert "\n" not in message and "1 recordings without an output file" in message
    assert str(labels / "B.hea") in message


def test_the_errors_report_is_looked_for_under_the_name_the_driver_gives_it(tmp_path):
    # A recording named "errors" has errors.csv for its output; the driver's report is then errors_2.csv.
    labels, outs = write_case(
        tmp_path, {"errors": (header(AF), outputs([AF], ["1"], ["0.9"])), "B": (header(NORMAL), None)}
    )
    (outs / "errors.csv").write_text("recording,stage,message\nB,write,a row in an output, not in the report\n")
    with pytest.raises(EvaluationError, match=r"B\.csv.* not found"):
        evaluate_folders(labels, outs)
    (outs / "errors_2.csv").write_text("recording,stage,message\nB,write,disk full\n")
    assert find_challenge_files(labels, outs)[1] == [None, str(outs / "errors.csv")]


def test_missing_folder_and_empty_folder_are_errors(tmp_path, capsys):
    labels, outs = write_case(tmp_path, {})
    with pytest.raises(EvaluationError, match="no label files"):
        evaluate_folders(labels, outs)
    assert main([str(tmp_path / "nowhere"), str(outs)]) == 1
    error = capsys.readouterr().err
    assert "nowhere" in error and "does not exist" in error
    result = run_cli(str(labels), str(tmp_path / "missing"))
    assert result.returncode == 1 and "missing" in result.stderr and "Traceback" not in result.stderr


def test_weights_option(tmp_path, capsys):
    labels, outs = write_case(
        tmp_path,
        {
            "A": (header(AF), outputs([AF, NORMAL], ["1", "0"], ["0.9", "0.1"])),
            "B": (header(NORMAL), outputs([AF, NORMAL], ["1", "1"], ["0.9", "0.1"])),
        },
    )
    # Two classes; outputting AF for a normal recording earns full credit with these weights.
    weights = tmp_path / "weights.csv"
    weights.write_text(f",{AF},{NORMAL}\n{AF},1,0.5\n{NORMAL},1,1\n")
    assert main([str(labels), str(outs), "--weights", str(weights)]) == 0
    printed = capsys.readouterr().out.splitlines()[1].split(",")
    # Observed 1 + (1/2 + 1/2) = 2, correct 2, inactive 0.5/2 + 1: the metric is 1 (0.333 if B output AF only).
    assert printed[-1] == "1.000"
    assert main([str(labels), str(outs), "--weights", str(tmp_path / "none.csv")]) == 1
    assert "none.csv" in capsys.readouterr().err


def test_weights_that_are_not_numbers_are_nan_and_count_as_zero(tmp_path):
    weights = tmp_path / "weights.csv"
    weights.write_text(f",{AF},{NORMAL}\n{AF},1,x\n{NORMAL},0.5,1\n")
    classes = load_weights(weights)
    assert classes.codes == (AF, NORMAL) and math.isnan(classes.weights[0, 1])
    labels, outs = write_case(tmp_path, {"A": (header(AF), outputs([AF, NORMAL], ["1", "1"], ["1", "1"]))})
    # Observed: AF->AF 1/2 + AF->normal NaN (ignored) = 0.5; correct 1; inactive: NaN -> 0.
    assert evaluate_folders(labels, outs, weights)[1].challenge_metric == pytest.approx(0.5)


def test_scoring_path_imports_no_heavy_modules():
    code = (
        "import sys, runpy; sys.argv = ['evaluate_model.py', '--help']\n"
        "try:\n    runpy.run_path('evaluate_model.py', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "import ecg12.evaluation, ecg12.files\n"
        "print(sorted(m for m in ('torch', 'scipy', 'wfdb', 'matplotlib', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_scores_path_that_is_a_folder_is_one_line_before_scoring(tmp_path, capsys, monkeypatch):
    labels, outs = write_case(tmp_path, {"A": (header(AF), outputs([AF, NORMAL], ["1", "0"], ["0.9", "0.1"]))})
    folder = tmp_path / "scores"
    folder.mkdir()
    scored = []
    monkeypatch.setattr("ecg12.evaluation.read_folders", lambda *args: scored.append(args))
    assert main([str(labels), str(outs), str(folder)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{folder} is a folder" in error
    assert scored == [] and list(folder.iterdir()) == []


def test_scores_files_with_long_names_are_written_and_errors_name_them(tmp_path, capsys):
    labels, outs = write_case(tmp_path, {"A": (header(AF), outputs([AF, NORMAL], ["1", "0"], ["0.9", "0.1"]))})
    results = tmp_path / "results"
    long_name = results / ("s" * 240 + ".csv")  # 244 bytes: the file system holds it
    assert main([str(labels), str(outs), str(long_name)]) == 0
    assert long_name.read_text().startswith("AUROC,")
    too_long = results / ("s" * 252 + ".csv")  # 256 bytes: one too many
    assert main([str(labels), str(outs), str(too_long)]) == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and str(too_long) in message and ".tmp" not in message
    assert sorted(p.name for p in results.iterdir()) == [long_name.name]


# ---------------------------------------------------------------------------------------------
# --plots: figures of a scoring


def plots_case(folder: Path) -> tuple[Path, Path]:
    """A: AF, answered AF and normal. B: normal, answered AF. C: RBBB, answered RBBB."""
    return write_case(
        folder,
        {
            "A": (header(AF), outputs([AF, NORMAL], ["1", "1"], ["0.9", "0.6"])),
            "B": (header(NORMAL), outputs([AF, NORMAL], ["1", "0"], ["0.7", "0.2"])),
            "C": (header(RBBB), outputs([RBBB], ["1"], ["0.8"])),
        },
    )


@pytest.mark.slow
def test_plots_option_draws_the_class_scores_and_the_credit_figures(tmp_path, capsys):
    from matplotlib.image import imread

    labels, outs = plots_case(tmp_path)
    folder = tmp_path / "figures"
    assert main([str(labels), str(outs), "--plots", str(folder)]) == 0
    assert "Challenge metric" in capsys.readouterr().out  # the scores are printed as without --plots
    assert sorted(path.name for path in folder.iterdir()) == sorted([CLASS_SCORES_PLOT, CREDIT_PLOT])
    for name in (CLASS_SCORES_PLOT, CREDIT_PLOT):
        image = imread(folder / name)
        assert image.shape[0] > 300 and image.shape[1] > 600, name
        assert image[:, :, :3].std() > 0.05, f"{name} is (nearly) blank"


def test_the_credit_figure_shows_the_weights_beside_where_the_outputs_put_the_labels(tmp_path, monkeypatch):
    labels, outs = plots_case(tmp_path)
    drawn = {}
    monkeypatch.setattr("ecg12.plots.plot_credit_and_confusion", lambda *args: drawn.update(credit=args))
    monkeypatch.setattr("ecg12.plots.plot_class_scores", lambda *args: drawn.update(scores=args))
    assert main([str(labels), str(outs), "--plots", str(tmp_path / "figures")]) == 0
    names, weights, confusion, path = drawn["credit"]
    assert path == tmp_path / "figures" / CREDIT_PLOT
    assert names[column(CRBBB)] == "CRBBB/RBBB" and names[column(AF)] == "AF"
    np.testing.assert_array_equal(weights, CLASSES.weights)
    # By the metric's rule, each recording adds 1 / |labels or outputs| to each of its (label, output) pairs.
    expected = np.zeros((len(CLASSES.codes), len(CLASSES.codes)))
    expected[column(AF), column(AF)] += 1 / 2  # A: {AF} or {AF, normal} has 2 classes
    expected[column(AF), column(NORMAL)] += 1 / 2
    expected[column(NORMAL), column(AF)] += 1 / 2  # B: {normal} or {AF}
    expected[column(CRBBB), column(CRBBB)] += 1  # C: RBBB is CRBBB's class
    np.testing.assert_allclose(confusion, expected)
    names, auroc, f_measure, positives, path, title = drawn["scores"]
    assert path == tmp_path / "figures" / CLASS_SCORES_PLOT and "3 recordings" in title
    assert positives[column(AF)] == 1 and positives[column(NORMAL)] == 1 and positives[column(CRBBB)] == 1
    assert f_measure[column(CRBBB)] == 1.0
    assert auroc[column(AF)] == 1.0  # AF scores 0.9 (A, labelled AF) above 0.7 (B) and 0 (C, no AF output)


def test_plots_into_a_file_is_one_line_before_scoring(tmp_path, capsys):
    labels, outs = plots_case(tmp_path)
    target = tmp_path / "figures.png"
    target.write_text("not a folder")
    assert main([str(labels), str(outs), "--plots", str(target)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "is a file" in error


def test_scoring_without_plots_imports_no_matplotlib(tmp_path):
    labels, outs = plots_case(tmp_path)
    code = (
        "import sys\nfrom ecg12.evaluation import main\n"
        f"assert main([{str(labels)!r}, {str(outs)!r}]) == 0\n"
        "print('matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
