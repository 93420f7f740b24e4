"""Warning levels, hard rules, reasons in both languages, the list, change and the exports.

Hand-made feature frames carry every feature of the real catalogue (riskmodel.features.catalogue), so
the hard rules and reason templates are tested against the names the features stage guarantees.
"""

from __future__ import annotations

import csv
import io
import re
import time

import numpy as np
import openpyxl
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.errors import ContractError, ModelMismatchError
from riskmodel.features import catalogue
from riskmodel.features.catalogue import FAMILIES
from riskmodel.i18n import text
from riskmodel.models import LogisticRisk, ProbabilityCalibrator
from riskmodel.models.matrix import FeatureSpec
from riskmodel.models.pipeline import RiskModel
from riskmodel.warning import (
    LIST_COLUMNS,
    assign_levels,
    compare_with_previous,
    evaluate_hard_rules,
    explain,
    load_hard_rules,
    neutralise,
    score_features,
    write_warning_list,
)
from riskmodel.warning.commands import read_previous_list
from riskmodel.warning.export import LEVEL_FILL
from riskmodel.warning.localise import coded_columns, localise, percent
from riskmodel.warning.localise import header as header_of
from riskmodel.warning.reasons import previous_families

AS_OF = pd.Timestamp("2026-03-01")


def feature_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every catalogue feature; no hard rule fires unless a test makes it."""
    rng = np.random.default_rng(seed)
    cat = catalogue()
    data = {"student_id": [f"S{i:05d}" for i in range(n)], "as_of": AS_OF}
    for name, kind in cat["kind"].items():
        if kind == "flag":
            data[name] = (rng.random(n) < 0.1).astype(float)
        elif kind == "days":
            data[name] = rng.integers(0, 300, n).astype(float)
        elif kind in ("count",):
            data[name] = rng.poisson(0.3, n).astype(float)
        else:
            data[name] = rng.normal(0, 1, n)
    frame = pd.DataFrame(data)
    frame["phq9_total_latest"] = rng.integers(0, 28, n).astype(float)
    frame["phq9_total_prev"] = rng.integers(0, 28, n).astype(float)
    for feature in ("phq9_item9_latest", "upi_item25_latest", "sds_item19_latest", "scl90_item15_latest",
                    "obs_self_harm_signal_urgent_30d", "outcome_self_harm_or_attempt_365d"):
        frame[feature] = 0.0
    frame["sds_item19_latest"] = 1.0  # SDS answers run 1-4
    frame["scl90_item15_latest"] = 1.0  # SCL-90 answers run 1-5
    frame["counsellor_rating_last"] = np.nan
    return frame


def students_table(frame: pd.DataFrame) -> pd.DataFrame:
    n = len(frame)
    return pd.DataFrame({"student_id": frame["student_id"], "pseudonym": [f"P{i:05d}" for i in range(n)],
                         "school": "Main campus", "college": np.where(np.arange(n) % 2, "Arts", "=cmd|' /C calc'!A0"),
                         "grade": "2024", "class_id": [f"C{i % 40:02d}" for i in range(n)],
                         "dorm_id": [f"D{i % 300:03d}" for i in range(n)]})


@pytest.fixture(scope="module")
def model() -> RiskModel:
    return toy_model(4000)


def toy_model(n: int) -> RiskModel:
    """A small calibrated logistic model on :func:`feature_frame` rows (PHQ-9 and unexcused absences raise risk)."""
    frame = feature_frame(n, seed=1)
    logit = -4.5 + 0.15 * frame["phq9_total_latest"] + 0.8 * frame["att_unexcused_30d"]
    y = (np.random.default_rng(2).random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)
    spec = FeatureSpec.from_frame(frame)
    estimator = LogisticRisk(C=0.05).fit(spec.frame(frame), y)
    calibrator = ProbabilityCalibrator("sigmoid").fit(estimator.decision_function(spec.frame(frame)), y)
    return RiskModel(kind="logistic", spec=spec, estimator=estimator, calibrator=calibrator,
                     meta={"version": "test0000version"})


def settings(**warning) -> Settings:
    return Settings.model_validate({"warning": warning})


# -- hard rules ---------------------------------------------------------------------------------------

RULE_CASES = {
    "phq9_item9": {"phq9_item9_latest": 1.0},
    "upi_item25": {"upi_item25_latest": 1.0},
    "sds_item19": {"sds_item19_latest": 2.0},
    "scl90_item15": {"scl90_item15_latest": 2.0},
    "urgent_self_harm_observation": {"obs_self_harm_signal_urgent_30d": 1.0},
    "self_harm_or_attempt_12m": {"outcome_self_harm_or_attempt_365d": 1.0},
    "counsellor_top_rating": {"counsellor_rating_last": 4.0},
}
RECENT = {"counsellor_top_rating": {"counsellor_rating_high_365d": 1.0}}
BELOW = {"phq9_item9": 0.0, "upi_item25": 0.0, "sds_item19": 1.0, "scl90_item15": 1.0,
         "urgent_self_harm_observation": 0.0, "self_harm_or_attempt_12m": 0.0, "counsellor_top_rating": 3.0}


@pytest.mark.parametrize("rule", sorted(RULE_CASES))
def test_each_hard_rule_puts_a_low_scoring_student_at_level_one(rule, model):
    frame = feature_frame(400)
    (feature, value), = RULE_CASES[rule].items()
    frame.loc[0, "phq9_total_latest"] = 0.0  # a low model score
    frame.loc[0, feature] = value
    for other, recent in RECENT.get(rule, {}).items():
        frame.loc[:2, other] = recent
    frame.loc[1, feature] = BELOW[rule]  # one step below the critical answer: does not fire
    frame.loc[2, feature] = np.nan  # missing never fires
    fired = evaluate_hard_rules(frame, load_hard_rules(settings=Settings()))
    assert fired.loc[0, rule] and not fired.loc[1, rule] and not fired.loc[2, rule]
    assert fired.drop(columns=rule).loc[0].sum() == 0
    result = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), lang="en")
    row = result.warning_list.set_index("student_id").loc["S00000"]
    assert row["level"] == "I" and row["path"] == f"rule:{rule}"
    assert row["rules"] and row["rules"] != rule  # in words, from the catalogue


def test_critical_thresholds_follow_the_instrument_settings():
    strict = Settings.model_validate({"instruments": {"scl90_item15_critical": 3}})
    rule = {r.name: r for r in load_hard_rules(settings=strict)}["scl90_item15"]
    assert rule.threshold == 3.0
    frame = feature_frame(3).assign(scl90_item15_latest=[2.0, 3.0, 5.0])
    assert evaluate_hard_rules(frame, [rule])["scl90_item15"].tolist() == [False, True, True]


def test_an_old_positive_screening_no_longer_holds_level_one():
    frame = feature_frame(2).assign(phq9_item9_latest=[2.0, 2.0], phq9_date_latest_days=[30.0, 400.0])
    fired = evaluate_hard_rules(frame, load_hard_rules(settings=Settings()))
    assert fired["phq9_item9"].tolist() == [True, False]


def test_an_old_top_counsellor_rating_no_longer_holds_level_one():
    frame = feature_frame(2).assign(counsellor_rating_last=[4.0, 4.0], counsellor_rating_high_365d=[1.0, 0.0])
    fired = evaluate_hard_rules(frame, load_hard_rules(settings=Settings()))
    assert fired["counsellor_top_rating"].tolist() == [True, False]


def test_a_hard_rule_whose_feature_is_missing_is_an_error_not_a_skip():
    frame = feature_frame(5).drop(columns=["upi_item25_latest"])
    with pytest.raises(ModelMismatchError, match="upi_item25_latest"):
        evaluate_hard_rules(frame, load_hard_rules(settings=Settings()))


# -- capacity filling and ties ------------------------------------------------------------------------

def _scores(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = np.round(rng.random(n), 2)  # many ties
    return pd.DataFrame({"student_id": [f"S{i:05d}" for i in range(n)], "score": score, "raw": score})


def test_capacity_per_1000_fills_levels_in_rank_order():
    scores = _scores(2000)
    fired = pd.DataFrame({"r": np.zeros(2000, bool)})
    out = assign_levels(scores, fired, as_of=AS_OF, settings=Settings())  # 5, 15, 30 per 1,000
    assert out["level"].value_counts().to_dict() == {"none": 1900, "III": 60, "II": 30, "I": 10}
    ranked = out.sort_values("rank")
    assert ranked["level"].iloc[:10].eq("I").all() and ranked["level"].iloc[10:40].eq("II").all()
    assert ranked["score"].is_monotonic_decreasing
    assert sorted(out["rank"]) == list(range(1, 2001))


def test_hard_rule_students_use_level_one_capacity_first_and_may_exceed_it():
    scores = _scores(1000)
    hits = np.zeros(1000, bool)
    hits[[5, 6, 7]] = True
    out = assign_levels(scores, pd.DataFrame({"r": hits}), as_of=AS_OF,
                        settings=settings(capacity={"I": 5, "II": 10, "III": 0}))
    assert out["level"].eq("I").sum() == 5 and out.loc[[5, 6, 7], "level"].eq("I").all()
    assert (out["path"] == "score").sum() == 12 and out.loc[[5, 6, 7], "path"].eq("rule:r").all()
    hits[:20] = True
    out = assign_levels(scores, pd.DataFrame({"r": hits}), as_of=AS_OF,
                        settings=settings(capacity={"I": 5, "II": 10, "III": 0}))
    assert out["level"].eq("I").sum() == 20 and out["level"].eq("II").sum() == 10  # rules are never dropped


def test_probability_thresholds_instead_of_capacity():
    scores = pd.DataFrame({"student_id": list("abcde"), "score": [0.5, 0.2, 0.12, 0.06, 0.01],
                           "raw": [5, 2, 1.2, 0.6, 0.1]})
    out = assign_levels(scores, pd.DataFrame({"r": [False] * 5}), as_of=AS_OF,
                        settings=settings(thresholds={"I": 0.3, "II": 0.1, "III": 0.05}))
    assert out["level"].tolist() == ["I", "II", "II", "III", "none"]


def test_ties_are_broken_by_raw_score_then_a_keyed_hash_whatever_the_input_order():
    scores = pd.DataFrame({"student_id": [f"S{i}" for i in range(200)], "score": 0.1, "raw": 1.0})
    scores.loc[50, "raw"] = 2.0  # same calibrated score, higher raw: first
    fired = pd.DataFrame({"r": [False] * 200})
    cap = settings(capacity={"I": 1, "II": 9, "III": 0})
    out = assign_levels(scores, fired, as_of=AS_OF, settings=cap)
    assert out.loc[50, "rank"] == 1 and out.loc[50, "level"] == "I"
    shuffled = scores.sample(frac=1, random_state=3)
    again = assign_levels(shuffled, fired.loc[shuffled.index], as_of=AS_OF, settings=cap)
    pd.testing.assert_series_equal(out.set_index("student_id")["rank"].sort_index(),
                                   again.set_index("student_id")["rank"].sort_index())
    chosen = set(out.loc[out["level"] == "II", "student_id"])
    assert chosen != {f"S{i}" for i in range(9)}  # not the lowest IDs: the hash is unrelated to ID order
    next_month = assign_levels(scores, fired, as_of="2026-04-01", settings=cap)
    assert set(next_month.loc[next_month["level"] == "II", "student_id"]) != chosen


# -- reasons ------------------------------------------------------------------------------------------

_SNAKE = re.compile(r"\b[a-z0-9]+_[a-z0-9_]+\b")


def _sayable_value(kind: str) -> float:
    return {"flag": 1.0, "count": 3.0, "days": 12.0, "delta": 2.0, "ratio": 0.9, "category": 2.0}.get(kind, 7.0)


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_reason_for_every_family_in_both_languages(family, lang):
    from riskmodel.i18n import text
    from riskmodel.warning.reasons import LOWERING_FAMILIES

    cat = catalogue()
    frame = feature_frame(3)
    feature = next(f for f in cat.index[cat["family"] == family] if not f.endswith("_total_latest"))
    kind = cat.loc[feature, "kind"]
    frame[feature] = _sayable_value(kind)
    reassuring = {"count": 0.0, "delta": -2.0}.get(kind, _sayable_value(kind))  # what lowering words can say
    if family == "cohort":
        reassuring = -1.0  # below classmates
    frame.loc[1, feature] = reassuring
    contrib = pd.DataFrame(0.0, index=frame.index, columns=list(cat.index))
    contrib.loc[0, feature] = 1.5
    contrib.loc[1, feature] = -1.5
    long = explain(contrib, frame, catalogue=cat, lang=lang, top=3)
    raise_row = long[(long["row"] == 0) & (long["direction"] == "raise")].iloc[0]
    lower = long[(long["row"] == 1) & (long["direction"] == "lower")]
    assert raise_row["family"] == family and raise_row["feature"] == feature
    assert raise_row["text"].startswith(text(f"warning.family.{family}", lang))
    assert not _SNAKE.search(raise_row["text"]) and "{" not in raise_row["text"]
    from riskmodel.warning.reasons import HIGHER_IS_BETTER

    meaningful = (family in LOWERING_FAMILIES and kind not in ("days", "category", "ratio", "flag")
                  and not (kind == "score" and feature in HIGHER_IS_BETTER))
    assert len(lower) == int(meaningful), (feature, lower["text"].tolist())
    assert not _SNAKE.search(" ".join(lower["text"]))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_feature_reads_as_a_sentence_without_keys_or_codes(lang):
    """Each catalogue feature alone, at a value that can be said: a sentence in the language."""
    cat = catalogue()
    from riskmodel.warning.reasons import HIGHER_IS_BETTER

    frame = pd.DataFrame({f: [-_sayable_value(k) if f in HIGHER_IS_BETTER and k == "delta" else _sayable_value(k)]
                          for f, k in cat["kind"].items()})
    han = re.compile(r"[\u4e00-\u9fff]")
    for feature in cat.index:
        contrib = pd.DataFrame({feature: [1.0]})
        long = explain(contrib, frame, catalogue=cat, lang=lang, top=1)
        assert len(long) == 1, feature
        said = long["text"].iloc[0]
        assert "{" not in said and not _SNAKE.search(said), (feature, said)
        assert "未记录" not in said and "not recorded" not in said
        if lang == "en":
            assert not han.search(said), (feature, said)
        else:
            assert han.search(said), (feature, said)


def test_observations_read_as_staff_say_them_with_the_class_comparison():
    cat = catalogue()
    frame = feature_frame(1).assign(obs_concern_90d=4.0, cohort_obs_concern_90d_z=3.4)
    contrib = pd.DataFrame({"obs_concern_90d": [0.9]})
    zh = explain(contrib, frame, catalogue=cat, lang="zh")["text"].iloc[0]
    en = explain(contrib, frame, catalogue=cat, lang="en")["text"].iloc[0]
    assert zh == "日常观察：近3个月记录了4次较严重的情况，远多于同班同学"
    assert en == "Observations: 4 serious observations in the last 3 months, far more than classmates"


def test_a_value_not_recorded_is_never_a_reason():
    cat = catalogue()
    frame = feature_frame(1).assign(life_days_since_last=np.nan, life_count_365d=2.0, counsellor_rating_last=np.nan)
    contrib = pd.DataFrame({"life_days_since_last": [0.9], "life_count_365d": [0.2], "counsellor_rating_last": [0.8]})
    long = explain(contrib, frame, catalogue=cat, lang="zh", top=3)
    assert long["feature"].tolist() == ["life_count_365d"]  # the recorded feature speaks for its family
    assert long["text"].iloc[0] == "生活事件：近一年经历了2件生活事件"
    assert not long["text"].str.contains("未记录").any()


def test_words_agree_with_the_direction_of_the_reason():
    cat = catalogue()
    frame = feature_frame(1).assign(acad_failed_change=2.0, acad_failed_latest=1.0, att_unexcused_30d=3.0,
                                    acad_score_change=-6.0)
    lowering = pd.DataFrame({"acad_failed_change": [-0.6], "acad_failed_latest": [-0.1], "att_unexcused_30d": [-0.4],
                             "acad_score_change": [-0.3]})
    long = explain(lowering, frame, catalogue=cat, lang="en", top=3)
    assert long.empty, long["text"].tolist()  # "2 more failed courses" never reads as lowering the risk
    raising = explain(-lowering, frame, catalogue=cat, lang="en", top=3)
    assert raising["text"].tolist() == ["Academics: failed courses: 2 more than in the previous term",
                                        "Attendance: 3 unexcused absences in the last month"]


def test_calendar_distances_and_register_facts_never_lower_the_risk_in_words():
    cat = catalogue()
    frame = feature_frame(1).assign(cal_days_since_holiday_end=55.0, reg_only_child=1.0, obs_count_365d=0.0)
    contrib = pd.DataFrame({"cal_days_since_holiday_end": [-0.9], "reg_only_child": [-0.5], "obs_count_365d": [-0.3]})
    long = explain(contrib, frame, catalogue=cat, lang="zh", top=3)
    assert long["family"].tolist() == ["observations"]
    assert long["text"].iloc[0] == "日常观察：近一年没有任何观察记录"


@pytest.mark.parametrize(("prev", "latest", "en", "zh"), [
    (6.0, 15.0, "PHQ-9 rose from 6 to 15 since the previous screening (latest 12 days ago)", "由上次的6分升至15分"),
    (15.0, 6.0, "PHQ-9 fell from 15 to 6", "由上次的15分降至6分"),
    (9.0, 9.0, "PHQ-9 unchanged at 9", "与上次相同，为9"),
    (np.nan, 11.0, "PHQ-9 total 11 at the first screening", "首次筛查"),
])
def test_screening_reasons_read_with_the_students_own_values(prev, latest, en, zh):
    cat = catalogue()
    frame = feature_frame(1).assign(phq9_total_prev=prev, phq9_total_latest=latest, phq9_date_latest_days=12.0)
    contrib = pd.DataFrame({"phq9_total_latest": [0.9], "phq9_total_change": [0.4], "gad7_total_latest": [0.2]})
    long_en = explain(contrib, frame, catalogue=cat, lang="en", top=3)
    long_zh = explain(contrib, frame, catalogue=cat, lang="zh", top=3)
    assert len(long_en) == 1  # three screening features read as one reason
    assert long_en["contribution"].iloc[0] == pytest.approx(1.5)
    assert en in long_en["text"].iloc[0] and zh in long_zh["text"].iloc[0]


def test_reasons_keep_the_strongest_families_in_order_and_drop_tiny_ones():
    cat = catalogue()
    frame = feature_frame(1).assign(att_unexcused_30d=4.0, reg_economic_hardship=1.0, life_breakup_90d=1.0,
                                    obs_count_30d=0.0)
    contrib = pd.DataFrame({"att_unexcused_30d": [0.8], "reg_economic_hardship": [0.3], "life_breakup_90d": [1.1],
                            "cal_in_exam": [0.001], "obs_count_30d": [-0.5]})
    long = explain(contrib, frame, catalogue=cat, lang="en", top=3)
    raising = long[long["direction"] == "raise"]
    assert raising["family"].tolist() == ["life_events", "attendance", "register"]
    assert raising["text"].tolist() == ["Life events: breakup in the last 3 months (1)",
                                        "Attendance: 4 unexcused absences in the last month",
                                        "Register and family: registered as economic hardship"]
    assert long[long["direction"] == "lower"]["family"].tolist() == ["observations"]


# -- the list, change, exports ------------------------------------------------------------------------

def test_change_against_the_previous_list():
    current = pd.DataFrame({"student_id": ["a", "b", "c", "d"], "level": ["I", "II", "III", "I"]})
    previous = pd.DataFrame({"student_id": ["a", "b", "c", "e", "f"], "level": ["II", "II", "I", "III", "none"]})
    change = compare_with_previous(current, previous).set_index("student_id")["change"]
    assert change.to_dict() == {"a": "raised", "b": "same", "c": "lowered", "d": "new", "e": "cleared"}


def test_the_list_has_the_contracts_columns_reasons_and_cleared_rows(model):
    frame = feature_frame(2000)
    frame.loc[3, "phq9_item9_latest"] = 2.0
    first = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), lang="zh",
                           run_id="r1")
    lst = first.warning_list
    assert list(lst.columns[:len(LIST_COLUMNS)]) == LIST_COLUMNS
    # the review loop (the default): level I holds the one student awaiting interview after the rule;
    # the score fills levels II and III to their capacities
    assert lst["level"].value_counts().to_dict() == {"III": 60, "II": 30, "I": 1}
    assert lst.loc[lst["level"] == "I", "state"].tolist() == ["awaiting_interview"]
    legacy = score_features(frame, model, AS_OF, students=students_table(frame), lang="zh", run_id="r1",
                            settings=Settings.model_validate({"warning": {"case_mode": "legacy"}})).warning_list
    assert legacy["level"].value_counts().to_dict() == {"III": 60, "II": 30, "I": 10}
    assert "state" not in legacy.columns
    assert (lst["change"] == "new").all() and (lst["model_version"] == "test0000version").all()
    assert lst["factors"].str.len().gt(0).all()
    assert lst["level"].map({"I": 0, "II": 1, "III": 2}).is_monotonic_increasing
    assert set(first.reasons["student_id"]) == set(lst["student_id"])  # the listed, and only they, explained
    assert len(first.scores) == 2000
    # next month: one listed student's risk vanishes; she is cleared
    gone = lst.loc[lst["path"] == "score", "student_id"].iloc[0]
    later = frame.copy()
    later.loc[later["student_id"] == gone, ["phq9_total_latest", "att_unexcused_30d"]] = [0.0, 0.0]
    second = score_features(later, model, AS_OF, students=students_table(frame), settings=Settings(), lang="en",
                            previous=lst, run_id="r2").warning_list
    row = second.set_index("student_id").loc[gone]
    assert row["change"] == "cleared" and row["level"] == "none" and row["previous_level"] in ("I", "II", "III")
    assert (second.loc[second["student_id"] != gone, "change"] == "same").mean() > 0.9


def test_exports_neutralise_formulas_and_are_byte_identical(model, tmp_path):
    frame = feature_frame(600)
    frame.loc[5, "phq9_item9_latest"] = 2.0  # one student awaiting interview: level I
    result = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), lang="zh",
                            run_id="+run")
    lst = result.warning_list.copy()
    lst.loc[0, "factors"] = "@SUM(A1)"
    lst.loc[1, "factors"] = "\t=1+1"
    a = write_warning_list(lst, tmp_path / "a", lang="zh")
    time.sleep(1.1)  # the clock moves on: nothing of it may reach the files
    b = write_warning_list(lst, tmp_path / "b", lang="zh")
    for kind in ("csv", "xlsx", "parquet"):
        assert a[kind].read_bytes() == b[kind].read_bytes(), kind
        assert oct(a[kind].stat().st_mode & 0o777) == "0o600"
    raw = a["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0]["主要风险因素"] == "'@SUM(A1)" and rows[1]["主要风险因素"] == "'\t=1+1"
    assert rows[0]["运行编号"] == "'+run"
    assert any(r["院系"].startswith("'=cmd") for r in rows)
    sheet = openpyxl.load_workbook(a["xlsx"]).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "A2"
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert sheet.cell(row=2, column=header.index("主要风险因素") + 1).value == "'@SUM(A1)"
    level_cell = sheet.cell(row=2, column=header.index("预警级别") + 1)
    assert level_cell.value == "一级"
    level_letter = openpyxl.utils.get_column_letter(header.index("预警级别") + 1)
    rules = {r.formula[0]: r.dxf.fill.start_color.rgb for cf in sheet.conditional_formatting for r in cf.rules}
    assert rules[f'${level_letter}2="一级"'].endswith(LEVEL_FILL["I"])  # level I rows coloured, whatever the sort
    back = pd.read_parquet(a["parquet"])
    assert back.loc[0, "factors"] == "@SUM(A1)"  # Parquet is for programs: values as they are
    assert neutralise(pd.Series(["-1", "a-1"])).tolist() == ["'-1", "a-1"]


def test_same_inputs_give_the_same_list(model):
    frame = feature_frame(800)
    one = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), run_id="x")
    two = score_features(frame.sample(frac=1, random_state=1), model, AS_OF, students=students_table(frame),
                         settings=Settings(), run_id="x")
    pd.testing.assert_frame_equal(one.warning_list, two.warning_list)


# -- the score's uncertainty interval (score_low, score_high) ---------------------------------------------

def test_the_list_and_the_scores_carry_the_calibration_interval(model):
    frame = feature_frame(1500)
    result = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), run_id="x")
    for table in (result.warning_list, result.scores):
        low, score, high = (table[c].to_numpy(dtype=float) for c in ("score_low", "score", "score_high"))
        assert np.isfinite(low).all() and np.isfinite(high).all()
        assert ((0 <= low) & (low <= score) & (score <= high) & (high <= 1)).all()
        assert (high > low).all()  # a sigmoid fitted on 4,000 rows is never exact
    lst = result.warning_list
    np.testing.assert_array_equal(lst["score_low"], lst["score_low"].round(4))
    assert list(lst.columns[len(LIST_COLUMNS):len(LIST_COLUMNS) + 2]) == ["score_low", "score_high"]
    expected = model.calibrator.predict_interval(model.raw_score(frame))
    by_id = result.scores.set_index("student_id").loc[frame["student_id"]]
    np.testing.assert_allclose(by_id["score_low"], expected[0])
    np.testing.assert_allclose(by_id["score_high"], expected[1])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_exports_show_the_interval_and_explain_every_column_in_the_language(model, tmp_path, lang):
    from riskmodel.i18n import text

    frame = feature_frame(600)
    lst = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), lang=lang,
                         run_id="r").warning_list
    paths = write_warning_list(lst, tmp_path / lang, lang=lang, horizon_days=90)
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_bytes().decode("utf-8-sig"))))
    risk = text("warning.column.score", lang)
    first = lst.iloc[0]
    assert rows[0][risk] == text("warning.value.interval", lang, score=percent(first["score"]),
                                 low=percent(first["score_low"]), high=percent(first["score_high"]))
    assert re.fullmatch(r"[\d.]+%\s?[（(][\d.]+%–[\d.]+%[）)]", rows[0][risk])
    assert "score_low" not in rows[0] and text("warning.column.score_low", lang) not in rows[0]
    back = pd.read_parquet(paths["parquet"])
    pd.testing.assert_series_equal(back["score_high"], lst["score_high"].reset_index(drop=True))
    assert list(back.columns) == list(lst.columns)  # codes stay in the Parquet file
    book = openpyxl.load_workbook(paths["xlsx"])
    header = [c.value for c in book.worksheets[0][1]]
    assert header == list(localise(lst, lang).columns)
    about_rows = list(book.worksheets[1].iter_rows(values_only=True))
    about_text = " ".join(str(v) for row in about_rows for v in row if v)
    assert text("warning.about.interval", lang) in about_text
    by_code = {}
    for row in about_rows:  # the columns come first, then the codes of the coded columns
        if len(row) > 2 and row[1]:
            by_code.setdefault(row[1], row)
    for column in lst.columns:  # every column is explained, with its header and code name
        if column in ("score_low", "score_high"):
            continue
        assert by_code[column][0] == text(f"warning.column.{column}", lang), column
    han = re.compile(r"[\u4e00-\u9fff]")
    for name in header:
        assert bool(han.search(name)) == (lang == "zh"), name
        assert not re.fullmatch(r"[a-z_]+", name), name
    levels = {r[text("warning.column.level", lang)] for r in rows}
    assert levels <= {text(f"warning.value.level.{lv}", lang) for lv in ("I", "II", "III", "none")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_column_and_code_of_the_list_has_words(model, lang):
    """A column or code without its catalogue key fails here, never shows as a code in a list."""
    frame = feature_frame(600)
    previous = pd.DataFrame({"student_id": frame["student_id"].iloc[:40], "level": ["I", "II", "III", "none"] * 10})
    lst = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), lang=lang,
                         previous=previous, run_id="r").warning_list
    shown = localise(lst, lang)
    assert len(shown.columns) == len(lst.columns) - 2  # the interval's bounds join the score's column
    from riskmodel.warning.warning_list import EXTRA_COLUMNS, LIST_COLUMNS
    for column in [*LIST_COLUMNS, *EXTRA_COLUMNS]:
        header_of(column, lang)
    for column in coded_columns() & set(lst.columns):
        for code in ["I", "II", "III", "none"] if "level" in column else []:
            assert text(f"warning.value.{column}.{code}", lang)
    with pytest.raises(KeyError):
        localise(lst.assign(level="IV"), lang)
    with pytest.raises(KeyError):
        localise(lst.assign(new_column=1), lang)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_review_codes_have_words_and_ranks_stay_whole_numbers(lang):
    """Every code the reviews table may hold reads as words in the list (a Chinese list showed
    'meeting' as the reviewer), and a list with an unscored row (a student who left: no rank)
    still shows ranks as 4, not 4.0."""
    from riskmodel.vocab import contract_enum

    for column, enum in (("review_status", "review_status"), ("reviewer_role", "reviewer_role")):
        assert column in coded_columns()
        words = {code: text(f"warning.value.{column}.{code}", lang) for code in contract_enum(enum)}
        assert len(set(words.values())) == len(words)
        if lang == "zh":
            assert not any(w.isascii() for w in words.values()), words
    lst = pd.DataFrame({"rank": pd.array([4, None], dtype="Int64"), "reviewer_role": ["meeting", None]})
    shown = localise(lst, lang)
    csv = shown.to_csv(index=False)
    assert text("warning.value.reviewer_role.meeting", lang) in csv and "4.0" not in csv and "\n4," in csv


def test_a_previous_list_is_read_back_from_its_localised_csv(model, tmp_path):
    frame = feature_frame(600)
    lst = score_features(frame, model, AS_OF, students=students_table(frame), settings=Settings(), lang="zh",
                         run_id="r").warning_list
    paths = write_warning_list(lst, tmp_path / "zh", lang="zh")
    back = read_previous_list(paths["csv"])
    assert back["level"].tolist() == lst["level"].tolist()
    assert back["student_id"].tolist() == lst["student_id"].tolist()


def test_a_model_saved_before_intervals_gives_empty_interval_cells(model, tmp_path):
    from riskmodel.models import ProbabilityCalibrator

    state = model.calibrator.to_dict()
    state.pop("interval")
    old = RiskModel(kind=model.kind, spec=model.spec, estimator=model.estimator,
                    calibrator=ProbabilityCalibrator.from_dict(state), meta=model.meta)
    frame = feature_frame(400)
    lst = score_features(frame, old, AS_OF, students=students_table(frame), settings=Settings()).warning_list
    assert lst["score_low"].isna().all() and lst["score_high"].isna().all() and lst["score"].notna().all()
    paths = write_warning_list(lst, tmp_path / "old", lang="en")
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_bytes().decode("utf-8-sig"))))
    assert rows[0]["Risk (95% interval)"].endswith("%")  # the score alone, no interval to show


def test_a_date_with_no_enrolled_student_is_a_clear_error(model):
    frame = feature_frame(200)
    with pytest.raises(ContractError, match="no student is enrolled on 2010-01-01"):
        score_features(frame, model, "2010-01-01", students=students_table(frame), settings=Settings(), lang="en")


def test_a_reason_new_since_the_previous_list_says_so():
    cat = catalogue()
    frame = feature_frame(2).assign(att_unexcused_30d=4.0, life_breakup_90d=1.0)
    contrib = pd.DataFrame({"att_unexcused_30d": [0.8, 0.8], "life_breakup_90d": [1.1, 1.1]})
    previous = pd.DataFrame({"student_id": frame["student_id"],
                             "factors": ["生活事件：近3个月经历了失恋（1次）", "Attendance: 4 unexcused absences"]})
    long = explain(contrib, frame, catalogue=cat, lang="zh", previous=previous_families(previous))
    said = long.groupby("row")["text"].apply(list).to_dict()
    assert said[0] == ["生活事件：近3个月经历了失恋（1次）", "出勤：近一个月无故缺勤4次（新）"]
    assert said[1] == ["生活事件：近3个月经历了失恋（1次）（新）", "出勤：近一个月无故缺勤4次"]
    assert not explain(contrib, frame, catalogue=cat, lang="zh")["text"].str.contains("新").any()


def test_a_screening_score_that_rose_never_reads_as_lowering_the_risk():
    cat = catalogue()
    frame = feature_frame(2).assign(gad7_total_prev=[13.0, 15.0], gad7_total_latest=[14.0, 6.0],
                                    gad7_date_latest_days=44.0, cohort_gad7_total_pct=0.96)
    contrib = pd.DataFrame({"gad7_total_prev": [-0.5, -0.5]})
    long = explain(contrib, frame, catalogue=cat, lang="zh")
    assert long["row"].tolist() == [1]
    assert long["text"].iloc[0] == "心理筛查：GAD-7总分由上次的15分降至6分（最近一次筛查在44天前）"  # no class comparison


def test_a_warning_sign_never_reads_as_lowering_the_risk():
    """A positive critical answer, a screening score at a level (an SDS standard score of 62), the
    counsellor's rating above the lowest, or a score far above classmates is never a factor that lowers
    the risk, whatever the sign of the model's contribution (found in a demo list: "answered 1 to UPI
    item 25" under the factors lowering the risk); the same values at their reassuring end are."""
    cat = catalogue()
    worrying = feature_frame(1).assign(upi_item25_latest=1.0, sds_standard_latest=62.0, counsellor_rating_last=3.0,
                                       cohort_obs_concern_90d_z=2.4, cohort_phq9_total_z=1.8)
    contrib = pd.DataFrame({"upi_item25_latest": [-0.5], "sds_standard_latest": [-0.4], "counsellor_rating_last": [-0.3],
                            "cohort_obs_concern_90d_z": [-0.2], "cohort_phq9_total_z": [-0.2]})
    long = explain(contrib, worrying, catalogue=cat, lang="zh", top=3)
    assert long.empty, long["text"].tolist()
    reassuring = worrying.assign(upi_item25_latest=0.0, counsellor_rating_last=1.0, cohort_obs_concern_90d_z=-0.5)
    said = explain(contrib, reassuring, catalogue=cat, lang="en", top=3)
    assert set(said["feature"]) == {"upi_item25_latest", "counsellor_rating_last", "cohort_obs_concern_90d_z"}
    assert said["text"].str.contains("answered 0 to UPI item 25").any(), said["text"].tolist()


def test_a_factor_raising_the_risk_says_something_that_raises_it():
    """'PHQ-9 score not above classmates' or 'answered 0 to PHQ-9 item 9' never reads as raising the risk;
    the register's family hardships are the student's own, not the list of every kind."""
    cat = catalogue()
    frame = feature_frame(1).assign(cohort_phq9_total_z=-0.3, cohort_phq9_total_pct=0.4, phq9_item9_latest=0.0,
                                    reg_family_flags=2.0, reg_single_parent=1.0, reg_disability=1.0,
                                    reg_left_behind=0.0, traj_couns_rating_max_365d=1.0)
    contrib = pd.DataFrame({"cohort_phq9_total_z": [0.5], "cohort_phq9_total_pct": [0.4], "phq9_item9_latest": [0.3],
                            "reg_family_flags": [0.2], "traj_couns_rating_max_365d": [0.4]})
    long = explain(contrib, frame, catalogue=cat, lang="zh", top=3)
    assert long["feature"].tolist() == ["reg_family_flags"], long["text"].tolist()
    assert long["text"].iloc[0].endswith("学籍中登记的家庭困难：单亲、残疾")
    assert explain(contrib, frame, catalogue=cat, lang="en", top=3)["text"].iloc[0].endswith(
        "family hardships in the register: single-parent family, disability")


def test_waiting_and_overdue_cells_are_empty_for_students_not_in_that_state():
    """'0 days waiting, interview overdue: no' read for every student under review or in no case (300 of 305
    rows of a demo list): the people's files leave those cells empty; the Parquet keeps the numbers."""
    from riskmodel.i18n import text
    from riskmodel.warning.localise import localise

    frame = pd.DataFrame({"state": ["awaiting_interview", "under_review", "none"], "days_waiting": [5, 0, 0],
                          "interview_overdue": [False, False, False], "review_overdue": [False, True, False]})
    shown = localise(frame, "zh")
    assert shown[text("warning.column.days_waiting", "zh")].tolist() == [5, "", ""]
    assert shown[text("warning.column.interview_overdue", "zh")].tolist() == ["否", "", ""]
    assert shown[text("warning.column.review_overdue", "zh")].tolist() == ["", "是", ""]
