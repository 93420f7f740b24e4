"""The process pool that runs a run's notebooks, each worker reusing one kernel.

A worker (spawned, never forked) starts one :class:`~riskmodel.reports.notebooks.KernelSession` and
runs its share of the notebooks in it; on an interrupt the parent terminates the pool. Always a
pool, even of one: nbclient installs (and on leaving removes) its own SIGTERM handler in the process
that runs a notebook, which would undo the parent's.

Example
-------
>>> # outcomes = execute_all(jobs, workers=2, reuse_kernels=True, on_done=lambda key, outcome: None)
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from riskmodel.reports.notebooks import KernelSession, execute

__all__ = ["execute_all"]

_SESSION: KernelSession | None = None  # a pool worker's kernel, reused for each notebook it runs


def _init_worker(reuse_kernel: bool, folder: str, max_notebooks: int = 0) -> None:
    global _SESSION
    os.umask(0o077)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it terminates the pool
    if reuse_kernel:
        from multiprocessing.util import Finalize

        _SESSION = KernelSession(folder=folder, max_notebooks=max_notebooks)
        Finalize(_SESSION, _SESSION.close, exitpriority=10)


def _run_job(job: dict) -> tuple[str, dict]:
    if "call" in job:  # a task that is not a notebook (a cohort's warning lists): its error stops the run
        started = time.perf_counter()
        module, name = job["call"]
        result = getattr(importlib.import_module(module), name)(*job.get("args", ()), **job.get("kwargs", {}))
        return job["key"], {"status": "ok", "seconds": round(time.perf_counter() - started, 3), "result": result}
    outcome = execute(Path(job["template"]), Path(job["ipynb"]), Path(job["html"]) if job["html"] else None,
                      job["parameters"],
                      title=job["title"], timeout=job["timeout"], session=_SESSION)
    return job["key"], outcome


def execute_all(jobs: list[dict], *, workers: int, reuse_kernels: bool,
                on_done: Callable[[str, dict], None], max_notebooks: int = 0) -> dict[str, dict]:
    """Run the notebook jobs, ``workers`` at a time; the pool is terminated on an interrupt.

    A job with ``call: (module, function)`` and ``args``/``kwargs`` is not a notebook: the worker calls
    the function (the run's warning lists, put first so that both cores write them), its return value
    is the outcome's ``result``, and an exception it raises is raised here (the pool terminated).
    Nothing else runs in this process meanwhile: on a two-core machine a third process writing
    spreadsheets competed with the notebooks and slowed both (docs/reports.md).
    """
    outcomes: dict[str, dict] = {}
    # Always a pool, even of one: nbclient installs (and on leaving removes) its own SIGTERM handler in
    # the process that runs a notebook, which would undo the parent's; the parent keeps its own.
    # spawn, not fork: the parent may hold threads (the progress bar).
    # the kernels' sockets and connection files, removed here whatever happens to the workers
    folder = tempfile.mkdtemp(prefix="riskmodel-kernels-")
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker,
                                                     initargs=(reuse_kernels, folder, max_notebooks))
    try:
        results = pool.imap_unordered(_run_job, jobs)
        for key, outcome in results:
            outcomes[key] = outcome
            on_done(key, outcome)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        shutil.rmtree(folder, ignore_errors=True)
    return outcomes
