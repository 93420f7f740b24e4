"""Today's practice as a baseline model: screening cut-offs, critical items, urgent observations.

:class:`RulesBaseline` is what a centre does without riskmodel, written as data
(``riskmodel/models/rules_baseline.yaml`` or a centre's own file). It scores every student on an
ordinal scale; the calibration step then turns that scale into the observed outcome rate per step,
so the baseline is compared with the learned models on the same footing (ranking and probability).

Example
-------
>>> import pandas as pd
>>> X = pd.DataFrame({"phq9_item9_latest": [0.0, 1.0, 0.0], "phq9_total_latest": [3.0, 8.0, 16.0]})
>>> RulesBaseline().fit(X, [0, 1, 0]).decision_function(X).tolist()
[0.0, 3.0, 2.1]
"""

from __future__ import annotations

import logging
import operator
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from riskmodel.errors import ConfigError
from riskmodel.rulefiles import StrictModel, check

__all__ = ["OPERATORS", "RulesBaseline", "load_rules", "read_rules_yaml"]

log = logging.getLogger(__name__)

OPERATORS = {">=": operator.ge, ">": operator.gt, "==": operator.eq, "<=": operator.le, "<": operator.lt}


class _BaselineRule(StrictModel):
    name: str
    feature: str
    op: str
    value: float
    tier: float


class _BaselineFile(StrictModel):
    rules: list[_BaselineRule] | None = None


def read_rules_yaml(path: str | Path | None, *, package: str, shipped: str, what: str,
                    model: type[StrictModel] | None = None) -> tuple[list, str]:
    """The ``rules:`` list of a rules YAML file (or of the shipped ``package/shipped``) and its name.

    Shared by the baseline rules here and the warning stage's hard rules, so both read files the
    same way and fail the same way: one message naming the file and what is wrong.

    With ``model`` (a :class:`~riskmodel.rulefiles.StrictModel` of the whole file) every key is
    checked: an unknown one (``max_agee:``) is refused, naming the closest known key.

    Raises
    ------
    ConfigError
        The file cannot be read, is not valid YAML, or (with ``model``) does not fit it.
    """
    if path is None:
        text = resources.files(package).joinpath(shipped).read_text(encoding="utf-8")
        source = f"{shipped} (shipped)"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror}).") from None
        source = str(path)
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc}).") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{source}: expected a `rules:` list at the top level.")
    if model is not None:
        check(model, loaded, origin=source, error=ConfigError)
    return loaded.get("rules") or [], source


def load_rules(path: str | Path | None = None) -> list[dict]:
    """The baseline rules from ``path`` (YAML with a ``rules:`` list) or the shipped defaults.

    Raises
    ------
    ConfigError
        A rule without name/feature/op/value/tier or with an unknown comparison.
    """
    rules, source = read_rules_yaml(path, package="riskmodel.models", shipped="rules_baseline.yaml",
                                    what="baseline rules", model=_BaselineFile)
    for i, rule in enumerate(rules, start=1):
        missing = {"name", "feature", "op", "value", "tier"} - set(rule if isinstance(rule, dict) else {})
        if missing:
            raise ConfigError(f"{source}: rule {i} lacks {sorted(missing)}; see docs/models.md.")
        if rule["op"] not in OPERATORS:
            raise ConfigError(f"{source}: rule {rule['name']!r} has op {rule['op']!r}; use one of {list(OPERATORS)}.")
    return rules


class RulesBaseline(ClassifierMixin, BaseEstimator):
    """Ordinal score from screening rules: highest tier fired + 0.1 per further rule fired.

    Parameters
    ----------
    rules
        A list of rule dicts, a YAML path, or None for the shipped defaults.

    Attributes
    ----------
    rules_
        The rules that can fire on the fitted feature set.
    unused_rules_
        Names of rules whose feature the data does not have.
    feature_names_in_
        Columns seen in :meth:`fit`.
    """

    def __init__(self, rules: list[dict] | str | Path | None = None):
        self.rules = rules

    def fit(self, X: pd.DataFrame, y=None) -> RulesBaseline:
        """Record which rules the feature set supports; nothing is learned from ``y``."""
        rules = self.rules if isinstance(self.rules, list) else load_rules(self.rules)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.rules_ = [r for r in rules if r["feature"] in X.columns]
        self.unused_rules_ = [r["name"] for r in rules if r["feature"] not in X.columns]
        if self.unused_rules_:
            log.warning("baseline rules without their feature in the data, not used: %s", self.unused_rules_)
        self.classes_ = np.array([0, 1])
        return self

    def fired(self, X: pd.DataFrame) -> pd.DataFrame:
        """Boolean frame: one column per usable rule, True where it fires (missing values never fire)."""
        check_is_fitted(self, "rules_")
        out = {}
        for rule in self.rules_:
            values = pd.to_numeric(X[rule["feature"]], errors="coerce").to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                out[rule["name"]] = OPERATORS[rule["op"]](values, float(rule["value"])) & ~np.isnan(values)
        return pd.DataFrame(out, index=X.index)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """The ordinal baseline score (0 when no rule fires)."""
        fired = self.fired(X)
        if fired.shape[1] == 0:
            return np.zeros(len(X))
        tiers = np.array([r["tier"] for r in self.rules_], dtype=float)
        hits = fired.to_numpy()
        top = np.where(hits, tiers, 0.0).max(axis=1)
        further = np.clip(hits.sum(axis=1) - 1, 0, 9)
        return top + 0.1 * further

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Score rescaled to [0, 1]; not a probability until calibrated (riskmodel.models.calibration)."""
        score = np.clip(self.decision_function(X) / 4.0, 0.0, 1.0)
        return np.column_stack([1 - score, score])

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Per-feature share of the score: each fired rule adds its tier to its feature's column."""
        fired = self.fired(X).to_numpy()
        out = np.zeros((len(X), len(self.feature_names_in_)))
        position = {name: j for j, name in enumerate(self.feature_names_in_)}
        for k, rule in enumerate(self.rules_):
            out[:, position[rule["feature"]]] += fired[:, k] * float(rule["tier"])
        return out

    def to_dict(self) -> dict:
        """JSON-ready state for the registry."""
        check_is_fitted(self, "rules_")
        return {"rules": self.rules_, "unused_rules": self.unused_rules_,
                "feature_names_in": list(self.feature_names_in_)}

    @classmethod
    def from_dict(cls, data: dict) -> RulesBaseline:
        """Inverse of :meth:`to_dict`."""
        model = cls(rules=data["rules"])
        model.rules_ = data["rules"]
        model.unused_rules_ = data["unused_rules"]
        model.feature_names_in_ = np.asarray(data["feature_names_in"], dtype=object)
        model.classes_ = np.array([0, 1])
        return model
