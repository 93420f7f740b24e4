"""``riskmodel reviews import`` into a centre's reviews table kept as Parquet (riskmodel.warning.reviews_import).

The new rows go under the file's own headers, in its own words and its own column types (date32 dates stay
date32, int64 IDs int64); an ID a number column cannot hold exactly is refused naming the file and the column,
the file unchanged; what is written reads back through the loader with nothing rejected; a second import adds
nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.data.load import read_table
from riskmodel.data.pseudonym import load_key, pseudonymise
from riskmodel.i18n import text
from riskmodel.warning.export import decision_header

IDS = ["2023000001", "2023000002", "0023000003"]  # the third: a leading zero, which a number column would lose
EARLIER = dt.date(2024, 3, 1)
DAY, NEXT = dt.datetime(2024, 5, 10), dt.datetime(2024, 6, 10)


def _data(folder: Path) -> Path:
    """A data folder with only its students: all that the import needs besides the reviews table."""
    folder.mkdir()
    pd.DataFrame({"student_id": IDS, "school": "一中", "class_id": "1班", "stage": "senior", "gender": "F",
                  "enrollment_date": "2022-09-01"}).to_csv(folder / "students.csv", index=False)
    return folder


def _sheet(path: Path, students: list[str]) -> Path:
    """A filled decisions sheet: one decision (三级, 随访关注, 辅导员) for each of ``students``."""
    key = load_key(Settings().data.pseudonym_key_file)
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = text("warning.sheet.decisions", "zh")
    ws.append([decision_header(c, "zh") for c in ("pseudonym", "date", "level", "status", "next_review",
                                                   "reviewer_role", "reason")])
    for pseudonym in pseudonymise(pd.Series(students), key):
        ws.append([pseudonym, DAY, "三级", "随访关注", NEXT, "辅导员", "家庭矛盾，已缓解"])
    book.save(path)
    return path


def _import(sheet: Path, data: Path, *options: str):
    return CliRunner().invoke(app, ["reviews", "import", str(sheet), "--data", str(data), "--by", "心理中心", *options])


def _chinese_headers() -> pa.Table:
    """The centre's Chinese headers, text columns, words (二级, 心理老师), a next-review column never filled (null)."""
    return pa.table({"学号": ["2023000001"], "研判日期": ["2024-03-01"], "预警等级": ["二级"], "状态": ["随访关注"],
                     "下次研判日期": pa.nulls(1), "研判人": ["心理老师"], "原因": ["筛查阳性访谈"], "备注": ["机密"]})


def _date32() -> pa.Table:
    """Canonical headers and codes, dates as Parquet date32 (what pyarrow writes for Python dates)."""
    return pa.table({"student_id": ["2023000001"], "date": pa.array([EARLIER], pa.date32()), "level": ["II"],
                     "status": ["monitoring"], "next_review": pa.array([dt.date(2024, 4, 1)], pa.date32()),
                     "reviewer_role": ["centre"], "reason": ["筛查阳性访谈"], "note": [None]})


def _int_ids() -> pa.Table:
    """Student IDs stored as int64 (a database export), dates as date32."""
    return _date32().set_column(0, "student_id", pa.array([2023000001], pa.int64()))


def _zoned_timestamps() -> pa.Table:
    """Dates as timestamps in the centre's time zone and the level as a dictionary (a pandas category)."""
    stamps = pa.array([pd.Timestamp("2024-03-01", tz="Asia/Shanghai")], pa.timestamp("ns", tz="Asia/Shanghai"))
    return _date32().set_column(1, "date", stamps).set_column(2, "level", pa.array(["II"]).dictionary_encode())


SHAPES = {"chinese_headers": (_chinese_headers, {"预警等级": "三级", "研判人": "辅导员", "下次研判日期": dt.date(2024, 6, 10)}),
          "date32": (_date32, {"level": "III", "reviewer_role": "counsellor", "date": dt.date(2024, 5, 10)}),
          "int64_ids": (_int_ids, {"student_id": 2023000002, "date": dt.date(2024, 5, 10)}),
          "zoned_timestamps": (_zoned_timestamps, {"level": "III"})}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_decisions_append_in_the_files_own_headers_words_and_types(shape, tmp_path):
    make, expected = SHAPES[shape]
    data = _data(tmp_path / "data")
    target = data / "reviews.parquet"
    old = make()
    pq.write_table(old, target)
    sheet = _sheet(tmp_path / "decisions.xlsx", IDS[:2])

    result = _import(sheet, data)
    assert result.exit_code == 0, result.output
    assert "新增2条研判结论" in " ".join(result.output.split())
    merged = pq.read_table(target)
    names = old.schema.names
    import_headers = ["导入人", "导入时间", "来源"] if shape == "chinese_headers" else ["imported_by", "imported_at", "source"]
    assert merged.schema.names == [*names, *import_headers]  # the file's own headers, the import columns after them
    for name in names:
        if not pa.types.is_null(old.schema.field(name).type):
            assert merged.schema.field(name).type == old.schema.field(name).type, name  # its own types
    earlier = merged.slice(0, 1).to_pylist()[0]
    assert {k: earlier[k] for k in names} == old.to_pylist()[0] | ({"下次研判日期": None} if shape == "chinese_headers"
                                                                      else {})
    new = merged.slice(1).to_pylist()[1]  # the second decision
    for name, value in expected.items():
        assert new[name] == value, (name, new[name])
    if shape == "zoned_timestamps":  # midnight where the centre is: the same day read back
        assert new["date"] == pd.Timestamp("2024-05-10", tz="Asia/Shanghai")

    accepted, rejected = read_table(target, "reviews", settings=Settings())  # riskmodel's loader reads it all back
    assert rejected.empty and len(accepted) == 3
    assert accepted["student_id"].tolist() == IDS[:1] + IDS[:2]
    assert accepted[["level", "status", "reviewer_role"]].values.tolist()[1:] == [["III", "monitoring", "counsellor"]] * 2
    assert accepted["date"].dt.strftime("%Y-%m-%d").tolist()[1:] == ["2024-05-10"] * 2

    before = target.read_bytes()
    again = _import(sheet, data)
    assert again.exit_code == 0 and "新增0条研判结论，2条已存在" in " ".join(again.output.split()), again.output
    assert target.read_bytes() == before


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_id_a_number_column_would_change_is_refused_and_nothing_written(lang, tmp_path):
    """0023000003 stored as int64 would read back as 23000003, another student: refused naming the file and the
    column, with what to do; the file is left as it was."""
    data = _data(tmp_path / "data")
    target = data / "reviews.parquet"
    pq.write_table(_int_ids(), target)
    before = target.read_bytes()
    config = tmp_path / "settings.yaml"
    config.write_text(f"reports:\n  lang: {lang}\n", encoding="utf-8")
    result = _import(_sheet(tmp_path / "decisions.xlsx", IDS), data, "--config", str(config))
    said = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert str(target.name) in said and "student_id" in said and "Traceback" not in said
    words = {"zh": ["以数字存储", "未写入任何内容", "存为文本"], "en": ["stored as numbers", "nothing was written",
                                                                 "as text"]}[lang]
    assert all(w in said for w in words), said
    assert "0023000003" not in said  # the message names no student
    assert target.read_bytes() == before
