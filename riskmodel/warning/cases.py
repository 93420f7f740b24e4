"""Case states: where each student stands in the review loop on an as-of date (研判闭环).

The policies describe a loop: a screening or an observation raises a crisis signal, the student is
interviewed (再测及分层访谈), the reviewers set a level from what they found (根据评估结果确定预警等级),
meetings review it regularly and adjust it (定期研判, 动态调整) until the student is released (解除/销号).
:func:`case_states` reads that loop from two tables, point in time like the features (only rows dated
on or before the as-of date are used):

* ``triggers``: when a hard rule fired, dated by the record that fired it
  (:func:`riskmodel.warning.hard_rules.trigger_events`);
* ``reviews``: the centre's decisions (contract version 2, the ``reviews`` table).

States (one per student who has a trigger or a review on or before the as-of date):

``awaiting_interview`` (待访谈)
    a trigger with no review dated on or after it. ``trigger_date`` is the first such trigger (the
    wait starts there), ``days_waiting`` counts from it, ``interview_overdue`` is true past
    ``warning.interview_due_days``. A trigger never expires by the calendar alone: only a review
    dated on or after it ends the wait.
``under_review`` (研判中)
    the latest review set a level (any status but ``released``). It holds until the review's
    ``next_review`` (``review_overdue`` after it; a review without one is due
    ``warning.review_interval_days`` after its date) or until a new trigger reopens the case.
``released`` (已解除)
    the latest review released the student; the model may list them again.
``none``
    neither (only rows dated after the as-of date).

Reviews of one day are ordered as they stand in the table (a later row is a later decision: imports
append), so the last row of the latest date is the decision in force.

Example
-------
>>> import pandas as pd
>>> from riskmodel.config import Settings
>>> triggers = pd.DataFrame({"student_id": ["a", "b"], "date": pd.to_datetime(["2026-02-20", "2026-01-05"]),
...                          "rule": ["phq9_item9", "phq9_item9"]})
>>> reviews = pd.DataFrame({"student_id": ["b"], "date": pd.to_datetime(["2026-01-09"]), "level": ["II"],
...                         "status": ["monitoring"], "next_review": pd.to_datetime(["2026-02-09"]),
...                         "reviewer_role": ["counsellor"], "reason": [None], "note": [None]})
>>> s = case_states(reviews, triggers, "2026-03-01", settings=Settings())
>>> s[["student_id", "state", "days_waiting", "interview_overdue", "reviewed_level", "review_overdue"]].values.tolist()
[['a', 'awaiting_interview', 9, True, 'none', False], ['b', 'under_review', 0, False, 'II', True]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.config import Settings

__all__ = ["CASE_COLUMNS", "REPORT_CASE_COLUMNS", "REVIEW_COLUMNS", "STATES", "attach_states", "case_report_table",
           "case_states", "empty_reviews"]

STATES: tuple[str, ...] = ("awaiting_interview", "under_review", "released", "none")
REVIEW_COLUMNS = ["student_id", "date", "level", "status", "next_review", "reviewer_role", "reason", "note"]
CASE_COLUMNS = ["student_id", "state", "trigger_date", "trigger_rules", "days_waiting", "interview_overdue",
                "review_date", "reviewed_level", "review_status", "reviewer_role", "next_review", "review_overdue",
                "review_reason"]


def empty_reviews() -> pd.DataFrame:
    """A reviews table without rows (a centre that hands in none)."""
    return pd.DataFrame({"student_id": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]"),
                         "level": pd.Series(dtype=object), "status": pd.Series(dtype=object),
                         "next_review": pd.Series(dtype="datetime64[ns]"), "reviewer_role": pd.Series(dtype=object),
                         "reason": pd.Series(dtype=object), "note": pd.Series(dtype=object)})


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce").dt.normalize()


def case_states(reviews: pd.DataFrame | None, triggers: pd.DataFrame | None, as_of, *,
                settings: Settings) -> pd.DataFrame:
    """One row per student in ``triggers`` or ``reviews`` as of ``as_of`` (only rows dated <= as_of are used).

    Parameters
    ----------
    reviews
        The canonical reviews table (``student_id, date, level, status, next_review, reviewer_role,
        reason, note``); None or empty: no decisions recorded. ``note`` is never read.
    triggers
        ``student_id, date, rule``: when a hard rule fired (the date of the record that fired it).
    as_of
        The list's date.
    settings
        ``settings.warning.interview_due_days`` and ``review_interval_days``.

    Returns
    -------
    DataFrame
        ``student_id, state`` (``awaiting_interview``, ``under_review``, ``released``, ``none``),
        ``trigger_date`` (first trigger not yet reviewed; NaT otherwise), ``trigger_rules`` (the
        codes of the unreviewed triggers, joined by ``+``), ``days_waiting`` (int; 0 unless
        awaiting), ``interview_overdue`` (bool), ``review_date``, ``reviewed_level`` (``I``, ``II``,
        ``III`` or ``none``: of the latest review, ``none`` without one), ``review_status``,
        ``reviewer_role``, ``next_review`` (the review's own, or its date +
        ``review_interval_days``), ``review_overdue`` (bool: under review and ``next_review``
        before ``as_of``), ``review_reason``; sorted by ``student_id``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    due = int(settings.warning.interview_due_days)
    interval = pd.Timedelta(days=int(settings.warning.review_interval_days))

    if reviews is None or len(reviews) == 0:
        rv = empty_reviews()
    else:
        rv = reviews.loc[:, [c for c in REVIEW_COLUMNS if c != "note" and c in reviews.columns]].copy()
        for column in ("next_review", "reviewer_role", "reason"):
            if column not in rv:
                rv[column] = pd.NaT if column == "next_review" else None
        rv["student_id"] = rv["student_id"].astype(str)
        rv["date"] = _dates(rv["date"])
        rv["next_review"] = _dates(rv["next_review"])
    rv["_order"] = np.arange(len(rv))
    rv = rv.loc[rv["date"].notna() & (rv["date"] <= as_of)]
    latest = rv.sort_values(["student_id", "date", "_order"], kind="mergesort").drop_duplicates("student_id",
                                                                                                 keep="last")
    latest = latest.set_index("student_id")

    if triggers is None or len(triggers) == 0:
        tr = pd.DataFrame({"student_id": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]"),
                           "rule": pd.Series(dtype=object)})
    else:
        tr = pd.DataFrame({"student_id": triggers["student_id"].astype(str).to_numpy(),
                           "date": _dates(triggers["date"]).to_numpy(),
                           "rule": triggers["rule"].astype(str).to_numpy()})
    tr = tr.loc[tr["date"].notna() & (tr["date"] <= as_of)]
    # a trigger is answered by a review dated on or after it (the interview that day counts)
    reviewed_on = tr["student_id"].map(latest["date"]) if len(latest) else pd.Series(pd.NaT, index=tr.index)
    open_tr = tr.loc[reviewed_on.isna().to_numpy() | (tr["date"] > reviewed_on).to_numpy()]
    if len(open_tr):
        ordered = open_tr.sort_values(["student_id", "date", "rule"], kind="mergesort")
        first = ordered.groupby("student_id", sort=True)["date"].min()
        # each rule once, in the order it first fired
        rules = ordered.drop_duplicates(["student_id", "rule"]).groupby("student_id", sort=True)["rule"].agg("+".join)
    else:
        first = pd.Series(dtype="datetime64[ns]")
        rules = pd.Series(dtype=object)

    ids = pd.Index(sorted(set(tr["student_id"]) | set(latest.index)), name="student_id")
    out = pd.DataFrame(index=ids)
    out["trigger_date"] = first.reindex(ids)
    out["trigger_rules"] = rules.reindex(ids).fillna("").astype(object)
    awaiting = out["trigger_date"].notna().to_numpy()
    waiting = (as_of - out["trigger_date"]).dt.days
    out["days_waiting"] = np.where(awaiting, waiting.fillna(0), 0).astype(int)
    out["interview_overdue"] = awaiting & (out["days_waiting"].to_numpy() > due)
    has_review = ids.isin(latest.index)
    lat = latest.reindex(ids)
    out["review_date"] = lat["date"]
    out["reviewed_level"] = lat["level"].where(has_review, "none").fillna("none").astype(object)
    out["review_status"] = lat["status"].where(has_review, "").fillna("").astype(object)
    out["reviewer_role"] = lat["reviewer_role"].where(lat["reviewer_role"].notna(), "").astype(object)
    next_review = lat["next_review"].where(lat["next_review"].notna(), lat["date"] + interval)
    released = has_review & (out["review_status"] == "released").to_numpy()
    out["next_review"] = next_review.where(has_review & ~released)
    under = has_review & ~released & ~awaiting
    out["review_overdue"] = under & (out["next_review"] < as_of).fillna(False).to_numpy()
    out["review_reason"] = lat["reason"].where(lat["reason"].notna(), "").astype(object)
    out["state"] = np.select([awaiting, under, released & ~awaiting], ["awaiting_interview", "under_review",
                                                                       "released"], default="none")
    out = out.reset_index()
    out["interview_overdue"] = out["interview_overdue"].astype(bool)
    out["review_overdue"] = out["review_overdue"].astype(bool)
    return out[CASE_COLUMNS]


def attach_states(frame: pd.DataFrame, cases: pd.DataFrame, scores: pd.DataFrame | None = None) -> pd.DataFrame:
    """``frame`` (one row per ``student_id``) with the case columns of ``cases`` (``state`` ``none`` and
    empty values for students in no case) and ``model_level`` from ``scores`` when it has one."""
    out = frame.copy()
    state = cases.drop_duplicates("student_id").set_index("student_id").reindex(out["student_id"].astype(str))
    out["state"] = state["state"].fillna("none").to_numpy(dtype=object)
    for column in ("trigger_date", "review_date", "next_review"):
        out[column] = pd.to_datetime(state[column]).to_numpy()
    for column in ("trigger_rules", "review_status", "reviewer_role", "review_reason"):
        out[column] = state[column].fillna("").astype(object).to_numpy()
    out["reviewed_level"] = state["reviewed_level"].fillna("none").to_numpy(dtype=object)
    out["days_waiting"] = state["days_waiting"].fillna(0).astype(int).to_numpy()
    for column in ("interview_overdue", "review_overdue"):
        out[column] = state[column].eq(True).to_numpy()
    if scores is not None and "model_level" in scores.columns:
        model = scores.drop_duplicates("student_id").set_index("student_id")["model_level"]
        out["model_level"] = out["student_id"].map(model).fillna("none").to_numpy(dtype=object)
    return out


REPORT_CASE_COLUMNS = ["as_of", "pseudonym", "school", "college", "grade", "class_id", "dorm_id", "level", "score",
                       "rank", "state", "trigger_date", "trigger_rules", "days_waiting", "interview_overdue",
                       "reviewed_level", "review_date", "reviewer_role", "review_status", "next_review",
                       "review_overdue", "model_level"]


def case_report_table(everyone: pd.DataFrame) -> pd.DataFrame:
    """The students in a case, keyed by pseudonym, for the cohort reports (``report_data/cases.parquet``).

    No ``student_id``, no review ``reason`` and never a ``note``: a report shows pseudonyms and the
    loop's state only.
    """
    part = everyone.loc[everyone["state"] != "none"]
    out = pd.DataFrame({c: (part[c] if c in part.columns else pd.Series("", index=part.index))
                        for c in REPORT_CASE_COLUMNS})
    for column in ("pseudonym", "school", "college", "grade", "class_id", "dorm_id", "level", "state",
                   "trigger_rules", "reviewed_level", "reviewer_role", "review_status", "model_level"):
        out[column] = out[column].astype("string").fillna("")
    out["as_of"] = pd.to_datetime(out["as_of"])
    return out.reset_index(drop=True)
