"""Issue 17 (scale-dask): the scheduled run on a real two-worker Dask cluster, against the single-machine run.

A small district (three schools of about 100 students from ``riskmodel.synth.generate_schools``, one
college each so that the reports stay few) is run twice with the same run id: by
``runner.score`` + ``runner.publish`` on this machine, and by :func:`run_distributed` on a real
two-worker ``LocalCluster`` reached at its address, with a fourth school whose register cannot be
scored (nobody enrolled on the as-of date) and with one worker killed while it runs a school's task.
The lists, the whole list, the scores file, the index and every report must be the single-machine
run's byte for byte; the fourth school fails alone (exit 1, named in the manifest, nothing of it
written); the lost worker's task runs again. A second test interrupts ``riskmodel run --cluster
local:2`` with SIGTERM: exit 130 and nothing left in the reports folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import Settings

pytest.importorskip("distributed")

AS_OF = date(2023, 12, 1)
RUN_ID = "run-2023-12-01-20231201T020000Z"
BROKEN = "青溪大学00004"


def _fit(dataset, path: Path):
    """A real (logistic) model fitted on the district's own features, labels at random."""
    from riskmodel.features import build_features
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel

    features = build_features(dataset, [AS_OF], settings=Settings())
    spec = FeatureSpec.from_frame(features)
    y = (np.random.default_rng(0).random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  path)


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> dict[str, Path]:
    """Stores of the three-school district and of the same plus a school nobody is enrolled in yet, and a model."""
    from riskmodel.data.dataset import Dataset
    from riskmodel.data.store import write_store
    from riskmodel.features.export import open_data
    from riskmodel.synth import generate_schools, write_schools

    folder = tmp_path_factory.mktemp("district")
    write_schools(generate_schools(schools=3, students=100, years=2, seed=3), folder / "data")
    dataset = open_data(folder / "data", settings=Settings())
    students = dataset.tables["students"].assign(college="文学院")  # one college a school: few reports
    tables = {**dataset.tables, "students": students}
    write_store(Dataset(tables=tables, checksum=dataset.checksum, files=dataset.files), folder / "three.duckdb")
    late = students.loc[students["school"] == students["school"].iloc[0]].copy()
    late["student_id"] = "9" + late["student_id"].astype(str)
    late["pseudonym"] = "Z" + late["pseudonym"].astype(str)
    late["school"] = BROKEN
    late["enrollment_date"] = pd.Timestamp(AS_OF + timedelta(days=30))  # registered, not yet enrolled
    four = {**tables, "students": pd.concat([students, late], ignore_index=True)}
    write_store(Dataset(tables=four, checksum=dataset.checksum, files=dataset.files), folder / "four.duckdb")
    _fit(open_data(folder / "three.duckdb", settings=Settings()), folder / "model")
    return {"folder": folder, "three": folder / "three.duckdb", "four": folder / "four.duckdb",
            "model": folder / "model"}


def _digests(run_dir: Path, *parts: str) -> dict[str, str]:
    return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for part in parts for p in sorted((run_dir / part).rglob("*") if (run_dir / part).is_dir()
                                              else [run_dir / part]) if p.is_file()}


def _kill_a_busy_worker(client, out: Path, done: threading.Event, killed: dict) -> None:
    """When a school task has started, SIGKILL the worker process running one (the nanny starts a new one)."""
    deadline = time.monotonic() + 240
    while not done.is_set() and time.monotonic() < deadline:
        busy = {w: keys for w, keys in client.processing().items()
                if any(str(k).startswith("school-") for k in keys)}
        if busy and any(out.glob(".run-*.partial/.tasks/*")):
            worker, keys = sorted(busy.items())[0]
            pid = client.run(os.getpid, workers=[worker])[worker]
            killed.update(worker=worker, pid=pid, keys=[str(k) for k in keys])
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.2)


@pytest.fixture(scope="module")
def runs(district, tmp_path_factory):
    from distributed import Client, LocalCluster

    from riskmodel.reports import runner
    from riskmodel.reports.distributed import run_distributed

    settings = Settings()
    single_out = tmp_path_factory.mktemp("single")
    scored = runner.score(district["three"], district["model"], AS_OF, settings=settings, out=single_out, run_id=RUN_ID,
                          lang="zh")
    single = runner.publish(scored, single_out, settings=settings, jobs=2, run_id=RUN_ID)

    dist_out = tmp_path_factory.mktemp("distributed")
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    client = Client(cluster, set_as_default=False)
    try:
        pids_before = client.run(os.getpid)
        done, killed = threading.Event(), {}
        killer = threading.Thread(target=_kill_a_busy_worker, args=(client, dist_out, done, killed), daemon=True)
        killer.start()
        try:
            distributed = run_distributed(district["four"], district["model"], AS_OF, dist_out, settings=settings,
                                          cluster=cluster.scheduler_address, run_id=RUN_ID)
        finally:
            done.set()
            killer.join()
        client.wait_for_workers(2, timeout=60)
        pids_after = client.run(os.getpid)
    finally:
        client.close()
        cluster.close()
    return {"single": single, "distributed": distributed, "dist_out": dist_out, "killed": killed,
            "pids": (pids_before, pids_after)}


def test_lists_and_reports_are_the_single_machine_runs_byte_for_byte(runs):
    single, distributed = runs["single"].run_dir, runs["distributed"].run_dir
    wanted = _digests(single, "lists", "warning_list.parquet", "scores.parquet", "reports")
    made = _digests(distributed, "lists", "warning_list.parquet", "scores.parquet", "reports")
    assert len(wanted) > 20
    different = sorted(k for k in wanted if made.get(k) != wanted[k])
    assert not different, f"differ from the single-machine run: {different}"
    assert set(made) == set(wanted), "nothing more and nothing less (the failed school wrote nothing)"
    # every school's cohort reports read the school's own report data
    for name in ("school", "college"):
        assert any(k.startswith(f"reports/{name}-") for k in made)
    assert all((distributed / "schools").iterdir())
    book = json.loads((distributed / "notebooks" / next(
        p.name for p in (distributed / "notebooks").iterdir() if p.name.startswith("school-"))).read_text())
    assert book["metadata"]["papermill"]["parameters"]["run_dir"].startswith("../schools/")


def test_one_schools_failure_fails_that_school_alone(runs):
    result = runs["distributed"]
    manifest = result.manifest
    assert result.exit_code == 1
    assert [f["school"] for f in manifest["failed_schools"]] == [BROKEN]
    assert manifest["failed_schools"][0]["error"].startswith("ContractError")
    assert manifest["outcome"] == "failed_schools"
    assert manifest["schools"][-1] == BROKEN and len(manifest["schools"]) == 4
    assert [k for k in result.failed if "00004" in k] == [k for k in result.failed]  # no other report failed
    assert not any("00004" in p.name for p in (result.run_dir / "lists").iterdir())
    assert not any("00004" in p.name for p in (result.run_dir / "schools").iterdir())
    assert manifest["students_scored"] == runs["single"].manifest["students_scored"]
    page = (result.run_dir / "index.html").read_text(encoding="utf-8")
    assert BROKEN in page and 'class="failed"' in page


def test_a_lost_workers_task_runs_again(runs):
    killed = runs["killed"]
    assert killed, "no worker was killed: the school tasks ended before the test could interrupt one"
    before, after = runs["pids"]
    assert killed["pid"] in before.values() and killed["pid"] not in after.values(), "the nanny started a new worker"
    manifest = runs["distributed"].manifest
    ok = [s for s in manifest["schools"] if s != BROKEN]
    assert [f["school"] for f in manifest["failed_schools"]] == [BROKEN], "the killed worker's school was run again"
    assert len(ok) == 3


def test_the_run_folder_is_complete_and_owner_only(runs):
    run_dir, out = runs["distributed"].run_dir, runs["dist_out"]
    assert not list(out.glob(".run-*")), "no partial folder, no lock left"
    assert not (run_dir / ".tasks").exists()
    for path in run_dir.rglob("*"):
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path.relative_to(run_dir)}: {oct(mode)}"
    assert (out / "latest").resolve() == run_dir.resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cluster"]["workers"] == 2 and manifest["cluster"]["kind"] == "scheduler"
    assert (run_dir / "reports" / "data_quality.html").exists()


def test_sigterm_during_a_distributed_run_leaves_nothing(district, tmp_path):
    out = tmp_path / "reports"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    # a data folder (loaded here, each school's tables sent with its task), not a store (read by the workers)
    proc = subprocess.Popen([sys.executable, "-m", "riskmodel", "run", "--data", str(district["folder"] / "data"),
                             "--model", str(district["model"]), "--as-of", AS_OF.isoformat(), "--out", str(out),
                             "--cluster", "local:2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # wait until a school task is writing into the partial folder
        if any(out.glob(".run-*.partial/.tasks/*")):
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the run never reached the school tasks")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 130
    time.sleep(1.0)  # a local cluster's workers are gone with it: nothing may appear afterwards
    assert not out.exists() or not sorted(p.name for p in out.iterdir()), "nothing left behind"


def test_score_on_a_cluster_is_the_single_process_list(district, tmp_path):
    """``riskmodel score --cluster local:2``: the store's batches of schools (one school a batch here) scored
    on two worker processes give the list, the scores file and the change against a previous list that
    the single process gives, byte for byte."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    config = tmp_path / "settings.yaml"
    config.write_text("data:\n  batch_students: 150\n", encoding="utf-8")  # each school ~100: three batches

    def score(out: str, *extra: str) -> Path:
        done = subprocess.run([sys.executable, "-m", "riskmodel", "score", "--data", str(district["three"]),
                               "--model", str(district["model"]), "--as-of", AS_OF.isoformat(), "--out",
                               str(tmp_path / out), "--config", str(config), *extra],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return tmp_path / out

    first = score("first")
    previous = ("--previous", str(first / "warning_list.parquet"))
    alone, on_cluster = score("alone", *previous), score("cluster", *previous, "--cluster", "local:2")
    names = ["warning_list.csv", "warning_list.parquet", "scores.parquet"]
    assert _digests(alone, *names) == _digests(on_cluster, *names)
    assert pd.read_parquet(on_cluster / "scores.parquet")["school"].nunique() == 3  # every batch came back


def test_a_local_cluster_leaves_port_8787_alone():
    """Two runs at once (or a centre's own dashboard on 8787) must not make the run warn "Port 8787 is already
    in use": the local cluster's scheduler serves its HTTP routes on a free loopback port."""
    import socket
    import warnings

    from riskmodel.config import ClusterSettings
    from riskmodel.reports.cluster import open_cluster

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:  # someone holds it already: the same situation
        pass
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_cluster("local:1", settings=ClusterSettings()) as client:
                port = client.scheduler_info().get("services", {}).get("dashboard")
        assert not [w for w in caught if "already in use" in str(w.message)]
        assert port not in (None, 8787)
    finally:
        holder.close()
