"""The acute phase: a short, causal crisis state of the latent simulation.

A student not in an acute phase enters one in a month with probability
``sigmoid(ACUTE_INTERCEPT + ACUTE_SLOPE * distress + ACUTE_AFTER_EVENT * [a life event this month]
- TREATMENT_HAZARD * [treated])``,
on a day drawn uniformly in the month; it lasts a geometric number of days (mean ``ACUTE_MEAN_DAYS``),
possibly into the next months. While it lasts the outcome log-odds rise by ``ACUTE_HAZARD`` and the
people around the student write observation entries of high severity at ``ACUTE_OBS_RATE`` a month,
whether or not an outcome follows. Nothing here looks at a future outcome: outcomes are drawn from the
hazard that already includes the acute state, so the truth's ``risk_90d`` (realised path) stays the best
achievable ranking. Days are integer day numbers (``datetime64[D]`` as ``int64``).

Example
-------
>>> import numpy as np
>>> share(np.array([10, 0]), np.array([20, 0]), 0, 30).round(3).tolist()  # the second is not acute
[0.333, 0.0]
"""

from __future__ import annotations

import numpy as np

from riskmodel.synth import params

__all__ = ["onsets", "share", "mix", "outcome_days", "entries"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def onsets(d: np.ndarray, struck: np.ndarray, treated: np.ndarray, free: np.ndarray, m0: int, n_days: int,
           start: np.ndarray, end: np.ndarray, rng: np.random.Generator) -> None:
    """Draw this month's onsets among the ``free`` students; update ``start`` and ``end`` (end exclusive) in place.

    Parameters
    ----------
    d, struck, treated
        The month's distress, whether a life event struck this month, whether the student is treated.
    free
        Students who may start a phase (enrolled and not in one on the month's first day).
    m0, n_days
        The month's first day number and its length.
    start, end
        Each student's latest phase as day numbers; overwritten for the new onsets.

    Example
    -------
    >>> start, end = np.zeros(3, np.int64), np.zeros(3, np.int64)
    >>> no = np.zeros(3, bool)
    >>> onsets(np.array([9.0, 9.0, -9.0]), no, no, np.array([True, False, True]), 100, 30, start, end,
    ...        np.random.default_rng(0))
    >>> bool(start[0] >= 100 and end[0] > start[0]), int(end[1]), int(end[2])
    (True, 0, 0)
    """
    p = _sigmoid(params.ACUTE_INTERCEPT + params.ACUTE_SLOPE * d + params.ACUTE_AFTER_EVENT * struck
                 - params.TREATMENT_HAZARD * treated)
    new = np.flatnonzero(free & (rng.random(d.size) < p))
    start[new] = m0 + rng.integers(0, n_days, new.size)
    end[new] = start[new] + rng.geometric(1.0 / params.ACUTE_MEAN_DAYS, new.size)


def share(start: np.ndarray, end: np.ndarray, m0: int, m1: int) -> np.ndarray:
    """Share of the days ``[m0, m1)`` each student spends in an acute phase ``[start, end)``."""
    days = np.clip(np.minimum(end, m1) - np.maximum(start, m0), 0, None)
    return days / float(m1 - m0)


def mix(logit: np.ndarray, acute_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The month's outcome probability, and the part of it that falls in the acute days."""
    acute_part = acute_share * _sigmoid(logit + params.ACUTE_HAZARD)
    return (1.0 - acute_share) * _sigmoid(logit) + acute_part, acute_part


def outcome_days(idx: np.ndarray, p: np.ndarray, acute_part: np.ndarray, start: np.ndarray, end: np.ndarray,
                 m0: int, m1: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers of the outcomes of students ``idx``: inside the acute days with the acute part's share
    of the month's probability, otherwise on one of the month's other days; and whether each is acute."""
    a0 = np.clip(start[idx], m0, m1)
    a1 = np.clip(end[idx], a0, m1)
    in_acute = (rng.random(idx.size) * p[idx] < acute_part[idx]) & (a1 > a0)
    u = rng.random(idx.size)
    inside = a0 + np.floor(u * (a1 - a0)).astype(np.int64)
    calm = (m1 - m0) - (a1 - a0)
    k = np.floor(u * np.maximum(calm, 1)).astype(np.int64)
    outside = np.where(m0 + k < a0, m0 + k, k + a1 - (a0 - m0))
    return np.where(in_acute, inside, np.minimum(outside, m1 - 1)), in_acute


def entries(start: np.ndarray, end: np.ndarray, active: np.ndarray, m0: int, m1: int,
            rng: np.random.Generator) -> dict:
    """Observation entries written during the month's acute days (a chunk for ``Simulation.observations``)."""
    a0 = np.clip(start, m0, m1)
    a1 = np.clip(end, a0, m1)
    counts = rng.poisson(params.ACUTE_OBS_RATE * (a1 - a0) / 30.0 * active)
    idx = np.repeat(np.arange(counts.size), counts)
    days = a0[idx] + np.floor(rng.random(idx.size) * (a1 - a0)[idx]).astype(np.int64)
    d = params.ACUTE_OBS_LEVEL + rng.normal(0.0, 0.5, idx.size)
    return {"idx": idx, "date": days.astype("datetime64[D]"), "d": d}
