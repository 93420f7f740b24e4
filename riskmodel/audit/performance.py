"""Ranking, alerting and calibration of the model against the rules baseline, pooled and by month.

The input is one *audit frame*: one row per (student, as-of date) of the audited period, with the
recorded outcome within the horizon (``label``), each scorer's calibrated probability (``score``
for the model, ``baseline_score`` for the rules baseline) and the level each scorer's list gave
(``level``, ``baseline_level``: ``I``, ``II``, ``III`` or ``none``). :mod:`riskmodel.audit.run`
builds it from the data and the model; the functions here need nothing upstream.

Example
-------
>>> import numpy as np, pandas as pd
>>> frame = pd.DataFrame({"student_id": list("abcd"), "as_of": pd.Timestamp("2026-03-01"),
...     "label": [1, 0, 0, 1], "score": [0.9, 0.1, 0.2, 0.6], "level": ["I", "none", "none", "II"]})
>>> t = performance_table(frame, scorers={"model": ("score", "level")}, boot=Bootstrap(replicates=0))
>>> float(t.query("metric == 'auc' and period == 'all'")["estimate"].iloc[0])
1.0
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from riskmodel.audit.metrics import (
    RANK_MAX_BINS,
    Bootstrap,
    Replicates,
    components,
    finish,
    interval,
    rank_bins,
    reliability_table,
)
from riskmodel.vocab import LEVELS, capacity_for

__all__ = ["LEVELS", "SCORERS", "calibration_table", "flagged_at", "level_capacity", "level_flags",
           "levels_at_capacity", "performance_table"]

log = logging.getLogger(__name__)

SCORERS: dict[str, tuple[str, str]] = {"model": ("score", "level"), "rules": ("baseline_score", "baseline_level")}


def flagged_at(level: pd.Series | np.ndarray, at: str) -> np.ndarray:
    """True where ``level`` is ``at`` or a higher level (I is the highest).

    Example
    -------
    >>> flagged_at(np.array(["I", "III", "none"]), "II").tolist()
    [True, False, False]
    """
    return np.isin(np.asarray(level, dtype=object), LEVELS[: LEVELS.index(at) + 1])


def level_capacity(n_students: int, *, capacity: dict[str, int] | None,
                   capacity_per_1000: dict[str, float]) -> dict[str, int]:
    """Students a centre can see per level per month, cumulative from level I.

    ``capacity`` (absolute, per level) wins over ``capacity_per_1000`` (scaled by the number of
    students scored on that as-of date); the settings of ``riskmodel.warning``.

    Example
    -------
    >>> level_capacity(2000, capacity=None, capacity_per_1000={"I": 5, "II": 15, "III": 30})
    {'I': 10, 'II': 40, 'III': 100}
    """
    per_level = capacity or {lvl: capacity_for(rate, n_students) for lvl, rate in capacity_per_1000.items()}
    cumulative, total = {}, 0
    for lvl in LEVELS:
        total += int(per_level.get(lvl, 0))
        cumulative[lvl] = min(total, n_students)
    return cumulative


def levels_at_capacity(frame: pd.DataFrame, score: str, *, capacity: dict[str, int] | None,
                       capacity_per_1000: dict[str, float], seed: int = 0) -> pd.Series:
    """Levels by rank of ``score`` within each as-of date, filling each level's capacity in turn.

    Used for a scorer that has no list of its own (the rules baseline when ``riskmodel.warning``
    cannot list it). Tied scores at a capacity boundary are broken by a seeded random order, so the
    rules baseline's many ties are not broken by file order.

    Example
    -------
    >>> f = pd.DataFrame({"as_of": 1, "s": [0.9, 0.5, 0.1, 0.7]})
    >>> levels_at_capacity(f, "s", capacity={"I": 1, "II": 1}, capacity_per_1000={}).tolist()
    ['I', 'none', 'none', 'II']
    """
    tiebreak = np.random.default_rng(seed).random(len(frame))
    ranked = pd.DataFrame({"as_of": frame["as_of"].to_numpy(), "s": -frame[score].to_numpy(), "t": tiebreak})
    rank = ranked.sort_values(["as_of", "s", "t"]).groupby("as_of").cumcount().reindex(ranked.index) + 1
    size = ranked.groupby("as_of")["s"].transform("size")
    level = np.full(len(frame), "none", dtype=object)
    for as_of_size in np.unique(size):
        caps = level_capacity(int(as_of_size), capacity=capacity, capacity_per_1000=capacity_per_1000)
        rows = (size == as_of_size).to_numpy()
        for lvl in reversed(LEVELS):
            level[rows & (rank.to_numpy() <= caps[lvl])] = lvl
    return pd.Series(level, index=frame.index, name="level")


def level_flags(level: pd.Series | np.ndarray) -> dict[str, np.ndarray]:
    """Level name -> listed at that level or higher, for :func:`riskmodel.audit.metrics.components`."""
    return {lvl: flagged_at(level, lvl) for lvl in LEVELS}


def _rows(values: dict[str, np.ndarray], boot: Bootstrap, skip: tuple[str, ...] = ("n", "positives"),
          **keys: object) -> list[dict]:
    rows = []
    for metric, series in values.items():
        if metric in skip:
            continue
        estimate, low, high, usable = interval(series, boot.confidence)
        rows.append({**keys, "metric": metric, "estimate": estimate, "low": low, "high": high,
                     "replicates": usable})
    return rows


def performance_table(frame: pd.DataFrame, *, scorers: dict[str, tuple[str, str]] | None = None,
                      boot: Bootstrap, n_bins: int = 10, by_month: bool = True) -> pd.DataFrame:
    """Each scorer's metrics with intervals, over the whole period (``period == "all"``) and by month.

    Parameters
    ----------
    frame
        The audit frame (module docstring).
    scorers
        Scorer name -> (score column, level column); default :data:`SCORERS` for the columns present.
    boot
        The bootstrap; over the whole period it resamples students (clusters of monthly rows).
    n_bins
        Equal-count bins of the ECE, computed within each period.
    by_month
        Also one block of rows per as-of date.

    Returns
    -------
    DataFrame ``scorer, period, metric, estimate, low, high, replicates, n, positives``; metrics
    ``auc, average_precision, brier, ece, base_rate, mean_score, observed_expected`` and
    ``precision_L, recall_L, selection_rate_L`` for each level L (cumulative from level I).
    """
    scorers = scorers or {k: v for k, v in SCORERS.items() if v[0] in frame.columns}
    rep = Replicates(frame["student_id"].to_numpy(), boot)
    y = frame["label"].to_numpy(dtype=np.float64)
    as_of = frame["as_of"].to_numpy()
    periods: list[tuple[str, np.ndarray | None]] = [("all", None)]
    if by_month:
        periods += [(pd.Timestamp(d).date().isoformat(), as_of == d) for d in np.unique(as_of)]
    rows: list[dict] = []
    for scorer, (score_col, level_col) in scorers.items():
        score = frame[score_col].to_numpy(dtype=np.float64)
        flags = level_flags(frame[level_col].to_numpy(dtype=object))
        rank = rank_bins(score, RANK_MAX_BINS)
        for period, mask in periods:
            values = finish(components(rep, y, score, flags, rows=mask, n_bins=n_bins, rank=rank))
            n, positives = int(values["n"][0]), int(values["positives"][0])
            rows += _rows(values, boot, scorer=scorer, period=period, n=n, positives=positives)
    table = pd.DataFrame(rows)
    return table[["scorer", "period", "metric", "estimate", "low", "high", "replicates", "n", "positives"]]


def calibration_table(frame: pd.DataFrame, *, scorers: dict[str, tuple[str, str]] | None = None,
                      n_bins: int = 10) -> pd.DataFrame:
    """Reliability curves: per scorer and period (``all`` and each as-of date), per equal-count bin.

    Returns
    -------
    DataFrame ``scorer, period, bin, n, positives, mean_score, observed_rate, observed_low,
    observed_high, score_min, score_max``.
    """
    scorers = scorers or {k: v for k, v in SCORERS.items() if v[0] in frame.columns}
    periods: list[tuple[str, pd.DataFrame]] = [("all", frame)]
    periods += [(pd.Timestamp(d).date().isoformat(), part) for d, part in frame.groupby("as_of", sort=True)]
    parts = []
    for period, part in periods:
        for scorer, (score_col, _) in scorers.items():
            table = reliability_table(part["label"].to_numpy(), part[score_col].to_numpy(), n_bins=n_bins)
            parts.append(table.assign(scorer=scorer, period=period))
    out = pd.concat(parts, ignore_index=True)
    first = ["scorer", "period"]
    return out[first + [c for c in out.columns if c not in first]]
