"""Vectorised parsing of one raw column into its canonical type, with a mask of cells that failed.

Every parser takes the raw column as read (text from CSV and Excel, native types from Parquet) and
returns ``(values, bad)``: the canonical values (``<NA>``/``NaT``/``NaN`` where a cell is empty or bad)
and a boolean mask of cells that held something that is not a valid value of the type. An empty cell
is never *bad* here; whether a column may be empty is the schema's business (riskmodel.data.schema).

Accepted spellings (DATA_CONTRACT.md, documented in docs/data.md):

* dates: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYY.MM.DD``, ``YYYY年MM月DD日`` (month and day may have one
  digit; a trailing time such as ``00:00:00`` is allowed and dropped), Excel serial day numbers
  (1900 date system, 1 to 109,574, i.e. up to 2199-12-31), and real date cells of Excel and Parquet;
* booleans: true/false, 1/0, yes/no, 是/否, Y/N, T/F (case-insensitive), plus the mapping file's spellings;
* enums: the canonical spelling, case-insensitive, plus the mapping file's spellings; instrument codes
  also ignore ``-``, ``_`` and spaces (``PHQ-9`` is ``PHQ9``).

Example
-------
>>> import pandas as pd
>>> values, bad = parse_date(pd.Series(["2023-09-01", "2023年9月1日", "45170", "2023-02-30", None]))
>>> [str(v.date()) if not pd.isna(v) else None for v in values]
['2023-09-01', '2023-09-01', '2023-09-01', None, None]
>>> bad.tolist()
[False, False, False, True, False]
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

__all__ = [
    "MISSING_TOKENS", "BOOL_SPELLINGS", "GENDER_SPELLINGS", "INVISIBLE",
    "to_text", "clean_id", "invisible_cells", "native_cells", "control_cells", "shown_control", "shown_value",
    "parse_date", "parse_bool", "parse_enum", "parse_int", "parse_number", "parse_string",
]

# Cells that mean "nothing recorded" in office exports; compared after stripping, case-insensitively.
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "nat", "#n/a"})
# the same in the case variants exports write: one hash lookup per cell instead of lower-casing every cell
_MISSING_CASED = frozenset(v for t in MISSING_TOKENS for v in (t, t.upper(), t.capitalize(), t.title()))
_NUMERIC_INFERRED = {"integer", "floating", "mixed-integer-float", "decimal"}
_DATE_INFERRED = {"date", "datetime", "datetime64"}

BOOL_SPELLINGS: dict[str, bool] = {
    "true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
    "是": True, "否": False, "y": True, "n": False, "t": True, "f": False,
}
GENDER_SPELLINGS: dict[str, str] = {
    "f": "F", "m": "M", "female": "F", "male": "M", "女": "F", "男": "M", "unknown": "unknown", "未知": "unknown",
}

# Characters that print as nothing: zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen.
# Copied from a web page or a chat, "S001\u200b" looks like "S001" and would be a second student.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_INVISIBLE_RE = f"[{INVISIBLE}]"
# C0 and C1 control characters (NUL, ESC, Word's vertical tab ...): no identifier holds one, and XML
# (an XLSX list) cannot hold most of them
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")
# A rejected value is shown only when it cannot be personal: numbers and dates (digits and their
# separators) or one of these short non-answers; anything else may be a name shifted into the column.
_SHOWN_RE = r"^[0-9\s.,:/\-+年月日]{1,40}$"
_SHOWN_WORDS = frozenset({
    *MISSING_TOKENS, *BOOL_SPELLINGS, *GENDER_SPELLINGS, "不清楚", "不详", "未知", "不知道", "待定", "其他", "其它",
    "有", "无", "对", "错", "√", "×", "?", "？", "-", "/", "是的", "不是", "男生", "女生", "maybe", "unsure",
    # answer words of questionnaire platforms (Likert labels), never a name
    "也许", "可能", "不确定", "说不清", "一般", "偶尔", "有时", "经常", "总是", "从不", "没有", "很少",
})

_EXCEL_EPOCH = np.datetime64("1899-12-30")  # Excel's day 0 once its 1900 leap-year bug is allowed for
_EXCEL_MAX = 109_574  # 2199-12-31: a larger "serial" is something else (e.g. 20230901)
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_DATE_SEP = rf"^(?P<y>\d{{4}})(?P<s>[-/.])(?P<m>\d{{1,2}})(?P=s)(?P<d>\d{{1,2}}){_TIME}$"
_DATE_ZH = rf"^(?P<y>\d{{4}})年(?P<m>\d{{1,2}})月(?P<d>\d{{1,2}})日{_TIME}$"
_SERIAL = r"^\d{1,6}(?:\.0*)?$"


def _on_distinct(parser: Callable[..., tuple[pd.Series, pd.Series]]) -> Callable[..., tuple[pd.Series, pd.Series]]:
    """Run ``parser`` once per distinct text value and spread the result back to every row.

    Columns repeat themselves (400,000 attendance rows hold 30,000 student IDs, 1,500 dates and five
    statuses); parsing the distinct values only is the same result at a fraction of the string work.
    """

    @functools.wraps(parser)
    def wrapper(raw: pd.Series, *args: object, **kwargs: object) -> tuple[pd.Series, pd.Series]:
        if raw.dtype != object or len(raw) < 1000:
            return parser(raw, *args, **kwargs)
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        if len(uniques) > len(raw) // 2:
            return parser(raw, *args, **kwargs)
        values, bad = parser(pd.Series(uniques, dtype=object), *args, **kwargs)
        at = np.where(codes < 0, len(uniques), codes)  # the extra last position is "empty"
        values = values.reindex(np.arange(len(uniques) + 1)).iloc[at]
        values.index = raw.index
        if values.dtype == object:
            values = values.where(values.notna(), None)
        bad = pd.Series(np.append(bad.to_numpy(dtype=bool), False)[at], index=raw.index)
        return values, bad

    return wrapper


def _cell_text(value: object) -> object:
    """One non-text cell (an Excel or Parquet object) as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "strftime"):
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


def to_text(raw: pd.Series) -> pd.Series:
    """The column as stripped text (object dtype), ``None`` for empty cells and missing tokens.

    Integral floats print without ``.0`` (an Excel or Parquet number ``20230001.0`` is the ID
    ``"20230001"``); real dates print as ``YYYY-MM-DD``.
    """
    if ptypes.is_datetime64_any_dtype(raw):
        out = raw.dt.strftime("%Y-%m-%d").astype(object)
    elif ptypes.is_bool_dtype(raw):
        out = raw.astype(object).map({True: "true", False: "false"})
    elif ptypes.is_integer_dtype(raw):
        # exact: an 18-digit ID number stored as int64 must never pass through float64 (53-bit mantissa)
        present = raw.notna()
        out = raw.astype("string").astype(object).where(present, None) if not present.all() else \
            pd.Series(raw.to_numpy().astype(str), index=raw.index, dtype=object)
    elif ptypes.is_numeric_dtype(raw):
        numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
        integral = numbers.notna() & (numbers == np.floor(numbers))
        out = pd.Series(None, index=raw.index, dtype=object)
        out[integral] = numbers[integral].astype("int64").astype(str)
        rest = numbers.notna() & ~integral
        out[rest] = numbers[rest].astype(str)
    else:
        out = raw.astype(object)
        inferred = pd.api.types.infer_dtype(out, skipna=True)
        if inferred in _DATE_INFERRED:  # Parquet date32 / Excel date cells: whole column at once
            return to_text(pd.to_datetime(out, errors="coerce"))
        if inferred in _NUMERIC_INFERRED:
            numbers = pd.to_numeric(out, errors="coerce")
            # exact when pandas kept integers, or when no number is beyond float64's exact integers (2**53);
            # otherwise (an 18-digit ID among empty cells) each cell is rendered on its own below
            if ptypes.is_integer_dtype(numbers) or not (numbers.abs() >= 2.0 ** 53).any():
                return to_text(numbers)
        if inferred not in ("string", "empty"):
            # mixed object column (Excel cells of several kinds, Python ints beyond int64): each cell as
            # text on its own, so an integer never goes through float64
            out = out.map(_cell_text, na_action="ignore")
        out = clean_id(out)
    missing = out.isna() | out.isin(_MISSING_CASED)
    return out.where(~missing, None)


def clean_id(values: pd.Series) -> pd.Series:
    """Text with invisible characters (:data:`INVISIBLE`) removed and surrounding white space (also
    no-break and ideographic spaces) stripped: the one way every identifier and text cell is read.

    Example
    -------
    >>> clean_id(pd.Series(["S001\u200b", "\ufeffS001", " S001\u00a0", None])).tolist()
    ['S001', 'S001', 'S001', None]
    """
    text = values.astype(object)
    if not _may_hold_invisible(text):  # the usual case: one C-level scan instead of a regex per cell
        return text.str.strip()
    has = text.str.contains(_INVISIBLE_RE, regex=True, na=False).astype(bool)
    if has.any():
        text = text.copy()
        text[has] = text[has].str.replace(_INVISIBLE_RE, "", regex=True)
    return text.str.strip()


def _may_hold_invisible(text: pd.Series) -> bool:
    """Whether any cell may hold an invisible character (False is certain; True means look closer)."""
    try:
        joined = "".join(text.dropna())
    except TypeError:  # a cell that is not text
        return True
    return any(ch in joined for ch in INVISIBLE)


def native_cells(raw: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Cells that pandas leaves as Python objects, as text: ``(values, undecodable, fractional)``.

    A Parquet ``decimal`` column (database and DuckDB exports of NUMERIC IDs) arrives as
    :class:`decimal.Decimal`: a whole decimal becomes its exact digits (no float, no exponent, as an
    int64 does), one with a fraction its plain decimal notation, flagged in ``fractional`` (no
    identifier has a fraction). A ``binary`` column (text written as BYTE_ARRAY without the UTF8
    annotation, as Hive and Impala do) arrives as ``bytes``: decoded as UTF-8; a cell that is no
    UTF-8 becomes empty and is flagged in ``undecodable``. Any other column is returned as it is.

    Example
    -------
    >>> values, undecodable, fractional = native_cells(pd.Series(
    ...     [decimal.Decimal("20250100000000000001"), "青溪".encode(), b"\\xff", decimal.Decimal("1.50"), None]))
    >>> values.tolist()
    ['20250100000000000001', '青溪', None, '1.5', None]
    >>> undecodable.tolist(), fractional.tolist()
    ([False, False, True, False, False], [False, False, False, True, False])
    """
    none = np.zeros(len(raw), dtype=bool)
    if raw.dtype != object or raw.empty or \
            pd.api.types.infer_dtype(raw, skipna=True) not in ("bytes", "decimal", "mixed"):
        return raw, none, none
    undecodable, fractional = none.copy(), none.copy()
    out = raw.to_numpy(dtype=object).copy()
    for i, value in enumerate(out):
        if isinstance(value, (bytes, bytearray)):
            try:
                out[i] = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                out[i], undecodable[i] = None, True
        elif isinstance(value, decimal.Decimal) and value.is_finite():
            if value == value.to_integral_value():
                out[i] = str(int(value))
            else:
                out[i], fractional[i] = format(value.normalize(), "f"), True
    return pd.Series(out, index=raw.index, dtype=object), undecodable, fractional


def control_cells(values: pd.Series, *, only_nul: bool = False) -> np.ndarray:
    """Which text cells hold a control character (:data:`_CONTROL_RE`) once the white space around
    them is stripped as :func:`clean_id` does; ``only_nul``: which hold a NUL anywhere (free text).

    Example
    -------
    >>> control_cells(pd.Series(["S001", "S0\\x1b01", "S001\\n", "a\\x00", None])).tolist()
    [False, True, False, True, False]
    """
    none = np.zeros(len(values), dtype=bool)
    if values.dtype != object or values.empty:
        return none
    pattern = re.compile("\x00") if only_nul else _CONTROL_RE
    texts = [v for v in values if isinstance(v, str)]
    if not pattern.search("".join(texts)):  # the usual case: one scan of the whole column
        return none
    return np.fromiter((isinstance(v, str) and pattern.search(v if only_nul else v.strip()) is not None
                        for v in values), dtype=bool, count=len(values))


def shown_control(value: str) -> str:
    """``value`` with each control character written as ``\\xNN`` so that a person sees where it is.

    Example
    -------
    >>> print(shown_control("S0\\x1b01"))
    S0\\x1b01
    """
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def invisible_cells(values: pd.Series) -> int:
    """How many text cells of ``values`` hold an invisible character or white space that
    :func:`clean_id` removes (reported for identifier columns)."""
    if values.dtype != object or values.empty or \
            pd.api.types.infer_dtype(values, skipna=True) not in ("string", "mixed"):
        return 0
    stripped = values.str.strip()
    changed = (stripped.notna() & (stripped != values)).to_numpy(dtype=bool)
    if _may_hold_invisible(values):
        changed |= values.str.contains(_INVISIBLE_RE, regex=True, na=False).to_numpy(dtype=bool)
    return int(changed.sum())


def shown_value(values: pd.Series, hidden: str) -> pd.Series:
    """``values`` (text) where they cannot be personal, ``hidden`` elsewhere.

    Shown: numbers and dates (digits and separators only) and short non-answers (是/否, 不清楚, NA ...).
    Any other text may be a name or a note shifted into the wrong column, and a rejection reason is
    printed in reports: it is replaced by ``hidden``.

    Example
    -------
    >>> shown_value(pd.Series(["7", "2024-02-30", "不清楚", "张三", ""]), "(text)").tolist()
    ['7', '2024-02-30', '不清楚', '(text)', '']
    """
    text = values.astype(object).where(values.notna(), "").astype(str)
    safe = (text == "") | text.str.match(_SHOWN_RE) | text.str.strip().str.lower().isin(_SHOWN_WORDS)
    return text.where(safe, hidden)


@_on_distinct
def parse_date(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Dates as ``datetime64[ns]`` at midnight; bad: text that is no accepted spelling or no real day.

    Example
    -------
    >>> v, bad = parse_date(pd.Series(["2024.02.29", "2023/13/01"]))
    >>> bad.tolist()
    [False, True]
    """
    if not ptypes.is_datetime64_any_dtype(raw) and raw.dtype == object and \
            pd.api.types.infer_dtype(raw, skipna=True) in _DATE_INFERRED:
        raw = pd.to_datetime(raw, errors="coerce")  # Parquet date32 arrives as datetime.date objects
    if ptypes.is_datetime64_any_dtype(raw):
        values = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        return values.dt.normalize().astype("datetime64[ns]"), pd.Series(False, index=raw.index)
    text = to_text(raw)  # numbers (Parquet, Excel) become text and are read as Excel serial days
    present = text.notna()
    # fast path: plain ISO dates (the common case) in one C-level pass; the rest by pattern
    values = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype("datetime64[ns]")
    rest = text[present & values.isna()]
    if len(rest):
        parts = rest.str.extract(_DATE_SEP)[["y", "m", "d"]].fillna(rest.str.extract(_DATE_ZH))
        numbers = parts.apply(pd.to_numeric, errors="coerce")
        from_parts = pd.to_datetime(
            pd.DataFrame({"year": numbers["y"], "month": numbers["m"], "day": numbers["d"]}), errors="coerce"
        )
        serial = pd.to_numeric(rest.where(rest.str.match(_SERIAL, na=False)), errors="coerce")
        serial = serial.where((serial >= 1) & (serial <= _EXCEL_MAX))
        from_serial = pd.Series(
            _EXCEL_EPOCH + serial.fillna(0).to_numpy().astype("int64").astype("timedelta64[D]"), index=rest.index
        ).where(serial.notna())
        values.loc[rest.index] = from_parts.fillna(from_serial).astype("datetime64[ns]")
    values = values.dt.normalize()
    return values, present & values.isna()


@_on_distinct
def parse_bool(raw: pd.Series, *, spellings: dict[str, bool] | None = None) -> tuple[pd.Series, pd.Series]:
    """Booleans as pandas ``boolean``; bad: a spelling that is neither true nor false.

    Example
    -------
    >>> v, bad = parse_bool(pd.Series(["是", "N", "maybe", None]))
    >>> v.tolist(), bad.tolist()
    ([True, False, <NA>, <NA>], [False, False, True, False])
    """
    if ptypes.is_bool_dtype(raw):
        return raw.astype("boolean"), pd.Series(False, index=raw.index)
    table = {**BOOL_SPELLINGS, **{str(k).strip().lower(): bool(v) for k, v in (spellings or {}).items()}}
    text = to_text(raw)
    values = text.str.lower().map(table)
    bad = text.notna() & values.isna()
    return values.astype("boolean"), bad


@_on_distinct
def parse_enum(
    raw: pd.Series, allowed: list[str] | tuple[str, ...], *, spellings: dict[str, str] | None = None,
    compact: bool = False,
) -> tuple[pd.Series, pd.Series]:
    """Canonical enum spellings (object dtype); bad: a value that is not one of ``allowed``.

    Matching ignores case; ``spellings`` maps further spellings (a mapping file's, the gender words)
    to canonical values; ``compact`` also ignores ``-``, ``_`` and spaces (instrument codes).

    Example
    -------
    >>> v, bad = parse_enum(pd.Series(["phq-9", "GAD7", "BDI"]), ["PHQ9", "GAD7"], compact=True)
    >>> v.tolist(), bad.tolist()
    (['PHQ9', 'GAD7', None], [False, False, True])
    """

    def norm(values: pd.Series) -> pd.Series:
        values = values.str.lower()
        return values.str.replace(r"[-_\s]", "", regex=True) if compact else values

    table: dict[str, str] = {}
    for key, value in (spellings or {}).items():
        if value in allowed:
            table[norm(pd.Series([str(key).strip()])).iloc[0]] = value
    table.update(dict(zip(norm(pd.Series(list(allowed), dtype=object)), allowed)))
    text = to_text(raw)
    literal = [v for v in allowed if v.lower() in MISSING_TOKENS]
    if literal and raw.dtype == object:
        # an allowed value that is also a missing token (the reviews level ``none``) is a value here
        written = raw.astype(str).str.strip().str.lower()
        for value in literal:
            text = text.where(~(written == value.lower()).to_numpy(), value)
    values = norm(text).map(table)
    bad = text.notna() & values.isna()
    return values.astype(object).where(values.notna(), None), bad


def parse_number(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers as ``float64``; bad: text that is not a number.

    Example
    -------
    >>> parse_number(pd.Series(["1.5", "x", ""]))[1].tolist()
    [False, True, False]
    """
    if ptypes.is_numeric_dtype(raw) and not ptypes.is_bool_dtype(raw):
        return raw.astype("float64"), pd.Series(False, index=raw.index)
    # fast path: most cells are numbers already; only the failures are looked at as text
    values = pd.to_numeric(raw, errors="coerce").astype("float64")
    failed = raw.notna() & values.isna()
    if failed.any():
        text = to_text(raw[failed])
        values.loc[failed] = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = pd.Series(False, index=raw.index)
        bad.loc[failed] = text.notna() & values.loc[failed].isna()
        return values, bad
    return values, pd.Series(False, index=raw.index)


def parse_int(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers as ``Int64``; bad: text that is not a number, or a number with a fraction.

    Example
    -------
    >>> v, bad = parse_int(pd.Series(["2", "2.0", "2.5"]))
    >>> v.tolist(), bad.tolist()
    ([2, 2, <NA>], [False, False, True])
    """
    numbers, bad = parse_number(raw)
    fractional = numbers.notna() & (numbers != np.floor(numbers))
    numbers = numbers.where(~fractional)
    return numbers.round().astype("Int64"), bad | fractional


@_on_distinct
def parse_string(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Stripped text (object dtype, ``None`` when empty); never bad."""
    return to_text(raw), pd.Series(False, index=raw.index)
