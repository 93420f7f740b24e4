"""Temporal splits: the gap between train label windows and the test period is enforced."""

from __future__ import annotations

import pandas as pd
import pytest

from riskmodel.errors import ConfigError
from riskmodel.validation import (
    TemporalLeakageError,
    TemporalSplit,
    check_gap,
    later_fold,
    rolling_origin,
    split_frame,
    temporal_split,
    temporal_splits,
)

MONTHS = pd.date_range("2023-01-01", periods=24, freq="MS")


def _closes_before_test(split):
    return max(split.train) + pd.Timedelta(days=split.horizon_days) <= min(split.test)


def test_temporal_split_leaves_the_gap_out():
    split = temporal_split(MONTHS, test_start="2024-07-01", horizon_days=90)
    assert _closes_before_test(split)
    assert max(split.train) == pd.Timestamp("2024-04-01")  # 2024-04-01 + 90 days = 2024-06-30
    assert split.dropped == (pd.Timestamp("2024-05-01"), pd.Timestamp("2024-06-01"))
    assert split.test[0] == pd.Timestamp("2024-07-01") and len(split.test) == 6
    assert set(split.train).isdisjoint(split.test)


def test_window_ending_on_the_test_date_is_allowed_one_day_later_is_not():
    check_gap(["2024-01-01"], ["2024-03-31"], horizon_days=90)  # window closes 2024-03-31
    with pytest.raises(TemporalLeakageError, match="2024-01-02"):
        check_gap(["2024-01-02"], ["2024-03-31"], horizon_days=90)


def test_a_split_cannot_be_built_with_a_leak():
    with pytest.raises(TemporalLeakageError):
        TemporalSplit(train=(pd.Timestamp("2024-05-01"),), test=(pd.Timestamp("2024-06-01"),), horizon_days=90)
    with pytest.raises(TemporalLeakageError, match="both"):
        TemporalSplit(train=(pd.Timestamp("2024-01-01"),), test=(pd.Timestamp("2024-01-01"),), horizon_days=0)


def test_empty_sides_are_refused_with_advice():
    with pytest.raises(ConfigError, match="no training"):
        temporal_split(MONTHS, test_start="2023-02-01", horizon_days=90)
    with pytest.raises(ConfigError, match="no as-of date on or after"):
        temporal_split(MONTHS, test_start="2030-01-01", horizon_days=90)


def test_rolling_origin_expands_and_keeps_the_gap():
    splits = list(rolling_origin(MONTHS, horizon_days=90, min_train_dates=6, test_size=3, step=3))
    assert splits and all(_closes_before_test(s) for s in splits)
    assert all(len(s.train) >= 6 for s in splits)
    assert [len(s.train) for s in splits] == sorted(len(s.train) for s in splits)
    assert temporal_splits is rolling_origin


def test_later_fold_for_early_stopping_and_calibration():
    train = temporal_split(MONTHS, test_start="2024-07-01", horizon_days=90).train
    fold = later_fold(train, horizon_days=90, later_dates=3)
    assert fold.test == tuple(train[-3:]) and _closes_before_test(fold)
    assert len(fold.dropped) == 2
    with pytest.raises(ConfigError):
        later_fold(train[:3], horizon_days=90, later_dates=1)


def test_split_frame_by_as_of():
    frame = pd.DataFrame({"as_of": MONTHS.repeat(2), "x": range(48)})
    split = temporal_split(MONTHS, test_start="2024-07-01", horizon_days=90)
    train, test = split_frame(frame, split)
    assert len(train) == 2 * len(split.train) and len(test) == 2 * len(split.test)
    assert train["as_of"].max() + pd.Timedelta(days=90) <= test["as_of"].min()
