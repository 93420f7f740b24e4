"""Training from a store batch by batch (issue 17, riskmodel.models.store_window): the model is the one
the whole data gives, byte for byte, also when the row budget and the memory budget sample rows.

A synthetic district of three schools whose register rows are shuffled (so that the store's batches,
by school, are not runs of the register), validated into a store; real features, labels and LightGBM.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from riskmodel.config import Settings
from riskmodel.data.dataset import Dataset
from riskmodel.data.store import Store, write_store
from riskmodel.features.export import open_data
from riskmodel.models import save, train_model
from riskmodel.models.commands import train_command

UNTIL = "2025-09-01"


def settings(**model) -> Settings:
    return Settings.model_validate({"data": {"batch_students": 900},  # about one school a batch
                                    "model": {"n_estimators": 40, "early_stopping_rounds": 10,
                                              "calibration": "sigmoid", **model}})


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from riskmodel.synth import generate_schools, write_schools

    folder = tmp_path_factory.mktemp("district")
    write_schools(generate_schools(schools=3, students=800, years=3, seed=7), folder / "data")
    dataset = open_data(folder / "data", settings=Settings())
    students = dataset.tables["students"]
    shuffled = students.iloc[np.random.default_rng(0).permutation(len(students))].reset_index(drop=True)
    assert shuffled["school"].nunique() == 3
    tables = {**dataset.tables, "students": shuffled}
    return write_store(Dataset(tables=tables, checksum=dataset.checksum, files=dataset.files),
                       folder / "district.duckdb")


@pytest.mark.parametrize("model", [{"max_fit_rows": 8000},  # the fit fold's negatives are drawn
                                   {"max_memory_gb": 0.03}],  # the evaluation months' students too
                         ids=["row budget", "memory budget"])
def test_a_model_trained_from_the_store_in_batches_is_the_whole_datas(store, tmp_path, model):
    s = settings(**model)
    whole = train_model(open_data(store, settings=s), UNTIL, settings=s)
    with Store(store) as opened:
        assert len(opened.batches(s.data.batch_students)) == 3
    batched = train_command(store, UNTIL, tmp_path / "batched", settings=s)
    save(whole, tmp_path / "whole")
    if "max_memory_gb" in model:
        assert 0 < whole.meta["sampling"]["evaluation_student_share"] < 1, "the memory budget must draw students for this test"
    else:
        assert whole.meta["folds"]["fit"]["rows"] > 8000, "the row budget must be reached for this test"
    assert (tmp_path / "whole" / "booster.txt").read_bytes() == (tmp_path / "batched" / "booster.txt").read_bytes()
    a = json.loads((tmp_path / "whole" / "model.json").read_text())
    b = json.loads((tmp_path / "batched" / "model.json").read_text())
    assert a == b and whole.version == batched.version
