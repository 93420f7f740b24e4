"""Life-event family: events by kind in windows, days since the latest.

Example
-------
See ``tests/test_features_families.py::test_life_events_by_kind``.
"""

from __future__ import annotations

import numpy as np

from riskmodel.features.catalogue import raw_catalogue
from riskmodel.features.context import Context

__all__ = ["compute"]


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Life-event features for every student at ``ctx.as_of``."""
    fs = ctx.settings.features
    events = ctx.events["life_events"]
    out: dict[str, np.ndarray] = {}
    for w in fs.windows_days:
        out[f"life_count_{w}d"] = events.count(w)
    for kind in raw_catalogue()["vocab"]["event"]:
        sub = events.where("event", [kind])
        for w in fs.windows_days:
            out[f"life_{kind}_{w}d"] = sub.count(w)
    out["life_days_since_last"] = events.days_since_last()
    return out
