"""Training with bounded memory (issue 17): float32 matrix built per date, rows chosen before they are
built, the memory budget's sampling (positives kept, negatives weighted back, students of the
evaluation months), and a model unchanged wherever the budget is not reached.

A small synthetic university (riskmodel.synth), real features, labels and LightGBM.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.data import Dataset
from riskmodel.features import build_features
from riskmodel.features.build import prepare
from riskmodel.models import save, train_model
from riskmodel.models.sampling import RowSample, negative_share, plan_rows
from riskmodel.models.training import _from_first_screening, monthly_as_of_dates, training_frame
from riskmodel.synth import generate

UNTIL = "2025-09-01"


def settings(**model) -> Settings:
    return Settings.model_validate({"model": {"n_estimators": 60, "early_stopping_rounds": 10,
                                              "calibration": "sigmoid", **model}})


@pytest.fixture(scope="module")
def dataset():
    synth = generate(students=2500, years=3, stage="university", seed=5)
    return Dataset(tables=dict(synth.tables), checksum="memory-test")


def test_the_matrix_is_built_per_date_into_one_float32_array(dataset):
    """build_features writes each date into its slice of one matrix: the same frame as the per-date
    frames concatenated, and the float32 values equal the float64 ones to float32 precision."""
    s = Settings()
    dates = [pd.Timestamp("2023-03-01"), pd.Timestamp("2024-01-01"), pd.Timestamp("2024-11-01")]
    built = build_features(dataset, dates, settings=s)
    source = prepare(dataset, settings=s)
    per_date = pd.concat([source.at(d) for d in dates], ignore_index=True)
    pd.testing.assert_frame_equal(built, per_date)
    features = built.drop(columns=["student_id", "as_of"])
    assert set(features.dtypes) == {np.dtype(np.float32)}
    rows = np.flatnonzero(source.enrolled_on(dates[1]))
    wide = np.empty((len(rows), features.shape[1]), dtype=np.float64)
    source.fill(dates[1], rows, wide)
    narrow = features[built["as_of"] == dates[1]].to_numpy()
    assert np.isfinite(wide).sum() > wide.size // 10, "a matrix of mostly missing values proves nothing"
    np.testing.assert_allclose(narrow, wide, rtol=1e-6, atol=1e-6, equal_nan=True)


def test_choosing_rows_before_building_them_gives_the_same_model(dataset, tmp_path):
    """Under the row budget only the fit rows the draws can keep are built: the model, its version and
    every count in model.json equal those of a model trained on the whole frame."""
    s = settings(max_fit_rows=6000)
    planned = train_model(dataset, UNTIL, settings=s)
    ms = s.model
    dates = _from_first_screening(dataset, monthly_as_of_dates(UNTIL, horizon_days=s.labels.horizon_days,
                                                               months=ms.history_months, day=ms.as_of_day))
    frame, counts = training_frame(dataset, dates, settings=s, until=UNTIL)
    whole = train_model(dataset, UNTIL, settings=s, frame=frame)
    whole.meta["rows"].update(counts)  # the frame path is handed its counts by the caller
    save(planned, tmp_path / "planned")
    save(whole, tmp_path / "whole")
    assert planned.meta["folds"]["fit"]["rows"] > 6000, "the row budget must be reached for this test"
    assert "sampling" not in planned.meta
    assert (tmp_path / "planned" / "booster.txt").read_bytes() == (tmp_path / "whole" / "booster.txt").read_bytes()
    a = json.loads((tmp_path / "planned" / "model.json").read_text())
    b = json.loads((tmp_path / "whole" / "model.json").read_text())
    assert a == b and planned.version == whole.version


def test_the_budget_is_not_recorded_while_it_is_not_reached(dataset, tmp_path):
    first = train_model(dataset, UNTIL, settings=settings(max_memory_gb=0))
    second = train_model(dataset, UNTIL, settings=settings(max_memory_gb=64))
    save(first, tmp_path / "a")
    save(second, tmp_path / "b")
    assert first.version == second.version
    assert "max_memory_gb" not in first.meta["settings"]["model"] and "sampling" not in first.meta


def _window(n_dates=20, per_date=5000, rate=0.02, seed=0):
    rng = np.random.default_rng(seed)
    as_of = list(pd.date_range("2023-01-01", periods=n_dates, freq="MS"))
    labels = [(rng.random(per_date) < rate).astype(np.int64) for _ in as_of]
    positions = [np.sort(rng.choice(per_date * 2, per_date, replace=False)) for _ in as_of]
    return as_of, labels, positions


def _fit_weights(chosen, sample, labels, as_of, fit_dates, max_rows):
    y = np.concatenate([lab[c] for lab, c in zip(labels, chosen)])
    dates = np.repeat(np.array(as_of, dtype="datetime64[ns]"), [len(c) for c in chosen])
    rows = np.isin(dates, np.array(fit_dates, dtype="datetime64[ns]"))
    keep, weight = sample.fit_rows(rows, y, dates=fit_dates, max_rows=max_rows)
    return y, rows, keep, weight


def test_a_tiny_budget_keeps_every_positive_and_weights_the_negatives_back(caplog):
    as_of, labels, positions = _window()
    fit, evaluation = as_of[:14], as_of[14:]
    n_features = 300
    # 12,000 rows fit this budget (x 300 features x 4 bytes x 1.5): 6,000 for the 30,000 evaluation rows
    gb = 12_000 * n_features * 4 * 1.5 / 1e9
    chosen, sample = plan_rows(as_of, labels, positions, fit_steps=[fit], evaluation=evaluation,
                               max_rows=10**9, n_features=n_features, max_memory_gb=gb, seed=3, n_register=10_000)
    info = sample.info
    assert info is not None and info["rows_built"] == pytest.approx(12_000, rel=0.03)  # an expected count
    assert info["evaluation_outcomes"] == sum(int(lab[c].sum()) for d, lab, c in zip(as_of, labels, chosen)
                                              if d in evaluation)
    assert 0 < info["fit_negative_share"] < 0.1 and info["evaluation_student_share"] == pytest.approx(0.2)
    fit_positives = sum(int(lab.sum()) for d, lab in zip(as_of, labels) if d in fit)
    y, rows, keep, weight = _fit_weights(chosen, sample, labels, as_of, fit, 10**9)
    assert int(y[keep].sum()) == fit_positives, "every positive of the fit months is kept"
    population = sum(len(lab) for d, lab in zip(as_of, labels) if d in fit)
    # each negative is kept with probability share: the weights add up to the rows in expectation
    assert weight.sum() == pytest.approx(population, rel=0.04), "the weights sum back to the fold's rows"
    assert (weight[y[keep] == 1] == 1).all() and (weight[y[keep] == 0] > 10).all()
    # the evaluation months: a share of students, whole (positives and negatives alike), unweighted there
    built_eval = sum(len(c) for d, c in zip(as_of, chosen) if d in evaluation)
    assert built_eval == pytest.approx(0.2 * 30_000, rel=0.1)
    drawn = set().union(*[set(pos[c]) for d, pos, c in zip(as_of, positions, chosen) if d in evaluation])
    present = set().union(*[set(pos) for d, pos in zip(as_of, positions) if d in evaluation])
    assert len(drawn) / len(present) == pytest.approx(0.2, abs=0.03)
    # ~120 of the evaluation months' 600 outcomes are left: too few to stop early or calibrate on
    assert any("keep" in r.getMessage() and "raise model.max_memory_gb" in r.getMessage() for r in caplog.records)
    for d, pos, c in zip(as_of, positions, chosen):  # a drawn student is built at every evaluation date
        if d in evaluation:
            assert set(pos[c]) == set(pos) & drawn


def test_without_the_budget_the_rows_left_out_are_those_no_fit_would_use():
    as_of, labels, positions = _window()
    fit_eval, fit_refit = as_of[:10], as_of[:14]
    evaluation = as_of[14:]
    chosen, sample = plan_rows(as_of, labels, positions, fit_steps=[fit_eval, fit_refit], evaluation=evaluation,
                               max_rows=20_000, n_features=300, max_memory_gb=0, seed=3, n_register=10_000)
    assert sample.info is None
    everything = RowSample(u=np.random.default_rng(3).random(sum(map(len, labels))), share=np.ones(100_000),
                           factor=np.ones(100_000), counts=sample.counts)
    full = [np.arange(len(lab)) for lab in labels]
    for fit in (fit_eval, fit_refit):
        _, _, keep_all, w_all = _fit_weights(full, everything, labels, as_of, fit, 20_000)
        y, _, keep, w = _fit_weights(chosen, sample, labels, as_of, fit, 20_000)
        built = np.concatenate([np.isin(np.arange(len(lab)), c) for lab, c in zip(labels, chosen)])
        assert keep_all[~built].sum() == 0, "a row some fit uses was left out"
        assert (keep_all[built] == keep).all() and np.array_equal(w_all, w)
    assert sum(map(len, chosen)) < 0.6 * 100_000
    assert negative_share(100, 100, max_rows=10) is None


def test_choosing_rows_holds_one_date_at_a_time_not_every_usable_row():
    """At two million students x 48 dates the window has ~100 million usable rows: planning keeps no
    array over all of them (measured with tracemalloc), only one date's rows and the rows built."""
    import tracemalloc

    n_dates, per_date = 40, 50_000  # 2,000,000 usable rows
    rng = np.random.default_rng(0)
    as_of = list(pd.date_range("2022-01-01", periods=n_dates, freq="MS"))
    labels = [(rng.random(per_date) < 0.01).astype(np.int8) for _ in as_of]
    positions = [np.arange(per_date, dtype=np.int32) for _ in as_of]
    gb = 60_000 * 300 * 4 * 1.5 / 1e9  # 60,000 rows of 300 features (15,000 of them fit positives)
    tracemalloc.start()
    chosen, sample = plan_rows(as_of, labels, positions, fit_steps=[as_of[:30]], evaluation=as_of[30:],
                               max_rows=10**9, n_features=300, max_memory_gb=gb, seed=1, n_register=per_date)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sample.info["rows_built"] == pytest.approx(60_000, rel=0.05) == sum(map(len, chosen))
    # one date's draws (0.4 MB) and the rows built (~2 MB): far below 8 bytes x 2,000,000 rows (16 MB)
    assert peak < 6e6, f"planning held {peak / 1e6:.1f} MB"
    # a budget below a single row: still a plan (a share of the evaluation months' students), no crash
    chosen, sample = plan_rows(as_of, labels, positions, fit_steps=[as_of[:30]], evaluation=as_of[30:],
                               max_rows=10**9, n_features=300, max_memory_gb=1e-9, seed=1, n_register=per_date)
    assert 0 < sample.info["evaluation_student_share"] < 1e-3 and np.isfinite(sample.factor).all()


def test_calibration_under_a_tiny_budget_stays_close_to_all_rows(dataset):
    """Sampled fit negatives (weighted back) and a share of the evaluation months' students: the
    calibrated mean probability on the held-out months stays near the full model's (both read the
    same later months; the synthetic cohort's drift between months is the same for both)."""
    full = train_model(dataset, UNTIL, settings=settings(max_memory_gb=0))
    small = train_model(dataset, UNTIL, settings=settings(max_memory_gb=0.05))
    info = small.meta["sampling"]
    assert info["rows_built"] < info["rows_usable"] * 0.6 and info["max_memory_gb"] == 0.05
    assert 0 < info["fit_negative_share"] < 1 and 0 < info["evaluation_student_share"] < 1
    assert small.meta["folds"] == full.meta["folds"], "model.json reports the folds' rows, not the sample's"
    a, b = full.meta["metrics_holdout"], small.meta["metrics_holdout"]
    assert b["rows"] < a["rows"]
    assert b["mean_probability"] == pytest.approx(a["mean_probability"], rel=0.25)
    assert b["average_precision"] > 0.7 * a["average_precision"]
    assert b["ece_quantile"] < 2 * a["ece_quantile"] + 0.002
