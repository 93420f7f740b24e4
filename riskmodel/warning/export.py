"""Writing the warning list: CSV (UTF-8 with BOM), XLSX and Parquet, atomically, byte-for-byte reproducible.

Spreadsheet safety: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read by Excel and WPS as a formula (CSV/formula injection). Every such text field is written with a
leading apostrophe in the CSV and the XLSX (the OWASP recommendation); numbers stay numbers. The
Parquet file is for programs, not spreadsheets, and keeps the values as they are.

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

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from riskmodel.i18n import text
from riskmodel.outputs import FORMULA_START, neutralise, neutralise_frame, private_dir, write_bytes
from riskmodel.vocab import LEVELS
from riskmodel.warning.localise import LEVEL_COLOURS, glossary, localise, tint

__all__ = ["neutralise", "neutralise_frame", "write_warning_list", "FORMULA_START"]

LEVEL_FILL = {lv: tint(LEVEL_COLOURS[lv]) for lv in LEVELS}  # the report palette, as light tints
_WRAP_WIDTH = 50.0  # a longer text column wraps in cells of this width
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "as_of" in out:
        out["as_of"] = pd.to_datetime(out["as_of"]).dt.strftime("%Y-%m-%d")
    return out


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return neutralise_frame(_text_frame(frame)).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def _xlsx_bytes(frame: pd.DataFrame, *, lang: str, about: list[tuple[str, ...]], stamp: datetime,
                levels: pd.Series | None = None) -> bytes:
    """The list sheet (``frame`` as shown: localised) and the About sheet; rows filled by ``levels`` codes."""
    safe = neutralise_frame(_text_frame(frame))
    wb = Workbook()
    ws = wb.active
    ws.title = text("warning.sheet.list", lang)
    ws.append(list(safe.columns))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in safe.itertuples(index=False):
        ws.append([None if (not isinstance(v, str) and pd.isna(v)) else v for v in row])
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    wrap = Alignment(wrap_text=True, vertical="top")
    for j, column in enumerate(safe.columns, start=1):
        longest = safe[column].astype(str).str.len().max() if len(safe) else 0
        wide = max(len(str(column)) * (2 if lang == "zh" else 1), int(longest or 0) * (2 if lang == "zh" else 1))
        width = float(min(wide + 2, _WRAP_WIDTH))
        ws.column_dimensions[get_column_letter(j)].width = width
        if wide + 2 > _WRAP_WIDTH:  # long text (factors, rules) wraps instead of running off the screen
            for i in range(2, len(safe) + 2):
                ws.cell(row=i, column=j).alignment = wrap
    if levels is not None and len(safe):
        fills = {lv: PatternFill("solid", start_color=color, end_color=color) for lv, color in LEVEL_FILL.items()}
        n_columns = len(safe.columns)
        for i, level in enumerate(levels, start=2):
            if level in fills:
                # ws.cell over the known columns: `ws[i]` rescans the sheet for its width on every
                # row, which made colouring the school's list quadratic (3.5 s of 5.7 s)
                for j in range(1, n_columns + 1):
                    ws.cell(row=i, column=j).fill = fills[level]
    info = wb.create_sheet(text("warning.sheet.about", lang))
    for row in about:
        info.append(list(row))
    info.column_dimensions["A"].width = 24.0
    info.column_dimensions["B"].width = 60.0
    info.column_dimensions["C"].width = 90.0
    for cells in info.iter_rows():
        for cell in cells:
            cell.alignment = wrap
    wb.properties.created = wb.properties.modified = stamp
    wb.properties.creator = "riskmodel"
    buffer = io.BytesIO()
    wb.save(buffer)
    return _fixed_zip(buffer.getvalue(), stamp)


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
        ("", text("warning.about.levels", lang)),
        ("", text("warning.about.confidential", lang)),
    ]
    # people's files in the report language (riskmodel.warning.localise); the Parquet keeps the codes
    shown = localise(frame, lang)
    about += [("", ""), (text("warning.about.columns", lang), text("warning.about.codes", lang)),
              *glossary(list(frame.columns), lang)]
    stamp = datetime.fromisoformat(as_of) if as_of else datetime(2000, 1, 1)
    xlsx = _xlsx_bytes(shown, lang=lang, about=about, stamp=stamp,
                       levels=frame["level"].reset_index(drop=True) if "level" in frame.columns else None)
    paths = {
        "csv": write_bytes(out_dir / f"{stem}.csv", _csv_bytes(shown)),
        "xlsx": write_bytes(out_dir / f"{stem}.xlsx", xlsx),
        "parquet": write_bytes(out_dir / f"{stem}.parquet", _parquet_bytes(frame)),
    }
    return paths
