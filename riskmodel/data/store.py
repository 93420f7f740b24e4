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
from riskmodel.data.load import REJECTED_DTYPES
from riskmodel.errors import ContractError
from riskmodel.i18n import text
from riskmodel.outputs import atomic_path

__all__ = ["STORE_VERSION", "write_store", "open_store", "canonical_types"]

log = logging.getLogger(__name__)

STORE_VERSION = 1
_DTYPES = {"string": object, "enum": object, "date": "datetime64[ns]", "bool": "boolean", "int": "Int64",
           "number": "float64"}


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


def write_store(dataset: Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to the DuckDB file ``path`` atomically (mode 0600); return ``path``.

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
    }
    with atomic_path(path) as tmp:
        tmp.unlink()  # DuckDB creates its own file; an empty one is not a database
        con = duckdb.connect(str(tmp))
        try:
            for name, frame in {**dataset.tables, "_rejected": dataset.rejected}.items():
                con.register("frame_view", frame.reset_index(drop=True))
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM frame_view')
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


def _read(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    # through Arrow: about twice as fast as .df() for wide tables; nullable flags and counts stay nullable
    table = con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
    return table.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype(), pa.int64(): pd.Int64Dtype()}.get)


def open_store(path: str | Path, *, lang: str = "en") -> Dataset:
    """The :class:`Dataset` written by :func:`write_store`, tables in canonical form.

    Raises
    ------
    ContractError
        When ``path`` does not exist or is not a riskmodel store.
    """
    path = Path(path)
    if not path.is_file():
        raise ContractError(text("data.error.no_store", lang, path=path))
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise ContractError(text("data.error.not_duckdb", lang, path=path, detail=exc)) from None
    try:
        try:
            meta = {k: json.loads(v) for k, v in con.execute("SELECT key, value FROM _meta").fetchall()}
        except duckdb.Error:
            raise ContractError(text("data.error.not_store", lang, path=path)) from None
        if meta.get("store_version") != STORE_VERSION:
            raise ContractError(text("data.error.store_version", lang, path=path, found=meta.get("store_version"),
                                     expected=STORE_VERSION))
        tables = {name: canonical_types(_read(con, name), name) for name in meta["tables"]}
        rejected = _read(con, "_rejected")
    finally:
        con.close()
    # an empty rejected table comes back with guessed column types: give it its own
    # (a store written before `file` and `action` were recorded has them empty)
    rejected = rejected.reindex(columns=list(REJECTED_DTYPES)).astype(REJECTED_DTYPES)
    summary = pd.DataFrame(meta["summary"], columns=meta.get("summary_columns") or None)
    return Dataset(tables=tables, checksum=meta["checksum"], files=meta["files"], rejected=rejected,
                   summary=summary, skipped=tuple(meta["skipped"]))
