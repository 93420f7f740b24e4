"""The scheduled run: pre-flight, score, write the lists, run the cohort notebooks, index, manifest.

:func:`run` is ``riskmodel run``. In order:

1. **Pre-flight**, before anything is written: the output folder can be written, has room and is
   not inside the data or model folder (:class:`~riskmodel.errors.PreflightError`); then the run takes
   the lock of its as-of date in the output folder (a second run of that date stops with
   :class:`~riskmodel.errors.RunLockedError`, exit 75) and removes partial folders of killed runs
   (:mod:`riskmodel.reports.runlog`); the model loads (:class:`ModelMismatchError`), the data loads
   (:class:`ContractError`) and the model's features are the ones built from it.
2. **Score** (:func:`score`): features of the as-of date, the model, hard rules, levels, reasons, and
   the change against the latest earlier run of the same school(s) in the output folder.
3. **Publish** (:func:`publish`): a new folder ``run-<as_of>-<UTC time>`` is built aside and renamed
   into place only when complete (:func:`riskmodel.outputs.atomic_dir`), so a run never overwrites an
   earlier one and an interrupted run (Ctrl-C, SIGTERM from cron) leaves nothing behind. In it: the
   warning list of the whole run and of each cohort (that cohort's students only), ``report_data/``
   for the notebooks, the data-quality report and one cohort report per school and college (or grade),
   executed by papermill in a process pool and exported to HTML without code; ``index.html``;
   ``manifest.json``; ``run.log``. A notebook that fails keeps its executed copy with the error, the
   others go on, and the result's ``exit_code`` is 1.

Nobody leaves the list silently (riskmodel.reports.register_guard): a register that lost more than
``warning.max_register_loss`` of the previous run's students is refused in pre-flight (exit 2) unless
``accept_register_loss``; a previously listed student not scored now is ``dropped`` in the list, named
by pseudonym in the manifest and the index, and the run's ``exit_code`` is 1.

Example
-------
>>> # result = run("data/", "models/2026-03", "2026-03-01", "reports/", settings=load_settings(None))
>>> # result.run_dir / "index.html", result.exit_code
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError, ModelMismatchError, PreflightError
from riskmodel.outputs import DIR_MODE, atomic_dir, guard_outputs, private_dir, write_text
from riskmodel.reports.explain import expected_log_odds
from riskmodel.reports.index import write_index
from riskmodel.reports.notebooks import check_parameters, template
from riskmodel.reports.pool import ReportPool
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
from riskmodel.warning.scores_file import write_scores

__all__ = ["Scored", "RunResult", "check_output", "earlier_runs", "score", "publish", "run", "COHORT_NOTEBOOK",
           "QUALITY_NOTEBOOK"]

log = logging.getLogger(__name__)

COHORT_NOTEBOOK = "20_cohort_report"
QUALITY_NOTEBOOK = "00_data_quality"
_PACKAGES = ("riskmodel", "pandas", "numpy", "scikit-learn", "lightgbm", "shap", "pyarrow", "duckdb", "papermill",
             "nbconvert", "nbclient", "ipykernel", "matplotlib", "pandera", "pydantic")


@dataclass
class Scored:
    """What the scoring stage hands to :func:`publish` (everything the run folder is made from).

    Attributes
    ----------
    as_of
        The as-of date.
    warning_list
        The list in the contract's form (listed and cleared students), with ``grade, dorm_id``.
    everyone
        Every scored student: the list's columns (``level`` none for the unlisted).
    tables
        The dataset's canonical tables.
    model_version, model_meta
        The model's version and model.json.
    contributions
        Per-feature contributions for ``everyone`` (same order), or ``None``.
    feature_values
        The same students' values of those features (the student file says each factor with its value).
    data_checksum, files, summary, rejected, skipped
        What the loader read, rejected and did not use.
    timings
        Seconds per stage so far.
    log_records
        What loading and scoring logged before the run's folder existed (run.log begins with them).
    """

    as_of: date
    warning_list: pd.DataFrame
    everyone: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    model_version: str
    model_meta: dict = field(default_factory=dict)
    contributions: pd.DataFrame | None = None
    feature_values: pd.DataFrame | None = None  # the model's features of ``everyone`` (same order): the student file
    data_checksum: str = ""
    files: dict = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    rejected: pd.DataFrame | None = None
    skipped: tuple[str, ...] = ()
    previous_run: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    register_check: dict | None = None  # the register-loss guard's figures (riskmodel.reports.register_guard)
    log_records: list = field(default_factory=list)
    base_value: float = 0.0  # the model's expected log-odds: where a student's waterfall starts

    @property
    def schools(self) -> list[str]:
        """The schools of the scored students, sorted."""
        return sorted(self.everyone["school"].astype(str).unique())


@dataclass(frozen=True)
class RunResult:
    """What a run made: its folder, each notebook's outcome and the manifest."""

    run_dir: Path
    run_id: str
    outcomes: dict[str, dict]
    manifest: dict

    @property
    def failed(self) -> list[str]:
        """Keys of the reports that failed."""
        return sorted(key for key, outcome in self.outcomes.items() if outcome["status"] != "ok")

    @property
    def dropped(self) -> list[dict]:
        """Previously listed students not scored this time (pseudonym, previous_level)."""
        return list(self.manifest.get("dropped") or [])

    @property
    def exit_code(self) -> int:
        """0 when every report was made and every previously listed student scored; 1 when some
        report failed or a previously listed student was dropped (riskmodel.errors)."""
        return 1 if self.failed or self.dropped else 0


# --------------------------------------------------------------------------------------------- pre-flight
def check_output(out: Path, *, min_free_mb: int) -> None:
    """Refuse an output folder that cannot be written or lacks ``min_free_mb`` of free disk.

    Writes nothing: the probe is an anonymous temporary file in the nearest existing folder.

    Raises
    ------
    PreflightError
        Naming the folder and what to do.
    """
    existing = Path(out).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PreflightError(f"{existing}: is a file, not a folder; pass a folder to --out.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise PreflightError(f"{existing}: cannot write here ({exc.strerror}); pass a folder you can write to --out "
                             "or fix its permissions.") from None
    free_mb = shutil.disk_usage(existing).free // 2**20
    if free_mb < min_free_mb:
        raise PreflightError(f"{existing}: {free_mb} MB free, the run needs at least {min_free_mb} MB "
                             "(reports.min_free_disk_mb); free some space or choose another --out.")


def _manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


REJECTED_FILE = "rejected_rows.csv"  # the loader's rejected rows (table, row, column, value, reason)


def earlier_runs(out: Path, schools: list[str], as_of: date) -> list[Path]:
    """Completed runs in ``out`` of the same schools with an earlier as-of date, one per date, oldest first.

    Of several runs of one date, the latest made counts (a re-run replaces nothing on disk but is
    what the centre saw last).
    """
    latest: dict[str, tuple[str, Path]] = {}
    for path in Path(out).glob("run-*/manifest.json"):
        manifest = _manifest(path)
        if not manifest or manifest.get("schools") != schools or manifest.get("as_of", "") >= as_of.isoformat():
            continue
        key, made = manifest["as_of"], manifest.get("finished", "")
        if key not in latest or made > latest[key][0]:
            latest[key] = (made, path.parent)
    return [latest[key][1] for key in sorted(latest)]


# --------------------------------------------------------------------------------------------- score
def _everyone(result, students: pd.DataFrame) -> pd.DataFrame:
    """Every scored student in the list's form (``level`` none and no reasons for the unlisted)."""
    info = students.drop_duplicates("student_id").set_index("student_id")
    scores = result.scores
    frame = pd.DataFrame({"as_of": scores["as_of"].to_numpy(), "student_id": scores["student_id"].to_numpy()})
    for col in ("pseudonym", "school", "college", "grade", "class_id", "dorm_id", "stage"):
        values = frame["student_id"].map(info[col]) if col in info.columns else pd.Series("", index=frame.index)
        frame[col] = values.astype(object).where(values.notna(), "")
    frame["level"] = scores["level"].to_numpy()
    frame["score"] = scores["score"].round(4).to_numpy()
    for col in ("score_low", "score_high"):  # the scores file's interval (riskmodel.warning.scores_file)
        frame[col] = scores[col].round(4).to_numpy() if col in scores.columns else float("nan")
    frame["rank"] = scores["rank"].to_numpy()
    listed = result.warning_list.drop_duplicates("student_id").set_index("student_id")
    for col in ("rules", "factors", "change"):
        frame[col] = frame["student_id"].map(listed[col]).fillna("")
    frame["model_version"] = result.model_version
    if getattr(result, "cases", None) is not None:  # the review loop: every scored student's case state
        from riskmodel.warning.cases import attach_states

        frame = attach_states(frame, result.cases, result.scores)
    return frame


def score(data_dir: Path, model_dir: Path, as_of: date, *, settings: Settings, out: Path, run_id: str,
          lang: str, accept_register_loss: bool = False) -> Scored:
    """Load, check, build features, score and explain; writes nothing.

    Raises
    ------
    ContractError, ModelMismatchError
        The data cannot be used (no student or no screening accepted; the register lost more than
        ``warning.max_register_loss`` of the previous run's students and ``accept_register_loss`` is
        not set), or the model does not fit it.
    """
    from riskmodel.data.validate import check_usable
    from riskmodel.features.export import open_data
    from riskmodel.models.registry import load as load_model
    from riskmodel.warning.warning_list import score_as_of

    timings: dict[str, float] = {}
    started = time.perf_counter()
    model = load_model(model_dir)
    dataset = open_data(data_dir, settings=settings)  # a data folder, or a DuckDB store file
    check_usable(dataset, lang=lang, rejected="riskmodel validate")
    register_check = _register_check(dataset, out, as_of, settings=settings, lang=lang, accept=accept_register_loss)
    # check_scoring_data is the first step of score_as_of below
    timings["load"] = time.perf_counter() - started
    students = dataset.table("students")
    schools = sorted(students["school"].astype(str).unique())
    previous_dirs = earlier_runs(out, schools, as_of)
    previous = pd.read_parquet(previous_dirs[-1] / "warning_list.parquet") if previous_dirs else None
    # the same scoring sequence as `riskmodel score` (checks, features, hard rules and case states,
    # levels, reasons): one function, so that what a list is made of is wired once
    started = time.perf_counter()
    result = score_as_of(dataset, model, as_of, settings=settings, previous=previous, run_id=run_id, lang=lang)
    timings["load"] += time.perf_counter() - started - sum(result.timings.values())  # the data checks
    timings["features"] = result.timings["features"]
    started = time.perf_counter()
    features = result.features
    everyone = _everyone(result, students)
    rows = features.set_index("student_id").loc[everyone["student_id"]].reset_index()
    contributions = model.contributions(rows)
    timings["score"] = result.timings["score"] + time.perf_counter() - started
    return Scored(as_of=as_of, warning_list=result.warning_list, everyone=everyone, tables=dataset.tables,
                  model_version=model.version, model_meta=model.meta, contributions=contributions,
                  feature_values=rows[list(contributions.columns)] if contributions is not None else None,
                  base_value=expected_log_odds(model),
                  data_checksum=dataset.checksum, files=dataset.files, summary=dataset.summary,
                  rejected=dataset.rejected, skipped=tuple(dataset.skipped),
                  previous_run=previous_dirs[-1].name if previous_dirs else None, timings=timings,
                  register_check=register_check)


def _register_check(dataset, out: Path, as_of: date, *, settings: Settings, lang: str, accept: bool) -> dict | None:
    """The register-loss guard (riskmodel.reports.register_guard): refuse before anything is written."""
    from riskmodel.i18n import text
    from riskmodel.reports.register_guard import previous_scored, register_loss

    students = dataset.table("students")
    schools = sorted(students["school"].astype(str).unique())
    compared = previous_scored(out, schools, as_of, earlier_runs(out, schools, as_of))
    if compared is None:
        return None
    check = register_loss(compared[1], students["pseudonym"], max_share=settings.warning.max_register_loss)
    check.update(previous_run=compared[0], accepted=bool(accept and check["refused"]))
    if check["refused"] and not accept:
        raise ContractError(text("data.error.register_loss", lang, missing=check["missing"],
                                 previous=check["previous_students"], run=compared[0], share=f"{check['share']:.1%}",
                                 limit=f"{check['max_share']:.0%}"))
    if check["refused"]:
        log.warning("register loss accepted: %d of %d students of the previous run are missing or rejected",
                    check["missing"], check["previous_students"])
    return check


# --------------------------------------------------------------------------------------------- publish
def _history(out: Path, schools: list[str], as_of: date) -> pd.DataFrame | None:
    frames = []
    for run_dir in earlier_runs(out, schools, as_of):
        path = run_dir / "report_data" / "list.parquet"
        if path.exists():
            frames.append(pd.read_parquet(path))
    return pd.concat(frames, ignore_index=True) if frames else None


def _cohort_mask(frame: pd.DataFrame, cohort: pd.Series) -> pd.Series:
    mask = frame["school"].astype(str) == cohort["school"]
    if cohort["level"] != "school":
        mask &= frame[cohort["level"]].astype(str) == cohort["name"]
    return mask


_LIST_JOB = "list:"  # key prefix of the pool jobs that write the lists


def _list_jobs(run_dir: Path, scored: Scored, cohorts: pd.DataFrame, *, lang: str, horizon_days: int) -> list[dict]:
    """Pool jobs that write each cohort's list (its students only) under ``lists/<key>/``.

    They run in the report pool ahead of the notebooks (riskmodel.reports.pool), so that the lists of
    twenty colleges are written on both cores instead of one; the notebooks read ``report_data/``,
    never these files.
    """
    jobs = []
    for _, cohort in cohorts.iterrows():
        rows = scored.warning_list.loc[_cohort_mask(scored.warning_list, cohort)]
        jobs.append({"key": f"{_LIST_JOB}{cohort['key']}", "call": ("riskmodel.warning.export", "write_warning_list"),
                     "args": (rows, run_dir / "lists" / cohort["key"]),
                     "kwargs": {"lang": lang, "horizon_days": horizon_days}})
    return jobs


def _jobs(run_dir: Path, cohorts: pd.DataFrame, *, as_of: date, lang: str, templates: Path | None,
          timeout: int) -> list[dict]:
    cohort_template = template(COHORT_NOTEBOOK, templates)
    # run_dir ".." from notebooks/: valid while the folder is built aside and after it is renamed, so an
    # executed copy can be re-run in JupyterLab where it lies
    jobs = [{"key": "data_quality", "template": str(template(QUALITY_NOTEBOOK, templates)),
             "parameters": {"run_dir": "..", "as_of": as_of.isoformat(), "lang": lang}}]
    for _, cohort in cohorts.iterrows():
        jobs.append({"key": cohort["key"], "template": str(cohort_template),
                     "parameters": {"run_dir": "..", "as_of": as_of.isoformat(), "cohort_level": cohort["level"],
                                    "cohort_id": cohort["key"], "lang": lang}})
    for job in jobs:
        check_parameters(Path(job["template"]), job["parameters"])  # unknown parameters fail before any runs
        job.update(ipynb=str(run_dir / "notebooks" / f"{job['key']}.ipynb"),
                   html=str(run_dir / "reports" / f"{job['key']}.html"), title=job["key"], timeout=timeout)
    private_dir(run_dir / "notebooks")
    private_dir(run_dir / "reports")
    return jobs


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _run_id(out: Path, as_of: date) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = f"run-{as_of.isoformat()}-{stamp}", 1
    while (out / run_id).exists() or any(out.glob(f".{run_id}.*")):
        n += 1
        run_id = f"run-{as_of.isoformat()}-{stamp}-{n}"
    return run_id


def publish(scored: Scored, out: str | Path, *, settings: Settings, lang: str | None = None, jobs: int | None = None,
            progress: bool = False, templates: Path | None = None, run_id: str | None = None,
            inputs: dict | None = None) -> RunResult:
    """Make the run folder from a scored list (steps 3 of the module docstring).

    Parameters
    ----------
    scored
        The scoring stage's output.
    out
        The reports folder; the run gets a new folder inside it.
    settings
        ``settings.reports`` (lang, jobs, small_cell); the whole settings go into the manifest.
    lang, jobs
        Override ``settings.reports.lang`` / ``.jobs``.
    progress
        Show a progress bar on standard error.
    templates
        Folder of the notebook templates (default: the repository's notebooks/).
    run_id
        The run's name (default ``run-<as_of>-<UTC time>``).
    inputs
        Data and model paths for the manifest.

    Returns
    -------
    RunResult
        ``exit_code`` 1 if a notebook failed (its executed copy is kept with the error).
    """
    out = Path(out).absolute()
    rs = settings.reports
    lang = lang or rs.lang
    workers = max(1, jobs or rs.jobs)
    if not out.exists():
        private_dir(out)  # an existing reports folder keeps the permissions the centre gave it
    held = _hold(out, scored.as_of)  # released in the finally below
    run_id = run_id or _run_id(out, scored.as_of)
    started_at = datetime.now(UTC)
    timings = dict(scored.timings)
    old_umask = os.umask(0o077)  # papermill and nbconvert write through open(): keep it owner-only
    try:
        with terminate_as_interrupt(), atomic_dir(out / run_id) as work:
            work.chmod(DIR_MODE)
            # the pool first: its workers spawn and their kernels boot and import while this process
            # writes the report data and the scores (riskmodel.reports.pool.ReportPool)
            with log_to(work / "run.log", scored.log_records), ReportPool(workers=workers, reuse_kernels=rs.reuse_kernels,
                                                      max_notebooks=rs.kernel_max_notebooks) as pool:
                log.info("run %s of %s: %d students scored", run_id, scored.as_of, len(scored.everyone))
                t0 = time.perf_counter()
                run_info = {"as_of": scored.as_of.isoformat(), "run_id": run_id, "lang": lang,
                            "model_version": scored.model_version, "small_cell": rs.small_cell,
                            "base_value": scored.base_value}
                history = _history(out, scored.schools, scored.as_of)
                cohorts = write_report_data(
                    work, warning_list=scored.everyone, tables=scored.tables, history=history,
                    contributions=scored.contributions, feature_values=scored.feature_values,
                    summary=scored.summary, rejected=scored.rejected,
                    skipped=list(scored.skipped), run_info=run_info, instruments=settings.instruments,
                    files=scored.files)
                if "state" in scored.everyone.columns:  # the review loop's queue for the cohort reports
                    from riskmodel.warning.cases import case_report_table

                    write_parquet(case_report_table(scored.everyone), work / "report_data" / "cases.parquet")
                timings["report_data"] = time.perf_counter() - t0
                from riskmodel.reports.register_guard import dropped_students

                dropped = dropped_students(scored.warning_list)  # by pseudonym only: never an ID
                run_info["dropped"] = dropped
                if scored.rejected is not None and len(scored.rejected):  # every rejected row with its reason
                    from riskmodel.data.validate import write_rejected

                    write_rejected(scored.rejected, work / REJECTED_FILE, lang=lang)
                    run_info["rejected_rows"] = len(scored.rejected)
                # The lists are the pool's first jobs, not written here meanwhile: on two cores a third process
                # exporting spreadsheets competed with the notebooks for the CPU (docs/reports.md, Performance).
                t0 = time.perf_counter()
                write_parquet(scored.warning_list, work / "warning_list.parquet")  # what the next run compares with
                write_scores(scored.everyone, work, run_id=run_id)  # every scored student (contract v2)
                timings["scores"] = time.perf_counter() - t0
                list_jobs = _list_jobs(work, scored, cohorts, lang=lang, horizon_days=settings.labels.horizon_days)
                job_list = _jobs(work, cohorts, as_of=scored.as_of, lang=lang, templates=templates,
                                 timeout=rs.notebook_timeout)
                t0 = time.perf_counter()
                with progress_bar(len(job_list), progress) as bar:
                    task = bar.add_task("reports", total=len(job_list)) if bar is not None else None

                    def done(key: str, outcome: dict) -> None:
                        if key.startswith(_LIST_JOB):
                            return
                        log.info("report %s: %s in %.1fs", key, outcome["status"], outcome["seconds"])
                        if bar is not None:
                            bar.advance(task)

                    outcomes = pool.run(list_jobs + job_list, on_done=done)
                timings["reports"] = time.perf_counter() - t0  # the lists' jobs included
                written = {key[len(_LIST_JOB):]: outcomes.pop(key) for key in [k for k in outcomes if k.startswith(_LIST_JOB)]}
                timings["lists"] = sum(o["seconds"] for o in written.values())  # worker seconds, within "reports"
                lists = {key: [o["result"][k] for k in ("xlsx", "csv", "parquet") if k in o["result"]]
                         for key, o in written.items()}
                outcomes = {key: _relative(work, outcome) for key, outcome in outcomes.items()}
                write_index(work, cohorts=cohorts, outcomes={k: _absolute(work, o) for k, o in outcomes.items()},
                            lists=lists, info=run_info, lang=lang)
                failed = sorted(k for k, o in outcomes.items() if o["status"] != "ok")
                if failed:
                    log.warning("%d report(s) failed: %s", len(failed), ", ".join(failed))
                manifest = {
                    "run_id": run_id, "as_of": scored.as_of.isoformat(), "schools": scored.schools, "lang": lang,
                    "started": started_at.isoformat(), "finished": datetime.now(UTC).isoformat(),
                    "outcome": "failed_reports" if failed else ("dropped_students" if dropped else "ok"),
                    "failed": failed, "dropped": dropped, "register_check": scored.register_check,
                    "inputs": {**(inputs or {}), "data_checksum": scored.data_checksum, "files": scored.files},
                    "model": {"version": scored.model_version,
                              **{k: scored.model_meta.get(k) for k in ("kind", "until", "horizon_days")}},
                    "previous_run": scored.previous_run,
                    "configuration": settings.as_dict(), "packages": _versions(), "jobs": workers,
                    "students_scored": int(len(scored.everyone)),
                    "levels": {lv: int((scored.everyone["level"] == lv).sum()) for lv in LEVELS},
                    "cohorts": cohorts.drop(columns="slug").to_dict(orient="records"),
                    "notebooks": outcomes, "skipped": list(scored.skipped) + _skipped_notes(scored.everyone, cohorts),
                    "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
                }
                write_text(work / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1, default=str))
                log.info("run %s complete: %d reports, %d failed", run_id, len(outcomes), len(failed))
        point_latest(out, run_id)
    finally:
        os.umask(old_umask)
        held.close()
    return RunResult(run_dir=out / run_id, run_id=run_id, outcomes=outcomes, manifest=manifest)


def _hold(out: Path, as_of: date) -> contextlib.ExitStack:
    """Take the lock of ``as_of``'s runs in ``out`` and remove stale partial folders; close it to release.

    Raises RunLockedError (exit 75) when a run of that date is writing to ``out`` (riskmodel.reports.runlog).
    """
    held = contextlib.ExitStack()
    held.enter_context(hold_run_lock(out, as_of))
    try:
        remove_stale_partials(out)
    except BaseException:
        held.close()
        raise
    return held


def _skipped_notes(everyone: pd.DataFrame, cohorts: pd.DataFrame) -> list[str]:
    """Students whose college (or grade) is empty: in their school's report and list only."""
    notes = []
    for school, level in cohorts.loc[cohorts["level"] != "school", ["school", "level"]].drop_duplicates().itertuples(
            index=False):
        missing = int(((everyone["school"] == school) & (everyone[level].astype(str) == "")).sum())
        if missing:
            notes.append(f"{missing} students of school {school!r} have no {level}: they appear in the school's "
                         "report and list only")
    return notes


def _relative(work: Path, outcome: dict) -> dict:
    fixed = dict(outcome)
    for key in ("notebook", "html"):
        if fixed.get(key):
            fixed[key] = Path(fixed[key]).relative_to(work).as_posix()
    return fixed


def _absolute(work: Path, outcome: dict) -> dict:
    fixed = dict(outcome)
    for key in ("notebook", "html"):
        if fixed.get(key):
            fixed[key] = work / fixed[key]
    return fixed


def run(data_dir: str | Path, model_dir: str | Path, as_of: date | str, out: str | Path, *, settings: Settings,
        lang: str | None = None, jobs: int | None = None, progress: bool = False,
        templates: Path | None = None, accept_register_loss: bool = False) -> RunResult:
    """The scheduled run (``riskmodel run``): pre-flight, score, publish. See the module docstring.

    Raises
    ------
    PreflightError, ContractError, ModelMismatchError
        Before anything is written.
    RunLockedError
        A run of the same as-of date is writing to ``out`` (exit status 75); nothing is written.
    """
    as_of = date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    out = Path(out).absolute()
    lang = lang or settings.reports.lang
    # one language for the whole run: the loader's notes and rejection reasons too, not only the reports
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
            remove_stale_partials(out)  # left by a killed run; they hold student IDs
            run_id = _run_id(out, as_of)
            scored = score(Path(data_dir), Path(model_dir), as_of, settings=settings, out=out, run_id=run_id,
                           lang=lang, accept_register_loss=accept_register_loss)
        scored.log_records = said
        inputs = {"data_dir": str(Path(data_dir).absolute()), "model_dir": str(Path(model_dir).absolute())}
        return publish(scored, out, settings=settings, lang=lang, jobs=jobs, progress=progress, templates=templates,
                       run_id=run_id, inputs=inputs)
