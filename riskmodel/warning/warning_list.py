"""The warning list: who a counsellor sees first this month, at which level, and why.

:func:`score_as_of` is what the scheduled run calls: it builds the features for one as-of date,
scores every enrolled student with the saved model, applies the hard rules and the level capacities,
explains the listed students and compares with the previous list. :func:`make_warning_list` returns
the list alone (the contract's columns, then useful extras).

Columns (DATA_CONTRACT.md "What riskmodel hands back"): ``as_of, student_id, pseudonym, school,
college, class_id, level, score, rank, rules, factors, change, model_version, run_id``; extras:
``score_low, score_high`` (the 95% uncertainty of the calibrated score: how well the calibration
fold pinned down the probability at this raw score, see riskmodel.models.calibration; empty for a
model saved before intervals were stored), ``grade, dorm_id, path`` (``rule:<codes>`` or ``score``),
``previous_level``, ``factors_lowering``.
Rows: the listed students (levels I, II, III) by level then rank, then the students the previous
list had and this one does not list (``level`` none): ``change`` is ``cleared`` when they were scored
and fell below every level, ``left`` when they are in the register but no longer enrolled (exit date
passed), and ``dropped`` when they were **not scored** because they are missing from this register
or their row was rejected (data unusable: never shown as cleared; a dropped student stays in every
later list as ``dropped`` until scored again). Without a previous list every listed student is ``new``.

Example
-------
>>> # result = score_as_of(dataset, load_model("models/2026-03"), "2026-03-01", settings=settings,
>>> #                      previous=last_month, run_id="2026-03-01-monthly", lang="zh")
>>> # result.warning_list, result.reasons, result.scores
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError
from riskmodel.i18n import text
from riskmodel.models.pipeline import RiskModel
from riskmodel.warning.hard_rules import evaluate_hard_rules, load_hard_rules
from riskmodel.warning.levels import (
    LEVEL_ORDER,
    LEVELS,
    OVER_CAPACITY_COLUMNS,
    assign_levels,
    level_one_over,
    warn_level_one_over,
)
from riskmodel.warning.localise import rule_words
from riskmodel.warning.reasons import explain, previous_families

__all__ = ["ScoreResult", "LIST_COLUMNS", "EXTRA_COLUMNS", "CASE_EXTRA_COLUMNS", "GONE", "case_inputs", "score_as_of",
           "score_features", "make_warning_list", "compare_with_previous", "score_school", "split_by_school",
           "schools_of", "previous_by_school", "combine_results", "warn_dropped"]

log = logging.getLogger(__name__)

LIST_COLUMNS = ["as_of", "student_id", "pseudonym", "school", "college", "class_id", "level", "score", "rank",
                "rules", "factors", "change", "model_version", "run_id"]
EXTRA_COLUMNS = ["score_low", "score_high", "grade", "dorm_id", "path", "previous_level", "factors_lowering"]
# the review loop's columns (warning.case_mode `reviews`): where the student stands in it, what the
# latest review decided, and the model's own level beside it
CASE_EXTRA_COLUMNS = ["state", "trigger_date", "trigger_rules", "days_waiting", "interview_overdue", "reviewed_level",
                      "review_date", "reviewer_role", "review_status", "review_reason", "next_review", "review_overdue",
                      "model_level"]
_STUDENT_COLUMNS = ["pseudonym", "school", "college", "grade", "class_id", "dorm_id"]


@dataclass(frozen=True)
class ScoreResult:
    """What one scoring of one as-of date produced.

    Attributes
    ----------
    warning_list
        The list (see the module docstring).
    reasons
        Long table of the listed students' reasons: ``student_id, as_of, direction`` (raise/lower),
        ``order, family, feature, contribution`` (log-odds), ``value, text``.
    scores
        Every scored student: ``student_id, as_of, score, score_low, score_high, raw, rank, level, path,
        rule_codes``.
    model_version
        The model's version.
    features, cases, timings
        The feature frame scored, the case states (``None`` in ``legacy`` case mode) and seconds per
        stage, from :func:`score_as_of`.
    over_capacity
        The schools whose level I is above its capacity: ``school, held, capacity, by_rule, by_review``
        (:func:`riskmodel.warning.levels.level_one_over`); said once per run by
        :func:`~riskmodel.warning.levels.warn_level_one_over`.
    """

    warning_list: pd.DataFrame
    reasons: pd.DataFrame
    scores: pd.DataFrame
    model_version: str
    features: pd.DataFrame | None = None  # the feature frame scored (score_as_of), for the run's contributions
    cases: pd.DataFrame | None = None  # the case states of the as-of date (riskmodel.warning.cases), reviews mode
    timings: dict | None = None  # seconds per stage (score_as_of): features, score
    over_capacity: pd.DataFrame | None = None  # schools whose level I is above its capacity


def _rule_words(codes: pd.Series, lang: str) -> pd.Series:
    unique = {joined: rule_words(joined, lang) for joined in codes.unique()}  # a handful of distinct combinations
    return codes.map(unique)


GONE = ("cleared", "left", "dropped")  # change of a previously listed student this list does not list


def compare_with_previous(current: pd.DataFrame, previous: pd.DataFrame | None, *, scored: pd.Series | None = None,
                          registered: pd.Series | None = None) -> pd.DataFrame:
    """``change`` and ``previous_level`` of each current row; plus rows for the students no longer listed.

    Parameters
    ----------
    current
        ``student_id, level`` of the students listed now.
    previous
        The previous list of the same cohort (``student_id, level``, and ``change, previous_level``
        when it has them: a student ``dropped`` there counts as listed at their previous level) or None.
    scored, registered
        Every student_id scored now, and every student_id of this register's accepted students. When
        given, a previously listed student who was not scored is ``left`` (registered: no longer
        enrolled) or ``dropped`` (not in the register or rejected); without them every one is ``cleared``.

    Returns
    -------
    DataFrame
        ``student_id, change, previous_level`` for current rows, then the rows of those gone.

    Example
    -------
    >>> now = pd.DataFrame({"student_id": ["A"], "level": ["II"]})
    >>> before = pd.DataFrame({"student_id": ["A", "B", "C"], "level": ["I", "I", "II"]})
    >>> compare_with_previous(now, before, scored=pd.Series(["A", "C"]), registered=pd.Series(["A", "C"])
    ...                       )["change"].tolist()
    ['lowered', 'dropped', 'cleared']
    """
    if previous is None:
        return pd.DataFrame({"student_id": current["student_id"].to_numpy(), "change": "new", "previous_level": ""})
    prev = previous.loc[previous["level"].isin(LEVELS), ["student_id", "level"]]
    if {"change", "previous_level"} <= set(previous.columns):  # still missing since an earlier list
        carried = previous.loc[(previous["change"] == "dropped") & previous["previous_level"].isin(LEVELS)]
        prev = pd.concat([prev, carried[["student_id", "previous_level"]].rename(columns={"previous_level": "level"})])
    prev = prev.drop_duplicates("student_id").rename(columns={"level": "previous_level"})
    merged = current[["student_id", "level"]].merge(prev, on="student_id", how="left")
    now = merged["level"].map(LEVEL_ORDER).to_numpy()
    before = merged["previous_level"].map(LEVEL_ORDER).fillna(0).to_numpy()
    change = np.select([before == 0, now > before, now == before], ["new", "raised", "same"], default="lowered")
    cleared = prev.loc[~prev["student_id"].isin(current["student_id"])]
    gone = np.full(len(cleared), "cleared", dtype=object)
    if scored is not None:
        unscored = ~cleared["student_id"].isin(scored).to_numpy()
        in_register = cleared["student_id"].isin(registered if registered is not None else []).to_numpy()
        gone = np.where(unscored, np.where(in_register, "left", "dropped"), gone)
    return pd.concat([
        pd.DataFrame({"student_id": merged["student_id"], "change": change,
                      "previous_level": merged["previous_level"].fillna("")}),
        pd.DataFrame({"student_id": cleared["student_id"], "change": gone,
                      "previous_level": cleared["previous_level"]}),
    ], ignore_index=True)


def _joined(reasons: pd.DataFrame, direction: str, sep: str) -> pd.Series:
    part = reasons.loc[reasons["direction"] == direction].sort_values(["row", "order"])
    return part.groupby("row", sort=False)["text"].agg(sep.join)


def case_inputs(features: pd.DataFrame, as_of, *, settings: Settings, tables: dict | None,
                rules=None) -> pd.DataFrame | None:
    """The case states of ``as_of`` (None in ``legacy`` case mode): the hard rules' triggers, dated by
    their records in ``tables`` (or, without them, by the features), and ``tables["reviews"]``."""
    from riskmodel.warning.cases import case_states
    from riskmodel.warning.hard_rules import trigger_events

    if settings.warning.case_mode != "reviews":
        return None
    rules = rules if rules is not None else load_hard_rules(settings=settings)
    tables = tables or {}
    if not tables:  # no records to date the triggers by: every rule is read from the features
        rules = [replace(r, record=None, critical=None) for r in rules]
    else:  # a rule whose records' table is absent is read from the features
        rules = [r if r.critical is not None or r.record is None or r.record[0] in tables
                 else replace(r, record=None) for r in rules]
    triggers = trigger_events(tables, features, rules, as_of, since=settings.warning.reviews_since)
    states = case_states(tables.get("reviews"), triggers, as_of, settings=settings)
    return states.loc[states["student_id"].isin(features["student_id"].astype(str))].reset_index(drop=True)


def school_key(student_ids: pd.Series, students: pd.DataFrame, previous: pd.DataFrame | None = None) -> np.ndarray:
    """The school each row belongs to in the list: the register's school of the student; for a student
    no longer in it, the school ``previous`` (the previous list) names when it is still a school of the
    register, else the first school (:func:`schools_of`). All ``""`` when the register has no school."""
    ids = pd.Series(np.asarray(student_ids, dtype=object)).astype(str)
    if "school" not in students.columns or students.empty:
        return np.full(len(ids), "", dtype=object)
    now = pd.Series(students["school"].astype(str).to_numpy(), index=students["student_id"].astype(str).to_numpy())
    now = now[~now.index.duplicated()]
    schools = sorted(pd.unique(now).tolist())
    key = ids.map(now)
    if key.isna().any() and previous is not None and "school" in previous.columns:
        before = previous.loc[previous["school"].notna()].drop_duplicates("student_id")
        key = key.fillna(ids.map(pd.Series(before["school"].astype(str).to_numpy(),
                                           index=before["student_id"].astype(str).to_numpy())))
    key = key.where(key.isin(schools), schools[0])
    return key.to_numpy(dtype=object)


def _by_school(frame: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with ``student_id``) reordered school by school, keeping the order within each school."""
    key = school_key(frame["student_id"], students)
    if len(frame) == 0 or (key == key[0]).all():
        return frame.reset_index(drop=True)
    return frame.iloc[np.argsort(key, kind="stable")].reset_index(drop=True)


def _levels_by_school(predicted: pd.DataFrame, fired: pd.DataFrame, schools: np.ndarray, *, as_of,
                      settings: Settings, cases: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`assign_levels` among each school's students apart (capacity and rank per school), and the
    schools whose level I is above its capacity (:func:`level_one_over`)."""
    groups = pd.Series(schools).groupby(schools, sort=True).indices
    if len(groups) <= 1:
        parts = {schools[0] if len(schools) else "": assign_levels(predicted, fired, as_of=as_of, settings=settings,
                                                                   cases=cases)}
    else:
        parts = {school: assign_levels(predicted.iloc[rows], fired.iloc[rows], as_of=as_of, settings=settings,
                                       cases=cases) for school, rows in groups.items()}
    over = [{"school": str(school), **found} for school, part in parts.items()
            if (found := level_one_over(part, settings=settings)) is not None]
    levels = next(iter(parts.values())) if len(parts) == 1 else pd.concat(parts.values()).loc[predicted.index]
    return levels, pd.DataFrame(over, columns=OVER_CAPACITY_COLUMNS)


def score_features(features: pd.DataFrame, model: RiskModel, as_of, *, students: pd.DataFrame,
                   settings: Settings, lang: str = "zh", previous: pd.DataFrame | None = None, run_id: str = "",
                   feature_catalogue: pd.DataFrame | None = None, tables: dict | None = None,
                   rules: list | None = None) -> ScoreResult:
    """Score a feature frame of one as-of date and make the list (no feature building here).

    ``rules`` are the hard rules (:func:`load_hard_rules` of ``settings``, read here when None; a caller
    scoring many schools reads them once).

    ``tables`` (the dataset's canonical tables) dates the hard rules' triggers by their records and
    gives the reviews (the review loop, ``warning.case_mode`` ``reviews``); without it the triggers
    are read from the features and no review is known.

    Raises
    ------
    ModelMismatchError
        The frame's features are not the model's, or lack a feature a hard rule reads.
    ContractError
        No student is enrolled on ``as_of``.
    """
    as_of = pd.Timestamp(as_of).normalize()
    features = features.loc[pd.to_datetime(features["as_of"]) == as_of].reset_index(drop=True)
    if features.empty:
        raise ContractError(f"no student is enrolled on {as_of:%Y-%m-%d} (enrollment_date on or before it and no "
                            "exit_date before it): there is nothing to score. Check --as-of against the "
                            "students table's enrollment and exit dates.")
    model.check(features, source=f"the features of {as_of:%Y-%m-%d}")
    rules = rules if rules is not None else load_hard_rules(settings=settings)
    fired = evaluate_hard_rules(features, rules)
    cases = case_inputs(features, as_of, settings=settings, tables=tables, rules=rules)
    predicted = model.predict(features)
    low, high = model.calibrator.predict_interval(predicted["raw"].to_numpy())
    predicted = predicted.assign(score_low=low, score_high=high)
    scored, over = _levels_by_school(predicted, fired, school_key(predicted["student_id"], students), as_of=as_of,
                                     settings=settings, cases=cases)
    listed = scored["level"] != "none"
    if feature_catalogue is None:
        from riskmodel.features import catalogue as feature_catalogue_fn

        feature_catalogue = feature_catalogue_fn()
    listed_rows = features.loc[listed]
    reasons = explain(model.contributions(listed_rows), listed_rows, catalogue=feature_catalogue, lang=lang,
                      top=settings.warning.top_factors, previous=previous_families(previous))
    sep = text("warning.reason.separator", lang)
    current = scored.loc[listed].copy()
    current["factors"] = _joined(reasons, "raise", sep).reindex(current.index).fillna(text("warning.reason.none", lang))
    current["factors_lowering"] = _joined(reasons, "lower", sep).reindex(current.index).fillna("")
    current["rules"] = _rule_words(current["rule_codes"].astype(str), lang)
    change = compare_with_previous(current, previous, scored=scored["student_id"], registered=students["student_id"])
    current = current.merge(change, on="student_id", how="left")
    cleared_ids = change.loc[change["change"].isin(GONE), ["student_id", "previous_level", "change"]]
    cleared = cleared_ids.merge(scored.drop(columns=["level", "path"]), on="student_id", how="left")
    cleared = cleared.assign(level="none", path="", factors="", factors_lowering="", rules="")
    table = pd.concat([current, cleared], ignore_index=True)
    if cases is not None:  # a dropped student (not scored now) has no case state of this date
        for column, empty in (("state", "none"), ("reviewed_level", "none"), ("model_level", "none"),
                              ("trigger_rules", ""), ("review_status", ""), ("reviewer_role", ""),
                              ("review_reason", "")):
            table[column] = table[column].astype(object).where(table[column].notna(), empty)
        table["days_waiting"] = pd.to_numeric(table["days_waiting"]).fillna(0).astype(int)
        table["interview_overdue"] = table["interview_overdue"].eq(True)
        table["review_overdue"] = table["review_overdue"].eq(True)
    info = students.drop_duplicates("student_id").set_index("student_id")
    before = previous.drop_duplicates("student_id").set_index("student_id") if previous is not None else None
    for column in _STUDENT_COLUMNS:
        table[column] = table["student_id"].map(info[column]) if column in info.columns else ""
        if before is not None and column in before.columns:  # a dropped student is known from the last list only
            table[column] = table[column].fillna(table["student_id"].map(before[column]))
        table[column] = table[column].astype(object).where(table[column].notna(), "")
    table["as_of"] = as_of
    for column in ("score", "score_low", "score_high"):
        table[column] = table[column].round(4)  # rounding is monotone: low <= score <= high still holds
    table["rank"] = table["rank"].astype("Int64")
    table["model_version"] = model.version
    table["run_id"] = run_id
    table["_level_order"] = -table["level"].map(LEVEL_ORDER)
    # school by school (names sorted), then by level and rank within the school: one school's rows are
    # its own list whole, and a list of many schools is their lists one after the other
    table["_school"] = school_key(table["student_id"], students, previous)
    table = table.sort_values(["_school", "_level_order", "rank", "student_id"], kind="mergesort").reset_index(drop=True)
    warning_list = table[LIST_COLUMNS + EXTRA_COLUMNS + (CASE_EXTRA_COLUMNS if cases is not None else [])]
    reasons_out = reasons.assign(student_id=features.loc[reasons["row"], "student_id"].to_numpy(), as_of=as_of)
    reasons_out = reasons_out[["student_id", "as_of", "direction", "order", "family", "feature", "contribution",
                               "value", "text"]]
    reasons_out = _by_school(reasons_out, students)
    all_scores = scored.assign(as_of=as_of)[["student_id", "as_of", "score", "score_low", "score_high", "raw",
                                            "rank", "level", "path", "rule_codes"]
                                           + (["model_level", "state"] if cases is not None else [])]
    all_scores = _by_school(all_scores, students)
    n_cleared = int((cleared["change"] == "cleared").sum())
    if cases is not None:
        log.info("list of %s: %d listed (%d awaiting interview, %d under review), %d cleared", f"{as_of:%Y-%m-%d}",
                 int(listed.sum()), int((scored["state"] == "awaiting_interview").sum()),
                 int((scored["state"] == "under_review").sum()), n_cleared)
    else:
        log.info("list of %s: %d listed (%d by hard rules), %d cleared", f"{as_of:%Y-%m-%d}", int(listed.sum()),
                 int(fired.any(axis=1).sum()), n_cleared)
    return ScoreResult(warning_list=warning_list, reasons=reasons_out, scores=all_scores, model_version=model.version,
                       cases=cases, over_capacity=over)


def schools_of(students: pd.DataFrame) -> list[str]:
    """The register's schools in the order a multi-school list is made in: sorted by name (``str``)."""
    return sorted(pd.unique(students["school"].astype(str)).tolist())


def split_by_school(dataset) -> Iterator[tuple[str, object]]:
    """``(school, dataset of that school alone)`` for each school of the register, in :func:`schools_of` order.

    Every table holding ``student_id`` keeps the rows of the school's students; the calendar keeps the
    rows of every school (``school`` empty) and of this one; ``checksum``, ``files``, ``rejected``,
    ``summary`` and ``skipped`` are the whole dataset's. Each table is grouped once (not filtered once
    per school), so splitting costs about one pass over the data however many schools there are.
    """
    from riskmodel.data.dataset import Dataset

    students = dataset.table("students")
    schools = schools_of(students)
    if len(schools) <= 1:
        for school in schools:
            yield school, dataset
        return
    school_of = pd.Series(students["school"].astype(str).to_numpy(), index=students["student_id"].astype(str))
    groups: dict[str, dict[str, np.ndarray]] = {}
    for name, frame in dataset.tables.items():
        if name == "calendar" or "student_id" not in frame.columns:
            continue
        codes = frame["student_id"].astype(str).map(school_of)
        groups[name] = codes.groupby(codes.to_numpy(), sort=False).indices  # school -> row positions
    for school in schools:
        tables = {}
        for name, frame in dataset.tables.items():
            if name in groups:
                rows = groups[name].get(school, np.zeros(0, dtype=np.intp))
                tables[name] = frame.iloc[rows]
            elif name == "calendar" and "school" in frame.columns:
                tables[name] = frame.loc[frame["school"].isna() | (frame["school"].astype(str) == school)]
            else:
                tables[name] = frame
        yield school, Dataset(tables=tables, checksum=dataset.checksum, files=dataset.files,
                              rejected=dataset.rejected, summary=dataset.summary, skipped=dataset.skipped)


def previous_by_school(previous: pd.DataFrame | None, students: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The previous list's rows by the school each now belongs to (:func:`score_school`'s ``previous``).

    A student in this register belongs to their school in it (a student who changed school is compared
    in the new one, not reported gone from the old); a student no longer in it to the school the
    previous list names, or, when that school is not in this register either (or the list names none),
    to the first school of :func:`schools_of`, so that nobody previously listed is lost: the row still
    shows the school the previous list gave (:func:`school_key`).
    """
    schools = schools_of(students)
    if previous is None or not schools:
        return {}
    if len(schools) == 1:  # one school: the previous list as it is
        return {schools[0]: previous}
    key = school_key(previous["student_id"], students, previous)
    return {name: rows for name, rows in previous.groupby(key, sort=False)}


def score_school(dataset, model: RiskModel, as_of, *, settings: Settings, previous: pd.DataFrame | None = None,
                 run_id: str = "", lang: str = "zh", check: bool = True,
                 feature_catalogue: pd.DataFrame | None = None, rules: list | None = None) -> ScoreResult:
    """Score the students of one school (or of a batch of schools) on ``as_of``: features, model, hard rules,
    levels, reasons, list.

    This is the one scoring sequence: :func:`score_as_of` (``riskmodel score`` and ``riskmodel run`` on a
    data folder), :func:`riskmodel.warning.stream.score_store` (a store, batch by batch) and a distributed
    run (one task per school) all call it. Levels are assigned among each school's students apart
    (:func:`score_features`): a capacity per 1,000 is per 1,000 of the school's scored students (each
    school's counsellors), an absolute capacity is each school's, and ``rank`` is the rank within the
    school. The list holds the schools one after the other (:func:`schools_of` order), each school's
    rows exactly as that school scored alone would give them: features are per student and class,
    never across schools, so scoring a batch of schools at once or each school alone gives the same rows.

    Parameters
    ----------
    dataset
        A :class:`~riskmodel.data.Dataset` holding one school's students and their records
        (:func:`split_by_school`, or ``riskmodel.data.store.Store(path).school(name)`` from a store),
        or several schools' (``Store.schools_between``, or the whole data).
    model, as_of, settings, run_id, lang
        As for :func:`score_features`.
    previous
        The previous list's rows of these schools (:func:`previous_by_school`), or None.
    check
        Run :func:`riskmodel.warning.checks.check_scoring_data` on ``dataset`` first. A caller that
        checked the whole data already passes False (a small school may lack a table the district has).
    feature_catalogue, rules
        :func:`riskmodel.features.catalogue` and the hard rules (:func:`load_hard_rules`), read once by a
        caller scoring many schools (read here when None).

    Returns
    -------
    ScoreResult
        With ``features`` and ``timings`` (seconds: ``features``, ``score``).
    """
    from riskmodel.features import build_features
    from riskmodel.warning.checks import check_scoring_data

    if check:
        check_scoring_data(dataset, model, as_of, settings=settings, lang=lang)
    started = time.perf_counter()
    features = build_features(dataset, [as_of], settings=settings)
    built = time.perf_counter() - started
    started = time.perf_counter()
    result = score_features(features, model, as_of, students=dataset.table("students"), settings=settings, lang=lang,
                            previous=previous, run_id=run_id, tables=dataset.tables,
                            feature_catalogue=feature_catalogue, rules=rules)
    return replace(result, features=features,
                   timings={"features": built, "score": time.perf_counter() - started})


def warn_dropped(warning_list: pd.DataFrame | None) -> None:
    """One warning for the previously listed students a list did not score (``change`` 'dropped'): said
    once per run, after every school's list is made, not once per school or batch. Counts only: never an
    ID or pseudonym in a log line."""
    if warning_list is None or "change" not in warning_list.columns:
        return
    dropped = int((warning_list["change"] == "dropped").sum())
    if dropped:
        log.warning("%d previously listed students were not scored (missing from the register or rejected); "
                    "the list marks them 'dropped'", dropped)


def combine_results(results: list[ScoreResult]) -> ScoreResult:
    """The schools' results as one, in the order given (each school's list whole, one after the other)."""
    if len(results) == 1:
        return results[0]

    def concat(frames):
        frames = [f for f in frames if f is not None]
        return pd.concat(frames, ignore_index=True) if frames else None

    timings: dict[str, float] = {}
    for result in results:
        for key, value in (result.timings or {}).items():
            timings[key] = timings.get(key, 0.0) + value
    return ScoreResult(warning_list=concat([r.warning_list for r in results]),
                       reasons=concat([r.reasons for r in results]), scores=concat([r.scores for r in results]),
                       model_version=results[0].model_version, features=concat([r.features for r in results]),
                       cases=concat([r.cases for r in results]), timings=timings,
                       over_capacity=concat([r.over_capacity for r in results]))


def score_as_of(dataset, model: RiskModel, as_of, *, settings: Settings, previous: pd.DataFrame | None = None,
                run_id: str = "", lang: str = "zh") -> ScoreResult:
    """Check that ``dataset`` on ``as_of`` fits ``model`` (:func:`riskmodel.warning.checks.check_scoring_data`),
    then score every school of it with :func:`score_school` (levels, capacity and rank per school; the
    list school by school, in :func:`schools_of` order). With one school: the list as it always was.
    Schools whose level I is above its capacity are said in one warning, previously listed students not
    scored in another."""
    result = score_school(dataset, model, as_of, settings=settings, previous=previous, run_id=run_id, lang=lang)
    warn_level_one_over(result.over_capacity)
    warn_dropped(result.warning_list)
    return result


def make_warning_list(dataset, model: RiskModel, as_of, *, settings: Settings, lang: str = "zh",
                      previous: pd.DataFrame | None = None, run_id: str = "") -> pd.DataFrame:
    """The warning list of ``as_of`` alone (see the module docstring for its columns)."""
    return score_as_of(dataset, model, as_of, settings=settings, previous=previous, run_id=run_id,
                       lang=lang).warning_list
