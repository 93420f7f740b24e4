"""The rule language of specs.yaml, evaluated over whole arrays, and the settings that feed it.

A specification states its positive screen and its classes as *clauses* (``{quantity, op, value}``,
see the header of specs.yaml). :class:`Context` holds one instrument's arrays (answers item-major,
totals, subscales) and evaluates a clause for every administration at once; :func:`bands_of` and
:func:`classify` apply the band sets and the ordered classes. :func:`check_settings` and
:func:`prorate_limit` reject settings a specification cannot honour, naming the key.

Example
-------
>>> from riskmodel.instruments.specs import get
>>> prorate_limit(get("PHQ9"), InstrumentSettings())
0
"""

from __future__ import annotations

import operator

import numpy as np
import pandas as pd

from riskmodel.config import InstrumentSettings
from riskmodel.errors import ConfigError
from riskmodel.instruments.specs import InstrumentSpec, all_specs
from riskmodel.vocab import STAGES

__all__ = ["Context", "bands_of", "classify", "check_settings", "prorate_limit", "stages", "item_rows",
           "sum_and_count", "OPS"]

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}


def prorate_limit(spec: InstrumentSpec, settings: InstrumentSettings) -> int:
    """Most missing items a centre prorates for ``spec``: its setting, checked against the manual.

    Raises
    ------
    ConfigError
        When ``settings.prorate_max_missing`` names an unknown instrument or asks for more than the
        instrument's manual allows (``prorate_max_allowed`` in specs.yaml; 0 for PHQ-9 and GAD-7).

    Example
    -------
    >>> from riskmodel.instruments.specs import get
    >>> prorate_limit(get("SCL90"), InstrumentSettings(prorate_max_missing={"SCL90": 9}))
    9
    """
    unknown = sorted(set(settings.prorate_max_missing) - set(all_specs()))
    if unknown:
        raise ConfigError(f"instruments.prorate_max_missing names unknown instruments {unknown}; "
                          f"use codes among {sorted(all_specs())}.")
    wanted = int(settings.prorate_max_missing.get(spec.code, 0))
    if wanted < 0 or wanted > spec.prorate_max_allowed:
        raise ConfigError(
            f"instruments.prorate_max_missing.{spec.code} = {wanted}, but the {spec.code} manual allows "
            f"prorating at most {spec.prorate_max_allowed} missing items (riskmodel/instruments/specs.yaml); "
            "lower the setting or remove it."
        )
    return wanted


def stages() -> tuple[str, ...]:
    """School stages of the data contract (``primary`` ... ``graduate``).

    Example
    -------
    >>> stages()[0], stages()[-1]
    ('primary', 'graduate')
    """
    return STAGES


def check_settings(settings: InstrumentSettings) -> None:
    """Fail early, naming the key, on settings the specifications cannot use.

    Checks every instrument's proration limit (:func:`prorate_limit`) and every per-stage cut-off
    (``phq9_positive_cutoff``): known stages, whole numbers inside the instrument's total range.

    Example
    -------
    >>> check_settings(InstrumentSettings(phq9_positive_cutoff={"junior": 30}))
    Traceback (most recent call last):
    ...
    riskmodel.errors.ConfigError: instruments.phq9_positive_cutoff.junior = 30 is outside the PHQ9 total range 0-27.
    """
    if not isinstance(settings, InstrumentSettings):
        raise TypeError(f"expected InstrumentSettings (settings.instruments), got {type(settings).__name__}")
    known = stages()
    for spec in all_specs().values():
        prorate_limit(spec, settings)
        for clause in spec.positive:
            if not clause.get("per_stage"):
                continue
            name = clause["value_setting"]
            lo, hi = spec.response_min * len(spec.scored_items), spec.response_max * len(spec.scored_items)
            for stage_name, value in getattr(settings, name).items():
                if stage_name not in known:
                    raise ConfigError(f"instruments.{name}.{stage_name}: unknown stage; use {', '.join(known)}.")
                if not lo <= value <= hi:
                    raise ConfigError(f"instruments.{name}.{stage_name} = {value} is outside the {spec.code} "
                                      f"total range {lo}-{hi}.")


def item_rows(items: tuple[int, ...]) -> np.ndarray | slice:
    """Row selector of 1-based ``items`` in an item-major array (a view when they are consecutive)."""
    idx = np.asarray(items, dtype=np.intp) - 1
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


def sum_and_count(keyed: np.ndarray, items: tuple[int, ...], any_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the answered ``items`` per administration (float64) and how many were answered."""
    block = keyed[item_rows(items)]
    if not any_missing:
        return block.sum(axis=0, dtype=np.float64), np.full(block.shape[1], len(items), dtype=np.int64)
    answered = ~np.isnan(block)
    return np.where(answered, block, 0).sum(axis=0, dtype=np.float64), answered.sum(axis=0)


class Context:
    """Per-instrument arrays the clauses read (one group of rows)."""

    def __init__(self, spec, raw, keyed, total, standard, subs, counselling, settings, stage_values):
        self.spec, self.raw, self.keyed = spec, raw, keyed
        self.total, self.standard, self.subs = total, standard, subs
        self.counselling, self.settings, self.stage = counselling, settings, stage_values
        self.classes: np.ndarray | None = None

    def quantity(self, clause: dict) -> np.ndarray:
        kind = clause["quantity"]
        if kind == "total":
            return self.total
        if kind == "standard_score":
            return self.standard
        if kind == "max_subscale":
            if not self.subs:
                return np.full(len(self.total), np.nan)
            best = np.full(len(self.total), np.nan)
            for values in self.subs.values():
                np.fmax(best, values, out=best)  # fmax ignores NaN; all NaN stays NaN
            return best
        if kind == "counselling_request":
            return self.counselling
        if kind == "item":
            return self.raw[int(clause["item"]) - 1].astype(np.float64)
        if kind == "count":
            items = clause["items"]
            if items == "scored":
                items = self.spec.scored_items
            elif items == "supplementary":
                items = self.spec.supplementary_items
            block = self.keyed[item_rows(tuple(int(i) for i in items))]
            with np.errstate(invalid="ignore"):
                return (block >= float(clause["at_least"])).sum(axis=0, dtype=np.int32).astype(np.float64)
        raise ValueError(f"{self.spec.code}: clause quantity {kind!r} cannot be evaluated here")

    def value(self, clause: dict) -> np.ndarray | float:
        if "value_by_setting" in clause:
            choice = clause["value_by_setting"]
            return float(choice["values"][str(getattr(self.settings, choice["setting"]))])
        if "value_setting" in clause:
            configured = getattr(self.settings, clause["value_setting"])
            if clause.get("per_stage"):
                # an unknown or missing stage takes the spec's own value (the adult cut-off, the lower one)
                mapped = pd.Series(self.stage, dtype=object).map(configured)
                return pd.to_numeric(mapped, errors="coerce").fillna(float(clause["value"])).to_numpy(np.float64)
            return float(configured)
        return clause["value"]

    def holds(self, clause: dict) -> np.ndarray:
        if clause["quantity"] == "class":
            return self.classes == clause["value"]
        left = self.quantity(clause)
        op = str(getattr(self.settings, clause["op_setting"])) if "op_setting" in clause else clause["op"]
        value = self.value(clause)
        with np.errstate(invalid="ignore"):
            if op == "between":
                lo, hi = value
                result = (left >= lo) & (left <= hi)
            else:
                result = OPS[op](left, value)
        return np.asarray(result, dtype=bool) & ~np.isnan(left)


def bands_of(spec: InstrumentSpec, ctx: Context, settings: InstrumentSettings) -> np.ndarray:
    n = len(ctx.total)
    if spec.bands is None:
        return np.full(n, "", dtype=object)
    rows = spec.bands.for_settings(settings)
    lowers = np.array([r[0] for r in rows], dtype=np.float64)
    names = np.array([r[1] for r in rows] + [""], dtype=object)  # index -1 (below the range, NaN) -> ""
    values = ctx.total if spec.bands.on == "total" else ctx.standard
    idx = np.searchsorted(lowers, np.nan_to_num(values, nan=-np.inf), side="right") - 1
    return names[idx]


def classify(spec: InstrumentSpec, ctx: Context, positive: np.ndarray | None, scorable: np.ndarray) -> np.ndarray:
    n = len(ctx.total)
    out = np.full(n, "", dtype=object)
    if spec.classification is None:
        return out
    undecided = np.ones(n, dtype=bool)
    for cls in spec.classification:
        if cls.get("otherwise"):
            hit = undecided & scorable  # an unscorable row is not put in the lowest class by default
        elif cls.get("any_of") == "same_as_positive":
            hit = undecided & positive
        else:
            clauses = cls.get("any_of") or cls["clauses"]
            flags = [ctx.holds(c) for c in clauses]
            connective = "or"
            if "connective_setting" in cls:
                connective = str(getattr(ctx.settings, cls["connective_setting"]))
            combined = np.logical_and.reduce(flags) if connective == "and" else np.logical_or.reduce(flags)
            hit = undecided & combined
        out[hit] = cls["name"]
        undecided &= ~hit
    return out
