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
from typing import Any

import numpy as np
import pandas as pd

from riskmodel.config import InstrumentSettings
from riskmodel.errors import ContractError
from riskmodel.instruments.rules import (
    OPS,
    Context,
    bands_of,
    check_settings,
    classify,
    item_rows,
    prorate_limit,
    stages,
    sum_and_count,
)
from riskmodel.instruments.specs import InstrumentSpec, all_specs
from riskmodel.instruments.validity import identical_run_flags, too_fast_flags

__all__ = ["score", "score_columns", "prorate_limit", "check_settings", "stages"]

log = logging.getLogger(__name__)

_BASE_COLUMNS = (
    "student_id", "date", "instrument", "total", "standard_score", "band", "positive", "critical",
    "critical_items", "classification", "lie_score", "invalid", "too_fast", "identical_run", "careless",
    "n_missing", "prorated",
)


def score_columns() -> list[str]:
    """Columns of :func:`score`'s result, in order: the fixed ones then ``sub_<scale>`` of every instrument.

    Example
    -------
    >>> score_columns()[:4], "sub_depression" in score_columns()
    (['student_id', 'date', 'instrument', 'total'], True)
    """
    subs = [f"sub_{scale}" for spec in all_specs().values() for scale in spec.subscales]
    return list(_BASE_COLUMNS) + subs


def _answers(screenings: pd.DataFrame, spec: InstrumentSpec, positions: np.ndarray) -> np.ndarray:
    """Raw answers of ``positions`` item-major, shape (N, rows), float32, C-contiguous (absent column: NaN).

    Item-major (one contiguous row per item) makes selecting a subscale's items a cheap gather and
    every per-item operation a contiguous vector operation over all administrations. The loader's
    canonical frames hold their float32 items as one item-major block, so for a whole table this is
    a single copy (no transpose).
    """
    present = [c for c in spec.item_columns if c in screenings.columns]
    if len(positions) == len(screenings):
        block = screenings[present]
    else:
        block = screenings.iloc[positions, screenings.columns.get_indexer(present)]
    if not all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
        block = block.apply(pd.to_numeric, errors="coerce")
    values = np.ascontiguousarray(block.to_numpy(dtype=np.float32, na_value=np.nan).T)
    if len(present) == spec.n_items:
        return values
    out = np.full((spec.n_items, len(positions)), np.nan, dtype=np.float32)
    out[[spec.item_columns.index(c) for c in present]] = values
    return out


def _check_answers(spec: InstrumentSpec, raw: np.ndarray, labels: pd.Index) -> None:
    """Refuse answers outside the range or not whole: they would be scored silently wrong.

    Two NaN-ignoring reductions over the whole block; the offending cell is looked up only on error.
    """
    if raw.size == 0:
        return
    lowest, highest = np.fmin.reduce(raw, axis=None), np.fmax.reduce(raw, axis=None)
    fractional = 0.0
    buffer = np.empty(raw.shape[1], dtype=raw.dtype)
    with np.errstate(invalid="ignore"):
        for answers in raw:  # item by item: a small buffer instead of two table-sized temporaries
            np.rint(answers, out=buffer)
            np.subtract(answers, buffer, out=buffer)
            fractional = max(fractional, float(np.fmax.reduce(np.abs(buffer, out=buffer))))
    if not (lowest < spec.response_min or highest > spec.response_max or fractional > 0):
        return
    with np.errstate(invalid="ignore"):
        bad = (raw < spec.response_min) | (raw > spec.response_max) | (raw != np.rint(raw))
    row = int(np.flatnonzero(bad.any(axis=0))[0])
    item = int(np.flatnonzero(bad[:, row])[0])
    raise ContractError(
        f"screenings: {int(bad.sum())} {spec.code} answers are outside {spec.response_min}-{spec.response_max} "
        f"or not whole numbers, the first at row {labels[row]}, item_{item + 1} = {raw[item, row]:g}; "
        "reject such rows first (riskmodel.instruments.item_problems names every one)."
    )


def _keyed(spec: InstrumentSpec, raw: np.ndarray) -> np.ndarray:
    """Answers as scored: reverse-keyed items become ``min + max - answer`` (a copy only when needed)."""
    if not spec.reverse_items:
        return raw
    keyed = raw.copy()
    rev = item_rows(spec.reverse_items)
    keyed[rev] = (spec.response_min + spec.response_max) - raw[rev]
    return keyed


def _scorable(spec: InstrumentSpec, raw: np.ndarray, thresholds: dict[int, int],
              settings: InstrumentSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(missing items per row, prorated, scorable); a missing critical item is never prorated."""
    missing = np.isnan(raw)
    n_missing = missing.sum(axis=0, dtype=np.int64)
    if thresholds:
        critical_missing = missing[np.asarray(sorted(thresholds), dtype=np.intp) - 1].any(axis=0)
    else:
        critical_missing = np.zeros(raw.shape[1], dtype=bool)
    prorated = (n_missing > 0) & (n_missing <= prorate_limit(spec, settings)) & ~critical_missing
    return n_missing, prorated, (n_missing == 0) | prorated


def _total(spec: InstrumentSpec, keyed: np.ndarray, scorable: np.ndarray, any_missing: bool) -> np.ndarray:
    """Sum of the scored items; prorated rows: mean of the answered ones x their number; else NaN."""
    total_sum, answered = sum_and_count(keyed, spec.scored_items, any_missing)
    if not any_missing:
        return total_sum
    n_scored = len(spec.scored_items)
    with np.errstate(all="ignore"):
        total = np.where(answered == n_scored, total_sum, total_sum / answered * n_scored)
    return np.where(scorable, total, np.nan)


def _subscales(spec: InstrumentSpec, keyed: np.ndarray, scorable: np.ndarray, any_missing: bool) -> dict[str, np.ndarray]:
    """``sub_<scale>`` values: means (SCL-90) or sums (MHT, prorated like the total)."""
    subs: dict[str, np.ndarray] = {}
    for scale, items in spec.subscales.items():
        s_sum, s_count = sum_and_count(keyed, items, any_missing)
        if not any_missing:
            subs[scale] = s_sum / len(items) if spec.subscale_kind == "mean" else s_sum
            continue
        mean = s_sum / np.maximum(s_count, 1)
        value = mean if spec.subscale_kind == "mean" else mean * len(items)
        subs[scale] = np.where(scorable & (s_count > 0), value, np.nan)
    return subs


def _critical(raw: np.ndarray, thresholds: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(any critical answer, the critical items as "item_9" / "item_9,item_15" / "")."""
    n = raw.shape[1]
    critical = np.zeros(n, dtype=bool)
    names = np.full(n, "", dtype=object)
    for item, lowest in sorted(thresholds.items()):
        with np.errstate(invalid="ignore"):
            hit = raw[item - 1] >= lowest  # raw answer: a missing item is never a hit
        name = f"item_{item}"
        again = hit & critical  # only the (rare) rows with several critical answers are joined
        names[again] = names[again] + "," + name
        names[hit & ~critical] = name
        critical |= hit
    return critical, names


def _lie(spec: InstrumentSpec, keyed: np.ndarray, any_missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """(lie score, invalid); NaN / False for instruments without a lie scale."""
    n = keyed.shape[1]
    if not spec.lie_items:
        return np.full(n, np.nan), np.zeros(n, dtype=bool)
    lie_sum, lie_answered = sum_and_count(keyed, spec.lie_items, any_missing)
    lie_score = np.where(lie_answered > 0, lie_sum, np.nan)
    if not spec.lie_invalid:
        return lie_score, np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore"):
        return lie_score, OPS[spec.lie_invalid["op"]](lie_score, float(spec.lie_invalid["value"]))


def _counselling_request(screenings: pd.DataFrame, positions: np.ndarray) -> np.ndarray:
    if "counselling_request" not in screenings.columns:
        return np.zeros(len(positions), dtype=np.float64)
    column = screenings["counselling_request"].iloc[positions]
    return column.astype("boolean").fillna(False).to_numpy(dtype=np.float64)


def _score_group(spec: InstrumentSpec, screenings: pd.DataFrame, positions: np.ndarray,
                 settings: InstrumentSettings, stage_values: np.ndarray) -> dict[str, Any]:
    """Every output column for the rows ``positions`` of one instrument (module docstring, steps 1-7)."""
    n = len(positions)
    raw = _answers(screenings, spec, positions)
    _check_answers(spec, raw, screenings.index[positions])
    keyed = _keyed(spec, raw)
    any_missing = bool(np.isnan(raw).any())
    thresholds = spec.critical_thresholds(settings)
    n_missing, prorated, scorable = _scorable(spec, raw, thresholds, settings)
    total = _total(spec, keyed, scorable, any_missing)
    # x1.25 is exact in binary floating point for whole raw totals, so floor() is int(raw x 1.25)
    standard = (np.floor(total * spec.standard_multiplier) if spec.standard_multiplier is not None
                else np.full(n, np.nan))
    subs = _subscales(spec, keyed, scorable, any_missing)
    ctx = Context(spec, raw, keyed, total, standard, subs, _counselling_request(screenings, positions), settings,
                  stage_values)

    # UPI's positive screen is its class 1, SCL-90's class is its positive screen: evaluate in that order
    uses_class = any(c["quantity"] == "class" for c in spec.positive)
    positive = None
    if not uses_class:
        positive = (np.logical_or.reduce([ctx.holds(c) for c in spec.positive]) if spec.positive
                    else np.zeros(n, dtype=bool))
    ctx.classes = classify(spec, ctx, positive, scorable)
    if uses_class:
        positive = np.logical_or.reduce([ctx.holds(c) for c in spec.positive])

    critical, critical_items = _critical(raw, thresholds)
    lie_score, invalid = _lie(spec, keyed, any_missing)
    too_fast = (too_fast_flags(spec, screenings["duration_seconds"].iloc[positions],
                               floor_per_item=settings.seconds_per_item_floor)
                if "duration_seconds" in screenings.columns else np.zeros(n, dtype=bool))
    identical = identical_run_flags(spec, raw, run_length=settings.identical_run_length)
    result: dict[str, Any] = {
        "total": total, "standard_score": standard, "band": bands_of(spec, ctx, settings),
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
        When a column ``instrument`` is missing or holds a code no specification knows, or an answer
        is outside its instrument's range or not a whole number (reject those rows first with
        :func:`item_problems`: they would otherwise be scored silently wrong).
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
        group = _score_group(specs[code], screenings, positions, settings, stages[positions])
        for col, values in group.items():
            arrays[col][positions] = values
        log.info("scored %d %s administrations", len(positions), code)
    ordered: dict[str, Any] = {
        "student_id": (screenings["student_id"].to_numpy(copy=True) if "student_id" in screenings.columns
                       else np.full(n, None, dtype=object)),
        "date": (screenings["date"].to_numpy(copy=True) if "date" in screenings.columns
                 else np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")),
        "instrument": codes,
    }
    ordered.update((col, arrays[col]) for col in columns[3:])
    # copy=False keeps one block per column: no consolidation copy of a million-row table
    return pd.DataFrame(ordered, index=screenings.index, copy=False)
