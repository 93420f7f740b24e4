"""Attendance family: unexcused absence, excused absence, leave and lateness in windows; sudden rise.

Rows with status ``present`` carry nothing and are dropped once in ``build``. A *sudden rise* is at
least ``sudden_absence_min`` unexcused absences in the last 30 days and more than twice the monthly
mean of the 90 days before (the pattern that should trigger a home visit).

Example
-------
See ``tests/test_features_families.py::test_attendance_sudden_rise``.
"""

from __future__ import annotations

import numpy as np

from riskmodel.features.context import Context

__all__ = ["compute"]

_STATUS = {"unexcused": "absent_unexcused", "excused": "absent_excused", "leave": "leave", "late": "late"}


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Attendance features for every student at ``ctx.as_of``."""
    fs = ctx.settings.features
    att = ctx.events["attendance"]
    out: dict[str, np.ndarray] = {}
    for name, status in _STATUS.items():
        sub = att.where("status", [status])
        for w in fs.windows_days:
            out[f"att_{name}_{w}d"] = sub.count(w)
    unexcused = att.where("status", [_STATUS["unexcused"]])
    recent = unexcused.count(30)
    before = unexcused.count_between(30, 120) / 3.0
    out["att_unexcused_rise_30d"] = recent - before
    out["att_sudden_rise"] = ((recent >= fs.sudden_absence_min) & (recent > 2 * before)).astype(np.float64)
    out["att_days_since_unexcused"] = unexcused.days_since_last()
    return out
