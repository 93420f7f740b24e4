"""`riskmodel features --data DIR --as-of DATE --out FILE`: a real data folder through the real loader."""

from __future__ import annotations

import pandas as pd
import pytest
from test_features_helpers import random_dataset
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.features import catalogue

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("centre")
    for name, frame in random_dataset(30, seed=3).tables.items():
        frame.dropna(axis=1, how="all").to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch):
    monkeypatch.setenv("RISKMODEL_PSEUDONYM_KEY", "00" * 32)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_features_verb_writes_the_matrix(data_dir, tmp_path, suffix):
    out = tmp_path / f"matrix{suffix}"
    result = runner.invoke(app, ["features", "--data", str(data_dir), "--as-of", "2025-01-20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out, encoding="utf-8-sig")
    assert list(frame.columns) == ["student_id", "as_of", *catalogue().index]
    students = pd.read_csv(data_dir / "students.csv", parse_dates=["enrollment_date", "exit_date"])
    t = pd.Timestamp("2025-01-20")
    enrolled = (students["enrollment_date"] <= t) & (students["exit_date"].isna() | (students["exit_date"] > t))
    assert sorted(frame["student_id"]) == sorted(students.loc[enrolled, "student_id"])
    assert (out.stat().st_mode & 0o777) == 0o600


def test_features_verb_refuses_an_unknown_suffix_and_a_bad_date(data_dir, tmp_path):
    result = runner.invoke(app, ["features", "--data", str(data_dir), "--as-of", "2025-01-20",
                                 "--out", str(tmp_path / "m.xlsx")])
    assert result.exit_code == 2 and "parquet" in result.output
    result = runner.invoke(app, ["features", "--data", str(data_dir), "--as-of", "20/01/2025",
                                 "--out", str(tmp_path / "m.csv")])
    assert result.exit_code == 2 and not (tmp_path / "m.csv").exists()


def test_features_verb_reads_a_store_like_the_folder(data_dir, tmp_path):
    from riskmodel.config import Settings
    from riskmodel.data import load_dataset
    from riskmodel.data.store import write_store

    store = write_store(load_dataset(data_dir, settings=Settings()), tmp_path / "centre.duckdb")
    outs = []
    for source, name in ((store, "from_store.parquet"), (data_dir, "from_folder.parquet")):
        result = runner.invoke(app, ["features", "--data", str(source), "--as-of", "2024-06-30",
                                     "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outs.append(pd.read_parquet(tmp_path / name))
    pd.testing.assert_frame_equal(outs[0], outs[1])
