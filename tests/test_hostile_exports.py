"""Exports from other centres' systems (docs/data.md): Parquet decimal and binary text, control
characters in every format, and registers whose headers the shipped mapping reads twice.

Each test writes real files (pyarrow Parquet, an XLSX whose cells hold OOXML escapes, CSV) and reads
them through the loader, the chunked store validation or the ``riskmodel validate`` command.
"""

from __future__ import annotations

import decimal
import zipfile

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_data_fixtures import write_csv, write_xlsx
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.data import load_dataset, read_table
from riskmodel.errors import ContractError

EN = Settings(reports={"lang": "en"})
STUDENT_COLUMNS = ["student_id", "school", "class_id", "stage", "gender", "enrollment_date"]
ITEMS = [f"item_{k}" for k in range(1, 8)]
LONG_ID = "20250100000000000001"  # beyond int64 and float64: must come back digit for digit


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch):
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", "ab" * 32)


def _screenings(folder, ids):
    write_csv(folder / "screenings.csv", ["student_id", "date", "instrument", *ITEMS],
              [[i, "2024-10-01", "GAD7", *"0123012"] for i in ids], "utf-8")


def _parquet_register(folder, columns: dict[str, pa.Array]):
    """students.parquet with the given columns typed as given, the rest ordinary strings."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(next(iter(columns.values())))
    plain = {"student_id": [f"S{k}" for k in range(n)], "school": ["青溪中学"] * n, "class_id": ["高一1班"] * n,
             "stage": ["senior"] * n, "gender": ["F"] * n, "enrollment_date": ["2024-09-01"] * n}
    arrays = {name: columns.get(name, pa.array(plain[name])) for name in STUDENT_COLUMNS}
    arrays.update({k: v for k, v in columns.items() if k not in arrays})
    pq.write_table(pa.table(arrays), folder / "students.parquet")
    return folder


def _rejected(dataset):
    return dataset.rejected[["table", "row", "column", "value", "action", "file"]].values.tolist()


# --- D3: Parquet decimal and binary text -------------------------------------------------------------

def test_decimal_ids_are_read_as_exact_integer_text_and_a_fraction_is_rejected(tmp_path):
    """A database or DuckDB export of a NUMERIC student_id is decimal128: read digit for digit (as an
    int64 is), never through a float; a decimal with a fraction is no ID and rejects its row."""
    ids = [decimal.Decimal(LONG_ID), decimal.Decimal("2025010002"), decimal.Decimal("2025010003")]
    folder = _parquet_register(tmp_path / "d", {
        "student_id": pa.array(ids, type=pa.decimal128(20, 0)),
        "class_id": pa.array([decimal.Decimal("101.00"), decimal.Decimal("102.00"), decimal.Decimal("102.50")],
                             type=pa.decimal128(6, 2)),
        "dorm_id": pa.array([decimal.Decimal("7.25"), None, decimal.Decimal("3")], type=pa.decimal128(5, 2)),
    })
    _screenings(folder, [LONG_ID, "2025010002"])
    dataset = load_dataset(folder, settings=EN)
    students = dataset.tables["students"]
    assert students["student_id"].tolist() == [LONG_ID, "2025010002"]
    assert students["class_id"].tolist() == ["101", "102"]
    assert students["dorm_id"].tolist() == [None, None]  # 7.25 blanked; the row stays
    assert _rejected(dataset) == [["students", 0, "dorm_id", "7.25", "cell_blanked", "students.parquet"],
                                  ["students", 2, "class_id", "102.5", "row_rejected", "students.parquet"]]
    assert "number with a fraction" in dataset.rejected["reason"].iloc[1]
    assert dataset.tables["screenings"]["student_id"].tolist() == [LONG_ID, "2025010002"]


def test_binary_text_columns_are_decoded_and_a_cell_that_is_no_utf8_is_rejected_with_its_reason(tmp_path):
    """Hive and Impala write text as BYTE_ARRAY without the UTF8 annotation: pyarrow gives bytes. They
    were shown as b'\\xe9...' in every output, or crashed the loader in a student ID."""
    folder = _parquet_register(tmp_path / "d", {
        "student_id": pa.array([b"S1", "学号2".encode(), b"S3"], type=pa.binary()),
        "school": pa.array(["青溪中学".encode(), "青溪中学".encode(), "青溪中学".encode("gb18030")], type=pa.binary()),
        "college": pa.array(["理学院".encode(), b"\xff\xfe", None], type=pa.binary()),
    })
    _screenings(folder, ["S1", "学号2"])
    dataset = load_dataset(folder, settings=EN)
    students = dataset.tables["students"]
    assert students["student_id"].tolist() == ["S1", "学号2"]
    assert students["school"].tolist() == ["青溪中学", "青溪中学"]
    assert students["college"].tolist() == ["理学院", None]
    assert _rejected(dataset) == [["students", 1, "college", "", "cell_blanked", "students.parquet"],
                                  ["students", 2, "school", "", "row_rejected", "students.parquet"]]
    assert all("not UTF-8" in reason for reason in dataset.rejected["reason"])


def test_the_chunked_store_reads_decimal_and_binary_text_as_the_loader_does(tmp_path):
    from riskmodel.data.ingest import validate_into_store
    from riskmodel.data.store import open_store

    folder = _parquet_register(tmp_path / "d", {
        "student_id": pa.array([decimal.Decimal(LONG_ID), decimal.Decimal("7.5")], type=pa.decimal128(22, 1)),
        "school": pa.array(["青溪中学".encode(), "青溪中学".encode()], type=pa.binary()),
    })
    _screenings(folder, [LONG_ID])
    whole = load_dataset(folder, settings=EN)
    validate_into_store(folder, tmp_path / "s.duckdb", settings=EN, chunk_rows=1)
    stored = open_store(tmp_path / "s.duckdb")
    assert stored.tables["students"]["student_id"].tolist() == [LONG_ID]
    assert stored.tables["students"]["school"].tolist() == ["青溪中学"]
    pd.testing.assert_frame_equal(stored.rejected, whole.rejected, check_exact=True)


# --- D2, reading: control characters in every format --------------------------------------------------

def _xlsx_with_escapes(path, header, rows, escapes: dict[str, str]):
    """An XLSX whose cells hold characters XML cannot: openpyxl refuses to write them, Excel writes
    them as OOXML escapes (_x001B_). ``escapes`` replaces a placeholder text with the escape."""
    plain = path.with_suffix(".plain.xlsx")
    write_xlsx(plain, header, rows)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            for placeholder, escape in escapes.items():
                data = data.replace(placeholder.encode(), escape.encode())
            target.writestr(name, data)
    plain.unlink()
    return path


def test_control_characters_reject_the_row_alike_in_xlsx_parquet_and_csv(tmp_path, excel_engine):
    """ESC in a student ID and NUL in a class reject their rows, NUL in a dorm blanks the cell, naming
    the file, row and column, whether the register is XLSX, Parquet or CSV."""
    rows = [["S1", "青溪中学", "c1", "senior", "F", "2024-09-01", "d1"],
            ["S2ESC", "青溪中学", "c1", "senior", "F", "2024-09-01", "d1"],
            ["S3", "青溪中学", "c1NUL", "senior", "F", "2024-09-01", "d1"],
            ["S4", "青溪中学", "c1", "senior", "F", "2024-09-01", "dNUL"]]
    header = [*STUDENT_COLUMNS, "dorm_id"]
    real = [[c.replace("ESC", "\x1b").replace("NUL", "\x00") for c in row] for row in rows]
    formats = {
        "xlsx": lambda f: _xlsx_with_escapes(f / "students.xlsx", header, rows, {"ESC": "_x001B_", "NUL": "_x0000_"}),
        "parquet": lambda f: pq.write_table(pa.table(dict(zip(header, map(list, zip(*real))))), f / "students.parquet"),
        "csv": lambda f: write_csv(f / "students.csv", header, real, "utf-8"),
    }
    first_row = {"xlsx": 2, "parquet": 0, "csv": 2}  # sheet row / Parquet index / CSV line of S1
    for fmt, write in formats.items():
        folder = tmp_path / fmt
        folder.mkdir()
        write(folder)
        _screenings(folder, ["S1"])
        dataset = load_dataset(folder, settings=EN)
        assert dataset.tables["students"]["student_id"].tolist() == ["S1", "S4"], fmt
        assert dataset.tables["students"]["dorm_id"].tolist() == ["d1", None], fmt
        at = first_row[fmt]
        assert _rejected(dataset) == [
            ["students", at + 1, "student_id", "S2\\x1b", "row_rejected", f"students.{fmt}"],
            ["students", at + 2, "class_id", "(text, not shown)", "row_rejected", f"students.{fmt}"],
            ["students", at + 3, "dorm_id", "(text, not shown)", "cell_blanked", f"students.{fmt}"],
        ], fmt
        assert all("control character" in reason for reason in dataset.rejected["reason"])


def test_a_nul_in_free_text_blanks_the_cell_and_other_control_characters_stay_for_the_writers(tmp_path):
    """Free text (a review's reason, a note) may hold Word's vertical tab; a NUL is no text anywhere."""
    header = ["student_id", "date", "level", "status", "reason", "note"]
    write_csv(tmp_path / "reviews.csv", header, [["S1", "2024-10-02", "II", "monitoring", "a\x0bb", "x\x00y"]], "utf-8")
    accepted, rejected = read_table(tmp_path / "reviews.csv", "reviews", settings=EN)
    assert accepted[["reason", "note"]].values.tolist() == [["a\x0bb", None]]
    assert rejected[["row", "column", "action"]].values.tolist() == [[2, "note", "cell_blanked"]]


# --- D4: two headers for one column -------------------------------------------------------------------

def _k12_register(folder, extra: str):
    """A K-12 register with the school's 学号 and ``extra`` (学籍号, or a leading row number ID)."""
    folder.mkdir(parents=True, exist_ok=True)
    if extra == "ID":
        header = ["ID", "student_id", "学校", "班级", "学段", "性别", "入学日期"]
        rows = [["1", "S1", "一中", "c1", "初中", "女", "2024-09-01"], ["2", "S2", "一中", "c1", "初中", "男", "2024-09-01"]]
    else:
        header = ["学号", extra, "学校", "班级", "学段", "性别", "入学日期"]
        rows = [["S1", "G110101201001010001", "一中", "c1", "初中", "女", "2024-09-01"],
                ["S2", "G110101201001010002", "一中", "c1", "初中", "男", "2024-09-01"]]
    write_csv(folder / "students.csv", header, rows, "gb18030")
    _screenings(folder, ["S1"])
    return folder


def test_a_register_with_both_xuehao_and_xuejihao_says_how_to_leave_one_out(tmp_path):
    folder = _k12_register(tmp_path / "d", "学籍号")
    with pytest.raises(ContractError, match=r"students.csv: columns '学号' and '学籍号' both map to 'student_id'.*"
                                            r"a mapping file .*--mapping.*columns: \{学籍号: null\}"):
        load_dataset(folder, settings=EN)
    mine = tmp_path / "my_headers.yaml"
    mine.write_text("columns:\n  学生证号: student_id\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"your mapping file my_headers.yaml, e.g. columns: \{学籍号: null\}"):
        load_dataset(folder, settings=EN, mapping=mine)


@pytest.mark.parametrize("yaml_text", ["columns:\n  学籍号: null\n", "columns:\n  学籍号:\n",
                                       "tables:\n  students:\n    columns: {学籍号: ~}\n"])
def test_a_mapping_file_maps_a_header_to_null_and_it_is_listed_as_not_read(tmp_path, yaml_text):
    """The shipped mapping reads 学籍号 as student_id; a centre's file overrides it with null."""
    folder = _k12_register(tmp_path / "d", "学籍号")
    mine = tmp_path / "my_headers.yaml"
    mine.write_text(yaml_text, encoding="utf-8")
    dataset = load_dataset(folder, settings=EN, mapping=mine)
    assert dataset.tables["students"]["student_id"].tolist() == ["S1", "S2"]
    assert dataset.rejected.empty
    assert "students.csv: columns not read, as the mapping file says (mapped to null): 学籍号" in dataset.skipped


def test_the_contract_s_own_name_wins_over_a_shipped_alias_and_the_alias_is_noted(tmp_path):
    """A leading row-number column `ID` (the shipped file maps `id` to student_id) beside student_id."""
    folder = _k12_register(tmp_path / "d", "ID")
    dataset = load_dataset(folder, settings=EN)
    assert dataset.tables["students"]["student_id"].tolist() == ["S1", "S2"]
    assert any("column 'ID' would also map to 'student_id' (the shipped mapping)" in s for s in dataset.skipped)
    # a header the centre's own file maps never gives way silently
    mine = tmp_path / "my_headers.yaml"
    mine.write_text("columns:\n  ID: student_id\n", encoding="utf-8")
    with pytest.raises(ContractError, match="columns 'ID' and 'student_id' both map to 'student_id'"):
        load_dataset(folder, settings=EN, mapping=mine)
    # and the contract's own name can itself be left out
    mine.write_text("columns:\n  student_id: null\n  ID: student_id\n", encoding="utf-8")
    accepted, _ = read_table(folder / "students.csv", "students", settings=EN, mapping=mine)
    assert accepted["student_id"].tolist() == ["1", "2"]


def test_validate_reads_a_k12_register_with_a_mapping_that_ignores_xuejihao(tmp_path):
    folder = _k12_register(tmp_path / "d", "学籍号")
    mine = tmp_path / "my_headers.yaml"
    mine.write_text("columns:\n  学籍号: null\n", encoding="utf-8")
    settings = tmp_path / "settings.yaml"
    settings.write_text("reports:\n  lang: en\n", encoding="utf-8")
    runner = CliRunner()
    refused = runner.invoke(app, ["validate", str(folder), "--config", str(settings)])
    assert refused.exit_code == 2 and "学籍号: null" in refused.output
    result = runner.invoke(app, ["validate", str(folder), "--mapping", str(mine), "--config", str(settings)])
    assert result.exit_code == 0, result.output
    assert "学籍号" in result.output
