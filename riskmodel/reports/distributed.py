"""The scheduled run on a Dask cluster: one task per school, the index and manifest where the run starts.

:func:`run_distributed` is ``riskmodel run --cluster``. In order:

1. **Pre-flight, here** (the machine the run starts on), as :func:`riskmodel.reports.runner.run`: the
   output folder, the lock of the as-of date, stale partial folders; the model and the data load, the
   data is checked as a whole (usable, the register-loss guard, fit for the model), then split by school
   (:func:`riskmodel.warning.warning_list.split_by_school`). The cluster is opened
   (:mod:`riskmodel.reports.cluster`) and every worker's package versions checked against these.
2. **One task per school, on the workers** (:func:`school_task`): that school's features, scores,
   levels, reasons and list (:func:`riskmodel.warning.warning_list.score_school`, the one scoring
   sequence of ``riskmodel score`` and ``riskmodel run``), its report data, its cohorts' warning lists
   and its cohort reports (papermill in the worker's own kernel), written into the run folder being
   built (which must be on storage the workers share with this machine). A data-quality task runs
   beside them.
3. **Here again**: the whole warning list and scores file (the schools' in school order, so they are
   the single-machine run's byte for byte), ``index.html``, ``manifest.json``; the folder is renamed
   into place.

The run folder has the single-machine run's layout, except that each school's ``report_data`` is
its own, in ``schools/<school>/report_data`` (the cohort notebooks read it through their ``run_dir``
parameter), and ``report_data/`` at the top holds the data-quality tables only. The lists
(``warning_list.parquet``, ``scores.parquet``, ``lists/<cohort>/``) are byte-identical to the
single-machine run of the same run id (tests/test_distributed.py).

Failures: a school's task that fails (its data cannot be scored, a write fails) fails that school
alone: its partial outputs are removed, the manifest names it under ``failed_schools``, its school
report is marked failed, the others go on, and the exit status is 1. A worker lost in the middle of a
task (killed, out of memory, its machine gone) has its task run again on another worker, up to
``cluster.retries`` times (the task rewrites its own outputs from the start). Ctrl-C or SIGTERM where
the run started: the tasks are told to stop (a Dask event they check between steps), a local cluster
is stopped, and the partial folder is removed (exit 130); nothing is left.

Example
-------
>>> # result = run_distributed("data/", "models/2026-03", "2026-03-01", "reports/", settings=settings,
>>> #                          cluster="local:2")
>>> # result.run_dir / "index.html", result.exit_code
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError, ModelMismatchError
from riskmodel.models.registry import load_cached
from riskmodel.outputs import DIR_MODE, atomic_dir, guard_outputs, private_dir, write_text
from riskmodel.reports.cluster import ClusterSpec, check_versions, close_sessions, open_cluster, parse_cluster
from riskmodel.reports.explain import expected_log_odds
from riskmodel.reports.index import write_index
from riskmodel.reports.names import safe_component
from riskmodel.reports.notebooks import check_parameters, execute, template
from riskmodel.reports.report_data import LEVELS, write_parquet, write_report_data
from riskmodel.reports.runlog import (
    held_records,
    hold_run_lock,
    log_to,
    point_latest,
    progress_bar,
    remove_stale_partials,
    terminate_as_interrupt,
)
from riskmodel.reports.runner import (
    COHORT_NOTEBOOK,
    QUALITY_NOTEBOOK,
    REJECTED_FILE,
    RunResult,
    _absolute,
    _cohort_mask,
    _everyone,
    _register_check,
    _relative,
    _run_id,
    _skipped_notes,
    _versions,
    check_output,
    earlier_runs,
)

__all__ = ["SchoolJob", "school_task", "quality_task", "run_distributed", "SCHOOLS_DIR"]

log = logging.getLogger(__name__)

SCHOOLS_DIR = "schools"  # each school's report data: schools/<school>/report_data
_RUNNING_DIR = ".tasks"  # a marker per school task while it writes (removed before the folder is renamed)
_STOP_WAIT_SECONDS = 120  # on an interrupt, how long a remote cluster's tasks may take to stop writing


class _Stopped(Exception):
    """The run was interrupted where it started: this task stops before writing more."""


@dataclass
class SchoolJob:
    """What one school's task needs (sent to a worker; the run folder ``work`` is shared storage)."""

    school: str
    slug: str
    work: str
    run_id: str
    as_of: date
    lang: str
    model_dir: str
    settings: Settings
    dataset: object = None  # the school's Dataset (riskmodel.data.Dataset), sent with the task (a data folder)
    store: str = ""  # or the store the worker reads the school from (riskmodel.data.store, on shared storage)
    previous: pd.DataFrame | None = None  # the previous list's rows of this school
    earlier: list[str] = field(default_factory=list)  # earlier runs of the same schools (history), oldest first
    templates: str | None = None
    stop_event: str = ""


# --------------------------------------------------------------------------------------------- on a worker
def _stop_check(name: str):
    """A function telling whether the run's stop event is set (never, without one)."""
    if not name:
        return lambda: False
    from distributed import Event

    event = Event(name)
    return event.is_set


def _school_history(earlier: list[str], school: str, slug: str) -> pd.DataFrame | None:
    """Earlier runs' report lists of this school: a distributed run's own, or a single-machine run's rows."""
    frames = []
    for run_dir in map(Path, earlier):
        own = run_dir / SCHOOLS_DIR / slug / "report_data" / "list.parquet"
        whole = run_dir / "report_data" / "list.parquet"
        if own.exists():
            frames.append(pd.read_parquet(own))
        elif whole.exists():
            frame = pd.read_parquet(whole)
            frames.append(frame.loc[frame["school"].astype(str) == school])
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else None


def _cohort_jobs(job: SchoolJob, cohorts: pd.DataFrame, work: Path, timeout: int) -> list[dict]:
    cohort_template = template(COHORT_NOTEBOOK, Path(job.templates) if job.templates else None)
    # relative to notebooks/, valid while the folder is built aside and after it is renamed
    run_dir = f"../{SCHOOLS_DIR}/{job.slug}"
    jobs = []
    for cohort in cohorts.itertuples(index=False):
        parameters = {"run_dir": run_dir, "as_of": job.as_of.isoformat(), "cohort_level": cohort.level,
                      "cohort_id": cohort.key, "lang": job.lang}
        check_parameters(cohort_template, parameters)
        jobs.append({"key": cohort.key, "template": cohort_template, "parameters": parameters,
                     "ipynb": work / "notebooks" / f"{cohort.key}.ipynb", "html": work / "reports" / f"{cohort.key}.html"})
    return jobs


def school_task(job: SchoolJob) -> dict:
    """Score one school and write its report data, lists and cohort reports into the run folder.

    Never raises for the school's own failure: it returns ``status`` ``failed`` with the error's kind
    and message (and removes what it had written), so that one school fails alone. A worker lost
    meanwhile is the scheduler's to handle (the task runs again elsewhere).

    Returns
    -------
    dict
        ``school, status, error, warning_list, everyone`` (DataFrames for the whole run's files;
        ``everyone`` in the scores file's columns only), ``cohorts`` (records), ``outcomes`` and
        ``lists`` (paths relative to the run folder), ``counts`` (students per level of each cohort),
        ``levels``, ``skipped`` (notes), ``seconds`` per stage, ``worker``.
    """
    from riskmodel.reports.cluster import worker_session
    from riskmodel.warning.export import write_warning_list
    from riskmodel.warning.scores_file import write_scores
    from riskmodel.warning.warning_list import score_school

    work = Path(job.work)
    stopped = _stop_check(job.stop_event)
    timings: dict[str, float] = {}
    written: list[Path] = []
    marker = work / _RUNNING_DIR / job.slug
    result: dict = {"school": job.school, "slug": job.slug, "status": "failed", "error": None, "worker": _worker()}
    old_umask = os.umask(0o077)  # papermill and nbconvert write through open(): owner-only
    try:
        if not work.is_dir() or stopped():
            raise _Stopped
        private_dir(marker.parent)
        marker.touch(mode=0o600)
        _clear_school(work, job.slug)  # a task run again after its worker was lost starts clean
        settings = job.settings
        t0 = time.perf_counter()
        dataset = job.dataset if job.dataset is not None else _school_from_store(job.store, job.school, job.lang)
        timings["load"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = load_cached(job.model_dir)
        scored = score_school(dataset, model, job.as_of, settings=settings, previous=job.previous,
                              run_id=job.run_id, lang=job.lang, check=False)
        students = dataset.table("students")
        everyone = _everyone(scored, students)
        rows = scored.features.set_index("student_id").loc[everyone["student_id"]].reset_index()
        contributions = model.contributions(rows)
        timings["score"] = time.perf_counter() - t0
        if stopped():
            raise _Stopped
        t0 = time.perf_counter()
        school_dir = work / SCHOOLS_DIR / job.slug
        written.append(school_dir)
        private_dir(school_dir)
        run_info = {"as_of": job.as_of.isoformat(), "run_id": job.run_id, "lang": job.lang,
                    "model_version": model.version, "small_cell": settings.reports.small_cell,
                    "base_value": expected_log_odds(model)}
        cohorts = write_report_data(
            school_dir, warning_list=everyone, tables=dataset.tables,
            history=_school_history(job.earlier, job.school, job.slug), contributions=contributions,
            feature_values=rows[list(contributions.columns)] if contributions is not None else None,
            summary=None, rejected=None, skipped=[], run_info=run_info, instruments=settings.instruments,
            files=dataset.files)
        if "state" in everyone.columns:  # the review loop's queue for the cohort reports
            from riskmodel.warning.cases import case_report_table

            write_parquet(case_report_table(everyone), school_dir / "report_data" / "cases.parquet")
        timings["report_data"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lists: dict[str, list[str]] = {}
        for cohort in cohorts.itertuples(index=False):
            target = work / "lists" / cohort.key
            written.append(target)
            rows = scored.warning_list.loc[_cohort_mask(scored.warning_list, pd.Series(cohort._asdict()))]
            paths = write_warning_list(rows, target, lang=job.lang, horizon_days=settings.labels.horizon_days)
            lists[cohort.key] = [Path(paths[k]).relative_to(work).as_posix() for k in ("xlsx", "csv", "parquet")
                                 if k in paths]
        write_scores(everyone, school_dir, run_id=job.run_id)
        timings["lists"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        jobs = _cohort_jobs(job, cohorts, work, settings.reports.notebook_timeout)
        private_dir(work / "notebooks")
        private_dir(work / "reports")
        session = worker_session(job.run_id, max_notebooks=settings.reports.kernel_max_notebooks) \
            if settings.reports.reuse_kernels else None
        outcomes = {}
        for item in jobs:
            if stopped():
                raise _Stopped
            written += [item["ipynb"], item["html"]]
            outcome = execute(item["template"], item["ipynb"], item["html"], item["parameters"], title=item["key"],
                              timeout=settings.reports.notebook_timeout, session=session)
            outcomes[item["key"]] = _relative(work, outcome)
        timings["reports"] = time.perf_counter() - t0
        counts = {c.key: everyone.loc[_cohort_mask(everyone, pd.Series(c._asdict())), "level"]
                  .value_counts().reindex(list(LEVELS), fill_value=0).astype(int).to_dict()
                  for c in cohorts.itertuples(index=False)}
        # only what the whole scores file is made of travels back (the rest stays in the school's folder)
        from riskmodel.warning.scores_file import SCORES_COLUMNS

        keep = [c for c in (*SCORES_COLUMNS, "state", "model_version") if c in everyone.columns]
        result.update(status="ok", warning_list=scored.warning_list, everyone=everyone[keep],
                      levels={lv: int((everyone["level"] == lv).sum()) for lv in LEVELS},
                      skipped=_skipped_notes(everyone, cohorts),
                      cohorts=cohorts.to_dict(orient="records"), outcomes=outcomes, lists=lists, counts=counts,
                      model_version=model.version, model_meta=model.meta,
                      over_capacity=scored.over_capacity.to_dict(orient="records"))
    except _Stopped:
        _remove(written)
        result.update(status="stopped")
    except Exception as exc:  # noqa: BLE001 - one school's failure must not stop the others
        _remove(written)
        message = str(exc)
        result.update(error=f"{type(exc).__name__}: {message[:500]}")
        # never the message in a log line: it may name a student
        log.warning("school task %s failed with %s", job.slug, type(exc).__name__)
    finally:
        os.umask(old_umask)
        marker.unlink(missing_ok=True)
    result["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    return result


def quality_task(work: str, *, as_of: date, lang: str, templates: str | None, timeout: int, run_id: str,
                 max_notebooks: int, reuse_kernels: bool) -> dict:
    """Run the data-quality notebook on ``report_data/`` at the top of the run folder (written by the client)."""
    from riskmodel.reports.cluster import worker_session

    work_dir = Path(work)
    path = template(QUALITY_NOTEBOOK, Path(templates) if templates else None)
    parameters = {"run_dir": "..", "as_of": as_of.isoformat(), "lang": lang}
    old_umask = os.umask(0o077)
    try:
        private_dir(work_dir / "notebooks")
        private_dir(work_dir / "reports")
        session = worker_session(run_id, max_notebooks=max_notebooks) if reuse_kernels else None
        outcome = execute(path, work_dir / "notebooks" / "data_quality.ipynb", work_dir / "reports" / "data_quality.html",
                          parameters, title="data_quality", timeout=timeout, session=session)
    finally:
        os.umask(old_umask)
    return _relative(work_dir, outcome)


def _school_from_store(path: str, school: str, lang: str):
    """One school's Dataset, read on the worker from the store on shared storage."""
    from riskmodel.data.store import Store

    with Store(path, lang=lang) as store:
        return store.school(school)


def _worker() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


def _clear_school(work: Path, slug: str) -> None:
    """Remove what an earlier attempt of this school's task wrote (its folder, lists, notebooks, reports)."""
    shutil.rmtree(work / SCHOOLS_DIR / slug, ignore_errors=True)
    prefixes = (f"school-{slug}", f"college-{slug}-", f"grade-{slug}-")
    for folder in ("lists", "notebooks", "reports"):
        base = work / folder
        if not base.is_dir():
            continue
        for path in base.iterdir():
            stem = path.name if path.is_dir() else path.stem
            if stem == prefixes[0] or stem.startswith(prefixes[1:]):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------- where the run starts
def _prepare(data_dir: Path, model_dir: Path, as_of: date, *, settings: Settings, out: Path, lang: str,
             accept_register_loss: bool):
    """Load and check the data as a whole, here; what the school tasks and the quality report need."""
    from riskmodel.data.store import is_store
    from riskmodel.data.validate import check_usable
    from riskmodel.features.export import open_data
    from riskmodel.models.registry import load as load_model
    from riskmodel.warning.checks import check_scoring_data

    started = time.perf_counter()
    model = load_model(model_dir)
    if is_store(data_dir):  # a province: the whole data never comes here; the workers read their schools
        dataset = _store_outline(data_dir, lang=lang)
    else:
        dataset = open_data(data_dir, settings=settings)
        check_usable(dataset, lang=lang, rejected="riskmodel validate")
    register_check = _register_check(dataset, out, as_of, settings=settings, lang=lang, accept=accept_register_loss)
    if is_store(data_dir):
        from riskmodel.data.store import Store

        with Store(data_dir, lang=lang) as store:
            check_scoring_data(store.digest(), model, as_of, settings=settings, lang=lang)
    else:
        check_scoring_data(dataset, model, as_of, settings=settings, lang=lang)
    return model, dataset, register_check, time.perf_counter() - started


def _store_outline(path: Path, *, lang: str):
    """What the run needs of a store where it starts: the register's keys (schools, pseudonyms, dates), each
    table's dating column (the data-quality report's coverage), the loader's summary and rejected rows."""
    from riskmodel.data.dataset import Dataset
    from riskmodel.data.store import Store
    from riskmodel.vocab import DATED_BY

    with Store(path, lang=lang) as store:
        columns = ["student_id", "pseudonym", "school", "enrollment_date", "exit_date", "stage"]
        tables = {"students": store.table("students", columns)}
        for name in store.meta["tables"]:
            if name != "students" and DATED_BY.get(name):
                tables[name] = store.table(name, [DATED_BY[name]])
        return Dataset(tables=tables, checksum=store.checksum, files=store.meta.get("files", {}),
                       rejected=store.rejected(), summary=_store_summary(store), skipped=tuple(store.meta["skipped"]))


def _store_summary(store) -> pd.DataFrame:
    from riskmodel.data.store import _summary

    return _summary(store.meta)


def _quality_data(work: Path, dataset, *, everyone_columns: list[str], run_info: dict, settings: Settings) -> None:
    """``report_data/`` at the top: the data-quality tables of the whole data (no student is listed there)."""
    from riskmodel.vocab import DATED_BY

    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in everyone_columns})
    # the register and each table's dating column: what coverage counts (no answers to score for nobody)
    tables = {name: table[[DATED_BY[name]]] for name, table in dataset.tables.items()
              if name != "students" and DATED_BY.get(name) in table.columns}
    tables["students"] = dataset.table("students")
    write_report_data(work, warning_list=empty, tables=tables, history=None, contributions=None,
                      summary=dataset.summary, rejected=dataset.rejected, skipped=list(dataset.skipped),
                      run_info=run_info, instruments=settings.instruments, files=None)


def _wait_for_tasks(work: Path, seconds: float) -> None:
    """After an interrupt: until no school task is writing into ``work`` (their markers gone), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    running = work / _RUNNING_DIR
    while time.monotonic() < deadline and running.is_dir() and any(running.iterdir()):
        time.sleep(0.5)


def run_distributed(data_dir: str | Path, model_dir: str | Path, as_of: date | str, out: str | Path, *,
                    settings: Settings, cluster: str | ClusterSpec, lang: str | None = None, progress: bool = False,
                    templates: Path | None = None, accept_register_loss: bool = False,
                    run_id: str | None = None) -> RunResult:
    """``riskmodel run --cluster``: the scheduled run with one task per school on a Dask cluster.

    See the module docstring. ``run_id`` names the run folder (default ``run-<as_of>-<UTC time>``).

    Raises
    ------
    PreflightError, ContractError, ModelMismatchError, ConfigError
        Before anything is written (ConfigError: the cluster cannot be reached, or a worker's package
        versions differ from this machine's).
    RunLockedError
        A run of the same as-of date is writing to ``out`` (exit status 75).
    """
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    spec = parse_cluster(cluster) if isinstance(cluster, str) else cluster
    out = Path(out).absolute()
    lang = lang or settings.reports.lang
    settings = settings.model_copy(update={"reports": settings.reports.model_copy(update={"lang": lang})})
    check_output(out, min_free_mb=settings.reports.min_free_disk_mb)
    for name in (COHORT_NOTEBOOK, QUALITY_NOTEBOOK):
        template(name, templates)
    if not Path(data_dir).exists():
        raise ContractError(f"{data_dir}: no such data folder or store; pass the folder with students and "
                            "screenings files (docs/data.md) to --data.")
    if not Path(model_dir).is_dir():
        raise ModelMismatchError(f"{model_dir}: no such model folder; pass the --out folder of `riskmodel train`.")
    guard_outputs({"--out": out}, inputs={"data folder": data_dir, "model folder": model_dir}, folders=["--out"])
    with hold_run_lock(out, as_of):  # a second run of this date stops here (exit 75), before reading anything
        with held_records() as said:  # run.log begins with what was said before its folder existed
            remove_stale_partials(out)
            run_id = run_id or _run_id(out, as_of)
            model, dataset, register_check, load_seconds = _prepare(
                Path(data_dir), Path(model_dir), as_of, settings=settings, out=out, lang=lang,
                accept_register_loss=accept_register_loss)
        inputs = {"data_dir": str(Path(data_dir).absolute()), "model_dir": str(Path(model_dir).absolute())}
        from riskmodel.data.store import is_store

        return _publish(dataset, model, as_of, out, settings=settings, spec=spec, lang=lang, run_id=run_id,
                        progress=progress, templates=templates, register_check=register_check, inputs=inputs,
                        timings={"load": load_seconds},
                        store=str(Path(data_dir).absolute()) if is_store(data_dir) else "", earlier_log=said)


def _publish(dataset, model, as_of: date, out: Path, *, settings: Settings, spec: ClusterSpec, lang: str,
             run_id: str, progress: bool, templates: Path | None, register_check: dict | None, inputs: dict,
             timings: dict[str, float], store: str = "", earlier_log: list | None = None) -> RunResult:
    from riskmodel.warning.warning_list import previous_by_school, schools_of

    rs = settings.reports
    students = dataset.table("students")
    schools = schools_of(students)
    earlier = earlier_runs(out, schools, as_of)
    previous = pd.read_parquet(earlier[-1] / "warning_list.parquet") if earlier else None
    by_school = previous_by_school(previous, students)
    slugs = {school: safe_component(school or "school") for school in schools}
    if len(set(slugs.values())) < len(slugs):
        raise ContractError("two schools' names make the same folder name (they differ only in characters a file "
                            "name cannot hold); rename one in the students table's school column.")
    started_at = datetime.now(UTC)
    old_umask = os.umask(0o077)
    try:
        with terminate_as_interrupt(), atomic_dir(out / run_id) as work:
            work.chmod(DIR_MODE)
            with log_to(work / "run.log", earlier_log or ()), open_cluster(spec, settings=settings.cluster) as client:
                from distributed import Event, as_completed

                workers = check_versions(client)
                log.info("run %s of %s: %d schools on %d Dask worker(s)", run_id, as_of, len(schools), len(workers))
                run_info = {"as_of": as_of.isoformat(), "run_id": run_id, "lang": lang,
                            "model_version": model.version, "small_cell": rs.small_cell}
                t0 = time.perf_counter()
                _quality_data(work, dataset, everyone_columns=_EVERYONE_COLUMNS, run_info=dict(run_info),
                              settings=settings)
                if dataset.rejected is not None and len(dataset.rejected):
                    from riskmodel.data.validate import write_rejected

                    write_rejected(dataset.rejected, work / REJECTED_FILE, lang=lang)
                    run_info["rejected_rows"] = len(dataset.rejected)
                timings["quality_data"] = time.perf_counter() - t0
                stop = Event(f"riskmodel-stop-{run_id}", client=client)
                futures = []
                template_dir = str(templates) if templates else None
                try:
                    t0 = time.perf_counter()
                    quality = client.submit(quality_task, str(work), as_of=as_of, lang=lang, templates=template_dir,
                                            timeout=rs.notebook_timeout, run_id=run_id,
                                            max_notebooks=rs.kernel_max_notebooks, reuse_kernels=rs.reuse_kernels,
                                            key=f"quality-{run_id}", retries=settings.cluster.retries, pure=False)
                    for school, part in _parts(dataset, schools, store):
                        job = SchoolJob(school=school, slug=slugs[school], work=str(work), run_id=run_id, as_of=as_of,
                                        lang=lang, model_dir=str(Path(inputs["model_dir"])), settings=settings,
                                        dataset=part, store=store, previous=by_school.get(school),
                                        earlier=[str(p) for p in earlier], templates=template_dir,
                                        stop_event=stop.name)
                        futures.append(client.submit(school_task, job, key=f"school-{slugs[school]}-{run_id}",
                                                     retries=settings.cluster.retries, pure=False))
                    results: dict[str, dict] = {}
                    with progress_bar(len(futures) + 1, progress) as bar:
                        task = bar.add_task("schools", total=len(futures) + 1) if bar is not None else None
                        for future in as_completed([*futures, quality], loop=client.loop):
                            if future is quality:
                                quality_outcome = _gather(future, "data_quality")
                            else:
                                outcome = _gather(future, None)
                                results[outcome["school"]] = outcome
                                log.info("school %s: %s in %.1fs", outcome["slug"], outcome["status"],
                                         sum(outcome.get("seconds", {}).values()))
                            if bar is not None:
                                bar.advance(task)
                    timings["schools"] = time.perf_counter() - t0
                    from riskmodel.warning.levels import warn_level_one_over

                    warn_level_one_over([row for school in sorted(results)  # once, not once per school
                                         for row in results[school].get("over_capacity", [])])
                except BaseException:
                    _stop(client, stop, futures, work, local=spec.local)
                    raise
                finally:
                    with contextlib.suppress(Exception):
                        client.run(close_sessions, run_id)
            manifest, outcomes = _finish(work, results, schools, slugs, quality_outcome, settings=settings,
                                         run_info=run_info, as_of=as_of, run_id=run_id, lang=lang,
                                         started_at=started_at, register_check=register_check, inputs=inputs,
                                         dataset=dataset, model=model, earlier=earlier, timings=timings,
                                         workers=len(workers), spec=spec)
        point_latest(out, run_id)
    finally:
        os.umask(old_umask)
    return RunResult(run_dir=out / run_id, run_id=run_id, outcomes=outcomes, manifest=manifest)


# the columns of riskmodel.reports.runner._everyone, for the empty list of the quality report data
_EVERYONE_COLUMNS = ["as_of", "student_id", "pseudonym", "school", "college", "grade", "class_id", "dorm_id", "stage",
                     "level", "score", "score_low", "score_high", "rank", "rules", "factors", "change", "model_version"]


def _parts(dataset, schools: list[str], store: str):
    """``(school, its Dataset)`` to send with each task; ``(school, None)`` when the workers read the store."""
    from riskmodel.data.dataset import Dataset
    from riskmodel.warning.warning_list import split_by_school

    if store:
        for school in schools:
            yield school, None
        return
    for school, part in split_by_school(dataset):
        # the loader's whole-data tables (rejected rows, summary) stay here: the quality report has them
        yield school, Dataset(tables=part.tables, checksum=part.checksum, files=part.files, skipped=part.skipped)


def _gather(future, key: str | None) -> dict:
    """A finished future's result; a task that errored outside its own handling (or was lost too often) as failed."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - KilledWorker after cluster.retries, a result that cannot be read
        log.warning("task %s failed: %s", future.key, type(exc).__name__)
        error = f"{type(exc).__name__}: {str(exc)[:500]}"
        if key is not None:
            return {"status": "failed", "error": error, "seconds": 0.0, "notebook": None, "html": None}
        school_slug = str(future.key).rsplit("-run-", 1)[0].removeprefix("school-")
        return {"school": None, "slug": school_slug, "status": "failed", "error": error, "seconds": {}}


def _stop(client, stop, futures, work: Path, *, local: bool) -> None:
    """Interrupted: tell the tasks to stop, cancel what has not started, and (remote) wait until none writes."""
    log.warning("run interrupted: stopping the school tasks")
    with contextlib.suppress(Exception):
        stop.set()
    with contextlib.suppress(Exception):
        client.cancel(futures, force=True)
    if not local:  # a local cluster is stopped (its workers with it) when the block ends
        with contextlib.suppress(BaseException):
            _wait_for_tasks(work, _STOP_WAIT_SECONDS)


def _finish(work: Path, results: dict[str, dict], schools: list[str], slugs: dict[str, str], quality: dict, *,
            settings: Settings, run_info: dict, as_of: date, run_id: str, lang: str, started_at: datetime,
            register_check: dict | None, inputs: dict, dataset, model, earlier: list[Path],
            timings: dict[str, float], workers: int, spec: ClusterSpec) -> tuple[dict, dict]:
    """The whole run's list and scores file, index and manifest, from the schools' results (in school order)."""
    from riskmodel.reports.register_guard import dropped_students
    from riskmodel.warning.scores_file import write_scores
    from riskmodel.warning.warning_list import warn_dropped

    by_slug = {r["slug"]: r for r in results.values()}
    ordered = [by_slug.get(slugs[s], {"school": s, "slug": slugs[s], "status": "failed", "error": "no result"})
               for s in schools]
    ok = [r for r in ordered if r["status"] == "ok"]
    failed_schools = [{"school": s, "error": r.get("error")} for s, r in zip(schools, ordered) if r["status"] != "ok"]
    if ok:
        warning_list = pd.concat([r["warning_list"] for r in ok], ignore_index=True)
        everyone = pd.concat([r["everyone"] for r in ok], ignore_index=True)
    else:
        warning_list = pd.DataFrame(columns=["student_id", "school", "level", "change"])
        everyone = pd.DataFrame({c: pd.Series(dtype=object) for c in _EVERYONE_COLUMNS})
    t0 = time.perf_counter()
    write_parquet(warning_list, work / "warning_list.parquet")  # what the next run compares with
    write_scores(everyone, work, run_id=run_id)  # every scored student (contract v2)
    timings["lists_whole"] = time.perf_counter() - t0
    with contextlib.suppress(OSError):
        (work / _RUNNING_DIR).rmdir()  # every task has ended: its marker is gone
    cohorts = pd.DataFrame([c for r in ok for c in r["cohorts"]],
                           columns=["key", "level", "school", "name", "slug", "students"])
    outcomes: dict[str, dict] = {"data_quality": quality}
    lists: dict[str, list[Path]] = {}
    counts: dict[str, pd.Series] = {}
    for r in ok:
        outcomes.update(r["outcomes"])
        lists.update({k: [work / p for p in v] for k, v in r["lists"].items()})
        counts.update({k: pd.Series(v) for k, v in r["counts"].items()})
    for failed in failed_schools:  # the school's report row says it failed; the manifest says why
        slug = slugs[failed["school"]]
        _clear_school(work, slug)  # a task whose worker was lost too often could not remove its own files
        key = f"school-{slug}"
        outcomes[key] = {"status": "failed", "error": failed["error"], "notebook": None, "html": None, "seconds": 0.0}
        cohorts = pd.concat([cohorts, pd.DataFrame([{"key": key, "level": "school", "school": failed["school"],
                                                     "name": failed["school"], "slug": slug, "students": 0}])],
                            ignore_index=True)
    dropped = dropped_students(warning_list)
    run_info["dropped"] = dropped
    warn_dropped(warning_list)  # once for the run: the schools' tasks do not say it
    write_index(work, cohorts=cohorts, outcomes={k: _absolute(work, o) for k, o in outcomes.items()}, lists=lists,
                info=run_info, lang=lang, level_counts=counts)
    failed = sorted(k for k, o in outcomes.items() if o["status"] != "ok")
    if failed_schools:
        log.warning("%d school task(s) failed: %s", len(failed_schools), ", ".join(slugs[f["school"]]
                                                                                  for f in failed_schools))
    if failed:
        log.warning("%d report(s) failed: %s", len(failed), ", ".join(failed))
    school_seconds = {slugs[s]: r.get("seconds", {}) for s, r in zip(schools, ordered)}
    manifest = {
        "run_id": run_id, "as_of": as_of.isoformat(), "schools": schools, "lang": lang,
        "started": started_at.isoformat(), "finished": datetime.now(UTC).isoformat(),
        "outcome": ("failed_schools" if failed_schools else "failed_reports" if failed
                    else ("dropped_students" if dropped else "ok")),
        "failed": failed, "failed_schools": failed_schools, "dropped": dropped, "register_check": register_check,
        "inputs": {**inputs, "data_checksum": dataset.checksum, "files": dataset.files},
        "model": {"version": model.version, **{k: model.meta.get(k) for k in ("kind", "until", "horizon_days")}},
        "previous_run": earlier[-1].name if earlier else None,
        "configuration": settings.as_dict(), "packages": _versions(),
        "cluster": {"kind": "local" if spec.local else "scheduler", "address": spec.address or f"local:{spec.workers}",
                    "workers": workers, "retries": settings.cluster.retries},
        "layout": {"school_report_data": f"{SCHOOLS_DIR}/<school>/report_data"},
        "students_scored": int(len(everyone)),
        "levels": {lv: sum(r["levels"][lv] for r in ok) for lv in LEVELS},
        "cohorts": cohorts.drop(columns="slug").to_dict(orient="records"),
        "notebooks": outcomes, "skipped": list(dataset.skipped) + [note for r in ok for note in r["skipped"]],
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "school_seconds": school_seconds,
    }
    write_text(work / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1, default=str))
    log.info("run %s complete: %d schools (%d failed), %d reports, %d failed", run_id, len(schools),
             len(failed_schools), len(outcomes), len(failed))
    return manifest, outcomes
