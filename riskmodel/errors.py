"""Errors a person can act on, each with the exit status the command line gives it.

Exit statuses of every ``riskmodel`` verb (README "Exit statuses", docs/scheduling.md):

* 0: done.
* 1: done, but part failed (a cohort report, a notebook); the manifest says which.
* 2: the input cannot be used: data that breaks the contract, a configuration or model that does
  not fit, an input that cannot be read. Nothing was written. Fix the input named in the message and
  run again.
* 3: the output cannot be written where asked: folder not writable, disk full, a path that already
  exists, or one that is (or lies inside) an input, the data folder or the model folder. Nothing was
  written there.
* 75: another run of the same as-of date is writing to the same reports folder (``EX_TEMPFAIL`` of
  sysexits.h: try again later). Nothing was written.
* 130: interrupted (Ctrl-C, or SIGTERM e.g. from cron's ``timeout``). Nothing was left half-written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["RiskmodelError", "ContractError", "ConfigError", "ModelMismatchError", "PreflightError",
           "OutputExistsError", "RunLockedError", "WorkerLostError", "RunInterrupted", "terminate_as_interrupt",
           "EXIT_INTERRUPTED"]

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C


class RiskmodelError(Exception):
    """Base of every error riskmodel raises on purpose; ``exit_code`` is the CLI's exit status."""

    exit_code = 2


class ContractError(RiskmodelError, ValueError):
    """Input data that cannot be used at all: a missing required table or column, an unreadable file."""


class ConfigError(RiskmodelError, ValueError):
    """A configuration file or option that cannot be used."""


class ModelMismatchError(RiskmodelError, ValueError):
    """A saved model that does not fit the data it is asked to score."""


class PreflightError(RiskmodelError, OSError):
    """The output cannot be written (folder not writable, not enough disk, a path that would destroy an input), or
    the machine lacks the memory the command would need.

    ``errno`` and ``strerror`` may be set from the ``OSError`` it replaces; the message stays the text.
    """

    exit_code = 3

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class OutputExistsError(PreflightError, FileExistsError):
    """The output already exists (perhaps made meanwhile by another process); it is never overwritten."""


class RunLockedError(RiskmodelError):
    """Another run of the same as-of date holds the lock of the reports folder."""

    exit_code = 75  # EX_TEMPFAIL (sysexits.h): a temporary condition, try again later


class WorkerLostError(RiskmodelError):
    """A process of the run's report pool ended abruptly (killed, out of memory, or it could not start)."""

    exit_code = 75  # EX_TEMPFAIL: nothing was written; usually a condition of the machine, run again


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM (cron's timeout, a shutdown): treated as Ctrl-C, so every output in progress is removed."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`RunInterrupted` (a ``KeyboardInterrupt``) in the main thread.

    Without it SIGTERM kills the process at once (status 143) and skips every clean-up; with it the
    atomic writers remove what they had begun and the command line exits 130, like Ctrl-C.
    Outside the main thread (where signals cannot be set) the block runs unchanged.
    """
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
