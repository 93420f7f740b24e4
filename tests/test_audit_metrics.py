"""The audit's metric layer against independent computations (scikit-learn, fairlearn) on fixed data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, precision_score, recall_score, roc_auc_score

from riskmodel.audit.drift import PSI_FLOOR, psi, psi_table
from riskmodel.audit.explain import family_importance, importance_table
from riskmodel.audit.groups import fairlearn_reference, group_table
from riskmodel.audit.metrics import (
    Bootstrap,
    Replicates,
    calibration_bins,
    complement,
    components,
    finish,
    interval,
    ranking_exact,
    reliability_table,
)
from riskmodel.audit.performance import (
    calibration_table,
    flagged_at,
    level_capacity,
    levels_at_capacity,
    performance_table,
)
from riskmodel.audit.stability import stability_table, transitions

THRESHOLDS = {"auc": 0.05, "average_precision": 0.05, "recall": 0.10, "precision": 0.05, "brier": 0.02,
              "observed_expected": 0.25}


def _data(n: int = 2000, seed: int = 0, rounding: int | None = None):
    rng = np.random.default_rng(seed)
    score = rng.beta(1, 12, n)
    if rounding is not None:
        score = np.round(score, rounding)
    y = (rng.random(n) < score).astype(int)
    students = rng.integers(0, n // 4, n)
    return y, score, students


@pytest.mark.parametrize("rounding", [None, 2])
@pytest.mark.parametrize("rank_max_bins", [64, 100_000])
def test_point_estimates_equal_scikit_learn(rounding, rank_max_bins):
    y, s, ids = _data(rounding=rounding)
    flags = {"I": s >= np.quantile(s, 0.95)}
    m = finish(components(Replicates(ids, Bootstrap(replicates=0)), y, s, flags, rank_max_bins=rank_max_bins))
    assert m["auc"][0] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert m["average_precision"][0] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert m["brier"][0] == pytest.approx(brier_score_loss(y, s), abs=1e-12)
    assert m["recall_I"][0] == pytest.approx(recall_score(y, flags["I"]))
    assert m["precision_I"][0] == pytest.approx(precision_score(y, flags["I"]))
    assert m["observed_expected"][0] == pytest.approx(y.sum() / s.sum())


def test_every_replicate_equals_scikit_learn_with_the_replicate_as_sample_weights():
    y, s, ids = _data(n=600, rounding=2)
    rep = Replicates(ids, Bootstrap(replicates=5, seed=3))
    m = finish(components(rep, y, s, {"I": s > 0.2}, rank_max_bins=100_000))
    for b in range(1, 6):
        weight = rep.counts[b][rep.codes]  # a student drawn c times counts c times, all rows
        assert m["auc"][b] == pytest.approx(roc_auc_score(y, s, sample_weight=weight), abs=1e-12)
        assert m["average_precision"][b] == pytest.approx(average_precision_score(y, s, sample_weight=weight), abs=1e-12)
        assert m["brier"][b] == pytest.approx(brier_score_loss(y, s, sample_weight=weight), abs=1e-12)
        assert m["recall_I"][b] == pytest.approx(recall_score(y, s > 0.2, sample_weight=weight))


def test_bootstrap_resamples_students_and_is_seeded():
    rep = Replicates(np.array(["a", "a", "b", "c", "c", "c"]), Bootstrap(replicates=200, seed=7))
    assert (rep.counts[1:].sum(axis=1) == 3).all()  # as many students as there are, per replicate
    again = Replicates(np.array(["a", "a", "b", "c", "c", "c"]), Bootstrap(replicates=200, seed=7))
    np.testing.assert_array_equal(rep.counts, again.counts)
    # rows of one student always move together: the row weights are the student's count
    weights = rep.counts[:, rep.codes]
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 3] == weights[:, 5]).all()


def test_cluster_bootstrap_is_wider_than_a_row_bootstrap_for_repeated_students():
    # one outcome per student repeated over 12 monthly rows: 12 rows are one piece of evidence
    rng = np.random.default_rng(1)
    n_students = 400
    risk = rng.beta(1, 8, n_students)
    outcome = (rng.random(n_students) < risk).astype(int)
    ids = np.repeat(np.arange(n_students), 12)
    y, s = np.repeat(outcome, 12), np.repeat(risk, 12)
    clustered = finish(components(Replicates(ids, Bootstrap(300, seed=2)), y, s, {}))
    by_row = finish(components(Replicates(np.arange(len(ids)), Bootstrap(300, seed=2)), y, s, {}))
    width = lambda m: np.subtract(*interval(m["auc"], 0.95)[2:0:-1])  # noqa: E731
    assert width(clustered) > 2.5 * width(by_row)


def test_interval_covers_the_truth_in_most_repeated_samples():
    # sanity of the percentile interval: 40 samples from a known population, coverage near 95%
    rng = np.random.default_rng(5)
    covered = 0
    for i in range(40):
        s = rng.random(800)
        y = (rng.random(800) < s * 0.4).astype(int)
        m = finish(components(Replicates(np.arange(800), Bootstrap(200, seed=i)), y, s, {}))
        _, low, high, _ = interval(m["base_rate"], 0.95)
        covered += low <= 0.2 <= high
    assert covered >= 33


def test_undefined_metrics_are_nan_never_zero_or_one():
    rep = Replicates(np.arange(5), Bootstrap(replicates=30, seed=0))
    m = finish(components(rep, np.zeros(5), np.linspace(0.1, 0.5, 5), {"I": np.zeros(5, bool)}))
    assert np.isnan(m["auc"][0]) and np.isnan(m["average_precision"][0])
    assert np.isnan(m["recall_I"][0]) and np.isnan(m["precision_I"][0])
    estimate, low, high, usable = interval(m["auc"], 0.95)
    assert np.isnan(estimate) and np.isnan(low) and usable == 0


def test_complement_is_the_rest_of_the_population():
    y, s, ids = _data(rounding=2)
    mask = np.arange(len(y)) % 3 == 0
    rep = Replicates(ids, Bootstrap(replicates=0))
    kwargs = {"rank_max_bins": 100_000, "cal_bins": calibration_bins(s, 10)}
    rest = finish(complement(components(rep, y, s, {}, **kwargs), components(rep, y, s, {}, rows=mask, **kwargs)))
    assert rest["auc"][0] == pytest.approx(roc_auc_score(y[~mask], s[~mask]))
    assert rest["brier"][0] == pytest.approx(brier_score_loss(y[~mask], s[~mask]))


def test_reliability_curve_equals_scikit_learn_quantile_strategy():
    y, s, _ = _data()
    table = reliability_table(y, s, n_bins=10)
    observed, predicted = calibration_curve(y, s, n_bins=10, strategy="quantile")
    np.testing.assert_allclose(table["observed_rate"], observed)
    np.testing.assert_allclose(table["mean_score"], predicted)
    assert (table["observed_low"] <= table["observed_rate"]).all()
    assert (table["observed_rate"] <= table["observed_high"]).all()


def test_ece_on_a_known_case():
    # bins {0.1 x4} and {0.5 x4}: observed rates 0.25 and 0.25 -> |0.25-0.1|/2 + |0.25-0.5|/2 = 0.2
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0])
    s = np.array([0.1] * 4 + [0.5] * 4)
    m = finish(components(Replicates(np.arange(8), Bootstrap(0)), y, s, {}, n_bins=2))
    assert m["ece"][0] == pytest.approx(0.2)
    # a perfectly calibrated case has ECE 0
    s2 = np.array([0.25] * 4 + [0.75] * 4)
    y2 = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert finish(components(Replicates(np.arange(8), Bootstrap(0)), y2, s2, {}, n_bins=2))["ece"][0] == pytest.approx(0)


def test_ranking_exact_ties_as_scikit_learn():
    y = np.array([0, 1, 1, 0, 1])
    s = np.array([0.2, 0.2, 0.9, 0.9, 0.5])
    assert ranking_exact(y, s)["auc"] == pytest.approx(roc_auc_score(y, s))
    assert ranking_exact(y, s)["average_precision"] == pytest.approx(average_precision_score(y, s))


def test_capacity_levels_are_cumulative_per_month():
    assert level_capacity(2000, capacity=None, capacity_per_1000={"I": 5, "II": 15, "III": 30}) == \
        {"I": 10, "II": 40, "III": 100}
    assert level_capacity(10, capacity={"I": 2, "II": 3, "III": 100}, capacity_per_1000={}) == \
        {"I": 2, "II": 5, "III": 10}
    frame = pd.DataFrame({"as_of": [1] * 5 + [2] * 5, "s": [0.9, 0.1, 0.5, 0.3, 0.2, 0.1, 0.2, 0.3, 0.4, 0.8]})
    level = levels_at_capacity(frame, "s", capacity={"I": 1, "II": 1, "III": 1}, capacity_per_1000={})
    assert level.tolist() == ["I", "none", "II", "III", "none", "none", "none", "III", "II", "I"]
    assert flagged_at(level, "II").sum() == 4


def _frame(seed: int = 0, students: int = 1500, months: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    register = pd.DataFrame({"student_id": [f"s{i}" for i in range(students)],
                             "gender": rng.choice(["F", "M"], students),
                             "college": rng.choice(["A", "B", "C", "tiny"], students, p=[0.4, 0.3, 0.28, 0.02]),
                             "left_behind": pd.array(rng.random(students) < 0.25, dtype="boolean")})
    frame = pd.DataFrame({"student_id": np.tile(register["student_id"], months),
                          "as_of": np.repeat(pd.date_range("2025-09-01", periods=months, freq="MS"), students)})
    frame = frame.merge(register, on="student_id", how="left")
    frame["score"] = rng.beta(1, 15, len(frame))
    frame["label"] = (rng.random(len(frame)) < frame["score"]).astype(int)
    frame["level"] = levels_at_capacity(frame, "score", capacity=None, capacity_per_1000={"I": 10, "II": 30, "III": 60})
    frame["baseline_score"] = np.round(frame["score"] * 10) / 10 + rng.normal(0, 0.02, len(frame)).clip(0)
    frame["baseline_level"] = levels_at_capacity(frame, "baseline_score", capacity=None,
                                                 capacity_per_1000={"I": 10, "II": 30, "III": 60})
    return frame


def test_performance_table_pooled_and_by_month_equal_scikit_learn():
    frame = _frame()
    table = performance_table(frame, boot=Bootstrap(replicates=100, seed=1))
    row = table.query("scorer == 'rules' and period == 'all' and metric == 'auc'").iloc[0]
    assert row["estimate"] == pytest.approx(roc_auc_score(frame["label"], frame["baseline_score"]))
    assert row["low"] < row["estimate"] < row["high"] and row["replicates"] == 100
    month = frame[frame["as_of"] == "2025-11-01"]
    row = table.query("scorer == 'model' and period == '2025-11-01' and metric == 'recall_II'").iloc[0]
    assert row["estimate"] == pytest.approx(recall_score(month["label"], month["level"].isin(["I", "II"])))
    assert set(table["period"]) == {"all", *(d.date().isoformat() for d in pd.to_datetime(frame["as_of"].unique()))}
    curves = calibration_table(frame, n_bins=5)
    assert set(curves["scorer"]) == {"model", "rules"} and curves.groupby(["scorer", "period"]).size().max() == 5


def test_group_table_equals_fairlearn_metricframe():
    frame = _frame()
    table = group_table(frame, groupings={"gender": "gender", "college": "college", "left_behind": "left_behind"},
                        boot=Bootstrap(replicates=50, seed=0), min_group_size=50, min_group_positives=5,
                        thresholds=THRESHOLDS)
    for column in ("gender", "college", "left_behind"):
        reference = fairlearn_reference(frame, column)
        mine = table[(table["grouping"] == column) & (table["status"] != "insufficient")]
        for _, row in mine.iterrows():
            if row["metric"] in reference.columns:
                assert row["estimate"] == pytest.approx(reference.loc[row["group"], row["metric"]], abs=1e-9), \
                    (column, row["group"], row["metric"])


def test_small_groups_are_insufficient_not_zero_or_one():
    frame = _frame()
    frame.loc[frame.index[:3], "college"] = "three"  # three rows: even their count is not written
    table = group_table(frame, groupings={"college": "college"}, boot=Bootstrap(50), min_group_size=200,
                        min_group_positives=20, thresholds=THRESHOLDS, small_cell=5)
    tiny = table[table["group"] == "tiny"]
    assert (tiny["status"] == "insufficient").all()
    assert tiny["estimate"].isna().all() and not tiny["flagged"].any()
    assert table.loc[table["group"] == "A", "status"].eq("ok").all()
    three = table[table["group"] == "three"]
    assert three["n"].isna().all() and three["positives"].isna().all() and (three["status"] == "insufficient").all()


def test_a_planted_under_recording_is_flagged_and_a_fair_group_is_not():
    # the model is calibrated on the true risk; for left-behind students only 30% of outcomes are recorded
    frame = _frame(seed=3, students=3000)
    rng = np.random.default_rng(9)
    lost = frame["left_behind"].to_numpy(dtype=bool) & (rng.random(len(frame)) > 0.3)
    frame.loc[lost, "label"] = 0
    table = group_table(frame, groupings={"gender": "gender", "left_behind": "left_behind"},
                        boot=Bootstrap(200, seed=0), min_group_size=50, min_group_positives=20,
                        thresholds=THRESHOLDS)
    flagged = table[table["flagged"]]
    assert ((flagged["grouping"] == "left_behind") & (flagged["group"] == "yes")
            & (flagged["metric"] == "observed_expected")).any()
    row = table.query("grouping == 'left_behind' and group == 'yes' and metric == 'observed_expected'").iloc[0]
    assert row["estimate"] == pytest.approx(0.3, abs=0.12) and row["gap_high"] < 0
    assert not flagged["grouping"].eq("gender").any()


def test_psi_of_known_distributions():
    rng = np.random.default_rng(0)
    train = pd.Series(rng.normal(size=20_000))
    assert psi(train, pd.Series(rng.normal(size=20_000))) < 0.01
    # a shift of one standard deviation: PSI of normal(1,1) against normal(0,1) in deciles is about 1.0
    shifted = psi(train, pd.Series(rng.normal(1.0, 1.0, 20_000)))
    assert 0.7 < shifted < 1.3
    # categorical: hand computation with shares (0.5, 0.5) -> (0.25, 0.75)
    expected = 0.25 * np.log(0.75 / 0.5) - 0.25 * np.log(0.25 / 0.5)
    assert psi(pd.Series([0, 1] * 50), pd.Series([0] * 25 + [1] * 75)) == pytest.approx(expected, abs=1e-3)
    # missing values are a bin of their own: a source that stops arriving is drift
    assert psi(pd.Series([1.0, 2.0] * 50), pd.Series([1.0, np.nan] * 50)) > 1
    # an unseen category goes to 'other'; empty bins are floored, never infinite
    assert np.isfinite(psi(pd.Series(["a"] * 10), pd.Series(["b"] * 10)))
    assert PSI_FLOOR > 0


def test_psi_table_by_period_and_exempt_calendar_features():
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=4000), "cal_month": rng.integers(1, 13, 4000)})
    current = pd.DataFrame({"as_of": np.repeat(["2026-01-01", "2026-02-01"], 2000),
                            "x": np.r_[rng.normal(size=2000), rng.normal(2.0, 1.0, 2000)],
                            "cal_month": np.repeat([1, 2], 2000)})
    table = psi_table(reference, current, columns=["x", "cal_month"], exempt=("cal_month",))
    x = table[table["variable"] == "x"].set_index("period")["psi"]
    assert x["2026-01-01"] < 0.05 < 0.25 < x["2026-02-01"]
    assert x["2026-01-01"] == pytest.approx(psi(reference["x"], current["x"][:2000]))
    assert not table.loc[table["variable"] == "cal_month", "flagged"].any()


def test_stability_counts_and_reasons():
    scores = pd.DataFrame({
        "student_id": ["a", "b", "c", "d", "a", "b", "c", "e"],
        "as_of": pd.to_datetime(["2026-01-01"] * 4 + ["2026-02-01"] * 4),
        "level": ["I", "II", "III", "II", "none", "I", "III", "I"],
        "path": ["rule:phq9_item9", "score", "score", "score", "", "score", "score", "rule:x"],
    })
    moves = transitions(scores).set_index("student_id")
    assert moves.loc["a", "reason"] == "rule_cleared" and moves.loc["d", "reason"] == "exited"
    assert moves.loc["b", "change"] == "raised" and moves.loc["e", "reason"] == "new_student"
    row = stability_table(scores).iloc[0]
    assert (row["stayed"], row["entered"], row["left"]) == (2, 1, 2)
    assert row["jaccard"] == pytest.approx(2 / 5)


def test_family_importance_sums_features_within_a_family():
    contributions = pd.DataFrame({"phq9": [1.0, -1.0, 0.5], "gad7": [0.5, 0.5, 0.5], "absent": [0.1, 0.0, -0.1]})
    families = pd.Series({"phq9": "screening", "gad7": "screening", "absent": "attendance"})
    table = family_importance(contributions, families).set_index("family")
    assert table.loc["screening", "mean_abs"] == pytest.approx((1.5 + 0.5 + 1.0) / 3)
    assert table.loc["attendance", "mean_signed"] == pytest.approx(0.0)
    assert table["share"].sum() == pytest.approx(1.0)
    by_group = importance_table(contributions, families, {"g": np.array(["x", "x", "y"])}, min_group_size=2)
    assert set(by_group["group"]) == {"all", "x"}  # y has one row: left out


def test_null_gaps_are_rarely_flagged_after_the_multiplicity_correction():
    """Forty groups drawn at random (no real difference), about 400 tested gaps. The rule "large enough
    and the interval excludes zero" flagged 28 of them (percentile intervals of small groups are too
    narrow); the p-values are calibrated (about 5% below 0.05) and Benjamini-Hochberg per metric
    leaves one or two, which is what a 5% false discovery rate per metric allows when nothing is real."""
    frame = _frame(seed=5, students=6000, months=4)
    rng = np.random.default_rng(11)
    register = pd.Series(rng.choice([f"g{i:02d}" for i in range(40)], frame["student_id"].nunique()),
                         index=frame["student_id"].unique())
    frame["random_group"] = frame["student_id"].map(register)
    table = group_table(frame, groupings={"random_group": "random_group"}, boot=Bootstrap(200, seed=0),
                        min_group_size=50, min_group_positives=20, thresholds=THRESHOLDS)
    tested = table[table["q_value"].notna()]
    assert len(tested) >= 300, "the family is large"
    by_interval = ((tested["gap_low"] > 0) | (tested["gap_high"] < 0)) & (tested["gap"].abs() >= tested["threshold"])
    assert by_interval.sum() >= 15, "the uncorrected rule would flag many null gaps"
    assert 0.01 <= (tested["p_value"] < 0.05).mean() <= 0.08, "p-values about uniform under the null"
    assert table["flagged"].sum() <= 3, table.loc[table["flagged"], ["group", "metric", "gap", "p_value", "q_value"]]
    assert (tested["q_value"] >= tested["p_value"] - 1e-12).all()


def test_a_small_group_with_no_hits_is_not_certain():
    """A group whose few level-I students include no recorded outcome has precision 0 in every bootstrap
    replicate; the binomial floor keeps that from reading as a certain gap."""
    from riskmodel.audit.groups import _null_variance, _p_value

    mine = {"n": np.array([400.0]), "positives": np.array([25.0]), "precision_I": np.array([0.0]),
            "selection_rate_I": np.array([4 / 400])}
    rest = {"n": np.array([40000.0]), "positives": np.array([2500.0]), "precision_I": np.array([0.2]),
            "selection_rate_I": np.array([400 / 40000])}
    degenerate = np.full(200, -0.2) + np.random.default_rng(0).normal(0, 0.005, 200)
    assert _p_value(degenerate, -0.2) < 1e-12, "the bootstrap alone is certain"
    p = _p_value(degenerate, -0.2, _null_variance("precision_I", mine, rest))
    assert 0.2 < p < 0.6, p  # 0 of 4 flagged when the rest's precision is 0.2: 0.8^4 = 0.41 by chance


def test_audit_tables_and_card_keep_hostile_group_names_inert(tmp_path):
    """A college named like a formula or a script: neutralised in the CSV, literal text in the model card."""
    from riskmodel.audit.card import _groups_section
    from riskmodel.audit.run import write_table

    hostile = ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "<script>alert(1)</script>",
               "[x](javascript:alert(1))\nnext line"]
    csv_path, _ = write_table(pd.DataFrame({"group": hostile, "gap": 0.1}), tmp_path, "groups")
    cells = pd.read_csv(csv_path, encoding="utf-8-sig")["group"].tolist()
    assert all(c.startswith("'") for c in cells[:4]), cells
    summary = {"settings": {"audit": {"min_group_size": 50, "min_group_positives": 20, "confidence": 0.95,
                                      "gap_thresholds": THRESHOLDS}},
               "flagged_gaps": [{"scorer": "model", "grouping": "college", "group": g, "metric": "auc", "gap": -0.2,
                                 "gap_low": -0.3, "gap_high": -0.1} for g in hostile[4:]],
               "gaps_tested": 10, "insufficient_groups": []}
    card = _groups_section(summary, "en")
    assert "<script>" not in card and "&lt;script&gt;" in card
    assert "](javascript" not in card and "next line" in card
    assert all(not line.startswith("next line") for line in card.splitlines()), "a newline in a name breaks no line"
