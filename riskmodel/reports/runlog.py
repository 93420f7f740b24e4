"""What a run needs around its work: its lock, its log file, SIGTERM as an interrupt, a progress bar, ``latest``.

**The lock.** A run holds an exclusive ``flock`` on ``<out>/.run-<as-of>.lock`` from before it reads
its inputs until its folder is in place (:func:`hold_run_lock`). A second run of the same date in the
same reports folder does not wait: it stops at once with :class:`~riskmodel.errors.RunLockedError`
(exit status 75, "try again later"), which is what a scheduler wants. Runs of other dates go on side
by side. The operating system releases the lock when its process ends, however it ends (``kill -9``
included), so a lock never outlives its run; the file is removed by the run that made it.

**Stale partial folders.** A run builds its folder as ``.run-<as-of>-<time>.<random>.partial`` and
renames it when complete. A run killed with ``kill -9`` (or a power cut) cannot remove it, and it holds
real student IDs; the next run in the folder removes every partial folder whose date lock nobody holds
(:func:`remove_stale_partials`) and logs their names (which hold no student data).

Example
-------
>>> # with hold_run_lock(out, as_of), log_to(folder / "run.log"), terminate_as_interrupt(): ...
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

from riskmodel.errors import RunInterrupted, RunLockedError, terminate_as_interrupt
from riskmodel.outputs import private_dir

__all__ = ["RunInterrupted", "log_to", "terminate_as_interrupt", "progress_bar", "point_latest", "hold_run_lock",
           "remove_stale_partials", "lock_path"]

log = logging.getLogger(__name__)

_PARTIAL = re.compile(r"^\.run-(\d{4}-\d{2}-\d{2})-.*\.partial$")
_held: dict[str, list[int]] = {}  # lock file -> [fd, depth]: a process re-entering its own lock (run, then publish)
_held_guard = threading.Lock()


def lock_path(out: Path, as_of: date | str) -> Path:
    """``<out>/.run-<as-of>.lock``: the lock of the runs of one as-of date in one reports folder."""
    day = as_of if isinstance(as_of, str) else as_of.isoformat()
    return Path(out) / f".run-{day}.lock"


def _try_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock of ``path`` (created if needed), or ``None`` if a live process holds it.

    The file is removed by its holder on release; a process that opened it just before that could
    lock the removed file, so after locking we check that ``path`` is still that file, else retry.
    """
    import fcntl

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _release(path: Path, fd: int) -> None:
    with contextlib.suppress(OSError):
        path.unlink()  # before closing: nobody can lock this file after it is gone (see _try_lock)
    os.close(fd)


def _holder(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


@contextlib.contextmanager
def hold_run_lock(out: str | Path, as_of: date | str) -> Iterator[Path]:
    """Hold the lock of ``as_of``'s runs in the reports folder ``out`` (created if needed) within the block.

    Re-entrant within one process (``run`` takes it before scoring, ``publish`` again around its folder).

    Raises
    ------
    RunLockedError
        Another process holds it: a run of the same date is writing to ``out``. Exit status 75.
    """
    out = Path(out).absolute()
    created = not out.exists()
    if created:
        private_dir(out)  # an existing reports folder keeps the permissions the centre gave it
    path = lock_path(os.path.realpath(out), as_of)  # one key however the folder is spelt
    key = str(path)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            fd = None
        else:
            fd = _try_lock(path)
            if fd is None:
                holder = _holder(path)
                day = as_of if isinstance(as_of, str) else as_of.isoformat()
                raise RunLockedError(
                    f"{out}: another run of as-of {day} is writing here"
                    f"{f' ({holder})' if holder else ''}; this one stopped before writing anything. Let it finish "
                    "(its folder appears in the reports folder when complete), or stop it, then run again.")
            os.ftruncate(fd, 0)
            os.write(fd, f"process {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n".encode())
            _held[key] = [fd, 1]
    try:
        yield path
    finally:
        with _held_guard:
            _held[key][1] -= 1
            if not _held[key][1]:
                _release(path, _held.pop(key)[0])
                if created:
                    with contextlib.suppress(OSError):
                        out.rmdir()  # made only for the lock and still empty: a refused run leaves nothing


def remove_stale_partials(out: str | Path) -> list[str]:
    """Remove the partial run folders in ``out`` that no live run is building; return their names.

    A partial folder is live while a process holds the lock of its as-of date (the run holding it
    may be this one: a partial folder of this process's own date is not live unless this process
    is building it, which it is not yet when it calls this). The names are logged (no student data).
    """
    from riskmodel.outputs import remove_if_unlocked

    out = Path(os.path.realpath(out))
    removed: list[str] = []
    by_day: dict[str, list[Path]] = {}
    for path in out.glob(".run-*.partial"):
        match = _PARTIAL.match(path.name)
        if match and path.is_dir() and not path.is_symlink():
            by_day.setdefault(match[1], []).append(path)
    for day, paths in sorted(by_day.items()):
        path = lock_path(out, day)
        mine = str(path) in _held
        fd = None if mine else _try_lock(path)
        if not mine and fd is None:
            continue  # a run of that date is live in another process: its folder is not stale
        try:
            # its own lock too: not one this process is building (publish holds it while building)
            removed += [partial.name for partial in sorted(paths) if remove_if_unlocked(partial)]
        finally:
            if fd is not None:
                _release(path, fd)
    if removed:
        log.warning("removed %d stale partial run folder(s) left by a run that was killed: %s", len(removed),
                    ", ".join(removed))
    return removed


@contextlib.contextmanager
def log_to(path: Path, earlier: Iterable[logging.LogRecord] = ()) -> Iterator[None]:
    """Copy riskmodel's log records to ``path`` (mode 0600) while the run is made, after the ``earlier``
    records (:func:`held_records`: what loading and scoring said before the run's folder existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    handler = _QuietFileHandler(path, encoding="utf-8", delay=True)
    os.close(fd)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    for record in earlier:
        handler.handle(record)
    try:
        with _attached(handler):
            yield
    finally:
        handler.close()


@contextlib.contextmanager
def held_records() -> Iterator[list[logging.LogRecord]]:
    """Keep riskmodel's INFO-and-above records made inside the block, for :func:`log_to` to write first: a
    run's warnings about its data and its list (rows ignored, level I above capacity, students dropped)
    are made before its folder exists, and an auditor reads them in run.log. The console shows what it
    showed."""
    records: list[logging.LogRecord] = []
    handler = _Keep(records)
    handler.setLevel(logging.INFO)
    with _attached(handler):
        yield records


@contextlib.contextmanager
def _attached(handler: logging.Handler) -> Iterator[None]:
    """``handler`` on the riskmodel logger at INFO; the console keeps the level it had (-v or not): records
    reach the usual handlers through a relay at that level instead of through propagation."""
    logger = logging.getLogger("riskmodel")
    old_level, old_propagate = logger.level, logger.propagate
    relay = _Relay(logger.getEffectiveLevel())
    logger.addHandler(handler)
    logger.addHandler(relay)
    logger.setLevel(min(relay.level, logging.INFO))
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(relay)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


class _Keep(logging.Handler):
    """Keeps the records it is handed (:func:`held_records`)."""

    def __init__(self, records: list[logging.LogRecord]):
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class _QuietFileHandler(logging.FileHandler):
    """run.log's handler: a record it cannot write (disk full) is dropped, not printed as a traceback.

    logging's default prints "--- Logging error ---" and a traceback on standard error; the run's
    own next write meets the same full disk and ends it with one line (exit status 3).
    """

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass


class _Relay(logging.Handler):
    """Hands records at or above ``level`` to the root logger's handlers (what propagation did)."""

    def emit(self, record: logging.LogRecord) -> None:
        for handler in logging.getLogger().handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


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
