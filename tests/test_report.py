"""The per-recording report (ecg12.report, report.py): the images are made, the recording is classified as the driver
classifies it, the saliency is the model's, and page 1 is true to the ECG paper's scale."""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from trained_model import subprocess_env

import report
from ecg12.headers import read_header
from ecg12.inference import load_classifier
from ecg12.model import FoldEnsemble
from ecg12.preprocess import STANDARD_LEADS, window_starts
from ecg12.recording_analysis import analyse_recording, decision_thresholds, header_path_of
from ecg12.recordings import open_counts, signal_file
from ecg12.report import measurement_lines, page_count, report_pages, save_pages, write_recording_report
from ecg12.scoring import prepare_recording
from ecg12.synthetic import synthesize_ecg, write_record
from ecg12.thresholds import DecisionRule, patch_fractions

REPOSITORY = Path(__file__).resolve().parents[1]
REAL = REPOSITORY / "data" / "sample" / "test"

# The clinical standard, stated here rather than taken from the module under test.
MM_PER_SECOND = 25.0
MM_PER_MV = 10.0
A4_LANDSCAPE_MM = (297.0, 210.0)
SCALE_DPI = 254.0  # 10 pixels per mm
PX_PER_MM = SCALE_DPI / 25.4


@pytest.fixture(scope="module")
def classifier(shared):
    return load_classifier(shared.model)


def every_class(classifier, threshold: float):
    """The classifier with a per-class threshold of ``threshold`` for every class."""
    rule = DecisionRule("per-class", class_thresholds=(threshold,) * len(classifier.classes.codes))
    return dataclasses.replace(classifier, decision_rule=rule)


def driver_probabilities(classifier, header_path: Path) -> np.ndarray:
    header = read_header(header_path)
    return classifier.probabilities([prepare_recording(header, open_counts(signal_file(header_path), header))])[0]


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def pdf_page_sizes_mm(path: Path) -> set[tuple[float, float]]:
    """Width and height of every page's media box, in mm (PDF units are points, 72 to the inch)."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([0-9.]+) ([0-9.]+)\s*\]", path.read_bytes())
    return {(round(float(width) / 72 * 25.4, 1), round(float(height) / 72 * 25.4, 1)) for width, height in boxes}


def synthetic(folder: Path, name: str, frequency: float, seconds: float, seed: int = 0, **fields) -> Path:
    signal = synthesize_ecg(np.random.default_rng(seed), frequency, seconds, heart_rate=75.0)
    lead_names = fields.pop("lead_names", STANDARD_LEADS)
    order = [STANDARD_LEADS.index(lead) for lead in lead_names]
    return write_record(folder, name, signal[order], frequency, lead_names=lead_names, **fields)


# --------------------------------------------------------------------------------------------------------------
# Images and pages


@pytest.mark.slow
def test_png_report_of_a_real_recording_has_every_page_one_under_the_other(classifier, tmp_path):
    dpi = 50.8  # 2 pixels per mm: page sizes in whole pixels
    output = tmp_path / "A0101.png"
    analysis = write_recording_report(classifier, REAL / "A0101.hea", output, dpi=dpi)
    image = imread(output)
    width, height = (round(size / 25.4 * dpi) for size in A4_LANDSCAPE_MM)
    pages = page_count(analysis)
    assert pages >= 2
    assert image.shape[:2] == (pages * height, width)
    for page in range(pages):
        band = image[page * height : (page + 1) * height, :, :3]
        assert (band.mean(axis=2) < 0.5).mean() > 0.005, f"page {page + 1} is (nearly) blank"


@pytest.mark.parametrize(
    ("threshold", "expected_pages"),
    [(0.0, 1 + 3), (1.01, 1 + 1)],  # every class predicted: 6 explained, 2 a page; none: the most probable one
    ids=["all-predicted", "none-predicted"],
)
@pytest.mark.slow
def test_pdf_report_has_the_ecg_page_and_the_evidence_pages(classifier, tmp_path, threshold, expected_pages):
    output = tmp_path / "report.pdf"
    analysis = write_recording_report(every_class(classifier, threshold), REAL / "E07544.hea", output)
    assert len(analysis.evidence) == (6 if threshold == 0.0 else 1)
    assert output.read_bytes().startswith(b"%PDF") and pdf_pages(output) == expected_pages
    assert page_count(analysis) == expected_pages
    assert pdf_page_sizes_mm(output) == {A4_LANDSCAPE_MM}  # printed at 100 %, page 1 is true to scale


def test_an_unknown_output_format_is_refused_before_the_work(classifier, tmp_path):
    with pytest.raises(ValueError, match=r"\.png or \.pdf"):
        write_recording_report(classifier, REAL / "A0101.hea", tmp_path / "report.svg")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------------------------
# What the report says: the driver's classification, the windows' votes, the model's saliency


@pytest.mark.parametrize("name", ["A0101", "E07544", "JS22627"])
def test_the_report_classifies_a_real_recording_as_the_driver_does(classifier, name):
    analysis = analyse_recording(classifier, REAL / f"{name}.hea")
    np.testing.assert_allclose(
        analysis.probabilities, driver_probabilities(classifier, REAL / f"{name}.hea"), atol=1e-6
    )
    np.testing.assert_array_equal(analysis.predicted, classifier.decision_rule.apply(analysis.probabilities[None])[0])
    assert analysis.header.record_name == name


def test_a_long_recording_gets_every_windows_vote_and_each_class_its_deciding_window(classifier, tmp_path):
    # 35 s at 257 Hz, leads in another order, no age or sex: 4 windows at 500 Hz, the last aligned to the end.
    lead_names = list(reversed(STANDARD_LEADS))
    path = synthetic(tmp_path, "long", 257, 35.0, lead_names=lead_names)
    analysis = analyse_recording(every_class(classifier, 0.0), path, max_explained=24)
    header = read_header(path)
    signal, _ = prepare_recording(header, open_counts(signal_file(path), header))
    starts = window_starts(signal.shape[1])
    assert len(starts) == 4 and analysis.num_samples == signal.shape[1]
    np.testing.assert_array_equal(analysis.window_starts, starts)
    assert analysis.window_probabilities.shape == (4, 24)
    np.testing.assert_allclose(analysis.window_probabilities.max(axis=0), analysis.probabilities)
    np.testing.assert_allclose(analysis.probabilities, driver_probabilities(classifier, path), atol=1e-6)
    assert len(analysis.evidence) == 24
    assert len({item.window_start for item in analysis.evidence}) > 1  # classes decided in different windows
    for item in analysis.evidence:
        assert item.window_start == starts[np.argmax(analysis.window_probabilities[:, item.class_index])]
        np.testing.assert_array_equal(item.window, np.asarray(signal[:, item.window_start : item.window_start + 5000]))
    order = [item.class_index for item in analysis.evidence]
    assert order == sorted(order, key=lambda index: -analysis.probabilities[index])


def test_the_saliency_is_the_models(classifier, tmp_path):
    analysis = analyse_recording(classifier, REAL / "A0101.hea")
    changed = dataclasses.replace(classifier, model=copy.deepcopy(classifier.model))
    with torch.no_grad():
        changed.model.network.head[-1].weight.mul_(-1.0)  # the network beside its measurement model
    changed_analysis = analyse_recording(changed, REAL / "A0101.hea")
    first = analysis.evidence[0]
    same_class = next(item for item in changed_analysis.evidence if item.class_index == first.class_index)
    assert first.saliency.shape == (12, 5000) and first.saliency.max() > 0
    assert not np.allclose(same_class.saliency, first.saliency, rtol=0.05)


def test_a_fold_ensemble_is_explained_by_its_own_output(classifier):
    member = classifier.model
    twice = dataclasses.replace(classifier, model=FoldEnsemble([member, copy.deepcopy(member)]).eval())
    alone, doubled = (analyse_recording(c, REAL / "A0101.hea") for c in (classifier, twice))
    np.testing.assert_allclose(doubled.probabilities, alone.probabilities, atol=1e-6)
    np.testing.assert_allclose(doubled.evidence[0].saliency, alone.evidence[0].saliency, rtol=1e-3, atol=1e-9)
    other = copy.deepcopy(member)
    with torch.no_grad():
        other.network.head[-1].weight.mul_(-1.0)
    mixed = dataclasses.replace(classifier, model=FoldEnsemble([member, other]).eval())
    index = alone.evidence[0].class_index
    explained = analyse_recording(every_class(mixed, 0.0), REAL / "A0101.hea", max_explained=24).evidence
    mixed_item = next(item for item in explained if item.class_index == index)
    assert not np.allclose(mixed_item.saliency, alone.evidence[0].saliency, rtol=0.05)


# --------------------------------------------------------------------------------------------------------------
# Every recording the driver accepts


@pytest.mark.slow
def test_recordings_the_driver_accepts_are_reported(classifier, tmp_path):
    cases = {
        "long-257-Hz-reordered": synthetic(
            tmp_path, "long", 257, 25.0, lead_names=list(reversed(STANDARD_LEADS)), age=math.nan, sex="Unknown"
        ),
        "short-1000-Hz": synthetic(tmp_path, "short", 1000, 4.0, age=61, sex="Male", codes=("164889003",)),
        "missing-lead": synthetic(tmp_path, "eleven", 500, 10.0, lead_names=STANDARD_LEADS[:11], sex="Female"),
    }
    for case, path in cases.items():
        output = tmp_path / f"{case}.png"
        analysis = write_recording_report(classifier, path, output, dpi=20)
        assert output.stat().st_size > 0 and imread(output).shape[0] == page_count(analysis) * 165, case
    short = analyse_recording(classifier, cases["short-1000-Hz"])
    assert short.num_samples == 2000 and len(short.window_starts) == 1
    eleven = analyse_recording(classifier, cases["missing-lead"])
    assert any("V6" in repair for repair in eleven.repairs)
    assert not eleven.evidence[0].window[11].any()  # the zero-filled lead, drawn as missing


def test_text_from_the_file_is_drawn_as_it_is(classifier, tmp_path):
    # Dollar signs around text start matplotlib's mathematics, where \q is an error; the code is not a scored one.
    path = synthetic(tmp_path, "cost$1$", 500, 10.0, codes=(r"$\q$", "164889003"))
    output = tmp_path / "report.png"
    analysis = write_recording_report(classifier, path, output, dpi=20)
    assert analysis.header.record_name == "cost$1$" and imread(output).shape[0] == page_count(analysis) * 165


def test_a_recording_is_named_by_its_header_signal_file_or_name(tmp_path):
    assert header_path_of(tmp_path / "A0001") == tmp_path / "A0001.hea"
    assert header_path_of(tmp_path / "A0001.mat") == tmp_path / "A0001.hea"
    assert header_path_of(tmp_path / "A0001.DAT") == tmp_path / "A0001.hea"
    assert header_path_of(tmp_path / "A0001.hea") == tmp_path / "A0001.hea"
    assert header_path_of(tmp_path / "rec.v2") == tmp_path / "rec.v2.hea"  # a dot in the name is not a suffix


# --------------------------------------------------------------------------------------------------------------
# True scale: measured on the rendered page 1


def render_page_one(classifier, path: Path, output: Path) -> np.ndarray:
    """Page 1 of ``path``'s report as RGB floats at :data:`SCALE_DPI`."""
    save_pages(report_pages(analyse_recording(classifier, path))[:1], output, dpi=SCALE_DPI)
    return imread(output)[:, :, :3]


def line_centres(mask: np.ndarray) -> np.ndarray:
    """Centres of runs of consecutive True values."""
    positions = np.flatnonzero(mask)
    runs = np.split(positions, np.flatnonzero(np.diff(positions) > 1) + 1)
    return np.array([run.mean() for run in runs if run.size])


def longest_vertical_runs(dark: np.ndarray) -> np.ndarray:
    """Per column of a boolean image, the longest run of consecutive True pixels."""
    longest = np.zeros(dark.shape[1], dtype=int)
    current = np.zeros(dark.shape[1], dtype=int)
    for row in dark:
        current = np.where(row, current + 1, 0)
        longest = np.maximum(longest, current)
    return longest


@pytest.mark.slow
def test_the_grid_has_a_line_every_mm_and_a_bolder_one_every_5_mm(classifier, tmp_path):
    flat = write_record(tmp_path, "flat", np.zeros((12, 5000)), 500)
    image = render_page_one(classifier, flat, tmp_path / "page.png")
    red = (image[:, :, 0] > 0.8) & (image[:, :, 0] - image[:, :, 2] > 0.15)  # grid pixels: reddish, not black
    bold = red & (image[:, :, 1] < 0.62)  # the bolder lines are darker than the 1 mm ones
    for axis in (0, 1):  # vertical lines (columns), then horizontal lines (rows)
        bold_share = bold.mean(axis=axis)
        majors = line_centres(bold_share > 0.5 * bold_share.max())
        assert len(majors) >= 25
        assert_evenly_spaced(majors, 5 * PX_PER_MM)
        light_share = (red & ~bold).mean(axis=axis)
        minors = np.sort(np.concatenate([line_centres(light_share > 0.5 * light_share.max()), majors]))
        assert_evenly_spaced(minors, 1 * PX_PER_MM)


def assert_evenly_spaced(centres: np.ndarray, step: float) -> None:
    """Lines ``step`` pixels apart (to a pixel); a line hidden under a trace (a flat one on its baseline) leaves
    twice the step."""
    gaps = np.diff(centres)
    steps = np.maximum(np.round(gaps / step), 1)
    np.testing.assert_allclose(gaps, steps * step, atol=1.0)
    assert np.median(gaps) == pytest.approx(step, abs=1.0) and (steps == 1).mean() > 0.9


@pytest.mark.slow
def test_a_millivolt_is_10_mm_and_a_second_is_25_mm_on_page_one(classifier, tmp_path):
    # 2 mV pulses, 0.1 s long, every second from 0.5 s in every lead: each rising edge is a 20 mm vertical line in
    # every row, 25 mm from the next; the calibration pulse of every row is a 10 mm one.
    time = np.arange(5000) / 500
    pulses = np.where((time % 1.0 >= 0.5) & (time % 1.0 < 0.6), 2.0, 0.0)
    path = write_record(tmp_path, "pulses", np.tile(pulses, (12, 1)), 500)
    image = render_page_one(classifier, path, tmp_path / "page.png")
    dark = image.mean(axis=2) < 0.25  # the trace and the calibration pulses, not the grid
    runs = longest_vertical_runs(dark)
    pulse_edges = line_centres(runs > 15 * PX_PER_MM)
    assert len(pulse_edges) == 20  # a rising and a falling edge a second, for 10 s
    rising = pulse_edges[::2]
    np.testing.assert_allclose(np.diff(rising), MM_PER_SECOND * PX_PER_MM, atol=1.5)
    np.testing.assert_allclose(pulse_edges[1::2] - rising, 0.1 * MM_PER_SECOND * PX_PER_MM, atol=1.5)
    assert abs(np.median(runs[runs > 15 * PX_PER_MM]) - 2 * MM_PER_MV * PX_PER_MM) <= 3  # + the line's width
    calibration = line_centres((runs > 8 * PX_PER_MM) & (runs < 12 * PX_PER_MM))
    assert len(calibration) >= 2  # the pulse's rising and falling edge
    assert abs(runs[round(calibration[0])] - MM_PER_MV * PX_PER_MM) <= 3
    np.testing.assert_allclose(calibration[1] - calibration[0], 0.2 * MM_PER_SECOND * PX_PER_MM, atol=1.5)
    assert rising[0] - calibration[0] > 0  # the calibration pulse comes before time 0


# --------------------------------------------------------------------------------------------------------------
# report.py


@pytest.mark.slow
def test_command_writes_the_report(shared, tmp_path, capsys):
    output = tmp_path / "out" / "A0051.png"
    assert report.main([str(shared.model), str(REAL / "A0051"), str(output), "--dpi", "20"]) == 0
    assert output.is_file() and imread(output).size > 0
    assert str(output) in capsys.readouterr().out


@pytest.mark.slow
def test_command_default_output_is_a_pdf_named_after_the_recording(shared, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert report.main([str(shared.model), str(REAL / "A0051.mat")]) == 0
    assert pdf_pages(tmp_path / "A0051.pdf") >= 2


def unreadable_cases(folder: Path) -> dict[str, tuple[Path, str]]:
    """Broken recordings: (the path given, a part of the expected message)."""
    good = REAL / "A0101"
    truncated = folder / "truncated"
    truncated.with_suffix(".hea").write_bytes(good.with_suffix(".hea").read_bytes())
    truncated.with_suffix(".mat").write_bytes(good.with_suffix(".mat").read_bytes()[:500])
    no_signal = folder / "nosignal"
    no_signal.with_suffix(".hea").write_bytes(good.with_suffix(".hea").read_bytes())
    garbage = folder / "garbage"
    garbage.with_suffix(".hea").write_text("this is not a header\n")
    garbage.with_suffix(".mat").write_bytes(good.with_suffix(".mat").read_bytes())
    return {
        "truncated": (truncated.with_suffix(".hea"), "truncated"),
        "no-signal": (no_signal, "nosignal"),
        "no-header": (folder / "absent.mat", "absent.hea"),
        "garbage-header": (garbage, "garbage.hea"),
    }


def test_an_unreadable_recording_is_one_line_naming_the_file(shared, tmp_path, capsys):
    for case, (path, named) in unreadable_cases(tmp_path).items():
        output = tmp_path / f"{case}.png"
        assert report.main([str(shared.model), str(path), str(output)]) == 1, case
        error = capsys.readouterr().err
        assert error.startswith("report.py: ") and error.count("\n") == 1, (case, error)
        assert named in error, (case, error)
        assert not output.exists()


@pytest.mark.slow
def test_an_unreadable_recording_has_no_traceback_from_the_script(shared, tmp_path):
    path, _ = unreadable_cases(tmp_path)["truncated"]
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "report.py"), str(shared.model), str(path), str(tmp_path / "r.png")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=subprocess_env(),
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("report.py: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_model_is_exit_code_2(tmp_path, capsys):
    assert report.main([str(tmp_path / "nomodel"), str(REAL / "A0101")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("report.py: ") and "nomodel" in error


def test_an_output_that_is_neither_png_nor_pdf_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        report.main([str(tmp_path), str(REAL / "A0101"), str(tmp_path / "report.jpg")])
    assert stop.value.code == 2 and "report.jpg" in capsys.readouterr().err


def test_help_is_instant_without_torch_or_matplotlib():
    code = (
        "import sys, runpy; sys.argv = ['report.py', '--help']\n"
        "try:\n    runpy.run_path('report.py', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY, timeout=60)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "MODEL RECORDING [OUT]" in text and "(default: 150.0)" in text
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_class_is_predicted_exactly_when_its_probability_reaches_the_threshold_shown() -> None:
    rng = np.random.default_rng(4)
    rules = [DecisionRule("patch-fraction"), DecisionRule("max-fraction"), DecisionRule("tuned-fraction", 0.3)]
    for rule in rules:
        for _ in range(50):
            windows = rng.random((int(rng.integers(1, 5)), 24)) ** 3
            probabilities = windows.max(axis=0)
            predicted = rule.apply(probabilities[None], patch_fractions(windows)[None])[0]
            thresholds = decision_thresholds(rule, windows)
            np.testing.assert_array_equal(predicted, probabilities >= thresholds * (1 - 1e-12))


def page_text(figure) -> str:
    return "\n".join(text.get_text() for axes in figure.axes for text in axes.texts)


def test_the_first_page_prints_the_measurements_as_a_cardiograph_does(classifier, tmp_path):
    path = synthetic(tmp_path, "sinus", 500, 10.0)  # 75 bpm
    analysis = analyse_recording(classifier, path)
    assert abs(analysis.measurements.heart_rate - 75.0) < 3
    text = page_text(report_pages(analysis)[0]).replace("\u00a0", " ")
    rate = re.search(r"Rate (\d+) bpm, PR (\d+) ms, QRS (\d+) ms, QT/QTc (\d+)/(\d+) ms", text)
    assert rate is not None, text
    assert abs(int(rate.group(1)) - 75) < 3
    assert re.search(r"P-R-T axes -?\d+ -?\d+ -?\d+", text)


def test_a_measurement_that_cannot_be_made_is_a_dash_never_a_number():
    from ecg12.measurements import NOT_MEASURED

    no_p = dataclasses.replace(NOT_MEASURED, heart_rate=140.0, qrs=90.0)
    lines = [line.replace("\u00a0", " ") for line in measurement_lines(no_p)]
    assert lines[0] == "Rate 140 bpm, PR \u2013 ms, QRS 90 ms, QT/QTc \u2013/\u2013 ms"
    assert lines[1] == "P-R-T axes \u2013 \u2013 \u2013"


def test_the_report_names_the_criteria_met_by_predicted_and_by_other_classes(classifier, tmp_path):
    from ecg12.criteria import CRITERIA
    from ecg12.measurements import NOT_MEASURED
    from ecg12.report import criteria_lines

    analysis = analyse_recording(classifier, synthetic(tmp_path, "slow", 500, 10.0))
    sb = next(c for c in CRITERIA if c.name == "SB")
    predicted = analysis.predicted.copy()
    predicted[:] = False
    predicted[analysis.classes.codes.index(sb.code)] = True
    measured = dataclasses.replace(NOT_MEASURED, heart_rate=50.0, pr=150.0)
    lines = criteria_lines(dataclasses.replace(analysis, predicted=predicted, measurements=measured))
    assert lines == [
        "Criteria met: SB, heart rate < 60 bpm (50)",
        "Criteria met, class not predicted: Brady, heart rate < 60 bpm (50)",
    ]
    assert criteria_lines(dataclasses.replace(analysis, measurements=NOT_MEASURED)) == []
