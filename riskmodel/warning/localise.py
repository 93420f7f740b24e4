"""The warning list in the report language, for the CSV and XLSX a counsellor opens.

Every column's header is the catalogue string ``warning.column.<name>`` and every coded value the
string ``warning.value.<column>.<code>`` (``riskmodel/i18n/warning.yaml``): ``level`` I reads 一级,
``change`` new reads 新增, ``path`` ``rule:phq9_item9`` reads 硬性规则 (the rule itself is in the
``rules`` column, in words). The score reads as a percent with its 95% interval in one column
("3.2%（1.8%–5.1%）"); its two bounds are left out of the people's files. The Parquet file keeps the
code names and values for programs, and the XLSX's About sheet lists header, code name and meaning.

A column without a header key, or a coded value without its key, raises :class:`KeyError`: a missing
translation is a bug that a test finds, never a code shown to a counsellor.

The level colours are defined here once (:data:`LEVEL_COLOURS`); the XLSX fills and the report
figures use them (the fills as light tints, :func:`tint`).

Example
-------
>>> import pandas as pd
>>> frame = pd.DataFrame({"level": ["I"], "score": [0.0321], "score_low": [0.018], "score_high": [0.051],
...                       "change": ["new"]})
>>> localise(frame, "en").to_dict("records")
[{'Level': 'Level I', 'Risk (95% interval)': '3.2% (1.8%–5.1%)', 'Since the previous list': 'New'}]
"""

from __future__ import annotations

import pandas as pd

from riskmodel.i18n import catalogue as i18n_catalogue
from riskmodel.i18n import text

__all__ = ["LEVEL_COLOURS", "tint", "localise", "header", "coded_columns", "percent", "glossary", "delocalise",
           "rule_words", "word"]

# one palette for the levels everywhere (report figures, XLSX fills): red, orange, amber, grey
LEVEL_COLOURS = {"I": "#b2182b", "II": "#ef8a62", "III": "#e0b040", "none": "#bababa"}
_BOUNDS = ("score_low", "score_high")
# columns that mean something in one state of the review loop only; empty in the people's files otherwise
_STATE_ONLY = {"days_waiting": "awaiting_interview", "interview_overdue": "awaiting_interview",
               "review_overdue": "under_review"}


def tint(colour: str, share: float = 0.35) -> str:
    """``colour`` (``#rrggbb``) mixed with white, keeping ``share`` of it: ``RRGGBB`` for a fill."""
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    return "".join(f"{round(255 - (255 - c) * share):02X}" for c in rgb)


def header(column: str, lang: str) -> str:
    """The localised header of ``column`` (KeyError when the catalogue lacks it)."""
    return text(f"warning.column.{column}", lang)


def coded_columns() -> frozenset[str]:
    """Columns whose values are codes with words in the catalogue (``warning.value.<column>.<code>``)."""
    out = set()
    for key in i18n_catalogue():
        parts = key.split(".")
        if len(parts) == 4 and parts[:2] == ["warning", "value"]:
            out.add(parts[2])
    return frozenset(out)


def _code(column: str, value: object) -> str:
    code = str(value)
    return code.split(":", 1)[0] if column == "path" else code


def _values(column: str, series: pd.Series, lang: str) -> pd.Series:
    words = {}
    for value in series.dropna().unique():
        if value == "":
            continue
        key = f"warning.value.{column}.{_code(column, value)}"
        words[value] = text(key, lang)  # KeyError: a code without words is a bug
    return series.map(lambda v: words.get(v, "") if isinstance(v, str) or pd.notna(v) else "")


def word(column: str, value: object, lang: str) -> str:
    """One coded value of ``column`` in words (``warning.value.<column>.<code>``): empty for a blank, the
    code itself when the catalogue has no words for it (a centre's own code is shown, never hidden)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return ""
    key = f"warning.value.{column}.{_code(column, value)}"
    return text(key, lang) if key in i18n_catalogue() else str(value)


def rule_words(joined: object, lang: str) -> str:
    """Hard-rule codes joined with ``+`` (``phq9_item9+urgent_self_harm_signal``) in words (``warning.rule.<code>``),
    joined with the reasons' separator; a code without words (a centre's own rule file) stays a code."""
    known = i18n_catalogue()
    names = [c for c in str(joined).split("+") if c] if isinstance(joined, str) else []
    return text("warning.reason.separator", lang).join(
        text(f"warning.rule.{c}", lang) if f"warning.rule.{c}" in known else c for c in names)


def percent(value: float) -> str:
    """A probability as a percent with sensible digits: 0.0321 -> ``3.2%``; 0.0004 -> ``0.04%``."""
    if value is None or pd.isna(value):
        return ""
    p = float(value) * 100
    if p >= 10:
        return f"{p:.0f}%"
    if p >= 1:
        return f"{p:.1f}%"
    return f"{p:.2f}%"


def _score_text(frame: pd.DataFrame, lang: str) -> pd.Series:
    score = frame["score"].map(percent)
    if all(b in frame.columns for b in _BOUNDS):
        low, high = frame["score_low"].map(percent), frame["score_high"].map(percent)
        interval = text("warning.value.interval", lang)
        both = (low != "") & (high != "") & (score != "")
        score = score.where(~both, [interval.format(score=s, low=lo, high=hi) for s, lo, hi in zip(score, low, high)])
    return score


def localise(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``frame`` (the list with code names) with localised headers and values, for the CSV and XLSX."""
    coded = coded_columns()
    out = {}
    for column in frame.columns:
        if column in _BOUNDS and "score" in frame.columns:
            continue
        if column == "score":
            values = _score_text(frame, lang)
        elif column in coded:
            values = _values(column, frame[column].astype(object), lang)
            if column == "reviewed_level" and "review_date" in frame.columns:  # never reviewed: no reviewed level
                values = values.where(pd.to_datetime(frame["review_date"]).notna().to_numpy(), "")
        elif column == "trigger_rules":
            values = frame[column].map({v: rule_words(v, lang) for v in frame[column].dropna().unique()}).fillna("")
        elif column == "as_of" or pd.api.types.is_datetime64_any_dtype(frame[column]):
            values = pd.to_datetime(frame[column]).dt.strftime("%Y-%m-%d").fillna("")
        else:
            values = frame[column]
        if column in _STATE_ONLY and "state" in frame.columns:  # "0 days waiting" for a student not waiting: empty
            values = pd.Series(values.array, index=frame.index).astype(object).where(
                (frame["state"] == _STATE_ONLY[column]).to_numpy(), "")
        out[header(column, lang)] = values.array  # keeps nullable integers (a rank of 4, not 4.0)
    return pd.DataFrame(out, index=frame.index).reset_index(drop=True)


def glossary(columns, lang: str) -> list[tuple[str, str, str]]:
    """``(header, code name, meaning)`` of each column, and ``(word, code, column)`` of each coded value."""
    known = i18n_catalogue()
    rows = []
    for column in columns:
        if column in _BOUNDS and "score" in columns:
            continue
        meaning = text(f"warning.about.column.{column}", lang) if f"warning.about.column.{column}" in known else ""
        rows.append((header(column, lang), str(column), meaning))
    coded = coded_columns()
    for column in columns:
        if column not in coded:
            continue
        prefix = f"warning.value.{column}."
        for key in known:
            if key.startswith(prefix):
                code = key[len(prefix):]
                rows.append((text(key, lang), code, text("warning.about.code_of", lang, column=column, code=code)))
    return rows


def delocalise(frame: pd.DataFrame) -> pd.DataFrame:
    """A localised list (a CSV a counsellor kept) back to code names and codes, in either language.

    Columns whose header is not known keep their name; values without a known word stay as they are.
    Used to read a previous list from its CSV for the ``change`` column.
    """
    known = i18n_catalogue()
    names = {}
    for key, words in known.items():
        if key.startswith("warning.column."):
            for lang in ("zh", "en"):
                names[words[lang]] = key[len("warning.column."):]
    out = frame.rename(columns={c: names.get(c, c) for c in frame.columns})
    for column in coded_columns() & set(out.columns):
        back = {}
        for prefix in (f"warning.retired.{column}.", f"warning.value.{column}."):  # today's words win
            for key, words in known.items():
                if key.startswith(prefix):
                    for lang in ("zh", "en"):
                        back[words[lang]] = key[len(prefix):]
        out[column] = [back.get(v, v) if isinstance(v, str) else v for v in out[column]]
    return out
