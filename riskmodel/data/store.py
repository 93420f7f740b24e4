"""The embedded store: a validated :class:`Dataset` in one DuckDB file, reopened in about a second.

One table per contract table (canonical columns), ``_rejected`` (the rejected rows) and ``_meta``
(``key, value`` with JSON values: ``checksum``, ``files``, ``summary``, ``skipped``, ``tables``,
``store_version``, ``contract_version``). The file is built under a temporary name beside the target
and renamed into place (mode 0600), so a reader never sees half a store.

Example
-------
>>> import tempfile, pathlib, pandas as pd
>>> from riskmodel.data.dataset import Dataset
>>> students = pd.DataFrame({"student_id": ["1"], "enrollment_date": pd.to_datetime(["2024-09-01"])})
>>> path = write_store(Dataset({"students": students}, checksum="abc"), pathlib.Path(tempfile.mkdtemp()) / "d.duckdb")
>>> back = open_store(path)
>>> back.checksum, back.tables["students"]["student_id"].tolist()
('abc', ['1'])
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from riskmodel.data.dataset import Dataset, contract
from riskmodel.data.integrity import StudentReference
from riskmodel.data.load import REJECTED_DTYPES
from riskmodel.errors import ContractError, PreflightError
from riskmodel.i18n import text
from riskmodel.outputs import atomic_path
from riskmodel.vocab import DATED_BY

__all__ = ["STORE_VERSION", "write_store", "open_store", "canonical_types", "is_store", "Store", "check_memory_for",
           "WHOLE_READ_FACTOR"]

log = logging.getLogger(__name__)

STORE_VERSION = 2  # 2: the _school and _pos keys, the checked students and per-file reuse (issue 17)
# DuckDB's memory for a reading connection. Its default (80% of the machine) lets the buffer pool keep
# every block read: over a pass through a store's batches of schools, the whole file (1.8 GB at two
# million students), on top of training's matrix. Each batch is read once per pass, so the cache buys
# nothing; the results handed to pandas are not bounded by it (docs/benchmarks.md, training memory).
READ_MEMORY_LIMIT = "512MB"
_DTYPES = {"string": object, "enum": object, "date": "datetime64[ns]", "bool": "boolean", "int": "Int64",
           "number": "float64"}


def is_store(data: str | Path) -> bool:
    """Whether ``data`` names a store file (``.duckdb`` or ``.db``) rather than a data folder."""
    data = Path(data)
    return data.is_file() and data.suffix.lower() in (".duckdb", ".db")


def canonical_types(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """``frame`` with the canonical dtype of every column the contract (or the item layout) names."""
    columns = contract()["tables"][table]["columns"]
    out = {}
    for name in frame.columns:
        values = frame[name]
        if name in columns:
            dtype = _DTYPES[columns[name]["type"]]
        elif name.startswith("item_"):
            dtype = "float32"
        elif name == "pseudonym":
            dtype = object
        else:
            out[name] = values
            continue
        if dtype is object:
            if values.dtype != object or values.isna().any():
                values = values.astype(object).where(values.notna(), None)
        elif values.dtype != dtype:  # DuckDB gives most types back as they went in: convert only the rest
            values = pd.to_datetime(values).astype(dtype) if dtype == "datetime64[ns]" else values.astype(dtype)
        out[name] = values
    return pd.DataFrame(out, index=frame.index)


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)


def _school_keys(dataset: Dataset) -> dict[str, np.ndarray | None]:
    """Per table, the school of each row (by its student), or None for a table not kept by school."""
    students = dataset.tables.get("students")
    if students is None or "school" not in students.columns:
        return {name: None for name in dataset.tables}
    school_of = pd.Series(students["school"].astype(str).to_numpy(), index=students["student_id"].astype(str))
    school_of = school_of[~school_of.index.duplicated()]
    keys: dict[str, np.ndarray | None] = {}
    for name, frame in dataset.tables.items():
        if name == "students":
            keys[name] = students["school"].astype(str).to_numpy(dtype=object)
        elif "student_id" in frame.columns and name != "calendar":
            keys[name] = frame["student_id"].astype(str).map(school_of).to_numpy(dtype=object)
        else:
            keys[name] = None
    return keys


def write_store(dataset: Dataset, path: str | Path, *, reference: StudentReference | None = None,
                fingerprint: str = "", notes: dict[str, list[str]] | None = None) -> Path:
    """Write ``dataset`` to the DuckDB file ``path`` atomically (mode 0600); return ``path``.

    Every table holding ``student_id`` (and ``students``) gets two key columns: ``_school`` (the
    student's school) and ``_pos`` (the row's place in the validated table); rows are stored sorted
    by them, so reading one school touches only that school's row groups (DuckDB's min-max zone maps
    skip the others) and reading a table whole in ``_pos`` order gives it back exactly as validated.
    ``reference`` (the students the other tables were checked against), ``fingerprint`` (what the
    validation depended on besides the files) and ``notes`` (the loader's notes per table) let
    ``riskmodel validate --store`` reuse unchanged files (:mod:`riskmodel.data.incremental`).

    An error while writing (folder not writable, disk full) leaves nothing at ``path``.
    """
    path = Path(path)
    meta = {
        "store_version": STORE_VERSION,
        "contract_version": contract()["version"],
        "checksum": dataset.checksum,
        "files": dataset.files,
        "summary": dataset.summary.to_dict(orient="records") if len(dataset.summary) else [],
        "summary_columns": list(dataset.summary.columns),
        "skipped": list(dataset.skipped),
        "tables": list(dataset.tables),
        "fingerprint": fingerprint,
        "notes": notes or {},
        "by_school": [],
    }
    keys = _school_keys(dataset)
    with atomic_path(path) as tmp:
        tmp.unlink()  # DuckDB creates its own file; an empty one is not a database
        con = duckdb.connect(str(tmp))
        try:
            for name, frame in {**dataset.tables, "_rejected": dataset.rejected}.items():
                con.register("frame_view", frame.reset_index(drop=True))
                if keys.get(name) is not None:  # the keys beside the frame, without copying it
                    con.register("key_view", pd.DataFrame({"_school": keys[name],
                                                           "_pos": np.arange(len(frame), dtype=np.int64)}))
                    con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame_view POSITIONAL JOIN key_view '
                                "ORDER BY _school, _pos")
                    con.unregister("key_view")
                    meta["by_school"].append(name)
                else:
                    con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame_view')
                con.unregister("frame_view")
            if reference is not None:
                accepted = reference.accepted.reset_index()
                con.register("frame_view", accepted)
                con.execute("CREATE TABLE _reference AS SELECT * FROM frame_view")
                con.unregister("frame_view")
                rejected_rows = pd.DataFrame({"student_id": reference.rejected_rows.index.astype(str),
                                              "row": reference.rejected_rows.to_numpy(dtype=np.int64)})
                con.register("frame_view", rejected_rows)
                con.execute("CREATE TABLE _reference_rejected AS SELECT * FROM frame_view")
                con.unregister("frame_view")
            con.execute("CREATE TABLE _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.executemany("INSERT INTO _meta VALUES (?, ?)",
                            [(k, json.dumps(v, ensure_ascii=False, default=_json_default)) for k, v in meta.items()])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        Path(f"{tmp}.wal").unlink(missing_ok=True)
    log.info("store written: %d tables", len(dataset.tables))
    return path


def _read(con: duckdb.DuckDBPyConnection, name: str, *, where: str = "", params: list | None = None,
          keyed: bool = False) -> pd.DataFrame:
    # through Arrow: about twice as fast as .df() for wide tables; nullable flags and counts stay nullable
    query = (f'SELECT * EXCLUDE (_school, _pos) FROM "{name}" {where} ORDER BY _pos' if keyed
             else f'SELECT * FROM "{name}"')
    table = con.sql(query, params=params or None).to_arrow_table()
    return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype()}.get)


def _connect(path: str | Path, lang: str) -> tuple[duckdb.DuckDBPyConnection, dict]:
    """A read-only connection to the store ``path`` and its ``_meta``; ContractError if it is none."""
    path = Path(path)
    if not path.is_file():
        raise ContractError(text("data.error.no_store", lang, path=path))
    try:
        con = duckdb.connect(str(path), read_only=True, config={"memory_limit": READ_MEMORY_LIMIT})
    except duckdb.Error as exc:
        raise ContractError(text("data.error.not_duckdb", lang, path=path, detail=exc)) from None
    try:
        meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM _meta").fetchall()}
    except duckdb.Error:
        con.close()
        raise ContractError(text("data.error.not_store", lang, path=path)) from None
    if meta.get("store_version") != STORE_VERSION:
        con.close()
        raise ContractError(text("data.error.store_version", lang, path=path, found=meta.get("store_version"),
                                 expected=STORE_VERSION))
    return con, meta


def _rejected(con: duckdb.DuckDBPyConnection, meta: dict) -> pd.DataFrame:
    rejected = _read(con, "_rejected", keyed="_rejected" in meta.get("by_school", []))
    # an empty rejected table comes back with guessed column types: give it its own
    # (a store written before `file` and `action` were recorded has them empty)
    return rejected.reindex(columns=list(REJECTED_DTYPES)).astype(REJECTED_DTYPES)


def _summary(meta: dict) -> pd.DataFrame:
    return pd.DataFrame(meta["summary"], columns=meta.get("summary_columns") or None)


# memory to read a store whole (:func:`open_store`) per byte of the file: measured 1.68 GB at the peak for a
# 102 MB store of 198,800 register students (16x: DuckDB's compressed columns become pandas' canonical types)
WHOLE_READ_FACTOR = 16


def check_memory_for(path: str | Path) -> None:
    """Refuse, before reading anything, a store this machine's free memory could not hold whole.

    A run on one machine reads its store whole; a province's store (1.8 GB at two million enrolled)
    would need about 29 GB and end in the kernel's out-of-memory kill after minutes of reading, with
    nothing said. ``score`` and ``train`` read a store school by school and never come here.

    Raises
    ------
    PreflightError
        Naming the store, the memory it needs and has, and what to do (exit status 3).
    """
    import psutil

    size = Path(path).stat().st_size
    need, free = size * WHOLE_READ_FACTOR, psutil.virtual_memory().available
    if need > free:
        raise PreflightError(
            f"{path}: reading this store whole needs about {need / 2**30:.1f} GB of memory ({WHOLE_READ_FACTOR} times "
            f"its {size / 2**20:,.0f} MB on disk) and this machine has {free / 2**30:.1f} GB free. Run the month "
            "school by school with `riskmodel run ... --cluster local:2` (docs/scale.md; `riskmodel score` and "
            "`riskmodel train` always read a store that way), or use a machine with more memory.")


def open_store(path: str | Path, *, lang: str = "en") -> Dataset:
    """The :class:`Dataset` written by :func:`write_store`, tables in canonical form (every school).

    Raises
    ------
    ContractError
        When ``path`` does not exist or is not a riskmodel store.
    PreflightError
        When this machine's free memory could not hold it (:func:`check_memory_for`).
    """
    if Path(path).is_file():
        check_memory_for(path)
    con, meta = _connect(path, lang)
    try:
        keyed = set(meta.get("by_school", []))
        tables = {name: canonical_types(_read(con, name, keyed=name in keyed), name) for name in meta["tables"]}
        rejected = _rejected(con, meta)
    finally:
        con.close()
    return Dataset(tables=tables, checksum=meta["checksum"], files=meta["files"], rejected=rejected,
                   summary=_summary(meta), skipped=tuple(meta["skipped"]))


class Store:
    """A store opened for reading school by school (one connection for all of them); a context manager.

    Example
    -------
    >>> # with Store("district.duckdb") as store:
    >>> #     for school in store.schools():
    >>> #         part = store.school(school)   # a Dataset of that school alone
    """

    def __init__(self, path: str | Path, *, lang: str = "en"):
        self.path = Path(path)
        self._con, self.meta = _connect(self.path, lang)
        self._keyed = set(self.meta.get("by_school", []))

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    @property
    def checksum(self) -> str:
        """The data's identity (the validated files' checksum)."""
        return self.meta["checksum"]

    def schools(self) -> list[str]:
        """The schools of the register, sorted by name as the list orders them."""
        rows = self._con.execute('SELECT DISTINCT _school FROM "students" WHERE _school IS NOT NULL').fetchall()
        return sorted(str(r[0]) for r in rows)

    def has(self, name: str) -> bool:
        """Whether the store holds table ``name``."""
        return name in self.meta["tables"]

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        """A read-only SQL query over the store (for aggregates: counts, dates, the register's keys)."""
        return self._con.sql(sql, params=params or None).to_arrow_table().to_pandas()

    def school(self, school: str) -> Dataset:
        """The :class:`Dataset` of one school: its students and their records, rows in validated order.

        The calendar keeps every school's rows (``school`` empty) and this one's. ``checksum``,
        ``files``, ``summary`` and ``skipped`` are the whole store's; ``rejected`` is left empty (it is
        the whole data's: :func:`open_store` or :meth:`rejected`).
        """
        return self.schools_between(school, school)

    def schools_between(self, first: str, last: str, tables: tuple[str, ...] | None = None) -> Dataset:
        """The :class:`Dataset` of the schools ``first`` .. ``last`` (in :meth:`schools` order, both included):
        one query per table for a batch of small schools (split it with
        :func:`riskmodel.warning.warning_list.split_by_school`); only the tables ``tables`` when given. See
        :meth:`school`."""
        read = {}
        for name in self.meta["tables"]:
            if tables is not None and name not in tables:
                continue
            if name in self._keyed:
                frame = _read(self._con, name, where="WHERE _school BETWEEN ? AND ?", params=[str(first), str(last)],
                              keyed=True)
            else:
                frame = _read(self._con, name)
                if name == "calendar" and "school" in frame.columns:
                    school = frame["school"].astype(str)
                    frame = frame.loc[frame["school"].isna() | ((school >= str(first)) & (school <= str(last)))]
                    frame = frame.reset_index(drop=True)
            read[name] = canonical_types(frame, name)
        return Dataset(tables=read, checksum=self.meta["checksum"], files=self.meta["files"],
                       summary=_summary(self.meta), skipped=tuple(self.meta["skipped"]))

    def batches(self, limit: int, sizes: pd.Series | None = None) -> list[tuple[str, str]]:
        """Consecutive runs of schools ``(first, last)`` (in :meth:`schools` order) of at most ``limit`` register
        students each, a larger school alone: read each with :meth:`schools_between`."""
        batches, first, total, previous = [], None, 0, None
        for school, n in (self.school_sizes() if sizes is None else sizes).items():
            if first is not None and total + n > limit:
                batches.append((first, previous))
                first, total = None, 0
            if first is None:
                first = school
            total += int(n)
            previous = school
        if first is not None:
            batches.append((first, previous))
        return batches

    def digest(self) -> Dataset:
        """A small stand-in for the whole data, enough for the checks made on it as a whole (scoring, training):
        the register's enrolment dates and stages, and of every other table its earliest and latest dated rows
        (or, undated, one row)."""
        tables = {"students": self.table("students", ["student_id", "enrollment_date", "exit_date", "stage"])}
        for name in self.meta["tables"]:
            if name == "students":
                continue
            column = DATED_BY.get(name)
            if column is None:
                tables[name] = self.query(f'SELECT * FROM "{name}" LIMIT 1')
                continue
            bounds = self.query(f'SELECT min("{column}") AS lo, max("{column}") AS hi, count(*) AS n FROM "{name}"')
            lo, hi, n = bounds.iloc[0]
            values = [] if not n else [lo, hi]
            tables[name] = pd.DataFrame({column: pd.to_datetime(pd.Series(values, dtype=object))
                                         .astype("datetime64[ns]")})
        return Dataset(tables=tables, checksum=self.checksum, files=self.meta.get("files", {}))

    def school_sizes(self) -> pd.Series:
        """Students in the register per school, in :meth:`schools` order."""
        sizes = self.query('SELECT _school AS school, count(*) AS n FROM "students" WHERE _school IS NOT NULL '
                           "GROUP BY _school")
        sizes = pd.Series(sizes["n"].to_numpy(dtype=np.int64), index=sizes["school"].astype(str).to_numpy())
        return sizes.loc[sorted(sizes.index)]

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Table ``name`` of every school (or only ``columns`` of it), in validated order."""
        keyed = name in self._keyed
        if columns is None:
            return canonical_types(_read(self._con, name, keyed=keyed), name)
        cols = ", ".join(f'"{c}"' for c in columns)
        order = " ORDER BY _pos" if keyed else ""
        frame = self._con.sql(f'SELECT {cols} FROM "{name}"{order}').to_arrow_table().to_pandas(
            types_mapper={pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype()}.get)
        return canonical_types(frame, name)

    def rejected(self) -> pd.DataFrame:
        """Every rejected row of the validation."""
        return _rejected(self._con, self.meta)

    def reference(self) -> StudentReference | None:
        """The students the other tables were checked against (None in a store written without it)."""
        try:
            accepted = self._con.sql("SELECT * FROM _reference").to_arrow_table().to_pandas()
            rejected = self._con.sql("SELECT * FROM _reference_rejected").to_arrow_table().to_pandas()
        except duckdb.Error:
            return None
        accepted = accepted.set_index("student_id")
        accepted["row"] = accepted["row"].astype("int64")
        for column in ("enrollment_date", "exit_date"):
            accepted[column] = pd.to_datetime(accepted[column]).astype("datetime64[ns]")
        rows = pd.Series(rejected["row"].to_numpy(dtype=np.int64), index=rejected["student_id"].astype(str).to_numpy())
        return StudentReference(accepted, rows)
