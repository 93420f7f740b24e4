"""The school calendar of the synthetic cohort, and what each month of it means for distress.

Two terms a year, exam weeks at each term's end, winter and summer holidays, the national holidays
(New Year, Qingming, Labour Day, National Day), freshman orientation, graduation, and one major event
per year (the national postgraduate entrance exam at a university; 中考 and 高考 in a district, each for
its own schools). Dates are fixed by the academic year (the Spring Festival is inside the winter holiday
every year), so the same window gives the same calendar.

Example
-------
>>> from datetime import date
>>> cal = calendar_table("university", date(2023, 9, 1), date(2024, 9, 1), schools=None)
>>> sorted(cal["kind"].unique())
['exam', 'graduation', 'holiday', 'major_event', 'orientation', 'term']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from riskmodel.synth import params

__all__ = ["calendar_table", "MonthCalendar", "month_calendar", "month_starts"]

# (kind, name, (start month, day, year offset), (end month, day, year offset)); year offset from Sep's year
_UNIVERSITY = [
    ("term", "秋季学期", (9, 1, 0), (1, 20, 1)),
    ("exam", "秋季学期期末考试", (1, 6, 1), (1, 20, 1)),
    ("holiday", "寒假", (1, 21, 1), (2, 25, 1)),
    ("term", "春季学期", (2, 26, 1), (7, 10, 1)),
    ("exam", "春季学期期末考试", (6, 26, 1), (7, 10, 1)),
    ("holiday", "暑假", (7, 11, 1), (8, 31, 1)),
    ("orientation", "新生入学教育", (9, 1, 0), (9, 14, 0)),
    ("graduation", "毕业离校", (6, 20, 1), (6, 30, 1)),
    ("major_event", "全国硕士研究生招生考试", (12, 21, 0), (12, 23, 0)),
]
_K12 = [
    ("term", "第一学期", (9, 1, 0), (1, 20, 1)),
    ("exam", "期末考试", (1, 13, 1), (1, 20, 1)),
    ("holiday", "寒假", (1, 21, 1), (2, 17, 1)),
    ("term", "第二学期", (2, 18, 1), (7, 5, 1)),
    ("exam", "期末考试", (6, 28, 1), (7, 5, 1)),
    ("holiday", "暑假", (7, 6, 1), (8, 31, 1)),
    ("orientation", "新生入学", (9, 1, 0), (9, 7, 0)),
    ("graduation", "毕业典礼", (6, 25, 1), (6, 30, 1)),
]
_K12_EXAMS = {"senior": ("高考", (6, 7, 1), (6, 9, 1)), "junior": ("中考", (6, 20, 1), (6, 22, 1))}
_NATIONAL = [
    ("holiday", "国庆节", (10, 1, 0), (10, 7, 0)),
    ("holiday", "元旦", (1, 1, 1), (1, 1, 1)),
    ("holiday", "清明节", (4, 4, 1), (4, 6, 1)),
    ("holiday", "劳动节", (5, 1, 1), (5, 5, 1)),
]


def _at(year: int, spec: tuple[int, int, int]) -> date:
    month, day, offset = spec
    return date(year + offset, month, day)


def calendar_table(stage: str, start: date, end: date, *, schools: pd.DataFrame | None) -> pd.DataFrame:
    """The contract's calendar table for every academic year that overlaps ``[start, end)``.

    Parameters
    ----------
    stage
        ``"university"`` or ``"k12"``.
    start, end
        The window (end exclusive).
    schools
        For ``k12``: a frame with ``school`` and ``stage`` columns; the entrance exams (中考, 高考) get a
        row for each junior or senior school (the contract's ``school`` extension column).

    Returns
    -------
    DataFrame
        ``start, end, kind, name, school`` (``school`` empty: every school), sorted by start.
    """
    rows = []
    for year in range(start.year - 1, end.year + 1):
        if date(year + 1, 8, 31) < start or date(year, 9, 1) >= end:
            continue
        for kind, name, a, b in (_UNIVERSITY if stage == "university" else _K12) + _NATIONAL:
            rows.append((_at(year, a), _at(year, b), kind, name, ""))
        if stage == "k12" and schools is not None:
            for school, school_stage in schools[["school", "stage"]].drop_duplicates().itertuples(index=False):
                if school_stage in _K12_EXAMS:
                    name, a, b = _K12_EXAMS[school_stage]
                    rows.append((_at(year, a), _at(year, b), "major_event", name, school))
    table = pd.DataFrame(rows, columns=["start", "end", "kind", "name", "school"])
    table["start"] = pd.to_datetime(table["start"])
    table["end"] = pd.to_datetime(table["end"])
    return table.sort_values(["start", "kind", "name", "school"], kind="stable").reset_index(drop=True)


def month_starts(start: date, end: date) -> np.ndarray:
    """First days of the months of the window, ``datetime64[D]``."""
    first = np.datetime64(date(start.year, start.month, 1), "M")
    last = np.datetime64(date(end.year, end.month, 1), "M")
    if date(end.year, end.month, 1) < end:
        last = last + 1
    return np.arange(first, last).astype("datetime64[D]")


@dataclass(frozen=True)
class MonthCalendar:
    """Per-month calendar quantities of one window (arrays indexed by month).

    Attributes
    ----------
    months
        First day of each month.
    exam, holiday, term_start
        Share of the month's days in exam weeks, holidays, and the first three weeks of a term.
    season
        The calendar's shift of distress in that month (params.SEASON_*).
    school_days
        For each month, the school days (weekdays in term, not in a holiday) as ``datetime64[D]``.
    exam_month
        Whether the month holds an exam week.
    term_ends
        Last day of each term's exam weeks (the academics' ``term_end``), sorted.
    """

    months: np.ndarray
    exam: np.ndarray
    holiday: np.ndarray
    term_start: np.ndarray
    season: np.ndarray
    school_days: tuple[np.ndarray, ...]
    exam_month: np.ndarray
    term_ends: np.ndarray


def month_calendar(calendar: pd.DataFrame, months: np.ndarray, stage: str) -> MonthCalendar:
    """Summarise ``calendar`` by month (one pass over a daily grid; calendar rows are few).

    Example
    -------
    >>> from datetime import date
    >>> cal = calendar_table("university", date(2023, 9, 1), date(2024, 9, 1), schools=None)
    >>> mc = month_calendar(cal, month_starts(date(2023, 9, 1), date(2024, 9, 1)), "university")
    >>> bool(mc.season[0] > 0 > mc.season[-1])  # September strains, August relieves
    True
    """
    first, stop = months[0], (months[-1].astype("datetime64[M]") + 1).astype("datetime64[D]")
    days = np.arange(first, stop)
    flags = {kind: np.zeros(days.size, bool) for kind in ("term", "exam", "holiday", "term_start")}
    common = calendar[calendar["school"].eq("")]
    for row in common.itertuples(index=False):
        a, b = np.datetime64(row.start.date()), np.datetime64(row.end.date())
        inside = (days >= a) & (days <= b)
        if row.kind in flags:
            flags[row.kind] |= inside
        if row.kind == "term":
            flags["term_start"] |= (days >= a) & (days < a + 21)
    month_of_day = ((days.astype("datetime64[M]") - first.astype("datetime64[M]")).astype(int))
    n_days = np.bincount(month_of_day, minlength=months.size)

    def share(mask: np.ndarray) -> np.ndarray:
        return np.bincount(month_of_day, weights=mask.astype(float), minlength=months.size) / n_days

    exam, holiday, term_start = share(flags["exam"]), share(flags["holiday"]), share(flags["term_start"])
    family = "university" if stage == "university" else "k12"
    season = (params.SEASON_EXAM * exam + params.SEASON_TERM_START[family] * term_start
              - params.SEASON_HOLIDAY * holiday)
    weekday = ((days.astype("datetime64[D]").astype(np.int64) + 3) % 7) < 5  # 1970-01-01 was a Thursday
    school = flags["term"] & ~flags["holiday"] & weekday
    school_days = tuple(days[school & (month_of_day == m)] for m in range(months.size))
    exam_rows = calendar[calendar["kind"].eq("exam") & calendar["school"].eq("")]
    term_ends = np.sort(exam_rows["end"].to_numpy().astype("datetime64[D]"))
    return MonthCalendar(months=months, exam=exam, holiday=holiday, term_start=term_start, season=season,
                         school_days=school_days, exam_month=exam > 0, term_ends=term_ends)
