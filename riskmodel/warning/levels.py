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

With the review loop (``settings.warning.case_mode`` ``reviews``, the default, and the students' case
states from :func:`riskmodel.warning.cases.case_states`), levels follow the state instead:

1. level I holds the students awaiting interview after a hard rule (path ``rule:<codes>``) and those
   the latest review set to I (path ``review:<role>:<date>``), and no one else;
2. a level a review set (II, III) is a floor until the next review: the score may raise the student,
   only a review lowers them; a released student is the model's again;
3. the score fills levels II and III by capacity (or threshold) from the rest in rank order (path
   ``score``); a student whose floor already holds them at a level does not take a place there, so
   the score-based levels meet their capacities; level I's capacity is not filled by score (it is
   the interviews a centre can hold; above it, a warning).

``model_level`` is the model's own view beside it: the level the score alone gives with the
capacities (or thresholds) of I, II and III, whatever rules and reviews say.

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

__all__ = ["LEVELS", "LEVEL_ORDER", "tie_key", "capacities", "assign_levels", "STATE_COLUMNS", "level_one_over",
           "warn_level_one_over", "OVER_CAPACITY_COLUMNS"]

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


# a school whose level I is above its capacity (level_one_over, ScoreResult.over_capacity)
OVER_CAPACITY_COLUMNS = ["school", "held", "capacity", "by_rule", "by_review"]

# the case columns assign_levels adds with the review loop (riskmodel.warning.cases)
STATE_COLUMNS = ["state", "trigger_date", "trigger_rules", "days_waiting", "interview_overdue", "review_date",
                 "reviewed_level", "review_status", "reviewer_role", "next_review", "review_overdue", "review_reason"]


def _score_levels(score: np.ndarray, order_pos: np.ndarray, eligible: dict[str, np.ndarray], cap: dict[str, int],
                  settings: Settings, names: tuple[str, ...]) -> np.ndarray:
    """Score-based levels ``names`` (in order) by threshold or capacity among ``eligible[name]`` rows."""
    level = np.full(len(score), "none", dtype=object)
    thresholds = settings.warning.thresholds
    if thresholds:
        for name in reversed(names):  # the lowest first, so that higher levels overwrite
            if name in thresholds:
                level[eligible[name] & (score >= thresholds[name])] = name
        return level
    taken = np.zeros(len(score), dtype=bool)
    for name in names:
        candidates = order_pos[eligible[name][order_pos] & ~taken[order_pos]]
        chosen = candidates[:max(cap[name], 0)]
        level[chosen] = name
        taken[chosen] = True
    return level


def _assign_with_cases(out: pd.DataFrame, order: pd.Index, hits: np.ndarray, names: np.ndarray,
                       cases: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    state = cases.drop_duplicates("student_id").set_index("student_id").reindex(out["student_id"].astype(str))
    n = len(out)
    st = state["state"].fillna("none").to_numpy(dtype=object)
    reviewed = state["reviewed_level"].fillna("none").to_numpy(dtype=object)
    awaiting = st == "awaiting_interview"
    under = st == "under_review"
    floor = np.where(under, reviewed, "none")
    reviewed_i = floor == "I"
    position = out.index.get_indexer(order)
    score = out["score"].to_numpy()
    cap = capacities(n, settings=settings)
    everyone = np.ones(n, dtype=bool)
    model_level = _score_levels(score, position, {k: everyone for k in LEVELS}, cap, settings, LEVELS)
    rest = ~awaiting & ~reviewed_i
    floor_order = np.vectorize(LEVEL_ORDER.get, otypes=[int])(floor) if n else np.zeros(0, dtype=int)
    eligible = {name: rest & (floor_order < LEVEL_ORDER[name]) for name in ("II", "III")}
    level = _score_levels(score, position, eligible, cap, settings, ("II", "III"))
    by_score = level != "none"
    held = rest & ~by_score & (floor_order > 0)
    level[held] = floor[held]
    level[awaiting | reviewed_i] = "I"
    codes = state["trigger_rules"].fillna("").to_numpy(dtype=object)
    codes = np.where(awaiting, codes, "")
    out["rule_codes"] = codes
    out["level"] = level
    role = state["reviewer_role"].fillna("").astype(str).replace("", "unknown").to_numpy(dtype=object)
    when = pd.to_datetime(state["review_date"]).dt.strftime("%Y-%m-%d").fillna("").to_numpy(dtype=object)
    review_path = np.char.add(np.char.add(np.char.add("review:", role.astype(str)), ":"), when.astype(str))
    out["path"] = np.select([awaiting, reviewed_i | held, by_score], ["rule:" + codes.astype(str), review_path,
                                                                       "score"], default="")
    out["model_level"] = model_level
    for column in STATE_COLUMNS:
        values = state[column].to_numpy()
        out[column] = values
    out["state"] = st
    out["reviewed_level"] = reviewed
    out["days_waiting"] = state["days_waiting"].fillna(0).astype(int).to_numpy()
    for column in ("interview_overdue", "review_overdue"):
        out[column] = state[column].eq(True).to_numpy()
    for column in ("trigger_rules", "review_status", "reviewer_role", "review_reason"):
        out[column] = state[column].fillna("").astype(object).to_numpy()
    for column in ("trigger_date", "review_date", "next_review"):
        out[column] = pd.to_datetime(state[column]).to_numpy()
    return out


def assign_levels(scores: pd.DataFrame, fired: pd.DataFrame, *, as_of, settings: Settings,
                  cases: pd.DataFrame | None = None) -> pd.DataFrame:
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
        ``settings.warning``: capacity, capacity_per_1000 or thresholds; ``case_mode``.
    cases
        The case states of ``as_of`` (:func:`riskmodel.warning.cases.case_states`). Given, and with
        ``case_mode`` ``reviews``, levels follow the states (module docstring) and ``fired`` is not
        read; otherwise the hard rules that fire now put students at level I.

    Returns
    -------
    DataFrame
        ``scores``' columns plus ``rank`` (1 = highest), ``level`` (I/II/III/none), ``path``
        (``rule:<codes>``, ``review:<role>:<date>``, ``score`` or ``''``) and ``rule_codes`` (fired
        rules, or with cases the unreviewed triggers' rules, joined by ``+``), same index; with cases
        also ``model_level`` and :data:`STATE_COLUMNS`.
    """
    out = scores.copy()
    out["_tie"] = tie_key(out["student_id"], as_of)
    order = out.sort_values(["score", "raw", "_tie"], ascending=[False, False, True], kind="mergesort").index
    out.loc[order, "rank"] = np.arange(1, len(out) + 1)
    out["rank"] = out["rank"].astype(int)
    hits = fired.reindex(out.index).fillna(False).to_numpy(dtype=bool)
    names = np.asarray(fired.columns, dtype=object)
    if cases is not None and settings.warning.case_mode == "reviews":
        return _assign_with_cases(out, order, hits, names, cases, settings).drop(columns="_tie")
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
    out["level"] = level
    out["path"] = np.where(by_rule, "rule:" + out["rule_codes"].astype(str), np.where(level != "none", "score", ""))
    return out.drop(columns="_tie")


def level_one_over(levels: pd.DataFrame, *, settings: Settings) -> dict | None:
    """Level I above its capacity among one school's :func:`assign_levels` rows: ``held``, ``capacity``,
    ``by_rule`` (awaiting interview after a hard rule, or a rule firing in ``legacy`` mode) and
    ``by_review`` (reviewed to I); None within capacity, or where thresholds set the levels (legacy)."""
    reviews = "state" in levels.columns
    if settings.warning.thresholds and not reviews:
        return None
    first = levels["level"].to_numpy() == "I"
    capacity = capacities(len(levels), settings=settings)["I"]
    if int(first.sum()) <= capacity:
        return None
    path = levels["path"].astype(str)
    return {"held": int(first.sum()), "capacity": int(capacity),
            "by_rule": int((first & path.str.startswith("rule:").to_numpy()).sum()),
            "by_review": int((first & path.str.startswith("review:").to_numpy()).sum())}


def warn_level_one_over(over: pd.DataFrame | list[dict] | None, *, shown: int = 5) -> None:
    """One warning for the schools whose level I is above its capacity (:data:`OVER_CAPACITY_COLUMNS` rows,
    a frame or records; :class:`riskmodel.warning.warning_list.ScoreResult` ``.over_capacity``): the school's
    counts when it is one, else how many schools and the ``shown`` most over (a province's run would
    otherwise write one line per school into the scheduler's mail). Counts and school names only."""
    if over is None or len(over) == 0:
        return
    over = pd.DataFrame(over, columns=OVER_CAPACITY_COLUMNS)
    if len(over) == 1:
        row = over.iloc[0]
        where = f" in {row['school']}" if row["school"] else ""
        log.warning("level I holds %d students%s (%d after a hard rule, %d reviewed to I), above its capacity of %d",
                    row["held"], where, row["by_rule"], row["by_review"], row["capacity"])
        return
    worst = over.assign(excess=over["held"] - over["capacity"]).sort_values(["excess", "school"],
                                                                            ascending=[False, True])
    named = ", ".join(f"{r.school} {r.held}/{r.capacity}" for r in worst.head(shown).itertuples())
    more = f" and {len(over) - shown} more" if len(over) > shown else ""
    log.warning("level I is above its capacity in %d schools (%d students held against %d places; held/capacity: "
                "%s%s); each school's level I is in the list", len(over), int(over["held"].sum()),
                int(over["capacity"].sum()), named, more)
