"""A code payload, as an attacker would plant it in a file the product reads back (a checkpoint, a fold output)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path


class Payload:
    """Unpickled, it runs a shell command that creates ``marker``; the tests check that no reader ever does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)
