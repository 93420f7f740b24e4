"""Which training rows are built, and with what weight: one sampling rule under two budgets.

The rule: keep every positive and a seeded share of the negatives; a kept negative weighs 1/share,
so the weighted rows keep the class balance of all rows and the fitted log-odds are not shifted
(unlike class reweighting; calibration on a later fold corrects what is left). Two budgets set the
share:

- ``model.max_fit_rows`` (``model.logistic_max_fit_rows``): the rows the estimator fits on, per fit
  fold (a speed budget; it has always been there). It draws one seeded uniform number per usable row
  of the training window, in the window's order (as-of date, then register order), and keeps a
  negative of the fit fold when its number is below the fold's share.
- ``model.max_memory_gb``: the memory of the training matrix. The same numbers decide, *before* any
  feature is computed, which rows are built at all: a fit-fold negative whose number is above every
  share that could keep it is never materialised (this alone changes nothing in the model), and when
  the estimated matrix still passes the budget the negatives of the fit-only months get a lower share
  (weighted back by 1/share in the same way). The calibration and held-out months are kept whole
  unless they would take more than the fit months' rows leave (and more than half of the budget);
  then a seeded share of their *students* is kept (all their rows, positives and negatives alike: a
  uniform sample of students leaves the calibration and the held-out figures unbiased, needs no
  weights in the calibrator or the metrics, and keeps the calibrator's count of students honest).
  Where those months are also fit months (the refit learns on the evaluation's calibration months),
  their rows weigh 1/share of students.

Estimate: rows x features x 4 bytes (float32) x :data:`MEMORY_FACTOR` (the working copies: the fit
fold's own array and LightGBM's binned data sets; measured in docs/benchmarks.md).

Example
-------
>>> negative_share(1000, 100, max_rows=550)
0.5
>>> negative_share(400, 100, max_rows=550) is None
True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["negative_share", "RowSample", "plan_rows", "MEMORY_FACTOR", "EVALUATION_SHARE", "estimate_bytes"]

log = logging.getLogger(__name__)

# peak working memory of training over the size of its float32 matrix (benchmarks/bench_train_memory.py)
MEMORY_FACTOR = 1.5
# the share of the memory budget the calibration and held-out months keep at least (more when the fit
# months need less) before their students are sampled
EVALUATION_SHARE = 0.5
# the least share of a fit fold's negatives the row budget keeps (the memory budget may go below it)
MIN_FIT_SHARE = 0.05
# below this many outcomes left in the calibration and held-out months by the memory budget, early
# stopping and the calibrator work from noise: at 440 the model lost 15% of its AP (docs/benchmarks.md)
MIN_EVALUATION_OUTCOMES = 1_000


def negative_share(n: int, positives: int, *, max_rows: int) -> float | None:
    """Share of negatives kept so that about ``max_rows`` of ``n`` rows remain (None: keep all)."""
    if n <= max_rows or n - positives <= 0:
        return None
    return max((max_rows - positives) / (n - positives), MIN_FIT_SHARE)


def estimate_bytes(rows: int, features: int) -> float:
    """Estimated training memory for a matrix of ``rows`` x ``features`` (see the module docstring)."""
    return float(rows) * features * 4 * MEMORY_FACTOR


@dataclass
class RowSample:
    """Per built row: its seeded draw, the negative share it was built under, its student weight.

    Attributes
    ----------
    u
        The uniform draw of the row (seeded, drawn over every usable row of the window in order).
    share
        Share of negatives the memory budget kept where the row comes from (1: all).
    factor
        Weight of the student sample (1/share of students in sampled evaluation months, else 1).
    counts
        Rows and positives per as-of date over *all* usable rows (what model.json reports).
    info
        What the memory budget did, for model.json (None: it was not reached).
    """

    u: np.ndarray
    share: np.ndarray
    factor: np.ndarray
    counts: pd.DataFrame
    info: dict | None = field(default=None)

    @classmethod
    def everything(cls, frame: pd.DataFrame, *, seed: int) -> RowSample:
        """Every usable row is in ``frame`` (no memory sampling): the draws of the whole frame."""
        n = len(frame)
        counts = frame.groupby("as_of")["label"].agg(rows="size", positives="sum")
        return cls(u=np.random.default_rng(seed).random(n), share=np.ones(n), factor=np.ones(n), counts=counts)

    def population(self, dates) -> tuple[int, int]:
        """Usable rows and positives of ``dates`` over all rows (sampled or not)."""
        part = self.counts.loc[self.counts.index.isin(pd.DatetimeIndex(dates))]
        return int(part["rows"].sum()), int(part["positives"].sum())

    def fit_rows(self, rows: np.ndarray, y: np.ndarray, *, dates, max_rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows a fit fold learns from and their weights (None: all rows, unweighted).

        Every positive of ``rows`` is kept; a negative when its draw is below the fold's share
        (:func:`negative_share` of the fold's population) and the share it was built under.
        """
        n, positives = self.population(dates)
        share = negative_share(n, positives, max_rows=max_rows)
        untouched = (self.share[rows] == 1).all() and (self.factor[rows] == 1).all()
        if share is None and untouched:
            return rows, None
        effective = np.minimum(1.0 if share is None else share, self.share)
        keep = rows & ((y == 1) | (self.u < effective))
        weight = np.where(y[keep] == 1, 1.0, 1.0 / effective[keep])
        if not untouched:
            weight = weight * self.factor[keep]
        if share is not None:
            log.info("fit fold: %d rows; negatives subsampled to %.0f%% and weighted back (%d rows)", n, 100 * share,
                     keep.sum())
        if not untouched:
            log.info("fit fold: %d of %d rows built under the memory budget (model.max_memory_gb)", keep.sum(), n)
        return keep, weight


def plan_rows(as_of: list[pd.Timestamp], labels: list[np.ndarray], positions: list[np.ndarray], *,
              fit_steps: list[list[pd.Timestamp]], evaluation: list[pd.Timestamp], max_rows: int, n_features: int,
              max_memory_gb: float, seed: int, n_register: int) -> tuple[list[np.ndarray], RowSample]:
    """Choose the rows to build before any feature is computed.

    Parameters
    ----------
    as_of, labels, positions
        Per as-of date (sorted, usable rows only): the date, the labels and the register positions
        (any integer types: a store's window keeps them as int32 and int8).
    fit_steps
        The fit-fold dates of each fit (evaluation, refit).
    evaluation
        The calibration and held-out dates of every step (built whole unless the budget needs otherwise).
    max_rows, n_features, max_memory_gb, seed, n_register
        The row budget of a fit fold, the matrix width, the memory budget (0: none), the seed and the
        register's length (for the student draw).

    Returns
    -------
    (list of index arrays, RowSample)
        Per date, the indices (into that date's usable rows) to build; the sample of the built rows.

    Notes
    -----
    Worked date by date: the draws of the whole window are made in two sweeps of one seeded stream
    (the same numbers as one draw over every row), so memory beyond the window's own positions and
    labels is one date's rows and the rows built, never arrays over every usable row (at two million
    students x 48 dates that would be ~100 million rows; docs/benchmarks.md).
    """
    sizes = np.array([len(y) for y in labels], dtype=np.int64)
    positives = np.array([int(y.sum(dtype=np.int64)) for y in labels], dtype=np.int64)
    counts = pd.DataFrame({"rows": sizes, "positives": positives}, index=pd.DatetimeIndex(as_of, name="as_of"))
    sample = RowSample(u=np.zeros(0), share=np.zeros(0), factor=np.zeros(0), counts=counts)
    days = np.asarray(as_of, dtype="datetime64[ns]")
    is_eval = np.isin(days, np.asarray(evaluation, dtype="datetime64[ns]"))
    # per date: the largest share any fit keeps its negatives with (0: the date is in no fit fold)
    reach = np.zeros(len(as_of))
    for dates in fit_steps:
        n, pos = sample.population(dates)
        share = negative_share(n, pos, max_rows=max_rows)
        inside = np.isin(days, np.asarray(dates, dtype="datetime64[ns]"))
        reach[inside] = np.maximum(reach[inside], 1.0 if share is None else share)
    fit_only = ~is_eval & (reach > 0)

    def draws():  # per date, the draws fit_rows would make over the whole window (one stream, in order)
        rng = np.random.default_rng(seed)
        return (rng.random(int(n)) for n in sizes)

    # the rows any fit or the evaluation needs: every evaluation row; a fit-only date's positives and
    # the negatives whose draw is below the date's reach
    needed = np.where(is_eval, sizes, 0)
    for i, u in enumerate(draws()):
        if fit_only[i]:
            needed[i] = positives[i] + int(np.count_nonzero((labels[i] == 0) & (u < reach[i])))
    rows_needed = int(needed.sum())
    over_budget = bool(max_memory_gb) and estimate_bytes(rows_needed, n_features) > max_memory_gb * 1e9
    memory_share, student_share, drawn = 1.0, 1.0, None
    if over_budget:
        capacity = max(int(max_memory_gb * 1e9 / estimate_bytes(1, n_features)), 1)  # a budget below one row: one
        evaluation_rows = int(sizes[is_eval].sum())
        # the evaluation months may take what the fit months' rows leave, and at least half the budget
        allowed = max(EVALUATION_SHARE * capacity, capacity - int(needed[fit_only].sum()))
        kept_eval = evaluation_rows
        if evaluation_rows > allowed:
            student_share = allowed / evaluation_rows
            drawn = np.random.default_rng([seed, 17]).random(n_register) < student_share
            kept_eval = sum(int(np.count_nonzero(drawn[positions[i]])) for i in np.flatnonzero(is_eval))
        room = capacity - kept_eval - int(positives[fit_only].sum())
        # the share is fixed before looking at the draws (each negative is kept with probability share
        # exactly, so 1/share weights add up, in expectation, to the negatives left out): the expected
        # number kept, sum over dates of negatives x min(share, the fits' own share), equals the room
        per_date = np.where(fit_only, sizes - positives, 0).astype(float)
        expected = lambda share: float(np.sum(per_date * np.minimum(reach, share)))  # noqa: E731
        if expected(1.0) > room:
            lo, hi = 0.0, 1.0
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if expected(mid) <= max(room, 0) else (lo, mid)
            memory_share = lo
            if room <= 0:
                log.warning("the positives of the fit months alone pass model.max_memory_gb (%.3g GB): every "
                            "negative of those months is left out; raise the budget", max_memory_gb)

    chosen, kept_u, kept_share, kept_factor = [], [], [], []
    evaluation_outcomes = 0
    for i, u in enumerate(draws()):
        negative = labels[i] == 0
        if is_eval[i]:
            keep = np.ones(len(u), bool) if drawn is None else drawn[positions[i]]
            share, factor = 1.0, 1.0 if drawn is None else 1.0 / student_share
        elif fit_only[i]:
            keep = ~negative | (u < min(reach[i], memory_share))
            share, factor = 1.0, 1.0
        else:
            keep = np.zeros(len(u), bool)
            share, factor = 1.0, 1.0
        rows = np.flatnonzero(keep)
        if is_eval[i]:
            evaluation_outcomes += int(np.count_nonzero(~negative[rows]))
        chosen.append(rows)
        kept_u.append(u[rows])
        # a lowered negative (fit-only month) was built under the memory share; everything else under 1
        kept_share.append(np.where(negative[rows], memory_share, 1.0) if fit_only[i] else np.full(len(rows), share))
        kept_factor.append(np.full(len(rows), factor))
    built = int(sum(len(c) for c in chosen))
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    sample.u, sample.share, sample.factor = cat(kept_u), cat(kept_share), cat(kept_factor)
    if over_budget:
        sample.info = {"max_memory_gb": max_memory_gb,
                       "estimated_gb_all_rows": round(estimate_bytes(rows_needed, n_features) / 1e9, 2),
                       "estimated_gb_built": round(estimate_bytes(built, n_features) / 1e9, 2),
                       "rows_built": built, "rows_usable": int(sizes.sum()),
                       "fit_negative_share": round(memory_share, 6), "evaluation_student_share": round(student_share, 6),
                       "evaluation_outcomes": evaluation_outcomes,
                       "rule": "every positive of the fit months kept, negatives at the share weighted back by "
                               "1/share; calibration and held-out months: a seeded share of students, unweighted "
                               "(docs/models.md)"}
        log.warning("training matrix of %d rows x %d features would take about %.1f GB, above model.max_memory_gb "
                    "%.3g: built %d rows (fit-month negatives at %.1f%%, weighted back; calibration and held-out "
                    "months %.0f%% of students)", rows_needed, n_features, sample.info["estimated_gb_all_rows"],
                    max_memory_gb, built, 100 * memory_share, 100 * student_share)
        if student_share < 1 and evaluation_outcomes < MIN_EVALUATION_OUTCOMES:
            log.warning("under model.max_memory_gb %.3g the calibration and held-out months keep %d outcomes (of %d): "
                        "early stopping and calibration on so few are noisy and the model loses accuracy; raise "
                        "model.max_memory_gb (docs/models.md, Training memory)", max_memory_gb, evaluation_outcomes,
                        int(positives[is_eval].sum()))
    log.info("training rows: %d usable, %d built", int(sizes.sum()), built)
    return chosen, sample
