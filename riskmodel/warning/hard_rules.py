"""Hard rules: crisis signals a centre already trusts, which put a student at level I whatever the score.

The rules are data (``riskmodel/warning/hard_rules.yaml`` or the centre's file named by
``settings.warning.hard_rules``). Thresholds of critical questionnaire items come from the instrument
specifications, so a centre that changes ``instruments.scl90_item15_critical`` changes the hard rule
too. A rule whose feature is absent from the feature frame is an error, not a silent skip: a hard
rule that cannot be applied must be noticed.

Example
-------
>>> import pandas as pd
>>> from riskmodel.config import Settings
>>> rules = load_hard_rules(settings=Settings())
>>> [r.name for r in rules][:2]
['phq9_item9', 'upi_item25']
>>> rules[0].threshold
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ConfigError, ModelMismatchError
from riskmodel.models.rules import OPERATORS, read_rules_yaml
from riskmodel.rulefiles import StrictModel

__all__ = ["HardRule", "load_hard_rules", "evaluate_hard_rules", "trigger_events", "TRIGGER_COLUMNS"]

_OPS = OPERATORS  # one table of comparisons for the baseline and the hard rules


@dataclass(frozen=True)
class HardRule:
    """One hard rule: ``feature op threshold``, and every extra condition ``(feature, op, value)``.

    ``max_age: {feature, days}`` in the YAML becomes the condition ``(feature, "<=", days)``;
    ``when: [{feature, op, value}, ...]`` adds conditions as written.
    """

    name: str
    feature: str
    op: str
    threshold: float
    conditions: tuple[tuple[str, str, float], ...] = ()
    # the review loop (riskmodel.warning.cases): which records fire the rule, so that each is dated
    # and holds until a review answers it; `record: {table, where: {column: [values]}}` in the YAML, or
    # from `critical_item` (screenings of the instrument whose item reaches the threshold)
    record: tuple[str, tuple[tuple[str, tuple], ...]] | None = None
    critical: tuple[str, int] | None = None  # (instrument, item) of a critical_item rule
    age_feature: str | None = None  # max_age's feature: days since the record the rule reads
    window: tuple[tuple[str, str, float], ...] = ()  # the max_age condition alone (legacy mode only)

    def features(self) -> list[str]:
        """Features the rule reads."""
        return [self.feature] + [c[0] for c in self.conditions]


# The schema of hard_rules.yaml (its top comment explains each key): a misspelt key such as
# `max_agee:` must be refused, or the rule would load without its age limit.
class _CriticalItem(StrictModel):
    instrument: str
    item: int


class _MaxAge(StrictModel):
    feature: str
    days: float


class _Condition(StrictModel):
    feature: str
    op: str
    value: float


class _Record(StrictModel):
    table: str
    where: dict[str, list[str | int | float] | str | int | float] | None = None


class _HardRule(StrictModel):
    name: str
    feature: str
    op: str
    value: float | None = None
    critical_item: _CriticalItem | None = None
    max_age: _MaxAge | None = None
    when: list[_Condition] | None = None
    record: _Record | None = None  # the review loop: the records that fire the rule (warning.cases)


class _HardRulesFile(StrictModel):
    rules: list[_HardRule] | None = None


def _critical(rule: dict, settings: Settings, source: str) -> float:
    from riskmodel.instruments import specs

    ref = rule["critical_item"]
    try:
        spec = specs.get(str(ref["instrument"]))
        thresholds = spec.critical_thresholds(settings.instruments)
        return float(thresholds[int(ref["item"])])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: rule {rule['name']!r}: {ref} is not a critical item of the instrument "
                          f"specifications ({exc}); give `value:` instead or fix the item.") from None


def load_hard_rules(path: str | Path | None = None, *, settings: Settings) -> list[HardRule]:
    """The hard rules of ``path`` (or ``settings.warning.hard_rules``, or the shipped defaults).

    Raises
    ------
    ConfigError
        A rule lacks a field, has an unknown key (named with the closest known one) or comparison, or
        names a critical item that does not exist.
    """
    path = path if path is not None else settings.warning.hard_rules
    raw, source = read_rules_yaml(path, package="riskmodel.warning", shipped="hard_rules.yaml",
                                  what="hard rules (settings: warning.hard_rules)", model=_HardRulesFile)
    rules, seen = [], set()
    for i, rule in enumerate(raw, start=1):
        if not isinstance(rule, dict) or not {"name", "feature", "op"} <= set(rule) or \
                ("value" not in rule and "critical_item" not in rule):
            raise ConfigError(f"{source}: rule {i} needs name, feature, op and value (or critical_item).")
        if rule["op"] not in _OPS:
            raise ConfigError(f"{source}: rule {rule['name']!r}: op {rule['op']!r} is not one of {list(_OPS)}.")
        if rule["name"] in seen:
            raise ConfigError(f"{source}: rule name {rule['name']!r} appears twice; names must be unique.")
        seen.add(rule["name"])
        threshold = _critical(rule, settings, source) if "critical_item" in rule else float(rule["value"])
        conditions = []
        age = rule.get("max_age") or {}
        window = ()
        if age.get("feature") and age.get("days") is not None:
            window = ((str(age["feature"]), "<=", float(age["days"])),)
            conditions.append(window[0])
        for cond in rule.get("when") or []:
            if not isinstance(cond, dict) or not {"feature", "op", "value"} <= set(cond) or cond["op"] not in _OPS:
                raise ConfigError(f"{source}: rule {rule['name']!r}: each `when` entry needs feature, op "
                                  f"({'/'.join(_OPS)}) and value.")
            conditions.append((str(cond["feature"]), cond["op"], float(cond["value"])))
        critical = ((str(rule["critical_item"]["instrument"]), int(rule["critical_item"]["item"]))
                    if "critical_item" in rule else None)
        rules.append(HardRule(name=str(rule["name"]), feature=str(rule["feature"]), op=rule["op"],
                              threshold=threshold, conditions=tuple(conditions),
                              record=_record(rule, source), critical=critical,
                              age_feature=str(age["feature"]) if age.get("feature") else None, window=window))
    return rules


def _record(rule: dict, source: str) -> tuple[str, tuple[tuple[str, tuple], ...]] | None:
    """``record: {table, where: {column: value or [values]}}`` of a rule, or None."""
    spec = rule.get("record")
    if spec is None:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("table"), str) or \
            not isinstance(spec.get("where", {}), dict):
        raise ConfigError(f"{source}: rule {rule['name']!r}: `record` needs table and where "
                          "({column: value or [values]}), e.g. {table: observations, where: {severity: [3]}}.")
    where = tuple((str(column), tuple(v if isinstance(v, list) else [v]))
                  for column, v in (spec.get("where") or {}).items())
    return str(spec["table"]), where


def evaluate_hard_rules(frame: pd.DataFrame, rules: list[HardRule], *, windows: bool = True) -> pd.DataFrame:
    """Boolean frame (index of ``frame``), one column per rule: True where it fires.

    ``windows=False`` leaves out each rule's ``max_age`` condition (the review loop: a critical answer
    holds until a review answers it, however old it is).

    Raises
    ------
    ModelMismatchError
        The feature frame lacks a feature a hard rule reads.
    """
    needed = sorted({f for rule in rules for f in rule.features()} - set(frame.columns))
    if needed:
        raise ModelMismatchError(
            f"the feature matrix lacks {needed}, which the hard rules read; a hard rule is never skipped. "
            "Use the riskmodel version whose features catalogue has them, or remove the rule from your "
            "warning.hard_rules file.")
    out = {}
    for rule in rules:
        fires = _holds(frame, rule.feature, rule.op, rule.threshold)
        for feature, op, value in rule.conditions:
            if not windows and (feature, op, value) in rule.window:
                continue
            fires &= _holds(frame, feature, op, value)
        out[rule.name] = fires
    return pd.DataFrame(out, index=frame.index, dtype=bool)


def _holds(frame: pd.DataFrame, feature: str, op: str, value: float) -> np.ndarray:
    """``feature op value`` per row; a missing value never holds."""
    values = pd.to_numeric(frame[feature], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return _OPS[op](values, value) & ~np.isnan(values)


TRIGGER_COLUMNS = ["student_id", "date", "rule"]


def _record_rows(tables: dict[str, pd.DataFrame], rule: HardRule, as_of: pd.Timestamp) -> pd.DataFrame:
    """``student_id, date`` of the records (dated on or before ``as_of``) that fire ``rule``."""
    if rule.critical is not None:
        table = tables.get("screenings")
        instrument, item = rule.critical
        column = f"item_{item}"
        if table is None or column not in table.columns:
            return pd.DataFrame(columns=["student_id", "date"])
        mask = (table["instrument"] == instrument).to_numpy() & (table["date"] <= as_of).to_numpy()
        mask[mask] = _holds(table.loc[mask], column, rule.op, rule.threshold)
        return table.loc[mask, ["student_id", "date"]]
    name, where = rule.record
    table = tables.get(name)
    if table is None or "date" not in table.columns:
        return pd.DataFrame(columns=["student_id", "date"])
    mask = (table["date"] <= as_of).to_numpy()
    for column, values in where:
        if column not in table.columns:
            raise ConfigError(f"hard rule {rule.name!r}: `record` reads {name}.{column}, which the contract's "
                              f"{name} table lacks; fix the rule's where: in warning.hard_rules.")
        mask &= table[column].isin(list(values)).to_numpy()
    return table.loc[mask, ["student_id", "date"]]


def trigger_events(tables: dict[str, pd.DataFrame], features: pd.DataFrame, rules: list[HardRule], as_of, *,
                   since=None) -> pd.DataFrame:
    """When each hard rule fired for each student, dated by the record that fired it (the review loop).

    A rule with a record definition (``critical_item``, or ``record:``) yields one trigger per record
    that fires it, dated on or before ``as_of``, however old: a critical answer stays a trigger until
    a review dated on or after it (riskmodel.warning.cases). A rule without one yields a trigger for
    each student it fires for now (``max_age`` left out), dated ``as_of`` minus its ``max_age`` feature
    (days since the record) or, without one, ``as_of`` itself.

    Parameters
    ----------
    tables
        The dataset's canonical tables (``screenings``, ``observations`` ...); absent ones add nothing.
    features
        The feature frame of ``as_of`` (``student_id`` and the rules' features), for rules without records.
    rules
        The hard rules (:func:`load_hard_rules`).
    as_of
        The list's date.
    since
        Triggers dated before this are not read (``warning.reviews_since``: when a centre began recording
        reviews); None: all.

    Returns
    -------
    DataFrame
        ``student_id, date, rule``, one row per (student, date, rule), sorted.
    """
    as_of = pd.Timestamp(as_of).normalize()
    parts = []
    by_feature = [r for r in rules if r.record is None and r.critical is None]
    for rule in rules:
        if rule.record is None and rule.critical is None:
            continue
        rows = _record_rows(tables, rule, as_of)
        if len(rows):
            parts.append(pd.DataFrame({"student_id": rows["student_id"].astype(str).to_numpy(),
                                       "date": pd.to_datetime(rows["date"]).dt.normalize().to_numpy(),
                                       "rule": rule.name}))
    if by_feature and len(features):
        fired = evaluate_hard_rules(features, by_feature, windows=False)
        for rule in by_feature:
            hit = fired[rule.name].to_numpy()
            if not hit.any():
                continue
            if rule.age_feature is not None and rule.age_feature in features.columns:
                age = pd.to_numeric(features.loc[hit, rule.age_feature], errors="coerce").fillna(0).to_numpy()
            else:
                age = np.zeros(int(hit.sum()))
            dates = as_of - pd.to_timedelta(np.floor(age), unit="D")
            parts.append(pd.DataFrame({"student_id": features.loc[hit, "student_id"].astype(str).to_numpy(),
                                       "date": dates, "rule": rule.name}))
    if not parts:
        return pd.DataFrame({"student_id": pd.Series(dtype=object), "date": pd.Series(dtype="datetime64[ns]"),
                             "rule": pd.Series(dtype=object)})
    out = pd.concat(parts, ignore_index=True)
    if since is not None:
        out = out.loc[out["date"] >= pd.Timestamp(since)]
    return out.drop_duplicates().sort_values(TRIGGER_COLUMNS, kind="mergesort").reset_index(drop=True)
