"""Rule files refuse unknown keys: a typo is an error naming the file, the key and the closest known key,
never a silently missing safety condition (issue 12)."""

from __future__ import annotations

import importlib
from importlib import resources

import pytest
import yaml

from riskmodel.config import Settings
from riskmodel.errors import ConfigError, ContractError
from riskmodel.instruments.specs import load_specs
from riskmodel.models.rules import load_rules
from riskmodel.rulefiles import StrictModel, check, problems
from riskmodel.warning.hard_rules import load_hard_rules
from test_data import EN, minimal

catalogue_module = importlib.import_module("riskmodel.features.catalogue")  # the package exports a function of that name


def _shipped(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def _typo(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_a_hard_rule_with_max_agee_is_refused(tmp_path):
    path = tmp_path / "centre_hard_rules.yaml"
    path.write_text(_typo(_shipped("riskmodel.warning", "hard_rules.yaml"), "max_age:", "max_agee:"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_hard_rules(path, settings=Settings())
    message = str(info.value)
    assert str(path) in message
    assert "unknown key 'max_agee' at rules[0].max_agee; did you mean 'max_age'?" in message
    # the shipped file itself loads, with every age limit
    rules = load_hard_rules(settings=Settings())
    assert ("phq9_date_latest_days", "<=", 365.0) in rules[0].conditions


def test_a_hard_rule_condition_with_a_typo_is_refused(tmp_path):
    path = tmp_path / "hard.yaml"
    path.write_text(_typo(_shipped("riskmodel.warning", "hard_rules.yaml"),
                          "{feature: counsellor_rating_high_365d, op: \">=\", value: 1}",
                          "{feature: counsellor_rating_high_365d, op: \">=\", valu: 1}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rules\[6\]\.when\[0\]\.valu; did you mean 'value'\?"):
        load_hard_rules(path, settings=Settings())


def test_a_baseline_rule_with_a_typo_is_refused(tmp_path):
    path = tmp_path / "baseline.yaml"
    path.write_text(_typo(_shipped("riskmodel.models", "rules_baseline.yaml"), "tier: 3}", "teir: 3}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"baseline.yaml: unknown key 'teir' at rules\[0\]\.teir; did you mean 'tier'\?"):
        load_rules(path)
    path.write_text("rule:\n  - {name: a, feature: phq9_total_latest, op: '>=', value: 1, tier: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key 'rule' at rule; did you mean 'rules'"):
        load_rules(path)


def test_an_instrument_spec_with_reverse_itmes_is_refused():
    text = _typo(_shipped("riskmodel.instruments", "specs.yaml"), "reverse_items: [2, 5", "reverse_itmes: [2, 5")
    with pytest.raises(ContractError) as info:
        load_specs(text, origin="riskmodel/instruments/specs.yaml")
    message = str(info.value)
    assert message.startswith("riskmodel/instruments/specs.yaml, instrument SDS: unknown key 'reverse_itmes'")
    assert "did you mean 'reverse_items'?" in message
    assert isinstance(info.value, ValueError)  # what load_specs has always raised


def test_an_instrument_clause_with_a_typo_is_refused():
    text = _typo(_shipped("riskmodel.instruments", "specs.yaml"), "value_setting: phq9_positive_cutoff",
                 "value_settng: phq9_positive_cutoff")
    with pytest.raises(ContractError, match=r"instrument PHQ9: unknown key 'value_settng' at positive\[0\]"
                                            r"\.value_settng; did you mean 'value_setting'\?"):
        load_specs(text)


def test_the_feature_catalogue_with_a_typo_is_refused(monkeypatch):
    found = problems(catalogue_module._CatalogueFile,
                     yaml.safe_load(_typo(_shipped("riskmodel.features", "catalogue.yaml"), "  attendance:", "  attendence:")))
    assert found[0].describe().startswith("unknown key 'attendence' at families.attendence; did you mean 'attendance'?")
    text = _typo(_shipped("riskmodel.features", "catalogue.yaml"), ", always_windows:", ", alway_windows:")

    class Fake:
        def joinpath(self, name):
            return self

        def read_text(self, encoding):
            return text

    monkeypatch.setattr(catalogue_module.resources, "files", lambda package: Fake())
    catalogue_module.raw_catalogue.cache_clear()
    try:
        with pytest.raises(ContractError, match=r"riskmodel/features/catalogue.yaml: unknown key 'alway_windows' at "
                                                r"families\.\w+\[\d+\]\.alway_windows; did you mean 'always_windows'\?"):
            catalogue_module.raw_catalogue()
    finally:
        catalogue_module.raw_catalogue.cache_clear()


@pytest.mark.parametrize(("content", "message"), [
    ("tables:\n  screenings:\n    colums: {测评日期: date}\n",
     "m.yaml: unknown key 'colums' at tables.screenings.colums (did you mean 'columns'? allowed there: columns)"),
    ("values:\n  gendre: {男孩: M}\n", "unknown key 'gendre' at values.gendre (did you mean 'gender'? "),
    ("item_pattern: ['^x(\\d+)$']\n", "unknown key 'item_pattern' at item_pattern (did you mean 'item_patterns'? "),
])
def test_a_centre_mapping_with_a_typo_is_refused(tmp_path, content, message):
    mapping = tmp_path / "m.yaml"
    mapping.write_text(content, encoding="utf-8")
    with pytest.raises(ContractError) as info:
        load_dataset_with(tmp_path, mapping)
    assert message in str(info.value)


def test_a_mapping_typo_is_named_in_chinese_too(tmp_path):
    from riskmodel.data.mapping import load_mapping

    mapping = tmp_path / "m.yaml"
    mapping.write_text("valeus:\n  gender: {男孩: M}\n", encoding="utf-8")
    with pytest.raises(ContractError, match="m.yaml：valeus 处有未知的键 'valeus'（是否想写 'values'？"):
        load_mapping(mapping, lang="zh")


def test_the_shipped_mapping_is_checked_too(monkeypatch, tmp_path):
    import riskmodel.data.mapping as mapping_module

    shipped = _typo(_shipped("riskmodel.data", "mappings/zh_common.yaml"), "\ntables:\n", "\ntabels:\n")
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / mapping_module.SHIPPED_MAPPING).write_text(shipped, encoding="utf-8")

    class Fake:
        def joinpath(self, *parts):
            return tmp_path.joinpath(*parts)

    monkeypatch.setattr(mapping_module.resources, "files", lambda package: Fake())
    with pytest.raises(ContractError, match="zh_common.yaml: unknown key 'tabels' at tabels .did you mean 'tables'"):
        mapping_module.load_mapping(None)


def load_dataset_with(tmp_path, mapping):
    from riskmodel.data import load_dataset

    return load_dataset(minimal(tmp_path / "d"), settings=EN, mapping=mapping)


def test_every_problem_names_its_place_and_a_value_typo_its_closest_value():
    from typing import Literal

    class Clause(StrictModel):
        op: Literal[">=", "<="]
        value: float

    class File(StrictModel):
        rules: dict[str, list[Clause]]

    found = problems(File, {"rules": {"a": [{"op": ">=", "value": 1}, {"op": "=>", "value": "x", "extra": 1}]}})
    assert [p.path for p in found] == ["rules.a[1].op", "rules.a[1].extra", "rules.a[1].value"]
    assert found[0].closest == ">=" and found[1].known == ("op", "value") and found[1].closest is None
    assert "rules.a[1].value: Input should be a valid number" in found[2].describe()
    with pytest.raises(ConfigError, match=r"f.yaml: unknown value '=>' at rules.a\[1\].op; did you mean '>='\? "
                                          r"Known values there: <=, >=. \(and 2 more problem"):
        check(File, {"rules": {"a": [{"op": ">=", "value": 1}, {"op": "=>", "value": "x", "extra": 1}]}}, origin="f.yaml")


@pytest.mark.parametrize("module", ["riskmodel.rulefiles", "riskmodel.vocab"])
def test_the_examples_in_the_docstrings_run(module):
    import doctest

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
