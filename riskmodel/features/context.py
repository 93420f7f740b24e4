"""What a feature family receives: one as-of date's view of the data, already cut.

Families are functions ``compute(ctx: Context) -> dict[str, ndarray]`` returning one array per
feature, aligned with the register (one value per student, enrolled or not; ``build`` keeps the rows
of students enrolled on the date). They read event tables only through ``ctx.events[name]``, a
:class:`~riskmodel.features.timeline.Cut` made by ``build`` for ``ctx.as_of``; the register they get
has no ``exit_date`` (a future fact on most as-of dates).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.features.timeline import Cut

__all__ = ["Context", "safe_diff", "flag"]


@dataclass
class Context:
    """One as-of date's view.

    Attributes
    ----------
    as_of
        The as-of date (midnight Timestamp).
    as_of_day
        The same as days since 1970-01-01.
    register
        The students table, positional (row i is student code i), without ``exit_date``.
    enrolled
        Boolean array: enrolled on ``as_of``.
    events
        Table name -> :class:`Cut` at ``as_of`` (``screenings`` is the scored table).
    calendar
        The school calendar (a schedule known in advance, so not cut; see docs/features.md).
    settings
        All settings.
    features
        Features computed so far on this date (the cohort family reads them).
    """

    as_of: pd.Timestamp
    as_of_day: int
    register: pd.DataFrame
    enrolled: np.ndarray
    events: dict[str, Cut]
    calendar: pd.DataFrame
    settings: Settings
    features: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.register)


def safe_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b``, NaN where either is NaN."""
    return np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)


def flag(values: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """Booleans as 0.0/1.0, NaN where ``known`` is False."""
    out = np.asarray(values, dtype=np.float64)
    if known is not None:
        out = np.where(known, out, np.nan)
    return out
