"""Calendar family: the sensitive periods of the school year.

From the centre's ``calendar`` table (rows ``start, end, kind``; a row with a ``school`` applies to
that school only) or, without one, the documented default calendar (:func:`default_calendar`). A
calendar is a schedule published in advance, so "days to the next exam" may look ahead: this is the
one family that reads dates after as-of, and only from the calendar, never from student records.

Example
-------
>>> cal = default_calendar(2025, 2025)
>>> sorted(cal["kind"].unique())
['exam', 'graduation', 'holiday', 'orientation', 'term']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.features.context import Context

__all__ = ["compute", "default_calendar", "calendar_features"]

# (start month, day, end month, day, kind, name); years relative to the school year starting in Y
_DEFAULT_YEAR = (
    ((0, 9, 1), (1, 1, 15), "term", "autumn term"),
    ((1, 1, 1), (1, 1, 15), "exam", "autumn term exams"),
    ((1, 1, 16), (1, 2, 24), "holiday", "winter holiday"),
    ((1, 2, 25), (1, 7, 5), "term", "spring term"),
    ((1, 6, 21), (1, 7, 5), "exam", "spring term exams"),
    ((1, 7, 6), (1, 8, 31), "holiday", "summer holiday"),
    ((0, 9, 1), (0, 9, 30), "orientation", "freshman orientation"),
    ((1, 6, 1), (1, 7, 5), "graduation", "graduation"),
    ((0, 10, 1), (0, 10, 7), "holiday", "National Day"),
    ((1, 1, 1), (1, 1, 1), "holiday", "New Year"),
    ((1, 4, 4), (1, 4, 6), "holiday", "Qingming"),
    ((1, 5, 1), (1, 5, 5), "holiday", "Labour Day"),
)


def default_calendar(first_year: int, last_year: int) -> pd.DataFrame:
    """The default calendar for school years starting ``first_year`` .. ``last_year``.

    Two terms (1 September - 15 January, 25 February - 5 July), the last two weeks of each term
    are exams, winter and summer holidays between them, the fixed-date national holidays (New
    Year, Qingming 4-6 April, Labour Day 1-5 May, National Day 1-7 October), orientation in
    September and graduation from June to the end of the spring term. Lunar holidays other than
    the Spring Festival (inside the winter holiday) move every year and are left to the centre's own
    calendar.
    """
    rows = []
    for year in range(first_year, last_year + 1):
        for (sy, sm, sd), (ey, em, ed), kind, name in _DEFAULT_YEAR:
            rows.append({"start": pd.Timestamp(year + sy, sm, sd), "end": pd.Timestamp(year + ey, em, ed),
                         "kind": kind, "name": name})
    return pd.DataFrame(rows)


def calendar_features(calendar: pd.DataFrame, as_of: pd.Timestamp, *, after_holiday_days: int,
                      major_event_lead_days: int) -> dict[str, float]:
    """The calendar features of one as-of date from one calendar (scalars)."""
    d = np.datetime64(as_of, "D")
    start = calendar["start"].to_numpy(dtype="datetime64[D]")
    end = calendar["end"].to_numpy(dtype="datetime64[D]")
    kind = calendar["kind"].astype(str).to_numpy()
    day = np.timedelta64(1, "D")

    def inside(k: str, lead: int = 0) -> bool:
        m = (kind == k) & (start - lead * day <= d) & (d <= end)
        return bool(m.any())

    exam = kind == "exam"
    upcoming = start[exam & (start > d)]
    in_exam = inside("exam")
    to_exam = 0.0 if in_exam else (float((upcoming.min() - d) / day) if len(upcoming) else np.nan)
    term_starts = start[(kind == "term") & (start <= d)]
    holiday_ends = end[(kind == "holiday") & (end < d)]
    in_holiday = inside("holiday")
    since_holiday = float((d - holiday_ends.max()) / day) if len(holiday_ends) else np.nan
    month = as_of.month
    # the next 90 days (a published schedule): how much of them is exams, holidays, a term's first weeks
    ahead = d + np.arange(1, 91) * day

    def share(mask: np.ndarray, first_days: int | None = None) -> float:
        s, e = start[mask], end[mask]
        if first_days is not None:
            e = np.minimum(e, s + (first_days - 1) * day)
        if not len(s):
            return 0.0
        return float(((s[None, :] <= ahead[:, None]) & (ahead[:, None] <= e[None, :])).any(axis=1).mean())

    return {
        "cal_days_to_next_exam": to_exam,
        "cal_in_exam": float(in_exam),
        "cal_in_term": float(inside("term")),
        "cal_days_since_term_start": float((d - term_starts.max()) / day) if len(term_starts) else np.nan,
        "cal_in_holiday": float(in_holiday),
        "cal_days_since_holiday_end": since_holiday,
        "cal_after_holiday": float((not in_holiday) and since_holiday <= after_holiday_days),
        "cal_orientation": float(inside("orientation")),
        "cal_graduation": float(inside("graduation")),
        "cal_major_event": float(inside("major_event", lead=major_event_lead_days)),
        "cal_season_change": float(month in (3, 4, 9, 10)),
        "cal_month": float(month),
        "cal_exam_share_90d": share(kind == "exam"),
        "cal_holiday_share_90d": share(kind == "holiday"),
        "cal_term_start_share_90d": share(kind == "term", first_days=21),
    }


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Calendar features for every student at ``ctx.as_of`` (per school when the calendar says so)."""
    fs = ctx.settings.features
    cal = ctx.calendar
    school = ctx.register["school"].astype(str).to_numpy()
    has_school = "school" in cal.columns and cal["school"].notna().any()
    general = cal[cal["school"].isna()] if has_school else cal
    kwargs = {"after_holiday_days": fs.after_holiday_days, "major_event_lead_days": fs.major_event_lead_days}
    base = calendar_features(general, ctx.as_of, **kwargs)
    out = {name: np.full(ctx.n, value, dtype=np.float64) for name, value in base.items()}
    if has_school:
        for name in cal["school"].dropna().unique():
            own = cal[cal["school"].isna() | (cal["school"] == name)]
            values = calendar_features(own, ctx.as_of, **kwargs)
            rows = school == str(name)
            for key, value in values.items():
                out[key][rows] = value
    return out
