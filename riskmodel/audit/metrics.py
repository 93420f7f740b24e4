"""Ranking, alerting and calibration metrics with cluster-bootstrap confidence intervals.

Why a cluster bootstrap by student
----------------------------------
An audit pools monthly as-of dates, so one student contributes up to twelve rows, and rows of the
same student are strongly correlated (same features, often the same outcome window). Resampling rows
would treat them as independent and give intervals that are too narrow. We resample *students* with
replacement (each replicate draws as many students as there are); a student drawn ``c`` times
contributes all of their rows ``c`` times. Within one month each student has one row, so the monthly
tables are an ordinary bootstrap. Intervals are percentile intervals at ``confidence``; a replicate in
which a metric is undefined (no recorded outcome drawn) is left out and the number of usable
replicates is reported beside the interval (none is given below 20).

How it stays fast
-----------------
Every metric is built from *additive components*: sums over rows (outcomes, scores, squared errors,
flags, hits) and histograms over score bins. For a replicate the component is ``counts @ per-student
sums``, so :class:`Replicates` computes all replicates with one (sparse) matrix product, and a
group's complement ("the rest of the population") is the total minus the group, with no second pass.
ROC AUC and average precision are computed from histograms over the distinct scores when there are at
most ``rank_bins`` of them (exact, ties as scikit-learn treats them), otherwise over ``rank_bins``
equal-count score bins; in that case every replicate is shifted by the difference between the exact
point estimate and the binned one, so binning moves neither the estimate nor the interval's centre.

Alerting at capacity
--------------------
A centre can see only so many students a month. Levels are cumulative: "at level II" means listed at
level I or II. Precision and recall at a level take the list as *issued* (fixed flags) and resample
students, so the interval reflects who the outcomes happened to, not a re-ranking.

Example
-------
>>> import numpy as np
>>> rep = Replicates(np.array(["a", "b", "c", "d"]), Bootstrap(replicates=0))
>>> comp = components(rep, np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]), {})
>>> float(finish(comp)["auc"][0])
0.75
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sparse

from riskmodel.vocab import wilson_interval

__all__ = [
    "RANK_MAX_BINS",
    "Bootstrap",
    "Replicates",
    "calibration_bins",
    "complement",
    "components",
    "finish",
    "interval",
    "rank_bins",
    "ranking_exact",
    "reliability_table",
]


RANK_MAX_BINS = 1024  # distinct scores up to this: exact ranking histograms; above: equal-count bins


@dataclass(frozen=True)
class Bootstrap:
    """A seeded cluster bootstrap over students.

    Parameters
    ----------
    replicates
        Number of bootstrap replicates (``AuditSettings.bootstrap``); 0 gives estimates only.
    seed
        Seed of the generator; the same seed gives the same intervals.
    confidence
        Two-sided level of the percentile interval.
    """

    replicates: int = 500
    seed: int = 20260301
    confidence: float = 0.95


class Replicates:
    """Student resampling counts and the row -> student map of one audit frame.

    Row 0 of :attr:`counts` is all ones (the point estimate); rows ``1..B`` are the replicates.

    Parameters
    ----------
    student_id
        Student of each row of the frame the metrics will be computed on.
    boot
        Replicates, seed and confidence.

    Example
    -------
    >>> rep = Replicates(np.array(["a", "a", "b"]), Bootstrap(replicates=3, seed=1))
    >>> rep.counts.shape, rep.sums(np.ones(3)).tolist()[0]
    ((4, 2), 3.0)
    """

    def __init__(self, student_id: np.ndarray | pd.Series, boot: Bootstrap) -> None:
        codes, uniques = pd.factorize(np.asarray(student_id))
        self.codes = codes.astype(np.int64)
        self.n_students = len(uniques)
        self.boot = boot
        rng = np.random.default_rng(boot.seed)
        draws = rng.integers(0, self.n_students, size=(boot.replicates, self.n_students))
        offsets = np.arange(boot.replicates, dtype=np.int64)[:, None] * self.n_students
        counts = np.bincount((draws + offsets).ravel(), minlength=boot.replicates * self.n_students)
        self.counts = np.vstack([np.ones((1, self.n_students)),
                                 counts.reshape(boot.replicates, self.n_students).astype(np.float64)])
        # students x replicates, C-ordered: what a sparse (bins x students) matrix multiplies fastest
        self._counts_by_student = np.ascontiguousarray(self.counts.T)

    def sums(self, values: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """``sum(values)`` over ``rows`` (a boolean mask; all rows if None) for every replicate."""
        codes, values = self._select(values, rows)
        per_student = np.bincount(codes, weights=values, minlength=self.n_students)
        return self.counts @ per_student

    def sums_many(self, values: dict[str, np.ndarray], rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """:meth:`sums` of several row vectors with one matrix product."""
        codes = self.codes if rows is None else self.codes[rows]
        per_student = np.empty((len(values), self.n_students))
        for i, vector in enumerate(values.values()):
            vector = np.broadcast_to(np.asarray(vector, dtype=np.float64), self.codes.shape)
            per_student[i] = np.bincount(codes, weights=vector if rows is None else vector[rows],
                                         minlength=self.n_students)
        result = per_student @ self._counts_by_student
        return dict(zip(values, result))

    def hist(self, bins: np.ndarray, n_bins: int, values: np.ndarray,
             rows: np.ndarray | None = None) -> np.ndarray:
        """``(R, n_bins)``: sum of ``values`` per bin over ``rows`` for every replicate."""
        codes, values = self._select(values, rows)
        chosen = bins if rows is None else bins[rows]
        nonzero = values != 0  # outcome-weighted histograms touch only the few rows with an outcome
        per_bin = sparse.csr_matrix((values[nonzero], (chosen[nonzero], codes[nonzero])), shape=(n_bins, self.n_students))
        return np.asarray(per_bin @ self._counts_by_student).T

    def _select(self, values: np.ndarray, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), self.codes.shape)
        if rows is None:
            return self.codes, values
        return self.codes[rows], values[rows]


def calibration_bins(score: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-count bin index per row (0..n_bins-1), the binning of scikit-learn's ``strategy="quantile"``.

    Edges are the ``0, 1/n_bins, ..., 1`` quantiles of ``score``; a score equal to an inner edge goes
    to the lower bin (``np.searchsorted(edges[1:-1], score)``). Rare outcomes put most scores near 0,
    where equal-width bins would hold almost every student in one bin; equal-count bins keep each
    bin's observed rate estimable. Tied edges leave bins empty; empty bins are dropped.

    Example
    -------
    >>> calibration_bins(np.array([0.1, 0.2, 0.3, 0.4]), 2).tolist()
    [0, 0, 1, 1]
    """
    s = np.asarray(score, dtype=np.float64)
    if len(s) == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.percentile(s, np.linspace(0.0, 100.0, n_bins + 1))
    return np.searchsorted(edges[1:-1], s).astype(np.int64)


def rank_bins(score: np.ndarray, max_bins: int) -> tuple[np.ndarray, int, bool]:
    """Bin of each score for the ranking histograms, ascending in score; ``(bins, n_bins, exact)``.

    Exact (one bin per distinct score) when there are at most ``max_bins`` distinct scores.
    """
    s = np.asarray(score, dtype=np.float64)
    distinct, inverse = np.unique(s, return_inverse=True)
    if len(distinct) <= max_bins:
        return inverse.astype(np.int64), max(len(distinct), 1), True
    edges = np.unique(np.quantile(s, np.linspace(0.0, 1.0, max_bins + 1))[1:-1])
    return np.searchsorted(edges, s, side="right").astype(np.int64), len(edges) + 1, False


def ranking_exact(y_true: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Unweighted ROC AUC and average precision, ties as scikit-learn treats them (NaN if undefined).

    Example
    -------
    >>> r = ranking_exact(np.array([0, 1, 1]), np.array([0.2, 0.2, 0.9]))
    >>> r["auc"], round(r["average_precision"], 4)
    (0.75, 0.8333)
    """
    y = np.asarray(y_true, dtype=np.float64)
    bins, n_bins, _ = rank_bins(score, max_bins=len(y) + 1)
    pos = np.bincount(bins, weights=y, minlength=n_bins)[None, :]
    neg = np.bincount(bins, weights=1.0 - y, minlength=n_bins)[None, :]
    auc, ap = _ranking_from_hist(pos, neg)
    return {"auc": float(auc[0]), "average_precision": float(ap[0])}


def _merge_negative_runs(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop empty bins and merge each run of bins without positives into one bin; ``(bins, R)`` arrays.

    Exact for ROC AUC (the curve is flat over such a run, so the trapezoids add up) and for AP
    (precision is only read where recall rises). Resampling only reweights rows, so a bin without
    positives (or empty) in the point estimate (column 0) is so in every replicate.
    """
    has_pos = pos[:, 0] > 0
    used = has_pos | (neg[:, 0] > 0)
    pos, neg, has_pos = pos[used], neg[used], has_pos[used]
    if pos.shape[0] == 0:
        return pos, neg
    starts = np.r_[True, has_pos[1:] | has_pos[:-1]]  # a positive bin, or the first after one, opens a run
    index = np.flatnonzero(starts)
    if len(index) == len(has_pos):
        return pos, neg
    return np.add.reduceat(pos, index, axis=0), np.add.reduceat(neg, index, axis=0)


def _ranking_from_hist(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC and AP from per-bin positive and negative mass ``(R, bins)``, bins ascending in score."""
    pos, neg = _merge_negative_runs(pos.T, neg.T)  # (bins, R): contiguous along the replicates
    if pos.shape[0] == 0:
        nothing = np.full(pos.shape[1], np.nan)
        return nothing, nothing.copy()
    tp = np.cumsum(pos[::-1], axis=0)
    fp = np.cumsum(neg[::-1], axis=0)
    total_pos, total_neg = tp[-1], fp[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.vstack([np.zeros_like(total_pos), tp / total_pos])
        fpr = np.vstack([np.zeros_like(total_neg), fp / total_neg])
        auc = np.sum(np.diff(fpr, axis=0) * (tpr[1:] + tpr[:-1]) / 2.0, axis=0)
        flagged = tp + fp
        precision = np.where(flagged > 0, tp / np.where(flagged > 0, flagged, 1.0), 0.0)
        ap = np.sum(np.diff(tpr, axis=0) * precision, axis=0)
    auc[(total_pos <= 0) | (total_neg <= 0)] = np.nan
    ap[total_pos <= 0] = np.nan
    return auc, ap


def components(rep: Replicates, y_true: np.ndarray, score: np.ndarray, flags: dict[str, np.ndarray],
               *, rows: np.ndarray | None = None, n_bins: int = 10, rank_max_bins: int = RANK_MAX_BINS,
               cal_bins: np.ndarray | None = None, rank: tuple[np.ndarray, int, bool] | None = None) -> dict:
    """Additive components of every metric over ``rows``, for every replicate.

    Parameters
    ----------
    rep
        Resampling counts of the frame.
    y_true, score
        Recorded outcome (0/1) and calibrated probability per row of the frame.
    flags
        Name -> boolean per row (e.g. ``{"I": listed at level I, ...}``) for precision and recall.
    rows
        Boolean mask of the rows to use (a group, a month); all rows if None.
    n_bins
        Calibration bins (used when ``cal_bins`` is None).
    rank_max_bins
        Largest number of ranking-histogram bins (see the module docstring).
    cal_bins, rank
        Precomputed bins over the whole frame, so that a group and its complement share them.

    Returns
    -------
    dict of arrays with leading dimension ``R`` (replicates + 1); add or subtract two of them
    key by key to combine or complement populations, then call :func:`finish`.
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(score, dtype=np.float64)
    if cal_bins is None:  # equal-count bins of the rows in use
        cal = np.zeros(len(p), dtype=np.int64)
        cal[slice(None) if rows is None else rows] = calibration_bins(p if rows is None else p[rows], n_bins)
    else:
        cal = cal_bins
    bins, n_rank, exact = rank if rank is not None else rank_bins(p, rank_max_bins)
    n_cal = int(cal.max()) + 1 if len(cal) else 1
    vectors = {"n": np.ones_like(y), "positives": y, "sum_score": p, "sum_sq": (p - y) ** 2}
    for name, flag in flags.items():
        f = np.asarray(flag, dtype=np.float64)
        vectors[f"flagged_{name}"] = f
        vectors[f"hits_{name}"] = f * y
    out = rep.sums_many(vectors, rows)
    out.update({
        "cal_n": rep.hist(cal, n_cal, np.ones_like(y), rows), "cal_y": rep.hist(cal, n_cal, y, rows),
        "cal_p": rep.hist(cal, n_cal, p, rows),
        "rank_pos": rep.hist(bins, n_rank, y, rows), "rank_neg": rep.hist(bins, n_rank, 1.0 - y, rows),
    })
    if not exact:
        mask = slice(None) if rows is None else rows
        out["_exact"] = ranking_exact(y[mask], p[mask])
    return out


def complement(total: dict, part: dict) -> dict:
    """Components of the population minus ``part`` (exact ranking shifts are not complemented)."""
    return {k: total[k] - part[k] for k in total if not k.startswith("_")}


def finish(comp: dict) -> dict[str, np.ndarray]:
    """Metrics from components: name -> array over replicates (index 0 is the point estimate).

    ``observed_expected`` is recorded outcomes over the sum of predicted probabilities: 1 is calibrated
    in the large; below 1, fewer outcomes were recorded than the model expected.
    ``ece`` is the expected calibration error over the components' calibration bins.
    """
    n, pos = comp["n"], comp["positives"]
    with np.errstate(invalid="ignore", divide="ignore"):
        metrics = {
            "n": n, "positives": pos,
            "base_rate": np.where(n > 0, pos / n, np.nan),
            "mean_score": np.where(n > 0, comp["sum_score"] / n, np.nan),
            "observed_expected": np.where(comp["sum_score"] > 0, pos / comp["sum_score"], np.nan),
            "brier": np.where(n > 0, comp["sum_sq"] / n, np.nan),
        }
        cal_n = comp["cal_n"]
        gap = np.abs(comp["cal_y"] - comp["cal_p"])  # |observed - predicted| summed per bin = mass * |rate gap|
        metrics["ece"] = np.where(n > 0, gap.sum(axis=1) / np.where(cal_n.sum(axis=1) > 0, cal_n.sum(axis=1), 1), np.nan)
    auc, ap = _ranking_from_hist(comp["rank_pos"], comp["rank_neg"])
    if "_exact" in comp:  # binned histogram: shift every replicate so the estimate is exact
        auc = auc + (comp["_exact"]["auc"] - auc[0])
        ap = ap + (comp["_exact"]["average_precision"] - ap[0])
    metrics["auc"], metrics["average_precision"] = auc, ap
    for key in [k for k in comp if k.startswith("flagged_")]:
        name = key.removeprefix("flagged_")
        flagged, hits = comp[key], comp[f"hits_{name}"]
        with np.errstate(invalid="ignore", divide="ignore"):
            metrics[f"precision_{name}"] = np.where(flagged > 0, hits / flagged, np.nan)
            metrics[f"recall_{name}"] = np.where(pos > 0, hits / pos, np.nan)
            metrics[f"selection_rate_{name}"] = np.where(n > 0, flagged / n, np.nan)
    return metrics


def reliability_table(y_true: np.ndarray, score: np.ndarray, *, n_bins: int = 10) -> pd.DataFrame:
    """The reliability curve: per non-empty equal-count bin, n, mean score, observed rate and its
    Wilson 95% interval.

    Example
    -------
    >>> t = reliability_table(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.7, 0.9]), n_bins=2)
    >>> t[["bin", "n"]].values.tolist()
    [[0, 2], [1, 2]]
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(score, dtype=np.float64)
    frame = pd.DataFrame({"bin": calibration_bins(p, n_bins), "y": y, "p": p})
    table = frame.groupby("bin").agg(n=("y", "size"), positives=("y", "sum"), mean_score=("p", "mean"),
                                     observed_rate=("y", "mean"), score_min=("p", "min"), score_max=("p", "max"))
    low, high = wilson_interval(table["positives"].to_numpy(), table["n"].to_numpy())
    table["observed_low"], table["observed_high"] = low, high
    return table.reset_index()


def interval(values: np.ndarray, confidence: float) -> tuple[float, float, float, int]:
    """Point estimate and percentile interval from ``values`` (index 0 = estimate, rest = replicates).

    Returns ``(estimate, low, high, usable_replicates)``; the interval is NaN when the estimate is
    undefined or fewer than 20 replicates are usable.

    Example
    -------
    >>> interval(np.r_[0.5, np.linspace(0.4, 0.6, 101)], 0.9)[:3]
    (0.5, 0.41, 0.59)
    """
    estimate = float(values[0])
    usable = values[1:][np.isfinite(values[1:])]
    if len(usable) < 20 or not np.isfinite(estimate):
        return estimate, float("nan"), float("nan"), int(len(usable))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(usable, [alpha, 1.0 - alpha])
    return estimate, round(float(low), 12), round(float(high), 12), int(len(usable))
