"""Cohort-relative family: a student's latest scores against the class's distribution.

For every instrument, the latest total as a z-score and a percentile (0-1, ties averaged) among the
classmates enrolled on the as-of date who have a score; a class with fewer than
``settings.features.min_class_size`` scored students gives NaN (too few to compare with). Class
membership is the register's (it has no history: a student who changed class is compared with his
current class).

Example
-------
See ``tests/test_features_families.py::test_cohort_z_and_percentile``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.features.academics import class_stats
from riskmodel.features.context import Context

__all__ = ["compute"]


def _z_and_pct(values: np.ndarray, groups: np.ndarray, mask: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    mean, std, count = class_stats(values, groups, mask, min_size=min_size)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, (values - mean) / std, np.where(np.isnan(mean), np.nan, 0.0))
    use = mask & ~np.isnan(values) & (count >= min_size)
    pct = np.full(len(values), np.nan)
    if use.any():
        ranks = pd.Series(values[use]).groupby(groups[use]).rank(pct=True, method="average")
        pct[use] = ranks.to_numpy()
    z[~use] = np.nan
    return z, pct


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Cohort-relative features for every student at ``ctx.as_of``."""
    from riskmodel.instruments import specs as specs_module

    groups = ctx.register["_class_key"].to_numpy()
    min_size = ctx.settings.features.min_class_size
    out: dict[str, np.ndarray] = {}
    for code in sorted(specs_module.all_specs()):
        c = code.lower()
        z, pct = _z_and_pct(ctx.features[f"{c}_total_latest"], groups, ctx.enrolled, min_size)
        out[f"cohort_{c}_total_z"], out[f"cohort_{c}_total_pct"] = z, pct
    concern = ctx.events["observations"].where("severity", min_value=2).count(90)
    out["cohort_obs_concern_90d_z"], _ = _z_and_pct(concern, groups, ctx.enrolled, min_size)
    return out
