"""Each domain fact is defined once (riskmodel.vocab) and every stage uses that one definition."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

import riskmodel
from riskmodel import vocab
from riskmodel.audit.performance import level_capacity
from riskmodel.config import Settings
from riskmodel.data import contract
from riskmodel.models.calibration import wilson_interval as calibration_wilson
from riskmodel.models.metrics import recall_at_capacity
from riskmodel.warning.levels import LEVEL_ORDER, LEVELS, capacities

PACKAGE = Path(riskmodel.__file__).parent


def test_capacity_is_rounded_one_way_everywhere():
    # 5 per 1,000 of 100 students is half a student: one place at level I, not none (round() gave 0)
    settings = Settings.model_validate({"warning": {"capacity_per_1000": {"I": 5, "II": 15, "III": 25}}})
    assert capacities(100, settings=settings) == {"I": 1, "II": 2, "III": 3}
    assert level_capacity(100, capacity=None, capacity_per_1000={"I": 5, "II": 15, "III": 25}) == \
        {"I": 1, "II": 3, "III": 6}
    # recall at capacity: the one positive ranked first is found with the one place of 5 per 1,000
    y, score = np.r_[1, np.zeros(99)], np.linspace(1, 0, 100)
    assert recall_at_capacity(y, score, np.zeros(100), per_1000=5) == 1.0
    assert vocab.capacity_for(4.9, 100) == 0 and vocab.capacity_for(5, 100) == 1


def test_levels_and_the_wilson_interval_have_one_home():
    assert LEVELS is vocab.LEVELS and LEVEL_ORDER is vocab.LEVEL_ORDER
    assert calibration_wilson is vocab.wilson_interval
    from riskmodel.audit.metrics import reliability_table

    table = reliability_table(np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.7, 0.9]), n_bins=2)
    low, high = vocab.wilson_interval(table["positives"].to_numpy(), table["n"].to_numpy())
    assert np.array_equal(table["observed_low"].to_numpy(), low)
    assert np.array_equal(table["observed_high"].to_numpy(), high)


def test_contract_facts_come_from_the_contract():
    assert vocab.STAGES == tuple(contract()["enums"]["stage"])
    assert vocab.FAMILY_FLAGS == tuple(contract()["family_flags"])
    assert vocab.DATED_BY["academics"] == "term_end" and "students" not in vocab.DATED_BY
    assert set(vocab.K12_STAGES) < set(vocab.STAGES)
    from riskmodel.audit.run import GROUPING_ORDER
    from riskmodel.features.build import EVENT_TABLES
    from riskmodel.instruments.rules import stages

    assert GROUPING_ORDER[-len(vocab.FAMILY_FLAGS):] == vocab.FAMILY_FLAGS
    assert EVENT_TABLES == dict(vocab.DATED_BY)
    assert stages() == vocab.STAGES
    assert Settings.model_validate({"model": {"kind": "logistic"}}).model.kind == "logistic"


# Copies that used to live in several modules; a new one is a fact defined twice again
COPIES = {
    "the list of levels": re.compile(r"""\(\s*["']I["'],\s*["']II["'],\s*["']III["']"""),
    "capacity rounding": re.compile(r"floor\([^)]*1000[^)]*\+\s*0\.5"),
    "the family flags": re.compile(r"""["']left_behind["'],\s*["']single_parent["'],\s*["']divorced_family["'],"""
                                   r"""\s*["']reconstituted_family["'],\s*["']economic_hardship["'],\s*["']disability["'],"""
                                   r"""\s*["']only_child["']"""),
    "the stages": re.compile(r"""["']primary["'],\s*["']junior["'],\s*["']senior["'],\s*["']vocational["']"""),
    "the model kinds": re.compile(r"""["']lightgbm["'],\s*["']logistic["'],\s*["']rules["']"""),
    "the Wilson interval": re.compile(r"def _?wilson"),
    "the dating column of academics": re.compile(r"""["']academics["']\s*[:,]\s*["']term_end["']"""),
}


def test_no_module_defines_a_domain_fact_again():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "vocab.py":
            continue
        source = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(PACKAGE)}: {what}" for what, pattern in COPIES.items() if pattern.search(source)]
    assert found == []


def test_a_report_counts_records_by_each_tables_dating_column():
    from riskmodel.reports.report_data import _coverage

    tables = {"academics": pd.DataFrame({"term_end": pd.to_datetime(["2026-01-20"])}),
              "screenings": pd.DataFrame({"date": pd.to_datetime(["2026-02-03", "2026-02-04"])}),
              "calendar": pd.DataFrame({"start": pd.to_datetime(["2026-02-01"])}),
              "students": pd.DataFrame({"enrollment_date": pd.to_datetime(["2025-09-01"])})}
    out = _coverage(tables)
    assert set(out["table"]) == {"academics", "screenings"}
    assert out.loc[out["table"] == "academics", "records"].sum() == 1
