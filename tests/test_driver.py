"""driver.py loses nothing a user cares about (issue 12): every header and signal file gets an output and, when it
cannot be classified, a named problem; reports never overwrite an output; repairs are listed in warnings.csv; a
second run into the same folder, an unwritable output folder, an empty or unlistable data folder and a model file
given for the model folder each stop with one line; odd file names, runs without a terminal and Ctrl-C are handled.

The driver runs in-process where its return value and messages are what matter, as a subprocess where a real second
process or a real pipe for stderr is the point; the model is the tiny one of tests/trained_model.py.
"""

from __future__ import annotations

import csv
import errno
import io
import logging
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from trained_model import REPOSITORY, TrainedModel, subprocess_env

import driver
from ecg12 import classify, evaluation, files, inference
from ecg12.classes import scored_classes
from ecg12.classify import ERRORS_FILE, LOCK_FILE, WARNINGS_FILE, classify_folder
from ecg12.files import temporary_key
from ecg12.inference import MODEL_FILE, RecordingScores, load_classifier
from ecg12.outputs import load_outputs
from ecg12.preprocess import STANDARD_LEADS, DegradedRecordingWarning, PreparedSignal
from ecg12.recordings import CountsReader
from ecg12.synthetic import LIMB_LEADS, SINUS_RHYTHM, write_record

ERRORS_HEADER = ["recording", "stage", "message"]
PROGRESS = r"classifying \d+/\d+ recordings \(\d+\.\d/s\)"
WARNINGS_HEADER = ["recording", "message"]


def write_recordings(folder: Path, names: list[str], seed: int = 0, lead_names: tuple[str, ...] | None = None) -> Path:
    """Write 10 s, 500 Hz records of noise (12 leads unless ``lead_names`` says otherwise) into ``folder``."""
    rng = np.random.default_rng(seed)
    for name in names:
        leads = lead_names or STANDARD_LEADS
        signal = rng.normal(0.0, 0.3, (len(leads), 5000))
        write_record(folder, name, signal, 500, lead_names=leads, age=50.0, sex="Female", codes=(SINUS_RHYTHM,))
    return folder


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:  # strict UTF-8: a report must always be readable
        return list(csv.reader(handle))


def is_answer(path: Path) -> bool:
    """A real answer: the 27 codes and probabilities strictly between 0 and 1."""
    codes, _, probabilities = load_outputs(path)
    return codes == list(scored_classes().output_codes) and all(0.0 < p < 1.0 for p in probabilities)


def is_all_negative(path: Path) -> bool:
    return load_outputs(path) == (list(scored_classes().output_codes), [False] * 27, [0.0] * 27)


def run_driver(model: Path, data: Path, outputs: Path, *options: str) -> int:
    return driver.main([str(model), str(data), str(outputs), "--device", "cpu", *options])


def one_line(text: str) -> str:
    """The only line of ``text`` (a traceback or a second message fails here)."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture
def readings(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The headers classify_folder reads, in order (it still reads them)."""
    read: list[Path] = []
    read_header = classify.read_header

    def counted(path: Path) -> object:
        read.append(Path(path))
        return read_header(path)

    monkeypatch.setattr(classify, "read_header", counted)
    return read


# --- 1. every header and every signal file gets an output ----------------------------------------------------------


def test_every_header_and_signal_file_gets_an_output_and_a_named_problem(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["good", "orphan", "dangling", "folder", "folder_header", "no_header"])
    (data / "orphan.mat").unlink()
    (data / "dangling.mat").unlink()
    (data / "dangling.mat").symlink_to(data / "gone.mat")
    (data / "folder.mat").unlink()
    (data / "folder.mat").mkdir()
    (data / "folder_header.hea").unlink()
    (data / "folder_header.hea").mkdir()
    (data / "no_header.hea").unlink()
    outputs = tmp_path / "outputs"

    assert run_driver(shared.model, data, outputs) == 1
    captured = capsys.readouterr()
    assert "6 recordings: 1 done, 5 failed" in captured.out

    assert sorted(p.name for p in outputs.glob("*.csv")) == sorted(
        [f"{name}.csv" for name in ("good", "orphan", "dangling", "folder", "folder_header", "no_header")]
        + [ERRORS_FILE]
    )
    assert is_answer(outputs / "good.csv")
    rows = read_rows(outputs / ERRORS_FILE)
    assert rows[0] == ERRORS_HEADER
    problems = {name: message for name, stage, message in rows[1:] if stage == "read"}
    assert sorted(problems) == ["dangling", "folder", "folder_header", "no_header", "orphan"], rows
    assert "signal file orphan.mat" in problems["orphan"] and "missing" in problems["orphan"]
    assert "dangling.mat" in problems["dangling"] and "broken symbolic link" in problems["dangling"]
    assert "folder.mat" in problems["folder"] and "is a folder" in problems["folder"]
    assert "folder_header.hea" in problems["folder_header"] and "is a folder" in problems["folder_header"]
    assert "header file no_header.hea" in problems["no_header"] and "missing" in problems["no_header"]
    for name, message in problems.items():
        assert is_all_negative(outputs / f"{name}.csv"), name
        assert f"{name}: read failed: {message}" in captured.err


# --- 2. no report overwrites an output ------------------------------------------------------------------------------


@pytest.mark.parametrize("names", [["errors", "warnings"], ["errors", "Errors_2", "WARNINGS", "warnings_2"]])
def test_recordings_named_like_the_reports_keep_their_outputs(
    names: list[str], shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", names)
    write_recordings(data, ["six_leads"], lead_names=LIMB_LEADS)  # a warning: warnings.csv has a row
    (data / "broken.mat").write_bytes(b"")  # an error: errors.csv has a row
    outputs = tmp_path / "outputs"

    assert run_driver(shared.model, data, outputs) == 1
    summary = one_line(capsys.readouterr().out)

    for name in [*names, "six_leads"]:
        assert is_answer(outputs / f"{name}.csv"), name
    taken = {f"{name}.csv".casefold() for name in [*names, "six_leads", "broken"]}
    reports = {p.name: read_rows(p) for p in outputs.glob("*.csv") if p.name.casefold() not in taken}
    assert len(reports) == 2, sorted(reports)
    (errors_file,) = [name for name, rows in reports.items() if rows[0] == ERRORS_HEADER]
    (warnings_file,) = [name for name, rows in reports.items() if rows[0] == WARNINGS_HEADER]
    assert [row[0] for row in reports[errors_file][1:]] == ["broken"]
    assert [row[0] for row in reports[warnings_file][1:]] == ["six_leads"]
    assert str(outputs / errors_file) in summary and str(outputs / warnings_file) in summary


def test_the_summary_names_where_the_reports_are(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["plain"])
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs) == 0
    summary = one_line(capsys.readouterr().out)
    assert str(outputs / ERRORS_FILE) in summary
    assert WARNINGS_FILE not in summary and not (outputs / WARNINGS_FILE).exists()  # nothing was repaired


# --- 3. repairs are answered and listed in warnings.csv -------------------------------------------------------------


class GapsFilledWarning(DegradedRecordingWarning):
    """A repair this test makes up: any subclass of DegradedRecordingWarning is a repair."""


def test_repaired_recordings_are_answered_and_listed_in_warnings_csv(
    shared: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["clean", "gappy", "noisy"])
    write_recordings(data, ["six_leads", "six_leads_gappy"], seed=1, lead_names=LIMB_LEADS)
    prepare_measured_recording = classify.prepare_measured_recording

    def repairing(header: classify.Header, counts: CountsReader) -> tuple[PreparedSignal, np.ndarray]:
        if "gappy" in header.record_name:
            warnings.warn(f"{header.record_name}: 2 gaps of NaN samples filled", GapsFilledWarning, stacklevel=1)
        if header.record_name == "noisy":
            warnings.warn("not a repair: it goes on as a warning", UserWarning, stacklevel=1)
        return prepare_measured_recording(header, counts)

    monkeypatch.setattr(classify, "prepare_measured_recording", repairing)
    outputs = tmp_path / "outputs"
    with pytest.warns(UserWarning, match="not a repair") as passed_on:
        assert run_driver(shared.model, data, outputs) == 0
    assert not [w for w in passed_on if issubclass(w.category, DegradedRecordingWarning)]
    captured = capsys.readouterr()

    rows = read_rows(outputs / WARNINGS_FILE)
    assert rows[0] == WARNINGS_HEADER
    messages: dict[str, list[str]] = {}
    for name, message in rows[1:]:
        messages.setdefault(name, []).append(message)
    assert sorted(messages) == ["gappy", "six_leads", "six_leads_gappy"]
    assert messages["gappy"] == ["gappy: 2 gaps of NaN samples filled"]
    assert len(messages["six_leads_gappy"]) == 2
    assert all("V1, V2, V3, V4, V5, V6 missing, zero-filled" in m for m in messages["six_leads"])
    assert read_rows(outputs / ERRORS_FILE) == [ERRORS_HEADER]  # errors.csv: only recordings without an answer
    for name in ("clean", "gappy", "noisy", "six_leads", "six_leads_gappy"):
        assert is_answer(outputs / f"{name}.csv"), name
    assert "zero-filled" not in captured.err and "gaps" not in captured.err  # no raw warning noise
    assert "3 answered after repairs" in one_line(captured.out)


def test_an_uncalibrated_lead_is_answered_and_listed_in_warnings_csv(shared: TrainedModel, tmp_path: Path) -> None:
    data = write_recordings(tmp_path / "data", ["calibrated", "gain_0"])
    header = data / "gain_0.hea"
    header.write_text(header.read_text().replace(" 1000/mV ", " 0/mV ", 1))  # lead I: gain 0, "uncalibrated"
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs) == 0
    assert is_answer(outputs / "gain_0.csv")
    ((name, message),) = read_rows(outputs / WARNINGS_FILE)[1:]
    assert name == "gain_0"
    assert message == f"{header}: ADC gain 0 (uncalibrated) in I: read at WFDB's default gain, 200 ADC units per mV"


def test_with_warnings_as_errors_repairs_are_still_listed_and_other_warnings_fail_their_recording_alone(
    shared: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_recordings(tmp_path / "data", ["clean", "noisy"])
    write_recordings(data, ["six_leads"], lead_names=LIMB_LEADS)
    prepare_measured_recording = classify.prepare_measured_recording

    def noisy(header: classify.Header, counts: CountsReader) -> tuple[PreparedSignal, np.ndarray]:
        if header.record_name == "noisy":
            warnings.warn("something odd", UserWarning, stacklevel=1)
        return prepare_measured_recording(header, counts)

    monkeypatch.setattr(classify, "prepare_measured_recording", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # python -W error
        result = classify_folder(load_classifier(shared.model), data, tmp_path / "outputs", show_progress=False)
    assert result.errors == [("noisy", "preprocess", "UserWarning: something odd")]
    assert [name for name, _ in result.warnings] == ["six_leads"] and result.done == 2


def test_a_repaired_recording_that_then_fails_is_only_an_error(shared: TrainedModel, tmp_path: Path) -> None:
    data = write_recordings(tmp_path / "data", ["fine"])
    write_recordings(data, ["six_leads"], lead_names=LIMB_LEADS)
    classifier = load_classifier(shared.model)
    scores = classifier.scores

    def failing_six_leads(records: object) -> RecordingScores:
        chunk = list(records)  # type: ignore[call-overload]
        if len(chunk) > 1:
            raise RuntimeError("out of memory")  # the chunk fails; then one by one
        result = scores(chunk)
        if not chunk[0][0][6:].any():  # the zero-filled chest leads
            result.probabilities[:] = np.nan
        return result

    classifier.scores = failing_six_leads  # type: ignore[method-assign]
    result = classify_folder(classifier, data, tmp_path / "outputs", show_progress=False)
    assert [row[0] for row in result.errors] == ["six_leads"] and result.warnings == []
    assert not (tmp_path / "outputs" / WARNINGS_FILE).exists()


def test_a_warnings_csv_of_an_earlier_run_does_not_outlive_its_repairs(shared: TrainedModel, tmp_path: Path) -> None:
    data = write_recordings(tmp_path / "data", ["plain"])
    write_recordings(data, ["six_leads"], lead_names=LIMB_LEADS)
    classifier = load_classifier(shared.model)
    outputs = tmp_path / "outputs"
    classify_folder(classifier, data, outputs, show_progress=False)
    assert [row[0] for row in read_rows(outputs / WARNINGS_FILE)[1:]] == ["six_leads"]
    write_recordings(data, ["six_leads"])  # now with 12 leads
    result = classify_folder(classifier, data, outputs, show_progress=False)
    assert result.warnings == [] and not (outputs / WARNINGS_FILE).exists()


# --- 4. one run per output folder -----------------------------------------------------------------------------------

HOLD_LOCK = """
import sys
from ecg12.classify import output_folder_lock
with output_folder_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


@pytest.mark.slow
def test_a_second_run_into_the_same_outputs_folder_is_refused(
    shared: TrainedModel, tmp_path: Path, readings: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["first", "second"])
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    in_flight = outputs / f".{temporary_key('first.csv')}.inflight.tmp"  # the other run's atomic write in progress
    in_flight.write_text("#first\n")
    other_run = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(outputs)],
        cwd=REPOSITORY,
        env=subprocess_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other_run.stdout is not None and other_run.stdout.readline() == "locked\n"
        assert run_driver(shared.model, data, outputs) == 2
    finally:
        other_run.communicate(timeout=60)
    message = one_line(capsys.readouterr().err)
    assert message.startswith("driver.py: ") and str(outputs) in message and "in use by another run" in message
    assert readings == [] and in_flight.exists()  # nothing read, the other run's file untouched
    assert [p.name for p in outputs.iterdir()] == [in_flight.name]  # the other run's lock file went with it

    assert run_driver(shared.model, data, outputs) == 0  # the lock went with the other run
    assert not (outputs / LOCK_FILE).exists()  # and so did its file, as this run's


def test_two_locks_on_one_folder_exclude_each_other_and_are_released(tmp_path: Path) -> None:
    with (
        classify.output_folder_lock(tmp_path),
        pytest.raises(classify.OutputFolderError, match="in use"),
        classify.output_folder_lock(tmp_path),
    ):
        pass
    with classify.output_folder_lock(tmp_path):  # released on leaving
        pass


def test_the_driver_holds_the_one_lock_of_the_package_and_leaves_no_lock_file(tmp_path: Path) -> None:
    """The lock of ecg12.files that model folders, folds and caches use: held by name, removed as it is let go."""
    with (
        files.one_run(tmp_path, [LOCK_FILE], "another run"),
        pytest.raises(classify.OutputFolderError) as refused,
        classify.output_folder_lock(tmp_path),
    ):
        pass
    assert str(refused.value) == (
        f"output folder {tmp_path} is in use by another run (it holds {tmp_path / LOCK_FILE}): "
        "wait for it to end, or choose another folder"
    )
    (tmp_path / LOCK_FILE).write_text("")  # as a killed run leaves it: nobody holds it
    with classify.output_folder_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).is_file()
    assert list(tmp_path.iterdir()) == []


# --- 5. an output folder that cannot be written is found first ------------------------------------------------------


@pytest.mark.parametrize("kind", ["read-only file system", "no write permission"])
def test_an_unwritable_outputs_folder_stops_the_run_before_the_first_recording(
    kind: str, shared: TrainedModel, tmp_path: Path, readings: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["one", "two"])
    if kind == "read-only file system":
        outputs = Path("/sys")  # sysfs: no one, not even root, can create a file there
        if not outputs.is_dir():
            pytest.skip("no /sys on this system")
    else:
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits (the read-only file system case runs instead)")
        outputs = tmp_path / "outputs"
        outputs.mkdir(mode=0o555)
    assert run_driver(shared.model, data, outputs) == 2
    message = one_line(capsys.readouterr().err)
    assert message.startswith(f"driver.py: output folder {outputs} is not writable: ")
    assert readings == []


# --- 6. data folders without recordings -----------------------------------------------------------------------------


def test_a_data_folder_without_recordings_is_an_error(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "README.txt").write_text("nothing here\n")
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs) == 2
    message = one_line(capsys.readouterr().err)
    assert message.startswith(f"driver.py: no recordings in {data}") and ".hea" in message
    assert not outputs.exists()


def test_a_data_folder_of_subfolders_says_where_recordings_are_expected(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    write_recordings(data / "georgia", ["E00001"])
    write_recordings(data / "ptb", ["S0001"])
    (data / ".hidden").mkdir()
    assert run_driver(shared.model, data, tmp_path / "outputs") == 2
    message = one_line(capsys.readouterr().err)
    assert f"no recordings in {data}" in message
    assert "subfolders georgia/, ptb/" in message and ".hidden" not in message
    assert f"expected directly in {data}" in message


@pytest.mark.parametrize("problem", ["missing", "a file", "unlistable"])
def test_a_data_folder_that_cannot_be_listed_is_one_line(
    problem: str,
    shared: TrainedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    expected = {"missing": "does not exist", "a file": "is a file, not a folder", "unlistable": "cannot list"}[problem]
    if problem == "a file":
        data.write_text("not a folder\n")
    elif problem == "unlistable":
        write_recordings(data, ["one"])
        scandir, iterdir = os.scandir, Path.iterdir

        def refuse(path: object) -> None:
            if Path(os.fsdecode(path)) == data:  # type: ignore[arg-type]
                raise PermissionError(errno.EACCES, "Permission denied", str(path))

        def refused_scandir(path: str | os.PathLike[str] = ".") -> Iterator[os.DirEntry[str]]:
            refuse(path)
            return scandir(path)

        def refused_iterdir(self: Path) -> Iterator[Path]:
            refuse(self)
            return iterdir(self)

        monkeypatch.setattr(os, "scandir", refused_scandir)  # root may list any folder: refuse this one
        monkeypatch.setattr(Path, "iterdir", refused_iterdir)
    assert run_driver(shared.model, data, tmp_path / "outputs") == 2
    message = one_line(capsys.readouterr().err)
    assert message.startswith("driver.py: ") and str(data) in message and expected in message


# --- 7. file names that are not UTF-8 -------------------------------------------------------------------------------


def test_file_names_that_are_not_utf8_are_classified_and_reported(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["plain", "good", "bad"])
    (data / "bad.hea").unlink()
    for name, raw in (("good", b"good\xff"), ("bad", b"bad\xfe")):
        for suffix in (".hea", ".mat"):
            if (data / f"{name}{suffix}").exists():
                try:
                    os.rename(data / f"{name}{suffix}", os.path.join(os.fsencode(data), raw + suffix.encode()))
                except OSError as error:  # a file system that allows only UTF-8 names cannot hold this case
                    pytest.skip(f"cannot create a non-UTF-8 file name here: {error}")
    outputs = tmp_path / "outputs"

    assert run_driver(shared.model, data, outputs) == 1
    captured = capsys.readouterr()
    assert "3 recordings: 2 done, 1 failed" in captured.out
    written = set(os.listdir(os.fsencode(outputs)))
    assert {b"good\xff.csv", b"bad\xfe.csv", b"plain.csv"} <= written  # output names follow the file names' bytes
    good_output = Path(os.fsdecode(os.path.join(os.fsencode(outputs), b"good\xff.csv")))
    assert is_answer(good_output)
    assert good_output.read_bytes().decode("utf-8").startswith("#good\\xff\n")  # valid UTF-8 inside
    rows = read_rows(outputs / ERRORS_FILE)
    assert [row[:2] for row in rows[1:]] == [["bad\\xfe", "read"]]
    assert "bad\\xfe: read failed" in captured.err


def test_a_recording_with_a_name_of_243_bytes_gets_its_output(shared: TrainedModel, tmp_path: Path) -> None:
    long_name = (
        "心電図記録" * 16 + "長"
    )  # 81 characters: NAME.hea and NAME.csv are 247 bytes, as the file system allows
    data = write_recordings(tmp_path / "data", [long_name, "plain"])
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs) == 0
    assert is_answer(outputs / f"{long_name}.csv") and is_answer(outputs / "plain.csv")
    assert read_rows(outputs / ERRORS_FILE) == [ERRORS_HEADER]
    assert evaluation.main([str(data), str(outputs), str(tmp_path / "scores.csv")]) == 0


def test_a_name_the_outputs_file_system_cannot_hold_is_an_errors_row_and_the_rest_is_scored(
    shared: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The data folder's file system holds longer names than the outputs folder's (eCryptfs: 143 bytes).
    data = write_recordings(tmp_path / "data", ["a" * 150, "plain"])
    replace = os.replace

    def short_names_only(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
        if len(os.fsencode(Path(destination).name)) > 143:
            raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), source, destination)
        replace(source, destination)

    monkeypatch.setattr(os, "replace", short_names_only)
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs) == 1
    captured = capsys.readouterr()
    assert "2 recordings: 1 done, 1 failed" in captured.out
    assert "; 1 failed without an output file written" in captured.out
    assert sorted(os.listdir(outputs)) == sorted([ERRORS_FILE, "plain.csv"])
    ((name, stage, message),) = read_rows(outputs / ERRORS_FILE)[1:]
    assert (name, stage) == ("a" * 150, "write")
    assert "no output" in message and "154 bytes" in message and "longer than the file system" in message
    assert ".tmp" not in message

    assert evaluation.main([str(data), str(outputs)]) == 0
    captured = capsys.readouterr()
    assert "1 recordings without an output file" in captured.err and "a" * 150 in captured.err
    assert captured.out.startswith("AUROC,")


def test_a_report_that_cannot_be_written_after_the_outputs_says_what_was_written(
    shared: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["first", "second"])
    replace = os.replace

    def full_disk_at_the_report(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
        if Path(destination).name == ERRORS_FILE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), source, destination)
        replace(source, destination)

    monkeypatch.setattr(os, "replace", full_disk_at_the_report)
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs) == 1  # not 2, "nothing classified": both outputs are there
    summary = one_line(capsys.readouterr().out)
    assert "2 recordings: 2 done, 0 failed" in summary
    assert f"cannot write {outputs / ERRORS_FILE}: {os.strerror(errno.ENOSPC)}" in summary
    assert is_answer(outputs / "first.csv") and is_answer(outputs / "second.csv")


# --- 8. progress without a terminal ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_without_a_terminal_the_driver_logs_progress_lines(shared: TrainedModel, tmp_path: Path) -> None:
    data = write_recordings(tmp_path / "data", ["a", "b", "c"])
    command = [sys.executable, "driver.py", str(shared.model), str(data), str(tmp_path / "outputs")]
    done = subprocess.run(
        [*command, "--device", "cpu", "--chunk-size", "1", "--progress-interval", "0"],
        cwd=REPOSITORY,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    progress = re.findall(PROGRESS, done.stderr)
    assert [line.split()[1] for line in progress] == ["1/3", "2/3", "3/3"], done.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stderr", [io.StringIO, Terminal])
def test_progress_is_a_log_line_without_a_terminal_and_a_bar_with_one(
    stderr: type[io.StringIO],
    shared: TrainedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = write_recordings(tmp_path / "data", ["a", "b"])
    monkeypatch.setattr(sys, "stderr", stderr())
    caplog.set_level(logging.INFO, logger=classify.__name__)
    classify_folder(load_classifier(shared.model), data, tmp_path / "outputs", chunk_size=1, progress_interval=0.0)
    lines = [r.getMessage() for r in caplog.records if re.fullmatch(PROGRESS, r.getMessage())]
    if stderr is Terminal:
        assert lines == [] and "2/2" in sys.stderr.getvalue()  # tqdm's bar
    else:
        assert [line.split()[1] for line in lines] == ["1/2", "2/2"]


# --- 9. Ctrl-C ------------------------------------------------------------------------------------------------------


def test_ctrl_c_stops_with_one_line_and_keeps_what_was_written(
    shared: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["a", "b", "c", "d"])
    read_header = classify.read_header

    def interrupted_at_c(path: Path) -> object:
        if Path(path).stem == "c":
            raise KeyboardInterrupt
        return read_header(path)

    monkeypatch.setattr(classify, "read_header", interrupted_at_c)
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs, "--chunk-size", "1") == 130
    captured = capsys.readouterr()
    message = one_line(captured.err)
    assert message.startswith(f"interrupted: 2 of 4 recordings written to {outputs}; run again")
    assert sorted(p.name for p in outputs.glob("*.csv")) == ["a.csv", "b.csv"]
    assert is_answer(outputs / "a.csv") and is_answer(outputs / "b.csv")
    assert not [p for p in outputs.iterdir() if p.name.endswith(".tmp")]


# --- 10. the model file instead of the model folder -----------------------------------------------------------------


def test_the_model_file_given_for_the_model_folder_is_one_line(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["one"])
    assert run_driver(shared.model / MODEL_FILE, data, tmp_path / "outputs") == 2
    message = one_line(capsys.readouterr().err)
    assert message.startswith(f"driver.py: {shared.model / MODEL_FILE} is a file") and str(shared.model) in message
    assert not (tmp_path / "outputs").exists()


# --- reports of a whole folder (issue 17) -----------------------------------------------------------------------------


@pytest.mark.slow
def test_plots_draws_a_report_of_every_readable_recording(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["a", "b"])
    (data / "broken.hea").write_text((data / "a.hea").read_text().replace("a.mat", "broken.mat"))
    (data / "broken.mat").write_bytes(b"")
    plots = tmp_path / "plots"
    assert run_driver(shared.model, data, tmp_path / "outputs", "--plots", str(plots)) == 1  # broken fails
    assert sorted(p.name for p in plots.iterdir()) == ["a.pdf", "b.pdf"]
    assert all(p.read_bytes().startswith(b"%PDF") and p.stat().st_size > 10_000 for p in plots.iterdir())
    captured = capsys.readouterr()
    assert "reports: 2 of 3 drawn into" in captured.out and "broken: no report:" in captured.err


@pytest.mark.slow
def test_the_plain_driver_does_not_load_the_drawing_code(shared: TrainedModel, tmp_path: Path) -> None:
    data = write_recordings(tmp_path / "data", ["a"])
    probe = (
        "import sys, driver\n"
        f"code = driver.main([{str(shared.model)!r}, {str(data)!r}, {str(tmp_path / 'out')!r}, '--device', 'cpu'])\n"
        "print(code, 'ecg12.report' in sys.modules, 'matplotlib.pyplot' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPOSITORY,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert result.stderr.strip().splitlines()[-1] == "0 False False"


# --- 11. compiling the network where it pays --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "recordings", "compiled"),
    [("auto", 1, False), ("auto", 2, True), ("never", 2, False), ("always", 1, True)],
)
def test_the_network_is_compiled_for_large_folders_or_when_asked(
    option: str, recordings: int, compiled: bool, shared: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_recordings(tmp_path / "data", [f"r{index}" for index in range(recordings)])
    monkeypatch.setattr(classify, "COMPILE_FROM_RECORDINGS", 2)  # a large folder: 2 recordings or more
    calls: list[object] = []
    monkeypatch.setattr(inference.Classifier, "compile", lambda classifier: calls.append(classifier) or False)
    assert run_driver(shared.model, data, tmp_path / "outputs", "--compile", option, "--backend", "torch") == 0
    assert len(calls) == int(compiled)
    assert all(is_answer(tmp_path / "outputs" / f"r{index}.csv") for index in range(recordings))


def test_without_glibc_the_driver_leaves_malloc_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_glibc(name: str) -> object:
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(driver.ctypes, "CDLL", no_glibc)
    driver.keep_freed_memory_for_reuse()  # nothing to do, and no error


@pytest.mark.parametrize(("units", "dtype"), [(True, "bfloat16"), (False, "float32")])
def test_precision_auto_takes_bfloat16_where_the_cpu_has_units_and_the_outputs_stay_close(
    units: bool, dtype: str, shared: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    data = write_recordings(tmp_path / "data", ["r0", "r1"])
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: units)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: units)
    taken: list[object] = []
    load = inference.load_classifier

    def recording_load(folder: Path, device: str = "cpu", precision: str = "float32") -> inference.Classifier:
        classifier = load(folder, device, precision)
        taken.append(classifier.precision)
        return classifier

    monkeypatch.setattr(inference, "load_classifier", recording_load)
    torch_backend = ("--backend", "torch")  # ONNX Runtime has float32 alone (tests/test_export_model.py)
    assert run_driver(shared.model, data, tmp_path / "auto", "--precision", "auto", *torch_backend) == 0
    assert run_driver(shared.model, data, tmp_path / "float32", "--precision", "float32", *torch_backend) == 0
    assert [str(dtype_taken) for dtype_taken in taken] == [f"torch.{dtype}", "torch.float32"]
    for name in ("r0", "r1"):
        reduced = np.array(load_outputs(tmp_path / "auto" / f"{name}.csv")[2])
        full = np.array(load_outputs(tmp_path / "float32" / f"{name}.csv")[2])
        np.testing.assert_allclose(reduced, full, rtol=0, atol=0.01)  # tests/test_precision.py's tolerance


def test_measurements_file_has_a_row_per_recording_and_leaves_the_outputs_as_they_are(
    shared: TrainedModel, tmp_path: Path
) -> None:
    from ecg12.measurements import CSV_COLUMNS
    from ecg12.synthetic import synthesize_ecg

    data = tmp_path / "data"
    for name, rate in (("slow", 55.0), ("fast", 110.0)):
        signal = synthesize_ecg(np.random.default_rng(int(rate)), 500, 10, rate, p_waves=name == "slow")
        write_record(data, name, signal, 500, age=60.0, sex="Male", codes=(SINUS_RHYTHM,))
    (data / "broken.hea").write_text("not a header\n")
    measurements = tmp_path / "measured" / "measurements.csv"
    assert run_driver(shared.model, data, tmp_path / "with", "--measurements", str(measurements)) == 1  # broken
    assert run_driver(shared.model, data, tmp_path / "without") == 1
    for name in ("slow", "fast", "broken"):  # the Challenge outputs are the same with and without
        assert (tmp_path / "with" / f"{name}.csv").read_text() == (tmp_path / "without" / f"{name}.csv").read_text()
    assert sorted(p.name for p in (tmp_path / "with").iterdir()) == sorted(
        p.name for p in (tmp_path / "without").iterdir()
    )
    header, *rows = read_rows(measurements)
    assert tuple(header) == CSV_COLUMNS
    assert header[:7] == ["recording", "heart_rate", "pr", "qrs", "qt", "qtc", "qrs_axis"]
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert sorted(by_name) == ["broken", "fast", "slow"]
    assert abs(float(by_name["slow"]["heart_rate"]) - 55.0) < 3
    assert abs(float(by_name["fast"]["heart_rate"]) - 110.0) < 3
    assert by_name["slow"]["pr"] != "" and by_name["fast"]["pr"] == ""  # no P waves: no PR, never a made-up one
    assert all(value == "" for key, value in by_name["broken"].items() if key != "recording")


def test_a_measurements_file_in_the_outputs_folder_is_refused_in_one_line(
    shared: TrainedModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_recordings(tmp_path / "data", ["r0"])
    outputs = tmp_path / "outputs"
    assert run_driver(shared.model, data, outputs, "--measurements", str(outputs / "m.csv")) == 2
    assert "outputs folder" in one_line(capsys.readouterr().err)
    assert not (outputs / "r0.csv").exists()
