"""The review loop audited: how fast triggers are seen, what is overdue, whether reviewers and the
model agree, and what happens to the students the centre released.

Four tables, written beside the audit's others when the data hold a ``reviews`` table (contract
version 2), each overall (``grouping`` ``all``) and by grade and by college when the register has them:

``loop_interviews``
    Every hard-rule trigger dated in the audited period (``riskmodel.warning.hard_rules.trigger_events``):
    how many, the median days to the first review dated on or after it, the share reviewed within
    ``warning.interview_due_days``, and the share with no review within ``labels.horizon_days``
    (the audit's outcome window, which the data always cover after the last as-of date).
``loop_overdue``
    Per as-of date, from :func:`riskmodel.warning.cases.case_states`: students awaiting interview,
    of them overdue; under review, of them overdue for review; released.
``loop_agreement``
    Students under review on an as-of date: the level the reviewers set against the model's view (the
    level its score alone would give at the month's capacities, no hard rule): rows, exact agreement,
    linear-weighted Cohen's kappa, the share where the model places the student higher and lower, and
    the Spearman correlation of the reviewed level with the score (capacities keep most reviewed
    students off the model's own levels, so the ordering says more than the levels do); then the
    cross-table (``grouping`` ``crosstab``: reviewed level x model level, counts) and the median
    score at each reviewed level (``grouping`` ``score_by_reviewed_level``).
``loop_released``
    The safety figure: recorded outcomes within the horizon among students released (解除) by the as-of
    date, among those released in the ``RECENT_DAYS`` before it, under review, awaiting interview and
    in no case; usable rows only (complete outcome windows), as the other tables. For the whole
    population (``grouping`` ``all``) each state's rate is also compared with that of the students in no
    case: ``ratio_to_none`` with its cluster-bootstrap interval ``ratio_low``-``ratio_high``
    (:func:`rate_ratio`); the model card calls a rate higher or lower only when that interval excludes 1.

Small cells: a group whose count of triggers, rows or outcomes is below ``reports.small_cell`` has
that count left empty, with the rates and medians computed from it (the audit's rule for group sizes
and for the feedback table's outcomes). No table holds a student identifier.

Example
-------
>>> import pandas as pd
>>> kappa_linear(pd.Series(["I", "II", "none"]), pd.Series(["I", "II", "none"]))
1.0
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from riskmodel.config import Settings

__all__ = ["LOOP_TABLES", "RECENT_DAYS", "kappa_linear", "loop_states", "loop_summary", "loop_tables", "rate_ratio",
           "suppress"]

log = logging.getLogger(__name__)

LOOP_TABLES: tuple[str, ...] = ("loop_interviews", "loop_overdue", "loop_agreement", "loop_released")
RECENT_DAYS = 90  # "released recently": within this many days before the as-of date
_ORDER = {"none": 0, "III": 1, "II": 2, "I": 3}
_STATES = ("released", "released_recently", "under_review", "awaiting_interview", "none")


def kappa_linear(a: pd.Series, b: pd.Series) -> float:
    """Cohen's kappa with linear weights between two ordinal level columns (none < III < II < I).

    Example
    -------
    >>> round(kappa_linear(pd.Series(["I", "II", "III", "none"]), pd.Series(["II", "II", "III", "none"])), 3)
    0.778
    """
    from sklearn.metrics import cohen_kappa_score

    x, y = a.map(_ORDER).to_numpy(), b.map(_ORDER).to_numpy()
    if len(x) == 0 or (len(np.unique(x)) < 2 and len(np.unique(y)) < 2):
        return float("nan")
    return float(cohen_kappa_score(x, y, weights="linear", labels=[0, 1, 2, 3]))


def suppress(table: pd.DataFrame, counts: dict[str, list[str]], small_cell: int) -> pd.DataFrame:
    """Counts below ``small_cell`` left empty, and the columns computed from each (``counts``: count
    column -> dependent columns), as the audit's group table does.

    Example
    -------
    >>> t = pd.DataFrame({"n": [3, 40], "share": [0.3, 0.5]})
    >>> suppress(t, {"n": ["share"]}, 5)["share"].tolist()
    [nan, 0.5]
    """
    table = table.copy()
    if not small_cell or table.empty:
        return table
    for column, dependents in counts.items():
        small = table[column].astype("float64") < small_cell
        table[column] = table[column].astype("Int64").mask(small)
        for dependent in dependents:
            table[dependent] = table[dependent].mask(small)
    return table


def _groups(students: pd.DataFrame) -> dict[str, pd.Series]:
    """Grouping -> student_id-indexed labels: all, grade and college when the register fills them."""
    register = students.drop_duplicates("student_id").set_index("student_id")
    out = {"all": pd.Series("all", index=register.index, dtype=object)}
    for column in ("grade", "college"):
        if column in register.columns and register[column].notna().any():
            values = register[column].astype("string").str.strip()
            out[column] = values.mask(values == "").fillna("missing").astype(object)
    return out


def _by_group(frame: pd.DataFrame, groups: dict[str, pd.Series], summarise) -> pd.DataFrame:
    """``summarise(rows)`` -> dict, for every grouping and group of ``frame`` (with ``student_id``)."""
    rows = []
    for grouping, labels in groups.items():
        label = frame["student_id"].map(labels).fillna("missing")
        for group in sorted(label.unique()):
            rows.append({"grouping": grouping, "group": group, **summarise(frame.loc[(label == group).to_numpy()])})
    return pd.DataFrame(rows)


def loop_states(dataset, features: pd.DataFrame, dates, *, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Case states of the scored students with a trigger or a review on every as-of date, and every
    hard-rule trigger up to the last date.

    The states are the warning list's own (:func:`riskmodel.warning.warning_list.case_inputs`: the
    triggers :func:`riskmodel.warning.hard_rules.trigger_events` dates by their records, then
    :func:`riskmodel.warning.cases.case_states`), computed as in ``warning.case_mode`` ``reviews``
    whatever the centre's list follows: the audit describes the loop the reviews record.

    Returns
    -------
    (states, triggers)
        ``states``: case-state rows with ``as_of``; ``triggers``: ``student_id, date, rule`` (the union
        over the dates, so that rules dated by the features count too).
    """
    from dataclasses import replace

    from riskmodel.warning.hard_rules import load_hard_rules, trigger_events
    from riskmodel.warning.warning_list import case_inputs

    loop_settings = settings.model_copy(update={"warning": settings.warning.model_copy(update={"case_mode": "reviews"})})
    rules = load_hard_rules(settings=settings)
    tables = dataset.tables
    # as case_inputs reads them: a rule whose records' table is absent is read from the features
    dated = [r if r.critical is not None or r.record is None or r.record[0] in tables else replace(r, record=None)
             for r in rules]
    states, triggers = [], []
    for as_of in dates:
        month = features.loc[features["as_of"] == as_of]
        cases = case_inputs(month, as_of, settings=loop_settings, tables=tables, rules=rules)
        states.append(cases.assign(as_of=pd.Timestamp(as_of)))
        triggers.append(trigger_events(tables, month, dated, as_of, since=settings.warning.reviews_since))
    every = pd.concat(triggers, ignore_index=True).drop_duplicates(["student_id", "date", "rule"])
    return pd.concat(states, ignore_index=True), every.reset_index(drop=True)


def _spearman(order: pd.Series, score: pd.Series) -> float:
    """Spearman correlation between the reviewed level (ordered) and the model's score; NaN when either is constant."""
    from scipy.stats import spearmanr

    if len(order) < 3 or order.nunique() < 2 or score.nunique() < 2:
        return float("nan")
    return float(spearmanr(order.to_numpy(dtype=float), score.to_numpy(dtype=float)).statistic)


def _interviews(triggers: pd.DataFrame, reviews: pd.DataFrame, dates, *, due: int, horizon: int) -> pd.DataFrame:
    """One row per trigger dated in [first as-of, last as-of): days to the first review on or after it."""
    start, end = pd.Timestamp(dates[0]), pd.Timestamp(dates[-1])
    events = triggers.loc[(triggers["date"] >= start) & (triggers["date"] < end), ["student_id", "date"]]
    events = events.drop_duplicates().rename(columns={"date": "trigger"}).sort_values("trigger")
    seen = reviews[["student_id", "date"]].dropna().drop_duplicates().sort_values("date")
    seen = seen.assign(student_id=seen["student_id"].astype(str))
    events = events.assign(student_id=events["student_id"].astype(str))
    joined = pd.merge_asof(events, seen, left_on="trigger", right_on="date", by="student_id", direction="forward")
    days = (joined["date"] - joined["trigger"]).dt.days
    days = days.where(days <= horizon)  # not seen within the outcome window: not reviewed
    return pd.DataFrame({"student_id": joined["student_id"].to_numpy(), "days": days.to_numpy(),
                         "within_due": (days <= due).to_numpy()})


def _model_view(features: pd.DataFrame, model, dates, *, settings: Settings) -> pd.DataFrame:
    """The level the score alone gives (no hard rule, no review) on each date: ``student_id, as_of, model_level``."""
    from riskmodel.warning import assign_levels

    parts = []
    for as_of in dates:
        month = features.loc[features["as_of"] == as_of].reset_index(drop=True)
        if month.empty:
            continue
        scores = model.predict(month)
        none = pd.DataFrame(index=scores.index)
        levels = assign_levels(scores, none, as_of=as_of, settings=settings)
        parts.append(pd.DataFrame({"student_id": scores["student_id"].astype(str).to_numpy(),
                                   "as_of": pd.Timestamp(as_of), "model_level": levels["level"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def rate_ratio(student_id, label, rows, reference, *, boot) -> tuple[float, float, float]:
    """Outcome rate of ``rows`` over that of ``reference`` (boolean masks over the same rows) with a
    cluster-bootstrap interval (students resampled, as every interval of the audit: a student's monthly
    rows share one outcome window, so counting rows as independent gives intervals far too narrow).

    Returns ``(ratio, low, high)``; NaN where undefined (no row, no outcome in the reference).

    Example
    -------
    >>> from riskmodel.audit.metrics import Bootstrap
    >>> ids = np.arange(400)
    >>> label = (ids % 10 == 0).astype(int)
    >>> ratio, low, high = rate_ratio(ids, label, ids < 200, ids >= 200, boot=Bootstrap(replicates=200, seed=1))
    >>> ratio, bool(low < 1 < high)
    (1.0, True)
    """
    from riskmodel.audit.metrics import Replicates, interval

    label = np.asarray(label, dtype=np.float64)
    rows, reference = np.asarray(rows, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    sums = Replicates(np.asarray(student_id), boot).sums_many(
        {"n": rows, "k": label * rows, "n0": reference, "k0": label * reference})
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (sums["k"] / sums["n"]) / (sums["k0"] / sums["n0"])
    estimate, low, high, _ = interval(ratio, boot.confidence)
    return estimate, low, high


def _ratios_to_no_case(joined: pd.DataFrame, recent: pd.Series, *, settings: Settings) -> pd.DataFrame:
    """``state, grouping (all), ratio_to_none, ratio_low, ratio_high``: each case state's outcome rate against
    that of the students in no case, the comparison the model card states (docs/audit.md, the review loop)."""
    from riskmodel.audit.metrics import Bootstrap

    audit = settings.audit
    boot = Bootstrap(replicates=audit.bootstrap, seed=audit.seed, confidence=audit.confidence)
    reference = (joined["state"] == "none").to_numpy()
    rows = []
    for state in _STATES[:-1]:
        mask = (recent if state == "released_recently" else joined["state"] == state).to_numpy()
        ratio, low, high = rate_ratio(joined["student_id"], joined["label"], mask, reference, boot=boot)
        rows.append({"state": state, "grouping": "all", "ratio_to_none": ratio, "ratio_low": low, "ratio_high": high})
    return pd.DataFrame(rows)


def loop_tables(dataset, features: pd.DataFrame, frame: pd.DataFrame, model, dates, *,
                settings: Settings) -> dict[str, pd.DataFrame]:
    """The four loop tables (module docstring) from the audit's features and frame (``student_id,
    as_of, label, usable``). Empty dict when the data hold no reviews table."""
    reviews = dataset.table("reviews") if "reviews" in dataset.tables else None
    if reviews is None or len(reviews) == 0:
        log.info("no reviews table: the review-loop tables are left out")
        return {}
    small = settings.reports.small_cell
    due = int(settings.warning.interview_due_days)
    horizon = int(settings.labels.horizon_days)
    states, triggers = loop_states(dataset, features, dates, settings=settings)
    groups = _groups(dataset.table("students"))
    states["student_id"] = states["student_id"].astype(str)
    # the students scored on each date (enrolled): a graduate's old case is no longer the centre's work
    scored = frame[["student_id", "as_of", "score"]].assign(student_id=frame["student_id"].astype(str),
                                                            as_of=pd.to_datetime(frame["as_of"]))
    states = states.merge(scored, on=["student_id", "as_of"], how="inner")
    groups = {name: labels.set_axis(labels.index.astype(str)) for name, labels in groups.items()}

    waits = _interviews(triggers, reviews, dates, due=due, horizon=horizon)
    interviews = _by_group(waits, groups, lambda r: {
        "triggers": len(r), "reviewed": int(r["days"].notna().sum()),
        "median_days": float(r["days"].median()) if r["days"].notna().any() else np.nan,
        "within_due": int(r["within_due"].sum()),
        "share_within_due": float(r["within_due"].mean()) if len(r) else np.nan,
        "share_not_reviewed": float(r["days"].isna().mean()) if len(r) else np.nan})
    interviews = suppress(interviews, {"triggers": ["reviewed", "median_days", "within_due", "share_within_due",
                                                    "share_not_reviewed"]}, small)
    interviews.insert(2, "due_days", due)

    overdue_rows = []
    for as_of, rows in states.groupby("as_of", sort=True):
        part = _by_group(rows, groups, lambda r: {
            "awaiting_interview": int((r["state"] == "awaiting_interview").sum()),
            "interview_overdue": int(r["interview_overdue"].sum()),
            "under_review": int((r["state"] == "under_review").sum()),
            "review_overdue": int(r["review_overdue"].sum()),
            "released": int((r["state"] == "released").sum())})
        overdue_rows.append(part.assign(as_of=pd.Timestamp(as_of).strftime("%Y-%m-%d")))
    overdue = pd.concat(overdue_rows, ignore_index=True)
    overdue = overdue[["as_of", *[c for c in overdue.columns if c != "as_of"]]]
    counted = ("awaiting_interview", "interview_overdue", "under_review", "review_overdue", "released")
    overdue = suppress(overdue, {c: [] for c in counted}, small)

    view = _model_view(features, model, dates, settings=settings)
    under = states.loc[states["state"] == "under_review", ["student_id", "as_of", "reviewed_level", "score"]]
    pairs = under.merge(view, on=["student_id", "as_of"], how="inner")
    a, m = pairs["reviewed_level"].map(_ORDER), pairs["model_level"].map(_ORDER)
    pairs = pairs.assign(_higher=(m > a).to_numpy(), _lower=(m < a).to_numpy(), _order=a.to_numpy())
    agreement = _by_group(pairs, groups, lambda r: {
        "rows": len(r), "exact": float((r["reviewed_level"] == r["model_level"]).mean()) if len(r) else np.nan,
        "kappa_linear": kappa_linear(r["reviewed_level"], r["model_level"]),
        "model_higher": float(r["_higher"].mean()) if len(r) else np.nan,
        "model_lower": float(r["_lower"].mean()) if len(r) else np.nan,
        "spearman_score": _spearman(r["_order"], r["score"])})
    agreement = suppress(agreement, {"rows": ["exact", "kappa_linear", "model_higher", "model_lower",
                                              "spearman_score"]}, small)
    medians = pd.DataFrame([{"grouping": "score_by_reviewed_level", "group": level,
                             "rows": int((pairs["reviewed_level"] == level).sum()),
                             "median_score": float(pairs.loc[pairs["reviewed_level"] == level, "score"].median())
                             if (pairs["reviewed_level"] == level).any() else np.nan}
                            for level in list(_ORDER)[::-1]])
    medians = suppress(medians, {"rows": ["median_score"]}, small)
    cross = pd.crosstab(pairs["reviewed_level"], pairs["model_level"]).reindex(
        index=list(_ORDER)[::-1], columns=list(_ORDER)[::-1], fill_value=0)
    cross_rows = pd.DataFrame([{"grouping": "crosstab", "group": f"reviewed {r} / model {c}", "rows": int(cross.loc[r, c])}
                               for r in cross.index for c in cross.columns])
    cross_rows = suppress(cross_rows, {"rows": []}, small)
    agreement = pd.concat([agreement, cross_rows, medians], ignore_index=True)

    usable = frame.loc[frame["usable"].to_numpy(dtype=bool), ["student_id", "as_of", "label"]]
    usable = usable.assign(student_id=usable["student_id"].astype(str), as_of=pd.to_datetime(usable["as_of"]))
    joined = usable.merge(states[["student_id", "as_of", "state", "review_date"]], on=["student_id", "as_of"],
                          how="left")
    joined["state"] = joined["state"].fillna("none")
    recent = (joined["state"] == "released") & ((joined["as_of"] - joined["review_date"]).dt.days <= RECENT_DAYS)
    released_rows = []
    for state in _STATES:
        mask = recent if state == "released_recently" else joined["state"] == state
        part = _by_group(joined.loc[mask.to_numpy()], groups, lambda r: {
            "rows": len(r), "outcomes": int(r["label"].sum()),
            "outcome_rate": float(r["label"].mean()) if len(r) else np.nan})
        released_rows.append(part.assign(state=state))
    released = pd.concat(released_rows, ignore_index=True)
    released = released[["state", "grouping", "group", "rows", "outcomes", "outcome_rate"]]
    released = released.merge(_ratios_to_no_case(joined, recent, settings=settings), on=["state", "grouping"], how="left")
    ratio = ["ratio_to_none", "ratio_low", "ratio_high"]
    released = suppress(released, {"rows": ["outcomes", "outcome_rate", *ratio], "outcomes": ["outcome_rate", *ratio]},
                        small)
    return {"loop_interviews": interviews, "loop_overdue": overdue, "loop_agreement": agreement,
            "loop_released": released}



def loop_summary(tables: dict[str, pd.DataFrame]) -> dict:
    """Headline figures of the loop tables (overall rows) for ``audit_summary.json`` and the model card.

    Example
    -------
    >>> loop_summary({})
    {}
    """
    if "loop_interviews" not in tables:
        return {}

    def overall(name: str) -> pd.DataFrame:
        table = tables[name]
        return table.loc[table["grouping"] == "all"]

    def number(value):
        return None if value is None or pd.isna(value) else (int(value) if float(value).is_integer() else
                                                               round(float(value), 4))

    interviews = overall("loop_interviews").iloc[0]
    overdue = overall("loop_overdue")
    agreement = overall("loop_agreement").iloc[0] if len(overall("loop_agreement")) else None
    released = overall("loop_released").set_index("state")

    def median_count(column: str):
        values = overdue[column].dropna()
        return int(round(float(values.median()))) if len(values) else None

    def state(name: str, column: str):
        return number(released.loc[name, column]) if name in released.index and column in released.columns else None

    return {
        "triggers": number(interviews["triggers"]), "due_days": number(interviews["due_days"]),
        "median_days_to_review": number(interviews["median_days"]),
        "share_reviewed_within_due": number(interviews["share_within_due"]),
        "share_not_reviewed": number(interviews["share_not_reviewed"]),
        "interview_overdue_median": median_count("interview_overdue"),
        "review_overdue_median": median_count("review_overdue"),
        "under_review_median": median_count("under_review"),
        "agreement_rows": number(agreement["rows"]) if agreement is not None else None,
        "agreement_exact": number(agreement["exact"]) if agreement is not None else None,
        "kappa_linear": number(agreement["kappa_linear"]) if agreement is not None else None,
        "spearman_score": number(agreement["spearman_score"]) if agreement is not None else None,
        "released_rows": state("released", "rows"), "released_outcome_rate": state("released", "outcome_rate"),
        "released_recently_rows": state("released_recently", "rows"),
        "released_recently_outcome_rate": state("released_recently", "outcome_rate"),
        "under_review_outcome_rate": state("under_review", "outcome_rate"),
        "no_case_outcome_rate": state("none", "outcome_rate"),
        # the counts and the comparison behind the card's safety sentence (released against no case)
        "released_outcomes": state("released", "outcomes"), "no_case_rows": state("none", "rows"),
        "no_case_outcomes": state("none", "outcomes"),
        "released_ratio_to_no_case": state("released", "ratio_to_none"),
        "released_ratio_low": state("released", "ratio_low"), "released_ratio_high": state("released", "ratio_high"),
    }
