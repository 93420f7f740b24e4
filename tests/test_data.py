"""riskmodel.data: formats, encodings, mapping, every rejection reason, every fatal message, store, CLI.

Test data is built in the tests (tests/test_data_fixtures.py); every folder is small.
"""

from __future__ import annotations

import io
import logging
import re

import numpy as np
import pandas as pd
import pytest
from test_data_fixtures import (
    PLANTED,
    SCREENINGS,
    SCREENINGS_HEADER,
    STUDENTS,
    STUDENTS_HEADER,
    mixed_directory,
    write_csv,
    write_xlsx,
)
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.data import load_dataset, read_table
from riskmodel.data.parse import parse_bool, parse_date, parse_enum, parse_int
from riskmodel.data.store import open_store, write_store
from riskmodel.errors import ContractError

EN = Settings(reports={"lang": "en"})
KEY_HEX = "ab" * 32


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch):
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", KEY_HEX)


@pytest.fixture()
def mixed(tmp_path):
    return mixed_directory(tmp_path / "export")


def minimal(folder, students=None, screenings=None, encoding="utf-8"):
    """students.csv and screenings.csv in English headers; rows as lists."""
    folder.mkdir(parents=True, exist_ok=True)
    header = ["student_id", "school", "class_id", "stage", "gender", "enrollment_date", "exit_date"]
    students = students if students is not None else [
        ["A1", "X", "c1", "university", "F", "2023-09-01", ""],
        ["A2", "X", "c1", "university", "M", "2023-09-01", "2024-06-30"],
    ]
    write_csv(folder / "students.csv", header, students, encoding)
    items = [f"item_{k}" for k in range(1, 8)]
    screenings = screenings if screenings is not None else [["A1", "2023-10-01", "GAD7", *"0123012"]]
    write_csv(folder / "screenings.csv", ["student_id", "date", "instrument", *items], screenings, encoding)
    return folder


def problems(dataset):
    return sorted(zip(dataset.rejected["table"], dataset.rejected["row"], dataset.rejected["column"]))


# --- the acceptance test of issue 2 ------------------------------------------------------------------

def test_mixed_directory_reads_every_good_row_and_rejects_only_the_planted_ones(mixed, excel_engine):
    dataset = load_dataset(mixed, settings=EN)
    assert problems(dataset) == sorted(PLANTED)  # each planted row once, nothing else
    summary = dataset.summary.set_index("table")
    assert summary.loc["students", ["rows_read", "accepted", "rejected"]].tolist() == [6, 5, 1]
    assert summary.loc["screenings", ["rows_read", "accepted", "rejected"]].tolist() == [6, 4, 2]
    assert summary.loc["observations", ["rows_read", "accepted", "rejected"]].tolist() == [4, 3, 1]
    assert summary.loc["life_events", ["rows_read", "accepted", "rejected"]].tolist() == [2, 2, 0]
    reasons = dict(zip(zip(dataset.rejected["table"], dataset.rejected["row"]), dataset.rejected["reason"]))
    assert "repeats row 4" in reasons[("students", 7)]
    assert "outside 0-3" in reasons[("screenings", 6)]
    assert "not in students" in reasons[("screenings", 7)]
    assert "not a valid date" in reasons[("observations", 5)]
    assert dataset.files["students"]["encoding"] == "gb18030"
    assert dataset.files["screenings"]["encoding"] == "utf-8-sig"
    assert {dataset.files[t]["format"] for t in ("observations", "life_events")} == {"xlsx", "parquet"}


def test_canonical_form_of_the_mixed_directory(mixed):
    dataset = load_dataset(mixed, settings=EN)
    students = dataset.tables["students"].set_index("student_id")
    assert "name" not in students.columns
    assert students["gender"].tolist() == ["F", "M", "F", "unknown", "M"]
    assert students["stage"].unique().tolist() == ["senior"]
    assert str(students["left_behind"].dtype) == "boolean"
    assert students["left_behind"].tolist()[:4] == [True, False, True, False]
    assert pd.isna(students.loc["S005", "left_behind"])
    assert (students["enrollment_date"] == pd.Timestamp("2023-09-01")).all()
    assert students.loc["S004", "exit_date"] == pd.Timestamp("2026-07-01")
    assert students["pseudonym"].str.fullmatch(r"S-[A-Z2-7]{10}").all()
    screenings = dataset.tables["screenings"]
    assert (screenings["date"] == pd.Timestamp("2023-10-10")).all()
    assert screenings["instrument"].tolist() == ["PHQ9", "PHQ9", "GAD7", "GAD7"]
    items = [f"item_{k}" for k in range(1, 101)]
    assert set(items) <= set(screenings.columns)
    assert (screenings[items].dtypes == "float32").all()
    assert screenings.loc[2, "item_8"] != screenings.loc[2, "item_8"]  # NaN past GAD-7's seven items
    observations = dataset.tables["observations"]
    assert observations["date"].tolist() == [pd.Timestamp(d) for d in ("2023-11-01", "2023-11-01", "2023-11-02")]
    assert observations["source"].tolist() == ["class_teacher", "peer", "counsellor"]
    assert observations["category"].tolist() == ["mood", "sleep", "social"]
    assert str(observations["severity"].dtype) == "Int64"
    assert re.fullmatch(r"[0-9a-f]{64}", dataset.checksum)
    assert any("README.txt" in note for note in dataset.skipped)
    assert not any("_truth" in note for note in dataset.skipped)
    assert any(note.startswith("calendar") for note in dataset.skipped)


def test_no_student_id_name_or_note_in_the_logs(mixed, caplog):
    with caplog.at_level(logging.DEBUG):
        load_dataset(mixed, settings=EN)
    logged = " ".join(r.getMessage() for r in caplog.records)
    for secret in ("S001", "S003", "张三", "情绪低落", KEY_HEX):
        assert secret not in logged


# --- spellings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["2024-03-05", "2024/03/05", "2024.03.05", "2024年3月5日", "2024/3/5",
                                      "45356", "45356.0", "2024-03-05 00:00:00", "2024-03-05T08:30"])
def test_every_date_spelling(spelling):
    values, bad = parse_date(pd.Series([spelling]))
    assert not bad.iloc[0] and values.iloc[0] == pd.Timestamp("2024-03-05")


@pytest.mark.parametrize("spelling", ["2024-02-30", "2023-13-01", "05/03/2024", "2024-3", "yesterday",
                                      "20240305", "2024-03/05", "0"])
def test_impossible_or_unknown_dates_are_bad(spelling):
    values, bad = parse_date(pd.Series([spelling]))
    assert bad.iloc[0] and pd.isna(values.iloc[0])


def test_dates_from_parquet_and_excel_cells(tmp_path, excel_engine):
    native, bad = parse_date(pd.Series(pd.to_datetime(["2024-03-05 13:00"])))
    assert native.iloc[0] == pd.Timestamp("2024-03-05") and not bad.any()
    write_xlsx(tmp_path / "life_events.xlsx", ["学号", "日期", "事件"],
               [["A", pd.Timestamp("2024-03-05 10:00").to_pydatetime(), "breakup"], ["B", 45356, "illness"]])
    accepted, rejected = read_table(tmp_path / "life_events.xlsx", "life_events", settings=EN)
    assert rejected.empty and (accepted["date"] == pd.Timestamp("2024-03-05")).all()


@pytest.mark.parametrize(("spelling", "value"), [
    ("true", True), ("FALSE", False), ("1", True), ("0", False), ("yes", True), ("No", False),
    ("是", True), ("否", False), ("Y", True), ("n", False), ("有", True), ("无", False)])
def test_every_boolean_spelling(spelling, value):
    from riskmodel.data.mapping import load_mapping

    values, bad = parse_bool(pd.Series([spelling]), spellings=load_mapping(None).spellings("x", "bool"))
    assert not bad.iloc[0] and values.iloc[0] == value


@pytest.mark.parametrize(("spelling", "value"), [("F", "F"), ("m", "M"), ("female", "F"), ("Male", "M"),
                                                 ("女", "F"), ("男", "M"), ("unknown", "unknown"), ("未知", "unknown")])
def test_every_gender_spelling(spelling, value):
    from riskmodel.data.parse import GENDER_SPELLINGS

    values, bad = parse_enum(pd.Series([spelling]), ["F", "M", "unknown"], spellings=GENDER_SPELLINGS)
    assert not bad.iloc[0] and values.iloc[0] == value


def test_whole_numbers():
    values, bad = parse_int(pd.Series(["3", "3.0", "3.5", "x", None]))
    assert bad.tolist() == [False, False, True, True, False]
    assert values.iloc[:2].tolist() == [3, 3]


# --- formats, encodings, row numbers ------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_each_csv_encoding_with_chinese_headers(tmp_path, encoding):
    folder = tmp_path / "d"
    folder.mkdir()
    write_csv(folder / "students.csv", STUDENTS_HEADER, STUDENTS[:5], encoding)
    write_csv(folder / "screenings.csv", SCREENINGS_HEADER, SCREENINGS[:4], encoding)
    dataset = load_dataset(folder, settings=EN)
    assert dataset.rejected.empty
    assert dataset.tables["students"]["school"].unique().tolist() == ["第一中学"]
    assert dataset.tables["students"]["class_id"].tolist()[:2] == ["高一1班", "高一1班"]
    assert dataset.files["students"]["encoding"] == {"gbk": "gb18030"}.get(encoding, encoding)


def test_a_nul_byte_in_a_csv_cell_rejects_its_row_naming_the_line(tmp_path):
    """pandas would cut the cell at the NUL ("B\\0x" would be read as "B"): the cell is kept whole and
    its row rejected, as a NUL in a Parquet or Excel cell is; a NUL in the header still refuses the file."""
    header = ["student_id", "date", "event"]
    write_csv(tmp_path / "life_events.csv", header, [["A", "2024-01-02", "breakup"], ["B\x00x", "2024-01-03", "breakup"]],
              "utf-8")
    accepted, rejected = read_table(tmp_path / "life_events.csv", "life_events", settings=EN)
    assert accepted["student_id"].tolist() == ["A"]
    assert rejected[["row", "column", "value"]].values.tolist() == [[3, "student_id", "B\\x00x"]]
    assert "control character" in rejected["reason"].iloc[0]
    write_csv(tmp_path / "life_events.csv", ["student_id", "date\x00", "event"], [["A", "2024-01-02", "breakup"]], "utf-8")
    with pytest.raises(ContractError, match=r"life_events.csv line 1 \(the header or above it\) holds a NUL byte"):
        read_table(tmp_path / "life_events.csv", "life_events", settings=EN)


def test_a_big5_file_read_as_gb18030_is_flagged_in_the_log(tmp_path, caplog):
    """GB18030 decodes Big5 bytes without an error, as rare characters: the loader says so."""
    from riskmodel.data.read import read_raw

    write_csv(tmp_path / "big5.csv", ["學號", "學院", "班級"], [["A", "體育學院", "體育一班"]], "big5")
    write_csv(tmp_path / "gb.csv", ["学号", "学院", "班级"], [["A", "体育学院", "体育一班"]], "gb18030")
    with caplog.at_level("WARNING"):
        assert read_raw(tmp_path / "gb.csv", encoding=None, excel_sheet=0).encoding == "gb18030"
    assert "Big5" not in caplog.text
    with caplog.at_level("WARNING"):
        assert read_raw(tmp_path / "big5.csv", encoding=None, excel_sheet=0).encoding == "gb18030"
    assert "big5.csv: read as GB18030" in caplog.text and "(Big5?)" in caplog.text


def test_configured_encoding_wins(tmp_path):
    folder = minimal(tmp_path / "d")
    settings = Settings(reports={"lang": "en"}, data={"encoding": "latin-1"})
    assert load_dataset(folder, settings=settings).files["students"]["encoding"] == "latin-1"


def test_each_format_gives_the_same_table_and_its_own_row_numbers(tmp_path, excel_engine):
    header = ["student_id", "date", "event"]
    rows = [["A", "2024-01-02", "breakup"], ["B", "2024-01-32", "breakup"]]
    write_csv(tmp_path / "life_events.csv", header, rows, "utf-8")
    write_xlsx(tmp_path / "life_events.xlsx", header, rows)
    pd.DataFrame(rows, columns=header).to_parquet(tmp_path / "life_events.parquet")
    results = {fmt: read_table(tmp_path / f"life_events.{fmt}", "life_events", settings=EN)
               for fmt in ("csv", "xlsx", "parquet")}
    for accepted, _ in results.values():
        pd.testing.assert_frame_equal(accepted, results["csv"][0])
    assert results["csv"][1]["row"].tolist() == [3]  # header = line 1
    assert results["xlsx"][1]["row"].tolist() == [3]  # sheet row
    assert results["parquet"][1]["row"].tolist() == [1]  # 0-based index


def test_blank_lines_keep_true_line_numbers(tmp_path):
    (tmp_path / "life_events.csv").write_text("student_id,date,event\n\nA,2024-01-02,breakup\n,,\nB,bad,breakup\n")
    accepted, rejected = read_table(tmp_path / "life_events.csv", "life_events", settings=EN)
    assert len(accepted) == 1 and rejected["row"].tolist() == [5]


def test_excel_sheet_setting(tmp_path, excel_engine):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["cover page"])
    sheet = book.create_sheet("data")
    sheet.append(["student_id", "date", "event"])
    sheet.append(["A", "2024-01-02", "breakup"])
    book.save(tmp_path / "life_events.xlsx")
    settings = Settings(reports={"lang": "en"}, data={"excel_sheet": "data"})
    accepted, rejected = read_table(tmp_path / "life_events.xlsx", "life_events", settings=settings)
    assert len(accepted) == 1 and rejected.empty


def test_semicolon_and_tab_separated_csv(tmp_path):
    (tmp_path / "a.csv").write_text("student_id;date;event\nA;2024-01-02;breakup\n")
    (tmp_path / "b.csv").write_text("student_id\tdate\tevent\nA\t2024-01-02\tbreakup\n")
    for name in ("a.csv", "b.csv"):
        accepted, rejected = read_table(tmp_path / name, "life_events", settings=EN)
        assert len(accepted) == 1 and rejected.empty


# --- the mapping file -----------------------------------------------------------------------------

def test_a_centre_mapping_file(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    write_csv(folder / "学生信息.csv", ["Stu No", "Campus", "Class", "Level", "Sex", "Entered"],
              [["A1", "X", "c", "undergrad", "girl", "2023-09-01"], ["A2", "X", "c", "undergrad", "boy", "2023-09-01"]],
              "gb18030")
    write_csv(folder / "screenings.csv", ["Stu No", "测评日期", "量表", *[f"第{k}题" for k in range(1, 8)]],
              [["A1", "2023-10-01", "焦虑量表七项", *"0123012"]], "utf-8-sig")
    mapping = tmp_path / "my_mapping.yaml"
    mapping.write_text(
        "columns:\n  Stu No: student_id\n  Campus: school\n  Class: class_id\n  Level: stage\n  Sex: gender\n"
        "  Entered: enrollment_date\n"
        "files:\n  学生信息: students\n"
        "values:\n  gender: {girl: F, boy: M}\n  stage: {undergrad: university}\n  instrument: {焦虑量表七项: GAD7}\n",
        encoding="utf-8",
    )
    dataset = load_dataset(folder, settings=EN, mapping=mapping)
    assert dataset.rejected.empty, dataset.rejected
    assert dataset.tables["students"]["gender"].tolist() == ["F", "M"]
    assert dataset.tables["screenings"]["item_7"].tolist() == [2.0]
    via_settings = Settings(reports={"lang": "en"}, data={"mapping": str(mapping)})
    assert load_dataset(folder, settings=via_settings).checksum == dataset.checksum


def test_shipped_mapping_knows_the_common_chinese_headers():
    from riskmodel.data.mapping import load_mapping

    mapping = load_mapping(None)
    headers = ["学号", "姓名", "性别", "班级", "院系", "年级", "出生日期", "入学日期", "宿舍", "离校日期", "留守", "单亲"]
    mapped = mapping.header_map(headers, "students")
    assert mapped == {"学号": "student_id", "姓名": "name", "性别": "gender", "班级": "class_id", "院系": "college",
                      "年级": "grade", "出生日期": "birth_date", "入学日期": "enrollment_date", "宿舍": "dorm_id",
                      "离校日期": "exit_date", "留守": "left_behind", "单亲": "single_parent"}
    assert mapping.header_map(["学院"], "students") == {"学院": "college"}
    items = mapping.header_map(["测评日期", "量表", "题1", "第12题", "Q3", "item_4", "题101"], "screenings")
    assert items == {"测评日期": "date", "量表": "instrument", "题1": "item_1", "第12题": "item_12", "Q3": "item_3",
                     "item_4": "item_4", "题101": None}


@pytest.mark.parametrize(("content", "message"), [
    ("columns:\n  学号: student_number\n", "'student_number', which is not a contract column"),
    ("colums:\n  学号: student_id\n", "unknown key 'colums' at colums (did you mean 'columns'? "),
    ("columns: [\n", "not valid UTF-8 YAML"),
    ("item_patterns: ['^x\\d+$']\n", "needs exactly one group"),
    ("columns:\n  students:\n    学号: student_id\n", "'students' under columns is itself a mapping"),
    ("tables:\n  students: [a, b]\n", "tables.students has the wrong shape"),
    ("values:\n  gender: [女, 男]\n", "values.gender has the wrong shape"),
    ("item_patterns: 'x(\\d+)'\n", "item_patterns has the wrong shape"),
])
def test_a_broken_mapping_file_says_what_is_wrong(tmp_path, content, message):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(content, encoding="utf-8")
    with pytest.raises(ContractError, match=re.escape(message)):
        load_dataset(minimal(tmp_path / "d"), settings=EN, mapping=mapping)


# --- every rejection reason, each once and nothing else ---------------------------------------------

def _reasons(dataset):
    return [(t, r, c) for t, r, c in zip(dataset.rejected["table"], dataset.rejected["row"], dataset.rejected["column"])]


@pytest.mark.parametrize(("student", "column", "reason"), [
    (["A3", "X", "c1", "university", "X", "2023-09-01", ""], "gender", "not an allowed value: use one of F, M, unknown"),
    (["A3", "X", "c1", "kindergarten", "F", "2023-09-01", ""], "stage", "not an allowed value"),
    (["A3", "X", "", "university", "F", "2023-09-01", ""], "class_id", "required value is empty"),
    (["A3", "X", "c1", "university", "F", "2023-09-31", ""], "enrollment_date", "not a valid date"),
    (["A3", "X", "c1", "university", "F", "2023-09-01", "2022-06-30"], "exit_date",
     "exit_date is before enrollment_date"),
])
def test_each_students_rejection(tmp_path, student, column, reason):
    base = [["A1", "X", "c1", "university", "F", "2023-09-01", ""]]
    dataset = load_dataset(minimal(tmp_path / "d", students=base + [student]), settings=EN)
    assert _reasons(dataset) == [("students", 3, column)]
    assert reason in dataset.rejected["reason"].iloc[0]


def test_records_of_a_rejected_student_say_so(tmp_path):
    students = [["A1", "X", "c1", "university", "F", "2023-09-01", ""],
                ["A2", "X", "c1", "university", "?", "2023-09-01", ""]]
    screenings = [["A1", "2023-10-01", "GAD7", *"0123012"], ["A2", "2023-10-01", "GAD7", *"0123012"]]
    dataset = load_dataset(minimal(tmp_path / "d", students=students, screenings=screenings), settings=EN)
    assert _reasons(dataset) == [("students", 3, "gender"), ("screenings", 3, "student_id")]
    assert "rejected in students (row 3)" in dataset.rejected["reason"].iloc[1]


@pytest.mark.parametrize(("screening", "column", "reason"), [
    (["A1", "2023-08-01", "GAD7", *"0123012"], "date", "outside the student's enrolment (2023-09-01 to now"),
    (["A2", "2024-08-01", "GAD7", *"0123012"], "date", "outside the student's enrolment (2023-09-01 to 2024-06-30"),
    (["A1", "2099-10-02", "GAD7", *"0123012"], "date", "is after today"),  # a typo: a record from the future
    (["A1", "2023-10-02", "BDI", *"0123012"], "instrument", "not an allowed value"),
    (["A1", "2023-10-02", "GAD7", *"012301", "x"], "item_7", "not a number"),
    (["A1", "2023-10-02", "GAD7", *"012301", "1.5"], "item_7", "whole"),
    (["A1", "2023-10-02", "GAD7", *"012301", ""], "item_7", "missing"),
    (["A1", "", "GAD7", *"0123012"], "date", "required value is empty"),
    (["A1", "2023-10-01", "GAD7", *"0123012"], "student_id,date,instrument", "repeats row 2"),
])
def test_each_screenings_rejection(tmp_path, screening, column, reason):
    first = ["A1", "2023-10-01", "GAD7", *"0123012"]
    dataset = load_dataset(minimal(tmp_path / "d", screenings=[first, screening]), settings=EN)
    assert _reasons(dataset) == [("screenings", 3, column)], dataset.rejected
    assert reason in dataset.rejected["reason"].iloc[0], dataset.rejected["reason"].iloc[0]


def test_enrolment_grace_days(tmp_path):
    screenings = [["A1", "2023-08-25", "GAD7", *"0123012"]]
    folder = minimal(tmp_path / "d", screenings=screenings)
    assert len(load_dataset(folder, settings=EN).rejected) == 1
    graced = Settings(reports={"lang": "en"}, data={"enrolment_grace_days": 14})
    assert load_dataset(folder, settings=graced).rejected.empty


def test_a_duplicate_whose_first_copy_is_broken_is_kept(tmp_path):
    screenings = [["A1", "2023-10-01", "GAD7", *"012301", "9"], ["A1", "2023-10-01", "GAD7", *"0123012"]]
    dataset = load_dataset(minimal(tmp_path / "d", screenings=screenings), settings=EN)
    assert _reasons(dataset) == [("screenings", 2, "item_7")]
    assert len(dataset.tables["screenings"]) == 1


def test_a_row_with_several_problems_gives_each_once(tmp_path):
    screenings = [["A9", "2023-10-01", "GAD7", *"01230", "7", "7"]]
    dataset = load_dataset(minimal(tmp_path / "d", screenings=screenings), settings=EN)
    assert sorted(_reasons(dataset)) == [("screenings", 2, "item_6"), ("screenings", 2, "item_7"),
                                         ("screenings", 2, "student_id")]
    assert dataset.summary.set_index("table").loc["screenings", "rejected"] == 1


def test_other_table_ranges_and_order(tmp_path):
    folder = minimal(tmp_path / "d")
    write_csv(folder / "observations.csv", ["student_id", "date", "source", "category", "severity"],
              [["A1", "2023-11-01", "peer", "mood", "5"], ["A1", "2023-11-01", "peer", "mood", "3"]], "utf-8")
    write_csv(folder / "calendar.csv", ["start", "end", "kind"],
              [["2024-01-10", "2024-01-01", "exam"], ["2024-01-01", "2024-01-10", "exam"]], "utf-8")
    dataset = load_dataset(folder, settings=EN)
    assert _reasons(dataset) == [("observations", 2, "severity"), ("calendar", 2, "end")]
    assert "outside the allowed range 1 – 3" in dataset.rejected["reason"].iloc[0]


# --- fatal problems: one clear message each -----------------------------------------------------------

def test_missing_required_column(tmp_path):
    folder = minimal(tmp_path / "d")
    (folder / "students.csv").write_text("学生,school,class_id,stage,gender,enrollment_date\nA1,X,c,university,F,2023-09-01\n")
    with pytest.raises(ContractError) as err:
        load_dataset(folder, settings=EN)
    assert str(err.value) == (
        "students.csv: column 'student_id' is missing; found ['class_id', 'enrollment_date', 'gender', 'school', "
        "'stage', '学生']. Map your header with a mapping file (see docs/data.md)."
    )


def test_missing_required_table(tmp_path):
    folder = minimal(tmp_path / "d")
    (folder / "screenings.csv").unlink()
    with pytest.raises(ContractError, match=r"d/: the required table 'screenings' is missing; add screenings.csv"):
        load_dataset(folder, settings=EN)


def test_no_answer_columns(tmp_path):
    folder = minimal(tmp_path / "d")
    (folder / "screenings.csv").write_text("student_id,date,instrument\nA1,2023-10-01,GAD7\n")
    with pytest.raises(ContractError, match=r"screenings.csv: no answer columns"):
        load_dataset(folder, settings=EN)


@pytest.mark.parametrize(("content", "message"), [
    (b"\x81\x30\xff\xfe\x00garbage\xff", "students.csv: cannot be decoded as UTF-8 or GB18030/GBK"),
    (b"", "students.csv: the file is empty"),
    (b"student_id,school,class_id,stage,gender,enrollment_date\n", "students.csv: the students table has no rows"),
    (b"student_id,school,class_id,stage,gender,enrollment_date\nA,X,c,university,F,2023-09-01,extra,cells\n",
     "students.csv: cannot be read as CSV"),
])
def test_unreadable_or_empty_students(tmp_path, content, message):
    folder = minimal(tmp_path / "d")
    (folder / "students.csv").write_bytes(content)
    with pytest.raises(ContractError, match=re.escape(message)):
        load_dataset(folder, settings=EN)


def test_two_files_for_one_table(tmp_path):
    folder = minimal(tmp_path / "d")
    write_xlsx(folder / "students.xlsx", ["student_id"], [["A1"]])
    with pytest.raises(ContractError, match=r"students.csv and students.xlsx both hold table 'students'"):
        load_dataset(folder, settings=EN)


@pytest.mark.parametrize(("name", "message"), [
    ("observations.xlsx", "observations.xlsx: cannot be read as an Excel workbook"),
    ("observations.parquet", "observations.parquet: cannot be read as Parquet"),
    ("observations.xls", "observations.xls: the old Excel format (.xls) is not read"),
])
def test_broken_workbooks(tmp_path, name, message):
    folder = minimal(tmp_path / "d")
    (folder / name).write_bytes(b"this is not a workbook")
    with pytest.raises(ContractError, match=re.escape(message)):
        load_dataset(folder, settings=EN)


def test_two_headers_mapping_to_one_column(tmp_path):
    folder = minimal(tmp_path / "d")
    (folder / "observations.csv").write_text("学号,日期,观察日期,来源,类别,严重程度\nA1,2023-11-01,2023-11-01,peer,mood,1\n",
                                            encoding="utf-8")
    with pytest.raises(ContractError, match=r"observations.csv: columns '日期' and '观察日期' both map to 'date'"):
        load_dataset(folder, settings=EN)


def test_messages_follow_the_report_language(tmp_path):
    students = [["A1", "X", "c1", "university", "F", "2023-09-01", ""], ["A2", "X", "c1", "university", "?", "2023-09-01", ""]]
    dataset = load_dataset(minimal(tmp_path / "d", students=students), settings=Settings())
    assert "不是允许的取值" in dataset.rejected["reason"].iloc[0]


# --- store ----------------------------------------------------------------------------------------------

def test_store_round_trip(mixed, tmp_path):
    dataset = load_dataset(mixed, settings=EN)
    path = write_store(dataset, tmp_path / "out" / "store.duckdb")
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.duckdb"]
    back = open_store(path)
    assert back.checksum == dataset.checksum and back.files == dataset.files and back.skipped == dataset.skipped
    for name, frame in dataset.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], frame, check_exact=True)
    pd.testing.assert_frame_equal(back.rejected, dataset.rejected)
    pd.testing.assert_frame_equal(back.summary, dataset.summary)


def test_store_errors(tmp_path):
    with pytest.raises(ContractError, match="no such store"):
        open_store(tmp_path / "none.duckdb")
    (tmp_path / "junk.duckdb").write_bytes(b"junk")
    with pytest.raises(ContractError, match="not a DuckDB store"):
        open_store(tmp_path / "junk.duckdb")


def test_checksum_is_the_data_identity(tmp_path):
    a = load_dataset(minimal(tmp_path / "a"), settings=EN)
    b = load_dataset(minimal(tmp_path / "b"), settings=EN)
    assert a.checksum == b.checksum
    (tmp_path / "b" / "screenings.csv").write_bytes((tmp_path / "b" / "screenings.csv").read_bytes() + b"\n")
    assert load_dataset(tmp_path / "b", settings=EN).checksum != a.checksum


# --- the validate verb ----------------------------------------------------------------------------------

def test_validate_verb(mixed):
    result = CliRunner().invoke(app, ["validate", str(mixed)])
    assert result.exit_code == 0, result.output
    rejected_file = mixed.parent / "export_rejected_rows.csv"
    data = rejected_file.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    assert table.columns.tolist() == ["table", "row", "column", "value", "reason", "file", "action"]
    assert sorted(zip(table["table"], table["row"], table["column"])) == sorted(PLANTED)
    assert rejected_file.stat().st_mode & 0o777 == 0o600
    assert not any(p.name.endswith("rejected_rows.csv") for p in mixed.iterdir())
    assert "screenings" in result.output


def test_validate_verb_options_and_fatal_exit(mixed, tmp_path):
    target, store = tmp_path / "r" / "rej.csv", tmp_path / "s.duckdb"
    result = CliRunner().invoke(app, ["validate", str(mixed), "--rejected", str(target), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert target.exists() and open_store(store).tables["students"].shape[0] == 5
    (mixed / "screenings.csv").unlink()
    result = CliRunner().invoke(app, ["validate", str(mixed)])
    assert result.exit_code == 2 and "screenings" in result.output


def test_validate_when_every_student_is_rejected(tmp_path):
    folder = minimal(tmp_path / "d", students=[["A1", "X", "c1", "university", "?", "2023-09-01", ""]])
    result = CliRunner().invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert (tmp_path / "d_rejected_rows.csv").exists()


def test_read_table_uses_the_same_checks(tmp_path):
    path = write_csv(tmp_path / "量表.csv", SCREENINGS_HEADER, SCREENINGS, "gb18030")
    accepted, rejected = read_table(path, "screenings", settings=EN)
    assert len(accepted) == 5  # the unknown student needs students: load_dataset checks that
    assert rejected[["row", "column"]].values.tolist() == [[6, "item_3"]]
    assert np.isnan(accepted.loc[2, "item_8"])


def test_title_rows_above_the_header_are_skipped(tmp_path, excel_engine):
    write_xlsx(tmp_path / "life_events.xlsx", ["2024级学生生活事件登记表", None, None],
               [[None, None, None], ["学号", "日期", "事件"], ["A", "2024-01-02", "breakup"], ["B", "2024-01-32", "illness"]])
    accepted, rejected = read_table(tmp_path / "life_events.xlsx", "life_events", settings=EN)
    assert len(accepted) == 1 and rejected[["row", "column"]].values.tolist() == [[5, "date"]]
    (tmp_path / "life_events.csv").write_text("学生生活事件\n学号,日期,事件\nA,2024-01-02,breakup\n", encoding="utf-8")
    accepted, rejected = read_table(tmp_path / "life_events.csv", "life_events", settings=EN)
    assert len(accepted) == 1 and rejected.empty


def test_line_numbers_stay_true_after_a_note_with_line_breaks(tmp_path):
    (tmp_path / "observations.csv").write_text(
        'student_id,date,source,category,severity,note\n'
        'A,2024-01-02,peer,mood,1,"first line\nsecond line\nthird"\n'
        'B,2024-01-02,peer,mood,9,\n', encoding="utf-8")
    accepted, rejected = read_table(tmp_path / "observations.csv", "observations", settings=EN)
    assert accepted["note"].tolist() == ["first line\nsecond line\nthird"]
    assert rejected[["row", "column"]].values.tolist() == [[5, "severity"]]


def test_fatal_messages_follow_the_report_language(tmp_path):
    folder = minimal(tmp_path / "d")
    (folder / "students.csv").write_text("学生,school\nA1,X\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"students.csv：缺少列 'student_id'；现有列为"):
        load_dataset(folder, settings=Settings())
    result = CliRunner().invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2 and "缺少列" in result.output


def test_gpa_range_follows_the_configured_scale(tmp_path):
    folder = minimal(tmp_path / "d")
    write_csv(folder / "academics.csv", ["student_id", "term_end", "gpa"],
              [["A1", "2024-01-15", "4.5"], ["A1", "2024-06-30", "3.2"]], "utf-8")
    dataset = load_dataset(folder, settings=EN)
    assert _reasons(dataset) == [("academics", 2, "gpa")]
    five = Settings(reports={"lang": "en"}, data={"gpa_scale": 5})
    assert load_dataset(folder, settings=five).rejected.empty


def test_rejected_file_never_carries_a_live_formula(tmp_path):
    from riskmodel.data.validate import write_rejected

    rejected = pd.DataFrame({"table": ["students"], "row": [2], "column": ["gender"],
                             "value": ['=HYPERLINK("http://x","y")'], "reason": ["not allowed"]})
    path = write_rejected(rejected, tmp_path / "r.csv")
    assert pd.read_csv(path, encoding="utf-8-sig")["value"].iloc[0].startswith("'=")


def test_store_round_trip_without_rejections_and_ignored_names(tmp_path):
    folder = minimal(tmp_path / "d")
    (folder / "~$students.xlsx").write_bytes(b"lock")
    (folder / ".DS_Store").write_bytes(b"x")
    (folder / "old").mkdir()
    dataset = load_dataset(folder, settings=EN)
    assert [n for n in dataset.skipped if "old" in n] == ["old/: a folder, not read (table files go directly in the data folder)"]
    assert not any("~$" in n or "DS_Store" in n for n in dataset.skipped)
    back = open_store(write_store(dataset, tmp_path / "s.duckdb"))
    pd.testing.assert_frame_equal(back.rejected, dataset.rejected, check_index_type=False)
    for name, frame in dataset.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], frame)


def test_validate_verb_reads_the_config_file(mixed, tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("reports: {lang: en}\ndata: {enrolment_grace_days: 3}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(mixed), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "rejected rows written to" in result.output and "data usable: 5 students" in result.output


def test_answers_written_as_words_through_the_mapping_file(tmp_path):
    items = [f"题{k}" for k in range(1, 65)]  # UPI: 60 items and 4 supplementary questions
    answers = ["是", "否"] * 32
    write_csv(tmp_path / "screenings.csv", ["学号", "测评日期", "量表", *items],
              [["A1", "2023-10-01", "UPI", *answers], ["A2", "2023-10-01", "UPI", *answers[:-1], "也许"]], "utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("values:\n  items: {是: 1, 否: 0}\n", encoding="utf-8")
    accepted, rejected = read_table(tmp_path / "screenings.csv", "screenings", settings=EN, mapping=mapping)
    assert accepted.loc[0, ["item_1", "item_2", "item_64"]].tolist() == [1.0, 0.0, 0.0]
    assert rejected[["row", "column", "value"]].values.tolist() == [[3, "item_64", "也许"]]
