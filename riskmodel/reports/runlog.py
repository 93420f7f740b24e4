"""What a run needs around its work: its log file, SIGTERM as an interrupt, a progress bar, ``latest``.

Example
-------
>>> # with log_to(folder / "run.log"), terminate_as_interrupt(): ...
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["RunInterrupted", "log_to", "terminate_as_interrupt", "progress_bar", "point_latest"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def log_to(path: Path) -> Iterator[None]:
    """Copy riskmodel's log records to ``path`` (mode 0600) while the run is made."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    os.close(fd)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logger = logging.getLogger("riskmodel")
    old_level, old_propagate = logger.level, logger.propagate
    console_level = logger.getEffectiveLevel()
    # run.log gets INFO; the console keeps the level it had (-v or not): records reach the usual
    # handlers through a relay at that level instead of through propagation
    relay = _Relay(console_level)
    logger.addHandler(handler)
    logger.addHandler(relay)
    logger.setLevel(min(console_level, logging.INFO))
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(relay)
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        handler.close()


class _Relay(logging.Handler):
    """Hands records at or above ``level`` to the root logger's handlers (what propagation did)."""

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logging.getLogger().handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM during a run (cron's timeout, a shutdown): treated as Ctrl-C, nothing is left behind."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - signal handler signature
        raise RunInterrupted(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def progress_bar(total: int, enabled: bool):
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)


def point_latest(out: Path, run_id: str) -> None:
    """Point ``out/latest`` at the new run (a relative symlink, replaced atomically), unless it points
    at a run of a later as-of date: a backfill of an earlier month must not send the staff who open
    ``latest`` back to an older list. Run folders are named ``run-<as-of>-<UTC time>``, so their
    names sort by as-of date, then by when they were made."""
    link = out / "latest"
    if link.exists() and not link.is_symlink():
        log.warning("%s exists and is not a link; left as it is", link)
        return
    current = os.readlink(link) if link.is_symlink() else ""
    if link.exists() and Path(current).name.startswith("run-") and Path(current).name > run_id:
        log.info("latest stays at %s (a later as-of date than %s)", Path(current).name, run_id)
        return
    tmp = out / f".latest.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(run_id, tmp)
    os.replace(tmp, link)
