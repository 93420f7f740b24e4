"""Build the point-in-time feature matrix: one row per (student enrolled on as-of, as-of date).

This module is the one place where the future is cut away. :func:`prepare` sorts every dated table
once by (student, date) into a :class:`~riskmodel.features.timeline.Timeline` (scoring the
screenings once with ``riskmodel.instruments.score``: an administration's score depends on that
administration only). :meth:`FeatureSource.at` then makes, for one as-of date, a
:class:`~riskmodel.features.timeline.Cut` of each table that reaches rows dated on or before as-of
and nothing else, and hands those cuts to the feature families. No family filters dates itself.

Two facts are deliberately not features: ``exit_date`` (it decides who is enrolled on the date and
nothing more) and any record dated after as-of. The calendar is a published schedule and is read
whole (see ``riskmodel.features.calendar``).

Example
-------
>>> import pandas as pd
>>> from riskmodel.config import Settings
>>> from riskmodel.data import Dataset
>>> students = pd.DataFrame({"student_id": ["s1"], "school": ["A"], "class_id": ["c1"],
...     "stage": ["university"], "gender": ["F"], "enrollment_date": pd.to_datetime(["2024-09-01"])})
>>> screenings = pd.DataFrame({"student_id": ["s1"], "date": pd.to_datetime(["2025-03-01"]),
...     "instrument": ["PHQ9"], **{f"item_{k}": [1.0] for k in range(1, 10)}})
>>> m = build_features(Dataset(tables={"students": students, "screenings": screenings}),
...                    ["2025-02-01", "2025-04-01"], settings=Settings())
>>> m[["as_of", "phq9_total_latest", "phq9_item9_latest"]].to_dict("list")["phq9_total_latest"]
[nan, 9.0]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError
from riskmodel.features import (
    academics,
    attendance,
    calendar,
    cohort,
    counselling,
    history,
    life_events,
    observations,
    register,
    screening,
    trajectory,
)
from riskmodel.features.catalogue import catalogue
from riskmodel.features.context import Context
from riskmodel.features.timeline import Timeline, day_number
from riskmodel.vocab import DATED_BY

__all__ = ["build_features", "prepare", "FeatureSource", "as_of_list", "EVENT_TABLES", "feature_frame", "enrolment",
           "enrolled_mask"]

log = logging.getLogger(__name__)

# family name (as in catalogue.yaml) -> module; cohort last: it compares features computed before it
FAMILY_MODULES = {
    "screening": screening, "observations": observations, "life_events": life_events,
    "academics": academics, "attendance": attendance, "counselling": counselling,
    "history": history, "register": register, "calendar": calendar, "trajectory": trajectory, "cohort": cohort,
}
# dated tables a family may read, with the column that dates each row
EVENT_TABLES = dict(DATED_BY)


def as_of_list(as_of_dates) -> list[pd.Timestamp]:
    """One date or many (str, date, Timestamp) as sorted unique midnight Timestamps."""
    if isinstance(as_of_dates, (str, pd.Timestamp, np.datetime64)) or not isinstance(as_of_dates, Iterable):
        as_of_dates = [as_of_dates]
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(list(as_of_dates))).normalize()
    except (ValueError, TypeError) as exc:
        raise ContractError(f"as-of dates {as_of_dates!r}: not dates ({exc}); write them as YYYY-MM-DD.") from None
    if dates.hasnans:
        raise ContractError("as-of dates: an empty date was given; write each as YYYY-MM-DD.")
    return sorted(set(dates))


def _register(students: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Positional register without exit_date, plus enrolment and exit days (exit: NaN if none)."""
    for col in ("student_id", "school", "class_id", "stage", "gender", "enrollment_date"):
        if col not in students.columns:
            raise ContractError(f"students: column {col!r} is missing; found {sorted(map(str, students.columns))}. "
                                "Load the data with riskmodel.data.load_dataset, which maps and checks it.")
    ids = students["student_id"].astype(str)
    dup = ids.duplicated()
    if dup.any():
        raise ContractError(f"students: student_id is not unique ({int(dup.sum())} repeated rows, first at row "
                            f"{int(np.flatnonzero(dup.to_numpy())[0]) + 2}); one row per student.")
    reg = students.drop(columns=[c for c in ("exit_date", "name") if c in students.columns]).reset_index(drop=True)
    reg["student_id"] = ids.to_numpy()
    enrolled = day_number(students["enrollment_date"]).astype(np.float64)
    enrolled[pd.isna(students["enrollment_date"]).to_numpy()] = np.nan
    if "exit_date" in students.columns:
        exit_days = day_number(students["exit_date"]).astype(np.float64)
        exit_days[pd.isna(students["exit_date"]).to_numpy()] = np.nan
    else:
        exit_days = np.full(len(students), np.nan)
    reg["_enrolled_day"] = enrolled
    birth = np.full(len(reg), np.nan)
    if "birth_year" in reg.columns:
        year = pd.to_numeric(reg["birth_year"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        birth = np.where(np.isnan(year), birth, (year - 1970) * 365.25 + 182)  # mid-year
    if "birth_date" in reg.columns:
        bd = day_number(reg["birth_date"]).astype(np.float64)
        bd[pd.isna(reg["birth_date"]).to_numpy()] = np.nan
        birth = np.where(np.isnan(bd), birth, bd)
    reg["_birth_day"] = birth
    reg["_class_key"] = reg["school"].astype(str) + "\x1f" + reg["class_id"].astype(str)
    return reg, enrolled, exit_days


def _scored_screenings(screenings: pd.DataFrame, reg: pd.DataFrame, codes: np.ndarray, settings: Settings) -> pd.DataFrame:
    from riskmodel.instruments.scoring import score, score_columns

    if len(screenings) == 0:
        scored = pd.DataFrame({c: pd.Series(dtype=float) for c in score_columns()})
        scored["date"] = pd.Series(dtype="datetime64[ns]")
        scored["instrument"] = pd.Series(dtype=object)
    else:
        stage = pd.Series(np.where(codes >= 0, reg["stage"].to_numpy(dtype=object)[np.maximum(codes, 0)], None),
                          index=screenings.index)
        scored = score(screenings, settings=settings.instruments, stage=stage)
    # only the critical items' raw answers are features; keep just those columns
    from riskmodel.features.catalogue import REQUIRED_CRITICAL_ITEMS
    from riskmodel.instruments.specs import all_specs

    wanted = sorted({k for spec in all_specs().values() for k in spec.critical}
                    | {k for items in REQUIRED_CRITICAL_ITEMS.values() for k in items})
    extra = {f"item_{k}": (pd.to_numeric(screenings[f"item_{k}"]).astype("float64").to_numpy(na_value=np.nan)
                           if f"item_{k}" in screenings.columns else np.full(len(scored), np.nan))
             for k in wanted}
    extra["careless_or_invalid"] = (scored["careless"].astype(bool) | scored["invalid"].astype(bool)).to_numpy()
    scored = pd.concat([scored.drop(columns=[c for c in extra if c in scored.columns]),
                        pd.DataFrame(extra, index=scored.index)], axis=1)
    return scored


def enrolment(students: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The register's student IDs (``str``, in its order), enrolment days and exit days (NaN: none), as
    :func:`prepare` reads them (a repeated ID is refused), without preparing any record."""
    reg, enrolled, exit_days = _register(students)
    return reg["student_id"].to_numpy(), enrolled, exit_days


def enrolled_mask(enrolled_day: np.ndarray, exit_day: np.ndarray, as_of) -> np.ndarray:
    """Students enrolled on ``as_of``: enrolled on or before it and not exited before it.

    The contract scores a student up to and including the exit date ("no scoring after it"), as the
    loader keeps records dated on it and the scoring checks count the student: a student who leaves on
    the list's date is on it (a level I student awaiting interview once vanished from the list that day).
    """
    day = int(np.datetime64(pd.Timestamp(as_of), "D").astype(np.int64))
    with np.errstate(invalid="ignore"):
        return (enrolled_day <= day) & (np.isnan(exit_day) | (exit_day >= day))


@dataclass
class FeatureSource:
    """A dataset prepared once for any number of as-of dates (see :func:`prepare`)."""

    register: pd.DataFrame
    enrolled_day: np.ndarray
    exit_day: np.ndarray
    timelines: dict[str, Timeline]
    calendar: pd.DataFrame
    settings: Settings

    def enrolled_on(self, as_of: pd.Timestamp) -> np.ndarray:
        """Students enrolled on ``as_of``: enrolled on or before it and not exited before it (:func:`enrolled_mask`)."""
        return enrolled_mask(self.enrolled_day, self.exit_day, as_of)

    def _computed(self, as_of: pd.Timestamp) -> tuple[Context, np.ndarray]:
        """Every feature family computed for ``as_of`` (register-length arrays) and the enrolled mask."""
        as_of = pd.Timestamp(as_of).normalize()
        day = int(np.datetime64(as_of, "D").astype(np.int64))
        enrolled = self.enrolled_on(as_of)
        ctx = Context(as_of=as_of, as_of_day=day, register=self.register, enrolled=enrolled,
                      events={name: tl.at(np.datetime64(as_of, "D")) for name, tl in self.timelines.items()},
                      calendar=self.calendar, settings=self.settings)
        cat = catalogue(self.settings)
        for family, module in FAMILY_MODULES.items():
            values = module.compute(ctx)
            expected = cat.index[cat["family"] == family]
            if set(values) != set(expected):
                raise RuntimeError(f"feature family {family!r} and catalogue.yaml disagree: "
                                   f"missing {sorted(set(expected) - set(values))}, "
                                   f"extra {sorted(set(values) - set(expected))}")
            ctx.features.update(values)
        return ctx, enrolled

    @property
    def names(self) -> list[str]:
        """The feature columns, in catalogue order."""
        return catalogue(self.settings).index.tolist()

    def fill(self, as_of: pd.Timestamp, positions: np.ndarray, out: np.ndarray) -> None:
        """Write the features on ``as_of`` of the register rows ``positions`` into ``out`` (rows x features).

        ``out`` is usually a slice of one preallocated float32 matrix, so that many dates, or a chosen
        part of their rows, are built without per-date frames or a concatenation (riskmodel.models.training).
        Values are those of :meth:`at`: each feature is cast straight to ``out``'s dtype.
        """
        ctx, _ = self._computed(as_of)
        positions = np.asarray(positions, dtype=np.int64)
        if out.shape != (len(positions), len(ctx.features)):
            raise ValueError(f"fill: out has shape {out.shape}, expected {(len(positions), len(ctx.features))}")
        for j, name in enumerate(catalogue(self.settings).index):
            values = np.asarray(ctx.features[name])
            if values.dtype.kind not in "biuf":
                values = values.astype(np.float64)
            out[:, j] = values[positions]

    def at(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """The feature rows of students enrolled on ``as_of``, computed from records up to it."""
        as_of = pd.Timestamp(as_of).normalize()
        rows = np.flatnonzero(self.enrolled_on(as_of))
        # one float32 block: cheap to build and to gather over many dates
        matrix = np.empty((len(rows), len(self.names)), dtype=np.float32)
        self.fill(as_of, rows, matrix)
        return feature_frame(matrix, self.names, self.register["student_id"].to_numpy()[rows],
                             np.full(len(rows), as_of.to_datetime64()))


def feature_frame(matrix: np.ndarray, names: list[str], student_ids: np.ndarray, as_of: np.ndarray) -> pd.DataFrame:
    """``student_id, as_of`` and the feature columns around ``matrix``, without copying it."""
    frame = pd.DataFrame(matrix, columns=list(names), copy=False)
    frame.insert(0, "student_id", student_ids)
    frame.insert(1, "as_of", np.asarray(as_of).astype("datetime64[ns]"))
    return frame


def prepare(dataset, *, settings: Settings) -> FeatureSource:
    """Sort and score a dataset once so that any as-of date can be built quickly.

    Parameters
    ----------
    dataset
        A :class:`riskmodel.data.Dataset` (its tables in canonical form).
    settings
        All settings; ``features``, ``instruments`` and ``data.gpa_scale`` are read.
    """
    reg, enrolled, exit_days = _register(dataset.table("students"))
    index = pd.Index(reg["student_id"])
    n = len(reg)
    timelines: dict[str, Timeline] = {}
    for name, date_col in EVENT_TABLES.items():
        frame = dataset.table(name)
        if "student_id" not in frame.columns or date_col not in frame.columns:
            raise ContractError(f"{name}: columns 'student_id' and {date_col!r} are required; "
                                f"found {sorted(map(str, frame.columns))}.")
        codes = index.get_indexer(frame["student_id"].astype(str)) if len(frame) else np.zeros(0, np.int64)
        if (codes < 0).any():
            log.warning("%s: %d rows of students not in the register are ignored", name, int((codes < 0).sum()))
        if name == "screenings":
            frame = _scored_screenings(frame, reg, codes, settings)
        elif name == "attendance":
            keep = (frame["status"].astype(str) != "present").to_numpy()
            frame, codes = frame.loc[keep], codes[keep]
        elif name == "academics":
            frame = frame.copy()
            score = pd.to_numeric(frame.get("mean_score"), errors="coerce") if "mean_score" in frame else None
            gpa = pd.to_numeric(frame["gpa"], errors="coerce") * (100.0 / settings.data.gpa_scale) \
                if "gpa" in frame else None
            if score is None:
                score = gpa if gpa is not None else pd.Series(np.nan, index=frame.index)
            elif gpa is not None:
                score = score.fillna(gpa)
            frame["score"] = score.astype("float64")
            for col in ("rank_pct", "failed_courses"):
                if col not in frame:
                    frame[col] = np.nan
        timelines[name] = Timeline(frame, codes=codes, n_students=n, date_column=date_col)
    cal = dataset.table("calendar")
    if len(cal) == 0:
        # a schedule, not a record: a generous span of school years costs nothing and leaks nothing
        cal = calendar.default_calendar(1990, 2100)
    return FeatureSource(register=reg, enrolled_day=enrolled, exit_day=exit_days, timelines=timelines,
                         calendar=cal, settings=settings)


def build_features(dataset, as_of_dates, *, settings: Settings) -> pd.DataFrame:
    """The feature matrix for every student enrolled on each as-of date.

    Parameters
    ----------
    dataset
        A :class:`riskmodel.data.Dataset`.
    as_of_dates
        One date or many; each row uses records dated on or before its own as-of date only.
    settings
        All settings (``settings.features`` above all).

    Returns
    -------
    DataFrame
        ``student_id`` (str), ``as_of`` (datetime64[ns]), then one float32 column per feature of
        :func:`riskmodel.features.catalogue`, in its order. Sorted by as-of date, then register order.

    Example
    -------
    See the module docstring.
    """
    dates = as_of_list(as_of_dates)
    started = time.perf_counter()
    source = prepare(dataset, settings=settings)
    prepared = time.perf_counter()
    if not dates:
        return source.at(pd.Timestamp("1970-01-01")).iloc[:0]
    # the rows of every date are known before any feature is computed: one float32 matrix is
    # allocated once and each date written into its slice (no per-date frames, no concatenation copy)
    rows = [np.flatnonzero(source.enrolled_on(d)) for d in dates]
    matrix = np.empty((sum(len(r) for r in rows), len(source.names)), dtype=np.float32)
    start = 0
    for d, r in zip(dates, rows):
        source.fill(d, r, matrix[start:start + len(r)])
        start += len(r)
    ids = source.register["student_id"].to_numpy()
    out = feature_frame(matrix, source.names, ids[np.concatenate(rows)],
                        np.repeat(np.array([d.to_datetime64() for d in dates]), [len(r) for r in rows]))
    log.info("features: %d rows x %d features for %d as-of dates (prepare %.1f s, build %.1f s)",
             len(out), out.shape[1] - 2, len(dates), prepared - started, time.perf_counter() - prepared)
    return out
