"""Monotone constraints (riskmodel.models.gbm) and the second generator (tests/fixtures/k12_district.py).

The constraint test has a negative control: on data where the risk falls as a feature rises past a
point, the unconstrained model learns the fall and the same check catches it; the constrained one
never lowers the score. Real rows of a trained model are checked in tests/test_models_cli.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.data import Dataset
from riskmodel.models.gbm import LightGBMRisk, monotone_features

sys.path.insert(0, str(Path(__file__).parent))
from fixtures.k12_district import generate_district  # noqa: E402


def _planted(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"phq9_item9_latest": rng.integers(0, 4, n).astype(float),
                      "phq9_total_latest": rng.integers(0, 28, n).astype(float)})
    # risk peaks at item 9 == 1 and falls after it: what a noisy fold can teach a model
    logit = -3 + 0.08 * X["phq9_total_latest"] + np.array([0.0, 2.0, 0.5, -0.5])[X["phq9_item9_latest"].astype(int)]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


def _lowered(model, X, feature):
    """Rows whose raw score falls when ``feature`` rises by one."""
    raised = X.assign(**{feature: X[feature] + 1})
    return int((model.decision_function(raised) < model.decision_function(X) - 1e-12).sum())


def test_the_constraint_holds_where_the_data_says_otherwise_and_the_check_can_fail():
    X, y = _planted()
    free = LightGBMRisk(n_estimators=60, seed=1, monotone=()).fit(X, y)
    assert _lowered(free, X, "phq9_item9_latest") > 0, "negative control: the unconstrained model learns the fall"
    held = LightGBMRisk(n_estimators=60, seed=1).fit(X, y)
    assert held.monotone_features_ == ["phq9_item9_latest"]
    assert _lowered(held, X, "phq9_item9_latest") == 0


def test_constraint_patterns_select_critical_answers_not_everything():
    names = ["phq9_item9_latest", "traj_phq9_item9_max", "phq9_total_latest", "obs_urgent_30d", "obs_mood_30d",
             "counsellor_rating_last", "counsellor_rating_change", "outcome_self_harm_or_attempt_365d"]
    assert monotone_features(names) == ["phq9_item9_latest", "traj_phq9_item9_max", "obs_urgent_30d",
                                        "counsellor_rating_last", "outcome_self_harm_or_attempt_365d"]


def test_a_saved_model_keeps_its_constraints(tmp_path):
    from riskmodel.models.gbm import LightGBMRisk as Cls

    X, y = _planted(4000)
    model = Cls(n_estimators=20, seed=1).fit(X, y)
    again = Cls.from_dict(model.to_dict(), model.model_text())
    assert again.monotone == model.monotone
    np.testing.assert_array_equal(again.decision_function(X), model.decision_function(X))


@pytest.fixture(scope="module")
def district():
    """The independent K-12 district, and LightGBM trained on it (seconds)."""
    from riskmodel.models import train_model

    tables, truth = generate_district(students=3000, years=3, seed=2)
    dataset = Dataset(tables=tables, checksum="district")
    settings = Settings.model_validate({"model": {"n_estimators": 150}})
    return dataset, settings, train_model(dataset, "2025-08-01", settings=settings, kind="lightgbm")


def test_the_second_generator_trains_in_seconds_and_the_model_learns(district):
    """The model beats the latest PHQ-9 alone on the held-out fold and stays calibrated (its ECE small
    against a 2-3% base rate)."""
    from riskmodel.models.metrics import evaluate
    from riskmodel.models.training import training_frame

    dataset, settings, model = district
    metrics = model.meta["metrics_holdout"]
    holdout = [pd.Timestamp(d) for d in model.meta["as_of_dates"][-6:]]
    frame, _ = training_frame(dataset, holdout, settings=settings, until="2025-08-01")
    phq = frame["phq9_total_latest"].fillna(-1).to_numpy() + 0.001 * frame["traj_screen_pct_mean"].fillna(0).to_numpy()
    alone = evaluate(frame["label"], np.full(len(frame), frame["label"].mean()), phq, frame["as_of"],
                     capacity_per_1000=settings.warning.capacity_per_1000)
    assert metrics["average_precision"] > alone["average_precision"]
    assert metrics["ece_quantile"] < 0.02
    gain = pd.Series(model.estimator.booster_.feature_importance("gain"), index=model.estimator.booster_.feature_name())
    assert gain[[c for c in gain.index if c.startswith("traj_")]].sum() > 0


def test_constrained_features_never_lower_the_score_on_real_rows(district):
    """Raising a constrained feature (a critical answer, urgent observations, the counsellor's rating ...)
    on real students' rows of a trained model never lowers the calibrated score, nor the raw one."""
    from riskmodel.features import build_features

    dataset, settings, model = district
    names = model.estimator.monotone_features_
    assert {"phq9_item9_latest", "traj_phq9_item9_max", "counsellor_rating_last"} <= set(names)
    booster = model.estimator.booster_
    gain = pd.Series(booster.feature_importance("gain"), index=booster.feature_name())
    assert gain[names].sum() > 0, "the constrained features take part in the trees, so the check can fail"
    rows = build_features(dataset, ["2025-03-01", "2025-06-01"], settings=settings)
    rows = rows.sample(min(1500, len(rows)), random_state=0).reset_index(drop=True)
    base = model.predict(rows)
    for name in names:
        known = rows[name].notna().to_numpy()
        for step in (1.0, 2.0, 10.0):
            raised = rows.assign(**{name: (rows[name] + step).astype("float32")})
            pred = model.predict(raised)
            assert (pred["raw"].to_numpy()[known] >= base["raw"].to_numpy()[known] - 1e-12).all(), \
                f"{name} +{step} lowered the raw score"
            assert (pred["score"].to_numpy()[known] >= base["score"].to_numpy()[known] - 1e-12).all(), \
                f"{name} +{step} lowered the score"
