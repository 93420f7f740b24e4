"""Scoring refuses data or a date that does not fit the model (riskmodel.warning.checks)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest
from test_features_helpers import random_dataset

from riskmodel.config import Settings
from riskmodel.data import Dataset
from riskmodel.errors import ContractError, ModelMismatchError
from riskmodel.warning.checks import check_scoring_data, training_sources

S = Settings.model_validate({"reports": {"lang": "en"}})  # the English words; the default zh: at the end
AS_OF = "2025-06-01"


@pytest.fixture(scope="module")
def data() -> Dataset:
    return random_dataset(n_students=60, seed=3)  # every table, students of stages university and senior


def model_of(data: Dataset):
    return SimpleNamespace(meta={"training_data": training_sources(data, data.table("students")["student_id"])})


def without(data: Dataset, name: str) -> Dataset:
    return Dataset(tables={k: v for k, v in data.tables.items() if k != name})


def test_training_records_the_sources_and_stages(data):
    recorded = training_sources(data, data.table("students")["student_id"])
    assert recorded["sources"] == ["observations", "life_events", "academics", "attendance", "counselling", "outcomes"]
    assert recorded["stages"] == ["senior", "university"]
    check_scoring_data(data, model_of(data), AS_OF, settings=S)  # the same data fits


def test_a_table_the_model_learned_from_must_be_there(data):
    with pytest.raises(ModelMismatchError, match=r"trained with the table\(s\) Counselling \(counselling\).*Add the table"):
        check_scoring_data(without(data, "counselling"), model_of(data), AS_OF, settings=S)
    empty = Dataset(tables={**data.tables, "observations": data.table("observations").iloc[:0]})
    with pytest.raises(ModelMismatchError, match="observations"):
        check_scoring_data(empty, model_of(data), AS_OF, settings=S)
    older = SimpleNamespace(meta={})  # saved before sources were recorded: not checked for them
    check_scoring_data(without(data, "counselling"), older, AS_OF, settings=S)


def test_a_stage_the_model_never_saw_is_refused_unless_a_few_newcomers(data, caplog):
    uni_only = SimpleNamespace(meta={"training_data": {"sources": [], "stages": ["university"]}})
    with pytest.raises(ModelMismatchError, match=r"stage\(s\) Senior secondary .* trained on University only"):
        check_scoring_data(data, uni_only, AS_OF, settings=S)  # about half the students: refused
    students = data.table("students").copy()
    students["stage"] = "university"
    students.loc[students.index[:3], "stage"] = "graduate"  # a first cohort of three graduate students
    few = Dataset(tables={**data.tables, "students": students})
    with caplog.at_level("WARNING"):
        check_scoring_data(few, uni_only, AS_OF, settings=S)  # not the whole list held back for them
    assert "stage(s) graduate" in caplog.text and "not been validated" in caplog.text


def test_dates_before_any_screening_or_long_after_the_records_are_refused(data):
    first = data.table("screenings")["date"].min()
    with pytest.raises(ContractError, match="no screening on or before"):
        check_scoring_data(data, model_of(data), first - pd.Timedelta(days=1), settings=S)
    from riskmodel.labels import records_end

    end = records_end(data)
    check_scoring_data(data, model_of(data), end + pd.Timedelta(days=119), settings=S)
    with pytest.raises(ContractError, match=r"newest record .* 120 days before --as-of"):
        check_scoring_data(data, model_of(data), end + pd.Timedelta(days=120), settings=S)
    relaxed = Settings.model_validate({"warning": {"max_data_age_days": 400}})
    check_scoring_data(data, model_of(data), end + pd.Timedelta(days=300), settings=relaxed)


def test_the_refusals_are_in_the_centres_language(data):
    """Under the default language (zh) each refusal that leaves a centre without its list is in Chinese, names the
    table's file as it is and says what to do; lang="en" (or reports.lang: en) gives the English words."""
    from riskmodel.labels import records_end

    zh = Settings()
    assert zh.reports.lang == "zh"
    uni_only = SimpleNamespace(meta={"training_data": {"sources": [], "stages": ["university"]}})
    first = data.table("screenings")["date"].min()
    no_screenings = Dataset(tables={**data.tables, "screenings": data.table("screenings").iloc[:0]})
    refusals = [  # (what is checked, the Chinese words, the English words)
        ((without(data, "counselling"), model_of(data), AS_OF), "模型训练时使用了心理咨询（counselling）表",
         "trained with the table(s) Counselling (counselling)"),
        ((data, uni_only, AS_OF), "属于高中学段，而模型只用大学本科学段的数据训练过", "stage(s) Senior secondary"),
        ((data, model_of(data), first - pd.Timedelta(days=1)), f"最早的一次在{first:%Y-%m-%d}", "no screening on"),
        ((no_screenings, model_of(data), AS_OF), "筛查表是空的", "(the table is empty)"),
        ((data, model_of(data), records_end(data) + pd.Timedelta(days=120)), "早120天", "120 days before --as-of"),
    ]
    for args, chinese, english in refusals:
        with pytest.raises((ContractError, ModelMismatchError)) as said:
            check_scoring_data(*args, settings=zh)
        assert chinese in str(said.value) and english not in str(said.value), str(said.value)
        assert "请" in str(said.value)  # what to do
        for settings, lang in ((zh, "en"), (S, None)):
            with pytest.raises(type(said.value), match=re.escape(english)):
                check_scoring_data(*args, settings=settings, lang=lang)
