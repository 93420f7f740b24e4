"""Observation family: routine observation log counts by category, severity and source, and trend.

Windows come from ``settings.features.windows_days``; the trend is the count in the last
``trend_window_days`` days minus the count in the same length of time before it (positive: rising).

Example
-------
See ``tests/test_features_families.py::test_observation_windows_trend_and_sources``.
"""

from __future__ import annotations

import numpy as np

from riskmodel.features.catalogue import raw_catalogue, windows_for
from riskmodel.features.context import Context

__all__ = ["compute"]


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Observation features for every student at ``ctx.as_of``."""
    fs = ctx.settings.features
    vocab = raw_catalogue()["vocab"]
    obs = ctx.events["observations"]
    urgent = obs.where("severity", min_value=3)
    concern = obs.where("severity", min_value=2)
    out: dict[str, np.ndarray] = {}
    for w in fs.windows_days:
        out[f"obs_count_{w}d"] = obs.count(w)
    for category in vocab["category"]:
        sub = obs.where("category", [category])
        for w in fs.windows_days:
            out[f"obs_{category}_{w}d"] = sub.count(w)
    for level, entry in vocab["severity"].items():
        sub = obs.where("severity", [entry["value"]])
        for w in fs.windows_days:
            out[f"obs_{level}_{w}d"] = sub.count(w)
    self_harm_urgent = urgent.where("category", ["self_harm_signal"])
    for w in windows_for("obs_self_harm_signal_urgent_{w}d", ctx.settings):
        out[f"obs_self_harm_signal_urgent_{w}d"] = self_harm_urgent.count(w)
    sources_90 = np.zeros(ctx.n)
    for source in vocab["source"]:
        sub = obs.where("source", [source])
        out[f"obs_source_{source}_365d"] = sub.count(365)
        sources_90 += sub.count(90) > 0
    out["obs_sources_90d"] = sources_90
    out["obs_days_since_last"] = obs.days_since_last()
    out["obs_days_since_last_urgent"] = urgent.days_since_last()
    t = fs.trend_window_days
    out[f"obs_trend_{t}d"] = obs.count(t) - obs.count_between(t, 2 * t)
    out[f"obs_concern_trend_{t}d"] = concern.count(t) - concern.count_between(t, 2 * t)
    return out
