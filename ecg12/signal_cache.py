"""The signal cache: every training recording preprocessed once into one memory-mapped int16 file (no torch).

The full 2020 training set (43,101 recordings, incl. 30-minute INCART records) does not fit in RAM
as float32 at 500 Hz, so the preprocessed signals (standard lead order, 500 Hz) are stored as
int16 microvolts in one file that training reads through ``np.memmap``; the OS keeps in memory only
what is used. The cache is built in parallel with joblib, each worker writing its records straight
into the memory-mapped file, and it is reused while the data folder is unchanged: its folder name
is a fingerprint of the file names, sizes and modification times and of the preprocessing settings.
The cache folder is renamed into place only when complete, so an interrupted build leaves nothing
that could be mistaken for a cache.

A build never fails badly and caches do not pile up (about 8 GB each on the full set):

- the size of the cache is known from the headers before anything is written (a header that declares
  more samples than its signal file holds skips its recording, reported, instead of sizing the cache),
  and a cache the disk cannot hold is refused with one line; the signal file's blocks are then reserved
  (``posix_fallocate``), so that a disk filled meanwhile is an error, not a SIGBUS in a memory-
  mapped write; any failed write is one :class:`CacheError` and leaves nothing behind;
- there is one cache per data folder (recorded in its index): once a new one is complete, the
  older ones of the same folder are removed, unless a process still uses them (it holds a
  shared lock on their index while its :class:`SignalCache` lives);
- one process at a time checks for and builds a given cache (an exclusive lock file in the cache
  root, named after the fingerprint): two runs started at once build it once.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import warnings
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import BrokenExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ecg12.feature_names import NUM_RECORD_FEATURES
from ecg12.files import atomic_write_text, lock_exclusively, unlock
from ecg12.headers import RecordError, read_header
from ecg12.logs import Progress
from ecg12.measurements import measure_record
from ecg12.preprocess import TARGET_FREQUENCY, prepare_signal, resampled_length
from ecg12.recordings import Recording, check_counts, list_recordings, load_signal

log = logging.getLogger(__name__)

CACHE_FORMAT = 6  # 5: beats found with each lead scaled to its own QRS; 6: the criteria's measurements appended
MICROVOLTS_PER_MV = 1000.0
_INT16_MAX = np.iinfo(np.int16).max


# index.json begins with the cache format and the data folder, read from there by _recorded_data_folder
_INDEX_HEAD_BYTES = 32_768  # a path is at most 4,096 bytes, each at most 6 characters in JSON (\uXXXX)
_RECORDED_DATA_FOLDER = re.compile(r'\{"format": \d+, "data_folder": ("(?:[^"\\]|\\.)*")')


class CacheError(ValueError):
    """The signal cache cannot be built or used; the message names the path and the problem."""


@dataclass(frozen=True)
class SignalCache:
    """Preprocessed recordings: signal ``i`` is ``signals[offsets[i] : offsets[i] + lengths[i]]`` (time x 12)."""

    folder: Path
    names: tuple[str, ...]
    codes: tuple[tuple[str, ...], ...]  # #Dx codes per recording
    features: np.ndarray  # (n, NUM_RECORD_FEATURES) float32: ecg12.measurements.measure_record
    offsets: np.ndarray  # (n,) int64
    lengths: np.ndarray  # (n,) int64, samples at 500 Hz
    skipped: tuple[tuple[str, str], ...]  # (recording, reason) that could not be used
    signals: np.ndarray  # (total samples, 12) int16 microvolts, memory-mapped

    def __len__(self) -> int:
        return len(self.names)

    def microvolts(self, index: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``start:stop`` of recording ``index`` as stored: int16 µV, shape (samples, 12), a view."""
        length = int(self.lengths[index])
        stop = length if stop is None else min(stop, length)
        start = max(start, 0)
        offset = int(self.offsets[index])
        return self.signals[offset + start : offset + stop]

    def signal(self, index: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Recording ``index`` (or samples ``start:stop`` of it) as float32 mV, shape (12, samples)."""
        return self.microvolts(index, start, stop).T.astype(np.float32) / MICROVOLTS_PER_MV

    def __getstate__(self) -> dict[str, object]:
        # A DataLoader worker started by spawn or forkserver receives the cache by pickling. A pickled
        # np.memmap is a copy of the whole array (gigabytes per worker); pass the file's name instead.
        state = dict(self.__dict__)
        if isinstance(self.signals, np.memmap):
            state["signals"] = _MappedSignals(str(self.signals.filename), self.signals.shape)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        signals = state["signals"]
        if isinstance(signals, _MappedSignals):
            state = {**state, "signals": np.memmap(signals.path, dtype=np.int16, mode="r", shape=signals.shape)}
        self.__dict__.update(state)  # a frozen dataclass: set the fields as dataclasses' own __init__ does


@dataclass(frozen=True)
class _MappedSignals:
    """A cache's signal file by reference, for pickling (see SignalCache.__getstate__)."""

    path: str
    shape: tuple[int, ...]


def default_cache_root() -> Path:
    """$ECG12_CACHE, else ~/.cache/ecg12, else (no writable home, e.g. a container user) the temp folder."""
    if "ECG12_CACHE" in os.environ:
        return Path(os.environ["ECG12_CACHE"])
    home_cache = Path.home() / ".cache" / "ecg12"
    try:
        home_cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(tempfile.gettempdir()) / "ecg12-cache"
    return home_cache if os.access(home_cache, os.W_OK) else Path(tempfile.gettempdir()) / "ecg12-cache"


def fingerprint(recordings: Sequence[Recording]) -> str:
    """Hash of the data files (names, sizes, mtimes) and of the preprocessing settings."""
    digest = hashlib.sha256(f"format={CACHE_FORMAT};fs={TARGET_FREQUENCY}".encode())
    for recording in recordings:
        for path in (recording.header, recording.signal):
            try:
                status = path.stat()
            except OSError:  # a broken link, say: the build lists it as skipped, with the reason
                digest.update(f"{path.name}:unreadable;".encode())
                continue
            # os.fsencode: the name's own bytes, also for a name that is not UTF-8 (same digest as before otherwise)
            digest.update(os.fsencode(path.name) + f":{status.st_size}:{status.st_mtime_ns};".encode())
    return digest.hexdigest()[:20]


def load_or_build_cache(
    data_folder: str | os.PathLike[str], cache_root: str | os.PathLike[str], workers: int = 1
) -> SignalCache:
    """The cache of ``data_folder`` under ``cache_root``, built first if it does not exist yet.

    One process at a time checks for a cache and builds it (an exclusive lock per fingerprint): a
    second run on the same data waits for the first one's cache instead of building its own. Older
    caches of the same data folder under ``cache_root`` are then removed, unless another process is
    using them. Raises :class:`CacheError` for a data folder that cannot be listed, a cache root that
    cannot be a writable folder (both before any work), too little free space and a failed write.
    """
    data_path = Path(data_folder)
    recordings = list_recordings(data_path)  # DataFolderError (one line) for a folder without recordings
    root = _usable_cache_root(Path(cache_root))
    source = str(data_path.resolve())
    folder = root / fingerprint(recordings)
    with _build_lock(_lock_path(folder)):
        if (folder / "index.json").is_file():
            _record_data_folder(folder, source)
        else:
            _build(recordings, folder, workers, source)
        cache = _open_in_use(folder)
    _remove_older_caches(root, source, keep=folder)
    log.info("Signal cache: %s (%s, %s recordings)", folder, _size_text(_folder_bytes(folder)), f"{len(cache):,}")
    return cache


def open_cache(folder: str | os.PathLike[str]) -> SignalCache:
    """Open a complete cache folder."""
    folder = Path(folder)
    index = _read_index(folder)
    if index["format"] != CACHE_FORMAT:
        raise ValueError(f"{folder}: cache format {index['format']} is not {CACHE_FORMAT}; delete the folder")
    try:
        records = index["records"]
        total = int(index["total_samples"])
        fields = {
            "names": tuple(r["name"] for r in records),
            "codes": tuple(tuple(r["codes"]) for r in records),
            "features": np.array([r["features"] for r in records], dtype=np.float32).reshape(-1, NUM_RECORD_FEATURES),
            "offsets": np.array([r["offset"] for r in records], dtype=np.int64),
            "lengths": np.array([r["length"] for r in records], dtype=np.int64),
            "skipped": tuple((s["name"], s["reason"]) for s in index["skipped"]),
        }
    except (KeyError, TypeError, ValueError) as error:
        raise _damaged_index(folder, error) from None
    signals = (
        np.memmap(folder / "signals.int16", dtype=np.int16, mode="r", shape=(total, 12))
        if total
        else np.zeros((0, 12), np.int16)
    )
    return SignalCache(folder=folder, signals=signals, **fields)


def _read_index(folder: Path) -> dict:
    """A cache's index.json, which is JSON, never code: anything else is a CacheError that says what to do."""
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        if not isinstance(index, dict) or "format" not in index:
            raise ValueError("not an index")
    except (OSError, ValueError) as error:
        raise _damaged_index(folder, error) from None
    return index


def _damaged_index(folder: Path, error: Exception) -> CacheError:
    return CacheError(
        f"{folder / 'index.json'} is not a signal cache index ({type(error).__name__}): delete {folder} "
        "and it is built again"
    )


def _build(recordings: list[Recording], folder: Path, workers: int, data_folder: str) -> None:
    """Write the cache of ``recordings`` into ``folder``; any file-system failure is one :class:`CacheError`."""
    _remove_abandoned_builds(folder.parent)
    building = folder.parent / f"{_building_prefix(folder.name)}{os.getpid()}"
    try:
        records, skipped = _plan(recordings)
        total = sum(r["length"] for r in records)
        _make_room(folder, total * 12 * np.dtype(np.int16).itemsize + _index_bytes(records, skipped), data_folder)
        log.info("Caching %d recordings (%.1f M samples at 500 Hz) in %s", len(records), total / 1e6, folder)
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        signals_path = building / "signals.int16"
        if total:
            _allocate(signals_path, total * 12 * np.dtype(np.int16).itemsize)
        with Progress(len(records), "caching signals", "recordings", log) as progress:
            failed, features = _write_records(records, signals_path, total, workers, building / ".journal", progress)
        kept = [{**r, "features": features[r["name"]]} for r in records if r["name"] not in failed]
        skipped += [{"name": name, "reason": reason} for name, reason in failed.items()]
        index = {
            "format": CACHE_FORMAT,
            "data_folder": data_folder,
            "total_samples": total,
            "records": kept,
            "skipped": skipped,
        }
        atomic_write_text(building / "index.json", json.dumps(index))
        try:
            os.replace(building, folder)
        except OSError:
            if not (folder / "index.json").is_file():
                raise
            # A process that does not share our lock (another host on a network file system) was first.
            log.info("Another process cached the same folder first; using %s", folder)  # same inputs, same cache
    except OSError as error:
        raise CacheError(f"{folder}: cannot build the signal cache: {error.strerror or error}") from error
    finally:
        shutil.rmtree(building, ignore_errors=True)


def _usable_cache_root(root: Path) -> Path:
    """``root``, created if needed; one that cannot be a writable folder is a CacheError."""
    if os.path.isfile(root):
        raise CacheError(f"{root}: the cache folder is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocking = next((parent for parent in root.parents if os.path.isfile(parent)), None)
        problem = f"{blocking} is a file" if blocking else (error.strerror or str(error))
        raise CacheError(f"{root}: cannot create the cache folder: {problem}") from error
    if not os.access(root, os.W_OK | os.X_OK):
        raise CacheError(f"{root}: cannot write in the cache folder: permission denied")
    return root


def _make_room(folder: Path, needed: int, data_folder: str) -> None:
    """Refuse a cache the disk cannot hold, before writing it.

    Short of space, the older caches of the same data folder, which this one replaces, are removed
    first (unless in use), rather than only once it is complete.
    """
    root = folder.parent
    if needed > shutil.disk_usage(root).free:
        _remove_older_caches(root, data_folder, keep=folder)
    free = shutil.disk_usage(root).free
    if needed > free:
        raise CacheError(
            f"the signal cache needs {_size_text(needed)} in {root}, {_size_text(free)} free: "
            "free space or choose another --cache-dir"
        )


def _index_bytes(records: list[dict], skipped: list[dict]) -> int:
    """An upper bound of index.json's size: the plan, and per record its features (at most 25 characters each)."""
    return len(json.dumps({"records": records, "skipped": skipped})) + len(records) * (25 * NUM_RECORD_FEATURES + 16)


def _allocate(path: Path, size: int) -> None:
    """Create ``path`` with ``size`` bytes whose disk blocks are reserved now.

    Written through a memory map, a sparse file gets its blocks only as pages reach the disk, and a
    full disk then kills the process with SIGBUS. Reserved blocks cannot run out: a full disk is an
    ENOSPC error here instead. A file system that cannot reserve (EOPNOTSUPP, EINVAL) keeps it sparse.
    """
    with open(path, "wb") as handle:
        handle.truncate(size)
        reserve = getattr(os, "posix_fallocate", None)  # absent on macOS
        if reserve is None:
            return
        try:
            reserve(handle.fileno(), 0, size)
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise


def _lock_path(folder: Path) -> Path:
    """The lock file that guards checking for and building the cache ``folder``."""
    return folder.parent / f".{folder.name}.lock"


@contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock ``path``, waiting for a process that holds it (is building that cache)."""
    try:
        descriptor = lock_exclusively(path, wait=False)
        if descriptor is None:
            log.info("Waiting for another process building the same signal cache (it holds %s)", path)
            descriptor = lock_exclusively(path, wait=True)
    except OSError as error:  # a file system without flock: go on, as before locks
        log.warning("Cannot lock %s (%s); a concurrent run may build the same cache", path, error.strerror)
        descriptor = None
    try:
        yield
    finally:
        if descriptor is not None:
            unlock(path, descriptor)


def _open_in_use(folder: Path) -> SignalCache:
    """Open a complete cache and mark it in use (a shared lock on its index) for as long as the object lives.

    :func:`_remove_older_caches` leaves a cache alone while any process holds that lock: a run still
    training on it (its loader workers may open the signal file again by name) keeps it.
    """
    cache = open_cache(folder)
    try:
        descriptor = os.open(folder / "index.json", os.O_RDONLY)
    except OSError:
        return cache
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:  # no flock on this file system: the cache is not protected from removal
        os.close(descriptor)
        return cache
    weakref.finalize(cache, os.close, descriptor)
    return cache


def _record_data_folder(folder: Path, data_folder: str) -> None:
    """Add the data folder to the index of a cache written before it was recorded, so that it can be replaced."""
    index_path = folder / "index.json"
    index = _read_index(folder)
    if "data_folder" in index:
        return
    try:
        atomic_write_text(index_path, json.dumps({"format": index["format"], "data_folder": data_folder, **index}))
    except OSError as error:  # someone else's read-only cache: it stays, only never replaced
        log.debug("Cannot record the data folder in %s: %s", index_path, error)


def _remove_older_caches(root: Path, data_folder: str, keep: Path) -> None:
    """Remove the caches of ``data_folder`` under ``root`` other than ``keep``, unless a process is using them."""
    for folder in sorted(root.iterdir()):
        if folder == keep or folder.name.startswith(".") or _recorded_data_folder(folder) != data_folder:
            continue
        try:
            checking = lock_exclusively(_lock_path(folder), wait=False)  # no process is checking or building it
        except OSError:  # no flock here: whether it is in use cannot be known, so it stays
            continue
        if checking is None:
            continue
        try:
            _remove_unused_cache(folder)
        finally:
            unlock(_lock_path(folder), checking)


def _recorded_data_folder(folder: Path) -> str | None:
    """The data folder a cache records; None for anything else (not a cache, or one that records none)."""
    # Read from the head of the index, where it is written: a full set's index is 20 MB and takes half a second.
    try:
        with open(folder / "index.json", "rb") as index:
            head = index.read(_INDEX_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    recorded = _RECORDED_DATA_FOLDER.match(head)
    return json.loads(recorded[1]) if recorded else None


def _remove_unused_cache(folder: Path) -> None:
    try:
        descriptor = os.open(folder / "index.json", os.O_RDWR)  # write access: flock over NFS needs it
    except OSError:
        return
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Keeping the older signal cache %s: another process is using it", folder)
            return
        except OSError:  # no flock here: whether it is in use cannot be known, so it stays
            return
        size = _size_text(_folder_bytes(folder))
        # Renamed first into the name of an unfinished build: an interrupted removal is cleaned up like one.
        removing = folder.parent / f"{_building_prefix(folder.name)}{os.getpid()}"
        try:
            os.replace(folder, removing)
        except OSError as error:  # someone else's cache in a shared root, say
            log.info("Keeping the older signal cache %s: %s", folder, error.strerror)
            return
        shutil.rmtree(removing, ignore_errors=True)
        log.info("Removed %s (%s), an older signal cache of the same data folder", folder, size)
    finally:
        os.close(descriptor)


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.iterdir() if path.is_file())


def _size_text(size: int) -> str:
    """A byte count for people: 7.9 GB, 312.4 MB, 36.0 kB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _building_prefix(name: str) -> str:
    """Name of a cache folder under construction, less the builder's process id."""
    return f".{name}.building-{socket.gethostname()}-"


def _remove_abandoned_builds(root: Path) -> None:
    """Delete the unfinished cache folders of builds killed on this host (their process no longer exists).

    A killed build of the full data set leaves gigabytes behind; builds on other hosts sharing the
    cache root, and builds whose process is alive, are left alone.
    """
    if not root.is_dir():
        return
    marker = f".building-{socket.gethostname()}-"
    for path in root.iterdir():
        name, _, pid = path.name.rpartition(marker)
        if name.startswith(".") and pid.isdigit() and not _process_exists(int(pid)):
            log.info("Removing %s, left by a cache build that was killed", path)
            shutil.rmtree(path, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _plan(recordings: list[Recording]) -> tuple[list[dict], list[dict]]:
    """Read every header and check its signal file's size (recordings.check_counts): where each recording goes in
    the cache, and which cannot be used, with the reason."""
    records: list[dict] = []
    skipped: list[dict] = []
    offset = 0
    for recording in recordings:
        if recording.problem is not None:  # a missing signal file, a folder or a broken link for a file...
            skipped.append({"name": recording.name, "reason": recording.problem})
            continue
        try:
            header = read_header(recording.header)
            # A header may declare more samples than its signal file holds (a week for a 10 s file): such a
            # recording could never be cached, and must not size the cache (check_counts reads no sample).
            check_counts(recording.signal, header)
            length = resampled_length(header.num_samples, header.frequency)
        except Exception as error:  # one unusable recording must not stop the others
            skipped.append({"name": recording.name, "reason": _reason(error)})
            continue
        if length == 0:
            skipped.append({"name": recording.name, "reason": "recording has no samples"})
            continue
        records.append(
            {
                "name": recording.name,
                "header": str(recording.header),
                "signal": str(recording.signal),
                "codes": list(header.labels),
                "offset": offset,
                "length": length,
            }
        )
        offset += length
    return records, skipped


CHUNK_RECORDS = 64  # recordings a worker caches per task


def _write_records(
    records: list[dict], signals_path: Path, total: int, workers: int, journal: Path, progress: Progress
) -> tuple[dict[str, str], dict[str, list[float]]]:
    """Cache ``records`` in chunks, in ``workers`` processes; {name: why it was skipped} and {name: features}.

    A worker that dies (killed for its memory, a crash in a library) takes its chunk's results with it, and joblib
    then stops every worker. Each worker notes in ``journal`` the recording it is caching; after a death, those
    recordings are cached again one at a time, each by a worker of its own, so that one that kills its worker
    again is skipped, with the reason, and the others are kept. The rest of the build then goes on.
    """
    failed: dict[str, str] = {}
    features: dict[str, list[float]] = {}
    pending = [records[i : i + CHUNK_RECORDS] for i in range(0, len(records), CHUNK_RECORDS)]
    journal.mkdir(exist_ok=True)
    while pending:
        try:
            # No more processes than chunks: a small folder is cached in this process, without starting workers.
            jobs = max(1, min(workers, len(pending)))
            # A copy: joblib takes the chunks from the list as it goes, and this loop pops the finished ones.
            for errors, chunk_features in _in_workers(list(pending), signals_path, total, jobs, journal):
                failed.update(errors)
                features.update(chunk_features)
                progress.update(progress.done + len(pending.pop(0)))
        except BrokenExecutor as death:
            suspects = set()
            for note in journal.iterdir():
                suspects.add(os.fsdecode(note.read_bytes()))
                note.unlink()
            if not suspects:  # a death outside any recording: nothing to skip, and the same would happen again
                raise CacheError(f"a process caching the signals died ({_exit_codes(death)})") from death
            for record in [record for chunk in pending for record in chunk if record["name"] in suspects]:
                try:  # two jobs for one chunk: joblib runs it in a worker process, not in this one
                    ((errors, chunk_features),) = _in_workers([[record]], signals_path, total, 2, journal)
                except BrokenExecutor as again:
                    errors, chunk_features = {record["name"]: f"its process died caching it ({_exit_codes(again)})"}, {}
                failed.update(errors)
                features.update(chunk_features)
                progress.update(progress.done + 1)
            pending = [kept for chunk in pending if (kept := [r for r in chunk if r["name"] not in suspects])]
    shutil.rmtree(journal)  # not part of the cache
    return failed, features


def _exit_codes(death: BaseException) -> str:
    """How joblib's workers ended, as its error says (``exit codes {SIGKILL(-9)}``), or the error's type."""
    codes = re.search(r"exit codes of the workers are (\{.*?\})", str(death))
    return f"exit codes {codes[1]}" if codes else type(death).__name__


def _in_workers(
    chunks: list[list[dict]], signals_path: Path, total: int, jobs: int, journal: Path
) -> Iterator[tuple[dict[str, str], dict[str, list[float]]]]:
    """:func:`_write_chunk` of each chunk, in order, in ``jobs`` worker processes that end with this one (one job:
    in this process)."""
    return Parallel(n_jobs=jobs, return_as="generator", initializer=end_with_parent, initargs=(os.getpid(),))(
        delayed(_write_chunk)(chunk, signals_path, total, journal) for chunk in chunks
    )


def end_with_parent(parent: int) -> None:
    """In a worker process: be killed when ``parent`` ends, also by SIGKILL, which gives it no chance to end its
    workers (Linux: ``prctl(PR_SET_PDEATHSIG)``; elsewhere nothing is done). A parent already gone ends it now."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1  # linux/prctl.h
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _write_chunk(
    records: list[dict], signals_path: Path, total: int, journal: Path
) -> tuple[dict[str, str], dict[str, list[float]]]:
    """Preprocess recordings into the memory-mapped file; return {name: error} and {name: record features}.

    Before each recording its name is written into ``journal``'s file for this process, removed at the end: where a
    worker dies, it names the recording that was being cached (:func:`_write_records`).
    """
    signals = np.memmap(signals_path, dtype=np.int16, mode="r+", shape=(total, 12))
    errors: dict[str, str] = {}
    features: dict[str, list[float]] = {}
    note = journal / str(os.getpid())
    for record in records:
        note.write_bytes(os.fsencode(record["name"]))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # missing leads are zero-filled; training tolerates that
                header, signal_mv = load_signal(record["header"], record["signal"])
                signal = prepare_signal(signal_mv, header)
        except Exception as error:  # one unusable recording must not stop the others
            errors[record["name"]] = _reason(error)
            continue
        if signal.shape[1] != record["length"]:
            errors[record["name"]] = f"resampled to {signal.shape[1]} samples, expected {record['length']}"
            continue
        microvolts = np.clip(np.rint(signal * MICROVOLTS_PER_MV), -_INT16_MAX, _INT16_MAX).astype(np.int16)
        signals[record["offset"] : record["offset"] + record["length"]] = microvolts.T
        # The first 5 minutes, as in classification (measure_record takes no more)
        features[record["name"]] = measure_record(signal, header.age, header.sex)[1].tolist()
    signals.flush()
    note.unlink(missing_ok=True)
    return errors, features


def _reason(error: BaseException) -> str:
    """Why a recording was skipped: the problem of a RecordError, else the exception's type and message."""
    return error.problem if isinstance(error, RecordError) else f"{type(error).__name__}: {error}"
