"""The files a run writes for its notebooks, and reading them back.

A notebook never reads the centre's data folder, the DuckDB store or the pseudonym key: it reads the
run folder's ``report_data/``, written once by :func:`write_report_data` before any notebook starts.
Every table there is keyed by ``pseudonym``; ``student_id`` and observation notes are dropped here,
so no report can show them.

``report_data/`` holds

* ``list.parquet``: this run's warning list (pseudonym, school, college, grade, class_id, dorm_id,
  level, score, rank, rules, factors, change, as_of), every scored student, ``level == "none"`` for
  those not listed;
* ``history.parquet``: the same columns for this run and every earlier run of the same school(s)
  (read only when asked for: :attr:`RunData.history`, the student file);
* ``levels.parquet``: students at each level at every run so far, per cohort (key, as_of, level,
  students): what the cohort reports' change and trend need, counted once here, because the history
  grows by a school's every student each month and each cohort report would otherwise read it all;
* ``feature_values.parquet``: pseudonym + the same students' value of each model feature (float32; text
  features as text): the student file's waterfall says each factor with the student's own value;
* ``contributions.parquet``: pseudonym + one float32 column per model feature (log-odds contribution);
* ``factors.parquet``: each cohort's mean (and mean absolute) contribution per feature;
* ``register.parquet``: each scored student's register row keyed by pseudonym (school, class, stage,
  gender, birth year, enrolment and exit dates, family flags): the student file's first section;
* ``screenings.parquet``: every administration scored (riskmodel.instruments.score: total, standard
  score, band, positive, critical items, classification, validity flags), no item answers;
* ``observations/life_events/counselling/reviews.parquet``: the records of the student file (no
  notes, no free text);
* ``summary.parquet``, ``rejected.parquet`` (counts by table, column and reason, no values),
  ``coverage.parquet`` (records per table and month) and ``skipped.json``: the data-quality report;
* ``cohorts.parquet``: one row per cohort report (key, level, school, name, slug);
* ``handover.parquet``: the summary a previous school sent with a student's records (docs/handover.md),
  one line per row (pseudonym, packet, lang, order, section, line) in every language, shown only when
  the packet's records end on or before the as-of date;
* ``run.json``: as_of, run_id, lang, model version, small-cell threshold.

Nothing dated after the run's as-of date enters ``report_data``: :func:`cut_at` is the one filter,
applied to every table before anything here reads it (a rerun of a past month, or a backfill of
later records, writes the same files byte for byte). Records carry a ``origin`` column when some
came from another school (``riskmodel handover import``): ``""`` for the centre's own records.

Example
-------
>>> # run = open_run("reports/run-2026-03-01-20260301T020000Z")
>>> # run.warning_list.groupby("level").size()
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.i18n import LANGUAGES
from riskmodel.outputs import atomic_path, private_dir, write_text
from riskmodel.reports.names import safe_component
from riskmodel.vocab import ALL_LEVELS, DATED_BY, FAMILY_FLAGS, K12_STAGES

__all__ = [
    "CUT_BY",
    "LEVELS",
    "LIST_COLUMNS",
    "RunData",
    "cohort_table",
    "cut_at",
    "open_run",
    "write_parquet",
    "write_report_data",
]

log = logging.getLogger(__name__)

LEVELS: tuple[str, ...] = ALL_LEVELS
LIST_COLUMNS: tuple[str, ...] = ("as_of", "pseudonym", "school", "college", "grade", "class_id", "dorm_id",
                                 "level", "score", "rank", "rules", "factors", "change", "path")
_STUDENT_TABLES = {
    "screenings": None,  # columns chosen in _student_table
    "observations": ["date", "source", "category", "severity"],  # never `note`
    "life_events": ["date", "event"],
    "counselling": ["date", "kind", "counsellor_rating"],
    "reviews": ["date", "level", "status", "next_review", "reviewer_role"],  # never `note` nor free-text `reason`
}
SCREENING_COLUMNS: tuple[str, ...] = ("date", "instrument", "total", "standard_score", "band", "positive", "critical",
                                      "critical_items", "classification", "lie_score", "invalid", "too_fast",
                                      "identical_run", "careless", "n_missing", "prorated")
REGISTER_COLUMNS: tuple[str, ...] = ("school", "college", "grade", "class_id", "stage", "gender", "birth_year",
                                     "enrollment_date", "exit_date", *FAMILY_FLAGS)
# the date that places each record in time: contract.yaml `dated_by` (riskmodel.vocab), the reviews of
# contract v2 where this installation's contract lacks them yet, calendar rows by their start
CUT_BY: dict[str, str] = {"reviews": "date", **DATED_BY, "calendar": "start"}


def write_parquet(frame: pd.DataFrame, target: Path) -> Path:
    """Write ``frame`` to ``target`` atomically (mode 0600)."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False)
    return target


def cut_at(tables: dict[str, pd.DataFrame], as_of) -> dict[str, pd.DataFrame]:
    """The tables as they stood on ``as_of``: the one filter every ``report_data`` table goes through.

    * every dated record (``CUT_BY``) after ``as_of`` is dropped, in every table, known or not;
    * ``students``: a student enrolled after ``as_of`` is dropped; an exit date after ``as_of`` is
      blanked (a withdrawal or transfer was not known then; a graduation date is re-added by the
      register at the run of that date);
    * ``reviews``: a ``next_review`` planned on or before ``as_of`` is kept (it is a date decided then).

    Example
    -------
    >>> t = {"students": pd.DataFrame({"student_id": ["a", "b"], "enrollment_date": pd.to_datetime(
    ...          ["2024-09-01", "2026-09-01"]), "exit_date": pd.to_datetime(["2026-07-01", None])}),
    ...      "life_events": pd.DataFrame({"student_id": ["a", "a"], "date": pd.to_datetime(["2025-01-01", "2026-01-01"]),
    ...                                   "event": ["illness", "breakup"]})}
    >>> cut = cut_at(t, "2025-06-01")
    >>> cut["students"]["exit_date"].isna().tolist(), cut["life_events"]["event"].tolist()
    ([True], ['illness'])
    """
    day = pd.Timestamp(as_of).normalize()
    out: dict[str, pd.DataFrame] = {}
    for name, table in tables.items():
        if name == "students":
            if "enrollment_date" in table.columns:
                table = table[~(pd.to_datetime(table["enrollment_date"]) > day)]
            if "exit_date" in table.columns:
                exit_date = pd.to_datetime(table["exit_date"])
                table = table.assign(exit_date=exit_date.where(~(exit_date > day)))
            out[name] = table.reset_index(drop=True)
            continue
        column = CUT_BY.get(name, "date")
        if column not in table.columns:
            out[name] = table
            continue
        out[name] = table[~(pd.to_datetime(table[column]) > day)].reset_index(drop=True)
    return out


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("")


def _report_list(warning_list: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """The warning list keyed by pseudonym, with grade, dorm and stage from the register."""
    extra = [c for c in ("grade", "dorm_id", "stage") if c in students.columns and c not in warning_list.columns]
    frame = warning_list
    if extra:
        frame = frame.merge(students[["student_id", *extra]].drop_duplicates("student_id"),
                            on="student_id", how="left", validate="many_to_one")
    out = pd.DataFrame(index=frame.index)
    for col in (*LIST_COLUMNS, "stage"):
        out[col] = frame[col] if col in frame.columns else pd.NA
    for col in ("school", "college", "grade", "class_id", "dorm_id", "rules", "factors", "change", "stage",
                "pseudonym", "level", "path"):
        out[col] = _text(out[col])
    out["level"] = out["level"].where(out["level"].isin(LEVELS), "none")
    out["score"] = pd.to_numeric(out["score"], errors="coerce").astype("float64")
    out["rank"] = pd.to_numeric(out["rank"], errors="coerce").astype("Int64")
    out["as_of"] = pd.to_datetime(out["as_of"])
    return out.reset_index(drop=True)


def cohort_table(report_list: pd.DataFrame) -> pd.DataFrame:
    """One row per cohort report: the school(s), then each college (university) or grade (K-12).

    Columns ``key, level, school, name, slug, students``. ``key`` is the notebook's ``cohort_id``
    (built from safe components, so it is also the report's file name).
    """
    rows = []
    for school, members in report_list.groupby("school", sort=True):
        school_slug = safe_component(school or "school")
        rows.append({"key": f"school-{school_slug}", "level": "school", "school": school, "name": school,
                     "slug": school_slug, "students": len(members)})
        k12 = members["stage"].isin(K12_STAGES).mean() > 0.5
        level = "grade" if k12 or (members["college"] == "").all() else "college"
        for name, group in members.groupby(level, sort=True):
            if name == "":
                continue  # students without a college/grade appear in the school report only
            slug = safe_component(name)
            rows.append({"key": f"{level}-{school_slug}-{slug}", "level": level, "school": school, "name": name,
                         "slug": slug, "students": len(group)})
    return pd.DataFrame(rows, columns=["key", "level", "school", "name", "slug", "students"])


def _cohort_factors(report_list: pd.DataFrame, contrib: pd.DataFrame, cohorts: pd.DataFrame) -> pd.DataFrame:
    """Mean contribution of every feature over each cohort's students (long: key, feature, mean, mean_abs).

    Computed once here so that each cohort report reads a small table instead of every student's
    contributions.
    """
    values = contrib.to_numpy(dtype="float64")
    rows = []
    for cohort in cohorts.itertuples(index=False):
        mask = (report_list["school"] == cohort.school).to_numpy()
        if cohort.level != "school":
            mask &= (report_list[cohort.level] == cohort.name).to_numpy()
        part = values[mask]
        rows.append(pd.DataFrame({"key": cohort.key, "feature": contrib.columns, "mean": part.mean(axis=0),
                                  "mean_abs": np.abs(part).mean(axis=0)}))
    return pd.concat(rows, ignore_index=True)


def _cohort_levels(history: pd.DataFrame, cohorts: pd.DataFrame) -> pd.DataFrame:
    """Students at each level at every run, per cohort (long: key, as_of, level, students).

    A row of the history belongs to a cohort by the school and college (or grade) it had at that
    run, as :meth:`RunData.members` decides.
    """
    columns = ["key", "as_of", "level", "students"]
    parts = []
    for kind, wanted in cohorts.groupby("level", sort=False):  # one groupby of the history per kind of cohort
        by = ["school"] if kind == "school" else ["school", kind]
        counts = history.groupby([*by, "as_of", "level"], observed=True).size().rename("students").reset_index()
        names = wanted[["key", "school", "name"]].rename(columns={"name": kind}) if kind != "school" else \
            wanted[["key", "school"]]
        parts.append(counts.merge(names, on=by, how="inner")[columns])
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(columns, ("string", "datetime64[ns]", "string",
                                                                                "int64"))})
    out = pd.concat(parts, ignore_index=True).sort_values(["key", "as_of", "level"], ignore_index=True)
    return out.astype({"key": "string", "level": "string", "students": "int64"})


def _scored_screenings(screenings: pd.DataFrame, students: pd.DataFrame, instruments) -> pd.DataFrame:
    """Every administration scored from its answers (the scores only: the answers stay in the data)."""
    if screenings.empty or not any(c.startswith("item_") for c in screenings.columns):
        return screenings  # already scored (a hand-made table) or nothing to score
    from riskmodel.config import InstrumentSettings
    from riskmodel.instruments import score

    stage = None
    if "stage" in students.columns:
        stage = screenings["student_id"].map(students.drop_duplicates("student_id").set_index("student_id")["stage"])
    scored = score(screenings.reset_index(drop=True), settings=instruments or InstrumentSettings(),
                   stage=None if stage is None else stage.reset_index(drop=True))
    if "origin" in screenings.columns:
        scored["origin"] = screenings["origin"].to_numpy()
    return scored


def _student_table(name: str, table: pd.DataFrame, pseudonyms: pd.Series) -> pd.DataFrame:
    if table.empty or "student_id" not in table.columns:
        return pd.DataFrame(columns=["pseudonym", "date"])
    wanted = SCREENING_COLUMNS if name == "screenings" else _STUDENT_TABLES[name]
    keep = [c for c in (*wanted, "origin") if c in table.columns]
    out = table[["student_id", *keep]].copy()
    if "origin" in out.columns:
        out["origin"] = _text(out["origin"])
    out.insert(0, "pseudonym", out["student_id"].map(pseudonyms))
    out = out.drop(columns="student_id").dropna(subset=["pseudonym"])
    order = ["pseudonym", "date", *(c for c in ("instrument", "source", "category", "event", "kind") if c in out)]
    return out.sort_values(order, kind="stable").reset_index(drop=True)


def _register(students: pd.DataFrame, pseudonyms: pd.Series) -> pd.DataFrame:
    """Each scored student's register row keyed by pseudonym (no student_id, no name)."""
    frame = students.drop_duplicates("student_id")
    frame = frame[frame["student_id"].isin(pseudonyms.index)]
    out = pd.DataFrame({"pseudonym": frame["student_id"].map(pseudonyms).to_numpy()})
    for col in REGISTER_COLUMNS:
        values = frame[col] if col in frame.columns else pd.Series(pd.NA, index=frame.index)
        if col == "birth_year" and "birth_date" in frame.columns:
            values = pd.to_numeric(values, errors="coerce").fillna(pd.to_datetime(frame["birth_date"]).dt.year)
        out[col] = values.to_numpy()
    for col in ("school", "college", "grade", "class_id", "stage", "gender"):
        out[col] = _text(out[col])
    out["birth_year"] = pd.to_numeric(out["birth_year"], errors="coerce").astype("Int64")
    for col in ("enrollment_date", "exit_date"):
        out[col] = pd.to_datetime(out[col])
    for col in FAMILY_FLAGS:
        out[col] = out[col].astype("boolean")
    return out.sort_values("pseudonym", ignore_index=True)


HANDOVER_COLUMNS = ("pseudonym", "packet", "lang", "order", "section", "line")
_SUMMARY_ORDER = ("problem", "causes", "behaviour", "family", "advice")  # the guidance's order (docs/handover.md)


def _handover(files: dict | None, pseudonyms: pd.Series, as_of: pd.Timestamp) -> pd.DataFrame:
    """The previous school's summary and levels of each student whose records came by handover, in every
    language (``lang``: the student file is made in either, whatever the run's language).

    Read from the ``_handover/<packet>.json`` record beside the handover files the loader read
    (``Dataset.files``); a packet whose records reach past ``as_of`` is left out (it was not known then).
    """
    return pd.concat([_handover_in(files, pseudonyms, as_of, lang) for lang in LANGUAGES], ignore_index=True)


def _handover_in(files: dict | None, pseudonyms: pd.Series, as_of: pd.Timestamp, lang: str) -> pd.DataFrame:
    from riskmodel.data.read import HANDOVER_PART
    from riskmodel.i18n import text
    from riskmodel.warning.localise import percent

    rows: list[dict] = []
    seen: set[str] = set()
    for stem, info in sorted((files or {}).items()):
        match = HANDOVER_PART.match(str(stem))
        if not match or match["packet"] in seen or not isinstance(info, dict) or not info.get("path"):
            continue
        seen.add(match["packet"])
        try:
            record = json.loads((Path(info["path"]).parent / "_handover" / f"{match['packet']}.json")
                                .read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        pseudonym, until = pseudonyms.get(str(record.get("student_id"))), record.get("records_until")
        if pseudonym is None or not until or pd.Timestamp(until) > as_of:
            continue
        summary = record.get("summary") or {}
        sender = record.get("sender") or {}
        previous = record.get("previous_school") or {}
        lines = [(text("student.handover.from", lang), text("student.handover.from_line", lang,
                  sender=sender.get("name") or sender.get("fingerprint", ""), school=previous.get("school") or "",
                  until=until))]
        for run in record.get("runs") or []:
            level = run.get("level")
            lines.append((text("student.handover.levels", lang), text(
                "handover.summary.level", lang, date=run.get("as_of"), score=percent(run.get("score")),
                level=text(f"level.{level}", lang) if level in LEVELS else str(level))))
        if summary.get("label"):  # generated by rules from records, not an assessment: said before the lines
            lines.append(("", str(summary["label"].get(lang, ""))))
        headings = (summary.get("headings") or {}).get(lang, {})
        texts = (summary.get("text") or {}).get(lang) or {}
        for section in sorted(texts, key=lambda name: (_SUMMARY_ORDER.index(name) if name in _SUMMARY_ORDER else 9, name)):
            lines += [(headings.get(section, section), str(t)) for t in texts[section]]
        rows += [{"pseudonym": pseudonym, "packet": match["packet"], "lang": lang, "order": i, "section": sec,
                  "line": line} for i, (sec, line) in enumerate(lines)]
    frame = pd.DataFrame(rows, columns=list(HANDOVER_COLUMNS))
    return frame.astype({"pseudonym": "string", "packet": "string", "lang": "string", "order": "int64",
                         "section": "string", "line": "string"})


def _coverage(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = []
    for name, table in tables.items():
        col = DATED_BY.get(name)
        if name == "outcomes" or col is None or col not in table.columns or table.empty:
            continue
        months = pd.to_datetime(table[col]).dt.to_period("M").dt.to_timestamp()
        counts = months.value_counts().rename_axis("month").reset_index(name="records")
        counts.insert(0, "table", name)
        parts.append(counts)
    if not parts:
        return pd.DataFrame(columns=["table", "month", "records"])
    counts = pd.concat(parts, ignore_index=True).pivot_table(index="month", columns="table", values="records",
                                                             aggfunc="sum", fill_value=0)
    # every month from the first to the last, zero where a source sent nothing: a gap must show as a gap
    counts = counts.reindex(pd.date_range(counts.index.min(), counts.index.max(), freq="MS"), fill_value=0)
    return (counts.rename_axis("month").reset_index().melt(id_vars="month", var_name="table", value_name="records")
            [["table", "month", "records"]].sort_values(["table", "month"], ignore_index=True))


def write_report_data(folder: Path, *, warning_list: pd.DataFrame, tables: dict[str, pd.DataFrame],
                      history: pd.DataFrame | None, contributions: pd.DataFrame | None,
                      feature_values: pd.DataFrame | None = None,
                      summary: pd.DataFrame | None, rejected: pd.DataFrame | None, skipped: list[str],
                      run_info: dict, instruments=None, files: dict | None = None) -> pd.DataFrame:
    """Write ``report_data/`` into the (unfinished) run folder ``folder``; return the cohort table.

    Parameters
    ----------
    folder
        The run folder being built.
    warning_list
        The whole school's list in the contract's form (with ``student_id``), every scored student.
    tables
        The dataset's canonical tables (``students`` at least), whole: they are cut at
        ``run_info["as_of"]`` here (:func:`cut_at`), before anything is read from them.
    history
        Earlier runs' report lists (same columns as ``list.parquet``), or ``None``.
    contributions
        Per-feature contributions, index aligned with ``warning_list``, or ``None``.
    feature_values
        The same rows' values of those features (the student file's waterfall says each with the student's
        value), or ``None``.
    summary, rejected, skipped
        What the loader read, rejected and skipped.
    run_info
        ``as_of, run_id, lang, model_version, small_cell`` for ``run.json``.
    instruments
        ``Settings.instruments`` for scoring the screenings (defaults when ``None``).
    files
        ``Dataset.files`` (what the loader read): where the records of a previous school came from.
    """
    data_dir = private_dir(folder / "report_data")
    tables = cut_at(tables, run_info["as_of"])  # the one place: nothing after the as-of date goes further
    students = tables["students"]
    report_list = _report_list(warning_list, students)
    write_parquet(report_list, data_dir / "list.parquet")
    earlier = history if history is not None and not history.empty else None
    if earlier is not None:  # a run made later but dated after this one is no history of it
        earlier = earlier[pd.to_datetime(earlier["as_of"]) <= pd.Timestamp(run_info["as_of"])]
    full_history = pd.concat([earlier, report_list], ignore_index=True) if earlier is not None else report_list
    write_parquet(full_history[list(LIST_COLUMNS)], data_dir / "history.parquet")
    if contributions is not None:
        contrib = contributions.reset_index(drop=True).astype("float32")
        contrib.insert(0, "pseudonym", report_list["pseudonym"].to_numpy())
        write_parquet(contrib, data_dir / "contributions.parquet")
    if feature_values is not None:
        columns = {"pseudonym": report_list["pseudonym"].to_numpy()}
        for name, column in feature_values.items():  # one frame built at once (the features' frame is fragmented)
            numeric = pd.api.types.is_numeric_dtype(column)
            columns[str(name)] = column.to_numpy(dtype="float32") if numeric else column.astype("string").array
        write_parquet(pd.DataFrame(columns), data_dir / "feature_values.parquet")
    pseudonyms = pd.Series(warning_list["pseudonym"].to_numpy(), index=warning_list["student_id"].to_numpy())
    write_parquet(_register(students, pseudonyms), data_dir / "register.parquet")
    write_parquet(_handover(files, pseudonyms, pd.Timestamp(run_info["as_of"])),
                  data_dir / "handover.parquet")
    for name in _STUDENT_TABLES:
        table = tables.get(name, pd.DataFrame())
        if name == "screenings":
            table = _scored_screenings(table, students, instruments)
        write_parquet(_student_table(name, table, pseudonyms), data_dir / f"{name}.parquet")
    summary = summary if summary is not None else pd.DataFrame()
    keep = [c for c in ("table", "file", "rows_read", "accepted", "rejected") if c in summary.columns]
    write_parquet(summary[keep], data_dir / "summary.parquet")
    rejected = rejected if rejected is not None else pd.DataFrame(columns=["table", "column", "reason"])
    counts = (rejected.groupby(["table", "column", "reason"], dropna=False).size().reset_index(name="rows")
              if not rejected.empty else pd.DataFrame(columns=["table", "column", "reason", "rows"]))
    write_parquet(counts.astype({"table": "string", "column": "string", "reason": "string"}),
                  data_dir / "rejected.parquet")
    write_parquet(_coverage(tables), data_dir / "coverage.parquet")
    write_text(data_dir / "skipped.json", json.dumps(list(skipped), ensure_ascii=False, indent=1))
    cohorts = cohort_table(report_list)
    write_parquet(cohorts, data_dir / "cohorts.parquet")
    write_parquet(_cohort_levels(full_history, cohorts), data_dir / "levels.parquet")
    if contributions is not None:
        write_parquet(_cohort_factors(report_list, contrib.drop(columns="pseudonym"), cohorts),
                      data_dir / "factors.parquet")
    write_text(data_dir / "run.json", json.dumps(run_info, ensure_ascii=False, indent=1, default=str))
    log.info("report data written: %d students, %d cohorts", len(report_list), len(cohorts))
    return cohorts


@dataclass(frozen=True)
class RunData:
    """What a notebook reads from one run folder (see the module docstring)."""

    run_dir: Path
    info: dict
    warning_list: pd.DataFrame
    cohorts: pd.DataFrame
    levels: pd.DataFrame
    _tables: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # read by table()

    @property
    def as_of(self) -> pd.Timestamp:
        """The run's as-of date."""
        return pd.Timestamp(self.info["as_of"])

    @property
    def small_cell(self) -> int:
        """Aggregate counts below this are shown as ``<n``."""
        return int(self.info.get("small_cell", 5))

    @cached_property
    def history(self) -> pd.DataFrame:
        """This run's list and every earlier run's (``history.parquet``), read on first use."""
        return pd.read_parquet(self.run_dir / "report_data" / "history.parquet")

    def table(self, name: str) -> pd.DataFrame:
        """Another ``report_data`` table by name (``screenings``, ``coverage``, ``contributions`` ...).

        Read once per RunData (a report's sections share it); each call returns a copy of its own.
        """
        if name not in self._tables:
            path = self.run_dir / "report_data" / f"{name}.parquet"
            self._tables[name] = pd.read_parquet(path) if path.exists() else pd.DataFrame()
        return self._tables[name].copy()

    def cohort(self, level: str, cohort_id: str) -> pd.Series:
        """The cohort row for ``cohort_id`` (empty id at level ``school``: the first school)."""
        cohorts = self.cohorts
        if level == "school" and cohort_id == "":
            match = cohorts[cohorts["level"] == "school"].head(1)
        else:
            match = cohorts[(cohorts["key"] == cohort_id) & (cohorts["level"] == level)]
        if match.empty:
            known = ", ".join(cohorts.loc[cohorts["level"] == level, "key"].head(5))
            raise KeyError(f"{self.run_dir}: no {level} cohort {cohort_id!r}; some that exist: {known}")
        return match.iloc[0]

    def members(self, frame: pd.DataFrame, level: str, cohort_id: str) -> pd.DataFrame:
        """The rows of ``frame`` (list or history) that belong to the cohort: its students only."""
        row = self.cohort(level, cohort_id)
        mask = frame["school"] == row["school"]
        if level != "school":
            mask &= frame[level] == row["name"]
        return frame[mask]

    def level_counts(self, level: str, cohort_id: str) -> pd.DataFrame:
        """Students at each level (columns I, II, III, none) at every run so far (rows: as-of dates)."""
        key = self.cohort(level, cohort_id)["key"]
        rows = self.levels[self.levels["key"] == key]
        counts = rows.pivot_table(index="as_of", columns="level", values="students", aggfunc="sum", fill_value=0)
        return counts.reindex(columns=list(LEVELS), fill_value=0).astype("int64").sort_index()


def open_run(run_dir: str | Path) -> RunData:
    """Read a run folder's ``report_data`` (what every notebook does first).

    The history of earlier runs is read only when asked for (:attr:`RunData.history`); a run
    folder written before ``levels.parquet`` existed gets its level counts from the history.

    Raises
    ------
    FileNotFoundError
        ``run_dir`` is not a run folder (no ``report_data/run.json``).
    """
    run_dir = Path(run_dir)
    data_dir = run_dir / "report_data"
    if not (data_dir / "run.json").exists():
        raise FileNotFoundError(f"{run_dir}: not a riskmodel run folder (no report_data/run.json); pass the "
                                "folder `riskmodel run` or `riskmodel demo` wrote.")
    info = json.loads((data_dir / "run.json").read_text(encoding="utf-8"))
    cohorts = pd.read_parquet(data_dir / "cohorts.parquet")
    levels_path = data_dir / "levels.parquet"
    levels = (pd.read_parquet(levels_path) if levels_path.exists()
              else _cohort_levels(pd.read_parquet(data_dir / "history.parquet"), cohorts))
    return RunData(run_dir=run_dir, info=info, warning_list=pd.read_parquet(data_dir / "list.parquet"),
                   cohorts=cohorts, levels=levels)
