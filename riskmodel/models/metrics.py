"""The figures a model is judged by on a later period: ranking at capacity, AP, calibration.

Recall at capacity is what a centre lives with: each month it can see ``k`` students per 1,000; of
the students who had an outcome within the horizon, how many were among the ``k`` highest scores of
their own month? Ties at the cut are broken by a keyed hash of the row (see
riskmodel.warning.levels), here approximated by a fixed random permutation so that a score with many
ties (the rules baseline) is not flattered by the input order.

Example
-------
>>> import numpy as np
>>> y = np.array([0, 0, 1, 0, 1]); p = np.array([0.1, 0.2, 0.9, 0.3, 0.4])
>>> recall_at_capacity(y, p, np.zeros(5), per_1000=400)
1.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from riskmodel.vocab import capacity_for

__all__ = ["recall_at_capacity", "expected_calibration_error", "evaluate"]


def recall_at_capacity(y, score, groups, *, per_1000: float, seed: int = 0) -> float:
    """Share of positives ranked within the top ``per_1000`` per 1,000 of their own group (month)."""
    frame = pd.DataFrame({"y": np.asarray(y, int), "s": np.asarray(score, float), "g": np.asarray(groups)})
    frame["tie"] = np.random.default_rng(seed).permutation(len(frame))
    frame = frame.sort_values(["g", "s", "tie"], ascending=[True, False, True])
    position = frame.groupby("g", sort=False).cumcount()
    size = frame.groupby("g", sort=False)["y"].transform("size")
    capacity = capacity_for(per_1000, size.to_numpy())
    positives = frame["y"].sum()
    return float(frame.loc[position < capacity, "y"].sum() / positives) if positives else float("nan")


def expected_calibration_error(y, p, *, n_bins: int = 10, strategy: str = "quantile") -> float:
    """Weighted mean |observed rate - mean predicted| over bins of the predicted probability.

    ``quantile`` bins hold equal numbers of rows (informative when most probabilities are small);
    ``uniform`` bins split [0, 1] evenly.
    """
    y = np.asarray(y, float)
    p = np.asarray(p, float)
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    else:
        edges = np.linspace(0, 1, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    counts = np.bincount(bins, minlength=len(edges))
    observed = np.bincount(bins, weights=y, minlength=len(edges))
    predicted = np.bincount(bins, weights=p, minlength=len(edges))
    used = counts > 0
    return float(np.sum(np.abs(observed[used] - predicted[used])) / len(y))


def evaluate(y, probability, ranking, groups, *, capacity_per_1000: dict[str, float]) -> dict[str, float]:
    """The held-out figures recorded in model.json and printed by the benchmark.

    Parameters
    ----------
    y
        Outcome within the horizon (0/1).
    probability
        Calibrated probability.
    ranking
        The score the list is ordered by (the raw score: calibration never reorders).
    groups
        The as-of date of each row (capacity applies per month).
    capacity_per_1000
        Level capacities per 1,000 students, e.g. ``{"I": 5, "II": 15, "III": 30}``.
    """
    y = np.asarray(y, int)
    out = {"rows": int(len(y)), "positives": int(y.sum()), "prevalence": float(y.mean()) if len(y) else float("nan")}
    if 0 < y.sum() < len(y):
        out["average_precision"] = float(average_precision_score(y, ranking))
        out["roc_auc"] = float(roc_auc_score(y, ranking))
    out["brier"] = float(brier_score_loss(y, probability))
    out["ece_quantile"] = expected_calibration_error(y, probability, strategy="quantile")
    out["ece_uniform"] = expected_calibration_error(y, probability, strategy="uniform")
    out["mean_probability"] = float(np.mean(probability))
    i, ii = capacity_per_1000.get("I", 0.0), capacity_per_1000.get("II", 0.0)
    out["recall_at_I"] = recall_at_capacity(y, ranking, groups, per_1000=i)
    out["recall_at_I_II"] = recall_at_capacity(y, ranking, groups, per_1000=i + ii)
    out["recall_at_I_II_III"] = recall_at_capacity(y, ranking, groups,
                                                   per_1000=i + ii + capacity_per_1000.get("III", 0.0))
    return out
