"""The calibration's uncertainty interval (score_low, score_high): hand-counted isotonic steps, the sigmoid's
delta-method interval and its coverage, narrowing with more data, clustering by student, storage and old folders.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from riskmodel.errors import ModelMismatchError
from riskmodel.models import LogisticRisk, ProbabilityCalibrator, load_model, save
from riskmodel.models.calibration import wilson_interval
from riskmodel.models.matrix import FeatureSpec
from riskmodel.models.pipeline import RiskModel
from riskmodel.models.registry import _dumps, _version

# two isotonic steps whose counts are known by hand: raw 0-9 hold 2 positives of 10 (PAVA pools the
# falling run 1,1,0,...,0 into one step at 0.2), raw 10-19 hold 6 of 10 (one step at 0.6)
RAW = np.arange(20.0)
Y = np.array([1, 1] + [0] * 8 + [1] * 6 + [0] * 4)


def test_wilson_matches_published_values_and_edge_cases():
    low, high = wilson_interval(np.array([2, 6, 1, 0, 10, 0]), np.array([10, 10, 5, 10, 10, 0]))
    # Wilson 95% (z = 1.95996): 2/10 -> 0.0567-0.5098, 6/10 -> 0.3127-0.8318, 1/5 -> 0.0362-0.6245,
    # 0/10 -> 0-0.2775, 10/10 -> 0.7225-1; no data -> 0-1
    np.testing.assert_allclose(low, [0.0567, 0.3127, 0.0362, 0.0, 0.7225, 0.0], atol=5e-5)
    np.testing.assert_allclose(high, [0.5098, 0.8318, 0.6245, 0.2775, 1.0, 1.0], atol=5e-5)


def test_isotonic_interval_is_the_wilson_interval_of_the_step_the_raw_score_falls_in():
    cal = ProbabilityCalibrator("isotonic").fit(RAW, Y)
    assert cal.interval_["step_rows"] == [10, 10] and cal.interval_["step_positives"] == [2, 6]
    assert cal.interval_["effective"] == "rows"
    low, high = cal.predict_interval(np.array([-5.0, 0.0, 4.5, 9.0, 10.0, 15.0, 19.0, 40.0]))
    np.testing.assert_allclose(cal.predict(np.array([4.5, 15.0])), [0.2, 0.6])
    np.testing.assert_allclose(low, [0.0567] * 4 + [0.3127] * 4, atol=5e-5)
    np.testing.assert_allclose(high, [0.5098] * 4 + [0.8318] * 4, atol=5e-5)
    # between the steps (9 < raw < 10) the map and both bounds interpolate linearly
    mid_low, mid_high = cal.predict_interval(np.array([9.5]))
    assert mid_low[0] == pytest.approx((0.0567 + 0.3127) / 2, abs=1e-4)
    assert mid_high[0] == pytest.approx((0.5098 + 0.8318) / 2, abs=1e-4)


def test_tied_raw_scores_like_the_rules_baselines_count_in_their_step():
    raw = np.repeat([0.0, 1.0, 1.1, 2.0], [10, 5, 5, 10])  # ordinal scores, many ties
    y = np.array([1, 1] + [0] * 8 + [1, 0, 0, 0, 1] + [1, 1, 0, 0, 1] + [1] * 9 + [0])
    cal = ProbabilityCalibrator("isotonic").fit(raw, y)
    # 2/10 at 0; 2/5 at 1 and 3/5 at 1.1 are in order, so three steps are 2/10, 2/5, 3/5 and then 9/10
    assert cal.interval_["step_rows"] == [10, 5, 5, 10] and cal.interval_["step_positives"] == [2, 2, 3, 9]
    low, high = cal.predict_interval(np.array([0.0, 1.0, 1.1, 2.0]))
    expected = wilson_interval(np.array([2, 2, 3, 9]), np.array([10, 5, 5, 10]))
    np.testing.assert_allclose(low, expected[0])
    np.testing.assert_allclose(high, expected[1])
    np.testing.assert_allclose([low[1], high[1]], [0.1176, 0.7693], atol=5e-5)  # Wilson 2 of 5, published


def test_rows_of_one_student_count_once():
    groups = np.repeat(np.arange(10), 2)  # two rows per student: 5 students per step
    cal = ProbabilityCalibrator("isotonic").fit(RAW, Y, groups=[f"S{g}" for g in groups])
    assert cal.interval_["effective"] == "groups" and cal.interval_["step_effective_n"] == [5, 5]
    np.testing.assert_allclose(cal.predict(np.array([3.0])), [0.2])  # the map is unchanged
    low, high = cal.predict_interval(np.array([3.0]))
    np.testing.assert_allclose([low[0], high[0]], [0.0362, 0.6245], atol=5e-5)  # Wilson of 1 in 5
    # sigmoid: the same rows copied four times are no more evidence; clustered by student they say so
    rng = np.random.default_rng(3)
    raw = rng.normal(0, 1, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(raw - 2)))).astype(int)
    once = ProbabilityCalibrator("sigmoid").fit(raw, y, groups=np.arange(3000))
    copied = ProbabilityCalibrator("sigmoid").fit(np.tile(raw, 4), np.tile(y, 4), groups=np.tile(np.arange(3000), 4))
    naive = ProbabilityCalibrator("sigmoid").fit(np.tile(raw, 4), np.tile(y, 4))
    at = np.array([0.0, 2.0])
    width = {name: np.subtract(*cal.predict_interval(at)[::-1]) for name, cal in
             (("once", once), ("copied", copied), ("naive", naive))}
    np.testing.assert_allclose(width["copied"], width["once"], rtol=0.02)
    assert np.all(width["naive"] < 0.6 * width["once"])  # rows taken as independent: about half as wide
    with pytest.raises(ValueError, match="one per row"):
        ProbabilityCalibrator("sigmoid").fit(raw, y, groups=np.arange(10))


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_intervals_contain_the_score_lie_in_0_1_and_narrow_with_more_data(method):
    def fitted(n: int, seed: int) -> ProbabilityCalibrator:
        rng = np.random.default_rng(seed)
        raw = rng.normal(0, 1.2, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(1.3 * raw - 3)))).astype(int)
        return ProbabilityCalibrator(method).fit(raw, y)

    grid = np.linspace(-6, 6, 241)  # well beyond the data at both ends
    widths = []
    for n in (2_000, 40_000):
        cal = fitted(n, seed=n)
        low, high = cal.predict_interval(grid)
        score = cal.predict(grid)
        assert np.all((low >= 0) & (high <= 1)) and np.all(np.isfinite(low) & np.isfinite(high))
        assert np.all((low <= score) & (score <= high))
        # (the bounds need not be monotone in the raw score: a sparse step above a dense one can have
        # a lower lower bound; that is what the evidence says, and docs/models.md says so)
        bulk = (grid > -2) & (grid < 2)
        widths.append(np.median((high - low)[bulk]))
    assert widths[1] < 0.5 * widths[0]  # 20 times the data: well under half as wide


def test_sigmoid_interval_widens_away_from_the_data_and_covers_the_truth():
    rng = np.random.default_rng(7)
    at = np.array([-5.0, -1.0, 1.0, 5.0])  # far below, in the data, where the positives are, far above
    truth = 1 / (1 + np.exp(-(1.2 * at - 2.5)))
    hits, widths = [], []
    for _ in range(150):  # 150 independent calibration folds
        raw = rng.normal(0, 1, 2000)
        y = (rng.random(2000) < 1 / (1 + np.exp(-(1.2 * raw - 2.5)))).astype(int)
        cal = ProbabilityCalibrator("sigmoid").fit(raw, y)
        low, high = cal.predict_interval(at)
        hits.append((low <= truth) & (truth <= high))
        widths.append(np.log(high / (1 - high)) - np.log(low / (1 - low)))  # width on the log-odds scale
    coverage = np.mean(hits, axis=0)
    assert np.all((coverage > 0.88) & (coverage < 0.995)), coverage  # nominal 95%, right shape: holds
    width = np.median(widths, axis=0)
    assert width[0] > 2 * width[1] and width[3] > 2 * width[2]  # little evidence out there: much wider


def test_the_interval_survives_to_dict_and_from_dict():
    cal = ProbabilityCalibrator("isotonic").fit(RAW, Y)
    back = ProbabilityCalibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    grid = np.linspace(-1, 21, 45)
    for a, b in zip(cal.predict_interval(grid), back.predict_interval(grid), strict=True):
        np.testing.assert_array_equal(a, b)
    sig = ProbabilityCalibrator("sigmoid").fit(RAW, Y)
    back = ProbabilityCalibrator.from_dict(json.loads(json.dumps(sig.to_dict())))
    np.testing.assert_array_equal(sig.predict_interval(grid)[1], back.predict_interval(grid)[1])


@pytest.fixture()
def saved(tmp_path):
    """A small logistic model, isotonic-calibrated with rows clustered by student, saved by the registry."""
    rng = np.random.default_rng(5)
    n_students, months = 1500, 4
    frame = pd.DataFrame({"student_id": np.tile([f"S{i:04d}" for i in range(n_students)], months),
                          "as_of": np.repeat(pd.date_range("2025-01-01", periods=months, freq="MS"), n_students),
                          "phq9_total_latest": rng.integers(0, 28, n_students * months).astype(float),
                          "att_unexcused_30d": rng.poisson(0.5, n_students * months).astype(float)})
    y = (rng.random(len(frame)) < 1 / (1 + np.exp(-(-4 + 0.15 * frame["phq9_total_latest"])))).astype(int)
    spec = FeatureSpec.from_frame(frame)
    estimator = LogisticRisk().fit(spec.frame(frame), y)
    cal = ProbabilityCalibrator("isotonic").fit(estimator.decision_function(spec.frame(frame)), y,
                                                groups=frame["student_id"])
    model = RiskModel(kind="logistic", spec=spec, estimator=estimator, calibrator=cal)
    return save(model, tmp_path / "m"), frame, model


def _rewrite_calibrator(folder, change) -> None:
    """Edit calibrator.json and re-hash, as an older (or foreign) riskmodel would have written the folder."""
    data = json.loads((folder / "calibrator.json").read_text())
    change(data)
    (folder / "calibrator.json").write_text(_dumps(data))
    files = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name != "model.json"}
    meta = json.loads((folder / "model.json").read_text())
    meta["version"] = _version(files)
    (folder / "model.json").write_text(_dumps(meta))


def test_a_saved_model_gives_the_same_interval(saved):
    folder, frame, model = saved
    assert "interval" in json.loads((folder / "calibrator.json").read_text())
    loaded = load_model(folder, features=frame)
    raw = loaded.raw_score(frame)
    for a, b in zip(loaded.calibrator.predict_interval(raw), model.calibrator.predict_interval(raw), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_older_model_folder_loads_without_intervals_and_a_foreign_one_is_refused(saved, caplog):
    folder, frame, _ = saved
    _rewrite_calibrator(folder, lambda d: d.pop("interval"))
    loaded = load_model(folder, features=frame)
    low, high = loaded.calibrator.predict_interval(loaded.raw_score(frame))
    assert np.isnan(low).all() and np.isnan(high).all()
    assert "retrain" in caplog.text
    _rewrite_calibrator(folder, lambda d: d.update(interval={"method": "bootstrap", "level": 0.95}))
    with pytest.raises(ModelMismatchError, match="calibrator.json.*retrain"):
        load_model(folder)
