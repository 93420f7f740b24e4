"""riskmodel.synth: a reproducible synthetic student population whose true risk is known.

No real student's data may enter this repository, yet every notebook, test, benchmark and demo needs
data that behaves like a psychology centre's. This generator writes every table of the data contract
(riskmodel/data/contract.yaml) plus, apart in ``_truth/``, each student's latent state and monthly
outcome probability, which no modelling code reads (the model benchmark uses it as the ceiling).

The generative story (docs/synthetic.md tells it at length; every number is in
:mod:`riskmodel.synth.params`)
------------------------------------------------------------------------------------------------
1. **Register.** A university (one school, 20 colleges, classes of ~30, dorms of 4-6, cohorts entering
   each September, the older ones before the window) or a K-12 district (primary, junior and senior
   schools, classes of ~40). Family and social flags (left-behind, single-parent, divorced,
   reconstituted, economic hardship, disability, only child, migrant) are drawn at realistic rates.
2. **Vulnerability.** Each student has a stable mean distress: an unexplained trait plus a shift for
   each flag (and for women/girls). Flags thus raise both screen scores and outcome risk, with odds
   ratios of about 1.5-2.5 (DOMAIN.md 3.2).
3. **Monthly distress.** The deviation from that mean is AR(1) (persistence 0.75). The school
   calendar adds strain in exam weeks and at term starts and relief in holidays; freshmen's first two
   months and the graduating spring add strain; in a district distress rises with grade. Life events
   (breakup, bereavement, bullying, exam failure, ...) strike at monthly rates that rise with
   vulnerability and add a jump that persists through the AR(1).
4. **Questionnaires.** Screening waves (UPI at university entry, PHQ-9/GAD-7 yearly, SCL-90 in the
   first spring; MHT and PHQ-9/GAD-7 in schools; SDS/SAS at interviews) are answered item by item from
   a graded-response model at the month's distress plus state noise: reverse items in reverse, critical
   items (PHQ-9 item 9, UPI item 25) rare and concentrated at high distress, a few percent careless
   (too fast, identical answers), some students missing a wave.
5. **The centre responds.** A positive screen leads to an interview (counsellor rating 1-4), often
   SDS/SAS, and for rating >= 2 a course of sessions; rating 4 may lead to a referral. Treatment lowers
   distress and the outcome hazard for six months: **the intervention effect** -- a model trained on
   this data sees positive screens followed by fewer outcomes than their distress implies, which the
   model audit must document.
6. **Acute phases.** Each month a student may enter an acute phase (a crisis state of a few weeks,
   :mod:`riskmodel.synth.acute`), more likely at high distress, after a life event, less under
   treatment. It is part of the latent path: it raises the outcome hazard about twentyfold while it
   lasts, and the people around the student write observation entries during it, whether or not an
   outcome follows. About half of all outcomes fall in an acute phase.
7. **Outcomes.** Each month an outcome (suicidal ideation confirmed at interview, self-harm, crisis
   intervention, attempt, psychiatric diagnosis or admission, medical leave) occurs with probability
   sigmoid(a + 1.1 * distress + history - treatment + 3 on acute days); an earlier outcome raises the
   hazard for a year. No record is ever drawn given a later outcome, so the truth is the ceiling.
   About 0.5-2% of students have one in a 90-day window. Outcomes bring follow-ups, hospital stays and
   leaves of absence into the counselling records.
8. **Signals.** Observation-log entries, unexcused absences and leave thicken with distress; about
   half of the acute phases are noticed (entries of high severity during the phase); term grades fall
   and failed courses rise with distress.
9. **Under-recording** (optional): ``under_recorded=("left_behind", 0.3)`` records the outcomes of a
   group only with that probability (the truth keeps them), to plant an unfairness for the audit.

Example
-------
>>> cohort = generate(students=300, years=1, seed=1)
>>> sorted(cohort.tables)[:3]
['academics', 'attendance', 'calendar']
>>> cohort.tables["students"]["student_id"].is_unique
True
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.errors import ConfigError
from riskmodel.synth import params, records
from riskmodel.synth.calendar import calendar_table, month_calendar, month_starts
from riskmodel.synth.population import register
from riskmodel.synth.reviews import simulate_reviews
from riskmodel.synth.simulate import simulate
from riskmodel.synth.writer import FILES, write_table, write_truth

__all__ = ["SynthCohort", "generate", "write", "group_mask", "parse_under_recorded", "DEFAULT_START", "STAGES",
           "generate_schools", "write_schools", "school_seed"]

log = logging.getLogger(__name__)
DEFAULT_START = date(2022, 9, 1)
STAGES = ("university", "k12")
_TABLE_ORDER = ("students", "screenings", "observations", "life_events", "academics", "attendance",
                "counselling", "reviews", "outcomes", "calendar")


@dataclass(frozen=True)
class SynthCohort:
    """A generated cohort.

    Attributes
    ----------
    tables
        Contract table name -> DataFrame in the canonical form of ``riskmodel.data.Dataset`` (contract
        column names and enum spellings, ``datetime64[ns]`` dates, ``boolean`` flags, ``float32`` items
        with NaN past an instrument's length; no ``name`` and no ``pseudonym``), so
        ``Dataset(tables=cohort.tables)`` works without files. The written files add an invented
        ``name`` column and integer items, as exports do.
    truth
        ``students`` (latent vulnerability, trait, ability, under-recorded group, outcome counts),
        ``student_months`` (distress, share of the month in an acute phase, monthly hazard, 90-day risk
        on the realised path and from the month's state, treatment, the year after an outcome, leave;
        enrolled months only), ``outcomes`` (every one, with ``recorded`` and ``in_acute``) and
        ``life_events`` (every one, with ``recorded``).
    stage, seed, start, end
        How it was generated (``end`` exclusive).
    """

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    stage: str
    seed: int
    start: date
    end: date


def _check(students: int, years: int, stage: str, under_recorded) -> None:
    if stage not in STAGES:
        raise ConfigError(f"stage {stage!r} is not one of {STAGES}; use --stage university or --stage k12.")
    if not 1 <= years <= 12:
        raise ConfigError(f"years={years}: give a window of 1 to 12 years.")
    if not 20 <= students <= 2_000_000:
        raise ConfigError(f"students={students}: give between 20 and 2,000,000 students.")
    if under_recorded is not None:
        if len(under_recorded) != 2 or not 0.0 <= float(under_recorded[1]) <= 1.0:
            raise ConfigError(f"under_recorded={under_recorded!r}: give (group, probability) with a "
                              "probability from 0 to 1, e.g. ('left_behind', 0.3) or ('gender=F', 0.5).")


def parse_under_recorded(value: str) -> tuple[str, float]:
    """``"left_behind:0.3"`` or ``"gender=F:0.5"`` -> ``(group, probability)`` (the CLI's spelling).

    Example
    -------
    >>> parse_under_recorded("gender=F:0.5")
    ('gender=F', 0.5)
    """
    group, sep, probability = value.rpartition(":")
    try:
        if not sep or not group:
            raise ValueError
        return group.strip(), float(probability)
    except ValueError:
        raise ConfigError(f"--under-recorded {value!r}: write GROUP:PROBABILITY, e.g. left_behind:0.3 "
                          "or gender=F:0.5.") from None


def group_mask(students: pd.DataFrame, spec: str) -> np.ndarray:
    """Students of a group named by a register flag (``left_behind``) or ``column=value`` (``gender=F``).

    Example
    -------
    >>> frame = pd.DataFrame({"gender": ["F", "M"], "left_behind": pd.array([True, pd.NA], dtype="boolean")})
    >>> group_mask(frame, "gender=F").tolist(), group_mask(frame, "left_behind").tolist()
    ([True, False], [True, False])
    """
    if "=" in spec:
        column, value = (part.strip() for part in spec.split("=", 1))
        if column not in students.columns or column.startswith("_"):
            raise ConfigError(f"under_recorded group {spec!r}: the students table has no column {column!r}; "
                              f"use one of {sorted(c for c in students.columns if not c.startswith('_'))}.")
        return students[column].astype(str).eq(value).to_numpy()
    flags = [f for f in params.FLAG_PREVALENCE["university"]]
    if spec not in flags:
        raise ConfigError(f"under_recorded group {spec!r}: name a register flag ({', '.join(flags)}) "
                          "or write column=value, e.g. gender=F.")
    return students[spec].fillna(False).to_numpy(dtype=bool)


def generate(*, students: int = 20000, years: int = 4, stage: str = "university", seed: int = 0,
             start: date | None = None, under_recorded: tuple[str, float] | None = None) -> SynthCohort:
    """Generate a synthetic cohort (see the module docstring for the story).

    Parameters
    ----------
    students
        Roughly the number of distinct students in the register.
    years
        Length of the window in years, from ``start``.
    stage
        ``"university"`` (one school, colleges, dorms) or ``"k12"`` (a district of schools).
    seed
        Same seed, same cohort, byte for byte once written.
    start
        First day of the window; default 2022-09-01.
    under_recorded
        ``(group, probability)``: outcomes of the group are recorded with that probability only.

    Returns
    -------
    SynthCohort

    Raises
    ------
    ConfigError
        For an unknown stage or group, or out-of-range sizes.
    """
    _check(students, years, stage, under_recorded)
    start = start or DEFAULT_START
    end = date(start.year + years, start.month, min(start.day, 28))
    rng = np.random.default_rng(seed)
    reg = register(rng, students=students, stage=stage, start=start, end=end)
    calendar = calendar_table(stage, start, end, schools=reg[["school", "stage"]])
    months = month_starts(start, end)
    mc = month_calendar(calendar, months, stage)
    sim = simulate(reg, mc, stage, rng)
    family = "university" if stage == "university" else "k12"

    def keep(frame: pd.DataFrame, column: str = "date") -> pd.DataFrame:
        return records.inside_enrolment(frame, reg, sim.exit_date, start, end, column)

    every_outcome = keep(records.outcomes(sim))
    in_group = (group_mask(reg, under_recorded[0]) if under_recorded else np.zeros(len(reg), bool))
    probability = float(under_recorded[1]) if under_recorded else 1.0
    recorded = ~in_group[every_outcome["idx"].to_numpy()] | (rng.random(len(every_outcome)) < probability)
    every_outcome = every_outcome.assign(recorded=recorded)
    outcome_table = every_outcome[recorded]
    lost = set(every_outcome.loc[~recorded, "outcome_id"].tolist())
    counselling = keep(records.counselling(sim))
    counselling = counselling[~counselling["outcome_id"].isin(lost)]
    events = keep(records.life_events(sim, rng))
    raw = {
        "screenings": keep(records.screenings(sim)).drop_duplicates(["idx", "date", "instrument"]),
        # acute-phase entries are seen whether or not an outcome follows or is recorded
        "observations": keep(records.observations(sim, family, rng)),
        "life_events": events[events["recorded"]].drop(columns="recorded"),
        "academics": keep(records.academics(sim, reg, months, mc.term_ends, stage, rng), "term_end"),
        "attendance": keep(records.attendance(sim)),
        "counselling": counselling.drop(columns="outcome_id"),
        "outcomes": outcome_table.drop(columns=["outcome_id", "recorded", "in_acute"]),
    }
    # the review loop: from the records and the latent state only, with its own generator (so every other
    # table is the same with or without it)
    loop = simulate_reviews(sim, screenings=raw["screenings"], observations=raw["observations"],
                            outcomes=raw["outcomes"], counselling=raw["counselling"], months=months, family=family,
                            end=end, seed=seed)
    loop = keep(loop)
    raw["reviews"] = loop[["idx", "date", "level", "status", "next_review", "reviewer_role", "reason", "note"]]
    ids = reg["student_id"].to_numpy()
    tables = {"students": _students_table(reg, sim.exit_date)}
    for name, frame in raw.items():
        tables[name] = _with_ids(frame, ids)
    tables["calendar"] = calendar
    tables = {name: _canonical(name, tables[name]) for name in _TABLE_ORDER}
    truth = _truth(reg, sim, months, every_outcome, events, in_group)
    truth["reviews"] = _with_ids(loop[["idx", "date", "level", "true_level", "seen_rating", "true_rating",
                                       "distress", "in_acute"]], ids)
    log.info("synthetic %s cohort: %d students, %d screenings, %d outcomes", stage, len(reg),
             len(tables["screenings"]), len(tables["outcomes"]))
    return SynthCohort(tables=tables, truth=truth, stage=stage, seed=seed, start=start, end=end)


def _canonical(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table as ``riskmodel.data.load_dataset`` gives it back (less ``pseudonym``): every contract
    column in contract order (absent ones empty), ``Int64`` integers, ``None`` for empty text,
    ``item_1 .. item_100`` on screenings."""
    from riskmodel.data.dataset import contract
    from riskmodel.instruments.specs import MAX_ITEMS

    spec = contract()["tables"][name]["columns"]
    dtypes = {"date": "datetime64[ns]", "bool": "boolean", "int": "Int64", "number": "float64"}
    columns = {}
    for column, meta in spec.items():
        if name == "students" and column == "name":
            continue
        kind = dtypes.get(meta["type"], "object")
        values = frame[column] if column in frame.columns else pd.Series(index=frame.index, dtype=kind)
        if kind == "object":
            values = values.astype(object).where(values.notna() & values.ne(""), None)
        columns[column] = values.astype(kind) if kind != "object" else values
    if name == "screenings":
        for k in range(1, MAX_ITEMS + 1):
            column = f"item_{k}"
            columns[column] = (frame[column] if column in frame.columns
                               else pd.Series(np.nan, index=frame.index, dtype=np.float32))
    return pd.DataFrame(columns, index=frame.index).reset_index(drop=True)


def _students_table(reg: pd.DataFrame, exit_date: np.ndarray) -> pd.DataFrame:
    table = reg[[c for c in reg.columns if not c.startswith("_")]].copy()
    table["exit_date"] = pd.to_datetime(exit_date).astype("datetime64[ns]")
    return table.reset_index(drop=True)


def _with_ids(frame: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    dated = "term_end" if "term_end" in frame.columns else "date"
    out = frame.copy()
    out.insert(0, "student_id", ids[out.pop("idx").to_numpy()])
    out[dated] = pd.to_datetime(out[dated].to_numpy().astype("datetime64[D]")).astype("datetime64[ns]")
    sort = [dated, "student_id"] + (["instrument"] if "instrument" in out.columns else [])
    return out.sort_values(sort, kind="stable").reset_index(drop=True)


def _truth(reg: pd.DataFrame, sim, months: np.ndarray, outcomes: pd.DataFrame, events: pd.DataFrame,
           in_group: np.ndarray) -> dict[str, pd.DataFrame]:
    ids = reg["student_id"].to_numpy()
    n, n_months = sim.hazard.shape
    survive = 1.0 - sim.hazard.astype(np.float64)
    window = np.full((n, n_months), np.nan)
    if n_months >= 3:  # 90 days ~ this month and the next two, on the realised latent path (an oracle)
        window[:, : n_months - 2] = 1.0 - survive[:, :-2] * survive[:, 1:-1] * survive[:, 2:]
    rows, cols = np.nonzero(sim.active)
    student_months = pd.DataFrame({
        "student_id": ids[rows], "month": pd.to_datetime(months[cols]).astype("datetime64[ns]"),
        "distress": sim.distress[rows, cols], "acute": sim.acute[rows, cols], "hazard": sim.hazard[rows, cols],
        "risk_90d": window[rows, cols].astype(np.float32),
        "risk_90d_state": (1.0 - survive[rows, cols] ** 3).astype(np.float32),
        "treated": sim.treated[rows, cols], "after_outcome": sim.after_outcome[rows, cols],
        "on_leave": sim.on_leave[rows, cols]})
    true_counts = np.bincount(outcomes["idx"], minlength=n)
    recorded_counts = np.bincount(outcomes.loc[outcomes["recorded"], "idx"], minlength=n)
    students = pd.DataFrame({
        "student_id": ids, "vulnerability": sim.mu.astype(np.float32), "trait": sim.trait.astype(np.float32),
        "ability": sim.ability.astype(np.float32), "under_recorded_group": in_group,
        "ever_treated": sim.treated.any(axis=1), "outcomes_true": true_counts, "outcomes_recorded": recorded_counts})
    return {
        "students": students, "student_months": student_months,
        "outcomes": _with_ids(outcomes.drop(columns="outcome_id"), ids),
        "life_events": _with_ids(events, ids),
    }


def write(cohort: SynthCohort, out_dir: str | Path) -> None:
    """Write ``cohort`` to the new folder ``out_dir`` in mixed formats, plus ``_truth/``.

    The folder is built aside and renamed into place when complete (owner-only, files mode 0600); an
    existing empty folder is replaced, a non-empty one is refused. See :mod:`riskmodel.synth.writer` for
    which table goes to which format and encoding.

    Raises
    ------
    ConfigError
        When ``out_dir`` exists and is not empty.

    Example
    -------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "demo"
    >>> write(generate(students=200, years=1), folder)
    >>> sorted(p.name for p in folder.iterdir())[:3]
    ['_truth', 'academics.csv', 'attendance.parquet']
    """
    from riskmodel.i18n import text
    from riskmodel.outputs import atomic_dir

    target = Path(out_dir)
    if target.exists():
        if not target.is_dir() or any(target.iterdir()):
            raise ConfigError(text("synth.not_empty", "en", out=target))
        target.rmdir()
    with atomic_dir(target) as folder:
        for name, frame in cohort.tables.items():
            write_table(frame, folder, name, seed=cohort.seed)
        write_truth(cohort.truth, folder)
    log.info("wrote %d tables and the truth", len(FILES))


def school_seed(seed: int, school: int) -> int:
    """The seed of school ``school`` (1-based) of a multi-school district generated with ``seed``."""
    return int(np.random.SeedSequence([seed, school]).generate_state(1, dtype=np.uint32)[0])


def _renamed(cohort: SynthCohort, school: int) -> SynthCohort:
    """``cohort`` as school ``school`` of a district: its school names and student IDs made unique."""
    prefix = f"{school:05d}"

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if "student_id" in frame.columns:
            frame["student_id"] = prefix + frame["student_id"].astype(str)
        if "school" in frame.columns:
            named = frame["school"].notna()
            frame.loc[named, "school"] = frame.loc[named, "school"].astype(str) + f"{school:05d}"
        return frame

    return SynthCohort(tables={k: rename(v) for k, v in cohort.tables.items()},
                       truth={k: rename(v) for k, v in cohort.truth.items()}, stage=cohort.stage,
                       seed=cohort.seed, start=cohort.start, end=cohort.end)


def generate_schools(*, schools: int, students: int = 20000, years: int = 4, stage: str = "university",
                     seed: int = 0, start: date | None = None,
                     under_recorded: tuple[str, float] | None = None) -> Iterator[SynthCohort]:
    """The schools of a synthetic district one at a time (memory: one school's), each a :func:`generate`
    cohort of about ``students`` students with its own seed (:func:`school_seed`).

    School ``k`` (1-based) has its school name(s) suffixed with ``k`` in five digits (青溪大学00003) and
    its student IDs prefixed with it (00003 + the school's own 学号), so IDs are unique in the district.
    A ``k12`` part is a small district itself (the generator's six schools), so it adds six schools.
    With ``schools=1`` this is ``generate(...)`` unchanged.
    """
    if not 1 <= schools <= 100_000:
        raise ConfigError(f"schools={schools}: give between 1 and 100,000 schools.")
    if schools == 1:
        yield generate(students=students, years=years, stage=stage, seed=seed, start=start,
                       under_recorded=under_recorded)
        return
    for k in range(1, schools + 1):
        cohort = generate(students=students, years=years, stage=stage, seed=school_seed(seed, k), start=start,
                          under_recorded=under_recorded)
        yield _renamed(cohort, k)


def write_schools(cohorts: Iterable[SynthCohort], out_dir: str | Path) -> dict[str, int]:
    """Write a multi-school district school by school into the new folder ``out_dir``; rows per table.

    Each table is one file as :func:`write` makes it (same formats and encodings), appended school by
    school: CSV text after one header, Parquet one row group per school, so memory holds one school at a
    time. The calendar (small: one row per term and exam) is gathered and written once at the end;
    ``_truth/`` holds one Parquet file per truth table and school (``_truth/<name>/<k>.parquet``).
    Every optional column is written, even when empty in a school, so that all schools' parts agree.
    The folder is built aside and renamed into place when complete, as :func:`write` does.
    """
    from riskmodel.i18n import text
    from riskmodel.outputs import atomic_dir
    from riskmodel.synth.writer import TableAppender, write_table

    target = Path(out_dir)
    if target.exists():
        if not target.is_dir() or any(target.iterdir()):
            raise ConfigError(text("synth.not_empty", "en", out=target))
        target.rmdir()
    rows: dict[str, int] = {}
    with atomic_dir(target) as folder:
        appenders = {name: TableAppender(folder, name) for name in FILES if name != "calendar"}
        calendars = []
        try:
            for k, cohort in enumerate(cohorts, start=1):
                for name, frame in cohort.tables.items():
                    rows[name] = rows.get(name, 0) + len(frame)
                    if name == "calendar":
                        calendars.append(frame)
                    else:
                        appenders[name].append(frame, seed=school_seed(cohort.seed, k))
                write_truth(cohort.truth, folder, part=k)
                log.info("school %d written: %d students", k, len(cohort.tables["students"]))
        finally:
            for appender in appenders.values():
                appender.close()
        calendar = pd.concat(calendars, ignore_index=True).drop_duplicates(ignore_index=True)
        calendar = calendar.sort_values(["start", "end", "kind"], kind="stable").reset_index(drop=True)
        rows["calendar"] = len(calendar)
        write_table(calendar, folder, "calendar")
    return rows
