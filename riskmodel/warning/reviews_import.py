"""The meeting round trip: a filled decisions sheet back into the centre's reviews table.

The XLSX warning list carries a decisions sheet (riskmodel.warning.export): one row per student by
pseudonym, drop-downs for level, status and reviewer, dates for the review and the next one, a short
reason. ``riskmodel reviews import FILE --data DIR --by WHO`` reads it back:

1. every filled row is checked: a pseudonym the centre's key does not give to a student of the data, a
   level, status or reviewer outside the contract, a missing or unreadable date, a review dated after
   today, a next review before the review: rejected by row, naming the file, row, column and what to
   do; good rows are kept. Rows whose decision cells are all empty are not decisions and are passed by;
2. pseudonyms are mapped back to student IDs with the centre's key (``data.pseudonym_key_file``);
3. decisions already in the reviews table (same student, date, level, status, next review, reviewer
   and reason) are not added again, so importing the same file twice adds nothing;
4. the rest are appended to the data folder's reviews table (``reviews.csv`` when there is none yet,
   else the centre's own file in its own format, encoding and headers) with ``imported_by`` (``--by``),
   ``imported_at`` (UTC) and ``source`` (file and row). Nothing earlier is changed: the earlier rows
   are read back from the new file and compared before it replaces the old one (atomically).

No note is read from the sheet, written or printed.

Example
-------
>>> # result = import_decisions("lists/school/warning_list.xlsx", "data/", settings=settings, by="centre")
>>> # result.added, result.duplicates, result.rejected
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.data import parse
from riskmodel.data.mapping import load_mapping, normalise_header
from riskmodel.data.read import discover
from riskmodel.errors import ContractError, PreflightError
from riskmodel.i18n import text
from riskmodel.outputs import atomic_path
from riskmodel.warning.export import DECISION_CHOICES, DECISION_COLUMNS, decision_header

__all__ = ["DEDUPE_KEY", "REJECTED_COLUMNS", "ImportResult", "import_decisions", "read_decisions"]

log = logging.getLogger(__name__)

DEDUPE_KEY = ["student_id", "date", "level", "status", "next_review", "reviewer_role", "reason"]
REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]
_ENUMS = {"level": "review_level", "status": "review_status", "reviewer_role": "reviewer_role"}
_WRITTEN = ["student_id", "date", "level", "status", "next_review", "reviewer_role", "reason", "imported_by",
            "imported_at", "source"]


@dataclass(frozen=True)
class ImportResult:
    """What one import did: rows added, already present, rejected (``file, row, column, value, reason``)."""

    target: Path
    added: int
    duplicates: int
    rejected: pd.DataFrame
    read: int


def _headers(lang_keys: list[str]) -> dict[str, str]:
    out = {}
    for column in DECISION_COLUMNS:
        out[normalise_header(column)] = column
        for lang in lang_keys:
            out[normalise_header(decision_header(column, lang))] = column
    return out


def _sheet(book, path: Path):
    names = {text("warning.sheet.decisions", lang) for lang in ("zh", "en")}
    for ws in book.worksheets:
        if ws.title in names:
            return ws
    raise ContractError(f"{path}: no decisions sheet ({' / '.join(sorted(names))}); import the XLSX warning list "
                        "that riskmodel wrote (its third sheet), filled in at the meeting.")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _date(value) -> tuple[pd.Timestamp | None, bool]:
    """(date, readable): a spreadsheet date cell or any date text the loader accepts."""
    if _blank(value):
        return None, True
    if isinstance(value, datetime):
        return pd.Timestamp(value).normalize(), True
    values, bad = parse.parse_date(pd.Series([value], dtype=object))
    if bool(bad.iloc[0]) or pd.isna(values.iloc[0]):
        return None, False
    return pd.Timestamp(values.iloc[0]).normalize(), True


def read_decisions(path: str | Path, *, pseudonyms: dict[str, str], enrolled: dict[str, pd.Timestamp],
                   spellings: dict[str, dict[str, str]], lang: str, today: pd.Timestamp
                   ) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """The filled rows of the decisions sheet of ``path``: (good decisions, rejected rows, rows read).

    ``pseudonyms`` maps pseudonym -> student_id; ``enrolled`` student_id -> enrollment date;
    ``spellings`` per column the accepted words -> canonical value.
    """
    from openpyxl import load_workbook

    path = Path(path)
    try:
        book = load_workbook(path, data_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ContractError(f"{path}: cannot be read as an XLSX workbook ({exc}); import the warning_list.xlsx "
                            "that riskmodel wrote.") from None
    ws = _sheet(book, path)
    known = _headers(["zh", "en"])
    header = [c.value for c in ws[1]]
    where = {}
    for j, cell in enumerate(header):
        column = known.get(normalise_header(cell)) if not _blank(cell) else None
        if column is not None and column not in where:
            where[column] = j
    missing = [c for c in ("pseudonym", "date", "level", "status") if c not in where]
    if missing:
        raise ContractError(f"{path}, sheet {ws.title!r}, row 1: the columns "
                            f"{', '.join(decision_header(c, lang) for c in missing)} are missing; keep the sheet's "
                            "header row as riskmodel wrote it.")
    good, rejected, read = [], [], 0
    inputs = [c for c in ("date", "level", "status", "next_review", "reviewer_role", "reason") if c in where]
    for r, row in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        cells = {c: (row[j] if j < len(row) else None) for c, j in where.items()}
        if all(_blank(cells.get(c)) for c in inputs):
            continue  # a student the meeting did not decide on, or the sheet's explanation
        read += 1
        problems = []

        def reject(column: str, value, what: str, problems=problems, r=r) -> None:
            shown = "" if _blank(value) else str(value)
            problems.append({"file": path.name, "row": r, "column": decision_header(column, lang), "value": shown,
                             "reason": f"{path.name}, row {r}, column {decision_header(column, lang)}: {what}"})

        pseudonym = "" if _blank(cells["pseudonym"]) else str(cells["pseudonym"]).strip().lstrip("'")
        student = pseudonyms.get(pseudonym)
        if student is None:
            reject("pseudonym", pseudonym, "no student of the data folder has this pseudonym under the centre's key; "
                                           "copy it from the warning list of this data (and key), or remove the row")
        day, readable = _date(cells["date"])
        if day is None:
            reject("date", cells["date"], "the review date is " + ("empty" if readable else "not a date") +
                   "; write it as YYYY-MM-DD")
        elif day > today:
            reject("date", cells["date"], f"the review is dated after today ({today:%Y-%m-%d}); a decision cannot "
                                          "come from the future: correct the date")
        elif student is not None and student in enrolled and pd.notna(enrolled[student]) and day < enrolled[student]:
            reject("date", cells["date"], f"the review is dated before the student's enrolment "
                                          f"({enrolled[student]:%Y-%m-%d}); correct the date or the pseudonym")
        values = {}
        for column in ("level", "status", "reviewer_role"):
            value = cells.get(column)
            if _blank(value):
                if column != "reviewer_role":
                    reject(column, value, "empty; choose a value from the drop-down list")
                values[column] = None
                continue
            canonical = spellings[column].get(str(value).strip().lower())
            if canonical is None:
                allowed = ", ".join(DECISION_CHOICES[column][lang])
                reject(column, value, f"not one of {allowed}; choose a value from the drop-down list")
            values[column] = canonical
        next_review, readable = _date(cells.get("next_review"))
        if not readable:
            reject("next_review", cells.get("next_review"), "not a date; write it as YYYY-MM-DD or leave it empty")
        elif next_review is not None and day is not None and next_review < day:
            reject("next_review", cells.get("next_review"), "the next review is before this review; correct one "
                                                            "of the two dates")
        reason = cells.get("reason")
        reason = None if _blank(reason) else str(reason).strip()
        if problems:
            rejected.extend(problems)
            continue
        good.append({"student_id": student, "date": day, "level": values["level"], "status": values["status"],
                     "next_review": next_review, "reviewer_role": values["reviewer_role"], "reason": reason,
                     "source": f"{path.name}:{r}"})
    decisions = pd.DataFrame(good, columns=[*DEDUPE_KEY, "source"])
    return decisions, pd.DataFrame(rejected, columns=REJECTED_COLUMNS), read


def _spellings(mapping) -> dict[str, dict[str, str]]:
    out = {}
    for column, enum in _ENUMS.items():
        words = {str(k).strip().lower(): v for k, v in mapping.spellings(column, enum).items()}
        for lang in ("zh", "en"):
            words.update({k.lower(): v for k, v in DECISION_CHOICES[column][lang].items()})
        words.update({v.lower(): v for v in DECISION_CHOICES[column]["en"].values()})
        out[column] = words
    return out


def _key_frame(frame: pd.DataFrame) -> pd.Series:
    """One text key per row of the dedupe columns (dates as days, empty as '')."""
    parts = []
    for column in DEDUPE_KEY:
        values = frame[column] if column in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        if column in ("date", "next_review"):
            values = pd.to_datetime(values, errors="coerce").dt.strftime("%Y-%m-%d")
        parts.append(values.astype(object).where(values.notna(), "").astype(str))
    return pd.Series(["\x1f".join(p) for p in zip(*parts)], index=frame.index, dtype=object)


def _cell(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _header_map(headers: list[str], mapping) -> dict[str, str | None]:
    return {h: t for h, t in mapping.header_map(headers, "reviews").items()}


def _csv_bytes(target: Path, new: pd.DataFrame, mapping, settings: Settings) -> bytes:
    """The reviews CSV with ``new`` appended: same encoding and headers; import columns added if absent."""
    if not target.exists():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(_WRITTEN)
        for row in new[_WRITTEN].itertuples(index=False):
            writer.writerow([_cell(v) for v in row])
        return buffer.getvalue().encode("utf-8-sig")
    from riskmodel.data.read import read_raw

    raw = read_raw(target, encoding=settings.data.encoding, excel_sheet=0)  # a CSV: the sheet is not read
    encoding = raw.encoding or "utf-8"
    data = target.read_bytes()
    bom = data.startswith(b"\xef\xbb\xbf")
    content = data.decode("utf-8-sig" if bom else encoding)
    lines = list(csv.reader(io.StringIO(content, newline="")))
    header_at = next((i for i, cells in enumerate(lines)
                      if "student_id" in _header_map(cells, mapping).values()), None)
    if header_at is None:
        raise ContractError(f"{target}: no header row with the student ID column was found; fix the reviews table "
                            "before importing into it.")
    header = lines[header_at]
    targets = _header_map(header, mapping)
    missing = [c for c in _WRITTEN if c not in targets.values()]
    newline = "\r\n" if "\r\n" in content else "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    if missing:  # the import columns are added; every earlier cell stays as it was (checked after)
        width = len(header)
        for i, cells in enumerate(lines):
            if i < header_at:
                writer.writerow(cells)
            elif i == header_at:
                writer.writerow([*cells, *missing])
            else:
                writer.writerow([*cells, *[""] * (width - len(cells)), *[""] * len(missing)])
        head = buffer.getvalue()
        columns = [targets.get(h) for h in header] + missing
    else:
        head = content if content.endswith(("\n", "\r")) or not content else content + newline
        columns = [targets.get(h) for h in header]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    for _, row in new.iterrows():
        writer.writerow([_cell(row[c]) if c is not None and c in row.index else "" for c in columns])
    text_out = head + buffer.getvalue()
    return (b"\xef\xbb\xbf" if bom else b"") + text_out.encode("utf-8" if bom else encoding)


def _xlsx_bytes(target: Path, new: pd.DataFrame, mapping, settings: Settings) -> bytes:
    from openpyxl import load_workbook

    from riskmodel.data.load import excel_sheet_for

    book = load_workbook(target)
    sheet, fallback = excel_sheet_for(settings.data.excel_sheet, "reviews")
    if isinstance(sheet, int):
        ws = book.worksheets[sheet]
    else:
        ws = book[sheet] if sheet in book.sheetnames or not fallback else book.worksheets[0]
    header = [c.value for c in ws[1]]
    targets = _header_map([str(h) if h is not None else "" for h in header], mapping)
    columns = [targets.get(str(h) if h is not None else "") for h in header]
    for column in [c for c in _WRITTEN if c not in columns]:
        ws.cell(row=1, column=len(columns) + 1, value=column)
        columns.append(column)
    for _, row in new.iterrows():
        ws.append([(_cell(row[c]) or None) if c is not None and c in row.index else None for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _parquet_bytes(target: Path, new: pd.DataFrame) -> bytes:
    old = pd.read_parquet(target)
    rows = new[_WRITTEN].copy()
    for column in ("date", "next_review"):
        if column in old.columns and not pd.api.types.is_datetime64_any_dtype(old[column]):
            rows[column] = rows[column].map(_cell)
    merged = pd.concat([old, rows[[c for c in rows.columns if c in old.columns or c in _WRITTEN]]],
                       ignore_index=True)
    buffer = io.BytesIO()
    merged.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _read_back(data: bytes, suffix: str, settings: Settings, mapping) -> pd.DataFrame:
    from riskmodel.data.load import read_table

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / f"reviews{suffix}"
        scratch.write_bytes(data)
        scratch.chmod(0o600)
        accepted, _ = read_table(scratch, "reviews", settings=settings, mapping=mapping)
    return accepted


def import_decisions(path: str | Path, data_dir: str | Path, *, settings: Settings, by: str,
                     mapping: str | Path | None = None, now: datetime | None = None) -> ImportResult:
    """Import the decisions sheet of ``path`` into the reviews table of ``data_dir`` (module docstring).

    Raises
    ------
    ContractError
        The file has no decisions sheet or lacks its columns; the data folder has no students; ``by`` is
        empty (exit 2).
    PreflightError
        The reviews table cannot be written, or reading it back would change an earlier row (exit 3).
    """
    from riskmodel.data.load import read_table
    from riskmodel.data.pseudonym import load_key, pseudonymise

    path, data_dir = Path(path), Path(data_dir)
    lang = settings.reports.lang
    if not by or not by.strip():
        raise ContractError("--by is empty: say who imports the decisions (a role or a name), so that the "
                            "reviews table records it.")
    now = now or datetime.now(UTC)
    today = pd.Timestamp(now.date())
    loaded = load_mapping(mapping if mapping is not None else settings.data.mapping, lang=lang)
    files, _ = discover(data_dir, loaded, lang)
    if "students" not in files:
        raise ContractError(f"{data_dir}: no students table; name the data folder the list was made from (--data).")
    students, _ = read_table(files["students"], "students", settings=settings, mapping=loaded)
    key = load_key(settings.data.pseudonym_key_file, lang=lang)
    pseudonyms = dict(zip(pseudonymise(students["student_id"], key), students["student_id"]))
    enrolled = dict(zip(students["student_id"], students["enrollment_date"]))
    decisions, rejected, read = read_decisions(path, pseudonyms=pseudonyms, enrolled=enrolled,
                                               spellings=_spellings(loaded), lang=lang, today=today)
    target = files.get("reviews", data_dir / "reviews.csv")
    before = read_table(target, "reviews", settings=settings, mapping=loaded)[0] if target.exists() else None
    keys = set(_key_frame(before)) if before is not None else set()
    fresh = _key_frame(decisions)
    keep = ~fresh.isin(keys) & ~fresh.duplicated()
    new = decisions.loc[keep.to_numpy()].reset_index(drop=True)
    new["imported_by"] = by.strip()
    new["imported_at"] = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    duplicates = int((~keep).sum())
    if len(new):
        suffix = target.suffix.lower()
        if suffix == ".csv":
            data = _csv_bytes(target, new, loaded, settings)
        elif suffix == ".xlsx":
            data = _xlsx_bytes(target, new, loaded, settings)
        else:
            data = _parquet_bytes(target, new)
        after = _read_back(data, suffix, settings, loaded)
        n_before = len(before) if before is not None else 0
        if before is not None:
            common = [c for c in ("student_id", "date", "level", "status", "next_review", "reviewer_role", "reason",
                                  "note")]
            same = after.head(n_before)[common].reset_index(drop=True).equals(before[common].reset_index(drop=True))
            if not same:
                raise PreflightError(f"{target}: appending would change earlier rows when read back; nothing was "
                                     "written. Convert the reviews table to CSV (UTF-8) and import again.")
        if len(after) != n_before + len(new):
            raise PreflightError(f"{target}: the appended decisions would not all read back ({len(after) - n_before} "
                                 f"of {len(new)}); nothing was written. Check the table's headers.")
        try:
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
        except OSError as exc:
            raise PreflightError(f"{target}: cannot write the reviews table ({exc.strerror}); check the folder's "
                                 "permissions.") from None
    log.info("reviews import: %d decision rows read, %d added, %d already present, %d rejected", read, len(new),
             duplicates, len(rejected))
    return ImportResult(target=target, added=len(new), duplicates=duplicates, rejected=rejected, read=read)
