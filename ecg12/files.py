"""Atomic file writes, and locks that let one run at a time use a folder.

Each write goes to a temporary file in the destination folder, is flushed to disk and then renamed
over the destination, which POSIX guarantees to be atomic on one file system. The temporary file's name
is short whatever the destination's (``.`` + a digest of the destination's name + mkstemp's random part +
``.tmp``, 30 bytes), so that a file whose name the file system can hold can also be written; a failure
names the destination, not the temporary file.

A lock is ``flock`` on a lock file, which its holder removes as it lets go, so that lock files do
not pile up; a process that got the lock of a file removed meanwhile takes the new file's instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SUFFIX = ".tmp"  # a temporary file is ``.DIGEST.XXXXXXXX.tmp`` beside the file it is to become (temporary_key)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    destination = Path(path)
    prefix = f".{temporary_key(destination.name)}."
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=prefix, suffix=_SUFFIX, dir=destination.parent)
        os.close(descriptor)
        temporary_path = Path(temporary)
        try:
            umask = os.umask(0)
            os.umask(umask)
            temporary_path.chmod(0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
            yield temporary_path
            with open(temporary_path, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary_path, destination)
        finally:
            temporary_path.unlink(missing_ok=True)
    except OSError as error:
        # The user knows the destination, not the temporary file: an error naming that (or no file) names it.
        if error.errno is None or (error.filename is not None and not Path(error.filename).name.startswith(prefix)):
            raise
        raise type(error)(error.errno, error.strerror, str(destination)) from error


def temporary_key(name: str) -> str:
    """What the temporary file of a write of ``name`` is named after: 16 hex digits of a digest of its bytes."""
    return hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(handle)`` on a binary handle whose contents then atomically become ``path``.

    A write the file system refuses (a full disk) is an OSError naming ``path``, also where ``write``
    reports it as another exception: ``torch.save`` turns it into a RuntimeError about its zip writer.
    """
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:  # atomic_path names ``path`` in errors
        recorder = _WriteErrors(handle)
        try:
            write(recorder)  # type: ignore[arg-type]
        except Exception as error:
            if recorder.error is None or recorder.error is error:
                raise
            raise recorder.error from error


class _WriteErrors:
    """A binary handle that keeps the first OSError its writes raised, whatever the writer makes of it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as error:
            self.error = self.error or error
            raise

    def __getattr__(self, name: str) -> object:
        return getattr(self.handle, name)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, in hex (read a megabyte at a time)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Atomically replace ``path`` with ``text`` (UTF-8)."""
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_temporaries(folder: str | os.PathLike[str], names: Iterable[str]) -> None:
    """Delete the temporary files that writes of ``names`` in ``folder`` killed midway left behind.

    No process can remove its temporary file when it is killed with SIGKILL; the next run that
    writes the same files removes them. Temporaries of other files (another program's) stay. Those of
    earlier versions, named ``.NAME.XXXXXXXX.tmp`` after the file NAME itself, are removed too.
    """
    wanted = set(names)
    keys = {temporary_key(name) for name in wanted}
    for path in Path(folder).iterdir():
        if path.name.startswith(".") and path.name.endswith(_SUFFIX):
            target = path.name[1 : -len(_SUFFIX)].rsplit(".", 1)[0]  # drop mkstemp's random part
            if target in keys or target in wanted:
                path.unlink(missing_ok=True)


def printable(text: str) -> str:
    r"""``text`` as valid UTF-8 on one line: bytes of a non-UTF-8 file name as ``\xff``, control characters escaped."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        raw = text.encode("utf-8", "backslashreplace")
    decoded = raw.decode("utf-8", "backslashreplace")
    return _CONTROL_CHARACTERS.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), decoded)


class FolderInUse(ValueError):
    """Another run holds the lock of a folder that one run at a time may use."""


def lock_exclusively(path: Path, *, wait: bool) -> int | None:
    """Lock ``path`` (created if needed) exclusively: its descriptor, or None if another holds it and not ``wait``."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    os.close(descriptor)
                    return None
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            # The holder before us removed the file as it let go: hold the lock of the file there now, as newcomers do.
            if _is_same_file(descriptor, path):
                return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)


def unlock(path: Path, descriptor: int) -> None:
    """Let go of a lock of :func:`lock_exclusively`."""
    path.unlink(missing_ok=True)  # while still held, so no lock files pile up; see lock_exclusively
    os.close(descriptor)


def _is_same_file(descriptor: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(descriptor)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


@contextmanager
def one_run(folder: str | os.PathLike[str], lock_names: Sequence[str], what: str) -> Iterator[None]:
    """Hold the locks ``lock_names`` in ``folder`` (created if needed) for one run of ``what`` (e.g. "model folder M").

    :class:`FolderInUse` names ``what`` if another run holds one of them; an OSError names ``folder``
    if it cannot be created or written, before anything else is written. A folder this created is
    removed again if it is left empty. On a file system without ``flock`` the run goes on, unprotected,
    with a warning.
    """
    folder = Path(folder)
    created = [folder, *folder.parents]
    created = created[: next(i for i, path in enumerate(created) if path.exists())]  # innermost first
    with ExitStack() as stack:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(error.errno, f"cannot create {what}: {error.strerror or error}") from error
        stack.callback(_remove_empty, created)
        for name in lock_names:
            path = folder / name
            try:
                descriptor = lock_exclusively(path, wait=False)
            except OSError as error:
                if error.filename is not None:  # os.open's: the lock file cannot be created, nor any other file
                    raise OSError(error.errno, f"cannot write in {what}: {error.strerror or error}") from error
                log.warning("Cannot lock %s (%s): make sure no other run uses %s", path, error.strerror, folder)
                path.unlink(missing_ok=True)
                continue
            if descriptor is None:
                raise FolderInUse(
                    f"{what} is in use by another run (it holds {path}): wait for it to end, or choose another folder"
                )
            stack.callback(unlock, path, descriptor)
        yield


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
