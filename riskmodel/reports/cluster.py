"""Where a distributed run's per-school tasks run: a Dask cluster started here, or one reached at an address.

``--cluster local:N`` starts a :class:`distributed.LocalCluster` of N worker processes with one
thread each (each under a nanny, which restarts a worker that dies or passes its memory limit, and,
with ``cluster.worker_lifetime``, one that has lived that long). ``--cluster ADDRESS``
(``tcp://host:8786``, ``tls://...``) connects to a scheduler the centre runs (``dask scheduler`` and
``dask worker`` on its machines, dask-jobqueue or the Dask Kubernetes operator: docs/scale.md).
:func:`open_cluster` yields a :class:`distributed.Client` and closes what it opened, whatever happens:
a local cluster's workers are stopped, and with them their report kernels (each kernel watches its
parent process and exits when it goes).

On a worker, :func:`worker_session` gives each task thread one report kernel per run
(:class:`~riskmodel.reports.notebooks.KernelSession`: IPC sockets in a private folder, replaced after
``reports.kernel_max_notebooks`` notebooks); :func:`close_sessions` (run on every worker when the run
ends) and the :class:`KernelSessions` plugin (when a worker closes) shut them down; a worker starting
sweeps the kernels of worker processes that were killed (:func:`sweep_orphan_kernels`).

Example
-------
>>> parse_cluster("local:2")
ClusterSpec(address='', workers=2)
>>> parse_cluster("tcp://10.0.0.5:8786").address
'tcp://10.0.0.5:8786'
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata

from riskmodel.config import ClusterSettings
from riskmodel.errors import ConfigError

__all__ = ["ClusterSpec", "parse_cluster", "open_cluster", "check_versions", "worker_session", "close_sessions",
           "KernelSessions", "VERSION_PACKAGES", "sweep_orphan_kernels"]

log = logging.getLogger(__name__)

_LOCAL = re.compile(r"^local:(\d+)$")
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")
# what must be the same on the client and every worker for a worker's list to be the one this
# machine would make (a different pandas or LightGBM may round or order differently)
VERSION_PACKAGES = ("riskmodel", "pandas", "numpy", "pyarrow", "lightgbm", "scikit-learn", "papermill", "nbconvert")


@dataclass(frozen=True)
class ClusterSpec:
    """``--cluster``: a scheduler's address, or a local cluster of ``workers`` processes (address empty)."""

    address: str = ""
    workers: int = 0

    @property
    def local(self) -> bool:
        return not self.address


def parse_cluster(spec: str) -> ClusterSpec:
    """Read ``--cluster``: ``local:N`` (N worker processes here) or a scheduler address.

    Raises
    ------
    ConfigError
        Neither form, or ``local:0``.
    """
    spec = (spec or "").strip()
    match = _LOCAL.match(spec)
    if match:
        workers = int(match[1])
        if workers < 1:
            raise ConfigError(f"--cluster {spec}: a local cluster needs at least one worker (local:2).")
        return ClusterSpec(workers=workers)
    if _ADDRESS.match(spec):
        return ClusterSpec(address=spec)
    raise ConfigError(f"--cluster {spec!r}: give local:N (N worker processes on this machine) or a Dask scheduler's "
                      "address such as tcp://10.0.0.5:8786 (docs/scale.md).")


def _versions() -> dict[str, str]:
    found = {}
    for name in VERSION_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def check_versions(client) -> dict[str, dict[str, str]]:
    """Every worker's versions of :data:`VERSION_PACKAGES`; refuse a worker whose differ from here.

    Raises
    ------
    ConfigError
        Naming the worker, the package and both versions.
    """
    here = _versions()
    theirs = client.run(_versions)
    for worker, versions in sorted(theirs.items()):
        wrong = {name: (versions.get(name), version) for name, version in here.items() if versions.get(name) != version}
        if wrong:
            name, (there, mine) = sorted(wrong.items())[0]
            raise ConfigError(f"Dask worker {worker}: {name} {there}, but {mine} where the run starts; install the "
                              "same versions on every worker (the same image or lock file), else a worker's list "
                              "could differ from this machine's (docs/scale.md).")
    return theirs


@contextlib.contextmanager
def open_cluster(spec: ClusterSpec | str, *, settings: ClusterSettings) -> Iterator:
    """A :class:`distributed.Client` on the cluster ``spec`` for the block; closed (and a local cluster stopped) after.

    Raises
    ------
    ConfigError
        The scheduler cannot be reached within ``settings.connect_timeout`` seconds, or has no worker.
    """
    from distributed import Client, LocalCluster

    spec = parse_cluster(spec) if isinstance(spec, str) else spec
    cluster = None
    client = None
    # distributed logs every worker's start and stop at INFO: noise in run.log and the cron mail
    quiet = logging.getLogger("distributed")
    old_level = quiet.level
    quiet.setLevel(max(logging.WARNING, quiet.getEffectiveLevel()))
    try:
        if spec.local:
            extra = {}
            if settings.worker_lifetime:  # the nanny restarts a worker this old, between tasks where it can
                extra = {"lifetime": settings.worker_lifetime, "lifetime_stagger": "5 minutes",
                         "lifetime_restart": True}
            # no dashboard for a run nobody watches; the scheduler's HTTP server (health routes) still starts,
            # on 8787 unless told otherwise ("Port 8787 is already in use" when two runs overlap): a free
            # port of the loopback interface
            cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   silence_logs=logging.ERROR,
                                   memory_limit=settings.memory_limit, **extra)
            client = Client(cluster, set_as_default=False)
        else:
            try:
                client = Client(spec.address, timeout=f"{settings.connect_timeout}s", set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"--cluster {spec.address}: no Dask scheduler answered within "
                                  f"{settings.connect_timeout} s ({type(exc).__name__}); start it (dask scheduler) or "
                                  "check the address (cluster.connect_timeout, docs/scale.md).") from None
            if not client.scheduler_info().get("workers"):
                client.wait_for_workers(1, timeout=settings.connect_timeout)
        client.register_plugin(KernelSessions(), name="riskmodel-kernel-sessions")
        log.info("cluster: %s, %d worker(s)", "local" if spec.local else "scheduler",
                 len(client.scheduler_info()["workers"]))
        yield client
    finally:
        if client is not None:
            with contextlib.suppress(Exception):  # closing must not hide why the block ended
                client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=30)
        quiet.setLevel(old_level)


# --------------------------------------------------------------------------------------------- on a worker
_sessions: dict[tuple[str, int], object] = {}  # (run_id, thread) -> KernelSession, in this worker process
_sessions_guard = threading.Lock()


_KERNELS_FOLDER = re.compile(r"riskmodel-dask-(\d+)")


def _kernel_parent() -> str:
    """This worker process's folder of report kernels, ``<tmp>/riskmodel-dask-<pid>`` (owner-only): every
    kernel it starts has its sockets and connection file in it, so that kernels a killed worker left
    can be found by the process id in their folder's name (:func:`sweep_orphan_kernels`)."""
    folder = _own_folder()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def _bases() -> list[str]:
    """Where kernel folders go: the temporary folder, or ``/tmp`` when that is too deep for the sockets
    inside (riskmodel.reports.notebooks keeps a socket's folder within 80 bytes)."""
    base = tempfile.gettempdir()
    fits = len(os.fsencode(base)) + len("/riskmodel-dask-4194304/riskmodel-kernel-xxxxxxxx") <= 80
    return [base] if fits or not os.path.isdir("/tmp") else ["/tmp", base]


def _own_folder() -> str:
    return os.path.join(_bases()[0], f"riskmodel-dask-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, and not ours to judge
        return True
    return True


def sweep_orphan_kernels(parent: str | None = None) -> list[int]:
    """Kill the report kernels of worker processes that are gone, and remove their folders; their pids.

    A worker killed (SIGKILL, the OOM killer) while its kernel boots leaves that kernel running when an
    orphan goes to a subreaper rather than to process 1 (``systemd --user``, a container's init):
    ipykernel watches only for process 1. Each new worker sweeps (:class:`KernelSessions`), so the
    nanny's restart of a killed worker collects what it left. Linux only, like
    :func:`~riskmodel.reports.notebooks.kill_kernels`; a folder whose pid was reused is left.
    """
    from riskmodel.reports.notebooks import kill_kernels

    killed: list[int] = []
    for base in [parent] if parent else _bases():
        with contextlib.suppress(OSError):
            for entry in os.scandir(base):
                match = _KERNELS_FOLDER.fullmatch(entry.name)
                if match and entry.is_dir(follow_symlinks=False) and not _alive(int(match.group(1))):
                    killed += kill_kernels(entry.path)
                    shutil.rmtree(entry.path, ignore_errors=True)
    if killed:
        log.warning("stopped %d report kernel(s) left by a worker process that was killed", len(killed))
    return killed


def worker_session(run_id: str, *, max_notebooks: int):
    """This thread's report kernel for run ``run_id`` (started on first use, kept for the run's next schools).

    One per thread: a worker with several threads runs several schools at once, each in its own
    kernel. One per run: a kernel never carries a run's state (or its working directory) into another.
    """
    from riskmodel.reports.notebooks import KernelSession

    key = (run_id, threading.get_ident())
    with _sessions_guard:
        session = _sessions.get(key)
        if session is None:
            session = _sessions[key] = KernelSession(folder=_kernel_parent(), max_notebooks=max_notebooks)
    return session


def close_sessions(run_id: str | None = None) -> int:
    """Shut down this process's report kernels of ``run_id`` (every run's with ``None``); how many."""
    with _sessions_guard:
        keys = [key for key in _sessions if run_id is None or key[0] == run_id]
        sessions = [_sessions.pop(key) for key in keys]
    for session in sessions:
        with contextlib.suppress(Exception):
            session.close()
    return len(sessions)


def _plugin_base():
    try:
        from distributed import WorkerPlugin
    except ImportError:  # pragma: no cover - distributed is a dependency
        return object
    return WorkerPlugin


class KernelSessions(_plugin_base()):
    """A worker plugin: when the worker closes (end of a local cluster, a restart), its kernels go too."""

    def setup(self, worker) -> None:  # noqa: ARG002 - WorkerPlugin's signature
        sweep_orphan_kernels()  # a worker the nanny starts again after a kill collects its kernels

    def teardown(self, worker) -> None:  # noqa: ARG002 - WorkerPlugin's signature
        close_sessions(None)
        shutil.rmtree(_own_folder(), ignore_errors=True)
