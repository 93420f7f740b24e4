"""The audit of a saved model over monthly as-of dates after its training window.

:func:`run_audit` is ``riskmodel audit``. In order:

1. **Period.** Monthly as-of dates (day ``settings.model.as_of_day``) from ``date_from`` to
   ``date_to``. Every date must be on or after the model's ``until`` (the last day its training
   data covered): an audit on the training period would measure memory, not prediction. Rows whose
   label window is not complete in the data (the student left, or the data end inside the window)
   are left out and counted (``audit_summary.json``).
2. **Scoring as issued.** For each date, features are built point-in-time and scored by
   ``riskmodel.warning`` exactly as the monthly run does (hard rules, capacities), so the audit
   judges the lists a centre would have received.
3. **Rules baseline.** The rules of today's practice (``riskmodel.models.RulesBaseline``), calibrated
   on the model's own training dates (only data before ``until``), scored and listed with the same
   capacities.
4. **Tables**, each written as CSV (UTF-8 with BOM, so Excel opens Chinese text) and Parquet,
   atomically, owner-only, into a new folder ``out_dir`` (never overwriting an earlier audit):
   ``performance`` (ranking, alerting at capacity, calibration; pooled and by month; model and
   rules), ``calibration`` (reliability curves), ``groups`` (per group, gaps, flags),
   ``levels`` (listed per level and by hard rule against capacity, by month), ``stability``
   (month-to-month churn and why), ``feedback`` (outcome rates of listed and unlisted
   students with and without counselling in the outcome window), ``drift`` (PSI of each feature and of the score,
   training against each month), ``importance`` (factor families overall and by group); plus
   ``model_card.md`` and ``audit_summary.json``.

No table holds a student identifier: every output is an aggregate.

Example
-------
>>> # from riskmodel.data import load_dataset; from riskmodel.models import load_model
>>> # result = run_audit(load_dataset("data/", settings=s), load_model("models/2025-09"),
>>> #                    date_from="2025-09-01", date_to="2026-08-01", settings=s, out_dir="audits/2026", lang="zh")
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from riskmodel.audit.drift import psi_table
from riskmodel.audit.explain import importance_table
from riskmodel.audit.groups import _labels, group_columns, group_table
from riskmodel.audit.loop import LOOP_TABLES, loop_summary, loop_tables
from riskmodel.audit.metrics import Bootstrap
from riskmodel.audit.performance import SCORERS, calibration_table, performance_table
from riskmodel.audit.stability import feedback_table, levels_table, stability_table
from riskmodel.config import Settings
from riskmodel.errors import ConfigError, ContractError, PreflightError
from riskmodel.outputs import atomic_dir, neutralise_frame, write_bytes, write_text
from riskmodel.vocab import FAMILY_FLAGS

__all__ = ["AuditResult", "LOOP_TABLES", "TABLES", "audit_dates", "build_audit_frame", "compute_tables", "run_audit",
           "write_table"]

log = logging.getLogger(__name__)

TABLES: tuple[str, ...] = ("performance", "calibration", "groups", "levels", "stability", "feedback", "drift", "importance")
MAX_EXPLAIN_ROWS = 10_000  # contributions are computed on a seeded sample of at most this many rows
DRIFT_REFERENCE_DATES = 12  # the model's last training dates used as the drift reference
DRIFT_REFERENCE_ROWS = 60_000  # at most this many reference rows (seeded sample)


@dataclass
class AuditResult:
    """What an audit produced: its folder, its tables and a summary."""

    out_dir: Path
    tables: dict[str, pd.DataFrame]
    summary: dict
    card: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def audit_dates(date_from, date_to, *, day: int = 1) -> list[pd.Timestamp]:
    """Monthly as-of dates on day ``day`` from ``date_from`` to ``date_to`` inclusive.

    Example
    -------
    >>> [d.date().isoformat() for d in audit_dates("2025-09-01", "2025-11-15")]
    ['2025-09-01', '2025-10-01', '2025-11-01']
    """
    start, end = pd.Timestamp(date_from).normalize(), pd.Timestamp(date_to).normalize()
    if end < start:
        raise ConfigError(f"audit period: --to {end.date()} is before --from {start.date()}; give --from first.")
    first = start.replace(day=day) if start.day <= day else (start + pd.DateOffset(months=1)).replace(day=day)
    dates = []
    current = first
    while current <= end:
        dates.append(current)
        current = current + pd.DateOffset(months=1)
    if not dates:
        raise ConfigError(f"audit period {start.date()} to {end.date()} holds no as-of date (day {day} of a month); "
                          "widen it to at least one month.")
    return dates


def write_table(table: pd.DataFrame, folder: Path, name: str) -> list[Path]:
    """``name.csv`` (UTF-8 with BOM, cells a spreadsheet would run as a formula neutralised) and
    ``name.parquet`` in ``folder``, atomically, mode 0600."""
    csv_path, parquet_path = folder / f"{name}.csv", folder / f"{name}.parquet"
    write_bytes(csv_path, neutralise_frame(table).to_csv(index=False).encode("utf-8-sig"))
    frame = table.copy()
    for column in frame.columns:  # Parquet wants one type per column: text columns as strings
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    write_bytes(parquet_path, frame.to_parquet(index=False))
    return [csv_path, parquet_path]


def _check_period(model, dates: list[pd.Timestamp]) -> None:
    until = model.meta.get("until")
    if until and dates[0] < pd.Timestamp(until):
        raise ConfigError(f"audit period starts {dates[0].date()}, before the model's training data end ({until}, "
                          "model.json 'until'); audit a period on or after it (--from).")


def _score_months(features: pd.DataFrame, model, dates, *, settings: Settings, tables: dict | None = None
                  ) -> pd.DataFrame:
    """Every student's score, level and path on every date, as ``riskmodel.warning`` levels them.

    The same steps as ``warning.score_features`` (model, hard rules, capacities) without writing the
    reasons in words, which the audit does not use (they cost more than the scoring itself).
    """
    from riskmodel.warning import assign_levels, evaluate_hard_rules, load_hard_rules
    from riskmodel.warning.warning_list import case_inputs

    rules = load_hard_rules(settings=settings)
    parts = []
    for as_of in dates:
        month = features.loc[features["as_of"] == as_of].reset_index(drop=True)
        if month.empty:
            continue
        fired = evaluate_hard_rules(month, rules)
        cases = case_inputs(month, as_of, settings=settings, tables=tables, rules=rules)  # the review loop
        scored = assign_levels(model.predict(month), fired, as_of=as_of, settings=settings, cases=cases)
        parts.append(scored.assign(as_of=as_of)[["student_id", "as_of", "score", "raw", "rank", "level", "path"]])
    return pd.concat(parts, ignore_index=True)


def _training_period(dataset, model, settings: Settings) -> pd.DataFrame:
    """Features and labels of the model's own training dates (usable rows): the baseline's training
    data and the drift reference. Only data up to the model's ``until`` is used."""
    from riskmodel.models.training import training_frame

    until = model.meta.get("until")
    dates = [pd.Timestamp(d) for d in model.meta.get("as_of_dates", [])]
    if not until or not dates:
        raise ConfigError("the model's model.json has no 'until' or 'as_of_dates'; retrain it with riskmodel train "
                          "so the audit knows its training window.")
    frame, _ = training_frame(dataset, dates, settings=settings, until=until)
    return frame


def _baseline(dataset, model, settings: Settings, training: pd.DataFrame):
    """The rules baseline calibrated on the model's training dates (data before ``until``)."""
    from riskmodel.config import ModelSettings
    from riskmodel.models import train_model

    recorded = (model.meta.get("settings") or {}).get("model")
    if recorded:  # the model's own folds, so the baseline learns from exactly the model's training dates
        settings = settings.model_copy(update={"model": ModelSettings.model_validate(recorded)})
    return train_model(dataset, model.meta["until"], settings=settings, kind="rules", frame=training)


def _drift_reference(training: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """The model's last training dates; a seeded sample of at most DRIFT_REFERENCE_ROWS rows of them
    (bin edges and shares from 60,000 rows are within half a percentage point of the full set's)."""
    dates = np.sort(training["as_of"].unique())[-DRIFT_REFERENCE_DATES:]
    reference = training.loc[training["as_of"].isin(dates)].reset_index(drop=True)
    if len(reference) > DRIFT_REFERENCE_ROWS:
        keep = np.sort(np.random.default_rng(seed).permutation(len(reference))[:DRIFT_REFERENCE_ROWS])
        reference = reference.iloc[keep].reset_index(drop=True)
    return reference


def build_audit_frame(dataset, model, dates, *, settings: Settings, lang: str = "zh", baseline=None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Features and the audit frame of ``dates``.

    Returns
    -------
    (features, frame, counts)
        ``features``: the feature rows, aligned with ``frame``; ``frame``: one row per (student,
        date) scored, with ``student_id, as_of, label, usable, score, level, path``,
        ``baseline_score, baseline_level`` (when a baseline is given) and the register's group
        columns; ``counts``: rows built, unusable and why. Metrics use the ``usable`` rows only;
        stability, drift and explanations use every scored row (they need no outcome).
    """
    from riskmodel.features import build_features
    from riskmodel.labels import build_labels

    features = build_features(dataset, dates, settings=settings)
    model.check(features, source="the features of the audit period")
    labels = build_labels(dataset, features[["student_id", "as_of"]], settings=settings)
    students = dataset.table("students")
    scores = _score_months(features, model, dates, settings=settings, tables=dataset.tables)
    keys = ["student_id", "as_of"]
    frame = labels[[*keys, "label", "usable", "censored", "window_complete", "counselling_after"]].merge(
        scores[[*keys, "score", "level", "path"]], on=keys, how="left", validate="one_to_one")
    if baseline is not None:
        base = _score_months(features, baseline, dates, settings=settings, tables=dataset.tables)
        frame = frame.merge(base[[*keys, "score", "level", "path"]].rename(
            columns={"score": "baseline_score", "level": "baseline_level", "path": "baseline_path"}),
            on=keys, how="left", validate="one_to_one")
    usable = frame["usable"].to_numpy(dtype=bool)
    counts = {"rows": int(len(frame)), "usable": int(usable.sum()),
              "left_out_censored": int((~usable & frame["censored"].to_numpy(dtype=bool)).sum()),
              "left_out_incomplete_window": int((~usable & ~frame["window_complete"].to_numpy(dtype=bool)).sum())}
    if not usable.any():
        raise ContractError("audit: no (student, as-of) pair of the period has a complete outcome window in the data; "
                            "choose an earlier --to (the last as-of date needs horizon_days of data after it).")
    flags = [c for c in FAMILY_FLAGS if c in students.columns]
    register = students.drop_duplicates("student_id").set_index("student_id")
    columns = group_columns(register.reset_index(), flags)
    group_frame = register[list(columns.values())].reindex(frame["student_id"]).reset_index(drop=True)
    frame = pd.concat([frame.reset_index(drop=True), group_frame], axis=1)
    features = features.set_index(keys).reindex(pd.MultiIndex.from_frame(frame[keys])).reset_index()
    return features, frame, counts


def run_audit(dataset, model, *, date_from, date_to, settings: Settings, out_dir: str | Path, lang: str = "zh",
              baseline=None, scores=()) -> AuditResult:
    """Audit ``model`` on ``dataset`` over the monthly as-of dates from ``date_from`` to ``date_to``.

    Parameters
    ----------
    dataset
        The loaded data (``riskmodel.data.load_dataset``), outcomes included.
    model
        The saved model (``riskmodel.models.load_model``).
    date_from, date_to
        The audited period (ISO dates); must start on or after the model's ``until``.
    settings
        ``settings.audit`` (bootstrap, thresholds, bins), ``settings.warning`` (capacities),
        ``settings.labels`` (horizon), ``settings.reports.small_cell``.
    out_dir
        A new folder for the tables and the model card; never overwritten.
    lang
        Language of the model card.
    baseline
        A fitted rules baseline; default: fitted on the model's training dates (step 3).
    scores
        Scores files (or run folders holding ``scores.parquet``) the model issued in audited months:
        for those months the tables judge the issued scores and levels instead of the audit's own
        re-scoring, and ``audit_summary.json`` says how far the two are apart (riskmodel.audit.issued).

    Returns
    -------
    AuditResult

    Raises
    ------
    ConfigError
        A period before the model's training end or without any as-of date; a scores file outside it.
    ContractError
        No usable (student, date) pair in the period; a scores file whose students are not the enrolled.
    ModelMismatchError
        A scores file written by another model.
    PreflightError
        ``out_dir`` exists already.
    """
    from riskmodel.audit.card import model_card
    from riskmodel.audit.issued import apply_issued, read_issued

    out_dir = Path(out_dir)
    if out_dir.exists():
        raise PreflightError(f"{out_dir}: already exists; an earlier audit is never overwritten. Choose a new --out.")
    timings: dict[str, float] = {}
    dates = audit_dates(date_from, date_to, day=settings.model.as_of_day)
    _check_period(model, dates)
    issued = read_issued(scores)  # before the long work: a wrong file fails in a second
    start = time.perf_counter()
    training = _training_period(dataset, model, settings)
    baseline = baseline if baseline is not None else _baseline(dataset, model, settings, training)
    timings["training_period"] = time.perf_counter() - start
    start = time.perf_counter()
    features, frame, counts = build_audit_frame(dataset, model, dates, settings=settings, lang=lang, baseline=baseline)
    frame, sources = apply_issued(frame, issued, model_version=model.version, dates=dates)
    timings["score"] = time.perf_counter() - start
    # one BLAS thread: the bootstrap's many small matrix products wait on each other's threads on a busy
    # machine (measured 100x slower under load with OpenBLAS's 2 threads); results do not depend on it
    with threadpool_limits(1, "blas"):
        reference = _drift_reference(training, seed=settings.audit.seed)
        tables = compute_tables(frame, features, model, settings=settings, reference=reference)
    timings.update(tables.pop("_timings"))
    start = time.perf_counter()
    loop = loop_tables(dataset, features, frame, model, dates, settings=settings)  # only with a reviews table
    tables.update(loop)
    timings["review_loop"] = time.perf_counter() - start
    summary = _summary(model, dates, counts, tables, settings)
    summary["scores"] = sources
    card = model_card(summary, tables, lang=lang)
    with atomic_dir(out_dir) as work:
        for name, table in tables.items():
            write_table(table, work, name)
        write_text(work / "model_card.md", card)
        write_text(work / "audit_summary.json", json.dumps(summary, ensure_ascii=False, indent=1, default=str))
    log.info("audit of model %s over %d dates written (%s)", model.version, len(dates),
             ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return AuditResult(out_dir=out_dir, tables=tables, summary=summary, card=card, timings=timings)


def compute_tables(frame: pd.DataFrame, features: pd.DataFrame, model, *, settings: Settings,
                   reference: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every audit table from the audit frame (see :func:`build_audit_frame`); ``_timings`` too."""
    from riskmodel.features import catalogue

    audit = settings.audit
    boot = Bootstrap(replicates=audit.bootstrap, seed=audit.seed, confidence=audit.confidence)
    timings: dict[str, float] = {}
    tables: dict[str, pd.DataFrame] = {}
    scored = frame
    frame = frame.loc[frame["usable"].to_numpy(dtype=bool)].reset_index(drop=True)
    start = time.perf_counter()
    tables["performance"] = performance_table(frame, boot=boot, n_bins=audit.calibration_bins)
    tables["calibration"] = calibration_table(frame, n_bins=audit.calibration_bins)
    timings["performance"] = time.perf_counter() - start
    start = time.perf_counter()
    groupings = {name: name for name in GROUPING_ORDER if name in frame.columns}
    # the rules baseline never sees the register's groups: its observed/expected gap in a group points
    # at outcomes recorded less (or more) often there, whatever the model learned from them
    tables["groups"] = pd.concat([
        group_table(frame, groupings=groupings, boot=boot, min_group_size=audit.min_group_size,
                    min_group_positives=audit.min_group_positives, thresholds=audit.gap_thresholds,
                    n_bins=audit.calibration_bins, small_cell=settings.reports.small_cell, score=score_col,
                    level=level_col).assign(scorer=scorer)
        for scorer, (score_col, level_col) in SCORERS.items() if score_col in frame.columns
    ], ignore_index=True)
    tables["groups"] = tables["groups"][["scorer", *[c for c in tables["groups"].columns if c != "scorer"]]]
    timings["groups"] = time.perf_counter() - start
    start = time.perf_counter()
    from riskmodel.warning import capacities

    counts = scored.groupby("as_of").size()
    capacity = {pd.Timestamp(d).strftime("%Y-%m-%d"): capacities(int(n), settings=settings) for d, n in counts.items()}
    tables["levels"] = levels_table(scored, capacity)
    tables["stability"] = stability_table(scored)
    tables["feedback"] = feedback_table(frame, small_cell=settings.reports.small_cell)
    variables = list(model.features)
    reference = reference.assign(score=model.predict(reference)["score"].to_numpy())
    # like for like: the training frame holds usable rows only (no censored negatives), so does `current`
    usable = scored["usable"].to_numpy(dtype=bool)
    current = features.loc[usable].assign(score=scored.loc[usable, "score"].to_numpy())
    families = catalogue()["family"]
    seasonal = tuple(name for name in variables if families.get(name) == "calendar")
    tables["drift"] = psi_table(reference, current, columns=[*variables, "score"], n_bins=audit.psi_bins,
                                flag=audit.psi_flag, exempt=seasonal)
    timings["stability_drift"] = time.perf_counter() - start
    start = time.perf_counter()
    sample = np.sort(np.random.default_rng(audit.seed).permutation(len(features))[:MAX_EXPLAIN_ROWS])
    contributions = model.contributions(features.iloc[sample]).reset_index(drop=True)
    groups = {name: _labels(scored[name].iloc[sample].reset_index(drop=True)) for name in groupings}
    tables["importance"] = importance_table(contributions, families, groups, min_group_size=audit.min_group_size)
    timings["importance"] = time.perf_counter() - start
    tables["_timings"] = timings  # type: ignore[assignment]
    return tables


GROUPING_ORDER: tuple[str, ...] = ("gender", "stage", "grade", "college", *FAMILY_FLAGS)


def _summary(model, dates, counts: dict, tables: dict[str, pd.DataFrame], settings: Settings) -> dict:
    groups = tables["groups"]
    flagged = groups.loc[groups["flagged"], ["scorer", "grouping", "group", "metric", "gap", "gap_low", "gap_high",
                                             "q_value"]]
    drift = tables["drift"]
    return {
        "model": {k: model.meta.get(k) for k in ("version", "kind", "until", "horizon_days", "as_of_dates", "windows",
                                                  "outcome_events", "data_checksum", "calibration")},
        "period": {"from": dates[0].date().isoformat(), "to": dates[-1].date().isoformat(), "dates": len(dates)},
        "rows": counts,
        "settings": {"audit": settings.audit.model_dump(mode="json"), "warning": settings.warning.model_dump(mode="json"),
                     "labels": settings.labels.model_dump(mode="json")},
        "flagged_gaps": flagged.to_dict(orient="records"),
        "gaps_tested": int(groups["q_value"].notna().sum()),
        "insufficient_groups": groups.loc[(groups["status"] == "insufficient") & (groups["scorer"] == "model"),
                                          ["grouping", "group"]]
        .drop_duplicates().to_dict(orient="records"),
        "months_rules_over_level_I_capacity": int((tables["levels"]["listed_by_rule"]
                                                   > tables["levels"]["capacity_I"]).sum()),
        "drifted_variables": sorted(drift.loc[drift["flagged"] & (drift["period"] == "all"), "variable"].tolist()),
        "review_loop": loop_summary(tables),
    }
