"""Models: rules baseline, logistic, LightGBM, calibration, temporal folds, registry and its refusals.

Small hand-made feature matrices named like the real catalogue's features, real LightGBM, real files.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.errors import ContractError, ModelMismatchError, PreflightError
from riskmodel.models import (
    FeatureSpec,
    LightGBMRisk,
    LogisticRisk,
    ProbabilityCalibrator,
    RulesBaseline,
    expected_calibration_error,
    load_model,
    monthly_as_of_dates,
    recall_at_capacity,
    save,
    time_folds,
    train_model,
)

FEATURES = ["phq9_total_latest", "phq9_total_prev", "phq9_item9_latest", "upi_total_latest",
            "obs_self_harm_signal_urgent_30d", "counsellor_rating_last", "reg_economic_hardship", "att_unexcused_30d"]


def training_frame(n_students: int = 600, months: int = 24, seed: int = 0) -> pd.DataFrame:
    """Monthly rows with a risk driven by PHQ-9, item 9, observations and absences; ~4% positives."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-01", periods=months, freq="MS")
    n = n_students * months
    frame = pd.DataFrame({
        "student_id": np.tile([f"S{i:04d}" for i in range(n_students)], months),
        "as_of": np.repeat(dates, n_students),
        "phq9_total_latest": rng.integers(0, 28, n).astype(float),
        "phq9_total_prev": rng.integers(0, 28, n).astype(float),
        "phq9_item9_latest": (rng.random(n) < 0.05).astype(float),
        "upi_total_latest": np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 57, n)).astype(float),
        "obs_self_harm_signal_urgent_30d": (rng.random(n) < 0.01).astype(float),
        "counsellor_rating_last": np.where(rng.random(n) < 0.8, np.nan, rng.integers(1, 5, n)).astype(float),
        "reg_economic_hardship": (rng.random(n) < 0.15).astype(float),
        "att_unexcused_30d": rng.poisson(0.5, n).astype(float),
    })
    logit = (-5.2 + 0.12 * frame["phq9_total_latest"] + 1.5 * frame["phq9_item9_latest"]
             + 2.0 * frame["obs_self_harm_signal_urgent_30d"] + 0.3 * frame["att_unexcused_30d"])
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def small_settings(**model) -> Settings:
    base = {"history_months": 24, "calibration_months": 4, "holdout_months": 4, "n_estimators": 60,
            "early_stopping_rounds": 10, "calibration": "sigmoid"}
    return Settings.model_validate({"model": {**base, **model}})


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return training_frame()


@pytest.fixture(scope="module")
def lgbm_model(frame):
    return train_model(None, "2025-03-31", settings=small_settings(), kind="lightgbm", frame=frame)


# -- rules baseline -----------------------------------------------------------------------------------

def test_rules_baseline_orders_by_tier_then_number_of_rules():
    X = pd.DataFrame({"phq9_item9_latest": [0, 1, 0, 0, np.nan], "phq9_total_latest": [3, 8, 16, 21, np.nan],
                      "upi_total_latest": [0, 0, 26, 0, 30]}, dtype=float)
    score = RulesBaseline().fit(X).decision_function(X)
    # none; item 9 (tier 3); PHQ 16 (tier 2: +moderate) and UPI 26 (tier 2, + class-2 total); PHQ 21 (3 + two bands);
    # missing PHQ never fires, UPI 30 still does
    assert score.tolist() == pytest.approx([0.0, 3.0, 2.3, 3.2, 2.1])


def test_rules_baseline_records_rules_it_cannot_use():
    model = RulesBaseline().fit(pd.DataFrame({"phq9_total_latest": [1.0]}))
    assert "upi_item25" in model.unused_rules_ and "phq9_moderate" not in model.unused_rules_


# -- logistic -----------------------------------------------------------------------------------------

def test_logistic_contributions_add_up_to_the_log_odds(frame):
    X = frame[FEATURES].iloc[:3000]
    model = LogisticRisk().fit(X, frame["label"].iloc[:3000])
    contrib = model.contributions(X.iloc[:50])
    assert contrib.shape == (50, len(FEATURES))
    np.testing.assert_allclose(contrib.sum(axis=1) + model.intercept_, model.decision_function(X.iloc[:50]))
    assert model.coefficients()["phq9_total_latest"] > 0
    again = LogisticRisk.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(again.decision_function(X), model.decision_function(X))


# -- LightGBM -----------------------------------------------------------------------------------------

def test_lightgbm_treeshap_adds_up_and_fits_are_identical(frame):
    X, y = frame[FEATURES], frame["label"]
    fit, later = slice(0, 8000), slice(8000, 12000)
    a = LightGBMRisk(n_estimators=40, seed=3).fit(X[fit], y[fit], eval_set=(X[later], y[later]))
    b = LightGBMRisk(n_estimators=40, seed=3).fit(X[fit], y[fit], eval_set=(X[later], y[later]))
    assert a.model_text() == b.model_text()  # deterministic
    contrib = a.booster_.predict(X[:20].to_numpy(), num_iteration=a.best_iteration_, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), a.decision_function(X[:20]), rtol=1e-6, atol=1e-9)
    assert a.contributions(X[:20]).shape == (20, len(FEATURES))


def test_lightgbm_refuses_class_reweighting():
    X = pd.DataFrame({"phq9_total_latest": np.arange(100.0)})
    with pytest.raises(ValueError, match="spoil probabilities"):
        LightGBMRisk(params={"is_unbalance": True}).fit(X, (X["phq9_total_latest"] > 90).astype(int))


# -- calibration and metrics --------------------------------------------------------------------------

def test_calibration_auto_chooses_by_positives_and_never_reorders():
    rng = np.random.default_rng(1)
    raw = rng.normal(-3, 1.5, 40000)
    y = (rng.random(40000) < 1 / (1 + np.exp(-raw))).astype(int)
    few = ProbabilityCalibrator("auto", isotonic_min_positives=10**6).fit(raw, y)
    many = ProbabilityCalibrator("auto", isotonic_min_positives=100).fit(raw, y)
    assert (few.method_, many.method_) == ("sigmoid", "isotonic")
    order = np.argsort(raw)
    for cal in (few, many):
        assert np.all(np.diff(cal.predict(raw[order])) >= 0)
        assert expected_calibration_error(y, cal.predict(raw)) < 0.01
        again = ProbabilityCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
        np.testing.assert_array_equal(again.predict(raw), cal.predict(raw))


def test_ece_sees_miscalibration_and_recall_at_capacity_counts_per_month():
    y = np.array([1, 0, 0, 0] * 250)
    assert expected_calibration_error(y, np.full(1000, 0.25)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(1000, 0.5)) == pytest.approx(0.25)
    groups = np.repeat([1, 2], 5)
    score = np.array([9, 1, 1, 1, 1, 1, 1, 1, 1, 9.0])
    truth = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
    # one student a month (200 per 1,000 of 5): month 1 finds its positive, month 2 does not
    assert recall_at_capacity(truth, score, groups, per_1000=200) == 0.5


# -- temporal folds -----------------------------------------------------------------------------------

def test_monthly_dates_close_their_label_windows_by_until():
    dates = monthly_as_of_dates("2026-03-01", horizon_days=90, months=36)
    assert len(dates) == 36 and dates[-1] == pd.Timestamp("2025-12-01")
    assert dates[-1] + pd.Timedelta(days=90) <= pd.Timestamp("2026-03-01")


def test_time_folds_leave_gaps_so_no_label_window_reaches_the_next_fold():
    dates = list(pd.date_range("2023-01-01", periods=36, freq="MS"))
    folds = time_folds(dates, horizon_days=90, calibration_months=6, holdout_months=6)
    horizon = pd.Timedelta(days=90)
    assert len(folds.holdout) == 6 and len(folds.calibration) == 6
    assert max(folds.fit) + horizon <= min(folds.calibration)
    assert max(folds.calibration) + horizon <= min(folds.holdout)
    with pytest.raises(ContractError, match="too few"):
        time_folds(dates[:8], horizon_days=90, calibration_months=6, holdout_months=6)


# -- training and the registry ------------------------------------------------------------------------

def test_train_records_windows_metrics_and_calibration(lgbm_model):
    meta = lgbm_model.meta
    assert meta["kind"] == "lightgbm" and meta["horizon_days"] == 90 and meta["seed"] == Settings().model.seed
    assert meta["windows"]["evaluation"]["holdout"]["dates"] == 4
    assert meta["windows"]["model"]["calibration"]["last"] == meta["windows"]["evaluation"]["holdout"]["last"]
    metrics = meta["metrics_holdout"]
    assert metrics["positives"] > 50 and 0.5 < metrics["roc_auc"] <= 1.0
    assert meta["calibration"]["chosen"] == "sigmoid"
    assert "lightgbm" in meta["package_versions"]


def test_registry_round_trip_gives_identical_scores(lgbm_model, frame, tmp_path):
    save(lgbm_model, tmp_path / "m")
    version = lgbm_model.version
    assert len(version) == 16
    loaded = load_model(tmp_path / "m", features=frame)
    assert loaded.version == version and loaded.meta["features"] == list(lgbm_model.features)
    sample = frame.iloc[:500]
    pd.testing.assert_frame_equal(loaded.predict(sample), lgbm_model.predict(sample))
    assert oct((tmp_path / "m" / "booster.txt").stat().st_mode & 0o777) == "0o600"
    assert not list((tmp_path / "m").glob("*.pkl"))
    with pytest.raises(PreflightError, match="never overwritten"):
        save(lgbm_model, tmp_path / "m")


def test_same_data_and_seed_give_the_same_version(frame, tmp_path):
    first = train_model(None, "2025-03-31", settings=small_settings(), kind="lightgbm", frame=frame)
    again = train_model(None, "2025-03-31", settings=small_settings(), kind="lightgbm", frame=frame)
    save(first, tmp_path / "first")
    save(again, tmp_path / "again")
    assert again.version == first.version
    assert (tmp_path / "first" / "model.json").read_bytes() == (tmp_path / "again" / "model.json").read_bytes()
    other = train_model(None, "2025-03-31", settings=small_settings(seed=7), kind="lightgbm", frame=frame)
    save(other, tmp_path / "other")
    assert other.version != again.version


def test_registry_refuses_a_mismatched_feature_matrix(lgbm_model, frame, tmp_path):
    save(lgbm_model, tmp_path / "m")
    wrong = frame.drop(columns=["att_unexcused_30d"]).assign(acad_failed_latest=0.0)
    with pytest.raises(ModelMismatchError) as err:
        load_model(tmp_path / "m", features=wrong)
    message = str(err.value)
    assert "missing: att_unexcused_30d" in message and "not trained on: acad_failed_latest" in message
    assert "riskmodel train" in message
    with pytest.raises(ModelMismatchError):
        lgbm_model.predict(wrong)


def test_registry_refuses_altered_files(lgbm_model, tmp_path):
    save(lgbm_model, tmp_path / "m")
    calib = tmp_path / "m" / "calibrator.json"
    calib.write_text(calib.read_text().replace('"method": "sigmoid"', '"method": "isotonic"'))
    with pytest.raises(ModelMismatchError, match="altered or damaged"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelMismatchError, match="not a riskmodel model folder"):
        load_model(tmp_path / "nothing")


@pytest.mark.parametrize("kind", ["logistic", "rules"])
def test_other_kinds_train_save_and_load(kind, frame, tmp_path):
    model = train_model(None, "2025-03-31", settings=small_settings(), kind=kind, frame=frame)
    save(model, tmp_path / kind)
    loaded = load_model(tmp_path / kind)
    sample = frame.iloc[:300]
    np.testing.assert_allclose(loaded.predict(sample)["score"], model.predict(sample)["score"])
    assert loaded.contributions(sample).shape == (300, len(FEATURES))
    assert model.meta["metrics_holdout"]["rows"] > 0


def test_lightgbm_beats_the_rules_on_held_out_months(frame, lgbm_model):
    rules = train_model(None, "2025-03-31", settings=small_settings(), kind="rules", frame=frame)
    assert lgbm_model.meta["metrics_holdout"]["average_precision"] > rules.meta["metrics_holdout"]["average_precision"]


def test_feature_spec_codes_text_columns_and_unseen_categories():
    train = pd.DataFrame({"student_id": ["a", "b"], "as_of": pd.Timestamp("2026-01-01"), "x": [1.0, 2.0],
                          "dorm_kind": ["A", "B"]})
    spec = FeatureSpec.from_frame(train)
    new = train.assign(dorm_kind=["B", "C"])
    np.testing.assert_array_equal(spec.matrix(new)[:, 1], [1.0, np.nan])


@pytest.mark.parametrize("module", [
    "riskmodel.models.matrix", "riskmodel.models.rules", "riskmodel.models.logistic", "riskmodel.models.gbm",
    "riskmodel.models.calibration", "riskmodel.models.metrics", "riskmodel.models.pipeline",
    "riskmodel.models.training", "riskmodel.warning.hard_rules", "riskmodel.warning.levels",
    "riskmodel.warning.reasons", "riskmodel.warning.export",
])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_baseline_and_hard_rules_files_with_a_yaml_typo_name_the_file(tmp_path):
    from riskmodel.config import Settings
    from riskmodel.errors import ConfigError
    from riskmodel.models.rules import load_rules
    from riskmodel.warning.hard_rules import load_hard_rules

    broken = tmp_path / "centre_rules.yaml"
    broken.write_text("rules: [ {name: phq9\n", encoding="utf-8")
    for load in (load_rules, lambda path: load_hard_rules(path, settings=Settings())):
        with pytest.raises(ConfigError, match="centre_rules.yaml: not valid YAML"):
            load(broken)


def test_a_fold_without_recorded_outcomes_is_a_clear_error_not_a_traceback(frame):
    """No outcomes table, or an --until whose windows hold none: refuse, naming the fold and what to do."""
    calm = frame.assign(label=0)
    with pytest.raises(ContractError, match=r"the fit fold .* 0 with a recorded outcome .*outcomes table"):
        train_model(None, "2025-03-31", settings=small_settings(), kind="lightgbm", frame=calm)
    with pytest.raises(ContractError, match="calibration fold"):  # the rules learn nothing, but calibrate
        train_model(None, "2025-03-31", settings=small_settings(), kind="rules", frame=calm)


def test_label_windows_past_the_last_record_are_not_counted_as_calm():
    """--until after the export: windows the records do not cover are left out, never negatives."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_features_helpers import cut_after, random_dataset

    from riskmodel.models.training import training_frame

    data = cut_after(random_dataset(), "2024-12-31")  # the records end on 2024-12-31
    dates = [pd.Timestamp("2024-09-01"), pd.Timestamp("2024-11-01")]
    honest, _ = training_frame(data, dates, settings=Settings(), until="2024-12-31")
    late, _ = training_frame(data, dates, settings=Settings(), until="2026-06-30")
    november = late[late["as_of"] == pd.Timestamp("2024-11-01")]
    assert (november["label"] == 1).all(), "past the records only an outcome already seen counts; no fake negatives"
    assert len(late) == len(honest) and (late["label"].to_numpy() == honest["label"].to_numpy()).all()
    assert (late["as_of"] == pd.Timestamp("2024-09-01")).sum() > 0


def test_training_dates_start_at_the_first_screening():
    """Months before any screening would be rows of 'nothing recorded' labelled 'no outcome'."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_features_helpers import random_dataset

    from riskmodel.models.training import _from_first_screening, monthly_as_of_dates

    data = random_dataset()
    first = data.table("screenings")["date"].min()
    dates = monthly_as_of_dates(pd.Timestamp("2025-12-31"), horizon_days=90, months=48, day=1)
    kept = _from_first_screening(data, dates)
    assert kept and min(kept) >= first and len(kept) < len(dates)
    assert kept == [d for d in dates if d >= first]
