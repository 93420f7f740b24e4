"""Per-student event timelines and their point-in-time cut: the one place that hides the future.

A :class:`Timeline` holds one dated table sorted once by (student, date). It knows nothing of an
as-of date. :meth:`Timeline.at` returns a :class:`Cut`: the same rows seen from an as-of date, where
every question (how many in the last 30 days, the latest value, the one before it, days since the
last) is answered from rows dated on or before that date only. ``riskmodel.features.build`` is the
only caller of :meth:`Timeline.at`; feature families receive cuts and never see a row after as-of.

Everything is vectorised over students: a cut answers for every student at once with
``np.searchsorted`` on a (student, day) key, so a question costs O(students x log rows).

Example
-------
>>> import pandas as pd
>>> rows = pd.DataFrame({"date": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-09-01"]),
...                      "severity": [1, 3, 2]})
>>> tl = Timeline(rows, codes=np.array([0, 0, 1]), n_students=2)
>>> cut = tl.at(np.datetime64("2025-06-01"))
>>> cut.count().tolist(), cut.count(100).tolist(), cut.last("severity").tolist()
([2.0, 0.0], [1.0, 0.0], [3.0, nan])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["Timeline", "Cut", "day_number"]

_DAY_SPAN = np.int64(1 << 22)  # > every day number we use (days since 1970 up to year ~13000)
_DAY_OFFSET = np.int64(1 << 21)  # keeps dates before 1970 positive inside the key


def day_number(values) -> np.ndarray:
    """Dates (datetime64 or anything ``pd.to_datetime`` takes) as int64 days since 1970-01-01."""
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    if arr.dtype.kind != "M":  # already dates (the canonical tables): no pd.to_datetime, whose per-call
        arr = np.asarray(pd.to_datetime(values))  # cache check cost ~3 ms, paid per school (issue 17)
    return arr.astype("datetime64[D]").astype(np.int64)


class Timeline:
    """One dated table sorted by (student, date), with no notion of an as-of date.

    The table itself is never copied: the timeline keeps the positions of its rows in sorted
    order, and columns are gathered (and cached) the first time a family asks for them.

    Parameters
    ----------
    frame
        The table; ``date_column`` holds each row's date (``NaT`` rows are dropped).
    codes
        Each row's student position (0 .. n_students-1) in the register; rows with -1 (a student
        not in the register) are dropped.
    n_students
        Number of students in the register.
    date_column
        Column that dates each row (``date``; ``term_end`` for academics).
    """

    def __init__(self, frame: pd.DataFrame, *, codes: np.ndarray, n_students: int, date_column: str = "date"):
        codes = np.asarray(codes, dtype=np.int64)
        if len(frame):
            days = day_number(frame[date_column])
            valid = (codes >= 0) & ~pd.isna(frame[date_column]).to_numpy()
        else:
            days, valid = np.zeros(0, np.int64), np.zeros(0, bool)
        rows = np.flatnonzero(valid)
        # lexsort is stable: rows on the same day keep their input order (the later row is "latest")
        rows = rows[np.lexsort((days[rows], codes[rows]))]
        self._frame = frame
        self._shared: dict[tuple, object] = {}  # caches over the whole table, shared with subsets
        self._set_rows(rows, codes[rows], days[rows], int(n_students))

    def _set_rows(self, rows: np.ndarray, codes: np.ndarray, days: np.ndarray, n_students: int) -> None:
        self.n_students = n_students
        self._rows, self._codes, self._days = rows, codes, days
        self._key = codes * _DAY_SPAN + (days + _DAY_OFFSET)
        self._start = np.searchsorted(codes, np.arange(n_students), side="left")
        self._subsets: dict[tuple, Timeline] = {}
        self._columns: dict[str, np.ndarray] = {}
        self._cumsums: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._codes)

    def _whole(self, name: str) -> np.ndarray:
        """Column ``name`` over the whole (unsorted) table: float64 if numeric, else object."""
        key = ("values", name)
        if key not in self._shared:
            col = self._frame[name] if name in self._frame.columns else pd.Series(np.nan, index=self._frame.index)
            if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
                arr = pd.to_numeric(col, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
            else:
                arr = col.to_numpy(dtype=object)
            self._shared[key] = arr
        return self._shared[key]

    def _factorized(self, name: str) -> tuple[np.ndarray, pd.Index]:
        """Integer codes and uniques of a column over the whole table (for fast selection)."""
        key = ("factor", name)
        if key not in self._shared:
            codes, uniques = pd.factorize(self._frame[name].astype(object), use_na_sentinel=True)
            self._shared[key] = (codes, pd.Index(uniques))
        return self._shared[key]

    def where(self, column: str, values=None, *, min_value=None) -> Timeline:
        """The rows whose ``column`` is one of ``values`` (or >= ``min_value``); cached.

        Selecting by value does not depend on any date, so the subset is built once and reused by
        every as-of date.
        """
        key = (column, tuple(values) if values is not None else None, min_value)
        if key not in self._subsets:
            mask = np.ones(len(self._rows), dtype=bool)
            if values is not None and len(self._frame):
                codes, uniques = self._factorized(column)
                wanted = uniques.get_indexer(pd.Index(list(values), dtype=object))
                mask &= np.isin(codes[self._rows], wanted[wanted >= 0])
            elif values is not None:
                mask[:] = False
            if min_value is not None:
                with np.errstate(invalid="ignore"):
                    mask &= self._whole(column)[self._rows] >= min_value
            sub = Timeline.__new__(Timeline)
            sub._frame, sub._shared = self._frame, self._shared
            sub._set_rows(self._rows[mask], self._codes[mask], self._days[mask], self.n_students)
            self._subsets[key] = sub
        return self._subsets[key]

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` as a numpy array in timeline order (float64 when numeric); cached."""
        if name not in self._columns:
            self._columns[name] = self._whole(name)[self._rows]
        return self._columns[name]

    def cumsum(self, name: str) -> np.ndarray:
        """Prefix sums of a numeric column (NaN counts as 0), with a leading 0; cached."""
        if name not in self._cumsums:
            values = np.nan_to_num(self.column(name).astype(np.float64), nan=0.0)
            self._cumsums[name] = np.concatenate([[0.0], np.cumsum(values)])
        return self._cumsums[name]

    def at(self, as_of: np.datetime64) -> Cut:
        """This timeline seen from ``as_of``: only rows dated on or before it are reachable.

        Called by ``riskmodel.features.build`` only.
        """
        return Cut(self, int(np.datetime64(as_of, "D").astype(np.int64)))


class Cut:
    """A timeline seen from one as-of day; every answer is an array over all students.

    Rows dated after the as-of day cannot be reached through any method. Windows are closed at
    the as-of day and open at the far end: ``count(30)`` counts rows with
    ``as_of - 30 < date <= as_of``.
    """

    def __init__(self, timeline: Timeline, as_of_day: int):
        self._tl = timeline
        self.as_of_day = as_of_day
        self._end = self._bound(0)
        self._bounds: dict[int, np.ndarray] = {0: self._end}

    def _bound(self, days_back: int) -> np.ndarray:
        """Per student: index one past the last row dated <= as_of - days_back."""
        tl = self._tl
        query = np.arange(tl.n_students, dtype=np.int64) * _DAY_SPAN + (self.as_of_day - days_back + _DAY_OFFSET)
        return np.searchsorted(tl._key, query, side="right")

    def _lo(self, days: int | None) -> np.ndarray:
        if days is None:
            return self._tl._start
        if days not in self._bounds:
            self._bounds[days] = np.maximum(self._bound(days), self._tl._start)
        return self._bounds[days]

    def where(self, column: str, values=None, *, min_value=None) -> Cut:
        """The same as-of day on the rows whose ``column`` is in ``values`` (or >= ``min_value``)."""
        return Cut(self._tl.where(column, values, min_value=min_value), self.as_of_day)

    def count(self, days: int | None = None) -> np.ndarray:
        """Rows in the last ``days`` days up to as-of (all rows up to as-of when ``None``)."""
        return (self._end - self._lo(days)).astype(np.float64)

    def count_between(self, newer_days: int, older_days: int) -> np.ndarray:
        """Rows with ``as_of - older_days < date <= as_of - newer_days`` (an earlier window)."""
        return (self._lo(newer_days) - self._lo(older_days)).clip(min=0).astype(np.float64)

    def sum(self, column: str, days: int | None = None) -> np.ndarray:
        """Sum of a numeric column over the last ``days`` days (NaN counts as 0)."""
        cs = self._tl.cumsum(column)
        return cs[self._end] - cs[self._lo(days)]

    def window_rows(self, days: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the last ``days`` days up to as-of (all rows up to it when ``None``).

        Returns ``(owner, idx)``: each row's student position and its position in timeline order
        (for :meth:`values`), students in register order and each student's rows by date. Only rows
        dated on or before as-of are returned: families that need more than counts and sums (a
        decayed count, a maximum, a slope) reduce over these.
        """
        lo, end = self._lo(days), self._end
        lengths = np.maximum(end - lo, 0)
        owner = np.repeat(np.arange(self._tl.n_students, dtype=np.int64), lengths)
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        idx = starts + np.arange(int(lengths.sum()), dtype=np.int64)
        return owner, idx

    def values(self, column: str) -> np.ndarray:
        """Column ``column`` in timeline order, to be indexed with :meth:`window_rows`' ``idx``."""
        return self._tl.column(column)

    def days(self) -> np.ndarray:
        """Each row's day number in timeline order, to be indexed with :meth:`window_rows`' ``idx``."""
        return self._tl._days

    def has(self, nth: int = 0) -> np.ndarray:
        """Whether each student has at least ``nth + 1`` rows up to as-of."""
        return (self._end - self._tl._start) > nth

    def _pick(self, nth: int) -> tuple[np.ndarray, np.ndarray]:
        idx = self._end - 1 - nth
        ok = idx >= self._tl._start
        return np.where(ok, idx, 0), ok

    def last(self, column: str, nth: int = 0) -> np.ndarray:
        """Value of ``column`` in each student's latest row up to as-of (``nth=1``: the one before).

        Numeric columns give float64 with NaN where the student has no such row; text columns give
        an object array with ``None``.
        """
        values = self._tl.column(column)
        idx, ok = self._pick(nth)
        if len(values) == 0:
            return np.full(self._tl.n_students, np.nan if values.dtype != object else None, dtype=values.dtype)
        out = values[idx]
        if out.dtype == object:
            out = out.copy()
            out[~ok] = None
            return out
        return np.where(ok, out, np.nan)

    def days_since_last(self, nth: int = 0) -> np.ndarray:
        """Days from each student's latest row (``nth``: counting back) to as-of; NaN if none."""
        idx, ok = self._pick(nth)
        if len(self._tl._days) == 0:
            return np.full(self._tl.n_students, np.nan)
        return np.where(ok, self.as_of_day - self._tl._days[idx], np.nan).astype(np.float64)
