"""Answers that cannot be scored: what ``riskmodel.data`` rejects, with a reason a researcher can act on.

For each row of a screenings table, :func:`item_problems` reports

* an instrument code no specification knows;
* an answer that is not a number, not a whole number, or outside the instrument's range (one line per
  cell, e.g. "PHQ9 item_9 = 4 is outside 0-3");
* missing items (``item_k`` empty for k <= N), one line per row listing them, unless the centre
  prorates that many and the instrument's manual allows it (``settings.prorate_max_missing``, checked
  against ``prorate_max_allowed`` in specs.yaml); a missing critical item is never prorated;
* answers present past the instrument's N items, one line per row (usually a wrong instrument code).

Masks are computed per instrument over the whole table; only the reported problems are formatted
one by one.

Example
-------
>>> import pandas as pd
>>> from riskmodel.config import InstrumentSettings
>>> rows = pd.DataFrame({"instrument": ["PHQ9"], **{f"item_{k}": [0.0] for k in range(1, 10)}})
>>> rows.loc[0, "item_9"] = 4
>>> item_problems(rows, settings=InstrumentSettings())["reason"].tolist()
['PHQ9 item_9 = 4 is outside 0-3; check the answer sheet, or how the export codes answers (e.g. SCL-90 ...']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.config import InstrumentSettings
from riskmodel.i18n import text
from riskmodel.instruments.rules import check_settings, prorate_limit
from riskmodel.instruments.specs import MAX_ITEMS, InstrumentSpec, all_specs

__all__ = ["item_problems", "PROBLEM_COLUMNS"]

PROBLEM_COLUMNS = ["index", "column", "value", "reason"]


def _fmt(value: object) -> str:
    if isinstance(value, (float, np.floating)) and np.isfinite(value):
        return f"{float(value):g}"
    return str(value)


def _numeric(rows: pd.DataFrame, columns: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64, mask of cells that hold something that is not a number)."""
    block = rows[columns]
    if all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
        return block.to_numpy(dtype=np.float64, na_value=np.nan), np.zeros(block.shape, dtype=bool)
    coerced = block.apply(pd.to_numeric, errors="coerce")
    blank = block.isna().to_numpy() | block.astype(str).apply(lambda s: s.str.strip() == "").to_numpy()
    values = coerced.to_numpy(dtype=np.float64, na_value=np.nan)
    return values, np.isnan(values) & ~blank


def _cell_lines(index: np.ndarray, rows_at: np.ndarray, cols_at: np.ndarray, columns: list[str],
                raw: pd.DataFrame, template: str, **fields: object) -> list[tuple]:
    lines = []
    for r, c in zip(rows_at.tolist(), cols_at.tolist()):
        value = _fmt(raw.iat[r, c])
        lines.append((index[r], columns[c], value, template.format(column=columns[c], value=value, **fields)))
    return lines


def _row_lines(index: np.ndarray, mask: np.ndarray, columns: list[str], template: str, **fields: object) -> list[tuple]:
    lines = []
    for r in np.flatnonzero(mask.any(axis=1)).tolist():
        named = [columns[c] for c in np.flatnonzero(mask[r]).tolist()]
        listed = ", ".join(named)
        lines.append((index[r], ",".join(named), "",
                      template.format(columns=listed, n_missing=len(named), **fields)))
    return lines


def _suspicious(spec: InstrumentSpec, rows: pd.DataFrame) -> np.ndarray:
    """Rows that may hold a problem (cheap, item-major, whole table); the others certainly do not."""
    columns = [c for c in spec.item_columns if c in rows.columns]
    if len(columns) < spec.n_items:
        return np.ones(len(rows), dtype=bool)
    extra = [f"item_{k}" for k in range(spec.n_items + 1, MAX_ITEMS + 1) if f"item_{k}" in rows.columns]
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in rows[columns + extra].dtypes)
    if not numeric:
        return np.ones(len(rows), dtype=bool)
    values = rows[columns].to_numpy(dtype=np.float32, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        fine = (values >= spec.response_min) & (values <= spec.response_max) & (values == np.floor(values))
    flagged = ~fine.all(axis=1)  # NaN fails every comparison: missing rows are looked at too
    for column in extra:  # one column at a time: no rows x (100 - N) temporary
        flagged |= rows[column].notna().to_numpy()
    return flagged


def _instrument_lines(spec: InstrumentSpec, rows: pd.DataFrame, settings: InstrumentSettings, lang: str) -> list[tuple]:
    limit = prorate_limit(spec, settings)  # a wrong setting fails even when every row is clean
    flagged = _suspicious(spec, rows)
    if not flagged.any():
        return []
    return _detailed_lines(spec, rows.iloc[np.flatnonzero(flagged)] if not flagged.all() else rows, settings, lang,
                           limit)


def _detailed_lines(spec: InstrumentSpec, rows: pd.DataFrame, settings: InstrumentSettings, lang: str,
                    limit: int) -> list[tuple]:
    index = rows.index.to_numpy()
    columns = [c for c in spec.item_columns if c in rows.columns]
    absent = [c for c in spec.item_columns if c not in rows.columns]
    values, not_number = _numeric(rows, columns) if columns else (np.empty((len(rows), 0)), np.empty((len(rows), 0), bool))
    lo, hi = spec.response_min, spec.response_max
    fields = {"code": spec.code, "lo": lo, "hi": hi}
    lines: list[tuple] = []
    lines += _cell_lines(index, *np.nonzero(not_number), columns, rows[columns],
                         text("instruments.problem.not_number_binary" if spec.binary
                              else "instruments.problem.not_number", lang), **fields)
    with np.errstate(invalid="ignore"):
        outside = (values < lo) | (values > hi)
        fractional = ~outside & ~np.isnan(values) & (values != np.floor(values))
    lines += _cell_lines(index, *np.nonzero(outside), columns, rows[columns],
                         text("instruments.problem.out_of_range", lang), **fields)
    lines += _cell_lines(index, *np.nonzero(fractional), columns, rows[columns],
                         text("instruments.problem.not_integer", lang), **fields)

    missing_present = np.isnan(values) & ~not_number
    missing = np.concatenate([missing_present, np.ones((len(rows), len(absent)), dtype=bool)], axis=1)
    names = columns + absent
    critical_cols = [names.index(f"item_{k}") for k in spec.critical_thresholds(settings)]
    critical_missing = missing[:, critical_cols] if critical_cols else np.zeros((len(rows), 0), bool)
    n_missing = missing.sum(axis=1)
    too_many = (n_missing > limit)[:, None] & missing
    crit_rows = critical_missing.any(axis=1) if critical_cols else np.zeros(len(rows), bool)
    lines += _row_lines(index, too_many, names, text("instruments.problem.missing", lang),
                        n_items=spec.n_items, limit=limit, code=spec.code)
    crit_only = critical_missing & ~(n_missing > limit)[:, None] & crit_rows[:, None]
    crit_names = [names[c] for c in critical_cols]
    lines += _row_lines(index, crit_only, crit_names, text("instruments.problem.missing_critical", lang), code=spec.code)

    extra = [f"item_{k}" for k in range(spec.n_items + 1, MAX_ITEMS + 1) if f"item_{k}" in rows.columns]
    if extra:
        extra_block = rows[extra]
        filled = extra_block.notna().to_numpy()
        if extra_block.dtypes.eq(object).any():
            filled &= extra_block.astype(str).apply(lambda s: s.str.strip() != "").to_numpy()
        lines += _row_lines(index, filled, extra, text("instruments.problem.past_n", lang),
                            n_items=spec.n_items, code=spec.code)
    return lines


def item_problems(screenings: pd.DataFrame, *, settings: InstrumentSettings, lang: str = "en") -> pd.DataFrame:
    """Every answer that stops a row from being scored, with the reason.

    Parameters
    ----------
    screenings
        Screenings with ``instrument`` and ``item_1 ...`` columns (canonical float32 items, or raw
        text: anything that is not a number is reported).
    settings
        ``Settings.instruments`` (proration).
    lang
        Language of the reasons, ``"en"`` or ``"zh"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``index`` (the input's index label), ``column``, ``value``, ``reason``; empty when all
        rows can be scored. Rows are in input order.

    Raises
    ------
    ConfigError
        When the proration setting asks for more than an instrument's manual allows.

    Example
    -------
    >>> rows = pd.DataFrame({"instrument": ["GAD7"], **{f"item_{k}": [1.0] for k in range(1, 7)}})
    >>> item_problems(rows, settings=InstrumentSettings())[["column", "value"]].values.tolist()
    [['item_7', '']]
    """
    check_settings(settings)
    specs = all_specs()
    if "instrument" not in screenings.columns:
        return pd.DataFrame({"index": screenings.index, "column": "instrument", "value": "",
                             "reason": text("instruments.problem.unknown_instrument", lang, value="",
                                            known=", ".join(specs))})[PROBLEM_COLUMNS]
    codes = screenings["instrument"].to_numpy(dtype=object)
    unknown = ~pd.Series(codes).isin(list(specs)).to_numpy()
    if unknown.any():  # tolerate surrounding spaces; only the odd rows pay for the string work
        codes = codes.copy()
        codes[unknown] = pd.Series(codes[unknown], dtype="string").fillna("").str.strip().to_numpy(dtype=object)
        unknown = ~pd.Series(codes).isin(list(specs)).to_numpy()
    lines: list[tuple] = []
    template = text("instruments.problem.unknown_instrument", lang)
    known = ", ".join(specs)
    for pos in np.flatnonzero(unknown).tolist():
        lines.append((screenings.index[pos], "instrument", codes[pos], template.format(value=codes[pos], known=known)))
    for code, spec in specs.items():
        positions = np.flatnonzero(codes == code)
        if len(positions):
            lines += _instrument_lines(spec, screenings.iloc[positions], settings, lang)
    out = pd.DataFrame(lines, columns=PROBLEM_COLUMNS)
    if len(out):
        order = pd.Index(screenings.index).get_indexer(out["index"]) if screenings.index.is_unique else np.arange(len(out))
        out = out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    return out
