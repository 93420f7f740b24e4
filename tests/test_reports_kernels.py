"""A reused kernel carries no cohort's data into the next cohort's report (issue 7, reuse_kernels).

The run's pool keeps one kernel per worker and clears it (``%reset -f``, figures closed) before each
notebook (riskmodel.reports.notebooks.KernelSession). What ``%reset`` cannot clear is module state:
a cache in an imported module. These tests run real cohort reports in one real kernel, then a probe
notebook through the same session (so after the same reset the next report would get), and look
in that kernel for anything that still holds the first cohort's students.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from riskmodel.reports.notebooks import KernelSession, execute, template
from riskmodel.reports.report_data import write_report_data

sys.path.insert(0, str(Path(__file__).parent))
from test_reports_fixtures import make_scored  # noqa: E402

# lru_caches in riskmodel a report kernel may fill: each keyed by static inputs (the package's own
# catalogues, specs, schema, the font). A new cache must be added here only after checking that it
# never holds data of a run; otherwise it could carry one cohort's students into another's report.
STATIC_CACHES = {
    "riskmodel.i18n.catalogue", "riskmodel.features.catalogue.raw_catalogue",
    "riskmodel.features.catalogue._catalogue_cached", "riskmodel.reports.fonts.find_cjk_font",
    "riskmodel.data.dataset.contract", "riskmodel.data.schema.table_schema", "riskmodel.data.schema.key_schema",
    "riskmodel.instruments.specs.all_specs", "riskmodel.vocab._contract",
}

PROBE = r'''
import gc, json, sys, functools
import pandas as pd

_wanted = frozenset(json.loads(open(probe_in, encoding="utf-8").read()))
gc.collect()
_found, _caches = [], []

def _strings(obj):
    if isinstance(obj, str):
        return (obj,)
    if isinstance(obj, (pd.DataFrame,)):
        return [v for col in obj.columns for v in obj[col].astype("string").dropna().unique()]
    if isinstance(obj, (pd.Series, pd.Index)):
        return obj.astype("string").dropna().unique()
    if isinstance(obj, dict):
        return [v for kv in obj.items() for v in kv if isinstance(v, str)]
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [v for v in obj if isinstance(v, str)]
    return ()

for _obj in gc.get_objects():  # every live container, including what module caches hold
    if _obj is _wanted or _obj is _found:
        continue
    try:
        _hit = any(s in _wanted for s in _strings(_obj))
    except Exception:
        continue
    if _hit:
        _found.append(type(_obj).__name__)

for _name, _mod in list(sys.modules.items()):  # module globals (dicts of strings are not gc-tracked)
    if not _name.startswith("riskmodel"):
        continue
    for _attr, _value in list(vars(_mod).items()):
        if isinstance(_value, functools._lru_cache_wrapper) and _value.cache_info().currsize:
            _caches.append(f"{_value.__module__}.{_value.__qualname__}")
        try:
            if any(s in _wanted for s in _strings(_value)):
                _found.append(f"{_name}.{_attr}")
        except Exception:
            pass

open(probe_out, "w", encoding="utf-8").write(json.dumps({"found": _found, "caches": sorted(set(_caches))}))
'''


def _probe_notebook(folder: Path) -> Path:
    return _notebook(folder, "probe", PROBE,
                     parameters='probe_in: str = ""  # JSON list of pseudonyms\nprobe_out: str = ""  # result file')


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder's report_data only (what the notebooks read), written directly: no notebook runs here."""
    folder = tmp_path_factory.mktemp("kernels")
    scored = make_scored(students=60, colleges=("计算机学院", "外国语学院"), as_of=date(2026, 3, 1))
    write_report_data(folder, warning_list=scored.everyone, tables=scored.tables, history=None,
                      contributions=scored.contributions, summary=scored.summary, rejected=scored.rejected,
                      skipped=list(scored.skipped), run_info={"as_of": "2026-03-01", "small_cell": 5})
    return folder


def test_a_reused_kernel_holds_no_earlier_cohort(run_dir, tmp_path):
    everyone = pd.read_parquet(run_dir / "report_data" / "list.parquet")
    cohorts = pd.read_parquet(run_dir / "report_data" / "cohorts.parquet")
    (tmp_path / "notebooks").mkdir()
    probe = _probe_notebook(tmp_path)
    probe_in = tmp_path / "pseudonyms.json"
    probe_in.write_text(json.dumps(everyone["pseudonym"].tolist()), encoding="utf-8")
    with KernelSession() as session:
        for cohort in cohorts.itertuples(index=False):  # the school and each college, as a worker would
            outcome = execute(template("20_cohort_report"), tmp_path / "notebooks" / f"{cohort.key}.ipynb", None,
                              {"run_dir": str(run_dir), "cohort_level": cohort.level, "cohort_id": cohort.key},
                              session=session)
            assert outcome["status"] == "ok", outcome
        page = (tmp_path / "notebooks" / f"{cohorts['key'].iloc[-1]}.ipynb").read_text(encoding="utf-8")
        assert any(p in page for p in everyone.loc[everyone["level"] != "none", "pseudonym"]), \
            "the reports ran with students in them (else the probe proves nothing)"
        result = tmp_path / "probe.json"
        outcome = execute(probe, tmp_path / "notebooks" / "probe.ipynb", None,
                          {"probe_in": str(probe_in), "probe_out": str(result)}, session=session)
        assert outcome["status"] == "ok", outcome
        assert session.used == len(cohorts) + 1, "every notebook ran in the one kernel"
    found = json.loads(result.read_text(encoding="utf-8"))
    assert found["found"] == [], f"after the reset, still holding the earlier cohorts' students: {found['found']}"
    unknown = sorted(set(found["caches"]) - STATIC_CACHES)
    assert not unknown, f"module caches filled by a report that are not known to be static: {unknown}"


def test_the_probe_sees_a_module_cache_that_holds_students(run_dir, tmp_path):
    """The probe is not blind: a cohort's pseudonyms parked where %reset does not reach (a riskmodel
    module global, a DataFrame hung on builtins) survive the reset and are found."""
    everyone = pd.read_parquet(run_dir / "report_data" / "list.parquet")
    (tmp_path / "notebooks").mkdir()
    probe = _probe_notebook(tmp_path)
    probe_in = tmp_path / "pseudonyms.json"
    probe_in.write_text(json.dumps(everyone["pseudonym"].tolist()), encoding="utf-8")
    leaky = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('run_dir: str = ""  # run folder'),
        nbformat.v4.new_code_cell("import builtins\nimport riskmodel.reports.views as v\nimport riskmodel.reports as rp\n"
                                  "v._LEAK = {p: 1 for p in rp.open_run(run_dir).warning_list['pseudonym']}\n"
                                  "builtins._LEAK_FRAME = rp.open_run(run_dir).warning_list[['pseudonym']]")])
    leaky.cells[0].metadata["tags"] = ["parameters"]
    leaky.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(leaky, tmp_path / "leaky.ipynb")
    with KernelSession() as session:
        assert execute(tmp_path / "leaky.ipynb", tmp_path / "notebooks" / "leaky.ipynb", None,
                       {"run_dir": str(run_dir)}, session=session)["status"] == "ok"
        execute(probe, tmp_path / "notebooks" / "probe.ipynb", None,
                {"probe_in": str(probe_in), "probe_out": str(tmp_path / "probe.json")}, session=session)
    found = json.loads((tmp_path / "probe.json").read_text(encoding="utf-8"))
    assert "riskmodel.reports.views._LEAK" in found["found"], "a module global holding students is found"
    assert "DataFrame" in found["found"], "a DataFrame outside the namespace %reset clears is found"


def _notebook(folder: Path, name: str, code: str, parameters: str = 'out: str = ""  # result file') -> Path:
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(parameters),
                                           nbformat.v4.new_code_cell(code)])
    book.cells[0].metadata["tags"] = ["parameters"]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{name}.ipynb"
    nbformat.write(book, path)
    return path


def test_a_notebook_that_kills_its_kernel_fails_alone(tmp_path):
    """The next notebook in the same worker gets a new kernel instead of failing on the dead one."""
    (tmp_path / "notebooks").mkdir()
    pid = _notebook(tmp_path, "pid", "import os\nopen(out, 'w').write(str(os.getpid()))")
    crash = _notebook(tmp_path, "crash", "import os\nos._exit(1)")
    with KernelSession() as session:
        first = execute(pid, tmp_path / "notebooks" / "a.ipynb", None, {"out": str(tmp_path / "a")}, session=session)
        again = execute(pid, tmp_path / "notebooks" / "b.ipynb", None, {"out": str(tmp_path / "b")}, session=session)
        crashed = execute(crash, tmp_path / "notebooks" / "c.ipynb", None, {}, session=session)
        after = execute(pid, tmp_path / "notebooks" / "d.ipynb", None, {"out": str(tmp_path / "d")}, session=session)
        assert session.restarts == 1
    assert [first["status"], again["status"], crashed["status"], after["status"]] == ["ok", "ok", "failed", "ok"]
    pids = [(tmp_path / name).read_text() for name in "abd"]
    assert pids[0] == pids[1], "a session runs its notebooks in one kernel"
    assert pids[2] != pids[0], "after the crash, a new kernel"
    copy = (tmp_path / "notebooks" / "c.ipynb").read_text(encoding="utf-8")  # papermill itself writes none here
    assert "did not finish" in copy and "DeadKernelError" in copy, "the failed notebook keeps a copy with the error"


def test_a_notebook_that_leaves_its_kernel_stuck_fails_alone(tmp_path):
    """A cell past its timeout that ignores the interrupt: the next notebook gets a new kernel."""
    (tmp_path / "notebooks").mkdir()
    pid = _notebook(tmp_path, "pid", "import os\nopen(out, 'w').write(str(os.getpid()))")
    stuck = _notebook(tmp_path, "stuck", "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                         "time.sleep(120)")
    with KernelSession(reset_timeout=3) as session:
        first = execute(pid, tmp_path / "notebooks" / "a.ipynb", None, {"out": str(tmp_path / "a")}, session=session)
        timed_out = execute(stuck, tmp_path / "notebooks" / "s.ipynb", None, {}, session=session, timeout=3)
        after = execute(pid, tmp_path / "notebooks" / "b.ipynb", None, {"out": str(tmp_path / "b")}, session=session)
        assert session.restarts == 1
    assert [first["status"], timed_out["status"], after["status"]] == ["ok", "failed", "ok"]
    assert "Timeout" in timed_out["error"] or "timed out" in timed_out["error"].lower(), timed_out["error"]
    assert (tmp_path / "a").read_text() != (tmp_path / "b").read_text(), "a new kernel after the stuck one"


def _probe_book(folder: Path) -> Path:
    return _notebook(folder, "probe", "import os, sys\nprint(os.getcwd())\n"
                     "print(sorted(n for n in dir() if not n.startswith('_')))\n"
                     "print('riskmodel.reports' in sys.modules)", parameters='lang: str = "zh"')


def _printed(path: Path) -> list[str]:
    node = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for o in node.cells[-1].outputs).split("\n")


def test_a_kernel_started_ahead_runs_the_first_notebook_in_its_folder_with_a_clean_namespace(tmp_path):
    book = _probe_book(tmp_path)
    (tmp_path / "out").mkdir()
    printed = {}
    for ahead in (False, True):
        with KernelSession(folder=str(tmp_path)) as session:
            if ahead:
                session.start()  # what a pool worker does before its first job: boots and imports meanwhile
            outcome = execute(book, tmp_path / "out" / f"{ahead}.ipynb", None, {"lang": "en"}, session=session)
        assert outcome["status"] == "ok", outcome["error"]
        printed[ahead] = _printed(tmp_path / "out" / f"{ahead}.ipynb")[:3]
    cwd, names, imported = printed[True]
    assert Path(cwd) == (tmp_path / "out").resolve(), "the notebook runs in its own folder"
    assert names == printed[False][1], "the namespace is that of a kernel papermill started: nothing of the warm-up"
    assert imported == "True" and printed[False][2] == "False", "the report modules were imported ahead"


def test_a_worker_whose_kernel_cannot_start_ahead_still_runs_its_notebooks(tmp_path, monkeypatch):
    from riskmodel.reports import pool

    def broken(self):
        raise OSError("no kernel now")

    monkeypatch.setattr(KernelSession, "start", broken)  # an initializer that raised would break the pool
    pool._init_worker(True, str(tmp_path), 0)
    try:
        book = _probe_book(tmp_path)
        (tmp_path / "out").mkdir()
        key, outcome = pool._run_job({"key": "p", "template": str(book), "parameters": {"lang": "en"},
                                      "ipynb": str(tmp_path / "out" / "p.ipynb"), "html": None, "title": "p",
                                      "timeout": 120})
        assert outcome["status"] == "ok", outcome["error"]
    finally:
        pool._SESSION.close()
        pool._SESSION = None


def test_a_worker_that_dies_stops_the_run_instead_of_waiting_for_ever(tmp_path):
    """A pool worker killed during a job (the OOM killer; here it exits at once): the run stops with
    WorkerLostError (exit 75) at once; a multiprocessing.Pool would start a new worker and wait for the
    lost job for ever."""
    import time

    from riskmodel.errors import WorkerLostError
    from riskmodel.reports.pool import ReportPool

    started = time.monotonic()
    with pytest.raises(WorkerLostError, match="ended abruptly"), \
            ReportPool(workers=1, reuse_kernels=False) as pool:
        pool.run([{"key": "list:x", "call": ("os", "_exit"), "args": (9,)}], on_done=lambda key, outcome: None)
    assert time.monotonic() - started < 60
    assert WorkerLostError.exit_code == 75


def test_a_script_without_a_main_guard_fails_with_one_line_instead_of_hanging(tmp_path):
    """Spawned workers import the script that started them again; without ``if __name__ == "__main__":``
    each would start a pool of its own. The workers cannot start, and the run says so."""
    import subprocess

    script = tmp_path / "unguarded.py"
    script.write_text("from riskmodel.reports.pool import ReportPool\n"
                      "with ReportPool(workers=1, reuse_kernels=False) as pool:\n"
                      "    pool.run([{'key': 'list:x', 'call': ('os', 'getpid')}], on_done=lambda k, o: None)\n",
                      encoding="utf-8")
    env = {"PYTHONPATH": str(Path(__file__).parents[1]), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode != 0
    assert "WorkerLostError" in done.stderr and "__main__" in done.stderr


# ------------------------------------------------------------------------ no kernel outlives its run
# Each script starts a real ReportPool whose worker boots a real kernel (connection file in the pool's
# private folder), prints the folder, then ends the way the test says; the test then looks in /proc for
# any process whose command line still names that folder.
_POOL_SCRIPT = """
import ctypes, json, os, signal, sys, time
from riskmodel.errors import WorkerLostError
from riskmodel.reports.pool import ReportPool

if __name__ == "__main__":
    if sys.argv[1] == "parent-killed":  # the parent dies (kill -9, the OOM killer) while its pool runs
        pool = ReportPool(workers=1, reuse_kernels=True)
        worker = pool._warm[0].result(timeout=120)  # the worker is up and its kernel launched
        print(json.dumps({"folder": pool._folder, "worker": worker}), flush=True)
        time.sleep(600)  # until the test kills this process
    else:  # "worker-killed": a worker killed while its kernel boots, orphans re-parented to a subreaper
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER (systemd --user, an init)
        try:
            with ReportPool(workers=1, reuse_kernels=True) as pool:
                print(json.dumps({"folder": pool._folder}), flush=True)
                os.kill(pool._warm[0].result(timeout=120), signal.SIGKILL)  # before ipykernel watches its parent
                pool.run([{"key": "list:x", "call": ("os", "getpid")}], on_done=lambda key, outcome: None)
        except WorkerLostError:
            pass
        print("pool left", flush=True)
        sys.stdin.read()  # the test looks for the kernel now, while this process (its reaper) lives
"""


def _naming(folder: str) -> list[int]:
    """Live processes whose command line names a file in ``folder`` (a zombie's command line is empty)."""
    prefix = os.fsencode(os.path.join(folder, ""))
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and any(a.startswith(prefix) for a in (entry / "cmdline").read_bytes().split(b"\0")):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _pool_script(tmp_path: Path, how: str) -> tuple[subprocess.Popen, dict]:
    script = tmp_path / "pool_script.py"
    script.write_text(_POOL_SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), how], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"the pool did not start: {proc.communicate(timeout=30)[1][-2000:]}")
    return proc, json.loads(line)


def _kill_left(folder: str, *pids: int) -> None:
    for pid in [*_naming(folder), *pids]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_parent_leaves_no_worker_and_no_kernel(tmp_path):
    """``kill -9`` (or the OOM killer) on the run itself: nothing of it can clean up, and its worker,
    waiting on the executor's queue, used to wait for ever with its kernel (seen after a test that
    kills a run on purpose, an ipykernel_launcher still running 1 h 48 min later). Each worker
    watches its parent: when it is gone it kills its kernel and exits."""
    proc, seen = _pool_script(tmp_path, "parent-killed")
    folder, worker = seen["folder"], seen["worker"]
    try:
        assert _naming(folder), "the worker's kernel runs (else the test proves nothing)"
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while (_naming(folder) or _alive(worker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _naming(folder), "a kernel outlived the killed run"
        assert not _alive(worker), "a worker outlived the killed run"
        assert not Path(folder).exists(), "the kernels' folder is removed"
    finally:
        _kill_left(folder, worker)
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; prctl")
def test_a_worker_killed_while_its_kernel_boots_leaves_no_kernel(tmp_path):
    """A worker killed (the OOM killer) before its kernel watches it: ipykernel then only exits when
    re-parented to process 1, and an orphan goes to the nearest subreaper where there is one
    (``systemd --user``, a container's init). The run stops (WorkerLostError) and the pool kills every
    kernel of its folder before it returns."""
    proc, seen = _pool_script(tmp_path, "worker-killed")
    folder = seen["folder"]
    try:
        assert proc.stdout.readline().strip() == "pool left", proc.communicate(timeout=60)[1][-2000:]
        assert not _naming(folder), "a kernel outlived its pool"
    finally:
        _kill_left(folder)
        proc.kill()
        proc.wait(timeout=30)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_dask_worker_sweeps_the_kernels_of_a_killed_worker():
    """A Dask worker's kernels live in ``riskmodel-dask-<its pid>``; a worker starting (the nanny's restart
    of a killed one) stops the kernels of folders whose process is gone, and leaves a live worker's."""
    import tempfile

    from riskmodel.reports.cluster import sweep_orphan_kernels

    tmp_path = Path(tempfile.mkdtemp(prefix="rk-", dir="/tmp"))  # short: a kernel's socket path has a limit
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)  # a worker process that was killed: its pid names a folder, no process
    sessions = {}
    try:
        for owner in (gone.pid, os.getpid()):
            folder = tmp_path / f"riskmodel-dask-{owner}"
            folder.mkdir(mode=0o700)
            sessions[owner] = KernelSession(folder=str(folder))
            sessions[owner].start()
        orphan, live = (str(tmp_path / f"riskmodel-dask-{owner}") for owner in (gone.pid, os.getpid()))
        assert _naming(orphan) and _naming(live)
        killed = sweep_orphan_kernels(str(tmp_path))
        assert killed and not _naming(orphan) and not os.path.exists(orphan)
        assert _naming(live) and os.path.isdir(live)  # a live worker's kernel is its own business
        assert sweep_orphan_kernels(str(tmp_path)) == []
    finally:
        for owner, session in sessions.items():
            with contextlib.suppress(Exception):
                session.close()
            _kill_left(str(tmp_path / f"riskmodel-dask-{owner}"))
        shutil.rmtree(tmp_path, ignore_errors=True)
