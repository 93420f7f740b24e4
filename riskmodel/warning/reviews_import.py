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
   ``imported_at`` (UTC) and ``source`` (file and row). A table keeps its own vocabulary: a level, status
   or reviewer is written with the spelling the file uses most for that code (三级, 研判会, 心理老师 ...), the
   catalogue's Chinese word for a code the file has not used yet when it writes Chinese, the code otherwise;
   columns it lacks get the mapping's header in the file's language (导入人, 导入时间, 来源). A Parquet table
   also keeps its column types (date32 dates stay dates, int64 IDs numbers); an ID a number column cannot hold
   exactly (a leading 0, a letter) is refused, naming the file and the column, before anything is written.
   Nothing earlier is changed and nothing new is altered: the new file is read back through the loader, its
   earlier rows compared with the old ones and its new rows with the decisions, before it replaces the old
   one (atomically).

The sheet's instruction is in row 1 and its header in row 2; a sheet of an earlier version (header in
row 1, the instruction in its last row, codes in the English drop-downs) is read as well.

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
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd

from riskmodel import vocab
from riskmodel.config import Settings
from riskmodel.data import parse
from riskmodel.data.mapping import load_mapping, normalise_header
from riskmodel.data.read import discover
from riskmodel.errors import ContractError, PreflightError
from riskmodel.i18n import text
from riskmodel.outputs import atomic_path, xml_safe
from riskmodel.warning.export import DECISION_CHOICES, DECISION_COLUMNS, decision_header

__all__ = ["DEDUPE_KEY", "REJECTED_COLUMNS", "ImportResult", "import_decisions", "read_decisions"]

log = logging.getLogger(__name__)

DEDUPE_KEY = ["student_id", "date", "level", "status", "next_review", "reviewer_role", "reason"]
REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]
_ENUMS = {"level": "review_level", "status": "review_status", "reviewer_role": "reviewer_role"}
_WRITTEN = ["student_id", "date", "level", "status", "next_review", "reviewer_role", "reason", "imported_by",
            "imported_at", "source"]
_WORDS = {"level": "reviewed_level", "status": "review_status", "reviewer_role": "reviewer_role"}  # warning.value.*
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_WHOLE = re.compile(r"(0|[1-9][0-9]*)\Z")  # a whole number a number column keeps as it is
_HEADER_ROWS = 5  # the header is looked for in the sheet's first rows (row 2 now, row 1 in earlier versions)


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


def _sheet(book, path: Path, lang: str):
    names = {text("warning.sheet.decisions", lang) for lang in ("zh", "en")}
    for ws in book.worksheets:
        if ws.title in names:
            return ws
    raise ContractError(text("warning.decisions.error.no_sheet", lang, file=path, names=" / ".join(sorted(names))))


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


def _header_row(ws) -> tuple[int, dict[str, int]]:
    """(row, column -> 0-based position) of the sheet's header: the first of its first rows naming the pseudonym
    and the review date (row 2 under the instruction; row 1 in sheets of earlier versions)."""
    known = _headers(["zh", "en"])
    best: tuple[int, dict[str, int]] = (1, {})
    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=_HEADER_ROWS, values_only=True), start=1):
        where: dict[str, int] = {}
        for j, cell in enumerate(row):
            column = known.get(normalise_header(cell)) if not _blank(cell) else None
            if column is not None and column not in where:
                where[column] = j
        if "pseudonym" in where and "date" in where:
            return r, where
        if len(where) > len(best[1]):
            best = (r, where)
    return best


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
        raise ContractError(text("warning.decisions.error.unreadable", lang, file=path, detail=exc)) from None
    ws = _sheet(book, path, lang)
    header_row, where = _header_row(ws)
    missing = [c for c in ("pseudonym", "date", "level", "status") if c not in where]
    if missing:
        raise ContractError(text("warning.decisions.error.no_columns", lang, file=path, sheet=ws.title, columns=text(
            "warning.decisions.separator", lang).join(decision_header(c, lang) for c in missing)))
    good, rejected, read = [], [], 0
    inputs = [c for c in ("date", "level", "status", "next_review", "reviewer_role", "reason") if c in where]
    first = header_row + 1
    for r, row in enumerate(ws.iter_rows(min_row=first, values_only=True), start=first):
        cells = {c: (row[j] if j < len(row) else None) for c, j in where.items()}
        if all(_blank(cells.get(c)) for c in inputs):
            continue  # a student the meeting did not decide on, or the sheet's explanation
        read += 1
        problems = []

        def reject(column: str, value, what: str, problems=problems, r=r, **fields) -> None:
            shown = "" if _blank(value) else str(value)
            said = text(f"warning.decisions.reject.{what}", lang, **fields)
            problems.append({"file": path.name, "row": r, "column": decision_header(column, lang), "value": shown,
                             "reason": text("warning.decisions.reject.where", lang, file=path.name, row=r,
                                            column=decision_header(column, lang), what=said)})

        pseudonym = "" if _blank(cells["pseudonym"]) else str(cells["pseudonym"]).strip().lstrip("'")
        student = pseudonyms.get(pseudonym)
        if student is None:
            reject("pseudonym", pseudonym, "pseudonym")
        day, readable = _date(cells["date"])
        if day is None:
            reject("date", cells["date"], "date_empty" if readable else "date_unreadable")
        elif day > today:
            reject("date", cells["date"], "date_future", today=f"{today:%Y-%m-%d}")
        elif student is not None and student in enrolled and pd.notna(enrolled[student]) and day < enrolled[student]:
            reject("date", cells["date"], "date_before_enrolment", enrolled=f"{enrolled[student]:%Y-%m-%d}")
        values = {}
        for column in ("level", "status", "reviewer_role"):
            value = cells.get(column)
            if _blank(value):
                if column != "reviewer_role":
                    reject(column, value, "choice_empty")
                values[column] = None
                continue
            canonical = spellings[column].get(str(value).strip().lower())
            if canonical is None:
                allowed = text("warning.decisions.separator", lang).join(DECISION_CHOICES[column][lang])
                reject(column, value, "choice_unknown", allowed=allowed)
            values[column] = canonical
        next_review, readable = _date(cells.get("next_review"))
        if not readable:
            reject("next_review", cells.get("next_review"), "next_unreadable")
        elif next_review is not None and day is not None and next_review < day:
            reject("next_review", cells.get("next_review"), "next_before")
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


def _chinese(values) -> bool:
    return any(_CJK.search(str(v)) for v in values if not _blank(v))


def _vocabulary(columns: list[str | None], rows: list, header: list, mapping) -> dict[str, dict[str, str]]:
    """Per coded column (level, status, reviewer), code -> how the file writes it: the spelling the file uses
    most for that code; for a code it has not used yet, the catalogue's Chinese word when the column's values
    (or, with none yet, the headers) are Chinese, else the code itself.

    Example
    -------
    >>> # _vocabulary(["student_id", "level"], [["1", "三级"], ["2", "Ⅲ级"], ["3", "三级"]], ["学号", "预警等级"], m)
    >>> # {'level': {'III': '三级', 'I': '一级', 'II': '二级', 'none': '无'}, ...}
    """
    out = {}
    for column, enum in _ENUMS.items():
        allowed = list(vocab.contract_enum(enum))
        j = columns.index(column) if column in columns else None
        raw = [] if j is None else [str(r[j]).strip() for r in rows if j < len(r) and not _blank(r[j])]
        codes, _ = parse.parse_enum(pd.Series(raw, dtype=object), allowed, spellings=mapping.spellings(column, enum))
        spelled: dict[str, str] = {}
        for (code, spelling), _count in Counter((c, w) for c, w in zip(codes, raw) if c is not None).most_common():
            spelled.setdefault(code, spelling)
        chinese = _chinese(raw) if raw else _chinese(header)
        for code in allowed:
            spelled.setdefault(code, text(f"warning.value.{_WORDS[column]}.{code}", "zh") if chinese else code)
        out[column] = spelled
    return out


def _in_vocabulary(new: pd.DataFrame, vocabulary: dict[str, dict[str, str]]) -> pd.DataFrame:
    out = new.copy()
    for column, spelled in vocabulary.items():
        out[column] = out[column].map(lambda v, spelled=spelled: spelled.get(v, v) if isinstance(v, str) else v)
    return out


def _new_header(column: str, header: list, mapping) -> str:
    """The header for a column the table lacks: in a table with Chinese headers the mapping's Chinese header
    for it (导入人 for imported_by: it reads back), else the contract's name."""
    if _chinese(header):
        for name, target in [*mapping.tables.get("reviews", {}).items(), *mapping.columns.items()]:
            if target == column and _CJK.search(name) and mapping.header_map([name], "reviews")[name] == column:
                return name
    return column


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
    new = _in_vocabulary(new, _vocabulary([targets.get(h) for h in header], lines[header_at + 1:], header, mapping))
    newline = "\r\n" if "\r\n" in content else "\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    if missing:  # the import columns are added; every earlier cell stays as it was (checked after)
        width = len(header)
        for i, cells in enumerate(lines):
            if i < header_at:
                writer.writerow(cells)
            elif i == header_at:
                writer.writerow([*cells, *[_new_header(c, header, mapping) for c in missing]])
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
    new = _in_vocabulary(new, _vocabulary(columns, list(ws.iter_rows(min_row=2, values_only=True)), header, mapping))
    for column in [c for c in _WRITTEN if c not in columns]:
        ws.cell(row=1, column=len(columns) + 1, value=_new_header(column, header, mapping))
        columns.append(column)
    for _, row in new.iterrows():
        ws.append([(xml_safe(_cell(row[c])) or None) if c is not None and c in row.index else None for c in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class _Unfit(ValueError):
    """A value the Parquet column's type cannot hold exactly."""


def _day(value) -> pd.Timestamp:
    if isinstance(value, pd.Timestamp | date):
        return pd.Timestamp(value)
    raise _Unfit(value)


def _fit(value, kind):
    """``value`` (text, a day or None) as the Python value of the Arrow type ``kind``, exactly, else ``_Unfit``.

    A number column takes only whole numbers without leading zeros: ``"007"`` or ``"2019E0107"`` stored as a number
    would read back as another ID.
    """
    import pyarrow as pa

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return _cell(value)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return _cell(value).encode("utf-8")
    if pa.types.is_date(kind):
        return _day(value).date()
    if pa.types.is_timestamp(kind):  # midnight of the day where the column's clock is: the loader reads that day
        return _day(value).tz_localize(kind.tz) if kind.tz else _day(value)
    written = _cell(value)
    if not _WHOLE.match(written):
        raise _Unfit(value)
    number = int(written)
    if pa.types.is_integer(kind):
        low, high = (-(2 ** (kind.bit_width - 1)), 2 ** (kind.bit_width - 1) - 1) if pa.types.is_signed_integer(kind) \
            else (0, 2 ** kind.bit_width - 1)
        if low <= number <= high:
            return number
    elif pa.types.is_floating(kind):
        # the loader reads an integral float back as the whole number; exact only up to the type's mantissa
        if number <= 2 ** {16: 11, 32: 24, 64: 53}[kind.bit_width]:
            return float(number)
    elif pa.types.is_decimal(kind):
        if len(written) <= kind.precision - kind.scale:
            return Decimal(number)
    raise _Unfit(value)


def _arrow_column(values: list, kind, *, target: Path, header: str, lang: str):
    """The new rows' ``values`` of column ``header`` as an Arrow array of the file's type ``kind``; refused (naming
    the file and the column) when any would not read back as it is."""
    import pyarrow as pa

    plain = kind.value_type if pa.types.is_dictionary(kind) else kind
    fitted, unfit = [], 0
    for value in values:
        try:
            fitted.append(_fit(value, plain))
        except _Unfit:
            fitted.append(None)
            unfit += 1
    numeric = pa.types.is_integer(plain) or pa.types.is_floating(plain) or pa.types.is_decimal(plain)
    if not unfit:
        try:
            array = pa.array(fitted, type=plain)
            return array.dictionary_encode().cast(kind) if pa.types.is_dictionary(kind) else array
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            unfit = len(values)
    if numeric:
        raise ContractError(text("warning.check.reviews_number_column", lang, file=target, column=header, n=unfit))
    raise ContractError(text("warning.check.reviews_column_type", lang, file=target, column=header, type=str(kind),
                             n=unfit))


def _parquet_bytes(target: Path, new: pd.DataFrame, mapping, lang: str) -> bytes:
    """The reviews Parquet file with ``new`` appended under its own headers, in its own words (as a CSV) and its
    own column types (``date32`` dates stay dates, ``int64`` IDs numbers: refused when one would change); import
    columns it lacks are added as text; every earlier row and the file's metadata as they were."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    old = pq.read_table(target)
    names = old.schema.names
    targets = _header_map(names, mapping)
    coded = [n for n in names if targets.get(n) in _ENUMS]
    rows = list(zip(*(old.column(n).to_pylist() for n in coded), strict=True)) if coded else []
    new = _in_vocabulary(new, _vocabulary([targets[n] for n in coded], rows, names, mapping))
    fields, before, after = [], [], []
    for name in names:
        field, column = old.schema.field(name), targets.get(name)
        earlier = old.column(name)
        if pa.types.is_null(field.type):  # a column with no value yet: the earlier rows stay empty in its new type
            field = field.with_type(pa.date32() if column in ("date", "next_review") else pa.string())
            earlier = pa.nulls(old.num_rows, field.type)
        values = new[column].tolist() if column in new.columns else [None] * len(new)
        after.append(_arrow_column(values, field.type, target=target, header=name, lang=lang))
        fields.append(field.with_nullable(True) if after[-1].null_count else field)  # a column not all rows fill
        before.append(earlier)
    for column in [c for c in _WRITTEN if c not in targets.values()]:
        fields.append(pa.field(_new_header(column, names, mapping), pa.string()))
        before.append(pa.nulls(old.num_rows, pa.string()))
        after.append(pa.array([_cell(v) or None for v in new[column]], type=pa.string()))
    schema = pa.schema(fields, metadata=old.schema.metadata)
    merged = pa.concat_tables([pa.Table.from_arrays(before, schema=schema), pa.Table.from_arrays(after, schema=schema)])
    buffer = io.BytesIO()
    pq.write_table(merged, buffer)
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
        empty; a column of a Parquet reviews table cannot hold a decision's value exactly (exit 2).
    PreflightError
        The reviews table cannot be written, or reading it back would change an earlier row (exit 3).
    """
    from riskmodel.data.load import read_table
    from riskmodel.data.pseudonym import load_key, pseudonymise

    path, data_dir = Path(path), Path(data_dir)
    lang = settings.reports.lang
    if not by or not by.strip():
        raise ContractError(text("warning.decisions.error.by_empty", lang))
    now = now or datetime.now(UTC)
    today = pd.Timestamp(now.date())
    loaded = load_mapping(mapping if mapping is not None else settings.data.mapping, lang=lang)
    files, _ = discover(data_dir, loaded, lang)
    if "students" not in files:
        raise ContractError(text("warning.decisions.error.no_students", lang, data=data_dir))
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
            data = _parquet_bytes(target, new, loaded, lang)
        after = _read_back(data, suffix, settings, loaded)
        n_before = len(before) if before is not None else 0
        if before is not None:
            common = [c for c in ("student_id", "date", "level", "status", "next_review", "reviewer_role", "reason",
                                  "note")]
            same = after.head(n_before)[common].reset_index(drop=True).equals(before[common].reset_index(drop=True))
            if not same:
                raise PreflightError(text("warning.decisions.error.changed", lang, target=target))
        read_back = len(after) - n_before
        if read_back == len(new):  # each new row reads back as decided (the same ID, dates, codes): else the next
            # list would not follow the decision, and importing the sheet again would add it a second time
            read_back = int((_key_frame(after.iloc[n_before:]).to_numpy() == _key_frame(new).to_numpy()).sum())
        if read_back != len(new):
            raise PreflightError(text("warning.decisions.error.not_read_back", lang, target=target,
                                      read=read_back, added=len(new)))
        try:
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
        except OSError as exc:
            raise PreflightError(text("warning.decisions.error.write", lang, target=target, detail=exc.strerror)) from None
    log.info("reviews import: %d decision rows read, %d added, %d already present, %d rejected", read, len(new),
             duplicates, len(rejected))
    return ImportResult(target=target, added=len(new), duplicates=duplicates, rejected=rejected, read=read)
