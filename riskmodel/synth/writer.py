"""Write a synthetic cohort as a centre would hand it in: mixed formats and encodings, byte-stable.

=================  ==========================  ==========================================
table              file                        why this format
=================  ==========================  ==========================================
students           students.csv, GB18030       the register, exported from office software
screenings         screenings.parquet          large; the survey platform's export
attendance         attendance.parquet          large
observations       observations.csv, UTF-8+BOM Excel-friendly log with Chinese notes
life_events        life_events.csv, UTF-8      plain
academics          academics.csv, UTF-8+BOM    from the academic office
counselling        counselling.csv, GB18030    the centre's own records
reviews            reviews.csv, UTF-8+BOM      the review meetings' record (研判记录) as Excel saves it
                                               ("CSV UTF-8"): Chinese headers and values (学号, 研判日期,
                                               预警等级 一级 ..., 状态 随访关注 ..., 研判人 辅导员 ...)
outcomes           outcomes.csv, UTF-8         training only
calendar           calendar.xlsx               typed by hand in Excel
=================  ==========================  ==========================================

Headers are the contract's English names; dates ISO ``YYYY-MM-DD`` (real date cells in Parquet and
XLSX). The same cohort gives the same bytes: CSV is plain text; Parquet carries no timestamps (pyarrow,
no pandas index; its metadata names the library versions, so bytes are stable within one environment);
the XLSX is re-zipped with fixed entry times and fixed document-property dates.
Truth goes to ``_truth/`` as Parquet (the loader ignores folders whose name starts with ``_``).
Every file is written through :mod:`riskmodel.outputs` (atomic, mode 0600).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskmodel.outputs import private_dir, write_bytes

__all__ = ["FILES", "write_table", "write_truth", "xlsx_bytes", "parquet_bytes", "csv_bytes", "invented_names",
           "TableAppender"]

# table -> (file name, format, encoding)
FILES: dict[str, tuple[str, str, str | None]] = {
    "students": ("students.csv", "csv", "gb18030"),
    "screenings": ("screenings.parquet", "parquet", None),
    "attendance": ("attendance.parquet", "parquet", None),
    "observations": ("observations.csv", "csv", "utf-8-sig"),
    "life_events": ("life_events.csv", "csv", "utf-8"),
    "academics": ("academics.csv", "csv", "utf-8-sig"),
    "counselling": ("counselling.csv", "csv", "gb18030"),
    # CSV, not XLSX: openpyxl took 36 s to write the demo's 35,000 decisions (and every run would read them back)
    "reviews": ("reviews.csv", "csv", "utf-8-sig"),
    "outcomes": ("outcomes.csv", "csv", "utf-8"),
    "calendar": ("calendar.xlsx", "xlsx", None),
}
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
_GIVEN = "子涵浩宇欣怡梓轩雨晨佳琪思博文俊嘉一诺明阳睿泽可馨悦然若心语晓天昊瑞宁安乐静雅婷伟杰鑫磊颖"
# the review sheet as centres keep it: Chinese headers and values, which the shipped mapping
# (riskmodel/data/mappings/zh_common.yaml) maps back to the contract's names
REVIEW_HEADERS = {"student_id": "学号", "date": "研判日期", "level": "预警等级", "status": "状态",
                  "next_review": "下次研判日期", "reviewer_role": "研判人", "reason": "原因", "note": "备注"}
_FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
_FIXED_STAMP = "2020-01-01T00:00:00Z"


def _date_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]


def csv_bytes(frame: pd.DataFrame, encoding: str) -> bytes:
    """CSV text with ISO dates, empty cells for missing values, ``\\n`` line ends."""
    out = frame.copy()
    for column in _date_columns(out):
        out[column] = out[column].dt.strftime("%Y-%m-%d")
    for column in out.columns:
        if isinstance(out[column].dtype, pd.BooleanDtype):
            out[column] = out[column].map({True: "true", False: "false"}, na_action="ignore")
    return out.to_csv(index=False, lineterminator="\n").encode(encoding)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet with date32 dates and no pandas index (deterministic: no timestamps inside)."""
    out = frame.copy()
    for column in _date_columns(out):
        out[column] = out[column].dt.date
    table = pa.Table.from_pandas(out, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def xlsx_bytes(frame: pd.DataFrame) -> bytes:
    """An XLSX workbook (one sheet) whose bytes depend on the data only."""
    out = frame.copy()
    for column in _date_columns(out):
        out[column] = out[column].dt.date
    raw = io.BytesIO()
    with pd.ExcelWriter(raw, engine="openpyxl") as writer:
        out.to_excel(writer, index=False, sheet_name="Sheet1")
    fixed = io.BytesIO()
    with zipfile.ZipFile(raw) as source, zipfile.ZipFile(fixed, "w", zipfile.ZIP_DEFLATED) as target:
        for name in sorted(source.namelist()):
            data = source.read(name)
            if name == "docProps/core.xml":  # openpyxl stamps created/modified with the clock
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                              rb"\g<1>" + _FIXED_STAMP.encode() + rb"\g<2>", data)
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            target.writestr(info, data)
    return fixed.getvalue()


def invented_names(n: int, seed: int) -> np.ndarray:
    """Invented two- or three-character names, fixed by ``seed``: exports carry a name column (the
    loader must drop it); the in-memory tables never hold one.

    Example
    -------
    >>> invented_names(3, 0).tolist() == invented_names(3, 0).tolist()
    True
    """
    rng = np.random.default_rng([seed, 1])
    surname = np.asarray(list(_SURNAMES), dtype=object)[rng.integers(0, len(_SURNAMES), n)]
    given = np.asarray(list(_GIVEN), dtype=object)[rng.integers(0, len(_GIVEN), (n, 2))]
    return surname + given[:, 0] + np.where(rng.random(n) < 0.7, given[:, 1], "")


def _as_exported(frame: pd.DataFrame, table: str, seed: int, *, keep_empty: bool = False) -> pd.DataFrame:
    """What the centre's export holds: no all-empty optional column (unless ``keep_empty``: a district
    written school by school keeps every column, so that its parts agree); names; integer item answers."""
    if not keep_empty:
        frame = frame.loc[:, frame.notna().any(axis=0) | (len(frame) == 0)]
    if table == "students":
        frame = frame.copy()
        frame.insert(1, "name", invented_names(len(frame), seed))
    elif table == "screenings":
        items = [c for c in frame.columns if c.startswith("item_")]
        answers = frame[items].to_numpy(np.float32)
        missing = np.isnan(answers)
        values = np.where(missing, 0, answers).astype(np.int8)
        integer = pd.DataFrame({c: pd.arrays.IntegerArray(values[:, j], missing[:, j]) for j, c in enumerate(items)},
                               index=frame.index)
        frame = pd.concat([frame.drop(columns=items), integer], axis=1)[list(frame.columns)]
    elif table == "reviews":
        from riskmodel.synth.reviews import LEVEL_ZH, ROLE_ZH, STATUS_ZH

        frame = frame.copy()
        for column, words in (("level", LEVEL_ZH), ("status", STATUS_ZH), ("reviewer_role", ROLE_ZH)):
            if column in frame.columns:
                frame[column] = frame[column].map(words, na_action="ignore")
        frame = frame.rename(columns=REVIEW_HEADERS)
    return frame


def write_table(frame: pd.DataFrame, folder: Path, table: str, *, seed: int = 0) -> Path:
    """Write ``table`` into ``folder`` in its format (``FILES``), atomically, mode 0600."""
    frame = _as_exported(frame, table, seed)
    name, kind, encoding = FILES[table]
    data = {"csv": lambda: csv_bytes(frame, encoding or "utf-8"), "parquet": lambda: parquet_bytes(frame),
            "xlsx": lambda: xlsx_bytes(frame)}[kind]()
    return write_bytes(Path(folder) / name, data)


def write_truth(truth: dict[str, pd.DataFrame], folder: Path, *, part: int | None = None) -> None:
    """Each truth table as ``_truth/<name>.parquet`` (or, for school ``part`` of a district written school by
    school, ``_truth/<name>/<part>.parquet``: a folder of parts pandas and pyarrow read as one table)."""
    target = private_dir(Path(folder) / "_truth")
    for name, frame in truth.items():
        if part is None:
            write_bytes(target / f"{name}.parquet", parquet_bytes(frame))
        else:
            write_bytes(private_dir(target / name) / f"{part:05d}.parquet", parquet_bytes(frame))


def _null_free(schema: pa.Schema, frame: pd.DataFrame) -> pa.Schema:
    """``schema`` with each all-empty (null-typed) column given the type its pandas dtype means."""
    fields = []
    for field in schema:
        if pa.types.is_null(field.type):
            dtype = frame[field.name].dtype
            kind = (pa.date32() if pd.api.types.is_datetime64_any_dtype(dtype)
                    else pa.bool_() if isinstance(dtype, pd.BooleanDtype)
                    else pa.int64() if pd.api.types.is_integer_dtype(dtype)
                    else pa.float64() if pd.api.types.is_float_dtype(dtype) else pa.string())
            field = pa.field(field.name, kind)
        fields.append(field)
    return pa.schema(fields)


class TableAppender:
    """One table's file written part by part (a district school by school): the same format and encoding
    as :func:`write_table`, every column kept. CSV parts are appended after one header (and one BOM);
    Parquet parts are row groups of one file whose schema the first part fixes. Call :meth:`close`."""

    def __init__(self, folder: Path, table: str):
        self.table = table
        self.name, self.kind, self.encoding = FILES[table]
        if self.kind == "xlsx":
            raise ValueError(f"{table}: an XLSX table is written whole (write_table), not appended")
        self.path = Path(folder) / self.name
        self._handle = None
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._columns: list[str] | None = None

    def append(self, frame: pd.DataFrame, *, seed: int = 0) -> None:
        """Append one part (a school's rows of the table, canonical form as ``generate`` gives it)."""
        frame = _as_exported(frame, self.table, seed, keep_empty=True)
        if self._columns is None:
            self._columns = list(frame.columns)
        frame = frame.reindex(columns=self._columns)
        if self.kind == "csv":
            first = self._handle is None
            if first:
                self._handle = open(self.path, "wb")  # noqa: SIM115 - closed in close()
                self.path.chmod(0o600)
            text = csv_bytes(frame, "utf-8").decode("utf-8")
            if not first:
                text = text.split("\n", 1)[1]  # the header once
            encoding = self.encoding or "utf-8"
            self._handle.write(text.encode(encoding if first or encoding != "utf-8-sig" else "utf-8"))
            return
        out = frame.copy()
        for column in _date_columns(out):
            out[column] = out[column].dt.date
        if self._schema is None:
            table = pa.Table.from_pandas(out, preserve_index=False)
            self._schema = _null_free(table.schema, frame)
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="zstd")
            self.path.chmod(0o600)
        self._writer.write_table(pa.Table.from_pandas(out, schema=self._schema, preserve_index=False))

    def close(self) -> None:
        """Finish the file (a table with no part at all is not written)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
