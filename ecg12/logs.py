"""Logging set-up for the command-line scripts, and the progress of long work, with or without a terminal."""

from __future__ import annotations

import logging
import os
import sys
import time
from types import TracebackType

from tqdm.auto import tqdm

PROGRESS_INTERVAL = 10.0  # seconds between progress log lines where there is no terminal


def configure_logging(verbose: bool = False) -> None:
    """One line per event on stderr; under torchrun only rank 0 logs (the other ranks only their warnings)."""
    quiet = int(os.environ.get("RANK", "0")) > 0
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):  # no stream, or a closed one
        return False


class Progress:
    """Progress of long work: a bar where stderr is a terminal, else a log line every ``interval`` s at most.

    Without a terminal (``docker run`` without ``-t``, nohup, CI logs) a bar prints nothing useful, and
    a long job must not look hung: there, ``logger`` gets "``doing`` 1200/43101 ``unit`` (95.3/s)".
    ``update`` takes the number of items done so far.
    """

    def __init__(
        self,
        total: int,
        doing: str,
        unit: str,
        logger: logging.Logger,
        interval: float | None = None,
        enabled: bool = True,
    ) -> None:
        terminal = stderr_is_terminal()
        self.bar = tqdm(total=total, desc=doing, unit=unit, file=sys.stderr, disable=not (enabled and terminal))
        self.log_lines = enabled and not terminal
        self.total, self.doing, self.unit, self.logger = total, doing, unit, logger
        self.interval = PROGRESS_INTERVAL if interval is None else interval
        self.started = self.last_line = time.monotonic()
        self.done = self.logged = 0

    def update(self, done: int) -> None:
        self.bar.update(done - self.done)
        self.done = done
        now = time.monotonic()
        if self.log_lines and done > self.logged and now - self.last_line >= self.interval:
            rate = done / max(now - self.started, 1e-9)
            self.logger.info("%s %d/%d %s (%.1f/s)", self.doing, done, self.total, self.unit, rate)
            self.logged, self.last_line = done, now

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.bar.close()
