"""``riskmodel validate --store``: validate a data folder into the store in bounded memory.

The loader (:mod:`riskmodel.data.load`) holds every table of the folder in memory at once: 5.7 GiB
for a register of 200,000 students. Here each table file is read and validated in chunks of
``data.chunk_rows`` rows (CSV: cut at line ends outside quoted cells, each chunk parsed with the
file's header line; Parquet: its record batches; an Excel sheet is read whole) and the validated rows
are appended to a staging database; what needs the whole table is done there, in DuckDB:

- **the register first**: its chunks are validated, its duplicate keys found in SQL, and the accepted
  students become the store's ``_reference``; every other table's chunk is checked against the
  students of that chunk looked up in it (unknown, rejected, outside enrolment: the loader's
  :func:`riskmodel.data.integrity.integrity_problems` itself);
- **duplicates across chunks**: the first copy of a key (by position in the file) is kept, each later
  one rejected naming the first's row, after every other check, as the loader does; a blanked cell of
  a row rejected so is reported as part of the rejected row;
- the rejected rows of each file in its row order, the summary (rows read, accepted, rejected, by
  reason, blanked cells) and the notes are the loader's.

The result, read back with :func:`riskmodel.data.store.open_store`, equals what
:func:`riskmodel.data.store.write_store` writes from :func:`riskmodel.data.load.load_validated`
(tests/test_ingest.py compares them with chunks of a few rows). One difference that nothing reads:
``_pos`` is the row's position among the file's rows read (with gaps where rows were rejected), not
among the accepted ones; reading in ``_pos`` order gives the same order.

Memory is one chunk (parsed, with its problems) plus DuckDB's own (``memory_limit``, spilling to a
private folder beside the store); it does not grow with the register. The store is built in a
temporary file beside the target and renamed into place: it appears whole or not at all.

A table whose file has the checksum the previous store recorded (same settings, mapping, key and
version; same students checked against) is copied from that store, not read; when nothing changed at
all the store is not rewritten (as :func:`riskmodel.data.load.load_validated` with a store).
"""

from __future__ import annotations

import codecs
import glob
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from riskmodel.config import Settings
from riskmodel.data import load, read
from riskmodel.data.dataset import Dataset, contract
from riskmodel.data.integrity import StudentReference, integrity_problems
from riskmodel.data.load import REJECTED_DTYPES, file_sha256, validation_fingerprint
from riskmodel.data.mapping import ColumnMapping
from riskmodel.data.read import RawFile
from riskmodel.data.schema import PROBLEM_COLUMNS
from riskmodel.data.sorted_reference import SortedReference
from riskmodel.errors import ContractError
from riskmodel.i18n import text
from riskmodel.outputs import atomic_path

__all__ = ["validate_into_store", "Ingested"]

log = logging.getLogger(__name__)

_BLOCK = 1 << 22  # bytes read at a time while cutting a CSV into chunks
# encodings in which a newline, a quote and a comma are single bytes never part of another character
_ASCII_SAFE = {"utf_8", "utf_8_sig", "gb18030", "gbk", "gb2312", "big5", "ascii", "latin_1", "cp1252", "cp936",
               "iso8859_1"}
_SUMMARY_COLUMNS = ["table", "file", "rows_read", "accepted", "rejected", "by_reason", "blanked"]


@dataclass
class Ingested:
    """What :func:`validate_into_store` gives: the summary parts of a :class:`Dataset`, no tables."""

    dataset: Dataset  # tables empty; summary, rejected, skipped, files, checksum as the loader's
    students: int  # students accepted
    screenings: int  # screenings accepted
    reused: list[str] = field(default_factory=list)
    up_to_date: bool = False  # nothing changed: the store was not rewritten
    written: bool = True  # False: no student or no screening accepted, so no store was written


class _Unusable(Exception):
    """No student or no screening accepted: the store is not written (riskmodel validate says why)."""

    def __init__(self, ingested: Ingested):
        super().__init__("unusable")
        self.ingested = ingested


# --------------------------------------------------------------------------------------------- reading


def _encoding(path: Path, configured: str | None, lang: str) -> str:
    """The CSV encoding as :func:`riskmodel.data.read._detect_encoding` finds it, reading block by block."""
    if configured:
        return configured
    with path.open("rb") as handle:
        if handle.read(3) == b"\xef\xbb\xbf":
            return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(_BLOCK), b""):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030":
            with path.open("rb") as handle:
                head = handle.read(800_000).decode(encoding, errors="ignore")
            rare = read._rare_share(head)
            if rare > 0.3:
                log.warning("%s: read as GB18030, but %.0f%% of its Chinese characters are rare ones: it may be in "
                            "another encoding (Big5?); if names look garbled, set data.encoding", path.name,
                            100 * rare)
        return encoding
    raise ContractError(text("data.error.not_decodable", lang, file=path.name))


def _line_pieces(path: Path, first_lines: int, lines: int) -> Iterator[tuple[int, bytes]]:
    """``(line number of the piece's first line, bytes)``: the file cut at line ends outside quoted cells,
    the first piece at least ``first_lines`` lines, the others about ``lines`` lines."""
    buffer = bytearray()
    ends: list[int] = []  # offsets in buffer just past a line end that is not inside quotes
    inside = 0  # quotes seen so far, modulo 2
    line = 1
    with path.open("rb") as handle:
        while True:
            block = handle.read(_BLOCK)
            if block:
                start = len(buffer)
                buffer += block
                codes = np.frombuffer(block, dtype=np.uint8)
                newlines = np.flatnonzero(codes == 10)
                quotes = codes == 34
                if quotes.any():
                    seen = np.cumsum(quotes, dtype=np.int64)
                    newlines = newlines[(inside + seen[newlines]) % 2 == 0]
                    inside = int((inside + seen[-1]) % 2)
                ends.extend((newlines + start + 1).tolist())
            while ends or (not block and buffer):
                need = first_lines if line == 1 else lines
                if len(ends) >= need:
                    cut = ends[need - 1]
                    ends = [e - cut for e in ends[need:]]
                elif not block:
                    cut, ends = len(buffer), []
                else:
                    break
                piece = bytes(buffer[:cut])
                del buffer[:cut]
                yield line, piece
                line += piece.count(b"\n")
            if not block:
                return


_LINE = re.compile(r"line (\d+)")


def _csv_chunks(path: Path, table: str, settings: Settings, mapping: ColumnMapping, rows: int) -> Iterator[RawFile]:
    """The chunks of a CSV file as :func:`riskmodel.data.read.read_raw` would read the whole of it: the same
    cells, and row numbers of the whole file."""
    lang = settings.reports.lang
    encoding = _encoding(path, settings.data.encoding, lang)

    def is_header(cells: list) -> bool:
        return load._required_found(cells, table, mapping)

    if codecs.lookup(encoding).name.replace("-", "_") not in _ASCII_SAFE:
        yield read.read_raw(path, encoding=encoding, excel_sheet=0, is_header=is_header, lang=lang)
        return
    header, pieces = b"", 0
    for number, piece in _line_pieces(path, read._HEADER_SEARCH + rows, rows):
        if b"\x00" in piece:
            at = number + piece[:piece.index(b"\x00")].count(b"\n")
            raise ContractError(text("data.error.nul_byte", lang, file=path.name, line=at))
        if number == 1:
            content = piece.decode(encoding, errors="replace").lstrip("\ufeff")
            sep = read._delimiter(content, is_header)
            skip = read._header_line(content, sep, is_header)
            header = piece.split(b"\n")[skip] + b"\n"
            if header.startswith(b"\xef\xbb\xbf"):
                header = header[3:]
            data, shift = piece, 0
        else:
            data, shift = header + piece, number - 2  # the chunk's line 2 is the file's line `number`
        try:
            raw = read.read_raw(path, encoding=encoding, excel_sheet=0, is_header=is_header, lang=lang, data=data)
        except ContractError as exc:
            if not shift:
                raise
            message = _LINE.sub(lambda m, by=shift: f"line {int(m.group(1)) + by}", str(exc))
            raise ContractError(message) from None
        pieces += 1
        yield replace(raw, rows=raw.rows + shift,
                      truncated_row=None if raw.truncated_row is None else raw.truncated_row + shift)
    if not pieces:  # an empty file: the reader's own error
        yield read.read_raw(path, encoding=encoding, excel_sheet=0, is_header=is_header, lang=lang)


def _parquet_chunks(path: Path, lang: str, rows: int) -> Iterator[RawFile]:
    """The record batches of a Parquet file, as :func:`riskmodel.data.read.read_raw` reads the whole."""
    import pyarrow.parquet as pq

    try:
        source = pq.ParquetFile(path)
        schema = source.schema_arrow
        start = 0
        batches = source.iter_batches(batch_size=rows)
        first = True
        for batch in batches:
            frame = pa.Table.from_batches([batch], schema=schema).to_pandas().reset_index(drop=True)
            frame.columns = [str(c) for c in frame.columns]
            yield RawFile(path, "parquet", None, frame, np.arange(start, start + len(frame), dtype=np.int64), "")
            start += len(frame)
            first = False
        if first:  # no rows: the columns alone
            yield read.read_raw(path, encoding=None, excel_sheet=0, lang=lang)
    except ContractError:
        raise
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError ... for a file that is no Parquet
        raise ContractError(text("data.error.bad_parquet", lang, file=path.name,
                                 detail=f"{type(exc).__name__}: {exc}")) from None


def _chunks(path: Path, table: str, settings: Settings, mapping: ColumnMapping, rows: int) -> Iterator[RawFile]:
    fmt = read.FORMATS.get(path.suffix.lower())
    if fmt == "csv":
        yield from _csv_chunks(path, table, settings, mapping, rows)
    elif fmt == "parquet":
        yield from _parquet_chunks(path, settings.reports.lang, rows)
    else:  # a worksheet is read whole (an .xlsx holds at most 1,048,576 rows)
        lang = settings.reports.lang
        sheet, fallback = load.excel_sheet_for(settings.data.excel_sheet, table, lang)
        yield read.read_raw(path, encoding=settings.data.encoding, excel_sheet=sheet,
                            is_header=lambda cells: load._required_found(cells, table, mapping), lang=lang,
                            sheet_fallback=fallback)


# ------------------------------------------------------------------------------------------ validating


def _finish_chunk(checked: load._Checked, extra: pd.DataFrame, lang: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """:func:`riskmodel.data.load._finish` without the duplicates (found over the whole table later):
    the surviving rows (cells blanked), the problems (reason without the blanked suffix) and the
    positions rejected, all by the chunk's positions."""
    problems = pd.concat([p for p in (checked.problems, extra) if len(p)] or [checked.problems], ignore_index=True)
    blanked = load._split_cells(checked, problems)
    problems["blanked"] = blanked
    rejected_pos = pd.Index(problems.loc[~blanked, "pos"].astype("int64").unique())
    survivors = checked.frame.drop(index=rejected_pos)
    problems = problems.sort_values(["pos"], kind="stable").reset_index(drop=True)
    reasons = problems["reason"].to_numpy(dtype=object) if "reason" in problems else np.full(len(problems), np.nan, object)
    templates: dict[str, str] = {}

    def reason(code: str, params: dict) -> str:
        if code not in templates:
            templates[code] = text(f"data.reason.{code}", lang)
        return templates[code].format(**params)

    pos = problems["pos"].to_numpy(dtype="int64")
    out = pd.DataFrame({
        "pos": pos,
        "row": checked.raw.rows[pos].astype("int64"),
        "column": problems["column"].astype(str).to_numpy(),
        "value": load._cell_values(checked, problems, lang),
        "reason": [r if isinstance(r, str) else reason(code, params)
                   for r, code, params in zip(reasons, problems["code"], problems["params"])],
        "code": problems["code"].astype(str).to_numpy(),
        "cell": problems["blanked"].to_numpy(dtype=bool) & ~problems["pos"].isin(rejected_pos).to_numpy(),
    })
    return survivors, out, rejected_pos


def _key_text(checked: load._Checked, table: str, positions: np.ndarray) -> np.ndarray:
    """The key's cells as written, joined with ', ' (the value a duplicate shows), at ``positions``."""
    key = contract()["tables"][table].get("key") or []
    names = [c for c in key if c in checked.cells]
    if not names:
        return np.full(len(positions), "", dtype=object)
    texts = [load.parse.to_text(checked.cells[name].iloc[positions]).fillna("").astype(str) for name in names]
    joined = texts[0]
    for more in texts[1:]:
        joined = joined + ", " + more
    return joined.to_numpy(dtype=object)


def _duck_type(values: pd.Series) -> str:
    dtype = values.dtype
    if dtype == np.dtype(object):
        return "VARCHAR"
    if dtype.kind == "M":
        return "TIMESTAMP_NS"
    if isinstance(dtype, pd.BooleanDtype) or dtype == np.dtype(bool):
        return "BOOLEAN"
    if isinstance(dtype, pd.Int64Dtype) or dtype.kind in "iu":
        return "BIGINT"
    if dtype == np.float32:
        return "FLOAT"
    return "DOUBLE"


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def joined_reference(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> StudentReference:
    """The students ``ids`` (with the rejected ones' rows), by a join against the store's _reference tables
    (reads the whole register: what :class:`~riskmodel.data.sorted_reference.SortedReference` avoids)."""
    wanted = pd.DataFrame({"student_id": pd.unique(ids.dropna().astype(str))})
    con.register("ids_view", wanted)
    accepted = con.sql("SELECT r.student_id, r.enrollment_date, r.exit_date, r.row FROM _reference r "
                       "SEMI JOIN ids_view i ON r.student_id = i.student_id").to_df()
    rejected = con.sql("SELECT r.student_id, r.row FROM _reference_rejected r "
                       "SEMI JOIN ids_view i ON r.student_id = i.student_id").to_df()
    con.unregister("ids_view")
    accepted = accepted.set_index("student_id")
    for column in ("enrollment_date", "exit_date"):
        accepted[column] = pd.to_datetime(accepted[column]).astype("datetime64[ns]")
    accepted["row"] = accepted["row"].astype("int64")
    return StudentReference(accepted, pd.Series(rejected["row"].to_numpy(dtype=np.int64),
                                                index=rejected["student_id"].astype(str).to_numpy()))


class _Builder:
    """The staging database and the store being built; one table file at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, mapping: ColumnMapping, rows: int, key: bytes):
        self.con, self.settings, self.mapping, self.rows, self.key = con, settings, mapping, rows, key
        self.lang = settings.reports.lang
        self.columns: dict[str, list[str]] = {}  # staged table -> its data columns
        self.next_pos: dict[str, int] = {}
        self.summaries: list[dict] = []
        self.files: dict[str, dict] = {}
        self.notes: dict[str, list[str]] = {}
        self.segment = 0
        self._sorted: SortedReference | None | bool = None  # read at the first lookup, once _reference is made
        con.execute("CREATE TABLE stage._problems (seg INTEGER, pos BIGINT, seq BIGINT, \"table\" VARCHAR, "
                    "row BIGINT, \"column\" VARCHAR, value VARCHAR, reason VARCHAR, file VARCHAR, code VARCHAR, "
                    "cell BOOLEAN)")
        con.execute("CREATE TABLE stage._student_rejected (pos BIGINT, student_id VARCHAR, row BIGINT)")

    def _append(self, name: str, frame: pd.DataFrame, origin: str | None) -> None:
        if name not in self.columns:
            self.columns[name] = [c for c in frame.columns if not c.startswith("_")]
            spec = ", ".join(f"{_q(c)} {_duck_type(frame[c])}" for c in frame.columns)
            self.con.execute(f"CREATE TABLE stage.{_q(name)} ({spec})")
        if origin is not None and "origin" not in self.columns[name]:
            self.con.execute(f"ALTER TABLE stage.{_q(name)} ADD COLUMN origin VARCHAR DEFAULT ''")
            self.columns[name].append("origin")
        frame = frame.reset_index(drop=True)
        if origin is not None:
            frame = frame.assign(origin=origin)
        self.con.register("chunk_view", frame)
        names = ", ".join(_q(c) for c in frame.columns)
        self.con.execute(f"INSERT INTO stage.{_q(name)} ({names}) SELECT {names} FROM chunk_view")
        self.con.unregister("chunk_view")

    def _reference_for(self, ids: pd.Series) -> StudentReference:
        """The students ``ids`` (with the rejected ones' rows), looked up in the store's _reference: by binary
        search in the register read once (riskmodel.data.sorted_reference), or by a join where it cannot be."""
        if self._sorted is None:
            self._sorted = SortedReference.from_store(self.con) or False
        return self._sorted.lookup(ids) if self._sorted else joined_reference(self.con, ids)

    def stage_file(self, name: str, path: Path, *, origin: str | None = None, info_key: str | None = None) -> None:
        """Validate ``path`` (a file of table ``name``) chunk by chunk into the staging tables."""
        from riskmodel.data.pseudonym import pseudonymise

        self.segment += 1
        seg, lang, file = self.segment, self.lang, path.name
        start = self.next_pos.get(name, 0)
        read_rows, rejected_rows, id_counts, notes, sha = 0, 0, {}, None, None
        fmt, encoding = read.FORMATS.get(path.suffix.lower()), None
        grace = self.settings.data.enrolment_grace_days
        for raw in _chunks(path, name, self.settings, self.mapping, self.rows):
            checked = load._check_raw(raw, name, self.settings, self.mapping, id_counts=id_counts)
            encoding = raw.encoding
            if notes is None:
                notes = list(checked.notes)
            if name == "students" or "student_id" not in checked.frame.columns or \
                    contract()["tables"][name].get("references_students") is False:
                extra = pd.DataFrame(columns=PROBLEM_COLUMNS)
            else:
                extra = integrity_problems(name, checked.frame, self._reference_for(checked.frame["student_id"]),
                                           grace_days=grace, lang=lang, before_enrolment=origin is not None)
            survivors, problems, rejected_pos = _finish_chunk(checked, extra, lang)
            offset = start + read_rows
            if len(problems):
                problems.insert(0, "seg", seg)
                problems["pos"] += offset
                problems.insert(2, "seq", np.arange(len(problems), dtype=np.int64))
                problems.insert(3, "table", name)
                problems["file"] = file
                problems = problems[["seg", "pos", "seq", "table", "row", "column", "value", "reason", "file", "code",
                                     "cell"]]
                self.con.register("problems_view", problems)
                self.con.execute("INSERT INTO stage._problems SELECT * FROM problems_view")
                self.con.unregister("problems_view")
            if name == "students" and len(rejected_pos):
                at = np.sort(rejected_pos.to_numpy())
                ids = checked.frame["student_id"].to_numpy()[at]
                self.con.register("rej_view", pd.DataFrame({"pos": at + offset, "student_id": ids,
                                                            "row": checked.raw.rows[at].astype("int64")}))
                self.con.execute("INSERT INTO stage._student_rejected SELECT * FROM rej_view")
                self.con.unregister("rej_view")
            kept = survivors.index.to_numpy()
            if name == "students":
                survivors = survivors.assign(pseudonym=pseudonymise(survivors["student_id"], self.key))
            survivors = survivors.assign(_seg=np.int32(seg), _pos=kept.astype(np.int64) + offset,
                                         _row=checked.raw.rows[kept].astype(np.int64),
                                         _dupkey=_key_text(checked, name, kept))
            if len(survivors) or name not in self.columns:
                self._append(name, survivors, origin)
            read_rows += len(checked.frame)
            rejected_rows += len(rejected_pos)
            del checked, survivors, problems
        if name == "students" and read_rows == 0:
            raise ContractError(text("data.error.students_empty", lang, file=file))
        self.next_pos[name] = start + read_rows
        dups = self._duplicates(name, seg, file)
        # by reason: most frequent first, ties in the order they first occur in the file (as value_counts)
        by_reason = self.con.execute(
            "SELECT code, count(*) AS n FROM stage._problems WHERE seg = ? GROUP BY code "
            "ORDER BY n DESC, min(pos::HUGEINT * (1::HUGEINT << 42) + seq)", [seg]).fetchall()
        blanked = self.con.execute("SELECT count(*) FROM stage._problems WHERE seg = ? AND cell", [seg]).fetchall()[0][0]
        self.summaries.append({
            "table": name, "file": file, "rows_read": read_rows, "accepted": read_rows - rejected_rows - dups,
            "rejected": rejected_rows + dups,
            "by_reason": {text(f"data.code.{code}", lang): int(n) for code, n in by_reason},
            "blanked": int(blanked),
        })
        key = info_key or name
        self.files[key] = {"path": str(path), "sha256": sha or file_sha256(path), "format": fmt, "encoding": encoding,
                           "rows": read_rows}
        self.notes[key] = (notes or []) + load._id_notes_text(file, id_counts, lang)
        log.info("%s: %d rows read in chunks, %d accepted, %d rejected", name, read_rows, read_rows - rejected_rows - dups,
                 rejected_rows + dups)

    def _duplicates(self, name: str, seg: int, file: str) -> int:
        """Reject every later copy of a key among this file's surviving rows (:func:`riskmodel.data.schema.duplicates`)."""
        key = list(contract()["tables"][name].get("key") or [])
        if not key or name not in self.columns:
            return 0
        stage = f"stage.{_q(name)}"
        keys = ", ".join(_q(k) for k in key)
        join = " AND ".join(f"s.{_q(k)} IS NOT DISTINCT FROM f.{_q(k)}" for k in key)
        self.con.execute(f"""
            CREATE OR REPLACE TABLE stage._dups AS
            WITH f AS (SELECT {keys}, min(_pos) AS first_pos FROM {stage} WHERE _seg = {seg}
                       GROUP BY {keys} HAVING count(*) > 1)
            SELECT s._pos AS pos, s._row AS row, s._dupkey AS value, f.first_pos,
                   {"s.student_id" if name == "students" else "NULL::VARCHAR"} AS student_id
            FROM {stage} s JOIN f ON {join} WHERE s._seg = {seg} AND s._pos <> f.first_pos""")
        n = self.con.execute("SELECT count(*) FROM stage._dups").fetchall()[0][0]
        if not n:
            return 0
        template = text("data.reason.duplicate", self.lang)
        joined = ", ".join(key)
        dups = self.con.sql(f"""SELECT d.pos, d.row, d.value, d.first_pos, s._row AS first_row FROM stage._dups d
                                JOIN {stage} s ON s._pos = d.first_pos AND s._seg = {seg} ORDER BY d.pos""").to_df()
        problems = pd.DataFrame({
            "seg": seg, "pos": dups["pos"].to_numpy(dtype=np.int64), "seq": np.int64(1 << 40), "table": name,
            "row": dups["row"].to_numpy(dtype=np.int64), "column": ",".join(key), "value": dups["value"].to_numpy(),
            "reason": [template.format(first_pos=int(p), key=joined, first_row=int(r))
                       for p, r in zip(dups["pos"], dups["first_row"])],
            "file": file, "code": "duplicate", "cell": False,
        })
        self.con.register("problems_view", problems)
        self.con.execute("INSERT INTO stage._problems SELECT * FROM problems_view")
        self.con.unregister("problems_view")
        # a blanked cell of a row now rejected is reported as part of the rejected row
        self.con.execute("UPDATE stage._problems SET cell = false WHERE seg = ? AND cell AND pos IN "
                         "(SELECT pos FROM stage._dups)", [seg])
        if name == "students":
            self.con.execute("INSERT INTO stage._student_rejected SELECT pos, student_id, row FROM stage._dups")
        self.con.execute(f"DELETE FROM {stage} WHERE _seg = {seg} AND _pos IN (SELECT pos FROM stage._dups)")
        return int(n)

    def finish_students(self) -> None:
        """The register's table in the store and the students every other table is checked against."""
        cols = ", ".join(_q(c) for c in self.columns["students"])
        self.con.execute(f"""CREATE TABLE students AS SELECT {cols}, coalesce(school, 'None') AS _school, _pos
                             FROM stage.students ORDER BY _school, _pos""")
        self.con.execute("CREATE TABLE _reference AS SELECT student_id, enrollment_date, exit_date, _row AS row "
                         "FROM stage.students ORDER BY _pos")
        self.con.execute("CREATE TABLE _reference_rejected AS SELECT student_id, arg_min(row, pos) AS row "
                         "FROM stage._student_rejected WHERE student_id IS NOT NULL GROUP BY student_id "
                         "ORDER BY min(pos)")
        self.con.execute("DROP TABLE stage.students")

    def finish_table(self, name: str) -> bool:
        """Table ``name`` in the store from its staged rows; whether it is kept by school."""
        cols = ", ".join(f"s.{_q(c)}" for c in self.columns[name])
        if "student_id" in self.columns[name] and name != "calendar":
            self.con.execute(f"""CREATE TABLE {_q(name)} AS SELECT {cols}, k._school, s._pos FROM stage.{_q(name)} s
                                 LEFT JOIN (SELECT student_id, _school FROM students) k ON s.student_id = k.student_id
                                 ORDER BY k._school, s._pos""")
            keyed = True
        else:
            self.con.execute(f"CREATE TABLE {_q(name)} AS SELECT {cols} FROM stage.{_q(name)} s ORDER BY s._pos")
            keyed = False
        self.con.execute(f"DROP TABLE stage.{_q(name)}")
        return keyed


# ------------------------------------------------------------------------------------------ the whole


def _open_previous(path: Path, fingerprint: str, lang: str):
    """The previous store, when this version can reuse it (same fingerprint), else None."""
    from riskmodel.data.store import Store

    if not path.is_file():
        return None
    try:
        store = Store(path, lang=lang)
    except ContractError:
        log.info("%s: not a store this version can reuse; every file is read", path)
        return None
    if store.meta.get("fingerprint") != fingerprint:
        log.info("store validated with other settings, mapping, key or version: every file is read again")
        store.close()
        return None
    return store


def _rejected_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reindex(columns=list(REJECTED_DTYPES)).astype(REJECTED_DTYPES)


def validate_into_store(
    data_dir: str | Path, store_path: str | Path, *, settings: Settings, mapping: str | Path | ColumnMapping | None = None,
    chunk_rows: int | None = None,
) -> Ingested:
    """Validate ``data_dir`` into the store ``store_path`` chunk by chunk (module docstring).

    Raises
    ------
    ContractError
        As :func:`riskmodel.data.load.load_dataset` (a missing table or column, an unreadable file).
    OSError
        The store cannot be written (nothing is left at ``store_path``).
    """
    from riskmodel.data.pseudonym import load_key
    from riskmodel.data.store import STORE_VERSION

    data_dir, store_path = Path(data_dir), Path(store_path)
    lang = settings.reports.lang
    rows = int(chunk_rows or settings.data.chunk_rows)
    mapping = load._mapping(settings, mapping)
    key = load_key(settings.data.pseudonym_key_file, lang=lang)
    fingerprint = validation_fingerprint(settings, mapping, key)
    files, skipped, parts = load.table_files(data_dir, mapping, lang)
    handed = {name for name, _, _ in parts}
    checksum = load._checksum([*files.values(), *(path for _, _, path in parts)])
    order = ["students", *[t for t in contract()["tables"] if t in files and t != "students"]]
    previous = _open_previous(store_path, fingerprint, lang)
    try:
        stored_files = previous.meta.get("files", {}) if previous is not None else {}

        def unchanged(name: str) -> bool:
            return (previous is not None and name not in handed and previous.has(name)
                    and load.same_file(stored_files.get(name), files[name]))

        if previous is not None and previous.checksum == checksum and all(unchanged(n) for n in order):
            return _up_to_date(previous, order, files, lang)
        if previous is not None:
            previous.close()
        try:
            return _build(data_dir, store_path, files, skipped, parts, order, checksum, fingerprint, settings, mapping,
                          rows, key, unchanged, previous, STORE_VERSION)
        except _Unusable as unusable:
            return unusable.ingested
    finally:
        if previous is not None:
            previous.close()


def _up_to_date(previous, order: list[str], files: dict[str, Path], lang: str) -> Ingested:
    meta = previous.meta
    summary = pd.DataFrame(meta["summary"], columns=meta.get("summary_columns") or None)
    counts = summary.groupby("table")["accepted"].sum()
    rejected = _rejected_frame(previous.rejected())
    dataset = Dataset(tables={}, checksum=meta["checksum"],
                      files={**meta["files"], **{n: {**meta["files"][n], "path": str(files[n])} for n in order}},
                      rejected=rejected, summary=summary, skipped=tuple(meta["skipped"]))
    log.info("store up to date: no file read")
    return Ingested(dataset, int(counts.get("students", 0)), int(counts.get("screenings", 0)), reused=list(order),
                    up_to_date=True)


def _build(data_dir, store_path, files, skipped, parts, order, checksum, fingerprint, settings, mapping, rows, key,
           unchanged, previous, store_version) -> Ingested:
    from riskmodel.outputs import _flock, remove_stale

    # the staging folder is locked while it is used: one left by a killed process is removed by the next
    # validation of this store (atomic_path's stale-file sweep, `.<store>.*.tmp`)
    store_path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(store_path.parent, glob.escape(f".{store_path.name}.stage-") + "*.tmp")
    stage_dir = Path(tempfile.mkdtemp(prefix=f".{store_path.name}.stage-", suffix=".tmp", dir=store_path.parent))
    lock = os.open(stage_dir, os.O_RDONLY)
    _flock(lock)
    reused: list[str] = []
    try:
        with atomic_path(store_path) as tmp:
            tmp.unlink()
            con = duckdb.connect(str(tmp), config={"memory_limit": settings.data.store_memory,
                                                   "temp_directory": str(stage_dir / "spill"),
                                                   "preserve_insertion_order": True})
            try:
                con.execute(f"ATTACH '{_literal(stage_dir / 'stage.duckdb')}' AS stage")
                if previous is not None:
                    con.execute(f"ATTACH '{_literal(previous.path)}' AS old (READ_ONLY)")
                old_meta = previous.meta if previous is not None else {}
                builder = _Builder(con, settings, mapping, rows, key)
                by_school: list[str] = []
                same_students = previous is not None and unchanged("students")
                if same_students:
                    _copy(con, builder, "students", old_meta, files, reused)
                    con.execute("CREATE TABLE _reference AS SELECT * FROM old._reference")
                    con.execute("CREATE TABLE _reference_rejected AS SELECT * FROM old._reference_rejected")
                else:
                    builder.stage_file("students", files["students"])
                    builder.finish_students()
                    same_students = previous is not None and _same_reference(con)
                by_school.append("students")
                skipped += builder.notes["students"]
                for name in order[1:]:
                    if same_students and unchanged(name):
                        _copy(con, builder, name, old_meta, files, reused)
                        if name in old_meta.get("by_school", []):
                            by_school.append(name)
                    else:
                        builder.stage_file(name, files[name])
                        if name not in [n for n, _, _ in parts]:
                            if builder.finish_table(name):
                                by_school.append(name)
                    skipped += builder.notes[name]
                for name, packet, path in parts:  # another school's records of a student (docs/handover.md)
                    builder.stage_file(name, path, origin=f"handover-{packet}", info_key=path.stem)
                    skipped += builder.notes[path.stem]
                for name in dict.fromkeys(n for n, _, _ in parts):
                    if builder.finish_table(name):
                        by_school.append(name)
                _write_rejected(con, builder)
                summary = pd.DataFrame(builder.summaries, columns=_SUMMARY_COLUMNS)
                tables = [n for n in order] + [n for n in dict.fromkeys(n for n, _, _ in parts) if n not in order]
                meta = {
                    "store_version": store_version, "contract_version": contract()["version"], "checksum": checksum,
                    "files": builder.files, "summary": summary.to_dict(orient="records"),
                    "summary_columns": _SUMMARY_COLUMNS, "skipped": list(skipped), "tables": tables,
                    "fingerprint": fingerprint, "notes": builder.notes, "by_school": by_school,
                }
                from riskmodel.data.store import _json_default

                con.execute("CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
                con.executemany("INSERT INTO _meta VALUES (?, ?)",
                                [(k, json.dumps(v, ensure_ascii=False, default=_json_default)) for k, v in meta.items()])
                rejected = _rejected_frame(con.sql('SELECT * FROM "_rejected"').to_df())
                n_students = con.execute("SELECT count(*) FROM students").fetchall()[0][0]
                n_screenings = con.execute("SELECT count(*) FROM screenings").fetchall()[0][0]
                if not n_students or not n_screenings:  # unusable: riskmodel validate says why; no store
                    raise _Unusable(Ingested(Dataset(tables={}, checksum=checksum, files=builder.files,
                                                     rejected=rejected, summary=summary, skipped=tuple(skipped)),
                                             int(n_students), int(n_screenings), reused=reused, written=False))
                unscored = con.execute("SELECT count(*) FROM _reference_rejected r ANTI JOIN _reference a "
                                       "ON r.student_id = a.student_id").fetchall()[0][0]
                con.execute("DETACH stage")
                if previous is not None:
                    con.execute("DETACH old")
                con.execute("CHECKPOINT")
            finally:
                con.close()
            Path(f"{tmp}.wal").unlink(missing_ok=True)
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
        os.close(lock)
    if unscored:
        log.warning("%d students are not scored: their rows in the students table were rejected (see the "
                    "rejected rows); none of their records are read until the rows are fixed", unscored)
    log.info("store written in chunks: %d tables (%d taken unchanged from the store), %d rejected rows", len(tables),
             len(reused), int(summary["rejected"].sum()))
    dataset = Dataset(tables={}, checksum=checksum, files=builder.files, rejected=rejected, summary=summary,
                      skipped=tuple(skipped))
    return Ingested(dataset, int(n_students), int(n_screenings), reused=reused)


def _same_reference(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the students just validated are the ones the previous store's tables were checked against."""
    try:
        for table, cols in (("_reference", "student_id, enrollment_date, exit_date, row"),
                            ("_reference_rejected", "student_id, row")):
            differ = con.execute(f"SELECT (SELECT count(*) FROM (SELECT {cols} FROM {table} EXCEPT ALL "
                                 f"SELECT {cols} FROM old.{table})) + (SELECT count(*) FROM (SELECT {cols} FROM "
                                 f"old.{table} EXCEPT ALL SELECT {cols} FROM {table}))").fetchall()[0][0]
            if differ:
                log.info("the students the tables are checked against changed: every file is read again")
                return False
    except duckdb.Error:
        return False
    return True


def _copy(con, builder: _Builder, name: str, meta: dict, files: dict[str, Path], reused: list[str]) -> None:
    """Table ``name`` taken from the previous store (its file unchanged): rows, rejected rows, summary, notes."""
    info = meta["files"][name]
    file = Path(info["path"]).name
    if name != "students" and name in meta.get("by_school", []):  # its students' schools may have changed
        cols = ", ".join(f"o.{_q(c)}" for c in con.sql(f"SELECT * FROM old.{_q(name)} LIMIT 0").columns
                         if c not in ("_school", "_pos"))
        con.execute(f"""CREATE TABLE {_q(name)} AS SELECT {cols}, k._school, o._pos FROM old.{_q(name)} o
                        LEFT JOIN (SELECT student_id, _school FROM students) k ON o.student_id = k.student_id
                        ORDER BY k._school, o._pos""")
    else:
        con.execute(f"CREATE TABLE {_q(name)} AS SELECT * FROM old.{_q(name)}")
    builder.segment += 1
    con.execute("INSERT INTO stage._problems SELECT ?, rowid AS pos, 0, \"table\", row, \"column\", "
                "value, reason, file, '', action = 'cell_blanked' FROM old._rejected WHERE \"table\" = ? AND file = ?",
                [builder.segment, name, file])
    # the reason of a blanked cell carries the suffix already: written back as it was
    con.execute("UPDATE stage._problems SET code = 'copied' WHERE seg = ?", [builder.segment])
    summary = next(r for r in meta["summary"] if r["table"] == name and r["file"] == file)
    builder.summaries.append(dict(summary))
    builder.files[name] = {**info, "path": str(files[name])}
    builder.notes[name] = list(meta.get("notes", {}).get(name, []))
    reused.append(name)


def _write_rejected(con: duckdb.DuckDBPyConnection, builder: _Builder) -> None:
    suffix = text("data.blanked", builder.lang).replace("'", "''")
    con.execute(f"""CREATE TABLE "_rejected" AS SELECT "table", row, "column", value,
                    CASE WHEN cell AND code <> 'copied' THEN reason || '{suffix}' ELSE reason END AS reason, file,
                    CASE WHEN cell THEN 'cell_blanked' ELSE 'row_rejected' END AS action
                    FROM stage._problems ORDER BY seg, pos, seq""")
