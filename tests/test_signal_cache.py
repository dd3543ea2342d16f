"""The training signal cache: faithful to prepare_signal, reused, rebuilt on change, skipping what cannot be read;
checked against the free space, one per data folder, built once by concurrent runs, clear errors for bad paths."""

from __future__ import annotations

import errno
import gc
import io
import json
import logging
import math
import multiprocessing
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from payloads import Payload
from trained_model import REPOSITORY, learnable_data

import train_model
from ecg12 import logs, signal_cache
from ecg12.headers import read_header
from ecg12.measurements import measure_record
from ecg12.preprocess import prepare_signal, resampled_length
from ecg12.recordings import DataFolderError, list_recordings, load_counts, signal_file, to_millivolts
from ecg12.signal_cache import SignalCache, load_or_build_cache
from ecg12.synthetic import MessyFolder, make_messy_folder, synthesize_ecg, write_record


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> MessyFolder:
    return make_messy_folder(tmp_path_factory.mktemp("messy"), seed=8, include_long=False)


@pytest.fixture(scope="module")
def messy_cache(messy: MessyFolder, tmp_path_factory: pytest.TempPathFactory) -> SignalCache:
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


def test_cache_equals_prepare_signal_within_one_microvolt(messy: MessyFolder, messy_cache: SignalCache) -> None:
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
            messy_cache.features[index], measure_record(expected, header.age, header.sex)[1], rtol=1e-5, atol=1e-5
        )


def test_cache_lists_skipped_records_with_reasons(messy: MessyFolder, messy_cache: SignalCache) -> None:
    skipped = dict(messy_cache.skipped)
    # Every header and every signal file is a recording: bad_no_header (no .hea) and orphan_header (no signal
    # file) are listed as unreadable too, with what is missing.
    assert set(skipped) == set(messy.bad) | set(messy.not_listed)
    assert "header file bad_no_header.hea is missing" in skipped["bad_no_header"]
    assert "signal file orphan_header.mat (or orphan_header.dat) is missing" in skipped["orphan_header"]
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

    monkeypatch.setattr(signal_cache, "_build", no_rebuild)
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
        patch.setattr(signal_cache, "_write_chunk", interrupted)
        with pytest.raises(KeyboardInterrupt):
            load_or_build_cache(folder, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
    assert len(load_or_build_cache(folder, tmp_path / "cache")) == 3


def test_an_unexpected_error_in_one_recording_skips_only_that_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_folder(tmp_path / "data")
    real = signal_cache.prepare_signal

    def failing(signal_mv: np.ndarray, header: object) -> np.ndarray:
        if "R1" in str(header.source):  # type: ignore[attr-defined]
            raise MemoryError("no room for R1")
        return real(signal_mv, header)  # type: ignore[arg-type]

    monkeypatch.setattr(signal_cache, "prepare_signal", failing)
    cache = load_or_build_cache(folder, tmp_path / "cache")
    assert cache.names == ("R0", "R2")
    assert dict(cache.skipped) == {"R1": "MemoryError: no room for R1"}
    assert not math.isnan(float(cache.signal(1).sum()))


REAL_WRITE_CHUNK = signal_cache._write_chunk


@pytest.mark.parametrize("workers", [1, 2])
def test_a_folder_of_several_chunks_caches_every_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(signal_cache, "CHUNK_RECORDS", 2)  # 7 recordings: 4 chunks, the last one short
    folder = small_folder(tmp_path / "data", count=7)
    cache = load_or_build_cache(folder, tmp_path / "cache", workers=workers)
    assert sorted(cache.names) == [f"R{index}" for index in range(7)]
    for index, name in enumerate(cache.names):
        header = read_header(folder / f"{name}.hea")
        expected = prepared(folder / f"{name}.hea")
        assert np.abs(cache.signal(index) - expected).max() <= 1e-3, name  # mV: no chunk left as zeros
        np.testing.assert_allclose(cache.features[index], measure_record(expected, header.age, header.sex)[1], 1e-5)


def killed_at_r2(records: list[dict], signals_path: Path, total: int, journal: Path) -> object:
    """signal_cache._write_chunk in a worker process that the system kills (SIGKILL, as its OOM killer does) on R2."""
    for index, record in enumerate(records):
        if record["name"] == "R2":
            REAL_WRITE_CHUNK(records[:index], signals_path, total, journal)  # results lost with the process
            (journal / str(os.getpid())).write_bytes(b"R2")  # R2 is being cached, as _write_chunk notes it
            os.kill(os.getpid(), signal.SIGKILL)
    return REAL_WRITE_CHUNK(records, signals_path, total, journal)


def test_a_worker_killed_on_a_recording_skips_that_recording_and_the_build_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_folder(tmp_path / "data", count=7)
    monkeypatch.setattr(signal_cache, "CHUNK_RECORDS", 2)  # 4 chunks for 2 workers
    monkeypatch.setattr(
        signal_cache, "_write_chunk", killed_at_r2
    )  # found by name in the workers: tests/ is on their path
    cache = load_or_build_cache(folder, tmp_path / "cache", workers=2)
    assert cache.names == ("R0", "R1", "R3", "R4", "R5", "R6")
    ((name, reason),) = cache.skipped
    assert name == "R2" and reason == "its process died caching it (exit codes {SIGKILL(-9)})"
    for index, name in enumerate(cache.names):
        assert np.abs(cache.signal(index) - prepared(folder / f"{name}.hea")).max() <= 1e-3
    assert sorted(p.name for p in cache.folder.iterdir()) == ["index.json", "signals.int16"]


TRAIN_WITH_SMALL_CHUNKS = """
import sys
import ecg12.signal_cache
ecg12.signal_cache.CHUNK_RECORDS = 2  # several chunks of a small folder: the cache is built by worker processes
import train_model
sys.exit(train_model.main(sys.argv[1:]))
"""


def children(pid: int) -> dict[int, str]:
    """{pid: command line} of the processes whose parent is ``pid`` (from /proc)."""
    found = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if re.search(rf"^PPid:\s*{pid}$", status.read_text(), re.MULTILINE):
                found[int(status.parent.name)] = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # ended meanwhile
            continue
    return found


def running(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()  # a zombie has ended
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the workers end with their parent on Linux")
def test_the_cache_workers_end_when_a_training_is_killed(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data", count=10)
    arguments = [str(folder), str(tmp_path / "model"), "--model-size", "tiny", "--epochs", "1000", "--epoch-windows"]
    arguments += ["8", "--device", "cpu", "--workers", "0", "--cache-dir", str(tmp_path / "cache")]
    training = subprocess.Popen(
        [sys.executable, "-c", TRAIN_WITH_SMALL_CHUNKS, *arguments],
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    left: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 120
        while sum("loky" in command for command in children(training.pid).values()) < 2:  # the 2 cache workers
            assert training.poll() is None and time.monotonic() < deadline, "no cache worker was started"
            time.sleep(0.1)
        time.sleep(1)  # the build done, training goes on; the workers wait for more work (joblib keeps them)
        left = children(training.pid)  # the workers and joblib's and multiprocessing's resource trackers
        training.kill()
        training.wait()
        deadline = time.monotonic() + 20
        while any(running(pid) for pid in left) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [command for pid, command in left.items() if running(pid)]
    finally:
        training.kill()
        training.wait()
        for pid in left:  # what this test started, should it fail
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_killed_build_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    cache_root = tmp_path / "cache"
    name = signal_cache.fingerprint(list_recordings(folder))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = cache_root / f"{signal_cache._building_prefix(name)}{int(dead.stdout)}"  # its process has ended
    running = cache_root / f"{signal_cache._building_prefix('other')}{os.getppid()}"  # its process is alive
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
    signal_cache._build(list_recordings(folder), first.folder, workers=1, data_folder=str(folder.resolve()))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.folder.name]
    assert (first.folder / "index.json").read_bytes() == index


def visible_entries(root: Path) -> list[str]:
    """Names in a cache root that are not hidden: complete caches (and anything else left there)."""
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def cache_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def fake_free_space(monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10 * free, used=9 * free, free=free))


def test_a_cache_larger_than_the_free_space_is_refused_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_folder(tmp_path / "data")
    headers = [read_header(r.header) for r in list_recordings(folder)]
    signal_bytes = sum(resampled_length(h.num_samples, h.frequency) for h in headers) * 12 * 2
    fake_free_space(monkeypatch, signal_bytes // 2)
    root = tmp_path / "cache"
    with pytest.raises(signal_cache.CacheError) as refused:
        load_or_build_cache(folder, root)
    message = str(refused.value)
    assert isinstance(refused.value, ValueError)  # train_model.py prints it as one line
    assert str(root) in message and "free" in message and "--cache-dir" in message and "\n" not in message
    assert list(root.iterdir()) == []


def test_a_header_declaring_more_than_its_signal_file_holds_does_not_size_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_folder(tmp_path / "data")
    header = folder / "R1.hea"
    record_line, rest = header.read_text().split("\n", 1)
    header.write_text(" ".join([*record_line.split()[:3], "302400000"]) + "\n" + rest)  # a week; the file: 3 s
    fake_free_space(monkeypatch, 50_000_000)  # the week would need 7.3 GB, the two others 72 kB
    cache = load_or_build_cache(folder, tmp_path / "cache")
    assert cache.names == ("R0", "R2") and int(cache.lengths.sum()) == 2 * 1500
    ((name, reason),) = cache.skipped
    assert name == "R1" and "signal has shape (12, 1500) but the header declares (12, 302400000)" in reason
    assert cache_bytes(cache.folder) < 1_000_000


def test_the_free_space_estimate_covers_the_whole_cache_and_little_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_folder(tmp_path / "data")
    size = cache_bytes(load_or_build_cache(folder, tmp_path / "measured").folder)  # signals and index
    fake_free_space(monkeypatch, size - 1)
    with pytest.raises(signal_cache.CacheError):
        load_or_build_cache(folder, tmp_path / "short")
    fake_free_space(monkeypatch, int(size * 1.05))
    assert len(load_or_build_cache(folder, tmp_path / "enough")) == 3


def test_the_signal_file_has_its_blocks_before_any_recording_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writing through a memory map into a sparse file on a full disk is SIGBUS; reserved blocks cannot run out.
    folder = small_folder(tmp_path / "data")
    allocated: list[tuple[int, int]] = []
    real_write_chunk = signal_cache._write_chunk

    def write_chunk(records: list[dict], signals_path: Path, total: int, journal: Path) -> object:
        allocated.append((os.stat(signals_path).st_blocks * 512, total * 12 * 2))
        return real_write_chunk(records, signals_path, total, journal)

    monkeypatch.setattr(signal_cache, "_write_chunk", write_chunk)
    load_or_build_cache(folder, tmp_path / "cache")
    assert allocated and all(blocks >= size for blocks, size in allocated)


@pytest.mark.parametrize("refusal", ["EOPNOTSUPP", "EINVAL", "no posix_fallocate"])
def test_a_file_system_that_cannot_reserve_blocks_still_gets_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    if refusal == "no posix_fallocate":  # macOS
        monkeypatch.delattr(os, "posix_fallocate", raising=False)
    else:
        code = getattr(errno, refusal)

        def refuse(descriptor: int, offset: int, length: int) -> None:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "posix_fallocate", refuse)
    folder = small_folder(tmp_path / "data")
    cache = load_or_build_cache(folder, tmp_path / "cache")
    assert sorted(cache.names) == ["R0", "R1", "R2"]
    assert np.abs(cache.signal(cache.names.index("R1")) - prepared(folder / "R1.hea")).max() <= 1e-3


@pytest.mark.parametrize("stage", ["allocation", "signals", "index"])
def test_a_full_disk_while_building_is_one_error_naming_the_cache_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    folder = small_folder(tmp_path / "data")
    root = tmp_path / "cache"

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        if stage == "allocation":
            patch.setattr(os, "posix_fallocate", disk_full)
        else:
            patch.setattr(signal_cache, "_write_chunk" if stage == "signals" else "atomic_write_text", disk_full)
        with pytest.raises(signal_cache.CacheError) as failed:
            load_or_build_cache(folder, root)
    message = str(failed.value)
    assert str(root) in message and os.strerror(errno.ENOSPC) in message and "\n" not in message
    assert list(root.iterdir()) == []  # no partial cache, no lock file
    assert len(load_or_build_cache(folder, root)) == 3


def test_a_new_cache_of_a_data_folder_replaces_its_older_one_only(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    other_folder = small_folder(tmp_path / "other", count=2)
    root = tmp_path / "cache"
    old = load_or_build_cache(folder, root).folder  # the cache object is dropped: no longer in use
    other = load_or_build_cache(other_folder, root).folder
    live_build = root / f"{signal_cache._building_prefix('another')}{os.getppid()}"  # being built by a live process
    live_build.mkdir()

    write_record(folder, "R3", synthesize_ecg(np.random.default_rng(3), 500, 3, 70), 500, codes=("426783006",))
    new = load_or_build_cache(folder, root)

    assert not old.exists()
    assert visible_entries(root) == sorted([new.folder.name, other.name])
    assert live_build.is_dir()
    assert json.loads((new.folder / "index.json").read_text())["data_folder"] == str(folder.resolve())
    assert len(new) == 4


def test_a_cache_in_use_is_kept_until_it_is_no_longer_used(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    root = tmp_path / "cache"
    first = load_or_build_cache(folder, root)
    write_record(folder, "R3", synthesize_ecg(np.random.default_rng(3), 500, 3, 70), 500, codes=("426783006",))
    second = load_or_build_cache(folder, root).folder  # not kept: no longer in use
    assert visible_entries(root) == sorted([first.folder.name, second.name])
    assert np.abs(first.signal(0) - prepared(folder / "R0.hea")).max() <= 1e-3

    del first
    gc.collect()
    write_record(folder, "R4", synthesize_ecg(np.random.default_rng(4), 500, 3, 80), 500, codes=("426783006",))
    third = load_or_build_cache(folder, root)
    assert visible_entries(root) == [third.folder.name]


@pytest.mark.parametrize("older_in_use", [False, True])
def test_short_of_space_a_build_first_removes_the_older_cache_it_replaces_unless_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, older_in_use: bool
) -> None:
    folder = small_folder(tmp_path / "data")
    root = tmp_path / "cache"
    older = load_or_build_cache(folder, root)
    older_folder, older_size = older.folder, cache_bytes(older.folder)
    if not older_in_use:
        del older
        gc.collect()
    write_record(folder, "R3", synthesize_ecg(np.random.default_rng(3), 500, 3, 70), 500, codes=("426783006",))
    # Room for the new cache (about 4/3 of the older one) only once the older one is gone.
    monkeypatch.setattr(
        shutil,
        "disk_usage",
        lambda path: SimpleNamespace(free=older_size // 2 + (0 if older_folder.exists() else 2 * older_size)),
    )
    if older_in_use:
        with pytest.raises(signal_cache.CacheError, match="free"):
            load_or_build_cache(folder, root)
        assert visible_entries(root) == [older_folder.name]
    else:
        new = load_or_build_cache(folder, root)
        assert len(new) == 4 and visible_entries(root) == [new.folder.name]


def test_a_header_that_is_a_broken_link_is_skipped_like_any_unreadable_recording(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    (folder / "R1.hea").unlink()
    (folder / "R1.hea").symlink_to(tmp_path / "nowhere.hea")
    cache = load_or_build_cache(folder, tmp_path / "cache")
    assert cache.names == ("R0", "R2") and "R1" in dict(cache.skipped)


def test_a_cache_made_without_its_data_folder_recorded_learns_it_when_reused(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    root = tmp_path / "cache"
    index_path = load_or_build_cache(folder, root).folder / "index.json"
    index = json.loads(index_path.read_text())
    index.pop("data_folder", None)  # as an earlier version wrote it
    index_path.write_text(json.dumps(index))

    load_or_build_cache(folder, root)
    assert json.loads(index_path.read_text())["data_folder"] == str(folder.resolve())
    write_record(folder, "R3", synthesize_ecg(np.random.default_rng(3), 500, 3, 70), 500, codes=("426783006",))
    new = load_or_build_cache(folder, root).folder
    assert visible_entries(root) == [new.name]  # the data folder is known now: the cache was replaced


def test_the_cache_location_and_size_are_logged_when_built_and_when_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = small_folder(tmp_path / "data")
    caplog.set_level(logging.INFO, logger="ecg12.signal_cache")
    for _ in range(2):  # built, then reused
        caplog.clear()
        cache = load_or_build_cache(folder, tmp_path / "cache")
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Signal cache:")]
        assert len(lines) == 1
        shown = re.fullmatch(
            rf"Signal cache: {re.escape(str(cache.folder))} \(([\d.]+) (kB|MB|GB), (\d+) recordings\)", lines[0]
        )
        assert shown, lines[0]
        scale = {"kB": 1e3, "MB": 1e6, "GB": 1e9}[shown[2]]
        assert float(shown[1]) * scale == pytest.approx(cache_bytes(cache.folder), abs=0.05 * scale)
        assert int(shown[3]) == len(cache)


def build_in_a_child(data_folder: Path, cache_root: Path, log_path: Path, start: object) -> None:
    """Run load_or_build_cache in a child process, logging to ``log_path``; every build is logged as BUILD."""
    logging.basicConfig(filename=log_path, level=logging.INFO, format="%(message)s")
    real_build = signal_cache._build

    def slow_build(*args: object, **kwargs: object) -> None:
        logging.getLogger("test").info("BUILD")
        time.sleep(1.0)  # long enough for the other process to arrive while this one builds
        real_build(*args, **kwargs)  # type: ignore[arg-type]

    signal_cache._build = slow_build  # type: ignore[assignment]
    start.wait()  # type: ignore[attr-defined]
    cache = load_or_build_cache(data_folder, cache_root)
    logging.getLogger("test").info("RESULT %s %d", cache.folder, len(cache))


@pytest.mark.slow
def test_two_first_runs_at_once_build_the_cache_once(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "data")
    root = tmp_path / "cache"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    logs = [tmp_path / f"child{i}.log" for i in range(2)]
    children = [context.Process(target=build_in_a_child, args=(folder, root, log, start)) for log in logs]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0]

    texts = [log.read_text() for log in logs]
    assert sum(text.count("BUILD") for text in texts) == 1
    waited = next(text for text in texts if "BUILD" not in text)
    assert "waiting for another process building the same" in waited.lower()
    results = {line for text in texts for line in text.splitlines() if line.startswith("RESULT")}
    assert len(results) == 1 and results.pop().endswith(" 3")
    assert len(visible_entries(root)) == 1 and not any(p.name.startswith(".") for p in root.iterdir())


@pytest.mark.parametrize("where", ["a file", "inside a file"])
def test_a_cache_dir_that_cannot_be_a_folder_is_one_error_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    folder = small_folder(tmp_path / "data")
    blocking_file = tmp_path / "not-a-folder"
    blocking_file.write_text("")
    root = blocking_file if where == "a file" else blocking_file / "cache"

    def no_work(*args: object) -> None:
        raise AssertionError("the cache was fingerprinted before the cache dir was checked")

    monkeypatch.setattr(signal_cache, "fingerprint", no_work)
    with pytest.raises(signal_cache.CacheError) as refused:
        load_or_build_cache(folder, root)
    message = str(refused.value)
    assert message.startswith(f"{root}: ") and "\n" not in message
    assert ("is a file" if where == "a file" else f"{blocking_file} is a file") in message


@pytest.mark.parametrize("problem", ["does not exist", "is a file", "cannot be listed"])
def test_a_data_folder_that_cannot_be_listed_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    folder = tmp_path / "data"
    if problem == "is a file":
        folder.write_text("")
    elif problem == "cannot be listed":  # as a folder without read permission is, for any user but root
        small_folder(folder)

        def denied(path: object) -> None:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

        monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(DataFolderError) as refused:
        load_or_build_cache(folder, tmp_path / "cache")
    message = str(refused.value)
    assert str(folder) in message and "\n" not in message
    expected = {"does not exist": "does not exist", "is a file": "is a file", "cannot be listed": "Permission"}
    assert expected[problem] in message
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("problem", ["cache dir is a file", "too little free space"])
def test_train_model_reports_a_cache_problem_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    folder = small_folder(tmp_path / "data")
    root = tmp_path / "cache"
    if problem == "cache dir is a file":
        root.write_text("")
    else:
        fake_free_space(monkeypatch, 1000)
    arguments = [str(folder), str(tmp_path / "model"), "--model-size", "tiny", "--epochs", "1", "--epoch-windows", "4"]
    code = train_model.main([*arguments, "--device", "cpu", "--cache-dir", str(root)])
    error_lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(error_lines) == 1 and error_lines[0].startswith("train_model.py: ") and str(root) in error_lines[0]


def test_without_a_terminal_the_cache_build_logs_progress_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """docker run without -t, nohup, CI logs: the build of a large cache must not look hung."""
    folder = small_folder(tmp_path / "data", count=70)  # two chunks of 64 recordings: two updates
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    monkeypatch.setattr(logs, "PROGRESS_INTERVAL", 0.0)
    with caplog.at_level(logging.INFO, logger=signal_cache.__name__):
        load_or_build_cache(folder, tmp_path / "cache")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("caching signals")]
    assert [line.split()[2] for line in lines] == ["64/70", "70/70"], lines
    assert sys.stderr.getvalue() == ""  # no bar where there is no terminal


@pytest.mark.parametrize("planted", ["pickle", "missing keys"])
def test_a_cache_index_that_is_not_one_is_refused_in_one_line_and_never_runs_code(
    planted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = small_folder(tmp_path / "data")
    cache = load_or_build_cache(folder, tmp_path / "cache").folder
    marker = tmp_path / "marker"
    index = cache / "index.json"
    if planted == "pickle":
        index.write_bytes(pickle.dumps(Payload(marker)))
    else:
        index.write_text(json.dumps({"format": signal_cache.CACHE_FORMAT, "records": [{"name": "R0"}]}))
    model = tmp_path / "model"
    assert train_model.main([str(folder), str(model), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]) == 1
    message = capsys.readouterr().err
    assert message == (
        f"train_model.py: {index} is not a signal cache index "
        f"({'UnicodeDecodeError' if planted == 'pickle' else 'KeyError'}): delete {cache} and it is built again\n"
    )
    assert not marker.exists() and not model.exists()


def test_the_signal_cache_pickles_by_reference(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    cache = load_or_build_cache(learnable_data(tmp_path_factory), tmp_path / "cache")
    assert isinstance(cache.signals, np.memmap)
    pickled = pickle.dumps(cache)
    assert len(pickled) < cache.signals.nbytes / 10  # the file's name, not its contents
    copy = pickle.loads(pickled)
    assert isinstance(copy.signals, np.memmap) and str(copy.signals.filename) == str(cache.signals.filename)
    np.testing.assert_array_equal(copy.signal(3), cache.signal(3))
    assert copy.names == cache.names
    np.testing.assert_array_equal(copy.features, cache.features)  # NaN where a measurement could not be made


@pytest.mark.parametrize(("module", "loads_torch"), [("ecg12.signal_cache", False), ("ecg12.batches", True)])
def test_the_signal_cache_is_usable_without_torch(module: str, loads_torch: bool) -> None:
    """Building, checking and evicting caches imports no torch (seconds to import); the batches over it do."""
    probe = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPOSITORY, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == str(loads_torch)
