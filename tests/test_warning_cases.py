"""The review loop's core: the reviews table (loaded, mapped, validated by row) and the case states."""

from __future__ import annotations

import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.data import load_dataset, read_table
from riskmodel.warning.cases import CASE_COLUMNS, case_states

EN = Settings(reports={"lang": "en"})
KEY_HEX = "ab" * 32


@pytest.fixture(autouse=True)
def _pseudonym_key(monkeypatch):
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", KEY_HEX)


def _reviews(rows):
    frame = pd.DataFrame(rows, columns=["student_id", "date", "level", "status", "next_review", "reviewer_role"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["next_review"] = pd.to_datetime(frame["next_review"])
    frame["reason"] = None
    frame["note"] = "SECRET NOTE"
    return frame


def _triggers(rows):
    frame = pd.DataFrame(rows, columns=["student_id", "date", "rule"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def _state(states, sid):
    return states.set_index("student_id").loc[sid]


def test_trigger_without_review_waits_and_never_expires():
    triggers = _triggers([["a", "2025-01-10", "phq9_item9"]])
    for as_of, days in (("2025-01-15", 5), ("2025-01-20", 10), ("2026-06-01", 507)):
        row = _state(case_states(None, triggers, as_of, settings=Settings()), "a")
        assert row["state"] == "awaiting_interview"
        assert row["days_waiting"] == days
        assert row["interview_overdue"] == (days > 7)
        assert row["trigger_rules"] == "phq9_item9"
    # before the trigger's date the student is in no case at all
    assert case_states(None, triggers, "2025-01-09", settings=Settings()).empty


def test_interview_due_days_setting():
    triggers = _triggers([["a", "2025-01-10", "phq9_item9"]])
    s = Settings.model_validate({"warning": {"interview_due_days": 3}})
    assert bool(_state(case_states(None, triggers, "2025-01-14", settings=s), "a")["interview_overdue"])
    assert not bool(_state(case_states(None, triggers, "2025-01-13", settings=s), "a")["interview_overdue"])


def test_review_on_the_trigger_day_answers_it_and_a_new_trigger_reopens():
    triggers = _triggers([["a", "2025-01-10", "phq9_item9"], ["a", "2025-03-02", "urgent_self_harm_observation"]])
    reviews = _reviews([["a", "2025-01-10", "II", "monitoring", "2025-02-10", "counsellor"]])
    row = _state(case_states(reviews, triggers, "2025-02-01", settings=Settings()), "a")
    assert (row["state"], row["reviewed_level"], row["review_overdue"]) == ("under_review", "II", False)
    assert row["days_waiting"] == 0 and pd.isna(row["trigger_date"])
    row = _state(case_states(reviews, triggers, "2025-02-20", settings=Settings()), "a")
    assert (row["state"], bool(row["review_overdue"])) == ("under_review", True)
    row = _state(case_states(reviews, triggers, "2025-03-05", settings=Settings()), "a")
    assert row["state"] == "awaiting_interview"
    assert row["trigger_rules"] == "urgent_self_harm_observation"  # the answered trigger is not listed
    assert row["trigger_date"] == pd.Timestamp("2025-03-02") and row["days_waiting"] == 3
    assert row["reviewed_level"] == "II"  # the last decision stays visible beside the new wait


def test_release_and_point_in_time():
    triggers = _triggers([["a", "2025-01-10", "phq9_item9"]])
    reviews = _reviews([["a", "2025-01-12", "I", "referred", "2025-01-26", "psych_teacher"],
                        ["a", "2025-02-20", "none", "released", None, "meeting"]])
    assert _state(case_states(reviews, triggers, "2025-02-19", settings=Settings()), "a")["reviewed_level"] == "I"
    row = _state(case_states(reviews, triggers, "2025-02-20", settings=Settings()), "a")
    assert (row["state"], row["reviewer_role"], bool(row["review_overdue"])) == ("released", "meeting", False)
    assert pd.isna(row["next_review"])


def test_same_day_decisions_take_the_later_row_and_default_interval():
    reviews = _reviews([["b", "2025-01-12", "II", "monitoring", None, "counsellor"],
                        ["b", "2025-01-12", "III", "monitoring", None, "meeting"]])
    states = case_states(reviews, None, "2025-02-12", settings=Settings())
    row = _state(states, "b")
    assert row["reviewed_level"] == "III" and row["next_review"] == pd.Timestamp("2025-02-11")
    assert bool(row["review_overdue"])
    assert list(states.columns) == CASE_COLUMNS
    assert "SECRET NOTE" not in states.astype(str).to_string()


def _write(path, text):
    path.write_text(text, encoding="utf-8")


def test_reviews_table_chinese_headers_and_values(tmp_path):
    _write(tmp_path / "reviews.csv",
           "学号,研判日期,预警等级,状态,下次研判日期,研判人,原因,备注\n"
           "1,2025-10-01,一级,随访关注,2025-11-01,辅导员,因,秘密\n"
           "2,2025-10-01,无,解除,,研判会,,\n"
           "3,2025-10-01,none,销号,,心理中心,,\n"
           "4,2025-10-01,三级,转介,2025-09-01,心理老师,,\n"
           "5,2025-10-01,四级,住院,,班主任,,\n"
           "6,2025-10-01,二级,出院,,,,\n")
    accepted, rejected = read_table(tmp_path / "reviews.csv", "reviews", settings=EN)
    assert accepted["student_id"].tolist() == ["1", "2", "3", "4"]
    assert accepted["level"].tolist() == ["I", "none", "none", "III"]
    assert accepted["status"].tolist() == ["monitoring", "released", "released", "referred"]
    assert accepted["reviewer_role"].tolist() == ["counsellor", "meeting", "centre", "psych_teacher"]
    # the loader's rule for every table: a bad optional cell (next_review before the review) is blanked and
    # reported, the decision kept (it is then due warning.review_interval_days after it); a bad level or
    # status rejects the row
    assert pd.isna(accepted["next_review"].iloc[3])
    assert rejected[["row", "column", "action"]].values.tolist() == [
        [5, "next_review", "cell_blanked"], [6, "level", "row_rejected"], [7, "status", "row_rejected"]]


def test_reviews_in_a_data_folder_unknown_student_and_future_date(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    _write(folder / "students.csv", "student_id,school,class_id,stage,gender,enrollment_date\n"
                                    "A1,X,c1,university,F,2023-09-01\nA2,X,c1,university,M,2023-09-01\n")
    _write(folder / "screenings.csv", "student_id,date,instrument," + ",".join(f"item_{i}" for i in range(1, 10))
           + "\nA1,2024-03-01,PHQ9," + ",".join(["0"] * 9) + "\n")
    future = (pd.Timestamp.today() + pd.Timedelta(days=30)).strftime("%Y-%m-%d")
    _write(folder / "reviews.csv", "student_id,date,level,status,note\n"
                                   "A1,2024-03-05,II,monitoring,private words\n"
                                   "ZZ,2024-03-05,II,monitoring,\n"
                                   f"A2,{future},III,monitoring,\n")
    dataset = load_dataset(folder, settings=EN)
    reviews = dataset.table("reviews")
    assert reviews["student_id"].tolist() == ["A1"]
    bad = dataset.rejected.loc[dataset.rejected["table"] == "reviews"]
    assert bad[["row", "column"]].values.tolist() == [[3, "student_id"], [4, "date"]]
    assert "private words" not in dataset.rejected.to_string()


def test_levels_follow_the_states_and_score_levels_meet_their_capacities():
    import numpy as np

    from riskmodel.warning.levels import assign_levels

    n = 40
    ids = [f"s{i:02d}" for i in range(n)]
    scores = pd.DataFrame({"student_id": ids, "score": np.linspace(0.9, 0.01, n), "raw": np.linspace(3, -3, n)})
    fired = pd.DataFrame({"r": [False] * n})
    settings = Settings.model_validate({"warning": {"capacity": {"I": 2, "II": 3, "III": 4}}})
    as_of = "2025-03-01"
    triggers = _triggers([["s30", "2025-02-01", "phq9_item9"], ["s31", "2025-02-20", "phq9_item9"]])
    reviews = _reviews([
        ["s31", "2025-02-10", "III", "monitoring", "2025-03-10", "counsellor"],  # answered before the new trigger
        ["s35", "2025-02-10", "I", "hospital", "2025-03-10", "centre"],  # reviewed to I: level I
        ["s36", "2025-02-10", "II", "monitoring", "2025-02-20", "meeting"],  # floor II, review overdue
        ["s01", "2025-02-10", "III", "monitoring", "2025-04-10", "meeting"],  # the model raises her
        ["s02", "2025-02-10", "II", "released", None, "meeting"],  # released: the model's again
    ])
    cases = case_states(reviews, triggers, as_of, settings=settings)
    out = assign_levels(scores, fired, as_of=as_of, settings=settings, cases=cases).set_index("student_id")
    level_one = set(out.index[out["level"] == "I"])
    assert level_one == {"s30", "s31", "s35"}  # awaiting interview or reviewed to I, and no one else
    assert out.loc["s30", "path"] == "rule:phq9_item9"
    assert out.loc["s35", "path"] == "review:centre:2025-02-10"
    assert out.loc["s36", "level"] == "II" and out.loc["s36", "path"] == "review:meeting:2025-02-10"
    assert bool(out.loc["s36", "review_overdue"])
    assert out.loc["s01", "level"] == "II" and out.loc["s01", "path"] == "score"  # the score may raise a floor
    assert out.loc["s00", "model_level"] == "I" and out.loc["s00", "level"] == "II"
    by_score = out.loc[out["path"] == "score", "level"].value_counts().to_dict()
    assert by_score == {"II": 3, "III": 4}  # the score-based levels meet their capacities
    assert out.loc["s02", "level"] in ("II", "III") and out.loc["s02", "path"] == "score"
    legacy = Settings.model_validate({"warning": {"capacity": {"I": 2, "II": 3, "III": 4}, "case_mode": "legacy"}})
    old = assign_levels(scores, fired, as_of=as_of, settings=legacy, cases=cases)
    assert old["level"].value_counts().to_dict() == {"none": 31, "III": 4, "II": 3, "I": 2}
    assert "state" not in old.columns
