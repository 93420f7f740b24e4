"""The process pool that runs a run's notebooks, each worker reusing one kernel.

A worker (spawned, never forked) starts one :class:`~riskmodel.reports.notebooks.KernelSession` and
runs its share of the notebooks in it; on an interrupt the parent terminates the pool. Always a
pool, even of one: nbclient installs (and on leaving removes) its own SIGTERM handler in the process
that runs a notebook, which would undo the parent's.

A :class:`concurrent.futures.ProcessPoolExecutor`, not a :class:`multiprocessing.pool.Pool`: when a
worker dies (the kernel's OOM killer, a crash, or a script without ``if __name__ == "__main__":``
whose spawned workers cannot start) the executor fails every waiting job at once
(``BrokenProcessPool``), where a ``Pool`` starts a new worker and waits for the lost job forever: a
scheduled run that never ends. The run then stops with :class:`~riskmodel.errors.WorkerLostError`
(exit 75) and leaves nothing half-written.

No kernel outlives its run. Every kernel's connection file is in the pool's private folder, and
whatever ended the run (its end, a failure, an interrupt, a worker killed), the pool kills every
process still naming that folder before removing it (:func:`~riskmodel.reports.notebooks.kill_kernels`).
When the parent itself is killed (``kill -9``, the OOM killer) nothing runs in it: each worker watches
its parent and, when it is gone, kills its kernel and exits; a worker blocked on the executor's
queue would otherwise wait for ever, and its kernel with it.

Example
-------
>>> # outcomes = execute_all(jobs, workers=2, reuse_kernels=True, on_done=lambda key, outcome: None)
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from riskmodel.errors import WorkerLostError
from riskmodel.reports.notebooks import KernelSession, execute, kill_kernels

__all__ = ["ReportPool", "execute_all"]

log = logging.getLogger(__name__)

_SESSION: KernelSession | None = None  # a pool worker's kernel, reused for each notebook it runs
_FOLDER: str | None = None  # the pool's folder: every kernel of a worker has its sockets in it


def _watch_parent(folder: str) -> None:
    """In a worker: when the parent process ends without stopping the pool (``kill -9``, the OOM
    killer), kill this worker's kernels and exit. A worker waits for its next job on a queue whose
    pipe it holds both ends of: without this it would wait for ever, its kernel alive with it.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # not a spawned worker (a test calling _init_worker itself)
        return

    def watch() -> None:
        from multiprocessing.connection import wait as wait_for

        wait_for([parent.sentinel])  # ready when the parent is gone: its end of the pipe closed
        try:
            if _SESSION is not None:
                _SESSION.kill()
            kill_kernels(folder)  # a notebook's own kernel (reuse_kernels off), one starting now
            shutil.rmtree(folder, ignore_errors=True)  # the parent cannot remove it any more
        finally:
            os._exit(1)

    threading.Thread(target=watch, name="riskmodel-parent-watch", daemon=True).start()


def _init_worker(reuse_kernel: bool, folder: str, max_notebooks: int = 0) -> None:
    global _SESSION, _FOLDER
    os.umask(0o077)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it terminates the pool
    _FOLDER = folder
    _watch_parent(folder)
    if reuse_kernel:
        from multiprocessing.util import Finalize

        _SESSION = KernelSession(folder=folder, max_notebooks=max_notebooks)
        try:
            _SESSION.start()  # boots and imports while this worker writes its share of the lists
        except Exception as exc:  # noqa: BLE001 - an initializer that raises breaks the whole pool;
            # papermill starts the kernel with the first notebook instead, and a failure is that notebook's
            log.info("report kernel not started ahead: %s", type(exc).__name__)
        Finalize(_SESSION, _SESSION.close, exitpriority=10)


def _ready() -> int:
    """A first job for each worker: makes the executor spawn it now (its kernel boots meanwhile)."""
    return os.getpid()


def _run_job(job: dict) -> tuple[str, dict]:
    if "call" in job:  # a task that is not a notebook (a cohort's warning lists): its error stops the run
        started = time.perf_counter()
        module, name = job["call"]
        result = getattr(importlib.import_module(module), name)(*job.get("args", ()), **job.get("kwargs", {}))
        return job["key"], {"status": "ok", "seconds": round(time.perf_counter() - started, 3), "result": result}
    outcome = execute(Path(job["template"]), Path(job["ipynb"]), Path(job["html"]) if job["html"] else None,
                      job["parameters"],
                      title=job["title"], timeout=job["timeout"], session=_SESSION, folder=_FOLDER)
    return job["key"], outcome


class ReportPool:
    """The run's process pool, started ahead of its jobs: the workers spawn and their kernels boot and
    import (:meth:`KernelSession.start`) while the parent still writes the report data.

    A job with ``call: (module, function)`` and ``args``/``kwargs`` is not a notebook: the worker calls
    the function (the run's warning lists, put first so that both cores write them), its return value
    is the outcome's ``result``, and an exception it raises is raised by :meth:`run`. Leaving the
    ``with`` block on an exception (or an interrupt) terminates the workers; whatever happened, any
    kernel still running then is killed (one whose worker died while it booted outlives it) and the
    sockets' folder is removed.

    Example
    -------
    >>> # with ReportPool(workers=2, reuse_kernels=True) as pool:
    >>> #     ...  # the parent's own work meanwhile
    >>> #     outcomes = pool.run(jobs, on_done=lambda key, outcome: None)
    """

    def __init__(self, *, workers: int, reuse_kernels: bool, max_notebooks: int = 0) -> None:
        # Always a pool, even of one: nbclient installs (and on leaving removes) its own SIGTERM handler in
        # the process that runs a notebook, which would undo the parent's; the parent keeps its own.
        # spawn, not fork: the parent may hold threads (the progress bar).
        # the kernels' sockets and connection files, removed on leaving whatever happens to the workers
        self._folder = tempfile.mkdtemp(prefix="riskmodel-kernels-")
        try:
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker,
                                             initargs=(reuse_kernels, self._folder, max_notebooks))
            # the executor spawns a worker per job while none is idle: one trivial job each starts them all now
            self._warm = [self._pool.submit(_ready) for _ in range(workers)]
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise

    def run(self, jobs: list[dict], on_done: Callable[[str, dict], None]) -> dict[str, dict]:
        """Run ``jobs`` (notebooks, or calls), as many at a time as there are workers, in the order given.

        Raises
        ------
        WorkerLostError
            A worker process ended abruptly (killed, out of memory, or unable to start).
        """
        outcomes: dict[str, dict] = {}
        try:
            pending = {self._pool.submit(_run_job, job) for job in jobs}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    key, outcome = future.result()
                    outcomes[key] = outcome
                    on_done(key, outcome)
        except BrokenProcessPool:
            raise WorkerLostError(
                "a report worker process ended abruptly (killed, out of memory, or it could not start: a script "
                "calling riskmodel needs `if __name__ == \"__main__\":`); nothing of this run was kept. Run it "
                "again; if it recurs, check the machine's memory (dmesg) or lower --jobs.") from None
        return outcomes

    def __enter__(self) -> ReportPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:  # an interrupt or an error: the workers (and their kernels) go now
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    process.terminate()  # Python 3.14's ProcessPoolExecutor.terminate_workers(), by hand
            self._pool.shutdown(wait=True, cancel_futures=exc_type is not None)
        finally:
            try:  # a worker closes its kernel when it ends normally; not when terminated or killed
                left = kill_kernels(self._folder)
                if left:
                    log.info("%d report kernel(s) left by their workers were killed", len(left))
            finally:
                shutil.rmtree(self._folder, ignore_errors=True)


def execute_all(jobs: list[dict], *, workers: int, reuse_kernels: bool,
                on_done: Callable[[str, dict], None], max_notebooks: int = 0) -> dict[str, dict]:
    """Run the jobs, ``workers`` at a time, in a :class:`ReportPool` of their own.

    Nothing else runs in this process meanwhile: on a two-core machine a third process writing
    spreadsheets competed with the notebooks and slowed both (docs/reports.md).
    """
    with ReportPool(workers=workers, reuse_kernels=reuse_kernels, max_notebooks=max_notebooks) as pool:
        return pool.run(jobs, on_done)
