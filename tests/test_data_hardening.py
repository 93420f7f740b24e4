"""Issue 12, data side: nobody silently dropped, IDs exact, duplicates linear, reasons never quote text.

Each test writes a small export with real files (CSV, XLSX, Parquet), runs the real command line
(``riskmodel validate`` through typer's CliRunner) or the loader, and checks the exit status, the
message, and that nothing good was lost.
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.data import load_dataset
from riskmodel.data.parse import clean_id, to_text
from riskmodel.data.schema import duplicates
from riskmodel.warning.warning_list import compare_with_previous

EN = Settings(reports={"lang": "en"})
STUDENT_HEADER = ["student_id", "school", "class_id", "stage", "gender", "enrollment_date", "birth_date", "exit_date",
                  "dorm_id", "migrant", "left_behind"]
ITEMS = [f"item_{k}" for k in range(1, 10)]
SCREEN_HEADER = ["student_id", "date", "instrument", *ITEMS, "duration_seconds"]


def _csv(path: Path, header: list[str], rows: list[list[object]], sep: str = ",", title: str | None = None,
         encoding: str = "utf-8") -> Path:
    lines = ([title] if title else []) + [sep.join(header)] + [sep.join("" if v is None else str(v) for v in r)
                                                               for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def _student(sid: str, **cells) -> list[object]:
    row = {"student_id": sid, "school": "X", "class_id": "c1", "stage": "university", "gender": "F",
           "enrollment_date": "2023-09-01", "birth_date": "2005-01-01", "exit_date": "", "dorm_id": "D1",
           "migrant": "否", "left_behind": "否", **cells}
    return [row[c] for c in STUDENT_HEADER]


def _screening(sid: str, date: str = "2023-10-01", answers=(1,) * 9, duration: object = 120) -> list[object]:
    return [sid, date, "PHQ9", *answers, duration]


def _export(folder: Path, students: list[list[object]], screenings: list[list[object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    _csv(folder / "students.csv", STUDENT_HEADER, students)
    _csv(folder / "screenings.csv", SCREEN_HEADER, screenings)
    return folder


def _validate(folder: Path, *extra: str, lang: str = "en"):
    config = folder.parent / f"{folder.name}_settings.yaml"
    if not config.exists():
        config.write_text(f"reports: {{lang: {lang}}}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(folder), "--config", str(config), *extra])
    rejected_path = folder.parent / f"{folder.name}_rejected_rows.csv"
    rejected = pd.read_csv(rejected_path, encoding="utf-8-sig", dtype=str, keep_default_na=False) \
        if rejected_path.exists() else None
    return result, rejected


# ------------------------------------------------------------------ 1. a bad optional cell blanks the cell
def test_bad_optional_flag_blanks_the_cell_and_keeps_the_student_and_records(tmp_path):
    folder = _export(tmp_path / "export", [
        _student("A1", migrant="不清楚"),                      # the case: an optional family flag
        _student("A2", birth_date="2005-02-30"),              # an impossible optional date
        _student("A3", birth_date="2024-01-01"),              # born after enrolment: the birth date goes
        _student("A4", exit_date="2022-01-01"),               # left before enrolling: the exit date goes
        _student("A5", gender="??", migrant="不清楚"),         # a bad REQUIRED cell: the row is rejected
        _student("A6"),
    ], [_screening(s) for s in ("A1", "A2", "A3", "A4", "A5", "A6")])
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert "data usable: 5 students" in result.output
    dataset = load_dataset(folder, settings=EN)
    students = dataset.table("students").set_index("student_id")
    assert sorted(students.index) == ["A1", "A2", "A3", "A4", "A6"]
    assert pd.isna(students.loc["A1", "migrant"]) and not students.loc["A6", "migrant"]
    assert pd.isna(students.loc["A2", "birth_date"]) and pd.isna(students.loc["A3", "birth_date"])
    assert pd.isna(students.loc["A4", "exit_date"])
    assert students.loc["A1", "dorm_id"] == "D1"  # the rest of the row is kept
    # every record of the kept students is kept; only the rejected student's screening goes
    assert sorted(dataset.table("screenings")["student_id"]) == ["A1", "A2", "A3", "A4", "A6"]
    blanked = rejected.loc[rejected["action"] == "cell_blanked"].set_index("row")
    assert blanked.loc["2", ["table", "file", "column", "value"]].tolist() == ["students", "students.csv", "migrant",
                                                                              "不清楚"]
    assert "the cell was left empty; the row was kept" in blanked.loc["2", "reason"]
    assert blanked.loc["3", "column"] == "birth_date" and blanked.loc["4", "column"] == "birth_date"
    assert blanked.loc["5", "column"] == "exit_date"
    row_rejected = rejected.loc[rejected["action"] == "row_rejected"]
    assert row_rejected[["table", "row", "column"]].values.tolist() == [
        ["students", "6", "gender"], ["students", "6", "migrant"], ["screenings", "6", "student_id"]]
    summary = dataset.summary.set_index("table")
    assert summary.loc["students", "rejected"] == 1 and summary.loc["students", "blanked"] == 4


def test_optional_cells_of_other_tables_are_blanked_too(tmp_path):
    folder = _export(tmp_path / "export", [_student("A1")], [
        _screening("A1", "2023-10-01", duration=-5),          # optional duration_seconds out of range
        _screening("A1", "2023-11-01", duration="fast"),      # not a number
    ])
    _csv(folder / "counselling.csv", ["student_id", "date", "kind", "counsellor_rating"],
         [["A1", "2023-10-02", "session", 7], ["A1", "2023-10-03", "session", 2], ["A1", "2023-10-04", "chat", 2]])
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    dataset = load_dataset(folder, settings=EN)
    assert len(dataset.table("screenings")) == 2 and dataset.table("screenings")["duration_seconds"].isna().all()
    counselling = dataset.table("counselling")
    assert len(counselling) == 2  # the rating 7 is blanked, the unknown kind (required) rejects its row
    assert pd.isna(counselling.loc[0, "counsellor_rating"]) and counselling.loc[1, "counsellor_rating"] == 2
    actions = {(t, c): a for t, c, a in rejected[["table", "column", "action"]].values}
    assert actions[("counselling", "counsellor_rating")] == "cell_blanked"
    assert actions[("counselling", "kind")] == "row_rejected"
    assert (rejected.loc[rejected["table"] == "screenings", "action"] == "cell_blanked").all()


# ------------------------------------------------------------------ 2. truncated students file
def test_students_file_cut_off_mid_line_rejects_that_row_and_says_so(tmp_path):
    folder = _export(tmp_path / "export", [_student(f"A{i}") for i in range(1, 6)],
                     [_screening(f"A{i}") for i in range(1, 6)])
    data = (folder / "students.csv").read_bytes()
    cut = data[: data.rstrip(b"\n").rfind(b",2023-09-01") + 6]  # "...,2023-" : the export stopped here
    (folder / "students.csv").write_bytes(cut)
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert "the last line of students.csv is cut off" in result.output.replace("\n", " ")
    truncated = rejected.loc[rejected["reason"].str.contains("cut off")]
    assert truncated[["table", "row", "action"]].values.tolist() == [["students", "6", "row_rejected"]]
    assert sorted(load_dataset(folder, settings=EN).table("students")["student_id"]) == ["A1", "A2", "A3", "A4"]


def test_a_file_without_a_final_line_break_is_complete(tmp_path):
    folder = _export(tmp_path / "export", [_student("A1"), _student("A2")], [_screening("A1"), _screening("A2")])
    (folder / "students.csv").write_bytes((folder / "students.csv").read_bytes().rstrip(b"\n"))
    result, rejected = _validate(folder)
    assert result.exit_code == 0 and "data usable: 2 students" in result.output
    assert rejected.empty


# ------------------------------------------------------------------ 3. IDs are text end to end
TWINS = [110101200001011234, 110101200001011235, 110101200001011299]  # 18 digits: beyond float64's 2**53


def test_parquet_int64_ids_stay_exact(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    students = pd.DataFrame([dict(zip(STUDENT_HEADER, _student("x"))) for _ in TWINS])
    students["student_id"] = pd.Series(TWINS, dtype="int64")
    students.to_parquet(folder / "students.parquet")
    screenings = pd.DataFrame([dict(zip(SCREEN_HEADER, _screening("x"))) for _ in TWINS])
    screenings["student_id"] = pd.Series(TWINS, dtype="int64")
    screenings.to_parquet(folder / "screenings.parquet")
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert "data usable: 3 students" in result.output and rejected.empty
    dataset = load_dataset(folder, settings=EN)
    assert sorted(dataset.table("students")["student_id"]) == [str(t) for t in TWINS]
    assert sorted(dataset.table("screenings")["student_id"]) == [str(t) for t in TWINS]
    assert dataset.table("students")["pseudonym"].is_unique


def test_xlsx_numeric_and_csv_text_ids(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    book = openpyxl.Workbook()
    book.active.append(STUDENT_HEADER)
    book.active.append([20230001, *_student("x")[1:]])                  # a number cell: an 8-digit ID
    book.active.append(["000123", *_student("x")[1:]])                  # a text cell with leading zeros
    book.save(folder / "students.xlsx")
    _csv(folder / "screenings.csv", SCREEN_HEADER, [_screening("20230001"), _screening("000123")])
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert rejected.empty
    assert sorted(load_dataset(folder, settings=EN).table("screenings")["student_id"]) == ["000123", "20230001"]


def test_to_text_never_passes_an_integer_through_float():
    assert to_text(pd.Series(TWINS, dtype="int64")).tolist() == [str(t) for t in TWINS]
    assert to_text(pd.Series(TWINS, dtype="Int64")).tolist() == [str(t) for t in TWINS]
    assert to_text(pd.Series([TWINS[0], "A1", None], dtype=object)).tolist() == [str(TWINS[0]), "A1", None]
    # an ID column of an Excel sheet or Parquet object column with an empty cell: ints among NaN
    assert to_text(pd.Series([TWINS[0], float("nan"), TWINS[1]], dtype=object)).tolist() == [str(TWINS[0]), None,
                                                                                           str(TWINS[1])]


def test_invisible_characters_in_ids_are_one_student_and_reported(tmp_path):
    folder = _export(tmp_path / "export", [_student("S001"), _student("S002\u00a0")], [
        _screening("S001\u200b", "2023-10-01"), _screening("\ufeffS001", "2023-11-01"),
        _screening("S001 ", "2023-12-01"), _screening("S002", "2023-10-01")])
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert rejected.empty
    dataset = load_dataset(folder, settings=EN)
    assert sorted(dataset.table("students")["student_id"]) == ["S001", "S002"]
    assert dataset.table("screenings")["student_id"].tolist().count("S001") == 3
    notes = " ".join(dataset.skipped)
    assert "screenings.csv: 3 student_id values held invisible characters" in notes
    assert "students.csv: 1 student_id values held invisible characters" in notes
    assert clean_id(pd.Series(["S001\u200b", "\u2060S001\u00ad"])).tolist() == ["S001", "S001"]


# ------------------------------------------------------------------ 4 and 5. duplicates
def test_duplicates_same_rows_as_before_naming_the_first(tmp_path):
    rows = [_screening("A1", "2023-10-01")] * 4 + [_screening("A1", "2023-11-01")] * 2
    folder = _export(tmp_path / "export", [_student("A1")], rows)
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert rejected[["row", "value"]].values.tolist() == [["3", "A1, 2023-10-01, PHQ9"], ["4", "A1, 2023-10-01, PHQ9"],
                                                          ["5", "A1, 2023-10-01, PHQ9"], ["7", "A1, 2023-11-01, PHQ9"]]
    assert rejected["reason"].str.startswith("repeats row 2").tolist() == [True, True, True, False]
    assert len(load_dataset(folder, settings=EN).table("screenings")) == 2


def test_duplicate_detection_scales_linearly():
    """Many copies of few keys: the result is exact and does not grow with copies x keys."""
    n = 200_000
    frame = pd.DataFrame({"student_id": (pd.Series(range(n)) % 50).astype(str),
                          "date": pd.Timestamp("2024-01-01"), "instrument": "PHQ9"})
    found = duplicates(frame, "screenings")
    assert len(found) == n - 50
    assert {p["first_pos"] for p in found["params"]} == set(range(50))


def test_late_then_absent_on_one_day_are_two_records(tmp_path):
    folder = _export(tmp_path / "export", [_student("A1"), _student("A2")], [_screening("A1"), _screening("A2")])
    _csv(folder / "attendance.csv", ["student_id", "date", "status"], [
        ["A1", "2023-10-09", "late"], ["A1", "2023-10-09", "absent_unexcused"],
        ["A2", "2023-10-10", "late"], ["A2", "2023-10-10", "absent_excused"], ["A2", "2023-10-10", "leave"],
        ["A2", "2023-10-10", "late"],  # the one true duplicate: same student, day and status
    ])
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert rejected[["table", "row", "column"]].values.tolist() == [["attendance", "7", "student_id,date,status"]]
    assert len(load_dataset(folder, settings=EN).table("attendance")) == 5


# ------------------------------------------------------------------ 6. nothing usable is not "usable"
def test_every_screening_rejected_is_unusable(tmp_path):
    folder = _export(tmp_path / "export", [_student("A1"), _student("A2")],
                     [_screening("A1", answers=(9,) * 9), _screening("A2", answers=(7,) * 9)])
    result, rejected = _validate(folder)
    assert result.exit_code == 2, result.output
    assert "every screening row (2) was rejected" in result.output
    assert "data usable" not in result.output
    assert set(rejected["table"]) == {"screenings"}  # the reasons are written before the refusal


def test_every_student_rejected_is_unusable(tmp_path):
    folder = _export(tmp_path / "export", [_student("A1", gender="?"), _student("A2", stage="kindergarten")],
                     [_screening("A1"), _screening("A2")])
    result, rejected = _validate(folder, "--store", str(tmp_path / "s.duckdb"))
    assert result.exit_code == 2, result.output
    assert "every student row was rejected" in result.output and "data usable" not in result.output
    assert not (tmp_path / "s.duckdb").exists()
    assert len(rejected) == 4


# ------------------------------------------------------------------ 7. separators, title lines, sheets
@pytest.mark.parametrize("sep", ["\t", ";"])
def test_tab_or_semicolon_file_with_a_title_line(tmp_path, sep):
    folder = tmp_path / "export"
    folder.mkdir()
    _csv(folder / "students.csv", STUDENT_HEADER, [_student("A1"), _student("A2")], sep=sep, title="2023级学生名单")
    _csv(folder / "screenings.csv", SCREEN_HEADER, [_screening("A1"), _screening("A2")], sep=sep,
         title="心理普查结果（导出于 2023-10-05）")
    result, rejected = _validate(folder)
    assert result.exit_code == 0, result.output
    assert "data usable: 2 students" in result.output and rejected.empty
    assert load_dataset(folder, settings=EN).table("students")["class_id"].tolist() == ["c1", "c1"]


def _two_workbooks(folder: Path) -> Path:
    folder.mkdir()
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["这张表是说明"])
    names = book.create_sheet("名单")
    names.append(STUDENT_HEADER)
    names.append(_student("A1"))
    book.save(folder / "students.xlsx")
    book = openpyxl.Workbook()
    book.active.append(SCREEN_HEADER)
    book.active.append(_screening("A1"))
    book.save(folder / "screenings.xlsx")
    return folder


def test_excel_sheet_per_table_and_the_old_single_name(tmp_path):
    folder = _two_workbooks(tmp_path / "export")
    for setting in ("{students: 名单}", "名单"):
        config = tmp_path / "export_settings.yaml"
        config.write_text(f"reports: {{lang: en}}\ndata: {{excel_sheet: {setting}}}\n", encoding="utf-8")
        result, _ = _validate(folder)
        assert result.exit_code == 0, (setting, result.output)
        assert "data usable: 1 students" in result.output
    assert "screenings.xlsx: no sheet named '名单'; the first sheet was read" in result.output.replace("\n", " ")
    config.write_text("reports: {lang: en}\ndata: {excel_sheet: {studnets: 名单}}\n", encoding="utf-8")
    result, _ = _validate(folder)
    assert result.exit_code == 2 and "studnets" in result.output


# ------------------------------------------------------------------ 8. reasons never quote free text
def test_text_shifted_into_answers_is_never_quoted(tmp_path):
    folder = _export(tmp_path / "export", [_student("A1"), _student("A2", birth_date="王小明")], [
        _screening("A1", answers=(1, 1, "张三丰", 1, 1, 1, 1, 1, 1)),
        _screening("A2", answers=(1, 1, 1, 1, 1, 1, 1, 1, 7)), _screening("A2", "2023-11-01")])
    for lang in ("en", "zh"):
        config = tmp_path / "export_settings.yaml"
        config.write_text(f"reports: {{lang: {lang}}}\n", encoding="utf-8")
        result, rejected = _validate(folder)
        assert result.exit_code == 0, result.output
        written = rejected.to_csv()
        assert "张三丰" not in written and "王小明" not in written
        assert "张三丰" not in result.output and "王小明" not in result.output
        answers = rejected.set_index("column")
        assert answers.loc["item_9", "value"] == "7" and " 7 " in answers.loc["item_9", "reason"]  # numbers shown
    dataset = load_dataset(folder, settings=EN)
    assert "(text, not shown)" in dataset.rejected.set_index("column").loc["item_3", "reason"]
    assert dataset.rejected.set_index("column").loc["birth_date", "value"] == "(text, not shown)"


# ------------------------------------------------------------------ 2. dropped, not cleared
def test_previously_listed_but_not_scored_is_dropped_not_cleared():
    now = pd.DataFrame({"student_id": ["A"], "level": ["II"]})
    before = pd.DataFrame({"student_id": ["A", "B", "C", "D"], "level": ["I", "I", "II", "III"]})
    change = compare_with_previous(now, before, scored=pd.Series(["A", "C", "X"]), registered=pd.Series(["A", "C", "D"]))
    assert change.set_index("student_id")["change"].to_dict() == {"A": "lowered", "B": "dropped", "C": "cleared",
                                                                   "D": "left"}
    # still missing a month later: still dropped, at the level they had, never silently gone
    later = pd.DataFrame({"student_id": ["A", "B"], "level": ["II", "none"], "change": ["lowered", "dropped"],
                          "previous_level": ["I", "I"]})
    again = compare_with_previous(now.iloc[:0], later, scored=pd.Series(["A"]), registered=pd.Series(["A"]))
    assert again.set_index("student_id").loc["B", ["change", "previous_level"]].tolist() == ["dropped", "I"]
    assert compare_with_previous(now, before)["change"].tolist()[1:] == ["cleared"] * 3  # without the sets


def test_rejected_rows_keep_their_columns_through_the_store(tmp_path):
    from riskmodel.data.store import open_store, write_store

    folder = _export(tmp_path / "export", [_student("A1", migrant="不清楚")], [_screening("A1")])
    dataset = load_dataset(folder, settings=EN)
    back = open_store(write_store(dataset, tmp_path / "s.duckdb"))
    pd.testing.assert_frame_equal(back.rejected, dataset.rejected, check_index_type=False)
    assert back.rejected["action"].tolist() == ["cell_blanked"]
    assert json.loads(json.dumps(back.files))["students"]["format"] == "csv"


def test_the_default_rejected_rows_file_lies_beside_the_data_folder_even_for_dot(tmp_path, monkeypatch):
    """`riskmodel validate .` must not put its rejected rows inside the folder it reads (the output
    guard would refuse it): the default is resolved first."""
    from riskmodel.data.validate import default_rejected_path

    data = tmp_path / "centre"
    data.mkdir()
    monkeypatch.chdir(data)
    for given in (Path("."), Path(""), data / "sub" / ".."):
        path = default_rejected_path(given)
        assert path.parent == tmp_path, given
        assert path.name == "centre_rejected_rows.csv"
