"""Careless-answering flags of an administration: too fast, identical answers.

These flags mark an administration; they never remove it or lower its scores (INSTRUMENTS.md,
"Validity of an administration"). Both are vectorised over rows; the only Python loop is over the
items of one instrument (at most 100), never over students.

Rules (documented in docs/instruments.md):

* ``too_fast``: ``duration_seconds < settings.seconds_per_item_floor * N``; a missing duration is
  not too fast.
* ``identical_run`` depends on the instrument's ``identical_run`` rule in specs.yaml:
  ``run``: the longest run of one identical raw answer over consecutive items reaches
  ``min(settings.identical_run_length, N)`` (SDS, SAS: reverse-keyed items make a long run
  contradictory); ``run_above_floor``: the same, but runs of the lowest answer do not count (SCL-90:
  every item is a symptom, and "none" to fifteen symptoms in a row is what a well student answers);
  ``all_identical``: every answered item has the same answer (UPI: long runs of "no" are the normal
  answer of a well student, but "no" also to its positively worded items 5, 20, 35, 50 is not);
  ``all_identical_above_floor``: every answer the same and not the lowest (MHT: "no" to every content
  item and to every lie item, which endorse improbable virtues, is an honest well student's form;
  "yes" to all 100 is not); ``none``: never (PHQ-9, GAD-7: short, no reverse-keyed item, so
  identical answers are plausible).

Example
-------
>>> import numpy as np
>>> answers = np.array([[1, 1, 1, 2], [3, 4, 3, 4]], dtype=np.float32)  # two administrations
>>> longest_identical_run(answers.T).tolist()  # item-major: one row per item
[3, 1]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.instruments.specs import InstrumentSpec

__all__ = ["longest_identical_run", "identical_run_flags", "too_fast_flags"]


def longest_identical_run(answers: np.ndarray, *, ignore: float | None = None) -> np.ndarray:
    """Length of the longest run of one identical answer per administration (NaN breaks a run).

    Parameters
    ----------
    answers
        Item-major 2-D array: shape (items, administrations), items in questionnaire order.
    ignore
        An answer that does not count (it breaks a run like a missing one), e.g. SCL-90's 1 "none".

    Returns
    -------
    numpy.ndarray
        int16 per administration; 0 when no item was answered.

    Example
    -------
    >>> longest_identical_run(np.array([[np.nan, 3], [2, 4], [2, 3]])).tolist()
    [2, 1]
    >>> longest_identical_run(np.array([[1.0], [1.0], [2.0]]), ignore=1.0).tolist()
    [1]
    """
    n_items, n_rows = answers.shape
    if n_items == 0:
        return np.zeros(n_rows, dtype=np.int16)
    counts = np.empty(n_rows, dtype=bool)  # this item counts: answered and not the ignored answer
    same = np.empty(n_rows, dtype=bool)
    np.equal(answers[0], answers[0], out=counts)  # False for NaN
    if ignore is not None:
        counts &= answers[0] != ignore
    current = counts.astype(np.int16)
    best = current.copy()
    for j in range(1, n_items):  # loop over items, vectorised over administrations
        np.equal(answers[j], answers[j - 1], out=same)  # NaN == NaN is False: a gap breaks the run
        np.equal(answers[j], answers[j], out=counts)
        if ignore is not None:
            counts &= answers[j] != ignore
        # same: run + 1; counted but different: 1; not counted: 0
        np.multiply(current, same, out=current)
        current += 1
        np.multiply(current, counts, out=current)
        np.maximum(best, current, out=best)
    return best


def identical_run_flags(spec: InstrumentSpec, answers: np.ndarray, *, run_length: int) -> np.ndarray:
    """``identical_run`` flag per administration under the instrument's rule (module docstring).

    Parameters
    ----------
    spec
        The instrument.
    answers
        Raw answers, item-major: shape (N, administrations).
    run_length
        ``settings.identical_run_length``.

    Example
    -------
    >>> from riskmodel.instruments.specs import get
    >>> identical_run_flags(get("UPI"), np.zeros((64, 1)), run_length=15).tolist()
    [True]
    """
    n_rows = answers.shape[1]
    if spec.identical_run == "none" or n_rows == 0:
        return np.zeros(n_rows, dtype=bool)
    if spec.identical_run in ("all_identical", "all_identical_above_floor"):
        with np.errstate(all="ignore"):
            gap = np.isnan(answers)
            answered = (~gap).sum(axis=0)
            lo = np.where(gap, np.inf, answers).min(axis=0)
            hi = np.where(gap, -np.inf, answers).max(axis=0)
        flagged = (answered >= 2) & (lo == hi)
        if spec.identical_run == "all_identical_above_floor":
            flagged &= lo != spec.response_min
        return flagged
    # run_above_floor: "none" to every symptom is an honest answer on a checklist without
    # reverse-keyed items; runs of the lowest answer do not count, runs of any other answer do
    ignore = float(spec.response_min) if spec.identical_run == "run_above_floor" else None
    return longest_identical_run(answers, ignore=ignore) >= min(int(run_length), spec.n_items)


def too_fast_flags(spec: InstrumentSpec, duration_seconds: pd.Series | None, *, floor_per_item: float) -> np.ndarray:
    """``too_fast`` per row: duration below ``floor_per_item * N`` seconds; unknown duration is False.

    Example
    -------
    >>> from riskmodel.instruments.specs import get
    >>> too_fast_flags(get("PHQ9"), pd.Series([17.9, 18.0, None]), floor_per_item=2.0).tolist()
    [True, False, False]
    """
    if duration_seconds is None:
        return np.zeros(0, dtype=bool)
    seconds = pd.to_numeric(duration_seconds, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return seconds < float(floor_per_item) * spec.n_items
