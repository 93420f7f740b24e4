"""The leakage test: features at T depend on records dated on or before T only, for every family;
labels at T depend on outcomes in (T, T + horizon] only.

Two perturbations of everything after T: deleting it (records, later enrolments, exit dates) and
randomly altering it (new values, moved dates, extra rows). A negative control proves the test can
fail: a deliberately leaky cut that sees 200 days past T changes every event family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_features_helpers import alter_after, cut_after, random_dataset

from riskmodel.config import Settings
from riskmodel.data import Dataset
from riskmodel.features import build_features, catalogue
from riskmodel.features import timeline as timeline_module
from riskmodel.labels import build_labels

SETTINGS = Settings()
DATES = ["2023-03-15", "2024-06-30", "2025-01-20"]
EVENT_FAMILIES = ("screening", "observations", "life_events", "academics", "attendance", "counselling",
                  "history", "cohort", "trajectory")


@pytest.fixture(scope="module")
def dataset():
    return random_dataset(80, seed=7)


@pytest.fixture(scope="module")
def reference(dataset):
    return {t: build_features(dataset, [t], settings=SETTINGS) for t in DATES}


def _assert_same_by_family(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    pd.testing.assert_frame_equal(a[["student_id", "as_of"]], b[["student_id", "as_of"]])
    cat = catalogue(SETTINGS)
    for family, names in cat.groupby("family").groups.items():
        pd.testing.assert_frame_equal(a[list(names)], b[list(names)], obj=f"{what}: family {family}")


@pytest.mark.parametrize("t", DATES)
def test_features_unchanged_when_the_future_is_deleted(dataset, reference, t):
    _assert_same_by_family(reference[t], build_features(cut_after(dataset, t), [t], settings=SETTINGS),
                           f"records after {t} deleted")


@pytest.mark.parametrize("t", DATES)
def test_features_unchanged_when_the_future_is_altered(dataset, reference, t):
    for seed in (1, 2):
        altered = alter_after(dataset, t, seed=seed)
        _assert_same_by_family(reference[t], build_features(altered, [t], settings=SETTINGS),
                               f"records after {t} altered (seed {seed})")


def test_the_reference_is_not_trivial(reference):
    """Every family varies across students, so the equality above could fail."""
    frame = pd.concat(reference.values())
    cat = catalogue(SETTINGS)
    for family, names in cat.groupby("family").groups.items():
        varying = [n for n in names if frame[n].nunique(dropna=False) > 1]
        assert varying, f"family {family} is constant on the test data: the leakage test would prove nothing"


def test_many_dates_at_once_equal_one_date_at_a_time(dataset, reference):
    together = build_features(dataset, DATES, settings=SETTINGS)
    for t in DATES:
        part = together[together["as_of"] == pd.Timestamp(t)].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, reference[t])


def test_negative_control_a_leaky_cut_is_caught(dataset, reference, monkeypatch):
    t = DATES[1]
    original = timeline_module.Timeline.at
    monkeypatch.setattr(timeline_module.Timeline, "at",
                        lambda self, as_of: original(self, np.datetime64(as_of, "D") + np.timedelta64(200, "D")))
    leaky = build_features(alter_after(dataset, t, seed=3), [t], settings=SETTINGS)
    cat = catalogue(SETTINGS)
    for family in EVENT_FAMILIES:
        names = list(cat.index[cat["family"] == family])
        assert not reference[t][names].equals(leaky[names]), f"a leak in {family} went unnoticed"


@pytest.mark.parametrize("t", DATES)
def test_labels_depend_only_on_their_window(dataset, reference, t):
    horizon = SETTINGS.labels.horizon_days
    index = reference[t][["student_id", "as_of"]]
    data_end = "2025-12-31"
    base = build_labels(dataset, index, settings=SETTINGS, data_end=data_end)
    assert base["label"].sum() > 0 or t == DATES[0]
    window_end = pd.Timestamp(t) + pd.Timedelta(days=horizon)
    for changed in (cut_after(dataset, window_end), alter_after(dataset, window_end, seed=5)):
        # exits after the window end are irrelevant to the window; keep the register itself
        changed = Dataset(tables={**changed.tables, "students": dataset.tables["students"]})
        pd.testing.assert_frame_equal(base, build_labels(changed, index, settings=SETTINGS, data_end=data_end))


def test_labels_ignore_outcomes_on_or_before_as_of(dataset, reference):
    t = DATES[1]
    index = reference[t][["student_id", "as_of"]]
    base = build_labels(dataset, index, settings=SETTINGS, data_end="2025-12-31")
    outcomes = dataset.tables["outcomes"]
    extra = pd.DataFrame({"student_id": index["student_id"], "date": pd.Timestamp(t), "event": "suicide_attempt"})
    past = pd.DataFrame({"student_id": index["student_id"], "date": pd.Timestamp(t) - pd.Timedelta(days=3),
                         "event": "self_harm"})
    more = Dataset(tables={**dataset.tables, "outcomes": pd.concat([outcomes, extra, past], ignore_index=True)})
    pd.testing.assert_frame_equal(base, build_labels(more, index, settings=SETTINGS, data_end="2025-12-31"))


@pytest.mark.parametrize("t", ["2023-11-15", "2024-10-01"])
def test_no_leak_on_the_synthetic_cohort(t):
    """The same two perturbations on riskmodel.synth's cohort (its own calendar, dtypes and patterns)."""
    from riskmodel.synth import generate

    synth = Dataset(tables=dict(generate(students=250, years=3, stage="k12", seed=2).tables))
    base = build_features(synth, [t], settings=SETTINGS)
    assert len(base) > 100
    _assert_same_by_family(base, build_features(cut_after(synth, t), [t], settings=SETTINGS), f"synth, cut at {t}")
    _assert_same_by_family(base, build_features(alter_after(synth, t), [t], settings=SETTINGS),
                           f"synth, altered after {t}")
