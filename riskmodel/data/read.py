"""Finding and reading the files of a data directory: formats, encodings, where each row is.

A data directory holds one file per table, named after it (``students.csv``, ``screenings.xlsx``,
``observations.parquet``) or after a name the mapping file gives (``files:``). Names starting with
``_``, ``.`` or ``~`` (synthetic truth in ``_truth/``, hidden files, Excel lock files) are ignored
silently; other files and folders that are no table are noted in ``skipped``.

:func:`read_raw` returns the cells as read (text for CSV and Excel, native types for Parquet) and,
for every row, where a person finds it: the CSV line number with the header as line 1, the Excel
sheet row number (header on row 1), or the Parquet 0-based row index. Fully empty lines and sheet
rows are not data and are dropped; the row numbers of the others stay true.

Example
-------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "students.csv").write_bytes("学号,性别\\n001,女\\n\\n002,男\\n".encode("gb18030"))
>>> raw = read_raw(folder / "students.csv", encoding=None, excel_sheet=0)
>>> raw.encoding, raw.rows.tolist(), raw.frame["学号"].tolist()
('gb18030', [2, 4], ['001', '002'])
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.data.mapping import ColumnMapping
from riskmodel.data.parse import to_text
from riskmodel.errors import ContractError
from riskmodel.i18n import text

__all__ = ["RawFile", "FORMATS", "HANDOVER_PART", "discover", "handover_parts", "read_raw"]

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
_OLD_FORMATS = {".xls": "data.error.xls", ".et": "data.error.et"}
_IGNORED_PREFIXES = ("_", ".", "~")
# records another school handed over (`riskmodel handover import`, docs/handover.md): one file per table
# and packet, `<table>.handover-<packet id>.csv`, read beside the table's own file
HANDOVER_PART = re.compile(r"^(?P<table>[a-z_]+)\.handover-(?P<packet>[0-9a-f]{16,64})$")
_HEADER_SEARCH = 10  # lines at the top of a CSV in which the header is looked for
_NUL_STAND_IN = "\ufdd0"  # a Unicode noncharacter: never in an export's text
_XLSX_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")  # OOXML's escape of a character XML cannot hold (_x001B_)


@dataclass(frozen=True)
class RawFile:
    """One file as read, before mapping and parsing.

    Attributes
    ----------
    path, format, encoding
        The file, ``csv``/``xlsx``/``parquet``, and the CSV encoding used (``None`` otherwise).
    frame
        The cells under the file's own headers; index 0..n-1.
    rows
        For each row of ``frame``, where a person finds it (see the module docstring).
    sha256
        SHA-256 of the file's bytes.
    truncated_row
        CSV: the row number of a last line cut off mid-export (no line end, fewer cells than the
        header), else ``None``; the loader rejects that row.
    notes
        What a person should know about how the file was read (a sheet not found, so the first used).
    """

    path: Path
    format: str
    encoding: str | None
    frame: pd.DataFrame
    rows: np.ndarray
    sha256: str
    truncated_row: int | None = None
    notes: tuple[str, ...] = ()


def discover(data_dir: Path, mapping: ColumnMapping, lang: str = "en") -> tuple[dict[str, Path], list[str]]:
    """Table name -> file for every table file in ``data_dir``; notes on what is not used.

    Raises
    ------
    ContractError
        When ``data_dir`` is no folder, when two files hold one table, or for an old Excel file.
    """
    if not data_dir.is_dir():
        raise ContractError(text("data.error.no_folder", lang, path=data_dir))
    found: dict[str, Path] = {}
    skipped: list[str] = []
    for entry in sorted(data_dir.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(_IGNORED_PREFIXES):
            continue
        if entry.is_dir():
            skipped.append(text("data.skip.folder", lang, name=entry.name))
            continue
        suffix = entry.suffix.lower()
        if suffix in FORMATS and HANDOVER_PART.match(entry.stem):
            continue  # read by handover_parts()
        table = mapping.table_for_file(entry.stem)
        if suffix in _OLD_FORMATS and table is not None:
            raise ContractError(text(_OLD_FORMATS[suffix], lang, file=entry.name))
        if suffix not in FORMATS or table is None:
            skipped.append(text("data.skip.unknown_file", lang, name=entry.name))
            continue
        if table in found:
            raise ContractError(text("data.error.two_files", lang, first=found[table].name, second=entry.name,
                                     table=table, folder=data_dir.name))
        found[table] = entry
    return found, skipped


def handover_parts(data_dir: Path, tables: list[str]) -> list[tuple[str, str, Path]]:
    """``(table, packet id, file)`` of every handover part in ``data_dir`` of a table in ``tables``, by name.

    A part holds one table's records of one student from another school, in the contract's columns
    (docs/handover.md); the loader validates it like any other file of that table.
    """
    parts = []
    for entry in sorted(Path(data_dir).iterdir(), key=lambda p: p.name):
        match = HANDOVER_PART.match(entry.stem)
        if entry.is_file() and entry.suffix.lower() in FORMATS and match and match["table"] in tables:
            parts.append((match["table"], match["packet"], entry))
    return parts


def _detect_encoding(data: bytes, path: Path, configured: str | None, lang: str) -> str:
    if configured:
        return configured
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):  # GB18030 is a superset of GBK and GB2312
        try:
            content = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        rare = _rare_share(content) if encoding == "gb18030" else 0.0
        if rare > 0.3:
            # GB18030 decodes almost any bytes: a Big5 (traditional Chinese) export reads without an
            # error as rare characters. Common simplified text lies within GB2312.
            log.warning("%s: read as GB18030, but %.0f%% of its Chinese characters are rare ones: it may be in "
                        "another encoding (Big5?); if names look garbled, set data.encoding", path.name, 100 * rare)
        return encoding
    raise ContractError(text("data.error.not_decodable", lang, file=path.name))


def _rare_share(content: str) -> float:
    """Share of the non-ASCII characters that GB2312 (common simplified Chinese) cannot encode."""
    wide = re.sub(r"[\x00-\x7f]+", "", content[:200_000])
    if not wide:
        return 0.0
    common = len(wide.encode("gb2312", errors="ignore").decode("gb2312"))
    return (len(wide) - common) / len(wide)


def _delimiter(content: str, is_header: Callable[[list[str]], bool] | None) -> str:
    """The separator: the one under which a header is found among the first lines (a title line
    above the header holds no separator to count), else the commonest on the first line."""
    if is_header is not None:
        lines = content.split("\n", _HEADER_SEARCH)[:_HEADER_SEARCH]
        for sep in (",", "\t", ";"):
            if any(cells and is_header(cells) for cells in csv.reader(lines, delimiter=sep)):
                return sep
    first_line = content.split("\n", 1)[0]
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";")}
    return max(counts, key=counts.get) if max(counts.values()) else ","


def _truncated_last_line(content: str, sep: str, skip: int, rows: np.ndarray) -> int | None:
    """The row number of the last record when the file ends mid-line with fewer cells than the header.

    An export cut off (disk full, a copy interrupted) ends without a line break in the middle of a
    record; pandas would fill the missing cells as empty and the row would pass as a student whose
    flags are unknown. A file that merely lacks the final line break has all its cells and is fine.
    """
    if not len(rows) or content.endswith(("\n", "\r")):
        return None
    lines = content.split("\n", skip + 1)
    header = next(csv.reader([lines[skip] if len(lines) > skip else ""], delimiter=sep), [])
    last = content[content.rfind("\n") + 1:]
    cells = next(csv.reader([last], delimiter=sep), [])
    return int(rows[-1]) if len(cells) < len(header) else None


def _header_line(text: str, sep: str, is_header: Callable[[list[str]], bool] | None) -> int:
    """0-based line of the header: the first of the first lines that ``is_header`` accepts, else 0."""
    if is_header is None:
        return 0
    lines = text.split("\n", _HEADER_SEARCH)[:_HEADER_SEARCH]
    for i, cells in enumerate(csv.reader(lines, delimiter=sep)):
        if cells and is_header(cells):
            return i
    return 0


def _line_numbers(text: str, sep: str, skip: int, n_records: int) -> np.ndarray:
    """Line number of each record's first line (header = line 1 after ``skip`` title lines).

    One record per line is the rule and costs nothing; a quoted cell with a line break inside (a note)
    shifts every later line, and then the records are counted with the csv module.
    """
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    simple = np.arange(n_records, dtype=np.int64) + 2 + skip
    if lines - skip - 1 == n_records:
        return simple
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    starts, previous = [], 0
    for record_number, _ in enumerate(reader):
        if record_number > skip:  # title lines and the header are not records
            starts.append(previous + 1)
        previous = reader.line_num
    if len(starts) != n_records:  # pragma: no cover - the two parsers disagree: keep record order
        log.warning("line numbers of rejected CSV rows may be off: the csv module and pandas count records differently")
        return simple
    return np.asarray(starts, dtype=np.int64)


def _read_csv(data: bytes, path: Path, configured: str | None, is_header: Callable[[list[str]], bool] | None,
              lang: str) -> tuple[pd.DataFrame, str, np.ndarray, int | None]:
    encoding = _detect_encoding(data, path, configured, lang)
    try:
        content = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ContractError(text("data.error.bad_encoding", lang, file=path.name, encoding=encoding, detail=exc)) from None
    content = content.lstrip("\ufeff")
    if not content.strip():
        raise ContractError(text("data.error.empty_file", lang, file=path.name))
    nul = content.find("\x00")
    if nul >= 0 and _NUL_STAND_IN in content:  # pragma: no cover - a Unicode noncharacter in an export
        raise ContractError(text("data.error.nul_byte", lang, file=path.name, line=content.count("\n", 0, nul) + 1))
    sep = _delimiter(content, is_header)
    skip = _header_line(content, sep, is_header)  # title lines above the header are not read
    if nul >= 0:
        line = content.count("\n", 0, nul) + 1
        if line <= skip + 1:  # in the header (or above it): UTF-16 text, or no table at all
            raise ContractError(text("data.error.nul_byte", lang, file=path.name, line=line))
        # pandas cuts a cell at a NUL ("cls\0A" and "cls\0B" would both become "cls"): the NUL travels
        # as a stand-in and comes back after parsing, so that the loader rejects that cell's row like
        # a NUL in a Parquet or Excel cell (riskmodel.data.load, control characters)
        content = content.replace("\x00", _NUL_STAND_IN)
    try:
        with warnings.catch_warnings():
            # more cells than headers: pandas would drop them (or make an index of them) with a warning
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(content), dtype=str, sep=sep, skip_blank_lines=False, index_col=False,
                                skiprows=skip)
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise ContractError(text("data.error.csv_parse", lang, file=path.name, detail=exc)) from None
    if nul >= 0:
        frame = frame.apply(lambda col: col.map(lambda v: v.replace(_NUL_STAND_IN, "\x00") if isinstance(v, str) else v))
    lines = _line_numbers(content, sep, skip, len(frame))
    return frame, encoding, lines, _truncated_last_line(content, sep, skip, lines)


def excel_engine() -> str:
    """``calamine`` when python-calamine is installed (about 15 times faster on a 30,000-row sheet),
    else ``openpyxl``; both give the same cells and keep blank rows, so row numbers agree."""
    return "calamine" if importlib.util.find_spec("python_calamine") is not None else "openpyxl"


def _read_xlsx(path: Path, sheet: str | int, lang: str, *, fallback: bool = False) -> tuple[pd.DataFrame, list[str]]:
    notes = []
    if fallback and isinstance(sheet, str):
        # a sheet named for every workbook (the old `data.excel_sheet: 名单`): a workbook without it
        # is read from its first sheet, and the summary says so
        try:
            with pd.ExcelFile(path, engine=excel_engine()) as book:
                names = book.sheet_names
        except Exception as exc:  # the read below reports a broken workbook
            names = [sheet]
            log.debug("sheet names of %s not read: %s", path.name, type(exc).__name__)
        if sheet not in names:
            notes.append(text("data.skip.first_sheet", lang, file=path.name, sheet=sheet))
            sheet = 0
    try:
        frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine=excel_engine())
    except ValueError as exc:
        raise ContractError(text("data.error.no_sheet", lang, file=path.name, sheet=repr(sheet), detail=exc)) from None
    except Exception as exc:  # openpyxl raises many kinds for a broken or encrypted workbook
        raise ContractError(text("data.error.bad_xlsx", lang, file=path.name,
                                 detail=f"{type(exc).__name__}: {exc}")) from None
    if excel_engine() == "openpyxl":
        # calamine decodes OOXML's _xHHHH_ escapes (a control character, `_x005F_` an underscore);
        # openpyxl leaves them as written: decoded here so that both engines give the same cells
        frame = frame.apply(_unescape_xlsx)
    # Excel cells arrive as str, int, float, datetime: one text form for all (dates as YYYY-MM-DD). Excel
    # keeps 15 significant digits: an 18-digit ID typed as a number was rounded when it was entered.
    return frame.apply(to_text), notes


def _unescape_xlsx(column: pd.Series) -> pd.Series:
    escaped = column.map(lambda v: isinstance(v, str) and "_x" in v).astype(bool)
    if not escaped.any():
        return column
    column = column.copy()
    column[escaped] = column[escaped].map(lambda v: _XLSX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), v))
    return column


def _read_parquet(path: Path, lang: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path).reset_index(drop=True)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError ... for a file that is no Parquet
        raise ContractError(text("data.error.bad_parquet", lang, file=path.name,
                                 detail=f"{type(exc).__name__}: {exc}")) from None


def read_raw(path: Path, *, encoding: str | None, excel_sheet: str | int,
             is_header: Callable[[list[str]], bool] | None = None, lang: str = "en",
             sheet_fallback: bool = False, data: bytes | None = None) -> RawFile:
    """Read one table file as it is (no mapping, no parsing); see the module docstring.

    ``is_header`` (CSV only) tells whether a line's cells are the header; title lines above the
    first such line (among the first ten) are not read; the separator is the one under which that
    header is found. Excel title rows are handled by the loader. ``sheet_fallback``: a workbook
    without the sheet named ``excel_sheet`` is read from its first sheet (noted) instead of refused.
    ``data`` (CSV only): these bytes instead of the file's (a chunk of it with the header line:
    riskmodel.data.ingest); the row numbers are then the chunk's.

    Raises
    ------
    ContractError
        When the file cannot be read or decoded, or is empty.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ContractError(text("data.error.unknown_format", lang, file=path.name))
    try:
        data = path.read_bytes() if data is None or fmt != "csv" else data
    except OSError as exc:
        raise ContractError(text("data.error.unreadable", lang, file=path.name, detail=exc.strerror)) from None
    used_encoding, lines, truncated, notes = None, None, None, []
    if fmt == "csv":
        frame, used_encoding, lines, truncated = _read_csv(data, path, encoding, is_header, lang)
    elif fmt == "xlsx":
        frame, notes = _read_xlsx(path, excel_sheet, lang, fallback=sheet_fallback)
    else:
        frame = _read_parquet(path, lang)
    frame.columns = [str(c) for c in frame.columns]
    if fmt == "parquet":
        rows = np.arange(len(frame), dtype=np.int64)
    else:
        # the header is line / sheet row 1 (CSV: after any title lines, and records may span lines)
        rows = lines if lines is not None else np.arange(len(frame), dtype=np.int64) + 2
        filled = frame.notna().any(axis=1).to_numpy()
        if not filled.all():
            frame, rows = frame.loc[filled].reset_index(drop=True), rows[filled]
    log.info("read %s (%s%s): %d rows", path.name, fmt, f", {used_encoding}" if used_encoding else "", len(frame))
    return RawFile(path, fmt, used_encoding, frame, rows, hashlib.sha256(data).hexdigest(), truncated, tuple(notes))
