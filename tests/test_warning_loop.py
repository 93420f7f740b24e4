"""The review loop end to end with real files: lists written, a meeting's decisions sheet filled in,
`riskmodel reviews import`, the next list following the review, a new critical answer reopening the
case, an unreviewed trigger holding level I, and no note in any output."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.i18n import text
from riskmodel.warning.commands import score_command
from riskmodel.warning.localise import delocalise

AS_OF = pd.Timestamp("2023-12-01")
NOTE = "NOTE-7f3a-机密备注"


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small synthetic university (no reviews yet) and a model fitted on its own features."""
    from riskmodel.features import build_features
    from riskmodel.features.export import open_data
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel
    from riskmodel.synth import generate, write

    folder = tmp_path_factory.mktemp("loop")
    write(generate(students=300, years=2, seed=3), folder / "data")
    for old in (folder / "data").glob("reviews.*"):  # the loop starts with no decision recorded
        old.unlink()
    settings = Settings()
    features = build_features(open_data(folder / "data", settings=settings), [AS_OF], settings=settings)
    spec = FeatureSpec.from_frame(features)
    rng = np.random.default_rng(0)
    y = (rng.random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  folder / "model")
    return folder


def _data(small, tmp_path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(small / "data", target, ignore=shutil.ignore_patterns("_truth"))
    return target


def _students(data: Path) -> pd.DataFrame:
    return pd.read_csv(data / "students.csv", encoding="gb18030", dtype=str)


def _add_phq9(data: Path, student: str, day: pd.Timestamp, item9: int) -> None:
    """Append one PHQ-9 administration to the data's screenings file."""
    path = data / "screenings.parquet"
    frame = pd.read_parquet(path)
    row = frame.loc[frame["instrument"] == "PHQ9"].iloc[:1].copy()
    written = day.strftime("%Y-%m-%d") if isinstance(frame["date"].iloc[0], str) else day.date()
    row["student_id"], row["instrument"] = student, "PHQ9"
    row["date"] = [written]
    row[[f"item_{k}" for k in range(1, 10)]] = 0
    row["item_9"] = item9
    frame = pd.DataFrame({c: pd.array([*frame[c].tolist(), row[c].iloc[0]], dtype=frame[c].dtype)
                          for c in frame.columns})
    frame.to_parquet(path, index=False)


def _enrolled_before(data: Path, day: pd.Timestamp, k: int = 0) -> str:
    """The k-th student (file order) enrolled 30 days or more before ``day``, with no exit before it."""
    students = _students(data)
    start = pd.to_datetime(students["enrollment_date"])
    end = pd.to_datetime(students["exit_date"])
    ok = (start <= day - pd.Timedelta(days=30)) & ~(end <= AS_OF + pd.Timedelta(days=60))
    return str(students.loc[ok, "student_id"].iloc[k])


def _score(data, small, as_of, out, previous=None, settings=None, lang="zh"):
    frame, paths = score_command(data, small / "model", as_of, out, settings=settings or Settings(), lang=lang,
                                 previous=previous)
    return frame.set_index("student_id"), paths


def _header_row(ws, lang: str) -> int:
    """The decisions sheet's header row: the one holding the review date's header (row 2, under the instruction)."""
    return next(r for r in range(1, 6) if text("warning.decisions.date", lang) in [c.value for c in ws[r]])


def _fill(xlsx: Path, decisions: dict[str, list], lang: str = "zh") -> None:
    """Fill the decisions sheet: ``decisions[pseudonym] = [date, level, status, next_review, role, reason]``;
    a pseudonym not on the sheet is written into an empty row."""
    book = openpyxl.load_workbook(xlsx)
    ws = book[text("warning.sheet.decisions", lang)]
    top = _header_row(ws, lang)
    header = [c.value for c in ws[top]]
    first_input = header.index(text("warning.decisions.date", lang)) + 1
    rows = {ws.cell(row=r, column=1).value: r for r in range(top + 1, ws.max_row + 1)
            if ws.cell(row=r, column=1).value}
    free = len(rows) + top + 1
    for pseudonym, values in decisions.items():
        r = rows.get(pseudonym)
        if r is None:
            r, free = free, free + 1
            ws.cell(row=r, column=1, value=pseudonym)
        for j, value in enumerate(values):
            ws.cell(row=r, column=first_input + j, value=value)
    book.save(xlsx)


def _import(xlsx, data, by="心理中心"):
    return CliRunner().invoke(app, ["reviews", "import", str(xlsx), "--data", str(data), "--by", by])


def test_review_lowers_next_run_and_a_new_critical_answer_reopens(small, tmp_path):
    data = _data(small, tmp_path)
    student = _enrolled_before(data, AS_OF - pd.Timedelta(days=20))
    _add_phq9(data, student, AS_OF - pd.Timedelta(days=20), item9=2)
    first, paths = _score(data, small, AS_OF, tmp_path / "m1")
    row = first.loc[student]
    assert (row["level"], row["state"], row["path"]) == ("I", "awaiting_interview", "rule:phq9_item9")
    assert row["days_waiting"] == 20 and bool(row["interview_overdue"])
    assert (first["level"] == "I").sum() == (first["state"].isin(["awaiting_interview"])
                                             | (first["reviewed_level"] == "I")).sum()
    # the meeting interviews her two days before the list, finds low risk and sets level III
    _fill(paths["xlsx"], {row["pseudonym"]: [(AS_OF - pd.Timedelta(days=2)).to_pydatetime(), "三级", "随访关注",
                                             (AS_OF + pd.Timedelta(days=30)).to_pydatetime(), "辅导员", "访谈后风险较低"]})
    result = _import(paths["xlsx"], data)
    assert result.exit_code == 0, result.output
    assert "新增1条研判结论" in result.output  # the centre's language (reports.lang, zh by default)
    reviews_file = data / "reviews.csv"
    before = reviews_file.read_bytes()
    again = _import(paths["xlsx"], data)
    assert again.exit_code == 0 and "新增0条研判结论，1条已存在" in again.output
    assert reviews_file.read_bytes() == before  # idempotent: nothing added, nothing rewritten
    stored = pd.read_csv(reviews_file, encoding="utf-8-sig", dtype=str)
    assert stored.loc[0, "student_id"] == student and stored.loc[0, "level"] == "III"
    assert stored.loc[0, "imported_by"] == "心理中心" and stored.loc[0, "imported_at"].endswith("Z")
    assert oct(reviews_file.stat().st_mode & 0o777) == "0o600"

    later = AS_OF + pd.Timedelta(days=7)
    second, _ = _score(data, small, later, tmp_path / "m2", previous=paths["parquet"])
    row = second.loc[student]
    assert row["state"] == "under_review" and row["reviewed_level"] == "III"
    assert row["level"] in ("II", "III") and row["change"] == "lowered"
    assert row["path"] == f"review:counsellor:{AS_OF - pd.Timedelta(days=2):%Y-%m-%d}" or row["path"] == "score"
    assert row["model_level"] in ("I", "II", "III", "none")

    # a new critical answer after the review reopens the case: level I again, waiting from its date
    _add_phq9(data, student, AS_OF + pd.Timedelta(days=3), item9=3)
    third, _ = _score(data, small, later, tmp_path / "m3", previous=paths["parquet"])
    row = third.loc[student]
    assert (row["level"], row["state"]) == ("I", "awaiting_interview")
    assert pd.Timestamp(row["trigger_date"]) == AS_OF + pd.Timedelta(days=3) and row["days_waiting"] == 4
    assert row["reviewed_level"] == "III"  # the earlier decision stays visible beside the new wait


def test_a_trigger_without_review_never_leaves_level_one(small, tmp_path):
    data = _data(small, tmp_path)
    old = AS_OF - pd.Timedelta(days=400)
    student = _enrolled_before(data, old, k=1)
    _add_phq9(data, student, old, item9=1)
    _add_phq9(data, student, AS_OF - pd.Timedelta(days=60), item9=0)  # re-tested, not interviewed
    for k, as_of in enumerate((AS_OF, AS_OF + pd.Timedelta(days=30))):
        listed, _ = _score(data, small, as_of, tmp_path / f"r{k}")
        row = listed.loc[student]
        assert (row["level"], row["state"]) == ("I", "awaiting_interview")
        assert pd.Timestamp(row["trigger_date"]) <= old and row["days_waiting"] >= 400
        assert bool(row["interview_overdue"])
    # legacy mode restores the 365-day window: the old answer has expired there
    legacy = Settings.model_validate({"warning": {"case_mode": "legacy"}})
    listed, _ = _score(data, small, AS_OF, tmp_path / "legacy", settings=legacy)
    assert "state" not in listed.columns
    if student in listed.index:
        assert "phq9_item9" not in str(listed.loc[student, "path"])


def test_import_rejects_bad_rows_by_row_and_keeps_the_good(small, tmp_path):
    data = _data(small, tmp_path)
    student = _enrolled_before(data, AS_OF - pd.Timedelta(days=10), k=2)
    _add_phq9(data, student, AS_OF - pd.Timedelta(days=10), item9=1)
    listed, paths = _score(data, small, AS_OF, tmp_path / "m1", lang="en")
    pseudonyms = listed["pseudonym"].tolist()
    good, bad_level, future_row = pseudonyms[0], pseudonyms[1], pseudonyms[2]
    day = (AS_OF - pd.Timedelta(days=1)).to_pydatetime()
    _fill(paths["xlsx"], {
        good: [day, "II", "monitoring", None, "meeting", "seen"],
        bad_level: [day, "IV", "monitoring", None, None, None],
        future_row: [(pd.Timestamp.today() + pd.Timedelta(days=10)).to_pydatetime(), "I", "referred", None, None, None],
        "S-notastudent": [day, "I", "hospital", None, None, None],
    }, lang="en")
    # a reviews table already there, with Chinese headers and a note: appended to, never rewritten
    (data / "reviews.csv").write_bytes("学号,研判日期,预警等级,状态,备注\r\n".encode("utf-8-sig")
                                       + f"{student},{AS_OF - pd.Timedelta(days=300):%Y-%m-%d},二级,随访关注,{NOTE}\r\n"
                                       .encode())
    earlier = pd.read_csv(data / "reviews.csv", encoding="utf-8-sig", dtype=str)
    result = CliRunner().invoke(app, ["reviews", "import", str(paths["xlsx"]), "--data", str(data), "--by", "centre",
                                      "--config", str(_en_config(tmp_path))])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "1 decisions added" in out and "3 rows rejected" in out
    name = paths["xlsx"].name
    assert f"{name}, row" in out and "column Level decided: not one of Level I, Level II, Level III, No level" in out
    assert "dated after today" in out and "no student of the data folder has this pseudonym" in out
    assert NOTE not in result.output
    after = pd.read_csv(data / "reviews.csv", encoding="utf-8-sig", dtype=str)
    assert after.iloc[:1][earlier.columns].equals(earlier)  # the earlier row reads back as it was
    assert len(after) == 2 and list(after.columns[:5]) == list(earlier.columns)  # its headers kept
    from riskmodel.data import load_dataset

    reviews = load_dataset(data, settings=Settings()).table("reviews")
    assert reviews["level"].tolist() == ["II", "II"] and reviews["reviewer_role"].tolist()[1] == "meeting"
    assert reviews["note"].tolist()[0] == NOTE and pd.isna(reviews["note"].tolist()[1])
    assert reviews["imported_by"].tolist()[1] == "centre"


def _en_config(tmp_path) -> Path:
    path = tmp_path / "en.yaml"
    path.write_text("reports:\n  lang: en\n", encoding="utf-8")
    return path


def test_the_decisions_sheet_has_drop_downs_and_the_list_the_loop(small, tmp_path):
    data = _data(small, tmp_path)
    student = _enrolled_before(data, AS_OF - pd.Timedelta(days=3), k=3)
    _add_phq9(data, student, AS_OF - pd.Timedelta(days=3), item9=1)
    listed, paths = _score(data, small, AS_OF, tmp_path / "m1")
    book = openpyxl.load_workbook(paths["xlsx"])
    assert [ws.title for ws in book.worksheets] == ["预警名单", "说明", "研判结论"]
    ws = book["研判结论"]
    formulas = sorted(dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list")
    assert '"一级,二级,三级,无"' in formulas and any("随访关注" in f and "解除" in f for f in formulas)
    assert any(dv.type == "date" for dv in ws.data_validations.dataValidation)
    # the most urgent first: awaiting interview, overdue, longest waiting
    sheet_order = [ws.cell(row=r, column=1).value for r in range(3, ws.max_row + 1) if ws.cell(row=r, column=1).value]
    by_pseudonym = listed.reset_index().set_index("pseudonym")
    awaiting = by_pseudonym.loc[by_pseudonym["state"] == "awaiting_interview"]
    head = by_pseudonym.loc[sheet_order[:len(awaiting)]]
    assert (head["state"] == "awaiting_interview").all() and listed.loc[student, "pseudonym"] in head.index
    key = list(zip(~head["interview_overdue"].astype(bool), -head["days_waiting"].astype(int)))
    assert key == sorted(key)
    header = [c.value for c in book.worksheets[0][1]]
    for column in ("state", "trigger_date", "days_waiting", "interview_overdue", "reviewed_level", "review_overdue",
                   "model_level", "change"):
        assert text(f"warning.column.{column}", "zh") in header  # the people's files: localised headers
    csv_frame = pd.read_csv(paths["csv"], encoding="utf-8-sig", dtype=str)
    csv_frame = delocalise(csv_frame).rename(columns={text("warning.column.trigger_date", "zh"): "trigger_date"})
    assert csv_frame.loc[csv_frame["student_id"] == student, "trigger_date"].item() == \
        f"{AS_OF - pd.Timedelta(days=3):%Y-%m-%d}"
    parquet = pd.read_parquet(paths["parquet"])
    assert parquet["days_waiting"].dtype.kind == "i" and parquet["interview_overdue"].dtype == bool
    # what a counsellor reads in the sheet: the rule in words, a date without a time, no reviewed level for a
    # student never reviewed (it read 解除, "released", for a student awaiting interview)
    row = next(r for r in book.worksheets[0].iter_rows(min_row=2, values_only=True)
               if r[header.index(text("warning.column.pseudonym", "zh"))] == listed.loc[student, "pseudonym"])
    cell = dict(zip(header, row, strict=True))
    assert cell[text("warning.column.trigger_rules", "zh")] == text("warning.rule.phq9_item9", "zh")
    assert cell[text("warning.column.trigger_date", "zh")] == f"{AS_OF - pd.Timedelta(days=3):%Y-%m-%d}"
    assert cell[text("warning.column.reviewed_level", "zh")] in (None, "")
    assert parquet.loc[parquet["student_id"] == student, "reviewed_level"].item() == "none"  # programs: the code


def _texts_of(path: Path) -> list[str]:
    """Every text a file holds: plain files as they are, XLSX/zip entries unpacked, Parquet cells."""
    data = path.read_bytes()
    if path.suffix in (".xlsx", ".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        return [frame.astype(str).to_csv(), json.dumps(list(map(str, frame.columns)), ensure_ascii=False)]
    return [data.decode("utf-8", "replace"), data.decode("gb18030", "replace")]


def test_a_full_run_shows_the_loop_and_no_note_reaches_any_output(small, tmp_path):
    from riskmodel.reports import open_run
    from riskmodel.reports.runner import run
    from riskmodel.reports.views import case_section, interview_queue, overdue_reviews

    data = _data(small, tmp_path)
    student = _enrolled_before(data, AS_OF - pd.Timedelta(days=15), k=4)
    reviewed = _enrolled_before(data, AS_OF - pd.Timedelta(days=90), k=5)
    _add_phq9(data, student, AS_OF - pd.Timedelta(days=15), item9=2)
    (data / "reviews.csv").write_text(
        "student_id,date,level,status,next_review,reviewer_role,reason,note\n"
        f"{reviewed},{AS_OF - pd.Timedelta(days=60):%Y-%m-%d},II,monitoring,{AS_OF - pd.Timedelta(days=30):%Y-%m-%d},"
        f"meeting,复评,{NOTE}\n", encoding="utf-8")
    result = run(data, small / "model", date(2023, 12, 1), tmp_path / "reports", settings=Settings(), jobs=1)
    assert not result.failed, result.failed
    run_dir = result.run_dir
    lst = pd.read_parquet(run_dir / "warning_list.parquet").set_index("student_id")
    assert lst.loc[student, "state"] == "awaiting_interview" and lst.loc[student, "level"] == "I"
    assert lst.loc[reviewed, "reviewed_level"] == "II" and bool(lst.loc[reviewed, "review_overdue"])
    assert lst.loc[reviewed, "level"] in ("I", "II")  # the floor holds until the next review
    report = open_run(run_dir)
    queue = interview_queue(report, "school", "", "en")
    assert len(queue) >= 1 and queue.iloc[0, 0] == lst.loc[student, "pseudonym"] or \
        lst.loc[student, "pseudonym"] in queue.iloc[:, 0].tolist()
    overdue = overdue_reviews(report, "school", "", "en")
    assert lst.loc[reviewed, "pseudonym"] in overdue.iloc[:, 0].tolist()
    # the reviewed level in words, and none for a student nobody has reviewed yet (not "Not listed")
    mine = queue.set_index(queue.columns[0]).loc[lst.loc[student, "pseudonym"]]
    assert mine[text("reports.col.reviewed_level", "en")] == ""
    theirs = overdue.set_index(overdue.columns[0]).loc[lst.loc[reviewed, "pseudonym"]]
    assert theirs[text("reports.col.reviewed_level", "en")] == text("warning.value.reviewed_level.II", "en")
    assert "<table" in case_section(report, "school", "", "en")._repr_html_()
    html = (run_dir / "reports").glob("*.html")
    assert any(text("reports.cohort.s6", "zh") in p.read_text(encoding="utf-8") for p in html)
    found = []
    for path in run_dir.rglob("*"):
        if path.is_file() and any(NOTE in t for t in _texts_of(path)):
            found.append(str(path.relative_to(run_dir)))
    assert found == []


def _choice_formula(column: str, lang: str) -> str:
    from riskmodel import vocab
    from riskmodel.warning.export import _DECISION_WORDS

    words, enum = _DECISION_WORDS[column]
    return '"' + ",".join(text(f"warning.value.{words}.{code}", lang) for code in vocab.contract_enum(enum)) + '"'


def test_the_english_decisions_sheet_offers_the_lists_words_and_says_first_how_to_fill_it(small, tmp_path):
    """The drop-downs, the current level and state are the words the list shows (they were codes: I, none,
    psych_teacher), the headers are capitalised, and the instruction is row 1 (it was the last row, after 100
    empty ones); a row filled with those words imports."""
    from riskmodel.warning.export import DECISION_CHOICES, DECISION_COLUMNS, decision_header

    data = _data(small, tmp_path)
    listed, paths = _score(data, small, AS_OF, tmp_path / "m1", lang="en")
    book = openpyxl.load_workbook(paths["xlsx"])
    assert [ws.title for ws in book.worksheets] == [text(f"warning.sheet.{s}", "en") for s in ("list", "about",
                                                                                                "decisions")]
    ws = book[text("warning.sheet.decisions", "en")]
    assert ws["A1"].value == text("warning.decisions.intro", "en") and "A1:I1" in {str(m) for m in ws.merged_cells.ranges}
    header = [c.value for c in ws[2]]
    assert header == [decision_header(c, "en") for c in DECISION_COLUMNS] and all(h[0].isupper() for h in header)
    lists = {dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
    assert lists == {_choice_formula(c, "en") for c in ("level", "status", "reviewer_role")}
    assert '"Level I,Level II,Level III,No level"' in lists and "psychology teacher" in " ".join(lists)
    assert all(str(dv.sqref).split(":")[0][1:] == "3" for dv in ws.data_validations.dataValidation)
    # no drop-down word breaks Excel's comma-separated list, in either language
    assert not [w for c in DECISION_CHOICES.values() for lang in ("zh", "en") for w in c[lang] if "," in w or '"' in w]
    # the current level and state in the words of the list sheet
    main = pd.DataFrame(list(book.worksheets[0].iter_rows(min_row=2, values_only=True)),
                        columns=[c.value for c in book.worksheets[0][1]])
    level_of = dict(zip(main[text("warning.column.pseudonym", "en")], main[text("warning.column.level", "en")]))
    rows = [r for r in ws.iter_rows(min_row=3, values_only=True) if r[0]]
    assert rows and all(level_of[r[0]] == r[1] for r in rows)
    assert {r[1] for r in rows} <= {text(f"warning.value.level.{v}", "en") for v in ("I", "II", "III", "none")}
    assert {r[2] for r in rows} <= {text(f"warning.value.state.{v}", "en") for v in
                                    ("awaiting_interview", "under_review", "released", "none")}
    day = (AS_OF - pd.Timedelta(days=1)).to_pydatetime()
    _fill(paths["xlsx"], {rows[0][0]: [day, "Level III", "Monitoring", None, "psychology teacher", "seen"]}, lang="en")
    result = CliRunner().invoke(app, ["reviews", "import", str(paths["xlsx"]), "--data", str(data), "--by", "centre",
                                      "--config", str(_en_config(tmp_path))])
    assert result.exit_code == 0 and "1 decisions added, 0 already present, 0 rows rejected" in result.output
    stored = pd.read_csv(data / "reviews.csv", encoding="utf-8-sig", dtype=str)
    assert stored.loc[0, ["level", "status", "reviewer_role"]].tolist() == ["III", "monitoring", "psych_teacher"]


def test_a_word_with_a_comma_and_a_sheet_of_an_earlier_version_both_import(small, tmp_path, monkeypatch):
    """A drop-down word holding a comma would split Excel's list literal: the list moves to a hidden sheet. A sheet
    written by an earlier version (header in row 1, English codes, the instruction in the last row) still imports."""
    from riskmodel.warning.export import DECISION_CHOICES

    roles = {("year head, form tutor" if code == "class_teacher" else w): code
             for w, code in DECISION_CHOICES["reviewer_role"]["en"].items()}
    monkeypatch.setitem(DECISION_CHOICES["reviewer_role"], "en", roles)
    data = _data(small, tmp_path)
    listed, paths = _score(data, small, AS_OF, tmp_path / "m1", lang="en")
    book = openpyxl.load_workbook(paths["xlsx"])
    hidden = book[text("warning.decisions.choices_sheet", "en")]
    assert hidden.sheet_state == "hidden" and [c.value for c in hidden["A"]] == list(roles)
    ws = book[text("warning.sheet.decisions", "en")]
    formulas = {dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
    assert f"'{hidden.title}'!$A$1:$A${len(roles)}" in formulas and _choice_formula("level", "en") in formulas
    first, second = [r[0] for r in ws.iter_rows(min_row=3, max_row=4, values_only=True)]
    day = (AS_OF - pd.Timedelta(days=1)).to_pydatetime()
    _fill(paths["xlsx"], {first: [day, "Level II", "Referred", None, "year head, form tutor", None]}, lang="en")
    assert _import(paths["xlsx"], data).exit_code == 0
    # the same file as an earlier version wrote it: no instruction row, lowercase headers, codes, note at the bottom
    book = openpyxl.load_workbook(paths["xlsx"])
    ws = book[text("warning.sheet.decisions", "en")]
    ws.unmerge_cells("A1:I1")
    ws.delete_rows(1)
    old = ["pseudonym", "current level (for reference)", "current state (for reference)", "review date", "level",
           "status", "next review", "reviewer", "reason"]
    for j, name in enumerate(old, start=1):
        ws.cell(row=1, column=j, value=name)
    ws.cell(row=2, column=2, value="I")
    ws.cell(row=ws.max_row + 101, column=1, value="The meeting fills in its decisions here (one row per student)")
    row = next(r for r in range(2, ws.max_row + 1) if ws.cell(row=r, column=1).value == second)
    for j, value in enumerate([day, "III", "monitoring", None, "meeting", "seen"], start=4):
        ws.cell(row=row, column=j, value=value)
    book.save(paths["xlsx"])
    result = _import(paths["xlsx"], data)
    assert result.exit_code == 0 and "新增1条研判结论，1条已存在，0行未导入" in result.output, result.output
    from riskmodel.data import load_dataset

    reviews = load_dataset(data, settings=Settings()).table("reviews")
    assert reviews[["level", "status", "reviewer_role"]].values.tolist() == [["II", "referred", "class_teacher"],
                                                                            ["III", "monitoring", "meeting"]]


def test_import_appends_in_the_words_of_the_centres_own_table(small, tmp_path):
    """A Chinese reviews table gets Chinese rows: the spelling the file uses most for each code (三级, 解除,
    心理老师, not III, released, psych_teacher), the catalogue's word for a code it never used (二级, 住院), and
    Chinese headers for the columns added (导入人 ...); it reads back, validates, and a second import adds nothing.
    The summary and the rejections are in the centre's language."""
    from riskmodel.data import load_dataset
    from riskmodel.data.load import read_table

    data = _data(small, tmp_path)
    listed, paths = _score(data, small, AS_OF, tmp_path / "m1")
    kept = _enrolled_before(data, AS_OF - pd.Timedelta(days=300), k=6)
    days = [f"{AS_OF - pd.Timedelta(days=d):%Y-%m-%d}" for d in (250, 200, 150, 120, 100, 90)]
    own = ["学号,研判日期,预警等级,状态,下次研判日期,研判人,原因,备注",
           f"{kept},{days[0]},三级,随访关注,{days[1]},心理老师,复评,{NOTE}",
           f"{kept},{days[1]},Ⅲ级,随访关注,,心理老师,复评,",
           f"{kept},{days[2]},三级,随访关注,,心理教师,复评,",
           f"{kept},{days[3]},无,解除,,研判会,好转,",
           f"{kept},{days[4]},一级,销号,,研判会,,",
           f"{kept},{days[5]},无,解除,,心理老师,好转,"]
    (data / "reviews.csv").write_bytes("\r\n".join([*own, ""]).encode("utf-8-sig"))
    first, second, third = listed.reset_index()["pseudonym"].iloc[:3]
    day = (AS_OF - pd.Timedelta(days=1)).to_pydatetime()
    _fill(paths["xlsx"], {first: [day, "三级", "解除关注", None, "心理教师", "好转"],
                          second: [day, "二级", "住院", (AS_OF + pd.Timedelta(days=14)).to_pydatetime(), "班主任", None],
                          third: ["2023-13-45", "一级", "转介", None, None, None]})
    result = _import(paths["xlsx"], data)
    assert result.exit_code == 1, result.output
    lines = (data / "reviews.csv").read_bytes().decode("utf-8-sig").split("\r\n")
    assert lines[0] == own[0] + ",导入人,导入时间,来源"
    assert [line[:len(o)] for line, o in zip(lines[1:7], own[1:], strict=True)] == own[1:]  # earlier rows as they were
    new = [line.split(",") for line in lines[7:9]]
    assert sorted(r[2:4] + r[5:6] for r in new) == [["三级", "解除", "心理老师"], ["二级", "住院", "班主任"]]
    assert lines[9:] == [""]
    # read back through riskmodel's loader: the codes, every row accepted
    reviews = load_dataset(data, settings=Settings()).table("reviews")
    assert sorted(reviews[["level", "status", "reviewer_role"]].values.tolist()[-2:]) == [
        ["II", "hospital", "class_teacher"], ["III", "released", "psych_teacher"]]
    assert reviews["imported_by"].tolist()[-2:] == ["心理中心"] * 2
    assert reviews["source"].iloc[-2:].str.startswith(f"{paths['xlsx'].name}:").all()
    accepted, rejected = read_table(data / "reviews.csv", "reviews", settings=Settings())
    assert len(accepted) == 8 and rejected.empty
    out = " ".join(result.output.split())  # the centre's language (zh): the summary and the rejected row
    assert "新增2条研判结论，0条已存在，1行未导入" in out, result.output
    assert f"未导入：{paths['xlsx'].name}，第" in out and "研判日期列：研判日期不是日期" in out
    before = (data / "reviews.csv").read_bytes()
    again = _import(paths["xlsx"], data)
    assert "新增0条研判结论，2条已存在，1行未导入" in " ".join(again.output.split())
    assert (data / "reviews.csv").read_bytes() == before


def test_a_refused_score_says_why_in_the_centres_language(small, tmp_path):
    """The pre-flight refusal that leaves a centre without its list (here: an as-of date before any screening) is in
    the report language, Chinese by default, English under reports.lang: en; exit 2, nothing written."""
    args = ["score", "--data", str(small / "data"), "--model", str(small / "model"), "--as-of", "2000-01-01"]
    zh = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "zh")])
    assert zh.exit_code == 2, zh.output
    said = " ".join(zh.output.split())
    assert "2000-01-01或之前没有任何筛查记录" in said and "请检查 --as-of 或筛查表" in said and "no screening" not in said
    en = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "en"), "--config", str(_en_config(tmp_path))])
    assert en.exit_code == 2 and "no screening on or before 2000-01-01" in " ".join(en.output.split()), en.output
    assert not (tmp_path / "zh").exists() and not (tmp_path / "en").exists()
