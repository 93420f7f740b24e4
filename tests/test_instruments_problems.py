"""item_problems: the reasons riskmodel.data rejects a screening row with."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import InstrumentSettings
from riskmodel.errors import ConfigError
from riskmodel.instruments import PROBLEM_COLUMNS, item_problems, score


def frame(rows, **extra) -> pd.DataFrame:
    """Canonical screenings: item_1..item_100 float32, NaN past N (answers as a list or by item number)."""
    data = np.full((len(rows), 100), np.nan, dtype=np.float32)
    for r, (_, answers) in enumerate(rows):
        for item, value in (answers.items() if isinstance(answers, dict) else enumerate(answers, start=1)):
            data[r, item - 1] = value
    out = pd.DataFrame(data, columns=[f"item_{k}" for k in range(1, 101)])
    out.insert(0, "instrument", [code for code, _ in rows])
    out.insert(0, "date", pd.Timestamp("2026-03-01"))
    out.insert(0, "student_id", [f"s{r}" for r in range(len(rows))])
    for col, values in extra.items():
        out[col] = values
    return out

DEFAULT = InstrumentSettings()


def problems(rows, settings=DEFAULT, index=None, lang="en", **extra):
    df = frame(rows, **extra)
    if index is not None:
        df.index = index
    return item_problems(df, settings=settings, lang=lang)


def test_clean_rows_have_no_problem():
    out = problems([("PHQ9", [0] * 9), ("SCL90", [5] * 90), ("UPI", [1] * 64), ("MHT", [0] * 100)])
    assert list(out.columns) == PROBLEM_COLUMNS and out.empty


def test_out_of_range_names_instrument_item_value_and_range():
    out = problems([("PHQ9", [0] * 8 + [4]), ("SCL90", [0] + [1] * 89)], index=[101, 102])
    assert out[["index", "column", "value"]].values.tolist() == [[101, "item_9", "4"], [102, "item_1", "0"]]
    assert out.loc[0, "reason"].startswith("PHQ9 item_9 = 4 is outside 0-3")
    assert out.loc[1, "reason"].startswith("SCL90 item_1 = 0 is outside 1-5")
    assert "SCL-90 scored 0-4 instead of 1-5" in out.loc[1, "reason"]


def test_not_whole_and_not_a_number():
    out = problems([("GAD7", [0, 1.5, 0, 0, 0, 0, 0])])
    assert out.values.tolist() == [[0, "item_2", "1.5", out.loc[0, "reason"]]]
    assert "is not a whole number; answers are whole numbers 0-3" in out.loc[0, "reason"]
    df = frame([("GAD7", [0] * 7)]).astype({"item_3": object})
    df.loc[0, "item_3"] = "abc"
    out = item_problems(df, settings=DEFAULT)
    assert out[["column", "value"]].values.tolist() == [["item_3", "abc"]]
    assert "is not a number" in out.loc[0, "reason"]


def test_missing_items_one_line_per_row():
    out = problems([("GAD7", [0] * 5)], index=["r1"])
    assert out[["index", "column", "value"]].values.tolist() == [["r1", "item_6,item_7", ""]]
    assert out.loc[0, "reason"].startswith("GAD7: 2 of 7 items are missing (item_6, item_7); at most 0 may be prorated")


def test_proration_within_limit_is_not_a_problem_but_a_critical_item_is():
    answers = {k: 1.0 for k in range(10, 91)}  # items 1-9 missing
    assert len(problems([("SCL90", answers)])) == 1
    settings = InstrumentSettings(prorate_max_missing={"SCL90": 9})
    assert problems([("SCL90", answers)], settings=settings).empty
    out = problems([("SCL90", {k: 1.0 for k in range(1, 91) if k != 15})], settings=settings)
    assert out["column"].tolist() == ["item_15"] and "critical item item_15 is missing" in out.loc[0, "reason"]
    with pytest.raises(ConfigError):
        problems([("GAD7", [0] * 7)], settings=InstrumentSettings(prorate_max_missing={"GAD7": 1}))


def test_answers_past_n_items():
    out = problems([("PHQ9", [0] * 11)])
    assert out["column"].tolist() == ["item_10,item_11"]
    assert out.loc[0, "reason"].startswith("PHQ9 has 9 items but item_10, item_11 also hold answers")


def test_unknown_instrument_and_order_and_chinese():
    out = problems([("BDI", [0] * 21), ("PHQ9", [9] + [0] * 8)], index=[7, 3])
    assert out[["index", "column", "value"]].values.tolist() == [[7, "instrument", "BDI"], [3, "item_1", "9"]]
    zh = problems([("PHQ9", [9] + [0] * 8)], lang="zh")
    assert "超出 0-3" in zh.loc[0, "reason"]


def test_accepted_rows_score_without_nan():
    df = frame([("PHQ9", [0] * 9), ("PHQ9", [0] * 8), ("SDS", [1] * 19 + [5])])
    bad = item_problems(df, settings=DEFAULT)["index"].unique()
    accepted = df.drop(index=bad)
    assert len(accepted) == 1
    assert not np.isnan(score(accepted, settings=DEFAULT)["total"]).any()


def test_vectorised_over_a_large_table_quickly():
    n = 50_000
    rng = np.random.default_rng(1)
    items = rng.integers(1, 6, size=(n, 100)).astype(np.float32)
    items[:, 90:] = np.nan
    df = pd.DataFrame(items, columns=[f"item_{k}" for k in range(1, 101)])
    df.insert(0, "instrument", "SCL90")
    df.loc[17, "item_15"] = 6
    out = item_problems(df, settings=DEFAULT)
    assert out[["index", "column"]].values.tolist() == [[17, "item_15"]]


def test_yes_no_words_get_a_recoding_hint():
    df = frame([("UPI", [0] * 64)]).astype({"item_1": object})
    df.loc[0, "item_1"] = "否"
    out = item_problems(df, settings=DEFAULT)
    assert out[["column", "value"]].values.tolist() == [["item_1", "否"]]
    assert "yes/no items are coded 1 = yes, 0 = no" in out.loc[0, "reason"]
    assert "是→1" in item_problems(df, settings=DEFAULT, lang="zh").loc[0, "reason"]
