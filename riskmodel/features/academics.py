"""Academic family: latest term score, change against the previous term and against the class.

A term's record counts from its ``term_end`` date (results are known when the term ends). The score
is ``mean_score`` (0-100); a centre that records ``gpa`` instead has it rescaled to 0-100 with
``settings.data.gpa_scale`` (``build`` does this once). The class comparison uses the latest score
of every classmate enrolled on the as-of date (at least ``min_class_size`` with a score).

Example
-------
See ``tests/test_features_families.py::test_academics_change_and_class``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.features.context import Context, safe_diff

__all__ = ["compute", "class_stats"]


def class_stats(values: np.ndarray, groups: np.ndarray, mask: np.ndarray, *,
                min_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per student: mean, standard deviation and count of ``values`` over the student's group.

    Only students where ``mask`` is True and the value is not NaN enter the statistics; groups with
    fewer than ``min_size`` such students give NaN.
    """
    use = mask & ~np.isnan(values)
    frame = pd.DataFrame({"g": groups[use], "v": values[use]})
    stats = frame.groupby("g", sort=False)["v"].agg(["mean", "std", "count"])
    stats = stats[stats["count"] >= min_size]
    idx = stats.index.get_indexer(groups)
    found = idx >= 0
    take = np.where(found, idx, 0)
    mean = np.where(found, stats["mean"].to_numpy()[take] if len(stats) else np.nan, np.nan)
    std = np.where(found, stats["std"].to_numpy()[take] if len(stats) else np.nan, np.nan)
    count = np.where(found, stats["count"].to_numpy()[take] if len(stats) else 0, 0)
    return mean, std, count


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Academic features for every student at ``ctx.as_of``."""
    acad = ctx.events["academics"]
    latest, prev = acad.last("score"), acad.last("score", nth=1)
    rank, rank_prev = acad.last("rank_pct"), acad.last("rank_pct", nth=1)
    failed, failed_prev = acad.last("failed_courses"), acad.last("failed_courses", nth=1)
    mean, _, _ = class_stats(latest, ctx.register["_class_key"].to_numpy(), ctx.enrolled,
                             min_size=ctx.settings.features.min_class_size)
    has = acad.has(0)
    return {
        "acad_score_latest": latest,
        "acad_score_change": safe_diff(latest, prev),
        "acad_score_vs_class": safe_diff(latest, mean),
        "acad_rank_pct_latest": rank,
        "acad_rank_pct_change": safe_diff(rank, rank_prev),
        "acad_failed_latest": failed,
        "acad_failed_total": np.where(has, acad.sum("failed_courses"), np.nan),
        "acad_failed_change": safe_diff(failed, failed_prev),
        "acad_terms": acad.count(),
        "acad_days_since_term_end": acad.days_since_last(),
    }
