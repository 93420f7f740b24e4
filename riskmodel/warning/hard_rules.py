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

__all__ = ["HardRule", "load_hard_rules", "evaluate_hard_rules"]

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


class _HardRule(StrictModel):
    name: str
    feature: str
    op: str
    value: float | None = None
    critical_item: _CriticalItem | None = None
    max_age: _MaxAge | None = None
    when: list[_Condition] | None = None


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
        if age.get("feature") and age.get("days") is not None:
            conditions.append((str(age["feature"]), "<=", float(age["days"])))
        for cond in rule.get("when") or []:
            if not isinstance(cond, dict) or not {"feature", "op", "value"} <= set(cond) or cond["op"] not in _OPS:
                raise ConfigError(f"{source}: rule {rule['name']!r}: each `when` entry needs feature, op "
                                  f"({'/'.join(_OPS)}) and value.")
            conditions.append((str(cond["feature"]), cond["op"], float(cond["value"])))
        rules.append(HardRule(name=str(rule["name"]), feature=str(rule["feature"]), op=rule["op"],
                              threshold=threshold, conditions=tuple(conditions)))
    return rules


def evaluate_hard_rules(frame: pd.DataFrame, rules: list[HardRule]) -> pd.DataFrame:
    """Boolean frame (index of ``frame``), one column per rule: True where it fires.

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
            fires &= _holds(frame, feature, op, value)
        out[rule.name] = fires
    return pd.DataFrame(out, index=frame.index, dtype=bool)


def _holds(frame: pd.DataFrame, feature: str, op: str, value: float) -> np.ndarray:
    """``feature op value`` per row; a missing value never holds."""
    values = pd.to_numeric(frame[feature], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        return _OPS[op](values, value) & ~np.isnan(values)
