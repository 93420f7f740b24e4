"""The model card's sentences and the audit page's tables (riskmodel.audit.card, riskmodel.audit.plots), on small
hand-made audit summaries and tables: a claim only when the numbers carry it, the same in both languages, words
instead of codes, singular and plural in English, tables without an index, True/False or raw fractions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskmodel.audit.card import _loop_section, model_card
from riskmodel.audit.metrics import Bootstrap

LOOP = {"triggers": 234, "due_days": 7, "median_days_to_review": 2, "share_reviewed_within_due": 0.8889,
        "share_not_reviewed": 0.0085, "interview_overdue_median": 6, "review_overdue_median": 63,
        "under_review_median": 230, "agreement_rows": 2255, "agreement_exact": 0.0816, "kappa_linear": 0.0386,
        "spearman_score": 0.241, "released_rows": 2245, "released_outcome_rate": 0.0089,
        "released_recently_rows": 409, "released_recently_outcome_rate": None, "under_review_outcome_rate": 0.0289,
        "no_case_outcome_rate": 0.0077, "released_outcomes": 20, "no_case_rows": 7795, "no_case_outcomes": 60,
        "released_ratio_to_no_case": 1.16, "released_ratio_low": 0.40, "released_ratio_high": 2.61}


def _summary(**loop) -> dict:
    return {"model": {"version": "207200bbeb2f30dc", "kind": "lightgbm", "until": "2024-09-01",
                      "as_of_dates": ["2022-10-01", "2024-06-01"], "horizon_days": 90,
                      "outcome_events": ["suicide_attempt", "self_harm", "suicidal_ideation_confirmed"]},
            "period": {"from": "2024-09-01", "to": "2025-06-01", "dates": 10},
            "rows": {"usable": 12151, "left_out_censored": 702, "left_out_incomplete_window": 0},
            "settings": {"audit": {"bootstrap": 500, "confidence": 0.95, "min_group_size": 50, "min_group_positives": 20,
                                   "psi_flag": 0.25, "gap_thresholds": {}},
                         "labels": {"horizon_days": 90, "outcome_events": ["self_harm"]}},
            "flagged_gaps": [], "gaps_tested": 0, "insufficient_groups": [],
            "drifted_variables": ["acad_terms", "score"], "review_loop": {**LOOP, **loop}}


def _tables() -> dict[str, pd.DataFrame]:
    performance = pd.DataFrame({"scorer": "model", "period": "all", "metric": ["auc", "base_rate"],
                                "estimate": [0.709, 0.012], "low": [0.624, 0.008], "high": [0.781, 0.015]})
    drift = pd.DataFrame({"variable": ["acad_terms", "score", "phq9_waves"], "period": "all",
                          "psi": [4.58, 0.39, 0.1], "flagged": [True, True, False]})
    feedback = pd.DataFrame({"listed": [False, False, True, True], "counselled": [False, True, False, True],
                             "n": [8806, 768, 1908, 669], "outcomes": pd.array([8, 60, None, 66], dtype="Int64"),
                             "outcome_rate": [0.000908, 0.078125, np.nan, 0.098655]})
    return {"performance": performance, "drift": drift, "feedback": feedback}


def _safety(lang: str, **loop) -> str:
    return _loop_section(_summary(**loop), lang)[-1]


# --------------------------------------------------------------------------------- the safety of release (A)
def test_release_sentence_claims_a_higher_rate_only_when_the_interval_excludes_one_in_both_languages():
    # 0.89% against 0.77%, ratio 1.16 (0.40-2.61): no detectable difference, and both languages say so
    zh, en = _safety("zh"), _safety("en")
    assert "明显高于" not in zh and "应复查解除标准" not in zh and "release criteria" not in en
    assert "无法确认" in zh and "does not differ detectably" in en
    for sentence in (zh, en):  # rates in percent, with the counts and the ratio's interval
        assert "0.89%" in sentence and "0.77%" in sentence and "0.009" not in sentence
        assert "20" in sentence and "2245" in sentence and "60" in sentence and "7795" in sentence
        assert "1.16" in sentence and "0.40" in sentence and "2.61" in sentence
    higher = {"released_outcome_rate": 0.0125, "released_ratio_to_no_case": 1.5, "released_ratio_low": 1.1,
              "released_ratio_high": 2.0}
    zh, en = _safety("zh", **higher), _safety("en", **higher)
    assert "高于未入个案者" in zh and "应复查解除标准" in zh
    assert "is higher than in no case" in en and "release criteria" in en
    lower = {"released_ratio_to_no_case": 0.5, "released_ratio_low": 0.3, "released_ratio_high": 0.8}
    assert "低于未入个案者" in _safety("zh", **lower) and "is lower than in no case" in _safety("en", **lower)
    unknown = {"released_outcomes": None, "released_outcome_rate": None, "released_ratio_to_no_case": None,
               "released_ratio_low": None, "released_ratio_high": None}
    assert "无法比较" in _safety("zh", **unknown) and "Too few recorded outcomes" in _safety("en", **unknown)


def test_rate_ratio_resamples_students_not_rows():
    from riskmodel.audit.loop import rate_ratio

    # 200 students, 10 monthly rows each; 20 students have an outcome in every row of theirs: the rows are not
    # independent, so the interval must be as wide as 200 students allow, not as narrow as 2,000 rows would
    students = np.repeat(np.arange(200), 10)
    label = np.isin(students, np.arange(0, 200, 10)).astype(int)
    boot = Bootstrap(replicates=300, seed=3)
    ratio, low, high = rate_ratio(students, label, students < 100, students >= 100, boot=boot)
    assert ratio == pytest.approx(1.0) and low < 0.6 and high > 1.6  # rows counted independently: about 0.8-1.25
    label = np.isin(students, [*range(0, 100, 4), *range(100, 200, 20)]).astype(int)  # 25 against 5 students
    ratio, low, high = rate_ratio(students, label, students < 100, students >= 100, boot=boot)
    assert ratio == pytest.approx(5.0) and low > 1


# ------------------------------------------------------------------------------------- words, not codes (B)
def test_card_names_outcomes_model_kind_and_drifted_variables_in_words_largest_first():
    from riskmodel.features import catalogue

    for lang in ("zh", "en"):
        card = model_card(_summary(), _tables(), lang=lang)
        assert "suicide_attempt" not in card and "acad_terms" not in card and "lightgbm" not in card
        assert "LightGBM" in card
        words = catalogue()[lang]["acad_terms"]
        assert words in card and card.index(words) < card.index("0.39")  # PSI 4.58 before the score's 0.39
    assert "自杀未遂、自伤、访谈确认自杀意念" in model_card(_summary(), _tables(), lang="zh")
    assert "suicide attempt, self-harm" in model_card(_summary(), _tables(), lang="en")


# ------------------------------------------------------------------------------------------ English counts (C)
def test_loop_sentence_says_one_day_and_once_in_english():
    one = _loop_section(_summary(median_days_to_review=1, triggers=1, due_days=1), "en")[1]
    assert "was 1 day;" in one and "fired 1 time " in one and "within 1 day " in one and "day(s)" not in one
    many = _loop_section(_summary(), "en")[1]
    assert "was 2 days;" in many and "fired 234 times" in many and "within 7 days " in many
    zh = _loop_section(_summary(median_days_to_review=1, triggers=1), "zh")[1]
    assert "中位数为1天" in zh and "共触发1次" in zh


# ------------------------------------------------------------------------------------------- the audit page (B)
def _html(shown) -> str:
    return shown._repr_html_()


def test_page_tables_have_words_percent_and_no_index():
    import riskmodel.audit as au

    tables = {**_tables(), "summary": _summary()}
    feedback = _html(au.feedback_view(tables, lang="zh"))
    assert "是否列入名单" in feedback and ">是<" in feedback and ">否<" in feedback
    assert "True" not in feedback and "False" not in feedback and "listed" not in feedback and "outcome_rate" not in feedback
    assert "0.09%" in feedback and "9.9%" in feedback and "0.000908" not in feedback
    assert "<th>0</th>" not in feedback and "<th></th>" not in feedback  # no row index
    loop = _html(au.loop_overview(tables, lang="zh"))
    assert "89%" in loop and "0.8889" not in loop and "0.89%" in loop and "1.16 (0.40–2.61)" in loop
    assert "<th>0</th>" not in loop and "<th>11</th>" not in loop
    groups = pd.DataFrame({"scorer": ["rules"], "grouping": ["grade"], "group": ["2024级"], "metric": ["recall_III"],
                           "status": ["ok"], "n": [3048], "estimate": [0.156], "low": [0.0], "high": [0.408],
                           "rest": [0.568], "gap": [-0.411], "gap_low": [-0.659], "gap_high": [-0.083], "flagged": [True]})
    gaps = _html(au.group_gap_table(groups, lang="zh"))
    assert ">是<" in gaps and "True" not in gaps and "<th>0</th>" not in gaps
    metrics = _html(au.metric_table(_tables()["performance"], lang="zh"))
    assert "<th>指标</th>" in metrics and "<th></th>" not in metrics


def test_page_has_a_title_and_the_card_nested_under_the_section_in_the_page_language():
    import riskmodel.audit as au

    tables = {**_tables(), "summary": _summary()}
    title = _html(au.page_title(tables, lang="zh"))
    assert title.startswith("<h1>") and "LightGBM" in title and "2024-09-01" in title
    card = au.model_card_section(tables, lang="zh").data
    headings = [line.split(" ")[0] for line in card.splitlines() if line.startswith("#")]
    assert headings and min(len(h) for h in headings) == 3  # the card's title under the page's "## 一、模型说明卡"
    assert "### 模型说明卡" in card and "Model card" not in card
