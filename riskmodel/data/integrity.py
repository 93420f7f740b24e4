"""Whole-directory checks: every record's student is known, and its date falls inside enrolment.

These need the accepted students, so they run after the students table is finished and before the
duplicates of each other table are looked for (riskmodel.data.load). Records of a student whose own
row was rejected say so and name that row: fixing it brings them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskmodel.data.dataset import contract
from riskmodel.data.schema import PROBLEM_COLUMNS, problem_rows
from riskmodel.i18n import text

__all__ = ["StudentReference", "student_reference", "integrity_problems"]


@dataclass(frozen=True)
class StudentReference:
    """What other tables are checked against: accepted students and the rejected ones' rows."""

    accepted: pd.DataFrame  # indexed by student_id: enrollment_date, exit_date, row
    rejected_rows: pd.Series  # student_id -> the first row where it was rejected


def student_reference(frame: pd.DataFrame, rows: np.ndarray, students: pd.DataFrame,
                      rejected_pos: pd.Index) -> StudentReference:
    """Accepted students (enrolment, row) and, for each rejected student_id, its first rejected row.

    ``frame`` is every parsed students row (index 0..n-1) with ``rows`` where a person finds each;
    ``students`` the accepted ones in order; ``rejected_pos`` the positions rejected.
    """
    kept = frame.index.difference(rejected_pos).to_numpy()
    accepted = pd.DataFrame({
        "enrollment_date": students["enrollment_date"].to_numpy(),
        "exit_date": students["exit_date"].to_numpy(),
        "row": rows[kept],
    }, index=pd.Index(students["student_id"], name="student_id"))
    pos = np.sort(rejected_pos.to_numpy())
    ids = frame["student_id"].to_numpy()[pos]
    rejected_rows = pd.Series(rows[pos], index=ids).loc[lambda s: s.index.notna()]
    rejected_rows = rejected_rows[~rejected_rows.index.duplicated(keep="first")]
    return StudentReference(accepted, rejected_rows)


def integrity_problems(table: str, frame: pd.DataFrame, students: StudentReference, *, grace_days: int,
                       lang: str, before_enrolment: bool = False) -> pd.DataFrame:
    """Problems of ``frame`` (parsed rows of ``table``): unknown or rejected students, dates outside
    enrolment, dates after today.

    ``before_enrolment=True`` accepts dates before the student's enrolment here: records handed over
    by the previous school (docs/handover.md) are dated there.

    Example
    -------
    >>> ref = StudentReference(pd.DataFrame({"enrollment_date": [pd.Timestamp("2024-09-01")], "exit_date": [pd.NaT],
    ...                                      "row": [2]}, index=pd.Index(["A"], name="student_id")),
    ...                        pd.Series([3], index=["B"]))
    >>> frame = pd.DataFrame({"student_id": ["A", "B", "C", "A"], "date": pd.to_datetime(
    ...     ["2024-10-01", "2024-10-01", "2024-10-01", "2024-08-01"]), "event": "illness"})
    >>> integrity_problems("life_events", frame, ref, grace_days=0, lang="en")[["pos", "code"]].values.tolist()
    [[2, 'unknown_student'], [1, 'rejected_student'], [3, 'outside_enrolment']]
    """
    spec = contract()["tables"][table]
    if spec.get("references_students") is False or table == "students":
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    ids = frame["student_id"]
    known = ids.isin(students.accepted.index)
    unknown = ids.notna() & ~known
    was_rejected = unknown & ids.isin(students.rejected_rows.index)
    parts = [problem_rows(np.flatnonzero((unknown & ~was_rejected).to_numpy()), "student_id", "unknown_student")]
    rows = ids[was_rejected].map(students.rejected_rows)
    parts.append(pd.DataFrame({"pos": np.flatnonzero(was_rejected.to_numpy()), "column": "student_id",
                               "code": "rejected_student", "params": [{"row": int(r)} for r in rows]}))
    dated_by = spec.get("dated_by")
    if dated_by:
        grace = pd.Timedelta(days=grace_days)
        enrolled = students.accepted.reindex(ids.where(known))
        start = enrolled["enrollment_date"].to_numpy()
        end = enrolled["exit_date"].to_numpy()
        dates = frame[dated_by].to_numpy()
        with np.errstate(invalid="ignore"):
            outside = known.to_numpy() & ~pd.isna(dates) & (
                ((dates < start - grace) & (not before_enrolment)) | (~pd.isna(end) & (dates > end + grace))
            )
        positions = np.flatnonzero(outside)
        open_end = text("data.open_end", lang)
        params = [
            {"column": dated_by, "start": str(pd.Timestamp(s).date()),
             "end": open_end if pd.isna(e) else str(pd.Timestamp(e).date()), "row": int(r)}
            for s, e, r in zip(start[positions], end[positions], enrolled["row"].to_numpy()[positions])
        ]
        parts.append(pd.DataFrame({"pos": positions, "column": dated_by, "code": "outside_enrolment",
                                   "params": params}))
        # a record cannot come from the future: one typo (2099 for 2029) would otherwise pass as the
        # newest record, which decides how far label windows and the data's freshness reach
        today = np.datetime64(pd.Timestamp.today().normalize())
        with np.errstate(invalid="ignore"):
            future = np.flatnonzero(~pd.isna(dates) & (dates > today) & ~outside)
        shown_today = str(pd.Timestamp(today).date())  # 2026-12-06, not numpy's 2026-12-06T00:00:00.000000
        parts.append(pd.DataFrame({"pos": future, "column": dated_by, "code": "future_date",
                                   "params": [{"column": dated_by, "today": shown_today}] * len(future)}))
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=PROBLEM_COLUMNS)
