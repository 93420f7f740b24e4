"""Does the model serve every group of students alike? Per-group metrics, intervals and gaps.

For each grouping (gender, stage, grade, college and each family flag) and each of its groups, the
group table gives the audit metrics with cluster-bootstrap intervals, the same metrics for *the rest
of the population* (every audited student outside the group), and the gap ``group - rest`` with its
own interval (both sides come from the same replicates, so the gap's interval accounts for their
correlation). A gap is **flagged** when its size reaches the threshold of ``AuditSettings.gap_thresholds``
*and* it survives the Benjamini-Hochberg procedure at the false discovery rate ``1 - confidence``
over that metric's gaps (every group of every grouping, for one scorer: about forty). Each gap's
p-value is two-sided from its bootstrap standard error (normal), floored for proportions by the
binomial variance of "no difference" (:func:`_null_variance`); its percentile interval is reported
beside it. Without the correction about one null gap in twenty would cross zero by chance, and a
table of several hundred gaps would flag some every month.

Estimates, intervals and gaps come from :mod:`riskmodel.audit.metrics` (one pass of additive
components serves the group, its complement and every replicate). fairlearn's
:class:`~fairlearn.metrics.MetricFrame` over scikit-learn's metrics is the reference:
:func:`fairlearn_reference` gives its per-group values for any grouping, the tests check every group
metric against it, and the notebook can show both side by side. It is not on the production path
because MetricFrame stacks its inputs element by element: measured 60 s of a 73 s group table for
20,000 students x 12 months, against a 60 s budget for the whole audit (docs/audit.md).

For a family flag, the ``no`` group against the rest is the mirror image of ``yes`` against the rest;
it is reported but only ``yes`` (and ``missing``) can be flagged, so one difference is one flag.

A group with fewer than ``min_group_size`` rows or fewer than ``min_group_positives`` recorded
outcomes is reported as ``insufficient``: its metrics are left empty, never a fake 0 or 1. A group
whose recorded outcomes (or rows) are fewer than ``small_cell`` has that count suppressed in the
written table (``positives`` empty), as cohort reports do.

What the group table can and cannot see: it compares *recorded* outcomes. If one group's crises are
recorded less often (fewer referrals reach the centre), the model looks more accurate than it is
where the least is recorded. The ``observed_expected`` gap is the signal for this: a group whose
recorded outcomes fall well below what the model predicts from its screenings and records.

Example
-------
>>> import numpy as np, pandas as pd
>>> from riskmodel.audit.metrics import Bootstrap
>>> rng = np.random.default_rng(0)
>>> f = pd.DataFrame({"student_id": np.arange(400).astype(str), "as_of": 0, "score": rng.random(400),
...                   "gender": np.where(np.arange(400) < 200, "F", "M")})
>>> f["label"] = (rng.random(400) < f["score"]).astype(int)
>>> f["level"] = np.where(f["score"] > 0.9, "I", "none")
>>> t = group_table(f, groupings={"gender": "gender"}, boot=Bootstrap(replicates=50), min_group_size=50,
...                 min_group_positives=5, thresholds={"auc": 0.05})
>>> sorted(t["group"].unique())
['F', 'M']
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from riskmodel.audit.metrics import (
    RANK_MAX_BINS,
    Bootstrap,
    Replicates,
    calibration_bins,
    complement,
    components,
    finish,
    interval,
    rank_bins,
    ranking_exact,
)
from riskmodel.audit.performance import LEVELS, level_flags

__all__ = ["GROUP_METRICS", "fairlearn_reference", "group_columns", "group_table"]

log = logging.getLogger(__name__)

#: metrics reported per group (recall and precision at each level are added per level)
GROUP_METRICS: tuple[str, ...] = ("base_rate", "mean_score", "observed_expected", "auc", "average_precision",
                                  "brier", "ece")
MISSING = "missing"


def group_columns(students: pd.DataFrame, family_flags: list[str]) -> dict[str, str]:
    """Grouping name -> column, for the groupings the students table holds (gender, stage, grade,
    college, then each family flag in contract order).

    Example
    -------
    >>> group_columns(pd.DataFrame(columns=["gender", "college", "left_behind"]), ["left_behind", "migrant"])
    {'gender': 'gender', 'college': 'college', 'left_behind': 'left_behind'}
    """
    names = ["gender", "stage", "grade", "college", *family_flags]
    return {name: name for name in names if name in students.columns}


def _labels(values: pd.Series) -> np.ndarray:
    """Group label per row: booleans as yes/no, missing as 'missing', everything else as text."""
    if pd.api.types.is_bool_dtype(values) or str(values.dtype) == "boolean":
        out = np.where(values.fillna(False).astype(bool), "yes", "no").astype(object)
        out[values.isna().to_numpy()] = MISSING
        return out
    text_values = values.astype("string").str.strip()
    return text_values.mask(text_values == "").fillna(MISSING).to_numpy(dtype=object)  # "" (a school without colleges) too


def _safe(metric):
    def wrapped(y_true, y_pred, **kwargs):
        y_true = np.asarray(y_true)
        if metric is roc_auc_score and len(np.unique(y_true)) < 2:
            return np.nan
        if metric is average_precision_score and y_true.sum() == 0:
            return np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(metric(y_true, y_pred, **kwargs))

    return wrapped


def _recall(y_true, y_pred, flags):
    y_true = np.asarray(y_true)
    return float((np.asarray(flags) & (y_true == 1)).sum() / y_true.sum()) if y_true.sum() else np.nan


def _precision(y_true, y_pred, flags):
    flags = np.asarray(flags)
    return float((flags & (np.asarray(y_true) == 1)).sum() / flags.sum()) if flags.sum() else np.nan


def fairlearn_reference(frame: pd.DataFrame, column: str, *, score: str = "score", level: str = "level") -> pd.DataFrame:
    """fairlearn's ``MetricFrame.by_group`` over scikit-learn metrics: the reference values of the group table.

    Columns ``auc, average_precision, brier, recall_L, precision_L``; one row per group label (as
    :func:`group_table` labels them). Slow on large frames (see the module docstring).

    Example
    -------
    >>> f = pd.DataFrame({"label": [0, 1, 0, 1], "score": [0.1, 0.8, 0.3, 0.2], "level": ["none", "I", "none", "none"],
    ...                   "gender": ["F", "F", "M", "M"]})
    >>> fairlearn_reference(f, "gender")["auc"].tolist()
    [1.0, 0.0]
    """
    y = frame["label"].to_numpy(dtype=np.float64)
    p = frame[score].to_numpy(dtype=np.float64)
    flags = level_flags(frame[level].to_numpy(dtype=object))
    labels = _labels(frame[column])
    metrics = {"auc": _safe(roc_auc_score), "average_precision": _safe(average_precision_score),
               "brier": _safe(brier_score_loss)}
    params: dict[str, dict] = {}
    for lvl in LEVELS:
        metrics[f"recall_{lvl}"], params[f"recall_{lvl}"] = _recall, {"flags": flags[lvl]}
        metrics[f"precision_{lvl}"], params[f"precision_{lvl}"] = _precision, {"flags": flags[lvl]}
    result = MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=pd.Series(labels, name="group"),
                         sample_params=params)
    return result.by_group


def group_table(frame: pd.DataFrame, *, groupings: dict[str, str], boot: Bootstrap, min_group_size: int,
                min_group_positives: int, thresholds: dict[str, float], score: str = "score",
                level: str = "level", n_bins: int = 10, small_cell: int = 0) -> pd.DataFrame:
    """Per-group metrics with intervals, the rest of the population, the gap and whether it is flagged.

    Parameters
    ----------
    frame
        The audit frame (:mod:`riskmodel.audit.performance`) joined with the group columns.
    groupings
        Grouping name -> column of ``frame``.
    boot
        Cluster bootstrap over students.
    min_group_size, min_group_positives
        Below either, a group is ``insufficient`` (metrics empty).
    thresholds
        Metric -> smallest absolute gap that is flagged (when its interval also excludes zero).
    score, level
        The scorer's columns.
    n_bins
        Calibration bins for the ECE (equal-count over the whole frame, shared by every group).
    small_cell
        Recorded-outcome counts below this are suppressed (left empty) in the table.

    Returns
    -------
    DataFrame ``grouping, group, status, n, positives, metric, estimate, low, high, rest, gap,
    gap_low, gap_high, p_value, q_value, threshold, flagged`` (one row per group and metric);
    ``q_value`` is the Benjamini-Hochberg adjusted p-value over the tested gaps (empty where the gap
    is not tested: no threshold, no comparison, too small, or the mirrored ``no`` of a family flag).
    """
    y = frame["label"].to_numpy(dtype=np.float64)
    p = frame[score].to_numpy(dtype=np.float64)
    flags = level_flags(frame[level].to_numpy(dtype=object))
    rep = Replicates(frame["student_id"].to_numpy(), boot)
    shared = {"cal_bins": calibration_bins(p, n_bins), "rank": rank_bins(p, RANK_MAX_BINS)}
    total = components(rep, y, p, flags, **shared)
    metric_names = [*GROUP_METRICS, *(f"{m}_{lvl}" for lvl in LEVELS for m in ("recall", "precision"))]
    rows: list[dict] = []
    for grouping, column in groupings.items():
        labels = _labels(frame[column])
        for group in sorted(set(labels)):
            mask = labels == group
            part = components(rep, y, p, flags, rows=mask, **shared)
            rest = complement(total, part)
            if "_exact" in total:
                rest["_exact"] = ranking_exact(y[~mask], p[~mask])
            group_rows = _group_rows(grouping, group, finish(part), finish(rest), metric_names,
                                     boot=boot, min_size=min_group_size, min_positives=min_group_positives,
                                     thresholds=thresholds)
            if group == "no" and "yes" in labels:  # "no" vs rest mirrors "yes" vs rest: reported, tested once
                for row in group_rows:
                    row["tested"] = False
            rows += group_rows
    table = _flag(pd.DataFrame(rows), fdr=1.0 - boot.confidence)
    if small_cell and len(table):
        table["positives"] = table["positives"].astype("Int64").mask(table["positives"] < small_cell)
        table["n"] = table["n"].astype("Int64").mask(table["n"] < small_cell)  # a grade of four is a person or two
    return table


def _flag(table: pd.DataFrame, *, fdr: float) -> pd.DataFrame:
    """Benjamini-Hochberg per metric over the tested gaps; flagged = large enough and a discovery at ``fdr``."""
    from scipy.stats import false_discovery_control

    if table.empty:
        return table.assign(q_value=pd.Series(dtype="float64"))
    tested = table["tested"].to_numpy(dtype=bool) & np.isfinite(table["p_value"].to_numpy(dtype=np.float64))
    q = np.full(len(table), np.nan)
    for _, rows in table[tested].groupby("metric", sort=False):  # one family per metric: one question each
        q[table.index.get_indexer(rows.index)] = false_discovery_control(rows["p_value"].to_numpy(dtype=np.float64),
                                                                          method="bh")
    table.insert(table.columns.get_loc("p_value") + 1, "q_value", q)
    large = (table["gap"].abs() >= table["threshold"]).to_numpy(dtype=bool)
    table["flagged"] = tested & large & (np.nan_to_num(q, nan=1.0) <= fdr)
    return table.drop(columns="tested")


def _p_value(replicates: np.ndarray, gap: float, null_variance: float = 0.0) -> float:
    """Two-sided p-value of ``gap`` (normal), from the larger of its bootstrap variance and ``null_variance``."""
    from scipy.stats import norm

    usable = replicates[np.isfinite(replicates)]
    if len(usable) < 20 or not np.isfinite(gap):
        return float("nan")
    se = float(np.sqrt(max(np.var(usable, ddof=1), null_variance)))
    if se == 0.0:
        return 1.0 if gap == 0.0 else 0.0
    return float(2.0 * norm.sf(abs(gap) / se))


def _null_variance(metric: str, mine: dict, rest: dict) -> float:
    """Binomial variance of a proportion's gap if group and rest were alike (pooled); 0 for other metrics.

    A floor under the bootstrap: a small group whose level-I students include no recorded outcome
    has precision 0 in every replicate, so its bootstrap variance is 0 and a gap from chance alone
    would look certain. Rows are student-months, so this floor ignores the clustering the bootstrap
    captures; it only matters where the bootstrap has (almost) nothing to resample.
    """
    stem, _, level = metric.rpartition("_")

    def denominator(side: dict) -> float:
        if metric == "base_rate":
            return float(side["n"][0])
        if stem == "recall" and level in LEVELS:
            return float(side["positives"][0])
        if stem == "precision" and level in LEVELS:
            return float(side[f"selection_rate_{level}"][0] * side["n"][0])
        return 0.0

    d_mine, d_rest = denominator(mine), denominator(rest)
    v_mine, v_rest = float(mine[metric][0]), float(rest[metric][0])
    if d_mine <= 0 or d_rest <= 0 or not (np.isfinite(v_mine) and np.isfinite(v_rest)):
        return 0.0
    pooled = (v_mine * d_mine + v_rest * d_rest) / (d_mine + d_rest)
    return pooled * (1.0 - pooled) * (1.0 / d_mine + 1.0 / d_rest)


def _base_metric(metric: str) -> str:
    """``recall_II`` -> ``recall``: one threshold serves every level."""
    stem, _, suffix = metric.rpartition("_")
    return stem if suffix in LEVELS else metric


def _group_rows(grouping: str, group: str, mine: dict, rest: dict, metric_names: list[str],
                *, boot: Bootstrap, min_size: int, min_positives: int, thresholds: dict[str, float]) -> list[dict]:
    n, positives = int(mine["n"][0]), int(mine["positives"][0])
    rest_ok = rest["n"][0] >= min_size and rest["positives"][0] >= min_positives
    if n < min_size or positives < min_positives:
        status = "insufficient"
    elif not rest_ok:
        status = "no_comparison"  # the group is (nearly) everyone: there is no rest to compare with
    else:
        status = "ok"
    rows = []
    for metric in metric_names:
        row = {"grouping": grouping, "group": group, "status": status, "n": n, "positives": positives,
               "metric": metric, "estimate": np.nan, "low": np.nan, "high": np.nan, "rest": np.nan,
               "gap": np.nan, "gap_low": np.nan, "gap_high": np.nan, "p_value": np.nan,
               "threshold": thresholds.get(_base_metric(metric), np.nan), "flagged": False, "tested": False}
        if status != "insufficient":
            estimate, low, high, _ = interval(mine[metric], boot.confidence)
            row.update(estimate=estimate, low=low, high=high)
            if status == "ok":
                gaps = mine[metric] - rest[metric]
                gap, gap_low, gap_high, _ = interval(gaps, boot.confidence)
                row.update(rest=float(rest[metric][0]), gap=gap, gap_low=gap_low, gap_high=gap_high,
                           p_value=_p_value(gaps[1:], gap, _null_variance(metric, mine, rest)),
                           tested=bool(np.isfinite(row["threshold"])))
        rows.append(row)
    return rows
