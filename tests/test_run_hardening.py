"""Issue 12, run side: no input destroyed, one clear line instead of a traceback, clean recovery.

Each test is one defect of the issue's sweep, reproduced with real files and the real command line
(typer's CliRunner in-process where that is faithful; a real subprocess where the defect lives in
the process itself: signals, locks, kill -9, the console's encoding, a full disk). Each asserts the
exit status, the one line, and that nothing good was lost or overwritten.

The cohort is a synthetic university of 60 students with every student put in one college, so a
complete run makes three notebooks (data quality, school, college), and a logistic model fitted on
its own features (the machinery, not skill).
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.errors import OutputExistsError
from riskmodel.outputs import atomic_dir, atomic_path
from riskmodel.reports.runlog import hold_run_lock, lock_path

AS_OF = date(2023, 12, 1)
A = AS_OF.isoformat()
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """``data/`` (60 students, one college) and ``model/`` (logistic, fitted on the data's features)."""
    import numpy as np

    from riskmodel.config import Settings
    from riskmodel.features import build_features
    from riskmodel.features.export import open_data
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel
    from riskmodel.synth import generate, write

    folder = tmp_path_factory.mktemp("cohort")
    cohort = generate(students=60, years=2, seed=3)
    students = cohort.tables["students"]
    cohort.tables["students"] = students.assign(college=students["college"].iloc[0])
    write(cohort, folder / "data")
    settings = Settings()
    features = build_features(open_data(folder / "data", settings=settings), [AS_OF], settings=settings)
    spec = FeatureSpec.from_frame(features)
    y = (np.random.default_rng(0).random(len(features)) < 0.15).astype(int)
    y[:3] = 1
    estimator = LogisticRisk().fit(spec.frame(features), y)
    calibrator = ProbabilityCalibrator("sigmoid").fit(estimator.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=estimator, calibrator=calibrator,
                            meta={"horizon_days": 90}), folder / "model")
    return folder


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) by its SHA-256: what must not change."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def invoke(*args) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def cli(*args, env: dict | None = None, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """The real ``riskmodel`` command in a new process (this worktree first on the path)."""
    return subprocess.run([sys.executable, "-m", "riskmodel", *map(str, args)], capture_output=True, text=True,
                          env=env or dict(os.environ), timeout=timeout, check=False, **kwargs)


def one_error_line(text: str) -> str:
    """The single ``error:`` line of ``text``; fails on a traceback or a second error line."""
    assert "Traceback" not in text and "Logging error" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    return lines[0]


def student_ids(cohort: Path) -> list[str]:
    return pd.read_csv(cohort / "data" / "students.csv", dtype=str, encoding="gb18030")["student_id"].tolist()


def mount_tmpfs(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if not IS_ROOT or not shutil.which("mount"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, check=False)
    return done.returncode == 0


def umount(where: Path) -> None:
    subprocess.run(["umount", str(where)], capture_output=True, check=False)


# --------------------------------------------------------------------------------------------- 1. no input destroyed
def _hostile_outputs(c: Path, t: Path) -> dict[str, tuple[list, str]]:
    """Case -> (arguments, what the line must say). ``c``: the cohort, ``t``: a scratch folder."""
    d, m = c / "data", c / "model"
    return {
        "validate --rejected students.csv": (["validate", d, "--rejected", d / "students.csv"], "inside the data folder"),
        "validate --store counselling.csv": (["validate", d, "--rejected", t / "rejected.csv", "--store",
                                              d / "counselling.csv"], "inside the data folder"),
        "features --out outcomes.csv": (["features", "--data", d, "--as-of", A, "--out", d / "outcomes.csv"],
                                        "inside the data folder"),
        "features --out through a link and ..": (["features", "--data", d, "--as-of", A, "--out",
                                                  t / "link-to-data" / ".." / "data" / "f.csv"], "inside the data folder"),
        "features --out in another case": (["features", "--data", d, "--as-of", A, "--out", c / "DATA" / "f.csv"],
                                           "inside the data folder"),
        "score --out into the model": (["score", "--data", d, "--model", m, "--as-of", A, "--out", m / "lists"],
                                       "inside the model folder"),
        "score --out a link into the data": (["score", "--data", d, "--model", m, "--as-of", A, "--out",
                                              t / "link-to-data" / "lists"], "inside the data folder"),
        "train --out into the data": (["train", "--data", d, "--until", A, "--out", d / "model"], "inside the data folder"),
        "audit --out into the model": (["audit", "--data", d, "--model", m, "--from", A, "--to", A, "--out",
                                        m / "audit"], "inside the model folder"),
        "run --out into the data": (["run", "--data", d, "--model", m, "--as-of", A, "--out", d / "reports"],
                                    "inside the data folder"),
        "score-screenings --out the input": (["score-screenings", t / "screenings.csv", "--out", t / "screenings.csv"],
                                             "is the input file"),
        "score-screenings rejected rows onto the input": (["score-screenings", t / "s_rejected.csv", "--out",
                                                           t / "s.csv"], "is the input file"),
    }


CASES = list(_hostile_outputs(Path("c"), Path("t")))


@pytest.mark.parametrize("case", CASES)
def test_no_output_may_land_in_an_input(case, cohort, tmp_path):
    (tmp_path / "link-to-data").symlink_to(cohort / "data")
    screenings = pd.DataFrame({"student_id": ["1"], "date": ["2023-10-01"], "instrument": ["PHQ9"]})
    for name in ("screenings.csv", "s_rejected.csv"):
        screenings.to_csv(tmp_path / name, index=False)
    args, says = _hostile_outputs(cohort, tmp_path)[case]
    before, scratch = digest(cohort), listing(tmp_path)
    status, output = invoke(*args)
    assert status == 3, output
    line = one_error_line(output)
    option = "--store" if "--store" in args else "--rejected" if "--rejected" in args else "--out"
    assert line.startswith(f"error: {option}") and says in line and "Choose" in line, line
    assert digest(cohort) == before, "an input changed"
    assert listing(tmp_path) == scratch, "something was written before the refusal"


@pytest.mark.skipif(not IS_ROOT, reason="a bind mount needs root")
def test_a_bind_mount_of_the_data_folder_is_the_data_folder(cohort, tmp_path):
    """Another name for the same folder (bind mount; a case-insensitive disk is the same problem) is refused."""
    alias = tmp_path / "alias"
    alias.mkdir()
    if subprocess.run(["mount", "--bind", str(cohort / "data"), str(alias)], capture_output=True, check=False).returncode:
        pytest.skip("bind mounts are not allowed here")
    try:
        before = digest(cohort / "data")
        status, output = invoke("validate", cohort / "data", "--rejected", alias / "students.csv")
        assert status == 3 and "inside the data folder" in one_error_line(output), output
        assert digest(cohort / "data") == before
    finally:
        umount(alias)


def test_a_link_to_nowhere_is_refused_before_any_work(cohort, tmp_path):
    link = tmp_path / "lists"
    link.symlink_to(tmp_path / "gone" / "lists")
    status, output = invoke("score", "--data", cohort / "data", "--model", cohort / "model", "--as-of", A, "--out", link)
    assert status == 3, output
    assert "is a link to" in one_error_line(output) and "does not exist" in output
    assert listing(tmp_path) == ["lists"] and link.is_symlink()


def test_an_unwritable_output_folder_is_one_line(cohort, tmp_path):
    locked = tmp_path / "readonly"
    if mount_tmpfs(locked, "ro,size=64k"):  # root writes anywhere a mode allows; a read-only mount stops it too
        def cleanup() -> None:
            umount(locked)
    else:
        locked.mkdir(exist_ok=True)
        locked.chmod(0o500)
        def cleanup() -> None:
            locked.chmod(0o700)
        if os.access(locked, os.W_OK):
            cleanup()
            pytest.skip("this account can write to a 0500 folder and cannot mount")
    try:
        status, output = invoke("score", "--data", cohort / "data", "--model", cohort / "model", "--as-of", A,
                                "--out", locked / "lists")
        assert status == 3, output
        line = one_error_line(output)
        assert str(locked) in line and "cannot write" in line, line
        assert list(locked.iterdir()) == []
    finally:
        cleanup()


def test_an_output_made_meanwhile_is_never_overwritten(tmp_path):
    """Two processes finishing the same --out: the second gets a line (exit 3), not `Directory not empty`."""
    target = tmp_path / "lists"
    with pytest.raises(OutputExistsError, match="appeared while"), atomic_dir(target) as work:
        (work / "mine.csv").write_text("second")
        target.mkdir()
        (target / "theirs.csv").write_text("first")
    assert listing(tmp_path) == ["lists", "lists/theirs.csv"]


# --------------------------------------------------------------------------------------------- 2 and 3. lock, kill -9
@pytest.mark.slow
def test_second_run_stops_with_a_line_and_the_next_removes_a_killed_runs_folder(cohort, tmp_path):
    """Run A holds the date's lock: run B of the same date exits 75 at once and writes nothing. A is
    killed with kill -9 mid-publish: its partial folder (with real IDs) stays and its lock dies with it.
    Run C then succeeds, removes that folder and says so without a student ID."""
    reports = tmp_path / "reports"
    args = ["run", "--data", cohort / "data", "--model", cohort / "model", "--as-of", A, "--out", reports, "--jobs", "1"]
    with open(tmp_path / "a.log", "w") as log_a:
        first = subprocess.Popen([sys.executable, "-m", "riskmodel", *map(str, args)], stdout=log_a, stderr=log_a)
    try:
        lock = lock_path(reports, AS_OF)
        _wait(lambda: lock.exists() and lock.stat().st_size > 0, first, "run A to take its lock")
        second = cli(*args)
        assert second.returncode == 75, second.stderr
        line = one_error_line(second.stderr)
        assert f"process {first.pid}" in line and A in line and str(reports) in line, line
        _wait(lambda: any(reports.glob(f".run-{A}-*.partial/report_data/*")), first, "run A to write its partial folder")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    partial = list(reports.glob(".run-*.partial"))
    assert len(partial) == 1 and lock.exists(), "kill -9: nothing could clean up"
    with hold_run_lock(reports, AS_OF):  # the lock did not survive its process
        pass
    third = cli(*args)
    assert third.returncode == 0, third.stderr
    assert "removed 1 stale partial run folder(s)" in third.stderr and partial[0].name in third.stderr
    assert not any(student in third.stderr for student in student_ids(cohort))
    assert not list(reports.glob(".run-*")), "no partial folder and no lock file are left"
    runs = list(reports.glob("run-*"))
    assert len(runs) == 1 and (runs[0] / "manifest.json").is_file() and (reports / "latest").resolve() == runs[0]


def _wait(condition, process: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------- 4. one line each
def test_sigterm_while_loading_exits_130_like_ctrl_c(cohort, tmp_path):
    """The run is blocked reading its model (a FIFO nobody writes): SIGTERM then gives 130 and one line."""
    model = tmp_path / "model"
    model.mkdir()
    os.mkfifo(model / "model.json")
    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-m", "riskmodel", "run", "--data", str(cohort / "data"), "--model",
                             str(model), "--as-of", A, "--out", str(reports)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    writer = None
    try:
        deadline = time.monotonic() + 60
        while writer is None:  # opening the FIFO for writing succeeds once the run has opened it to read
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            try:
                writer = os.open(model / "model.json", os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO
                time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if writer is not None:
            os.close(writer)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err and err.strip().splitlines() == [
        "interrupted: no output was left half-written; run the command again"], err
    assert not reports.exists(), "the lock and the folder made for it are gone"


@pytest.mark.parametrize("name", ["model.json", "estimator.json", "booster.txt"])
def test_model_file_with_a_0xff_byte(name, cohort, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(cohort / "model", model)
    path = model / name
    data = path.read_bytes() if path.exists() else b"tree\nversion=v4\nnum_class=1\n"
    path.write_bytes(data[:20] + b"\xff" + data[20:])
    before = digest(model)
    status, output = invoke("score", "--data", cohort / "data", "--model", model, "--as-of", A,
                            "--out", tmp_path / "lists")
    assert status == 2, output
    line = one_error_line(output)
    assert name in line and "not UTF-8 text (byte 0xFF at offset 20)" in line and "backup" in line, line
    assert digest(model) == before and not (tmp_path / "lists").exists()


@pytest.mark.parametrize("content", ["假名密钥".encode("gbk") + b"\n", b"\xff\xfe" + "0a".encode("utf-16-le") * 32])
def test_key_file_that_is_not_ascii(content, cohort, tmp_path, monkeypatch):
    monkeypatch.delenv("RISKMODEL_PSEUDONYM_KEY", raising=False)
    key = tmp_path / "keys" / "pseudonym.key"
    key.parent.mkdir()
    key.write_bytes(content)
    key.chmod(0o600)
    config = tmp_path / "settings.yaml"
    config.write_text(f"data: {{pseudonym_key_file: {key}}}\nreports: {{lang: en}}\n", encoding="utf-8")
    status, output = invoke("validate", cohort / "data", "--rejected", tmp_path / "rejected.csv", "--config", config)
    assert status == 2, output
    line = one_error_line(output)
    assert str(key) in line and "neither hex nor base64" in line, line
    assert key.read_bytes() == content, "the key file is never replaced: a new key changes every pseudonym"
    assert not (tmp_path / "rejected.csv").exists()


@pytest.mark.parametrize("env", [{"LC_ALL": "C", "PYTHONUTF8": "0"}, {"PYTHONIOENCODING": "ascii"}],
                         ids=["C-locale", "ascii-io"])
def test_a_console_without_utf8_does_not_crash(env, cohort, tmp_path):
    """Chinese on a console that cannot show it: escapes, exit 0 (and the error line of a failure too).

    With ``LC_ALL=C`` alone Python 3.7+ switches to its UTF-8 mode (PEP 540) and the console takes
    Chinese; ``PYTHONUTF8=0`` gives the ASCII console of an older or differently built Python."""
    environ = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_CTYPE", "PYTHONIOENCODING")}
    done = cli("validate", cohort / "data", "--rejected", tmp_path / "rejected.csv", env={**environ, **env})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "数据可用" in done.stdout or "\\u6570\\u636e\\u53ef\\u7528" in done.stdout  # "data usable"
    failed = cli("validate", tmp_path / "不存在", env={**environ, **env})
    assert failed.returncode == 2, failed.stderr
    one_error_line(failed.stderr)


def _limit_file_size() -> None:  # in the child: writes past 8 KB fail with EFBIG instead of killing it
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024, 8 * 1024))


def test_a_write_the_disk_refuses_is_one_line_and_leaves_nothing(cohort, tmp_path):
    """The file-size limit (no root needed) fails the write in the kernel, as a full disk does."""
    out = tmp_path / "out"
    out.mkdir()
    done = cli("features", "--data", cohort / "data", "--as-of", A, "--out", out / "features.csv",
               preexec_fn=_limit_file_size)
    assert done.returncode == 3, done.stderr
    line = one_error_line(done.stderr)
    assert str(out / "features.csv") in line and "cannot write" in line, line
    assert list(out.iterdir()) == [], "neither the file nor its temporary is left"


@pytest.mark.skipif(not IS_ROOT, reason="mounting a small tmpfs needs root")
def test_a_disk_that_fills_mid_run(cohort, tmp_path):
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "size=96k"):
        pytest.skip("cannot mount a tmpfs here")
    try:
        config = tmp_path / "settings.yaml"
        config.write_text("reports: {min_free_disk_mb: 0}\n", encoding="utf-8")
        before = digest(cohort)
        done = cli("run", "--data", cohort / "data", "--model", cohort / "model", "--as-of", A, "--out",
                   disk / "reports", "--config", config)
        assert done.returncode == 3, done.stderr
        line = one_error_line(done.stderr)
        assert "No space left on device" in line and str(disk / "reports") in line, line
        assert listing(disk) == [], "no partial run folder, no lock file, no temporary is left"
        assert digest(cohort) == before
    finally:
        umount(disk)


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    """A temporary file of a process that died holds no lock: the next write of that target removes it."""
    script = ("import os, sys\nfrom riskmodel.outputs import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_text('S00001,half')\n    print('writing', flush=True)\n"
              "    os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "list.csv")], capture_output=True, check=False)
    assert [p.name.endswith(".tmp") for p in tmp_path.iterdir()] == [True]
    with atomic_path(tmp_path / "list.csv") as tmp:
        tmp.write_text("whole")
    assert listing(tmp_path) == ["list.csv"] and (tmp_path / "list.csv").read_text() == "whole"


def test_every_verb_that_writes_guards_its_outputs():
    """A verb added later with an output option must pass it through the guard (riskmodel.outputs.guard_outputs)."""
    import inspect

    import typer.main

    writes = {"out", "rejected", "store"}
    group = typer.main.get_command(app)
    writing = {name: cmd for name, cmd in group.commands.items() if writes & {p.name for p in cmd.params}}
    assert {"validate", "features", "train", "score", "score-screenings", "synth", "audit", "run", "demo"} <= set(writing)
    unguarded = [name for name, cmd in writing.items() if "_guard(" not in inspect.getsource(inspect.unwrap(cmd.callback))]
    assert not unguarded, f"verbs writing without riskmodel.cli._guard: {unguarded}"


def test_a_live_runs_partial_folder_is_left_alone(tmp_path):
    """Only partial folders whose date lock nobody holds are stale: a run of another date building
    its folder right now keeps it; once that process is killed, the folder goes."""
    from riskmodel.reports.runlog import remove_stale_partials

    script = ("import sys, time\nfrom riskmodel.outputs import atomic_dir\nfrom riskmodel.reports.runlog import hold_run_lock\n"
              "with hold_run_lock(sys.argv[1], '2023-11-01'), atomic_dir(sys.argv[1] + '/run-2023-11-01-T') as work:\n"
              "    (work / 'list.csv').write_text('S00001')\n    print(work.name, flush=True)\n    time.sleep(120)\n")
    reports = tmp_path / "reports"
    proc = subprocess.Popen([sys.executable, "-c", script, str(reports)], stdout=subprocess.PIPE, text=True)
    try:
        name = proc.stdout.readline().strip()
        assert name.endswith(".partial"), name
        with hold_run_lock(reports, AS_OF):
            assert remove_stale_partials(reports) == [] and (reports / name).is_dir()
        proc.kill()
        proc.wait(timeout=30)
        with hold_run_lock(reports, AS_OF):
            assert remove_stale_partials(reports) == [name]
        assert listing(reports) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def test_run_log_begins_with_what_was_said_before_the_run_folder(tmp_path, caplog):
    """Loading and scoring speak before the run's folder exists (rows ignored, level I above capacity):
    run.log, the auditor's record, begins with what they said; the console still shows the warnings."""
    import logging

    from riskmodel.reports.runlog import held_records, log_to

    early = logging.getLogger("riskmodel.warning.levels")
    with caplog.at_level(logging.WARNING), held_records() as said:
        early.info("scored 12 PHQ9 administrations")
        early.warning("level I holds 9 students, above its capacity of 8")
        early.debug("not kept")
    assert [r.getMessage() for r in said] == ["scored 12 PHQ9 administrations",
                                              "level I holds 9 students, above its capacity of 8"]
    assert [r.getMessage() for r in caplog.records] == ["level I holds 9 students, above its capacity of 8"]
    with log_to(tmp_path / "run.log", said):
        logging.getLogger("riskmodel.reports.runner").info("run r of 2026-03-01: 20 students scored")
    lines = (tmp_path / "run.log").read_text(encoding="utf-8").splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO riskmodel.warning.levels: scored 12 PHQ9 administrations",
        "WARNING riskmodel.warning.levels: level I holds 9 students, above its capacity of 8",
        "INFO riskmodel.reports.runner: run r of 2026-03-01: 20 students scored"]
    assert (tmp_path / "run.log").stat().st_mode & 0o077 == 0
