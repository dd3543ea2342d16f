"""A training run from a data folder (ecg12.runs): unreadable recordings skipped and listed, unusable data refused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from model_folders import read_rows

import train_model
from ecg12 import checkpoints, runs
from ecg12.config import TrainConfig
from ecg12.signal_cache import load_or_build_cache
from ecg12.synthetic import UNSCORED_CODES, make_messy_folder, synthesize_ecg, write_record


def write_broken(folder: Path, name: str, kind: str) -> None:
    """A record that cannot be read: an empty MAT file or a garbage header."""
    signal_mv = synthesize_ecg(np.random.default_rng(0), 500, 2, 70)
    header = write_record(folder, name, signal_mv, 500, codes=("426783006",))
    if kind == "empty mat":
        header.with_suffix(".mat").write_bytes(b"")
    else:
        header.write_bytes(b"\x00\xff not a header\n")


@pytest.mark.slow
def test_unreadable_recordings_are_skipped_counted_and_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    messy = make_messy_folder(tmp_path / "data", seed=4, include_long=False)
    used: dict[str, object] = {}

    def fake_fit(run, records, member=None):  # type: ignore[no-untyped-def]
        used["names"] = [run.cache.names[i] for i in records]
        return {}

    monkeypatch.setattr(runs, "fit", fake_fit)  # the skipping happens before any training
    config = TrainConfig(model_size="tiny", device="cpu", cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING, logger="ecg12.checkpoints"):
        runs.train(messy.folder, tmp_path / "model", config)

    # Every bad recording is skipped, and so are a signal file without a header and a header without a signal file.
    expected = set(messy.bad) | set(messy.not_listed)
    assert sorted(used["names"]) == sorted(messy.good)  # type: ignore[arg-type]
    rows = read_rows(tmp_path / "model" / checkpoints.SKIPPED_FILE)
    assert {row["recording"] for row in rows} == expected
    cache = load_or_build_cache(messy.folder, tmp_path / "cache")
    assert {row["recording"]: row["reason"] for row in rows} == dict(cache.skipped)  # reasons survive the CSV as is
    reasons = {row["recording"]: row["reason"] for row in rows}
    assert "infinite" in reasons["bad_inf"]
    assert "empty" in reasons["bad_empty_mat"]
    assert f"Skipped {len(expected)} unreadable recordings" in caplog.text


@pytest.mark.parametrize(
    "case", ["missing folder", "empty folder", "only subfolders", "only unreadable", "no scored label"]
)
def test_training_stops_with_a_clear_error_on_unusable_data(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    expected = {
        "missing folder": "does not exist",
        "empty folder": "no recordings in",
        "only subfolders": "it has subfolders georgia/, ptb/: recordings (NAME.hea + NAME.mat) are expected directly",
        "only unreadable": "no usable recording",
        "no scored label": "scored classes",
    }[case]
    if case != "missing folder":
        data.mkdir()
    if case == "only subfolders":  # as a user who points DATA at the folder above the data sets does
        (data / "ptb").mkdir()
        (data / "georgia").mkdir()
    if case == "only unreadable":
        write_broken(data, "A0001", "empty mat")
        write_broken(data, "A0002", "garbage header")
    if case == "no scored label":
        for index in range(4):
            signal_mv = synthesize_ecg(np.random.default_rng(index), 500, 2, 70)
            write_record(data, f"A{index:04d}", signal_mv, 500, codes=UNSCORED_CODES[:2])

    model = tmp_path / "model"
    arguments = [str(data), str(model), "--model-size", "tiny", "--device", "cpu", "--cache-dir", str(tmp_path / "c")]
    assert train_model.main(arguments) == 1
    message = capsys.readouterr().err
    assert message.startswith("train_model.py: ")
    assert expected in message
    assert not (model / "model.pt").exists() and not (model / checkpoints.CHECKPOINT_FILE).exists()
    if case == "only unreadable":
        assert {row["recording"] for row in read_rows(model / checkpoints.SKIPPED_FILE)} == {"A0001", "A0002"}
