"""Stability of the list: how much of it changes from one month to the next, and why.

For each pair of consecutive as-of dates, every student listed on either date is one of:
``stayed`` (listed both times; ``raised``, ``lowered`` or ``same`` level), ``entered`` or ``left``.
Each entry and exit gets a reason:

* entered by ``rule``: a hard rule fires now (path ``rule:...``); by ``score``: the score ranks the
  student within capacity now; ``new_student``: not scored the month before (newly enrolled);
* left by ``rule_cleared``: was listed by a hard rule that no longer fires, and the score does not keep
  the student; by ``score``: the score fell out of capacity; ``exited``: not scored now (left school).

A list that churns a lot by score while nothing happened to the students is a list counsellors
cannot plan with; churn by rule or by exit is expected.

Example
-------
>>> import pandas as pd
>>> scores = pd.DataFrame({"student_id": list("abcab"), "as_of": pd.to_datetime(["2026-01-01"] * 3 + ["2026-02-01"] * 2),
...                        "level": ["I", "II", "none", "none", "II"], "path": ["rule:x", "score", "", "", "score"]})
>>> t = stability_table(scores)
>>> t[["entered", "left", "stayed", "left_rule_cleared", "left_exited"]].values.tolist()
[[0, 1, 1, 1, 0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.vocab import LEVEL_ORDER, LEVELS

__all__ = ["feedback_table", "levels_table", "stability_table", "transitions"]



def transitions(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per student listed on either of two consecutive as-of dates, with what happened and why.

    Parameters
    ----------
    scores
        Every scored student of every as-of date: ``student_id, as_of, level`` and ``path``
        (``rule:<codes>``, ``score`` or empty), as ``riskmodel.warning`` scores them.

    Returns
    -------
    DataFrame ``as_of, previous_as_of, student_id, change, reason`` (change: entered, left, raised,
    lowered, same).
    """
    dates = np.sort(scores["as_of"].unique())
    frame = scores[["student_id", "as_of", "level", "path"]].copy()
    frame["path"] = frame["path"].fillna("").astype(str)
    parts = []
    for before, now in zip(dates[:-1], dates[1:]):
        prev = frame.loc[frame["as_of"] == before].set_index("student_id")
        cur = frame.loc[frame["as_of"] == now].set_index("student_id")
        ids = prev.index.union(cur.index)
        p_level = prev["level"].reindex(ids)
        c_level = cur["level"].reindex(ids)
        p_listed = p_level.isin(LEVELS).to_numpy()
        c_listed = c_level.isin(LEVELS).to_numpy()
        keep = p_listed | c_listed
        p_rank = p_level.map(LEVEL_ORDER).fillna(0).to_numpy()
        c_rank = c_level.map(LEVEL_ORDER).fillna(0).to_numpy()
        change = np.select([~p_listed & c_listed, p_listed & ~c_listed, c_rank > p_rank, c_rank < p_rank],
                           ["entered", "left", "raised", "lowered"], default="same")
        c_path = cur["path"].reindex(ids).fillna("").to_numpy(dtype=object)
        p_path = prev["path"].reindex(ids).fillna("").to_numpy(dtype=object)
        scored_before = ids.isin(prev.index)
        scored_now = ids.isin(cur.index)
        by_rule_now = np.char.startswith(c_path.astype(str), "rule:")
        by_rule_before = np.char.startswith(p_path.astype(str), "rule:")
        reason = np.select(
            [(change == "entered") & ~scored_before, (change == "entered") & by_rule_now, change == "entered",
             (change == "left") & ~scored_now, (change == "left") & by_rule_before, change == "left"],
            ["new_student", "rule", "score", "exited", "rule_cleared", "score"],
            default=np.where(by_rule_now, "rule", "score"),
        )
        parts.append(pd.DataFrame({"as_of": now, "previous_as_of": before, "student_id": ids[keep],
                                   "change": change[keep], "reason": reason[keep]}))
    if not parts:
        return pd.DataFrame(columns=["as_of", "previous_as_of", "student_id", "change", "reason"])
    return pd.concat(parts, ignore_index=True)


def stability_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Month-to-month churn of the list: counts by change and reason, and the overlap.

    Returns
    -------
    DataFrame, one row per as-of date after the first: ``as_of, previous_as_of, listed_before,
    listed_now, stayed, entered, left, raised, lowered, same, jaccard`` (listed both times / listed
    either time) and ``entered_<reason>``, ``left_<reason>`` counts. Aggregates only: no student.
    """
    moves = transitions(scores)
    columns = ["as_of", "previous_as_of", "listed_before", "listed_now", "stayed", "entered", "left", "raised",
               "lowered", "same", "jaccard", "entered_rule", "entered_score", "entered_new_student",
               "left_rule_cleared", "left_score", "left_exited"]
    if moves.empty:
        return pd.DataFrame(columns=columns)
    moves["stayed"] = moves["change"].isin(["raised", "lowered", "same"])
    counts = pd.crosstab([moves["as_of"], moves["previous_as_of"]], moves["change"])
    reasons = pd.crosstab([moves["as_of"], moves["previous_as_of"]],
                          moves["change"] + "_" + moves["reason"])
    table = counts.join(reasons).reset_index()
    for column in columns:
        if column not in table.columns:
            table[column] = 0
    table["stayed"] = table["raised"] + table["lowered"] + table["same"]
    table["listed_before"] = table["stayed"] + table["left"]
    table["listed_now"] = table["stayed"] + table["entered"]
    either = table["stayed"] + table["entered"] + table["left"]
    table["jaccard"] = np.where(either > 0, table["stayed"] / either.where(either > 0, 1), np.nan)
    return table[columns]


def feedback_table(frame: pd.DataFrame, *, small_cell: int = 0) -> pd.DataFrame:
    """Listed or not, counselled within the outcome window or not: rows, outcomes and outcome rate.

    The feedback effect of interventions made visible: listed students are seen and helped, which
    may prevent the very outcome the list anticipates (and a crisis also brings counselling, so the
    two directions are mixed). Descriptive only; a lower outcome rate among counselled listed
    students is not proof that counselling worked. Counts below ``small_cell`` are left empty.

    Parameters
    ----------
    frame
        Usable audit rows with ``level``, ``label`` and ``counselling_after`` (contacts in the window).

    Example
    -------
    >>> f = pd.DataFrame({"level": ["I", "I", "none"], "label": [0, 1, 0], "counselling_after": [2, 0, 0]})
    >>> feedback_table(f)[["listed", "counselled", "n", "outcomes"]].values.tolist()
    [[False, False, 1, 0], [True, False, 1, 1], [True, True, 1, 0]]
    """
    parts = pd.DataFrame({"listed": frame["level"].isin(LEVELS).to_numpy(),
                          "counselled": frame["counselling_after"].fillna(0).to_numpy() > 0,
                          "label": frame["label"].to_numpy()})
    table = parts.groupby(["listed", "counselled"]).agg(n=("label", "size"), outcomes=("label", "sum")).reset_index()
    table["outcome_rate"] = table["outcomes"] / table["n"]
    if small_cell:
        small = table["outcomes"] < small_cell
        table["outcomes"] = table["outcomes"].astype("Int64").mask(small)
        table["outcome_rate"] = table["outcome_rate"].mask(small)
    return table


def levels_table(scores: pd.DataFrame, capacity: dict[str, dict[str, int]] | None = None) -> pd.DataFrame:
    """Per as-of date: students scored, listed at each level, listed by a hard rule, and each level's capacity.

    When the hard rules alone fill level I past its capacity, the list is the rules' list and the
    model decides only levels II and III; the audit makes that visible month by month.

    Parameters
    ----------
    scores
        Every scored row: ``as_of, level, path``.
    capacity
        As-of date (ISO) -> level -> capacity, as ``riskmodel.warning.capacities`` gives it.

    Example
    -------
    >>> s = pd.DataFrame({"as_of": pd.to_datetime(["2026-03-01"] * 3), "level": ["I", "II", "none"],
    ...                   "path": ["rule:x", "score", ""]})
    >>> levels_table(s)[["scored", "listed_I", "listed_by_rule"]].values.tolist()
    [[3, 1, 1]]
    """
    frame = pd.DataFrame({"as_of": pd.to_datetime(scores["as_of"]).dt.strftime("%Y-%m-%d"),
                          "by_rule": scores["path"].fillna("").astype(str).str.startswith("rule:")})
    for lvl in LEVELS:
        frame[f"listed_{lvl}"] = (scores["level"] == lvl).to_numpy()
    table = frame.groupby("as_of").agg(scored=("by_rule", "size"), listed_by_rule=("by_rule", "sum"),
                                       **{f"listed_{lvl}": (f"listed_{lvl}", "sum") for lvl in LEVELS}).reset_index()
    for lvl in LEVELS:
        table[f"capacity_{lvl}"] = [(capacity or {}).get(d, {}).get(lvl, np.nan) for d in table["as_of"]]
    return table[["as_of", "scored", *(f"listed_{lvl}" for lvl in LEVELS), "listed_by_rule",
                  *(f"capacity_{lvl}" for lvl in LEVELS)]]
