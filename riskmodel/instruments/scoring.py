"""The one scoring engine: every instrument scored from its specification, vectorised per instrument.

``score`` groups the rows of a screenings table by instrument and scores each group with numpy
arrays (rows x items); the only Python loops run over instruments, items, subscales and clauses of a
specification, never over students. What is computed, for every instrument alike:

1. keyed answers: reverse-keyed items become ``min + max - answer``;
2. total: sum of the scored items (all items minus lie and supplementary items); when proration is
   configured and allowed, total = mean of the answered scored items x number of scored items;
3. standard score: ``floor(total x multiplier)`` (SDS, SAS);
4. subscales ``sub_<code>``: mean (SCL-90) or sum (MHT) of keyed items; sums are prorated like the total;
5. band from the band set the settings choose; positive from the ``positive`` clauses (any of);
   classification from the ordered classes (first match wins, the last is "otherwise");
6. critical items: raw answer >= the item's lowest critical answer, whatever the total;
7. lie score and invalidity; too-fast and identical-answer flags (riskmodel.instruments.validity).

A row whose missing items exceed what may be prorated keeps NaN scores (``riskmodel.data`` rejects
such rows before scoring through :func:`riskmodel.instruments.item_problems`); its critical items are
still checked on the answers present, so a missing item never hides an answered critical one.

Example
-------
>>> import pandas as pd
>>> from riskmodel.config import InstrumentSettings
>>> rows = pd.DataFrame({"student_id": ["s1"], "date": pd.to_datetime(["2026-03-01"]),
...                      "instrument": ["PHQ9"], **{f"item_{k}": [1.0] for k in range(1, 10)}})
>>> out = score(rows, settings=InstrumentSettings())
>>> out[["total", "band", "positive", "critical", "critical_items"]].to_dict("records")
[{'total': 9.0, 'band': 'mild', 'positive': False, 'critical': True, 'critical_items': 'item_9'}]
"""

from __future__ import annotations

import logging
import operator
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.config import InstrumentSettings
from riskmodel.errors import ConfigError, ContractError
from riskmodel.instruments.specs import InstrumentSpec, all_specs
from riskmodel.instruments.validity import identical_run_flags, too_fast_flags

__all__ = ["score", "score_columns", "prorate_limit", "check_settings", "stages"]

log = logging.getLogger(__name__)

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq}

_BASE_COLUMNS = (
    "student_id", "date", "instrument", "total", "standard_score", "band", "positive", "critical",
    "critical_items", "classification", "lie_score", "invalid", "too_fast", "identical_run", "careless",
    "n_missing", "prorated",
)


def score_columns() -> list[str]:
    """Columns of :func:`score`'s result, in order: the fixed ones then ``sub_<scale>`` of every instrument."""
    subs = [f"sub_{scale}" for spec in all_specs().values() for scale in spec.subscales]
    return list(_BASE_COLUMNS) + subs


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
    """School stages of the data contract (``primary`` ... ``graduate``)."""
    from riskmodel.data.dataset import contract  # data is upstream of instruments

    return tuple(contract()["enums"]["stage"])


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


def _answers(rows: pd.DataFrame, spec: InstrumentSpec) -> np.ndarray:
    """Raw answers item-major, shape (N, rows), float32, C-contiguous; an absent item column is missing.

    Item-major (one contiguous row per item) makes selecting a subscale's items a cheap gather and
    every per-item operation a contiguous vector operation over all administrations.
    """
    if all(c in rows.columns for c in spec.item_columns):
        return np.ascontiguousarray(rows[list(spec.item_columns)].to_numpy(dtype=np.float32, na_value=np.nan).T)
    out = np.full((spec.n_items, len(rows)), np.nan, dtype=np.float32)
    for k, col in enumerate(spec.item_columns):
        if col in rows.columns:
            out[k] = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=np.float32, na_value=np.nan)
    return out


def _cols(items: tuple[int, ...]) -> np.ndarray | slice:
    """Row selector of 1-based ``items`` in an item-major array (a view when they are consecutive)."""
    idx = np.asarray(items, dtype=np.intp) - 1
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


def _sum_and_count(keyed: np.ndarray, items: tuple[int, ...], any_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the answered ``items`` per administration (float64) and how many were answered."""
    block = keyed[_cols(items)]
    if not any_missing:
        return block.sum(axis=0, dtype=np.float64), np.full(block.shape[1], len(items), dtype=np.int64)
    answered = ~np.isnan(block)
    return np.where(answered, block, 0).sum(axis=0, dtype=np.float64), answered.sum(axis=0)


class _Context:
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
            stacked = np.column_stack(list(self.subs.values()))
            with np.errstate(all="ignore"):
                best = np.where(np.isnan(stacked), -np.inf, stacked).max(axis=1)
            return np.where(np.isinf(best), np.nan, best)
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
            block = self.keyed[_cols(tuple(int(i) for i in items))]
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
                result = _OPS[op](left, value)
        return np.asarray(result, dtype=bool) & ~np.isnan(left)


def _bands(spec: InstrumentSpec, ctx: _Context, settings: InstrumentSettings) -> np.ndarray:
    n = len(ctx.total)
    if spec.bands is None:
        return np.full(n, "", dtype=object)
    rows = spec.bands.for_settings(settings)
    lowers = np.array([r[0] for r in rows], dtype=np.float64)
    names = np.array([r[1] for r in rows] + [""], dtype=object)  # index -1 (below the range, NaN) -> ""
    values = ctx.total if spec.bands.on == "total" else ctx.standard
    idx = np.searchsorted(lowers, np.nan_to_num(values, nan=-np.inf), side="right") - 1
    return names[idx]


def _classify(spec: InstrumentSpec, ctx: _Context, positive: np.ndarray | None, scorable: np.ndarray) -> np.ndarray:
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


def _score_group(spec: InstrumentSpec, rows: pd.DataFrame, settings: InstrumentSettings,
                 stage_values: np.ndarray) -> dict[str, Any]:
    n = len(rows)
    raw = _answers(rows, spec)
    keyed = raw
    if spec.reverse_items:
        keyed = raw.copy()
        rev = _cols(spec.reverse_items)
        keyed[rev] = (spec.response_min + spec.response_max) - raw[rev]
    missing = np.isnan(raw)
    any_missing = bool(missing.any())
    n_missing = missing.sum(axis=0, dtype=np.int64)
    thresholds = spec.critical_thresholds(settings)
    critical_missing = (missing[np.asarray(sorted(thresholds), dtype=np.intp) - 1].any(axis=0) if thresholds
                        else np.zeros(n, dtype=bool))
    limit = prorate_limit(spec, settings)
    prorated = (n_missing > 0) & (n_missing <= limit) & ~critical_missing
    scorable = (n_missing == 0) | prorated

    total_sum, answered = _sum_and_count(keyed, spec.scored_items, any_missing)
    if any_missing:
        with np.errstate(all="ignore"):
            total = np.where(answered == len(spec.scored_items), total_sum,
                             total_sum / answered * len(spec.scored_items))
        total = np.where(scorable, total, np.nan)
    else:
        total = total_sum
    if spec.standard_multiplier is not None:
        # x1.25 is exact in binary floating point for whole raw totals, so floor() is int(raw x 1.25)
        standard = np.floor(total * spec.standard_multiplier)
    else:
        standard = np.full(n, np.nan)

    subs: dict[str, np.ndarray] = {}
    for scale, items in spec.subscales.items():
        s_sum, s_count = _sum_and_count(keyed, items, any_missing)
        if spec.subscale_kind == "mean":
            value = s_sum / len(items) if not any_missing else s_sum / np.maximum(s_count, 1)
        else:
            value = s_sum if not any_missing else s_sum / np.maximum(s_count, 1) * len(items)
        subs[scale] = np.where(scorable & (s_count > 0), value, np.nan) if any_missing else value

    counselling = np.zeros(n, dtype=np.float64)
    if "counselling_request" in rows.columns:
        counselling = rows["counselling_request"].astype("boolean").fillna(False).to_numpy(dtype=np.float64)
    ctx = _Context(spec, raw, keyed, total, standard, subs, counselling, settings, stage_values)

    uses_class = any(c["quantity"] == "class" for c in spec.positive)
    positive = None
    if not uses_class:
        positive = np.logical_or.reduce([ctx.holds(c) for c in spec.positive]) if spec.positive \
            else np.zeros(n, dtype=bool)
    ctx.classes = _classify(spec, ctx, positive, scorable)
    if uses_class:
        positive = np.logical_or.reduce([ctx.holds(c) for c in spec.positive])

    critical = np.zeros(n, dtype=bool)
    critical_items = np.full(n, "", dtype=object)
    for item, lowest in sorted(thresholds.items()):
        with np.errstate(invalid="ignore"):
            hit = raw[item - 1] >= lowest
        name = f"item_{item}"
        again = hit & critical  # only the (rare) rows with several critical answers are joined
        critical_items[again] = critical_items[again] + "," + name
        critical_items[hit & ~critical] = name
        critical |= hit

    lie_score = np.full(n, np.nan)
    invalid = np.zeros(n, dtype=bool)
    if spec.lie_items:
        lie_sum, lie_answered = _sum_and_count(keyed, spec.lie_items, any_missing)
        lie_score = np.where(lie_answered > 0, lie_sum, np.nan)
        if spec.lie_invalid:
            with np.errstate(invalid="ignore"):
                invalid = _OPS[spec.lie_invalid["op"]](lie_score, float(spec.lie_invalid["value"]))

    duration = rows["duration_seconds"] if "duration_seconds" in rows.columns else None
    too_fast = (too_fast_flags(spec, duration, floor_per_item=settings.seconds_per_item_floor)
                if duration is not None else np.zeros(n, dtype=bool))
    identical = identical_run_flags(spec, raw, run_length=settings.identical_run_length)

    result: dict[str, Any] = {
        "total": total, "standard_score": standard, "band": _bands(spec, ctx, settings),
        "positive": positive, "critical": critical, "critical_items": critical_items,
        "classification": ctx.classes, "lie_score": lie_score, "invalid": invalid,
        "too_fast": too_fast, "identical_run": identical, "careless": too_fast | identical,
        "n_missing": n_missing, "prorated": prorated,
    }
    result.update({f"sub_{scale}": value for scale, value in subs.items()})
    return result


def _stage_values(screenings: pd.DataFrame, stage: pd.Series | None) -> np.ndarray:
    if stage is None:
        return np.full(len(screenings), None, dtype=object)
    if len(stage) == len(screenings) and stage.index.equals(screenings.index):
        return stage.to_numpy(dtype=object)
    if not screenings.index.is_unique:
        raise ValueError("score(): stage must have the same index as screenings when that index has duplicates")
    return stage.reindex(screenings.index).to_numpy(dtype=object)


def score(screenings: pd.DataFrame, *, settings: InstrumentSettings, stage: pd.Series | None = None) -> pd.DataFrame:
    """Score every administration of a canonical screenings table.

    Parameters
    ----------
    screenings
        Canonical screenings (riskmodel.data.dataset): ``student_id, date, instrument, item_1 ...``
        (float32, NaN past the instrument's N), optional ``duration_seconds`` and
        ``counselling_request``. Rows should have passed :func:`item_problems`.
    settings
        ``Settings.instruments``: cut-off conventions, proration, careless-answering thresholds.
    stage
        Each row's school stage (``primary`` ... ``graduate``), aligned to ``screenings``' index; it
        selects the PHQ-9 positive cut-off (``settings.phq9_positive_cutoff``). ``None`` or an unknown
        stage uses the adult cut-off of 10 (the more sensitive one).

    Returns
    -------
    pandas.DataFrame
        Same index as ``screenings``, columns :func:`score_columns`. ``total``, ``standard_score``,
        ``lie_score`` and ``sub_*`` are float (NaN where not applicable or not scorable); ``band`` and
        ``classification`` are "" where the instrument has none; flags are bool; ``n_missing`` int.

    Raises
    ------
    ContractError
        When a column ``instrument`` is missing or holds a code no specification knows.
    ConfigError
        When ``settings.prorate_max_missing`` asks for more proration than a manual allows.

    Example
    -------
    >>> rows = pd.DataFrame({"student_id": ["s1"], "date": pd.to_datetime(["2026-03-01"]),
    ...                      "instrument": ["GAD7"], **{f"item_{k}": [2.0] for k in range(1, 8)}})
    >>> score(rows, settings=InstrumentSettings())[["total", "band", "positive"]].to_dict("records")
    [{'total': 14.0, 'band': 'moderate', 'positive': True}]
    """
    if "instrument" not in screenings.columns:
        raise ContractError(f"screenings: column 'instrument' is missing; found {sorted(map(str, screenings.columns))}.")
    check_settings(settings)
    specs = all_specs()
    codes = screenings["instrument"].astype(str).to_numpy()
    unknown = sorted(set(codes) - set(specs))
    if unknown:
        raise ContractError(f"screenings: instrument {unknown} is not one of {sorted(specs)}; "
                            "reject these rows first (riskmodel.instruments.item_problems names them).")
    n = len(screenings)
    columns = score_columns()
    arrays: dict[str, np.ndarray] = {}
    for col in columns[3:]:
        if col in {"band", "critical_items", "classification"}:
            arrays[col] = np.full(n, "", dtype=object)
        elif col in {"positive", "critical", "invalid", "too_fast", "identical_run", "careless", "prorated"}:
            arrays[col] = np.zeros(n, dtype=bool)
        elif col == "n_missing":
            arrays[col] = np.zeros(n, dtype=np.int64)
        else:
            arrays[col] = np.full(n, np.nan, dtype=np.float64)
    stages = _stage_values(screenings, stage)
    for code in pd.unique(codes):
        positions = np.flatnonzero(codes == code)
        spec = specs[code]
        needed = [c for c in (*spec.item_columns, "duration_seconds", "counselling_request") if c in screenings.columns]
        rows = screenings[needed]
        if len(positions) < n:
            rows = rows.iloc[positions]
        group = _score_group(spec, rows, settings, stages[positions])
        for col, values in group.items():
            arrays[col][positions] = values
        log.info("scored %d %s administrations", len(positions), code)
    out = pd.DataFrame(arrays, index=screenings.index)
    for col in ("student_id", "date"):
        out.insert(columns.index(col), col, screenings[col] if col in screenings.columns else None)
    out.insert(2, "instrument", screenings["instrument"].astype(str).to_numpy())
    return out[columns]
