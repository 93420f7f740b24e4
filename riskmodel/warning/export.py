"""Writing the warning list: CSV (UTF-8 with BOM), XLSX and Parquet, atomically, byte-for-byte reproducible.

Spreadsheet safety: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read by Excel and WPS as a formula (CSV/formula injection). Every such text field is written with a
leading apostrophe in the CSV and the XLSX (the OWASP recommendation); numbers stay numbers. The
Parquet file is for programs, not spreadsheets, and keeps the values as they are.

XML safety: a character XML forbids (a control character such as Word's line break U+000B pasted into a
reason) is shown as U+FFFD in the XLSX only (riskmodel.outputs.xml_safe); openpyxl would refuse the whole
workbook for it. The CSV and the Parquet keep every value byte for byte.

Reproducibility: the same list gives the same bytes. The XLSX's document dates are set to the list's
as-of date and its zip entries get a fixed timestamp (openpyxl would stamp the current time).

Example
-------
>>> neutralise(pd.Series(["=HYPERLINK(1)", "ok", "-3", None])).tolist()
["'=HYPERLINK(1)", 'ok', "'-3", None]
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from riskmodel import vocab
from riskmodel.i18n import text
from riskmodel.outputs import FORMULA_START, neutralise, neutralise_frame, private_dir, write_bytes, xml_safe
from riskmodel.vocab import LEVELS
from riskmodel.warning.localise import LEVEL_COLOURS, glossary, localise, tint, word

__all__ = ["neutralise", "neutralise_frame", "write_warning_list", "FORMULA_START", "DECISION_COLUMNS",
           "DECISION_CHOICES", "decision_header"]

LEVEL_FILL = {lv: tint(LEVEL_COLOURS[lv]) for lv in LEVELS}  # the report palette, as light tints
_WRAP_WIDTH = 50.0  # a longer text column wraps in cells of this width
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "as_of" in out:
        out["as_of"] = pd.to_datetime(out["as_of"]).dt.strftime("%Y-%m-%d")
    for column in ("trigger_date", "review_date", "next_review"):  # the review loop's dates: days, not times
        if column in out:
            out[column] = pd.to_datetime(out[column]).dt.strftime("%Y-%m-%d").astype(object).where(
                out[column].notna(), None)
    return out


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return neutralise_frame(_text_frame(frame)).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def _bold(ws, values: list) -> list:
    cells = []
    for value in values:
        cell = WriteOnlyCell(ws, value=value)
        cell.font = Font(bold=True)
        cells.append(cell)
    return cells


def _xlsx_bytes(frame: pd.DataFrame, *, lang: str, about: list[tuple[str, ...]], stamp: datetime,
                raw: pd.DataFrame | None = None) -> bytes:
    """The list sheet (``frame`` as shown: localised headers and words), the About sheet and, for a list
    with review columns, the decisions sheet (from ``raw``, the list with its codes)."""
    # write-only sheets: rows are streamed to the file as they are appended (a quarter faster on the school's
    # list than cells kept in memory); everything the sheet's XML holds before its rows is set first
    safe = neutralise_frame(_text_frame(frame), xlsx=True)  # headers and cells: no character XML forbids
    raw = frame if raw is None else raw
    wrapped: set[int] = set()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(text("warning.sheet.list", lang))
    ws.freeze_panes = "A2"
    for j, column in enumerate(safe.columns, start=1):
        longest = safe[column].astype(str).str.len().max() if len(safe) else 0
        wide = (2 if lang == "zh" else 1) * max(len(str(column)), int(longest or 0))  # CJK characters are wide
        ws.column_dimensions[get_column_letter(j)].width = float(min(wide + 2, _WRAP_WIDTH))
        if wide + 2 > _WRAP_WIDTH:
            wrapped.add(j - 1)  # long text (factors, rules) wraps instead of running off the screen
    level_header = text("warning.column.level", lang)
    if level_header in safe.columns and len(safe):
        # one conditional format per level over the sheet instead of a fill on every cell of every listed
        # row (105,000 style assignments on the school's list took most of its time); the colours follow
        # the level when the sheet is sorted or filtered
        level_col = list(safe.columns).index(level_header) + 1
        letter = get_column_letter(level_col)
        area = f"A2:{get_column_letter(len(safe.columns))}{len(safe) + 1}"
        for level, color in LEVEL_FILL.items():
            ws.conditional_formatting.add(area, FormulaRule(
                formula=[f'${letter}2="{text(f"warning.value.level.{level}", lang)}"'], stopIfTrue=True,
                fill=PatternFill("solid", start_color=color, end_color=color)))
    ws.auto_filter.ref = f"A1:{get_column_letter(max(len(safe.columns), 1))}{len(safe) + 1}"
    ws.append(_bold(ws, list(safe.columns)))
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in safe.itertuples(index=False):
        values = [None if (not isinstance(v, str) and pd.isna(v)) else v for v in row]
        for j in wrapped:
            cell = WriteOnlyCell(ws, value=values[j])
            cell.alignment = wrap
            values[j] = cell
        ws.append(values)
    info = wb.create_sheet(text("warning.sheet.about", lang))
    info.column_dimensions["A"].width = 24.0
    info.column_dimensions["B"].width = 40.0
    info.column_dimensions["C"].width = 90.0
    for row in about:
        info.append([xml_safe(value) for value in row])
    if "state" in raw.columns and "pseudonym" in raw.columns:
        _decisions_sheet(wb, raw, lang=lang)
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "riskmodel"
    buffer = io.BytesIO()
    wb.save(buffer)
    return _fixed_zip(buffer.getvalue(), stamp)


# the decisions sheet (the meeting round trip, riskmodel.warning.reviews_import): its columns in order,
# the canonical name of each and the drop-down values per language (what the import reads back)
DECISION_COLUMNS = ["pseudonym", "current_level", "state", "date", "level", "status", "next_review", "reviewer_role",
                    "reason"]
DECISION_INPUTS = ["date", "level", "status", "next_review", "reviewer_role", "reason"]
# each drop-down: the catalogue's words for the codes (warning.value.<column>.<code>, as the list shows them),
# word -> code per language; the import also reads the codes and the mapping's other spellings
_DECISION_WORDS = {"level": ("reviewed_level", "review_level"), "status": ("review_status", "review_status"),
                   "reviewer_role": ("reviewer_role", "reviewer_role")}
DECISION_CHOICES = {
    column: {lang: {text(f"warning.value.{words}.{code}", lang): code for code in vocab.contract_enum(enum)}
             for lang in ("zh", "en")}
    for column, (words, enum) in _DECISION_WORDS.items()
}
DECISION_BLANK_ROWS = 100  # empty rows with drop-downs for students the meeting adds by pseudonym
DECISION_HEADER_ROW = 2  # row 1 says how to fill the sheet in, where the reader starts; older sheets: header in row 1
_LIST_FORMULA_MAX = 255  # Excel's limit on a list validation's literal "a,b,c"


def decision_header(column: str, lang: str) -> str:
    """The decisions sheet's header of ``column`` in ``lang``."""
    return text(f"warning.decisions.{column}", lang)


def _decision_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The students a meeting decides on, most urgent first: awaiting interview (overdue, longest waiting,
    highest score), reviews overdue, then the rest of the listed students by level and rank."""
    rows = frame.loc[(frame["level"] != "none") | frame["state"].isin(["awaiting_interview", "under_review"])]
    rows = rows.drop_duplicates("pseudonym")
    key = pd.DataFrame({
        "awaiting": ~(rows["state"] == "awaiting_interview"),
        "overdue": ~rows["interview_overdue"].astype(bool),
        "waiting": -pd.to_numeric(rows["days_waiting"], errors="coerce").fillna(0),
        "review_overdue": ~rows["review_overdue"].astype(bool),
        "level": -rows["level"].map({"I": 3, "II": 2, "III": 1}).fillna(0),
        "rank": pd.to_numeric(rows["rank"], errors="coerce").fillna(np.inf),
    }, index=rows.index)
    order = key.sort_values(list(key.columns), kind="mergesort").index
    return rows.loc[order]


def _choice_list(wb: Workbook, words: list[str], *, lang: str, state: dict) -> str:
    """A list validation's ``formula1`` for ``words``: the literal ``"a,b,c"``, or, when a word holds a comma or
    a quote (Excel would split or end the literal there) or the literal is too long, a range of a hidden sheet
    that holds the words one a cell (created on first need)."""
    literal = f'"{",".join(words)}"'
    if not any("," in w or '"' in w for w in words) and len(literal) - 2 <= _LIST_FORMULA_MAX:
        return literal
    if "sheet" not in state:
        state["sheet"] = wb.create_sheet(text("warning.decisions.choices_sheet", lang))
        state["sheet"].sheet_state = "hidden"
        state["column"] = 0
    state["column"] += 1
    sheet, letter = state["sheet"], get_column_letter(state["column"])
    state.setdefault("columns", []).append(words)
    title = sheet.title.replace("'", "''")
    return f"'{title}'!${letter}$1:${letter}${len(words)}"


def _decisions_sheet(wb: Workbook, frame: pd.DataFrame, *, lang: str) -> None:
    """The sheet a meeting fills in: how to fill it in (row 1), the header (row 2), one row per student by
    pseudonym with the current level and state in the list's words, drop-downs of words for the decision."""
    from openpyxl.worksheet.datavalidation import DataValidation

    ws = wb.create_sheet(text("warning.sheet.decisions", lang))
    rows = _decision_rows(frame)
    first = DECISION_HEADER_ROW + 1
    last = len(rows) + DECISION_HEADER_ROW + DECISION_BLANK_ROWS
    col = {c: get_column_letter(i) for i, c in enumerate(DECISION_COLUMNS, start=1)}
    widths = {"pseudonym": 16, "current_level": 14, "state": 16, "date": 14, "level": 12, "status": 12,
              "next_review": 14, "reviewer_role": 16, "reason": 60}
    for name, width in widths.items():  # wide enough for the header too (CJK characters are wide)
        header = (2 if lang == "zh" else 1) * len(decision_header(name, lang)) + 2
        ws.column_dimensions[col[name]].width = float(max(width, header))
    for name in ("date", "next_review"):
        ws.column_dimensions[col[name]].number_format = "yyyy-mm-dd"  # the column's style: no cell written
    ws.freeze_panes = f"B{first}"
    lists: dict = {}
    for name, key in (("level", "error_level"), ("status", "error_status"), ("reviewer_role", "error_role")):
        formula = _choice_list(wb, list(DECISION_CHOICES[name][lang]), lang=lang, state=lists)
        check = DataValidation(type="list", formula1=formula, allow_blank=True, showErrorMessage=True,
                               error=text(f"warning.decisions.{key}", lang))
        check.add(f"{col[name]}{first}:{col[name]}{last}")
        ws.data_validations.append(check)
    for name in ("date", "next_review"):
        check = DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True,
                               showErrorMessage=True, error=text("warning.decisions.error_date", lang))
        check.add(f"{col[name]}{first}:{col[name]}{last}")
        ws.data_validations.append(check)
    reason = DataValidation(type="textLength", operator="lessThanOrEqual", formula1="200", allow_blank=True)
    reason.add(f"{col['reason']}{first}:{col['reason']}{last}")
    ws.data_validations.append(reason)
    # the instruction above the header, across the sheet's width, where a person filling it in starts reading
    ws.merged_cells.add(f"A1:{col[DECISION_COLUMNS[-1]]}1")
    ws.row_dimensions[1].height = 60.0  # three or four wrapped lines
    intro = WriteOnlyCell(ws, value=text("warning.decisions.intro", lang))
    intro.alignment = Alignment(wrap_text=True, vertical="top")
    ws.append([intro])
    ws.append(_bold(ws, [decision_header(c, lang) for c in DECISION_COLUMNS]))
    pseudonyms = neutralise(rows["pseudonym"].astype(str), xlsx=True)
    for pseudonym, level, state in zip(pseudonyms, rows["level"], rows["state"]):
        ws.append([pseudonym, word("level", level, lang), word("state", state, lang)])
    columns = lists.get("columns", [])
    for i in range(max((len(w) for w in columns), default=0)):  # the hidden sheet: one list a column
        lists["sheet"].append([w[i] if i < len(w) else None for w in columns])


def _fixed_zip(data: bytes, stamp: datetime) -> bytes:
    """Re-pack a zip with a fixed timestamp on every entry, in the same order.

    openpyxl stamps ``dcterms:modified`` with the clock when saving; it is set back to ``stamp``.
    """
    modified = f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp:%Y-%m-%dT%H:%M:%S}Z</dcterms:modified>'.encode()
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"<dcterms:modified[^>]*>[^<]*</dcterms:modified>", modified, content)
            target.writestr(entry, content)
    return out.getvalue()


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False, engine="pyarrow", compression="zstd")
    return buffer.getvalue()


def write_warning_list(frame: pd.DataFrame, out_dir: str | Path, *, lang: str = "zh", stem: str = "warning_list",
                       horizon_days: int | None = None) -> dict[str, Path]:
    """Write ``frame`` as ``<stem>.csv``, ``<stem>.xlsx`` and ``<stem>.parquet`` in ``out_dir``.

    Each file is written under a temporary name and renamed into place, mode 0600; ``out_dir`` is
    created owner-only if needed. Returns ``{"csv": path, "xlsx": path, "parquet": path}``.

    Example
    -------
    >>> # paths = write_warning_list(result.warning_list, run_dir, lang="zh")
    """
    out_dir = private_dir(out_dir)
    first = frame.iloc[0] if len(frame) else {}
    as_of = pd.Timestamp(first["as_of"]).strftime("%Y-%m-%d") if len(frame) else ""
    about = [
        (text("warning.about.as_of", lang), as_of),
        (text("warning.about.model_version", lang), str(first.get("model_version", "")) if len(frame) else ""),
        (text("warning.about.run_id", lang), str(first.get("run_id", "")) if len(frame) else ""),
        ("", text("disclaimer", lang)),
        ("", text("warning.about.score", lang, days=horizon_days if horizon_days is not None else "?")),
        ("", text("warning.about.interval", lang)),
        ("", text("warning.about.levels_reviews" if "state" in frame.columns else "warning.about.levels", lang)),
        ("", text("warning.about.confidential", lang)),
    ]
    # people's files in the report language (riskmodel.warning.localise); the Parquet keeps the codes
    shown = localise(frame, lang)
    about += [("", ""), (text("warning.about.columns", lang), text("warning.about.codes", lang)),
              *glossary(list(frame.columns), lang)]
    stamp = datetime.fromisoformat(as_of) if as_of else datetime(2000, 1, 1)
    xlsx = _xlsx_bytes(shown, lang=lang, about=about, stamp=stamp, raw=frame)
    paths = {
        "csv": write_bytes(out_dir / f"{stem}.csv", _csv_bytes(shown)),
        "xlsx": write_bytes(out_dir / f"{stem}.xlsx", xlsx),
        "parquet": write_bytes(out_dir / f"{stem}.parquet", _parquet_bytes(frame)),
    }
    return paths
