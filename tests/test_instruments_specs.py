"""Adding an instrument is adding a specification: a new questionnaire scored with no new code, and
specifications that cannot be right are refused with the instrument and the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import riskmodel.instruments.problems as problems_module
import riskmodel.instruments.rules as rules_module
import riskmodel.instruments.scoring as scoring_module
import riskmodel.instruments.specs as specs_module
from riskmodel.config import InstrumentSettings
from riskmodel.instruments import item_problems, score
from riskmodel.instruments.specs import load_specs

# Kessler K6 (Kessler et al. 2002): 6 items 0-4, total >= 13 serious distress. Items 1 and 6 are made
# critical here only to exercise two critical items on one form.
K6 = """
K6:
  name_zh: 凯斯勒心理困扰量表（K6）
  name_en: Kessler Psychological Distress Scale (K6)
  n_items: 6
  response: {min: 0, max: 4}
  reverse_items: [2]
  lie_items: []
  supplementary_items: []
  subscale_kind: sum
  subscales:
    k6_first_half: {zh: 前三题, en: first half, items: [1, 2, 3]}
  bands:
    score: total
    setting: null
    sets:
      default: [[0, low], [5, moderate], [13, serious]]
  positive:
    - {quantity: total, op: ">=", value: 13}
  critical: {1: 3, 6: 4}
  key_items: [1, 6]
  classification: null
  identical_run: none
  source: Kessler RC et al. Psychol Med 2002;32:959-976 (test specification)
"""


@pytest.fixture
def with_k6(monkeypatch):
    specs = dict(specs_module.all_specs())
    specs.update(load_specs(K6))
    for module in (specs_module, rules_module, scoring_module, problems_module):
        monkeypatch.setattr(module, "all_specs", lambda: specs)
    return specs


def k6_rows(*answer_lists):
    items = np.full((len(answer_lists), 100), np.nan, dtype=np.float32)
    for r, answers in enumerate(answer_lists):
        items[r, : len(answers)] = answers
    df = pd.DataFrame(items, columns=[f"item_{k}" for k in range(1, 101)])
    df.insert(0, "instrument", "K6")
    df.insert(0, "date", pd.Timestamp("2026-03-01"))
    df.insert(0, "student_id", [f"s{r}" for r in range(len(answer_lists))])
    return df


def test_a_new_instrument_is_scored_from_its_specification(with_k6):
    df = k6_rows([3, 4, 2, 2, 2, 4], [0, 4, 0, 0, 0, 0], [2, 0, 2, 2, 2, 0])
    out = score(df, settings=InstrumentSettings())
    # item 2 is reverse-keyed: 4 -> 0, 0 -> 4
    assert out["total"].tolist() == [13, 0, 12]
    assert out["band"].tolist() == ["serious", "low", "moderate"]
    assert out["positive"].tolist() == [True, False, False]
    assert out["critical_items"].tolist() == ["item_1,item_6", "", ""]
    assert out["sub_k6_first_half"].tolist() == [5, 0, 8]
    assert "sub_k6_first_half" in out.columns and np.isnan(out["sub_depression"]).all()
    bad = item_problems(k6_rows([5, 0, 0, 0, 0, 0]), settings=InstrumentSettings())
    assert bad["reason"].str.startswith("K6 item_1 = 5 is outside 0-4").all()


@pytest.mark.parametrize("edit, message", [
    (("reverse_items: [2]", "reverse_items: [7]"), r"reverse_items \[7\] outside 1..6"),
    (("lie_items: []", "lie_items: [3]"), "subscale k6_first_half holds lie or supplementary items"),
    (("critical: {1: 3, 6: 4}", "critical: {1: 5}"), "critical answer 5 of item 1 outside 0..4"),
    (("{quantity: total, op: \">=\"", "{quantity: mean, op: \">=\""), "unknown quantity"),
    (("op: \">=\", value: 13", "op: \"=>\", value: 13"), "unknown operator"),
    (("[[0, low], [5, moderate], [13, serious]]", "[[0, low], [13, serious], [5, moderate]]"), "not in ascending order"),
    (("identical_run: none", "identical_run: sometimes"), "identical_run 'sometimes'"),
    (("response: {min: 0, max: 4}", "response: {min: 4, max: 4}"), "response min 4 is not below max 4"),
])
def test_a_wrong_specification_is_refused(edit, message):
    old, new = edit
    assert old in K6
    with pytest.raises(ValueError, match=message) as info:
        load_specs(K6.replace(old, new))
    assert "instrument K6" in str(info.value)


def test_classes_need_a_last_otherwise():
    text = K6.replace("classification: null",
                      "classification:\n    - {name: high, any_of: [{quantity: total, op: \">=\", value: 13}]}")
    with pytest.raises(ValueError, match="otherwise"):
        load_specs(text)


def test_subscale_columns_must_not_clash():
    text = K6.replace("k6_first_half:", "depression:")
    packaged = (specs_module.resources.files("riskmodel.instruments").joinpath("specs.yaml")
                .read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match="also used by"):
        load_specs(packaged + text)


def test_specifications_cannot_be_changed_in_place():
    spec = specs_module.get("PHQ9")
    with pytest.raises(TypeError):
        spec.critical[9] = 3
    with pytest.raises(TypeError):
        specs_module.get("SCL90").subscales["depression"] = (1,)
    with pytest.raises(TypeError):
        spec.positive[0]["value"] = 20
    assert spec.critical == {9: 1} and dict(spec.critical_thresholds()) == {9: 1}


@pytest.mark.parametrize("module", ["specs", "rules", "scoring", "validity", "problems", "commands", "__init__"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    name = "riskmodel.instruments" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
