"""Each feature family on small hand-made cases, the catalogue, enrolment and students with no records."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_features_helpers import screening_rows, students

from riskmodel.config import Settings
from riskmodel.data import Dataset
from riskmodel.features import build_features, catalogue

S = Settings()
AS_OF = "2025-03-01"
REQUIRED = ["phq9_item9_latest", "upi_item25_latest", "sds_item19_latest", "scl90_item15_latest",
            "obs_self_harm_signal_urgent_30d", "outcome_self_harm_or_attempt_365d", "counsellor_rating_last"]


def build(tables, as_of=AS_OF, settings=S):
    frame = build_features(Dataset(tables=tables), [as_of], settings=settings)
    return frame.set_index("student_id")


def phq9(sid, date, answers):
    return (sid, date, "PHQ9", answers)


def test_catalogue_and_columns_match_exactly():
    st = students(["a"])
    frame = build({"students": st, "screenings": screening_rows([phq9("a", "2024-10-01", [1] * 9)])})
    cat = catalogue(S)
    assert list(frame.columns[1:]) == list(cat.index)
    assert set(cat["kind"]) <= {"score", "count", "days", "flag", "delta", "category", "ratio"}
    assert (cat["zh"].str.len() > 0).all() and (cat["en"].str.len() > 0).all()
    assert not cat["en"].str.contains("{", regex=False).any() and not cat["zh"].str.contains("{", regex=False).any()
    assert (frame.drop(columns=["as_of"]).dtypes == np.float32).all()
    for code in ("phq9", "gad7", "upi", "scl90", "sds", "sas", "mht"):
        for suffix in ("total_latest", "total_prev", "date_latest_days"):
            assert f"{code}_{suffix}" in cat.index
    for name in REQUIRED:
        assert name in cat.index
    assert cat.loc["phq9_item9_latest", "instrument"] == "PHQ9"


def test_windows_in_names_follow_settings():
    settings = Settings.model_validate({"features": {"windows_days": [7, 60]}})
    cat = catalogue(settings)
    assert "obs_mood_7d" in cat.index and "obs_mood_30d" not in cat.index
    # the names the warning engineer's hard rules read exist whatever windows a centre chooses
    assert {"obs_self_harm_signal_urgent_30d", "outcome_self_harm_or_attempt_365d"} <= set(cat.index)
    assert "obs_self_harm_signal_urgent_7d" in cat.index
    st = students(["a"])
    frame = build({"students": st, "screenings": screening_rows([])}, settings=settings)
    assert list(frame.columns[1:]) == list(cat.index)
    for name in REQUIRED:
        assert name in frame.columns


def test_students_with_no_records_at_all():
    st = students(["quiet", "new"], enrolled="2024-09-01")
    st.loc[1, "enrollment_date"] = pd.Timestamp("2025-02-15")
    frame = build({"students": st, "screenings": screening_rows([])})
    row = frame.loc["quiet"]
    assert np.isnan(row["phq9_total_latest"]) and np.isnan(row["phq9_item9_latest"])
    assert np.isnan(row["counsellor_rating_last"]) and np.isnan(row["obs_days_since_last"])
    assert row["obs_count_365d"] == 0 and row["outcome_self_harm_or_attempt_365d"] == 0
    assert row["att_unexcused_30d"] == 0 and row["acad_terms"] == 0 and np.isnan(row["acad_score_latest"])
    assert row["screening_missed"] == 1  # enrolled 181 days, never screened
    assert frame.loc["new", "screening_missed"] == 0  # 14 days: still within the grace period
    assert np.isnan(row["cohort_phq9_total_z"])


def test_only_students_enrolled_on_the_date():
    """Enrolled on the date: no scoring after the exit date (the contract), so a student leaving that day is in."""
    st = students(["in", "later", "left", "leaving today", "leaving"], enrolled="2024-09-01",
                  exits=[None, None, "2025-02-28", "2025-03-01", "2025-03-02"])
    st.loc[1, "enrollment_date"] = pd.Timestamp("2025-03-02")
    frame = build({"students": st, "screenings": screening_rows([])})
    assert sorted(frame.index) == ["in", "leaving", "leaving today"]


def test_screening_latest_previous_and_change():
    st = students(["a", "b"])
    rows = [phq9("a", "2024-03-01", [0] * 9), phq9("a", "2024-10-01", [1] * 8 + [0]),
            phq9("a", "2025-02-01", [2] * 8 + [1]), phq9("a", "2025-03-02", [3] * 9),  # after as-of
            ("b", "2024-10-01", "UPI", [0] * 24 + [1] + [0] * 39),
            ("b", "2024-10-01", "SDS", [4] * 20)]
    frame = build({"students": st, "screenings": screening_rows(rows)})
    a, b = frame.loc["a"], frame.loc["b"]
    assert a["phq9_total_latest"] == 17 and a["phq9_total_prev"] == 8 and a["phq9_total_change"] == 9
    assert a["phq9_item9_latest"] == 1 and a["phq9_critical_latest"] == 1 and a["phq9_positive_latest"] == 1
    assert a["phq9_positive_prev"] == 0
    assert a["phq9_date_latest_days"] == 28 and a["phq9_waves"] == 3
    assert a["phq9_band_latest"] == 3  # minimal, mild, moderate, moderately_severe -> 3
    assert np.isnan(a["gad7_total_latest"]) and a["gad7_waves"] == 0 and np.isnan(a["gad7_positive_latest"])
    assert a["screening_count_365d"] == 2 and a["screening_days_since_last"] == 28
    assert a["screening_missed"] == 0
    assert b["upi_item25_latest"] == 1 and b["upi_class_latest"] == 1 and b["upi_positive_latest"] == 1
    assert b["upi_total_latest"] == 1
    assert b["sds_item19_latest"] == 4 and b["sds_critical_latest"] == 1
    assert np.isnan(b["phq9_item9_latest"])
    assert b["screening_critical_365d"] == 2


def test_careless_answering_is_a_feature_not_a_discount():
    st = students(["a"])
    rows = screening_rows([phq9("a", "2025-02-01", [3] * 9)])
    rows["duration_seconds"] = 5.0  # 9 items in 5 s
    a = build({"students": st, "screenings": rows}).loc["a"]
    assert a["phq9_careless_latest"] == 1 and a["phq9_total_latest"] == 27 and a["screening_careless_30d"] == 1


def test_missed_screening_after_the_yearly_interval():
    st = students(["a"], enrolled="2022-09-01")
    a = build({"students": st, "screenings": screening_rows([phq9("a", "2023-10-01", [0] * 9)])}).loc["a"]
    assert a["screening_missed"] == 1  # 517 days > 400


def test_observation_windows_trend_and_sources():
    st = students(["a"])
    obs = pd.DataFrame({
        "student_id": "a",
        "date": pd.to_datetime(["2025-03-01", "2025-01-30", "2025-01-31", "2024-11-15", "2024-10-01",
                                "2024-03-01", "2025-03-05"]),
        "source": ["peer", "class_teacher", "peer", "parent", "self", "peer", "peer"],
        "category": ["self_harm_signal", "mood", "sleep", "mood", "family", "mood", "self_harm_signal"],
        "severity": [3, 1, 2, 3, 2, 1, 3],
    })
    a = build({"students": st, "screenings": screening_rows([]), "observations": obs}).loc["a"]
    # 30-day window: as_of - 30 < date <= as_of -> 2025-01-30 is out, 2025-01-31 in
    # days back: 0, 30, 29, 106, 151, 365 (out of every window), -4 (after as-of)
    assert a["obs_count_30d"] == 2 and a["obs_count_90d"] == 3 and a["obs_count_365d"] == 5
    assert a["obs_self_harm_signal_urgent_30d"] == 1  # the one on 2025-03-05 is after as-of
    assert a["obs_mood_90d"] == 1 and a["obs_mood_365d"] == 2
    assert a["obs_urgent_90d"] == 1 and a["obs_concern_365d"] == 2 and a["obs_watch_365d"] == 1
    assert a["obs_source_peer_365d"] == 2 and a["obs_sources_90d"] == 2
    assert a["obs_days_since_last"] == 0 and a["obs_days_since_last_urgent"] == 0
    assert a["obs_trend_90d"] == 3 - 2  # 3 in the last 90 days, 2 in the 90 before
    assert a["obs_concern_trend_90d"] == 2 - 2


def test_life_events_by_kind():
    st = students(["a"])
    life = pd.DataFrame({"student_id": "a", "date": pd.to_datetime(["2025-02-20", "2024-06-01", "2025-04-01"]),
                         "event": ["breakup", "bereavement", "breakup"]})
    a = build({"students": st, "screenings": screening_rows([]), "life_events": life}).loc["a"]
    assert a["life_breakup_30d"] == 1 and a["life_breakup_365d"] == 1 and a["life_bereavement_90d"] == 0
    assert a["life_bereavement_365d"] == 1 and a["life_count_365d"] == 2 and a["life_days_since_last"] == 9


def test_academics_change_and_class():
    ids = ["a", "b", "c", "d", "e", "f"]
    st = students(ids)
    acad = pd.DataFrame({"student_id": ids + ["a", "a"],
                         "term_end": pd.to_datetime(["2025-01-15"] * 6 + ["2024-07-05", "2025-07-05"]),
                         "mean_score": [60, 80, 80, 80, 80, 80, 75, 10],
                         "failed_courses": [2, 0, 0, 0, 0, 0, 0, 9], "rank_pct": [0.9] + [0.5] * 5 + [0.4, 1.0]})
    frame = build({"students": st, "screenings": screening_rows([]), "academics": acad})
    a = frame.loc["a"]
    assert a["acad_score_latest"] == 60 and a["acad_score_change"] == -15
    assert a["acad_score_vs_class"] == pytest.approx(60 - (60 + 80 * 5) / 6)
    assert a["acad_failed_latest"] == 2 and a["acad_failed_total"] == 2 and a["acad_failed_change"] == 2
    assert a["acad_rank_pct_change"] == pytest.approx(0.5) and a["acad_terms"] == 2
    assert a["acad_days_since_term_end"] == 45


def test_gpa_is_rescaled_when_there_is_no_mean_score():
    st = students(["a"])
    acad = pd.DataFrame({"student_id": ["a"], "term_end": pd.to_datetime(["2025-01-15"]), "gpa": [3.0]})
    a = build({"students": st, "screenings": screening_rows([]), "academics": acad}).loc["a"]
    assert a["acad_score_latest"] == 75


def test_attendance_sudden_rise():
    st = students(["a", "b"])
    days = pd.to_datetime(["2025-02-10", "2025-02-12", "2025-02-20", "2025-02-25"])
    att = pd.DataFrame({"student_id": ["a"] * 4 + ["b"] * 6 + ["a"],
                        "date": list(days) + list(pd.to_datetime(["2024-11-10", "2024-11-20", "2024-12-01",
                                                                   "2024-12-10", "2025-02-10", "2025-02-20"]))
                        + [pd.Timestamp("2025-02-26")],
                        "status": ["absent_unexcused"] * 4 + ["absent_unexcused"] * 6 + ["present"]})
    frame = build({"students": st, "screenings": screening_rows([]), "attendance": att})
    assert frame.loc["a", "att_unexcused_30d"] == 4 and frame.loc["a", "att_sudden_rise"] == 1
    assert frame.loc["a", "att_days_since_unexcused"] == 4
    # b: 2 in the last 30 days after 4 in the 90 before: no sudden rise
    assert frame.loc["b", "att_unexcused_30d"] == 2 and frame.loc["b", "att_sudden_rise"] == 0
    assert frame.loc["b", "att_unexcused_rise_30d"] == pytest.approx(2 - 4 / 3)


def test_counselling_leave_and_rating():
    st = students(["a", "b"])
    couns = pd.DataFrame({
        "student_id": ["a", "a", "a", "a", "b", "b", "a"],
        "date": pd.to_datetime(["2024-05-01", "2024-06-01", "2024-12-15", "2025-02-01", "2024-10-01",
                                "2025-01-10", "2025-03-02"]),
        "kind": ["referral", "leave_of_absence", "return", "session", "leave_of_absence", "hospital", "session"],
        "counsellor_rating": pd.array([2, None, None, 3, None, None, 1], dtype="Int64"),
    })
    frame = build({"students": st, "screenings": screening_rows([]), "counselling": couns})
    a, b = frame.loc["a"], frame.loc["b"]
    assert a["counsellor_rating_last"] == 3 and a["counsellor_rating_prev"] == 2 and a["counsellor_rating_change"] == 1
    assert a["couns_on_leave"] == 0 and a["couns_returned_90d"] == 1 and a["couns_leave_ever"] == 1
    assert a["couns_referral_365d"] == 1 and a["couns_contacts_30d"] == 1 and a["couns_days_since_last"] == 28
    assert b["couns_on_leave"] == 1 and b["couns_hospital_365d"] == 1 and np.isnan(b["counsellor_rating_last"])


def test_history_counts_outcomes_up_to_as_of():
    st = students(["a"])
    out = pd.DataFrame({"student_id": "a",
                        "date": pd.to_datetime(["2025-03-01", "2024-03-02", "2024-03-01", "2025-03-02"]),
                        "event": ["self_harm", "suicide_attempt", "self_harm", "suicide_attempt"]})
    a = build({"students": st, "screenings": screening_rows([]), "outcomes": out}).loc["a"]
    # on the as-of day: a feature; 2024-03-02 is 364 days back: in; 2024-03-01 (365 days): out
    assert a["outcome_self_harm_or_attempt_365d"] == 2 and a["outcome_self_harm_or_attempt_ever"] == 3
    assert a["outcome_suicide_attempt_ever"] == 1 and a["outcome_days_since_last"] == 0


def test_register_flags_and_enrolment():
    st = students(["a", "b"], enrolled="2021-09-01", stage="university",
                  left_behind=pd.array([True, None], dtype="boolean"),
                  economic_hardship=pd.array([True, False], dtype="boolean"),
                  birth_year=[2003, None])
    st.loc[1, "gender"] = "unknown"
    frame = build({"students": st, "screenings": screening_rows([])})
    a, b = frame.loc["a"], frame.loc["b"]
    assert a["reg_left_behind"] == 1 and np.isnan(b["reg_left_behind"]) and b["reg_economic_hardship"] == 0
    assert a["reg_family_flags"] == 2 and b["reg_family_flags"] == 0 and np.isnan(a["reg_single_parent"])
    assert a["reg_stage_university"] == 1 and a["reg_stage_senior"] == 0
    assert a["reg_gender_female"] == 1 and b["reg_gender_female"] == 0 and b["reg_gender_male"] == 0
    assert a["reg_study_year"] == 4 and a["reg_freshman"] == 0 and a["reg_graduating_term"] == 1
    assert a["reg_age_years"] == pytest.approx(21.7, abs=0.1) and np.isnan(b["reg_age_years"])


def test_default_calendar_periods():
    st = students(["a"], enrolled="2020-09-01")
    def row(day):
        return build({"students": st, "screenings": screening_rows([])}, as_of=day).loc["a"]
    exam = row("2025-01-05")
    assert exam["cal_in_exam"] == 1 and exam["cal_days_to_next_exam"] == 0 and exam["cal_in_term"] == 1
    back = row("2025-03-01")
    assert back["cal_after_holiday"] == 1 and back["cal_days_since_holiday_end"] == 5
    assert back["cal_days_since_term_start"] == 4
    assert back["cal_days_to_next_exam"] == (pd.Timestamp("2025-06-21") - pd.Timestamp("2025-03-01")).days
    sept = row("2024-09-10")
    assert sept["cal_orientation"] == 1 and sept["cal_season_change"] == 1 and sept["cal_month"] == 9
    summer = row("2024-07-20")
    assert summer["cal_in_holiday"] == 1 and summer["cal_in_term"] == 0 and summer["cal_after_holiday"] == 0
    assert row("2024-06-15")["cal_graduation"] == 1


def test_a_school_calendar_overrides_the_default_per_school():
    st = pd.concat([students(["a"], school="A"), students(["b"], school="B")], ignore_index=True)
    cal = pd.DataFrame({"start": pd.to_datetime(["2025-02-01", "2025-03-10", "2025-03-03"]),
                        "end": pd.to_datetime(["2025-06-30", "2025-03-14", "2025-03-03"]),
                        "kind": ["term", "exam", "major_event"], "school": [None, None, "B"]})
    frame = build({"students": st, "screenings": screening_rows([]), "calendar": cal})
    assert (frame["cal_days_to_next_exam"] == 9).all() and (frame["cal_days_since_term_start"] == 28).all()
    assert frame.loc["a", "cal_major_event"] == 0 and frame.loc["b", "cal_major_event"] == 1
    assert (frame["cal_orientation"] == 0).all()  # a centre's calendar replaces the default entirely


def test_cohort_z_and_percentile():
    ids = ["a", "b", "c", "d", "e", "f", "g"]
    st = students(ids, classes=["c1"] * 5 + ["c2"] * 2)
    totals = {"a": 20, "b": 10, "c": 10, "d": 0, "e": 5, "f": 27, "g": 0}
    rows = [phq9(s, "2025-01-10", [min(3, max(0, t - 3 * k)) for k in range(9)]) for s, t in totals.items()]
    frame = build({"students": st, "screenings": screening_rows(rows)})
    values = np.array([9 if False else frame.loc[s, "phq9_total_latest"] for s in ids[:5]])
    z = (values - values.mean()) / values.std(ddof=1)
    assert frame.loc["a", "cohort_phq9_total_z"] == pytest.approx(z[0], rel=1e-5)
    assert frame.loc["a", "cohort_phq9_total_pct"] == 1.0 and frame.loc["b", "cohort_phq9_total_pct"] == pytest.approx(0.7)
    assert np.isnan(frame.loc["f", "cohort_phq9_total_z"])  # a class of two: too small to compare with


def test_a_date_before_anyone_enrolled_gives_an_empty_matrix_with_every_column():
    st = students(["a"], enrolled="2024-09-01")
    frame = build_features(Dataset(tables={"students": st, "screenings": screening_rows([])}), ["2020-01-01"],
                           settings=S)
    assert frame.empty and list(frame.columns[2:]) == list(catalogue(S).index)


def test_repeated_student_ids_in_the_register_are_refused():
    from riskmodel.errors import ContractError

    st = students(["a", "a"])
    with pytest.raises(ContractError, match="not unique"):
        build_features(Dataset(tables={"students": st, "screenings": screening_rows([])}), [AS_OF], settings=S)


def test_records_of_students_not_in_the_register_are_ignored():
    st = students(["a"])
    rows = screening_rows([phq9("ghost", "2025-01-01", [3] * 9), phq9("a", "2025-01-01", [0] * 9)])
    frame = build({"students": st, "screenings": rows})
    assert list(frame.index) == ["a"] and frame.loc["a", "phq9_total_latest"] == 0


def test_trajectory_waves_bursts_and_missed_wave():
    st = students(["a", "b", "c", "d"])
    rows = [phq9("a", "2024-03-01", [1, 0, 1, 0, 1, 0, 1, 0, 0]),   # total 4
            phq9("a", "2024-10-01", [2, 1, 2, 1, 2, 1, 2, 1, 0]),   # 12: a rise of 8
            phq9("a", "2025-02-01", [1, 0, 1, 0, 1, 0, 1, 0, 1]),   # 5, item 9 answered
            phq9("a", "2025-03-05", [3, 2, 3, 2, 3, 2, 3, 2, 3]),   # after as-of: unseen
            phq9("b", "2025-02-01", [0, 1, 0, 1, 0, 1, 0, 1, 0]),
            phq9("c", "2025-02-01", [1, 2, 1, 2, 1, 2, 1, 2, 0]),
            phq9("d", "2024-10-01", [0, 1, 0, 1, 0, 1, 0, 1, 0])]
    obs = pd.DataFrame({"student_id": "a", "date": pd.to_datetime(["2025-03-01", "2025-02-15", "2025-03-02"]),
                        "source": "peer", "category": "mood", "severity": [2, 3, 3]})
    f = build({"students": st, "screenings": screening_rows(rows), "observations": obs})
    a = f.loc["a"]
    assert a["traj_phq9_total_mean"] == pytest.approx(7.0) and a["traj_phq9_total_max"] == 12
    assert a["traj_phq9_rise_max"] == 8 and a["traj_phq9_item9_max"] == 1
    # least squares over (days, total): positive, per year
    days = np.array([-365, -151, -28], dtype=float) / 365.25
    assert a["traj_phq9_slope"] == pytest.approx(np.polyfit(days, [4, 12, 5], 1)[0], rel=1e-4)
    assert np.isnan(f.loc["b", "traj_phq9_rise_max"]) and np.isnan(f.loc["b", "traj_phq9_slope"])
    # a, b, c answered in the last 120 days (3 of 4 enrolled in the class): d missed the class's wave
    assert f["traj_missed_class_wave"].to_dict() == {"a": 0, "b": 0, "c": 0, "d": 1}
    # decayed concern count, half-life 14 days: today 1, 14 days ago 0.5; the 2 March entry is after as-of
    assert a["traj_obs_concern_decay_14d"] == pytest.approx(1.5)
    assert a["traj_obs_concern_14d"] == 1 and a["traj_obs_days_since_concern"] == 0
    assert a["traj_obs_concern_burst_30d"] == 2  # nothing in the year before
    # percentiles among the enrolled students' valid PHQ-9 forms up to as-of (6 forms)
    assert 0 < a["traj_screen_pct_latest"] < 1 and f.loc["c", "traj_screen_pct_latest"] > f.loc["b", "traj_screen_pct_latest"]
