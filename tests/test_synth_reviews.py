"""The simulated review loop (riskmodel.synth.reviews): realistic, calibrated, causal, written as centres keep it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from riskmodel.synth import generate, write
from riskmodel.synth.reviews import LEVEL_ZH, NOTES, REASONS, simulate_reviews

ORDER = ["none", "III", "II", "I"]


@pytest.fixture(scope="module")
def cohort():
    return generate(students=3000, years=2, stage="university", seed=11)


def _critical(screenings: pd.DataFrame) -> pd.DataFrame:
    s = screenings
    hit = (((s["instrument"] == "PHQ9") & (s["item_9"] >= 1)) | ((s["instrument"] == "UPI") & (s["item_25"] >= 1))
           | ((s["instrument"] == "SCL90") & (s["item_15"] >= 2)))
    return s.loc[hit, ["student_id", "date"]]


def _first_review_after(triggers: pd.DataFrame, reviews: pd.DataFrame) -> pd.Series:
    left = triggers.rename(columns={"date": "trigger"}).sort_values("trigger")
    right = reviews[["student_id", "date"]].sort_values("date")
    joined = pd.merge_asof(left, right, left_on="trigger", right_on="date", by="student_id", direction="forward")
    return (joined["date"] - joined["trigger"]).dt.days


def test_reviews_follow_the_contract_and_hold_every_level_status_and_role(cohort):
    reviews = cohort.tables["reviews"]
    assert len(reviews) > 500
    assert set(reviews["level"]) == {"I", "II", "III", "none"}
    assert set(reviews["status"]) >= {"monitoring", "referred", "released"}
    assert reviews["reviewer_role"].nunique() >= 4
    assert set(reviews["reason"]) <= set(REASONS.values())
    assert reviews["note"].notna().all() and set(reviews["note"]) <= set(NOTES)  # present, so tests can hunt for it
    assert not reviews.duplicated(["student_id", "date"]).any()
    planned = reviews.dropna(subset=["next_review"])
    assert (planned["next_review"] > planned["date"]).all()
    released = reviews["status"] == "released"
    assert reviews.loc[released, "next_review"].isna().all() and (reviews.loc[released, "level"] == "none").all()
    gap = (planned["next_review"] - planned["date"]).dt.days
    assert gap[planned["level"].eq("I") & planned["status"].eq("monitoring")].between(28, 35).all()  # monthly
    assert gap[planned["level"].isin(["II", "III"]) & planned["status"].eq("monitoring")].between(56, 95).all()


def test_critical_answers_are_mostly_interviewed_within_a_week_some_late_a_few_never(cohort):
    days = _first_review_after(_critical(cohort.tables["screenings"]), cohort.tables["reviews"])
    assert len(days) > 100
    assert 0.6 <= (days <= 7).mean() <= 0.9
    assert (days > 7).mean() >= 0.05
    assert 0.005 <= days.isna().mean() <= 0.10


def test_reviewed_levels_agree_moderately_with_the_true_state(cohort):
    truth = cohort.truth["reviews"]
    assert len(truth) == len(cohort.tables["reviews"])
    kappa = cohen_kappa_score(truth["level"], truth["true_level"], weights="linear", labels=ORDER)
    assert 0.3 <= kappa <= 0.75
    exact = (truth["level"] == truth["true_level"]).mean()
    assert 0.35 <= exact <= 0.8
    # the true level follows the latent state: higher distress, higher level
    means = truth.groupby("true_level")["distress"].mean()
    assert means["I"] > means["II"] > means["III"] > means["none"]


def test_truth_stays_in_truth(cohort, tmp_path):
    assert "true_level" not in cohort.tables["reviews"].columns
    folder = tmp_path / "c"
    write(cohort, folder)
    assert (folder / "reviews.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    sheet = pd.read_csv(folder / "reviews.csv", encoding="utf-8-sig")
    assert list(sheet.columns) == ["学号", "研判日期", "预警等级", "状态", "下次研判日期", "研判人", "原因", "备注"]
    assert set(sheet["预警等级"]) <= set(LEVEL_ZH.values())
    assert set(sheet["状态"]) <= {"随访关注", "转介", "住院", "休学", "解除"}
    assert "true_level" in pd.read_parquet(folder / "_truth" / "reviews.parquet").columns


def test_cases_open_follow_up_and_release(cohort):
    reviews = cohort.tables["reviews"].sort_values(["student_id", "date"])
    per_student = reviews.groupby("student_id").size()
    assert (per_student >= 3).sum() > 50  # follow-ups happen
    months = reviews.loc[reviews["status"] == "released", "date"].dt.to_period("M").value_counts()
    assert months.mean() > 5  # releases every month or so
    # a release follows sustained improvement: the review before it set III or none, or there was none
    before = reviews.groupby("student_id")["level"].shift()
    released = reviews["status"] == "released"
    assert before[released].isin(["III", "none"]).mean() + before[released].isna().mean() == pytest.approx(1.0)


def _stub(distress_rows: int = 1):
    months = np.arange("2024-01", "2025-01", dtype="datetime64[M]").astype("datetime64[D]")
    sim = SimpleNamespace(distress=np.full((distress_rows, months.size), 1.5, np.float32),
                          exit_date=np.full(distress_rows, np.datetime64("NaT"), "datetime64[D]"),
                          phases=[{"idx": np.array([0]), "start": np.array([np.datetime64("2024-05-03", "D")
                                                                            .astype(np.int64)]),
                                   "end": np.array([np.datetime64("2024-06-01", "D").astype(np.int64)])}])
    return sim, months


def test_a_students_reviews_before_a_day_do_not_depend_on_later_records():
    """Causality: the loop is drawn in date order from the student's own generator, so what happens
    after a day (an outcome, a crisis contact) cannot change a decision made before it."""
    sim, months = _stub()
    empty = pd.DataFrame({"idx": pd.Series(dtype=int), "date": pd.Series(dtype="datetime64[ns]")})
    screenings = empty.assign(instrument=pd.Series(dtype=object), item_19=pd.Series(dtype=float))
    observations = pd.DataFrame({"idx": [0], "date": pd.to_datetime(["2024-02-10"]), "category": ["self_harm_signal"],
                                 "severity": [3]})
    counselling = pd.DataFrame({"idx": [0], "date": pd.to_datetime(["2024-01-15"]), "kind": ["interview"],
                                "counsellor_rating": pd.array([3], dtype="Int64")})
    later = pd.DataFrame({"idx": [0], "date": pd.to_datetime(["2024-07-20"]), "event": ["suicide_attempt"]})
    kwargs = {"screenings": screenings, "observations": observations, "counselling": counselling, "months": months,
                  "family": "university", "end": "2025-01-01", "seed": 5}
    without = simulate_reviews(sim, outcomes=later.iloc[:0], **kwargs)
    with_later = simulate_reviews(sim, outcomes=later, **kwargs)
    cut = pd.Timestamp("2024-07-20")
    a = without.loc[without["date"] < cut].reset_index(drop=True)
    b = with_later.loc[with_later["date"] < cut].reset_index(drop=True)
    assert len(a) >= 3
    pd.testing.assert_frame_equal(a, b)
    assert (with_later["date"] >= cut).any()  # the attempt is reviewed afterwards


def test_the_loop_does_not_change_any_other_table(monkeypatch):
    """The loop draws from its own generators: every other table is what it would be without it."""
    from riskmodel.synth import reviews as module

    base = generate(students=300, years=1, seed=3)
    monkeypatch.setattr(module, "PERCEPTION_SD", 1.5)  # a different loop
    other = generate(students=300, years=1, seed=3)
    for name, frame in base.tables.items():
        if name != "reviews":
            pd.testing.assert_frame_equal(frame, other.tables[name])
    assert not other.tables["reviews"]["level"].equals(base.tables["reviews"]["level"])
