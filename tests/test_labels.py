"""Labels: the open window at as-of, the horizon edge, censoring, incomplete windows, audit columns."""

from __future__ import annotations

import pandas as pd
import pytest
from test_features_helpers import students

from riskmodel.config import Settings
from riskmodel.data import Dataset
from riskmodel.errors import ContractError
from riskmodel.labels import LABEL_COLUMNS, build_labels

S = Settings()
T = pd.Timestamp("2025-03-01")


def labels(outcomes=None, *, ids=("a",), exits=None, counselling=None, settings=S, data_end="2026-01-01", as_of=T):
    tables = {"students": students(list(ids), exits=exits)}
    if outcomes is not None:
        tables["outcomes"] = pd.DataFrame(outcomes, columns=["student_id", "date", "event"]).astype({"date": "datetime64[ns]"})
    if counselling is not None:
        tables["counselling"] = pd.DataFrame(counselling, columns=["student_id", "date", "kind"]).astype(
            {"date": "datetime64[ns]"})
    index = pd.DataFrame({"student_id": list(ids), "as_of": as_of})
    return build_labels(Dataset(tables=tables), index, settings=settings, data_end=data_end).set_index("student_id")


@pytest.mark.parametrize("day, expected", [(0, 0), (1, 1), (90, 1), (91, 0), (-10, 0)])
def test_window_is_open_at_as_of_and_closed_at_the_horizon(day, expected):
    out = labels([("a", T + pd.Timedelta(days=day), "self_harm")])
    assert out.loc["a", "label"] == expected
    assert list(out.reset_index().columns) == list(LABEL_COLUMNS)


def test_only_configured_outcomes_count():
    settings = Settings.model_validate({"labels": {"outcome_events": ["suicide_attempt"]}})
    out = labels([("a", "2025-03-10", "psychiatric_diagnosis")], settings=settings)
    assert out.loc["a", "label"] == 0
    assert labels([("a", "2025-03-10", "psychiatric_diagnosis")]).loc["a", "label"] == 1
    assert labels([("a", "2025-03-10", "psychiatric_diagnosis")]).loc["a", "label_date_days"] == 9


def test_unknown_outcome_setting_is_refused():
    settings = Settings.model_validate({"labels": {"outcome_events": ["suicide"]}})
    with pytest.raises(ContractError, match="suicide"):
        labels([], settings=settings)


def test_students_who_leave_before_the_horizon():
    out = labels([("b", "2025-03-20", "self_harm"), ("c", "2025-04-20", "self_harm")],
                 ids=("a", "b", "c", "d"), exits=[None, "2025-04-01", "2025-04-01", "2025-07-01"])
    assert out.loc["a", ["label", "censored", "usable"]].tolist() == [0, False, True]
    # left, but the outcome came while enrolled: a positive, kept
    assert out.loc["b", ["label", "censored", "usable"]].tolist() == [1, False, True]
    # an outcome after the exit is outside the school's knowledge: not counted; censored negative, left out
    assert out.loc["c", ["label", "censored", "usable"]].tolist() == [0, True, False]
    assert out.loc["c", "observed_days"] == 31
    assert out.loc["d", ["censored", "usable"]].tolist() == [False, True]  # exit after the window


def test_censored_negatives_can_be_kept_by_setting():
    settings = Settings.model_validate({"labels": {"exclude_censored_negatives": False}})
    out = labels([], ids=("a",), exits=["2025-04-01"], settings=settings)
    assert out.loc["a", ["label", "censored", "usable"]].tolist() == [0, True, True]


def test_windows_past_the_data_end_are_incomplete():
    out = labels([("a", "2025-03-05", "self_harm")], ids=("a", "b"), data_end="2025-04-01")
    assert out.loc["a", ["label", "window_complete", "usable"]].tolist() == [1, False, True]
    assert out.loc["b", ["label", "window_complete", "usable"]].tolist() == [0, False, False]


def test_data_end_defaults_to_the_latest_record():
    out = labels([("a", "2025-03-05", "self_harm")], ids=("a", "b"), data_end=None)
    assert not out.loc["b", "window_complete"]


def test_counselling_after_is_counted_for_the_audit():
    out = labels([], counselling=[("a", "2025-03-01", "session"), ("a", "2025-03-02", "interview"),
                                  ("a", "2025-05-30", "follow_up"), ("a", "2025-06-01", "session"),
                                  ("a", "2025-03-03", "return")])
    assert out.loc["a", "counselling_after"] == 2  # on as-of: before; 06-01: past the horizon; return: no contact


def test_index_without_keys_is_refused():
    with pytest.raises(ContractError, match="as_of"):
        build_labels(Dataset(tables={"students": students(["a"])}), pd.DataFrame({"student_id": ["a"]}), settings=S)
