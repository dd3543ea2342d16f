"""The training signal cache: faithful to prepare_signal, reused, rebuilt on change, skipping what cannot be read."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ecg12 import data
from ecg12.data import load_or_build_cache
from ecg12.features import record_features
from ecg12.headers import read_header
from ecg12.preprocess import prepare_signal
from ecg12.recordings import find_recordings, load_counts, signal_file, to_millivolts
from ecg12.synthetic import MessyFolder, make_messy_folder, synthesize_ecg, write_record


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> MessyFolder:
    return make_messy_folder(tmp_path_factory.mktemp("messy"), seed=8, include_long=False)


@pytest.fixture(scope="module")
def messy_cache(messy: MessyFolder, tmp_path_factory: pytest.TempPathFactory) -> data.SignalCache:
    return load_or_build_cache(messy.folder, tmp_path_factory.mktemp("cache"))


def prepared(header_path: Path) -> np.ndarray:
    header = read_header(header_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing leads
        return prepare_signal(to_millivolts(load_counts(signal_file(header_path), header), header), header)


def small_folder(folder: Path, count: int = 3) -> Path:
    for index in range(count):
        signal_mv = synthesize_ecg(np.random.default_rng(index), 500, 3, 60 + 10 * index)
        write_record(folder, f"R{index}", signal_mv, 500, age=40.0 + index, sex="Male", codes=("426783006",))
    return folder


def test_cache_equals_prepare_signal_within_one_microvolt(messy: MessyFolder, messy_cache: data.SignalCache) -> None:
    assert sorted(messy_cache.names) == sorted(messy.good)  # lead order, rates, lengths, 6 leads, odd headers...
    for index, name in enumerate(messy_cache.names):
        header_path = messy.folder / f"{name}.hea"
        expected = prepared(header_path)
        cached = messy_cache.signal(index)
        assert cached.shape == expected.shape == (12, messy_cache.lengths[index])
        assert np.abs(cached - expected).max() <= 1e-3, name  # mV
        window = messy_cache.signal(index, 100, 400)
        np.testing.assert_array_equal(window, cached[:, 100:400])
        header = read_header(header_path)
        assert messy_cache.codes[index] == header.labels
        np.testing.assert_allclose(
            messy_cache.features[index], record_features(expected, header.age, header.sex), rtol=1e-5, atol=1e-5
        )


def test_cache_lists_skipped_records_with_reasons(messy: MessyFolder, messy_cache: data.SignalCache) -> None:
    skipped = dict(messy_cache.skipped)
    # bad_no_header has no .hea and orphan_header no signal file: neither is a recording of the folder.
    assert set(skipped) == set(messy.bad) - {"bad_no_header"}
    assert all(reason.strip() for reason in skipped.values())
    assert "infinite" in skipped["bad_inf"]
    assert "shape" in skipped["bad_transposed"]
    assert "val" in skipped["bad_no_val"]
    assert "header" in skipped["bad_empty_header"]


def test_cache_is_reused_while_the_folder_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = small_folder(tmp_path / "data")
    first = load_or_build_cache(folder, tmp_path / "cache")
    index = first.folder / "index.json"
    stamp = index.stat().st_mtime_ns

    def no_rebuild(*args: object) -> None:
        raise AssertionError("the cache was rebuilt")

    monkeypatch.setattr(data, "_build", no_rebuild)
    second = load_or_build_cache(folder, tmp_path / "cache")
    assert second.folder == first.folder and index.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(np.asarray(second.signals), np.asarray(first.signals))


def test_cache_is_rebuilt_when_a_file_changes(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    first = load_or_build_cache(folder, tmp_path / "cache")

    # New samples in the same-sized file, and a new label in a header.
    write_record(folder, "R1", synthesize_ecg(np.random.default_rng(99), 500, 3, 120), 500, codes=("426783006",))
    header = folder / "R2.hea"
    header.write_text(header.read_text().replace("#Dx: 426783006", "#Dx: 164889003"))
    os.utime(header, ns=(header.stat().st_atime_ns, header.stat().st_mtime_ns + 1_000_000_000))
    second = load_or_build_cache(folder, tmp_path / "cache")

    assert second.folder != first.folder
    r1, r2 = second.names.index("R1"), second.names.index("R2")
    assert np.abs(second.signal(r1) - prepared(folder / "R1.hea")).max() <= 1e-3
    assert np.abs(second.signal(r1) - first.signal(first.names.index("R1"))).max() > 0.1
    assert second.codes[r2] == ("164889003",)


def test_interrupted_build_leaves_nothing_that_looks_like_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_folder(tmp_path / "data")

    def interrupted(*args: object) -> dict[str, str]:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(data, "_write_chunk", interrupted)
        with pytest.raises(KeyboardInterrupt):
            load_or_build_cache(folder, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
    assert len(load_or_build_cache(folder, tmp_path / "cache")) == 3


def test_an_unexpected_error_in_one_recording_skips_only_that_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_folder(tmp_path / "data")
    real = data.prepare_signal

    def failing(signal_mv: np.ndarray, header: object) -> np.ndarray:
        if "R1" in str(header.source):  # type: ignore[attr-defined]
            raise MemoryError("no room for R1")
        return real(signal_mv, header)  # type: ignore[arg-type]

    monkeypatch.setattr(data, "prepare_signal", failing)
    cache = load_or_build_cache(folder, tmp_path / "cache")
    assert cache.names == ("R0", "R2")
    assert dict(cache.skipped) == {"R1": "MemoryError: no room for R1"}
    assert not math.isnan(float(cache.signal(1).sum()))


def test_a_killed_build_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    cache_root = tmp_path / "cache"
    name = data.fingerprint(find_recordings(folder))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = cache_root / f"{data._building_prefix(name)}{int(dead.stdout)}"  # its process has ended
    running = cache_root / f"{data._building_prefix('other')}{os.getppid()}"  # its process is alive
    for path in (killed, running):
        path.mkdir(parents=True)
        (path / "signals.int16").write_bytes(b"\0" * 4096)

    cache = load_or_build_cache(folder, cache_root)
    assert len(cache) == 3
    assert sorted(p.name for p in cache_root.iterdir()) == sorted([name, running.name])


def test_a_build_that_loses_the_race_to_another_process_uses_its_cache(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    first = load_or_build_cache(folder, tmp_path / "cache")
    index = (first.folder / "index.json").read_bytes()
    # Another process finished the same cache while this one was building it.
    data._build(find_recordings(folder), first.folder, workers=1)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.folder.name]
    assert (first.folder / "index.json").read_bytes() == index
