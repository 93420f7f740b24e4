"""`riskmodel train` and `riskmodel score` end to end on a small synthetic university written to disk.

Real files in mixed formats and encodings (riskmodel.synth.write), the real loader, features, labels,
LightGBM, registry and exports.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.synth import generate, write

pytestmark = pytest.mark.slow
runner = CliRunner()
CONFIG = """
model:
  history_months: 16
  calibration_months: 3
  holdout_months: 3
  n_estimators: 60
  early_stopping_rounds: 10
warning:
  capacity_per_1000: {I: 10, II: 30, III: 60}
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    write(generate(students=900, years=4, stage="university", seed=5), root / "data")
    (root / "settings.yaml").write_text(CONFIG)
    result = runner.invoke(app, ["train", "--data", str(root / "data"), "--until", "2025-09-01",
                                 "--out", str(root / "model"), "--config", str(root / "settings.yaml")])
    assert result.exit_code == 0, result.output
    return root


def _score(root, out, *extra):
    return runner.invoke(app, ["score", "--data", str(root / "data"), "--model", str(root / "model"),
                               "--as-of", "2025-10-01", "--out", str(root / out), "--config",
                               str(root / "settings.yaml"), *extra])


def test_train_writes_a_model_folder_with_its_metadata(workspace):
    meta = json.loads((workspace / "model" / "model.json").read_text())
    assert meta["kind"] == "lightgbm" and meta["until"] == "2025-09-01"
    assert meta["data_checksum"] and len(meta["version"]) == 16
    assert meta["windows"]["model"]["calibration"]["last"] <= "2025-06-01"  # windows close by --until
    assert {"average_precision", "recall_at_I_II", "ece_quantile"} <= set(meta["metrics_holdout"])
    assert sorted(p.name for p in (workspace / "model").iterdir()) == [
        "booster.txt", "calibrator.json", "estimator.json", "features.json", "model.json"]


def test_score_writes_the_list_and_never_overwrites(workspace):
    result = _score(workspace, "list1", "--lang", "en")
    assert result.exit_code == 0, result.output
    folder = workspace / "list1"
    assert sorted(p.name for p in folder.iterdir()) == ["scores.parquet", "warning_list.csv",
                                                        "warning_list.parquet", "warning_list.xlsx"]
    listed = pd.read_parquet(folder / "warning_list.parquet")
    assert len(listed) > 0 and set(listed["level"]) <= {"I", "II", "III"}
    assert listed["factors"].str.len().gt(0).all()
    # the calibration's 95% interval, from what train stored in calibrator.json
    interval = json.loads((workspace / "model" / "calibrator.json").read_text())["interval"]
    assert interval["level"] == 0.95 and interval["method"] in ("wilson", "delta_logit")
    low, score, high = (listed[c].to_numpy(dtype=float) for c in ("score_low", "score", "score_high"))
    assert ((0 <= low) & (low <= score) & (score <= high) & (high <= 1)).all() and (high > low).any()
    again = _score(workspace, "list1")
    assert again.exit_code == 3 and "never overwritten" in again.output


def test_the_same_run_gives_the_same_bytes_and_change_reads_the_previous_list(workspace):
    assert _score(workspace, "a", "--lang", "zh").exit_code == 0
    assert _score(workspace, "b", "--lang", "zh").exit_code == 0
    for name in ("warning_list.csv", "warning_list.xlsx", "warning_list.parquet"):
        assert (workspace / "a" / name).read_bytes() == (workspace / "b" / name).read_bytes(), name
    result = _score(workspace, "c", "--previous", str(workspace / "a" / "warning_list.parquet"))
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(workspace / "c" / "warning_list.parquet")["change"]) == {"same"}


def test_score_refuses_a_model_trained_on_other_features(workspace, tmp_path):
    import shutil

    bad = tmp_path / "model"
    shutil.copytree(workspace / "model", bad)
    meta = json.loads((bad / "features.json").read_text())
    meta["names"].append("feature_from_another_version")
    (bad / "features.json").write_text(json.dumps(meta))
    result = runner.invoke(app, ["score", "--data", str(workspace / "data"), "--model", str(bad), "--as-of",
                                 "2025-10-01", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "altered or damaged" in result.output


def _enrolled_on(students: pd.DataFrame, as_of: pd.Timestamp) -> set[str]:
    """Straight from the contract: enrolled on or before the date, and no scoring after the exit date."""
    on = (students["enrollment_date"] <= as_of) & (students["exit_date"].isna() | (students["exit_date"] >= as_of))
    return set(students.loc[on, "student_id"].astype(str))


def test_a_student_leaving_on_the_lists_date_is_on_it(workspace, tmp_path):
    """A student whose exit date is the as-of date was silently left out of the list and the scores file
    (the contract: no scoring *after* the exit date; the loader and the scoring checks counted them)."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(workspace / "data", data)
    path = data / "students.csv"
    try:  # the synthetic writer varies the encoding as centres do
        path.read_bytes().decode("utf-8-sig")
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        encoding = "gb18030"
    students = pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False)
    as_of = pd.Timestamp("2025-10-01")
    open_ended = students[(students["exit_date"] == "") & (pd.to_datetime(students["enrollment_date"]) < as_of)]
    leaving = open_ended["student_id"].head(2).tolist()
    students.loc[students["student_id"].isin(leaving), "exit_date"] = "2025-10-01"
    students.to_csv(path, index=False, encoding=encoding)
    result = runner.invoke(app, ["score", "--data", str(data), "--model", str(workspace / "model"), "--as-of",
                                 "2025-10-01", "--out", str(tmp_path / "out"), "--config",
                                 str(workspace / "settings.yaml")])
    assert result.exit_code == 0, result.output
    scored = set(pd.read_parquet(tmp_path / "out" / "scores.parquet")["student_id"])
    assert len(leaving) == 2 and set(leaving) <= scored


def test_the_scores_file_holds_every_enrolled_student_once(workspace):
    """Contract v2: every student scored on the date, listed or not, with interval, rank and level."""
    from riskmodel.config import load_settings
    from riskmodel.data import load_dataset

    result = _score(workspace, "scores1")
    assert result.exit_code == 0, result.output
    path = workspace / "scores1" / "scores.parquet"
    assert path.stat().st_mode & 0o777 == 0o600
    scores = pd.read_parquet(path)
    assert list(scores.columns[:11]) == ["as_of", "student_id", "pseudonym", "school", "college", "class_id",
                                         "score", "score_low", "score_high", "rank", "level"]
    students = load_dataset(workspace / "data", settings=load_settings(workspace / "settings.yaml")).table("students")
    as_of = pd.Timestamp("2025-10-01")
    assert not scores["student_id"].duplicated().any()
    assert set(scores["student_id"]) == _enrolled_on(students, as_of)
    assert (scores["as_of"] == as_of).all()
    assert sorted(scores["rank"]) == list(range(1, len(scores) + 1))
    assert (scores["score_low"] <= scores["score"]).all() and (scores["score"] <= scores["score_high"]).all()
    assert scores["pseudonym"].str.len().gt(0).all()
    listed = pd.read_parquet(workspace / "scores1" / "warning_list.parquet")
    listed = listed[listed["level"] != "none"].set_index("student_id")
    assert (scores["level"] != "none").sum() == len(listed)
    mine = scores.set_index("student_id").loc[listed.index]
    assert (mine["level"] == listed["level"]).all() and (mine["score"] == listed["score"]).all()

