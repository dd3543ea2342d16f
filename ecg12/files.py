"""Atomic file writes: a reader (or a crash) never sees a half-written file.

Each write goes to a temporary file in the destination folder, is flushed to disk and then renamed
over the destination, which POSIX guarantees to be atomic on one file system. The temporary file's name
is short whatever the destination's (``.`` + a digest of the destination's name + mkstemp's random part +
``.tmp``, 30 bytes), so that a file whose name the file system can hold can also be written; a failure
names the destination, not the temporary file.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

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
    """Call ``write(handle)`` on a binary handle whose contents then atomically become ``path``."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        write(handle)


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
