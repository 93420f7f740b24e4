"""Warning levels: hard rules first, then the calibrated score fills levels I, II and III.

Order of the students (``rank``, 1 = highest risk) is by calibrated score, then raw model score
(calibration may tie students an isotonic step apart; the raw score keeps the model's own order),
then a keyed hash of ``(as_of, student_id)``. The hash makes the last tie-break deterministic yet
unrelated to how student numbers are assigned (sorting by ID would favour one class or year of
entry), and it changes from month to month so the same student does not always lose a tie.

Filling:

1. every student a hard rule fires for is level I (path ``rule:<names>``), whatever the score;
2. with probability thresholds (``settings.warning.thresholds``, e.g. ``{I: 0.2, II: 0.1, III: 0.05}``)
   a student is at the highest level whose threshold the score reaches;
3. otherwise by capacity: ``settings.warning.capacity`` students per level, or
   ``capacity_per_1000`` x (students scored) / 1000 rounded to the nearest whole student; level I's
   capacity counts the hard-rule students first (if they exceed it, no score-based level I is added
   and level I is over capacity: the rules are never dropped); the remaining students in rank order
   fill I, then II, then III (path ``score``).

Example
-------
>>> import pandas as pd
>>> from riskmodel.config import Settings
>>> scores = pd.DataFrame({"student_id": list("abcd"), "score": [0.9, 0.5, 0.5, 0.1], "raw": [3, 1, 1, 0]})
>>> fired = pd.DataFrame({"r": [False, False, False, True]})
>>> s = Settings.model_validate({"warning": {"capacity": {"I": 2, "II": 2, "III": 0}}})
>>> assign_levels(scores, fired, as_of="2026-03-01", settings=s)["level"].tolist()
['I', 'II', 'II', 'I']
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.vocab import LEVEL_ORDER, LEVELS, capacity_for

__all__ = ["LEVELS", "LEVEL_ORDER", "tie_key", "capacities", "assign_levels"]

log = logging.getLogger(__name__)


def tie_key(student_ids: pd.Series, as_of) -> np.ndarray:
    """Deterministic tie-break key: a keyed 64-bit hash of student_id, keyed by the as-of date."""
    key = pd.Timestamp(as_of).strftime("%Y-%m-%d").ljust(16, "#")[:16]
    return pd.util.hash_array(student_ids.astype(str).to_numpy(dtype=object), hash_key=key, categorize=False)


def capacities(n_scored: int, *, settings: Settings) -> dict[str, int]:
    """Students per level: the configured capacity, or per 1,000 scored, rounded to nearest."""
    warning = settings.warning
    if warning.capacity is not None:
        return {level: int(warning.capacity.get(level, 0)) for level in LEVELS}
    return {level: capacity_for(warning.capacity_per_1000.get(level, 0.0), n_scored) for level in LEVELS}


def assign_levels(scores: pd.DataFrame, fired: pd.DataFrame, *, as_of, settings: Settings) -> pd.DataFrame:
    """Level, rank, path and fired rule codes for every scored student.

    Parameters
    ----------
    scores
        ``student_id, score, raw``, one row per student scored on ``as_of``.
    fired
        Boolean frame, same index, one column per hard rule (riskmodel.warning.hard_rules).
    as_of
        The list's date (keys the tie-break).
    settings
        ``settings.warning``: capacity, capacity_per_1000 or thresholds.

    Returns
    -------
    DataFrame
        ``scores``' columns plus ``rank`` (1 = highest), ``level`` (I/II/III/none), ``path``
        (``rule:<codes>``, ``score`` or ``''``) and ``rule_codes`` (fired rules joined by ``+``), same index.
    """
    out = scores.copy()
    out["_tie"] = tie_key(out["student_id"], as_of)
    order = out.sort_values(["score", "raw", "_tie"], ascending=[False, False, True], kind="mergesort").index
    out.loc[order, "rank"] = np.arange(1, len(out) + 1)
    out["rank"] = out["rank"].astype(int)
    hits = fired.reindex(out.index).fillna(False).to_numpy(dtype=bool)
    names = np.asarray(fired.columns, dtype=object)
    by_rule = hits.any(axis=1) if hits.size else np.zeros(len(out), dtype=bool)
    codes = np.full(len(out), "", dtype=object)
    rows = np.flatnonzero(by_rule)  # only rule rows are joined: a few per thousand
    codes[rows] = ["+".join(names[hits[r]]) for r in rows]
    out["rule_codes"] = codes
    level = np.full(len(out), "none", dtype=object)
    level[by_rule] = "I"
    thresholds = settings.warning.thresholds
    if thresholds:
        score = out["score"].to_numpy()
        for name in reversed(LEVELS):  # III first so that higher levels overwrite
            if name in thresholds:
                level[~by_rule & (score >= thresholds[name])] = name
    else:
        cap = capacities(len(out), settings=settings)
        position = out.index.get_indexer(order)
        candidates = position[~by_rule[position]]  # rank order, rules excluded
        taken = 0
        for name in LEVELS:
            room = max(cap[name] - (int(by_rule.sum()) if name == "I" else 0), 0)
            level[candidates[taken:taken + room]] = name
            taken += room
        if by_rule.sum() > cap["I"]:
            log.warning("hard rules put %d students at level I, above its capacity of %d", by_rule.sum(), cap["I"])
    out["level"] = level
    out["path"] = np.where(by_rule, "rule:" + out["rule_codes"].astype(str), np.where(level != "none", "score", ""))
    return out.drop(columns="_tie")
