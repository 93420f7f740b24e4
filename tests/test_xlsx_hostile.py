"""Hostile text in the spreadsheets riskmodel writes: a control character in a cell costs no list.

One character XML forbids (Word's line break U+000B pasted into a reason, ``\\x01\\x1b`` in a dormitory, ESC
inside a student ID) made openpyxl refuse the whole XLSX, so ``score``, ``run`` and ``score-screenings``
wrote nothing for any student and printed the cell (a student ID) in a traceback. The XLSX now shows such
a character as U+FFFD; the CSV and the Parquet keep every value byte for byte.

Also here: the future-date reason of the rejected rows shows a day (2026-12-06), not a numpy timestamp.
"""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest
import test_warning as warning_cases  # its hand-made feature frames and register (module import: no test re-collected)
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.instruments.commands import write_frame
from riskmodel.models.pipeline import RiskModel
from riskmodel.outputs import XML_ILLEGAL, XML_REPLACEMENT
from riskmodel.warning import score_features, write_warning_list

FFFD = XML_REPLACEMENT
HOSTILE_ID = "2022\x1b010016"  # ESC inside a student ID
DORM = "桃园\x01\x1b[31m1栋"  # a terminal colour code pasted into a dormitory name
REASON = "危机事件后\x0b评估"  # Word's manual line break (U+000B) inside a reason


def sheet_text(path) -> list[str]:
    """Every text cell of every sheet of the workbook at ``path`` (openpyxl reads it back)."""
    book = openpyxl.load_workbook(path)
    return [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]


def test_every_character_openpyxl_refuses_is_replaced():
    refused = [chr(i) for i in range(0x10000) if ILLEGAL_CHARACTERS_RE.match(chr(i))]
    assert refused and all(XML_ILLEGAL.match(ch) for ch in refused)
    assert not XML_ILLEGAL.search("\t\n\r 学号 é \U0001F600")  # what XML allows stays


def test_write_frame_xlsx_replaces_control_characters_csv_and_parquet_stay_exact(tmp_path):
    frame = pd.DataFrame({"student_id": [HOSTILE_ID, "=1+1\x0b", "0012"], "dorm_id": [DORM, None, "A"],
                          "total": [3, 4, 5]})
    xlsx = write_frame(frame, tmp_path / "s.xlsx")
    back = pd.read_excel(xlsx, dtype={"student_id": str})
    assert back["student_id"].tolist() == [f"2022{FFFD}010016", f"'=1+1{FFFD}", "0012"]
    assert back["dorm_id"].iloc[0] == f"桃园{FFFD}{FFFD}[31m1栋"
    csv_ids = pd.read_csv(write_frame(frame, tmp_path / "s.csv"), encoding="utf-8-sig", dtype=str)["student_id"]
    assert csv_ids.tolist() == [HOSTILE_ID, "'=1+1\x0b", "0012"]  # formula-neutralised only, as before
    parquet = pd.read_parquet(write_frame(frame, tmp_path / "s.parquet"))
    pd.testing.assert_frame_equal(parquet, frame)


def test_score_screenings_with_an_escape_in_an_id_writes_every_file(tmp_path):
    """Through the CLI: exit 0, no traceback naming a student, an XLSX openpyxl reads back. Whether the loader
    keeps the ID (then CSV and Parquet hold it byte for byte, the XLSX with U+FFFD) or rejects its row with a
    reason, no file is lost to it."""
    ids = [HOSTILE_ID, "2022010017", "0022010018"]
    items = {f"item_{k}": [1, 0, 2] for k in range(1, 10)}
    export = pd.DataFrame({"student_id": ids, "date": ["2026-03-01"] * 3, "instrument": "PHQ9", **items})
    src = tmp_path / "export.parquet"
    export.to_parquet(src, index=False)
    runner = CliRunner()
    written = {}
    for suffix in (".xlsx", ".csv", ".parquet"):
        out = tmp_path / "out" / f"scores{suffix}"
        result = runner.invoke(app, ["score-screenings", str(src), "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert result.exception is None and "Traceback" not in result.output and "2022" not in result.output
        written[suffix] = out
    parquet_ids = pd.read_parquet(written[".parquet"])["student_id"].tolist()
    assert set(parquet_ids) <= set(ids) and {"2022010017", "0022010018"} <= set(parquet_ids)  # byte-exact IDs
    assert pd.read_csv(written[".csv"], encoding="utf-8-sig", dtype=str)["student_id"].tolist() == parquet_ids
    book = sheet_text(written[".xlsx"])  # openpyxl reads it back
    assert not any(ILLEGAL_CHARACTERS_RE.search(v) for v in book)
    assert all(i.replace("\x1b", FFFD) in book for i in parquet_ids)
    for suffix in (".xlsx", ".csv", ".parquet"):
        assert (tmp_path / "out" / f"scores_rejected{suffix}").exists()
    sheet_text(tmp_path / "out" / "scores_rejected.xlsx")


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return warning_cases.toy_model(1500)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_warning_list_with_control_characters_is_written_in_full(model, tmp_path, lang):
    frame = warning_cases.feature_frame(300)
    frame.loc[0, "student_id"] = HOSTILE_ID
    frame.loc[0, "phq9_item9_latest"] = 2.0  # a hard rule: listed at level I
    students = warning_cases.students_table(frame)
    students.loc[0, "dorm_id"] = DORM
    students.loc[0, "college"] = "=HYPERLINK(\x0b)"
    result = score_features(frame, model, warning_cases.AS_OF, students=students, settings=Settings(), lang=lang,
                            run_id="r1")
    lst = result.warning_list.copy()
    first = lst.index[lst["student_id"] == HOSTILE_ID][0]
    lst.loc[first, "factors"] = REASON
    paths = write_warning_list(lst, tmp_path / "lists", lang=lang)
    book = sheet_text(paths["xlsx"])  # openpyxl reads the whole workbook back
    assert not any(ILLEGAL_CHARACTERS_RE.search(v) for v in book)
    for shown in (f"2022{FFFD}010016", f"桃园{FFFD}{FFFD}[31m1栋", f"'=HYPERLINK({FFFD})", f"危机事件后{FFFD}评估"):
        assert shown in book, shown
    sheet = openpyxl.load_workbook(paths["xlsx"]).worksheets[0]
    assert sheet.max_row == len(lst) + 1  # every listed student, not a line less
    raw = paths["csv"].read_bytes().decode("utf-8-sig")
    for exact in (HOSTILE_ID, DORM, "'=HYPERLINK(\x0b)", REASON):
        assert exact in raw, repr(exact)
    back = pd.read_parquet(paths["parquet"])
    row = back.loc[back["student_id"] == HOSTILE_ID].iloc[0]
    assert (row["dorm_id"], row["college"], row["factors"]) == (DORM, "=HYPERLINK(\x0b)", REASON)
    again = write_warning_list(lst, tmp_path / "again", lang=lang)
    assert again["xlsx"].read_bytes() == paths["xlsx"].read_bytes()  # still byte-for-byte reproducible


def test_the_future_date_reason_shows_a_day(tmp_path):
    from riskmodel.data import load_dataset

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "students.csv").write_text("student_id,school,class_id,stage,gender,enrollment_date\n"
                                         "A1,X,c1,university,F,2023-09-01\n", encoding="utf-8")
    future = (pd.Timestamp.today() + pd.Timedelta(days=30)).strftime("%Y-%m-%d")
    (folder / "screenings.csv").write_text(
        "student_id,date,instrument," + ",".join(f"item_{i}" for i in range(1, 10)) + "\n"
        + "".join(f"A1,{day},PHQ9," + ",".join(["0"] * 9) + "\n" for day in ("2024-03-01", future)), encoding="utf-8")
    today = pd.Timestamp.today().strftime("%Y-%m-%d")
    for lang, shown in (("zh", f"（{today}）"), ("en", f"({today})")):
        rejected = load_dataset(folder, settings=Settings(reports={"lang": lang})).rejected
        reason = rejected.loc[rejected["table"] == "screenings", "reason"].tolist()
        assert len(reason) == 1 and shown in reason[0], reason  # was (2026-12-06T00:00:00.000000)
