"""Hand-computed cases from each instrument's manual rules (INSTRUMENTS.md): every band edge, every
reverse-keyed item, every critical item, every classification clause, each validity rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import InstrumentSettings
from riskmodel.errors import ConfigError, ContractError
from riskmodel.instruments import all_specs, get, score, score_columns

DEFAULT = InstrumentSettings()


def frame(rows: list[tuple[str, dict[int, float] | list[float]]], **extra) -> pd.DataFrame:
    """Canonical screenings: item_1..item_100 float32, NaN past N; answers by item number or as a list."""
    data = np.full((len(rows), 100), np.nan, dtype=np.float32)
    for r, (_code, answers) in enumerate(rows):
        if isinstance(answers, dict):
            for item, value in answers.items():
                data[r, item - 1] = value
        else:
            data[r, : len(answers)] = answers
    out = pd.DataFrame(data, columns=[f"item_{k}" for k in range(1, 101)])
    out.insert(0, "instrument", [code for code, _ in rows])
    out.insert(0, "date", pd.Timestamp("2026-03-01"))
    out.insert(0, "student_id", [f"s{r}" for r in range(len(rows))])
    for col, values in extra.items():
        out[col] = values
    return out


def one(code: str, answers, settings=DEFAULT, stage=None, **extra) -> pd.Series:
    df = frame([(code, answers)], **{k: [v] for k, v in extra.items()})
    st = None if stage is None else pd.Series([stage], index=df.index)
    return score(df, settings=settings, stage=st).iloc[0]


def with_total(code: str, total: int, avoid: tuple[int, ...] = ()) -> dict[int, float]:
    """Answers (raw = keyed, no reverse items) reaching ``total`` above the floor, avoiding some items."""
    spec = get(code)
    answers = {k: float(spec.response_min) for k in range(1, spec.n_items + 1)}
    left = total - spec.response_min * len(spec.scored_items)
    for k in spec.scored_items:
        if k in avoid or left <= 0:
            continue
        step = min(spec.response_max - spec.response_min, left)
        answers[k] += step
        left -= step
    assert left == 0, "total not reachable"
    return answers


# ------------------------------------------------------------------ specifications
def test_every_instrument_is_specified_with_the_contract_attributes():
    specs = all_specs()
    assert sorted(specs) == sorted(["UPI", "PHQ9", "GAD7", "SCL90", "SDS", "SAS", "MHT"])
    expected = {"UPI": (64, 0, 1), "PHQ9": (9, 0, 3), "GAD7": (7, 0, 3), "SCL90": (90, 1, 5),
                "SDS": (20, 1, 4), "SAS": (20, 1, 4), "MHT": (100, 0, 1)}
    for code, (n, lo, hi) in expected.items():
        spec = specs[code]
        assert (spec.n_items, spec.response_min, spec.response_max) == (n, lo, hi)
        assert spec.item_columns == tuple(f"item_{k}" for k in range(1, n + 1))
        assert spec.name_zh and spec.name_en and spec.source
    with pytest.raises(dataclasses.FrozenInstanceError):
        specs["PHQ9"].n_items = 10
    with pytest.raises(KeyError, match="known instruments"):
        get("BDI")


def test_item_sets_match_the_manuals():
    assert get("SDS").reverse_items == (2, 5, 6, 11, 12, 14, 16, 17, 18, 20)
    assert get("SAS").reverse_items == (5, 9, 13, 17, 19)
    upi = get("UPI")
    assert upi.lie_items == (5, 20, 35, 50) and upi.supplementary_items == (61, 62, 63, 64)
    assert len(upi.scored_items) == 56 and set(upi.key_items) == {8, 16, 25, 26}
    assert get("MHT").lie_items == tuple(range(82, 101, 2))
    assert {c: s.critical for c, s in all_specs().items() if s.critical} == {
        "PHQ9": {9: 1}, "SCL90": {15: 2}, "SDS": {19: 2}, "UPI": {25: 1}}
    # SCL-90 factors partition the 90 items; MHT scales partition the 90 content items
    scl = [i for items in get("SCL90").subscales.values() for i in items]
    assert sorted(scl) == list(range(1, 91))
    assert [len(v) for v in get("SCL90").subscales.values()] == [12, 10, 9, 13, 10, 6, 7, 6, 10, 7]
    mht = get("MHT")
    assert sorted(i for items in mht.subscales.values() for i in items) == list(mht.scored_items)
    assert [len(v) for v in mht.subscales.values()] == [15, 10, 10, 10, 10, 15, 10, 10]


# ------------------------------------------------------------------ PHQ-9
@pytest.mark.parametrize("total, band", [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"),
                                         (10, "moderate"), (14, "moderate"), (15, "moderately_severe"),
                                         (19, "moderately_severe"), (20, "severe"), (24, "severe")])
def test_phq9_band_edges(total, band):
    row = one("PHQ9", with_total("PHQ9", total, avoid=(9,)), stage="university")
    assert (row.total, row.band, row.positive) == (total, band, total >= 10)
    assert not row.critical and row.critical_items == ""


def test_phq9_maximum_and_item9_critical_whatever_the_total():
    assert one("PHQ9", [3] * 9).band == "severe" and one("PHQ9", [3] * 9).total == 27
    row = one("PHQ9", {**{k: 0 for k in range(1, 9)}, 9: 1})
    assert (row.total, row.band, row.positive, row.critical, row.critical_items) == (1, "minimal", False, True, "item_9")
    assert not one("PHQ9", [0] * 9).critical


@pytest.mark.parametrize("stage, total, positive", [
    ("university", 10, True), ("graduate", 9, False), ("junior", 10, False), ("junior", 11, True),
    ("senior", 10, False), ("primary", 11, True), (None, 10, True), ("unknown-stage", 10, True)])
def test_phq9_positive_cutoff_per_stage(stage, total, positive):
    row = one("PHQ9", with_total("PHQ9", total, avoid=(9,)), stage=stage)
    assert bool(row.positive) is positive


# ------------------------------------------------------------------ GAD-7
@pytest.mark.parametrize("total, band", [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"),
                                         (10, "moderate"), (14, "moderate"), (15, "severe"), (21, "severe")])
def test_gad7_band_edges_and_positive(total, band):
    row = one("GAD7", with_total("GAD7", total))
    assert (row.total, row.band, bool(row.positive), row.critical) == (total, band, total >= 10, False)


# ------------------------------------------------------------------ SDS / SAS
def keyed_answers(code: str, keyed: dict[int, int]) -> dict[int, float]:
    """Raw answers whose keyed scores are ``keyed`` (1 for items not given)."""
    spec = get(code)
    out = {}
    for k in range(1, spec.n_items + 1):
        value = keyed.get(k, 1)
        out[k] = float(5 - value if k in spec.reverse_items else value)
    return out


def keyed_total(code: str, raw_total: int, avoid: tuple[int, ...] = ()) -> dict[int, float]:
    keyed, left = {}, raw_total - 20
    for k in range(1, 21):
        if k in avoid:
            continue
        step = min(3, left)
        keyed[k], left = 1 + step, left - step
    assert left == 0
    return keyed_answers(code, keyed)


@pytest.mark.parametrize("code", ["SDS", "SAS"])
@pytest.mark.parametrize("item", range(1, 21))
def test_every_item_is_keyed_in_the_right_direction(code, item):
    base = one(code, keyed_answers(code, {}))
    assert (base.total, base.standard_score) == (20, 25)
    raised = one(code, keyed_answers(code, {item: 4}))
    assert raised.total == 23  # the item now scores 4, whichever raw answer that takes
    raw = keyed_answers(code, {item: 4})[item]
    assert raw == (1.0 if item in get(code).reverse_items else 4.0)


@pytest.mark.parametrize("raw, standard, band", [
    (42, 52, "normal"), (43, 53, "mild"), (50, 62, "mild"), (51, 63, "moderate"), (58, 72, "moderate"),
    (59, 73, "severe"), (77, 96, "severe")])
def test_sds_chinese_53_convention(raw, standard, band):
    row = one("SDS", keyed_total("SDS", raw, avoid=(19,)))
    assert (row.total, row.standard_score, row.band, bool(row.positive)) == (raw, standard, band, standard >= 53)


@pytest.mark.parametrize("raw, standard, band", [
    (39, 48, "normal"), (40, 50, "mild"), (47, 58, "mild"), (48, 60, "moderate"), (55, 68, "moderate"),
    (56, 70, "severe")])
def test_sds_zung_50_convention(raw, standard, band):
    settings = InstrumentSettings(sds_convention="zung_50")
    row = one("SDS", keyed_total("SDS", raw, avoid=(19,)), settings=settings)
    assert (row.standard_score, row.band, bool(row.positive)) == (standard, band, standard >= 50)


def test_sds_item19_critical():
    assert not one("SDS", keyed_answers("SDS", {19: 1})).critical
    row = one("SDS", keyed_answers("SDS", {19: 2}))
    assert row.critical and row.critical_items == "item_19" and row.band == "normal"


@pytest.mark.parametrize("raw, standard, band", [
    (39, 48, "normal"), (40, 50, "mild"), (47, 58, "mild"), (48, 60, "moderate"), (55, 68, "moderate"),
    (56, 70, "severe")])
def test_sas_bands(raw, standard, band):
    row = one("SAS", keyed_total("SAS", raw))
    assert (row.standard_score, row.band, bool(row.positive), row.critical) == (standard, band, standard >= 50, False)


# ------------------------------------------------------------------ SCL-90
def scl90(extra_per_item: dict[int, int]) -> dict[int, float]:
    return {k: 1.0 + extra_per_item.get(k, 0) for k in range(1, 91)}


def spread(points: int, value: int, avoid=(15,)) -> dict[int, int]:
    """Raise items by ``value - 1`` each, keeping every factor mean below 2 (fewer than n extra points)."""
    extra, left = {}, points
    for items in get("SCL90").subscales.values():
        room = len(items) - 1
        for k in items:
            if k in avoid or left <= 0:
                continue
            step = min(value - 1, room, left)
            if step <= 0:
                break
            extra[k], room, left = step, room - step, left - step
    assert left == 0
    return extra


def test_scl90_all_none_is_negative():
    row = one("SCL90", [1] * 90)
    assert (row.total, bool(row.positive), row.classification, row.band) == (90, False, "negative", "")
    assert row.sub_depression == 1.0 and row.sub_additional == 1.0 and np.isnan(row.standard_score)


@pytest.mark.parametrize("rule, total, positive", [(">", 160, False), (">", 161, True), (">=", 160, True),
                                                   (">=", 159, False)])
def test_scl90_total_rule(rule, total, positive):
    answers = scl90(spread(total - 90, 5))
    row = one("SCL90", answers, settings=InstrumentSettings(scl90_total_rule=rule))
    assert row.total == total
    assert max(row[c] for c in score_columns() if c.startswith("sub_") and not np.isnan(row[c])) < 2
    assert (answers_positive := sum(v >= 2 for v in answers.values())) <= 43, answers_positive
    assert bool(row.positive) is positive
    assert row.classification == ("positive" if positive else "negative")


@pytest.mark.parametrize("n_positive, positive", [(43, False), (44, True)])
def test_scl90_positive_items_over_43(n_positive, positive):
    answers = scl90(spread(n_positive, 2))
    row = one("SCL90", answers)
    assert row.total == 90 + n_positive and row.total <= 160
    assert bool(row.positive) is positive


@pytest.mark.parametrize("n_raised, positive", [(12, False), (13, True)])
def test_scl90_any_factor_mean_at_least_2(n_raised, positive):
    depression = [k for k in get("SCL90").subscales["depression"] if k != 15] + [15]
    answers = scl90({k: 1 for k in depression[:n_raised]})
    row = one("SCL90", answers, settings=InstrumentSettings(scl90_item15_critical=5))
    assert row.sub_depression == pytest.approx((13 + n_raised) / 13)
    assert bool(row.positive) is positive


def test_scl90_factor_means_by_hand():
    answers = scl90({k: 2 for k in get("SCL90").subscales["hostility"]} | {1: 4})
    row = one("SCL90", answers)
    assert row.sub_hostility == 3.0
    assert row.sub_somatization == pytest.approx(16 / 12)  # item 1 = 5 adds 4
    assert row.total == 90 + 12 + 4


@pytest.mark.parametrize("threshold, answer, critical", [(2, 1, False), (2, 2, True), (3, 2, False), (3, 3, True)])
def test_scl90_item15_critical_threshold_setting(threshold, answer, critical):
    row = one("SCL90", scl90({15: answer - 1}), settings=InstrumentSettings(scl90_item15_critical=threshold))
    assert bool(row.critical) is critical and row.critical_items == ("item_15" if critical else "")


# ------------------------------------------------------------------ UPI
UPI_PLAIN = tuple(k for k in get("UPI").scored_items if k not in (8, 16, 25, 26))


def upi(yes: set[int]) -> dict[int, float]:
    return {k: float(k in yes) for k in range(1, 65)}


def test_upi_total_counts_56_items_only():
    row = one("UPI", [1] * 64)
    assert (row.total, row.lie_score, row.classification, bool(row.invalid)) == (56, 4, "class_1", False)
    row = one("UPI", upi({5, 20, 35, 50, 61}))
    assert (row.total, row.lie_score, row.classification) == (0, 4, "class_3")


@pytest.mark.parametrize("yes, extra, klass", [
    (set(UPI_PLAIN[:25]), {}, "class_1"),                       # total >= 25
    (set(UPI_PLAIN[:24]), {}, "class_2"),                       # total 24: class 2
    ({25}, {}, "class_1"),                                      # item 25 yes, total 1
    ({61, 62}, {}, "class_1"),                                  # two supplementary items
    ({63, 64}, {}, "class_1"),
    ({61}, {}, "class_3"),                                      # one supplementary item is not enough
    (set(), {"counselling_request": True}, "class_1"),          # explicit request
    (set(), {"counselling_request": False}, "class_3"),
    (set(UPI_PLAIN[:20]), {}, "class_2"),                       # total 20
    (set(UPI_PLAIN[:19]), {}, "class_3"),                       # total 19
    ({8}, {}, "class_2"), ({16}, {}, "class_2"), ({26}, {}, "class_2"),  # "or": one key item
    (set(), {}, "class_3"),
])
def test_upi_classes_with_or(yes, extra, klass):
    row = one("UPI", upi(yes), **extra)
    assert row.classification == klass
    assert bool(row.positive) is (klass == "class_1")
    assert bool(row.critical) is (25 in yes) and row.critical_items == ("item_25" if 25 in yes else "")


@pytest.mark.parametrize("yes, klass", [
    ({8}, "class_3"), (set(UPI_PLAIN[:20]), "class_3"), (set(UPI_PLAIN[:20]) | {16}, "class_2"),
    (set(UPI_PLAIN[:23]) | {26}, "class_2"), (set(UPI_PLAIN[:24]) | {26}, "class_1")])
def test_upi_class2_with_and(yes, klass):
    assert one("UPI", upi(yes), settings=InstrumentSettings(upi_class2_connective="and")).classification == klass


# ------------------------------------------------------------------ MHT
MHT_SCALES = get("MHT").subscales


def mht(yes: set[int]) -> dict[int, float]:
    return {k: float(k in yes) for k in range(1, 101)}


def spread_mht(total: int) -> set[int]:
    yes: set[int] = set()
    for items in MHT_SCALES.values():
        for k in items:
            if len(yes) < total:
                yes.add(k)
    return yes


@pytest.mark.parametrize("total, klass, positive", [(65, "needs_help", True), (64, "scale_problem", False)])
def test_mht_total_cutoff(total, klass, positive):
    row = one("MHT", mht(spread_mht(total)))
    assert (row.total, row.classification, bool(row.positive)) == (total, klass, positive)


@pytest.mark.parametrize("scale", list(MHT_SCALES))
def test_mht_each_scale_at_8_is_a_problem(scale):
    items = MHT_SCALES[scale]
    assert one("MHT", mht(set(items[:7])))[f"sub_{scale}"] == 7
    assert one("MHT", mht(set(items[:7]))).classification == "normal"
    row = one("MHT", mht(set(items[:8])))
    assert (row[f"sub_{scale}"], row.total, row.classification) == (8, 8, "scale_problem")


@pytest.mark.parametrize("n_lie, invalid", [(7, False), (8, True), (10, True)])
def test_mht_lie_scale(n_lie, invalid):
    row = one("MHT", mht(set(get("MHT").lie_items[:n_lie]) | {1}))
    assert (row.lie_score, bool(row.invalid), row.total) == (n_lie, invalid, 1)
    assert row.classification == "normal"  # an invalid form keeps its scores


def test_mht_impulsiveness_is_the_odd_items_81_to_99():
    row = one("MHT", mht(set(range(81, 100, 2))))
    assert (row.sub_impulsiveness, row.total, row.lie_score) == (10, 10, 0)


# ------------------------------------------------------------------ validity
@pytest.mark.parametrize("seconds, fast", [(17.9, True), (18.0, False), (np.nan, False)])
def test_too_fast_below_two_seconds_an_item(seconds, fast):
    row = one("PHQ9", [3] * 9, duration_seconds=seconds)
    assert (bool(row.too_fast), bool(row.careless)) == (fast, fast)
    assert row.total == 27 and row.positive and row.critical  # a flagged form still counts


def test_identical_run_rules():
    base = [1, 2] * 45
    assert not one("SCL90", base).identical_run
    run15 = base.copy()
    run15[10:25] = [3] * 15
    run14 = base.copy()
    run14[10:24] = [3] * 14
    assert one("SCL90", run15).identical_run and one("SCL90", run15).careless
    assert not one("SCL90", run14).identical_run
    assert one("SCL90", run14, settings=InstrumentSettings(identical_run_length=14)).identical_run
    assert not one("SCL90", [1] * 90).identical_run  # "none" to every symptom is an honest answer
    assert one("SCL90", [1] * 70 + [2] * 20).identical_run  # twenty "a little" in a row is not
    assert one("SDS", [2] * 20).identical_run  # reverse-keyed items answered like the others
    assert one("SDS", [1] * 20).identical_run and one("SAS", [4] * 20).identical_run
    assert not one("PHQ9", [0] * 9).identical_run and not one("GAD7", [3] * 7).identical_run
    assert one("UPI", [0] * 64).identical_run and not one("UPI", upi({5})).identical_run
    assert one("MHT", [1] * 100).identical_run and not one("MHT", [0] * 100).identical_run
    assert not one("SCL90", base, duration_seconds=181.0).careless


# ------------------------------------------------------------------ proration, table shape
def test_proration_only_where_configured_and_allowed():
    answers = {k: 2.0 for k in range(1, 91)}
    for k in range(1, 10):
        del answers[k]  # 9 missing items, item 15 answered
    assert np.isnan(one("SCL90", answers).total) and not one("SCL90", answers).prorated
    settings = InstrumentSettings(prorate_max_missing={"SCL90": 9})
    row = one("SCL90", answers, settings=settings)
    assert (row.total, bool(row.prorated), row.n_missing) == (180, True, 9)
    assert row.sub_somatization == 2.0
    del answers[10]
    assert np.isnan(one("SCL90", answers, settings=settings).total)
    missing15 = {k: 2.0 for k in range(1, 91) if k != 15}
    row = one("SCL90", missing15, settings=settings)
    assert np.isnan(row.total) and not row.prorated  # a critical item is never prorated
    with pytest.raises(ConfigError, match="PHQ9 manual allows prorating at most 0"):
        one("PHQ9", [0] * 8, settings=InstrumentSettings(prorate_max_missing={"PHQ9": 1}))
    with pytest.raises(ConfigError, match="unknown instruments"):
        one("PHQ9", [0] * 9, settings=InstrumentSettings(prorate_max_missing={"BDI": 1}))


def test_unscorable_row_keeps_answered_critical_item_and_no_class():
    row = one("UPI", {k: 0.0 for k in range(1, 60)} | {25: 1.0})  # items 60-64 missing
    assert np.isnan(row.total) and row.critical and row.classification == "class_1"
    row = one("UPI", {k: 0.0 for k in range(1, 60)})
    assert row.classification == "" and not row.positive


def test_mixed_table_keeps_index_and_columns():
    df = frame([("PHQ9", [1] * 9), ("SCL90", [1] * 90), ("UPI", [0] * 64), ("MHT", [0] * 100),
                ("GAD7", [0] * 7), ("SDS", [1] * 20), ("SAS", [1] * 20)])
    df.index = [70, 10, 50, 20, 60, 30, 40]
    out = score(df, settings=DEFAULT)
    assert list(out.columns) == score_columns() and list(out.index) == [70, 10, 50, 20, 60, 30, 40]
    assert out["instrument"].tolist() == df["instrument"].tolist()
    assert out["student_id"].tolist() == df["student_id"].tolist()
    assert out.loc[70, "total"] == 9 and np.isnan(out.loc[70, "sub_depression"])
    assert out.loc[10, "sub_depression"] == 1.0 and np.isnan(out.loc[10, "sub_loneliness"])
    assert out.loc[20, "sub_loneliness"] == 0 and out.loc[30, "standard_score"] == 62  # raw all 1: 10 + 10 x 4 = 50, floor(62.5)
    assert out["positive"].dtype == bool and out["n_missing"].dtype == np.int64
    with pytest.raises(ContractError, match="BDI"):
        score(frame([("BDI", [1] * 9)]), settings=DEFAULT)


@pytest.mark.parametrize("answers, first", [([0] + [1] * 89, "item_1 = 0"), ([1] * 89 + [2.5], "item_90 = 2.5")])
def test_answers_the_engine_would_misscore_are_refused(answers, first):
    df = frame([("SCL90", [1] * 90), ("SCL90", answers)])
    df.index = [11, 12]
    with pytest.raises(ContractError, match=f"outside 1-5 or not whole numbers, the first at row 12, {first}"):
        score(df, settings=DEFAULT)


def test_stage_aligned_by_index():
    df = frame([("PHQ9", with_total("PHQ9", 10, avoid=(9,)))] * 2)
    df.index = ["a", "b"]
    out = score(df, settings=DEFAULT, stage=pd.Series({"b": "junior", "a": "university"}))
    assert out["positive"].tolist() == [True, False]


def test_settings_the_specifications_cannot_use_fail_early():
    from riskmodel.instruments import item_problems

    df = frame([("GAD7", [0] * 7)])
    with pytest.raises(ConfigError, match="phq9_positive_cutoff.kindergarten: unknown stage"):
        score(df, settings=InstrumentSettings(phq9_positive_cutoff={"kindergarten": 10}))
    with pytest.raises(ConfigError, match="outside the PHQ9 total range 0-27"):
        item_problems(df, settings=InstrumentSettings(phq9_positive_cutoff={"junior": 28}))
    with pytest.raises(ConfigError, match="SCL90 manual allows prorating at most 18"):
        score(df, settings=InstrumentSettings(prorate_max_missing={"SCL90": 19}))
    from riskmodel.config import Settings
    with pytest.raises(TypeError, match="settings.instruments"):
        score(df, settings=Settings())
    from pydantic import ValidationError
    with pytest.raises(ValidationError):
        InstrumentSettings(scl90_item15_critical=1)  # 1 is "none": everyone would be critical


def test_every_band_and_class_has_both_languages():
    from riskmodel.i18n import text

    for spec in all_specs().values():
        names = [name for rows in (spec.bands.sets.values() if spec.bands else ()) for _, name in rows]
        for name in names:
            assert text(f"instruments.band.{name}", "zh") and text(f"instruments.band.{name}", "en")
        for cls in spec.classification or ():
            assert text(f"instruments.class.{cls['name']}", "zh")
