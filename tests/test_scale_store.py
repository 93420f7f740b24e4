"""Issue 17 (scale-store): one scoring sequence per school, the multi-school generator, the store by school.

A real three-school district from ``riskmodel.synth.write_schools`` (a few hundred students each),
loaded by the real loader, scored with a real (logistic) model fitted on its own features.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.vocab import capacity_for
from riskmodel.warning.warning_list import (
    previous_by_school,
    schools_of,
    score_as_of,
    score_features,
    score_school,
    split_by_school,
)

AS_OF = date(2023, 12, 1)


def _fit(dataset, path):
    from riskmodel.features import build_features
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel

    settings = Settings()
    features = build_features(dataset, [AS_OF], settings=settings)
    spec = FeatureSpec.from_frame(features)
    y = (np.random.default_rng(0).random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  path)
    return registry.load(path)


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    """Three schools of about 300 students, written school by school, and a model fitted on them."""
    from riskmodel.features.export import open_data
    from riskmodel.synth import generate_schools, write_schools

    folder = tmp_path_factory.mktemp("district")
    write_schools(generate_schools(schools=3, students=300, years=2, seed=3), folder / "data")
    dataset = open_data(folder / "data", settings=Settings())
    return {"folder": folder, "dataset": dataset, "model": _fit(dataset, folder / "model")}


@pytest.fixture(scope="module")
def university(tmp_path_factory):
    """One school (today's generator), and a model fitted on it."""
    from riskmodel.features.export import open_data
    from riskmodel.synth import generate, write

    folder = tmp_path_factory.mktemp("one")
    write(generate(students=300, years=2, seed=3), folder / "data")
    dataset = open_data(folder / "data", settings=Settings())
    return {"folder": folder, "dataset": dataset, "model": _fit(dataset, folder / "model")}


LEGACY = Settings.model_validate({"warning": {"case_mode": "legacy",
                                              "capacity_per_1000": {"I": 10.0, "II": 40.0, "III": 80.0}}})


def test_district_has_three_schools_with_unique_ids(district):
    students = district["dataset"].table("students")
    assert len(schools_of(students)) == 3
    assert students["student_id"].is_unique
    assert students.groupby("school").size().between(200, 400).all()


def test_capacity_is_per_school(district):
    result = score_as_of(district["dataset"], district["model"], AS_OF, settings=LEGACY, lang="en")
    scores = result.scores.merge(district["dataset"].table("students")[["student_id", "school"]], on="student_id")
    for school, rows in scores.groupby("school"):
        by_score = rows.loc[rows["path"] == "score", "level"].value_counts()
        n_rules = int(rows["path"].str.startswith("rule:").sum())
        for level, per_1000 in (("II", 40.0), ("III", 80.0)):
            assert by_score.get(level, 0) == capacity_for(per_1000, len(rows)), (school, level)
        assert by_score.get("I", 0) == max(capacity_for(10.0, len(rows)) - n_rules, 0)
        # rank is within the school: 1 .. n of its own scored students
        assert sorted(rows["rank"].tolist()) == list(range(1, len(rows) + 1))


def test_level_one_above_capacity_is_said_once_per_run_not_once_per_school(district, caplog):
    """A province's run must not write one line per school into the scheduler's mail: the schools whose
    level I is above its capacity come in one warning (with each school's counts in the result)."""
    tight = Settings.model_validate({"warning": {"case_mode": "legacy", "capacity_per_1000": {"I": 0.0, "II": 40.0,
                                                                                              "III": 80.0}}})
    with caplog.at_level("WARNING", logger="riskmodel.warning.levels"):
        result = score_as_of(district["dataset"], district["model"], AS_OF, settings=tight, lang="en")
    over = result.over_capacity
    scores = result.scores.merge(district["dataset"].table("students")[["student_id", "school"]], on="student_id")
    held = scores.loc[scores["level"] == "I"].groupby("school").size()
    assert len(held) >= 2, "the fixture needs hard rules firing in two schools or more"
    assert over.set_index("school")["held"].to_dict() == held.to_dict()
    assert (over["capacity"] == 0).all() and (over["by_rule"] == over["held"]).all()
    lines = [r.getMessage() for r in caplog.records if r.name == "riskmodel.warning.levels"]
    assert len(lines) == 1 and f"in {len(held)} schools" in lines[0], lines
    caplog.clear()
    one = held.index[0]
    with caplog.at_level("WARNING", logger="riskmodel.warning.levels"):
        score_as_of(dict(split_by_school(district["dataset"]))[one], district["model"], AS_OF, settings=tight)
    lines = [r.getMessage() for r in caplog.records if r.name == "riskmodel.warning.levels"]
    assert lines == [f"level I holds {held[one]} students in {one} ({held[one]} after a hard rule, 0 reviewed to I), "
                     "above its capacity of 0"]


def test_list_is_the_concatenation_of_the_schools_lists(district):
    dataset, model = district["dataset"], district["model"]
    whole = score_as_of(dataset, model, AS_OF, settings=Settings(), lang="zh", run_id="r")
    parts = [score_school(part, model, AS_OF, settings=Settings(), lang="zh", run_id="r", check=False)
             for _, part in split_by_school(dataset)]
    joined = pd.concat([p.warning_list for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(whole.warning_list, joined)
    assert whole.warning_list["school"].tolist() == sorted(whole.warning_list["school"].tolist())
    pd.testing.assert_frame_equal(whole.scores, pd.concat([p.scores for p in parts], ignore_index=True))


def test_previous_rows_follow_the_student_school(district):
    students = district["dataset"].table("students")
    first, second = schools_of(students)[:2]
    moved = students.loc[students["school"] == first, "student_id"].iloc[0]
    previous = pd.DataFrame({"student_id": [moved, "gone-1", "gone-2"], "level": ["I", "II", "III"],
                             "school": [second, second, "a school closed since"]})
    parts = previous_by_school(previous, students)
    assert parts[first]["student_id"].tolist() == [moved, "gone-2"]  # where the student is now; a lost school: first
    assert parts[second]["student_id"].tolist() == ["gone-1"]
    result = score_as_of(district["dataset"], district["model"], AS_OF, settings=LEGACY, previous=previous, lang="en")
    gone = result.warning_list.set_index("student_id")
    assert gone.loc["gone-1", "change"] == "dropped" and gone.loc["gone-2", "change"] == "dropped"
    assert gone.loc["gone-2", "school"] == "a school closed since"
    assert (result.warning_list["student_id"] == moved).sum() == 1


def test_one_school_list_is_unchanged(university):
    """One school: score_as_of is exactly the former sequence (build the features, score them whole)."""
    from riskmodel.features import build_features

    dataset, model = university["dataset"], university["model"]
    for settings in (Settings(), LEGACY):
        previous = score_as_of(dataset, model, date(2023, 11, 1), settings=settings, lang="zh").warning_list
        now = score_as_of(dataset, model, AS_OF, settings=settings, previous=previous, lang="zh", run_id="x")
        features = build_features(dataset, [AS_OF], settings=settings)
        before = score_features(features, model, AS_OF, students=dataset.table("students"), settings=settings,
                                lang="zh", previous=previous, run_id="x", tables=dataset.tables)
        pd.testing.assert_frame_equal(now.warning_list, before.warning_list)
        pd.testing.assert_frame_equal(now.scores, before.scores)
        pd.testing.assert_frame_equal(now.reasons, before.reasons)


# --- the store by school, incremental -------------------------------------------------------------------

def _validate(data, store, rejected):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    result = CliRunner().invoke(app, ["validate", str(data), "--store", str(store), "--rejected", str(rejected)])
    assert result.exit_code == 0, result.output
    return result.output


def test_store_keeps_schools_apart_and_reads_one(district, tmp_path):
    from riskmodel.data.store import Store

    store = tmp_path / "district.duckdb"
    _validate(district["folder"] / "data", store, tmp_path / "rejected.csv")
    dataset = district["dataset"]
    with Store(store) as opened:
        assert opened.schools() == schools_of(dataset.table("students"))
        for school, part in split_by_school(dataset):
            from_store = opened.school(school)
            assert set(from_store.tables) == set(part.tables)
            for name, frame in part.tables.items():
                pd.testing.assert_frame_equal(from_store.tables[name], frame.reset_index(drop=True), check_exact=True)


def test_unchanged_files_are_not_read_again(district, tmp_path, monkeypatch):
    import shutil

    import riskmodel.data.ingest as ingest
    import riskmodel.data.load as load
    from riskmodel.data.store import open_store

    data = tmp_path / "data"
    shutil.copytree(district["folder"] / "data", data)
    store, rejected = tmp_path / "s.duckdb", tmp_path / "rejected.csv"
    read: list[str] = []
    original = ingest._chunks  # validate --store reads each file in chunks (riskmodel.data.ingest)

    def spy(path, table, *args, **kwargs):
        read.append(table)
        return original(path, table, *args, **kwargs)

    monkeypatch.setattr(ingest, "_chunks", spy)
    _validate(data, store, rejected)
    assert "screenings" in read and "students" in read
    first = store.stat().st_mtime_ns
    read.clear()
    output = _validate(data, store, rejected)
    assert read == [] and "screenings" in output  # nothing parsed: every table from the store
    assert store.stat().st_mtime_ns == first  # and the store, up to date, not rewritten
    # one file changes: only it is read again, and the store equals a fresh validation
    text = (data / "observations.csv").read_text(encoding="utf-8-sig")
    header, first_row, rest = text.split("\n", 2)
    (data / "observations.csv").write_text(f"{header}\n{rest}", encoding="utf-8-sig")  # a row removed
    read.clear()
    _validate(data, store, rejected)
    assert read == ["observations"]
    fresh = load.load_dataset(data, settings=Settings())
    back = open_store(store)
    assert back.checksum == fresh.checksum and back.skipped == fresh.skipped
    for name, frame in fresh.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], frame, check_exact=True)
    pd.testing.assert_frame_equal(back.summary, fresh.summary)
    # a new student changes what records are checked against: every file is read again
    students = (data / "students.csv").read_bytes().decode("gb18030")
    last = students.rstrip("\n").rsplit("\n", 1)[1].split(",")
    last[0] = "9" + last[0]
    (data / "students.csv").write_bytes((students + ",".join(last) + "\n").encode("gb18030"))
    read.clear()
    _validate(data, store, rejected)
    assert "screenings" in read and "observations" in read


def test_score_from_store_equals_score_from_folder(district, tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    store = tmp_path / "district.duckdb"
    _validate(district["folder"] / "data", store, tmp_path / "rejected.csv")
    outputs = {}
    for source, name in ((district["folder"] / "data", "folder"), (store, "store")):
        out = tmp_path / name
        result = CliRunner().invoke(app, ["score", "--data", str(source), "--model", str(district["folder"] / "model"),
                                          "--as-of", AS_OF.isoformat(), "--out", str(out), "--lang", "en"])
        assert result.exit_code == 0, result.output
        outputs[name] = out
        if name == "store":  # a store is scored batch by batch: the bar ends at every school of the district
            assert re.search(r"schools\s.*\b3/3\b", result.output), result.output
    for file in ("warning_list.csv", "warning_list.parquet", "scores.parquet"):
        a, b = outputs["folder"] / file, outputs["store"] / file
        if file.endswith(".csv"):
            assert a.read_bytes() == b.read_bytes()
        else:
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
    scores = pd.read_parquet(outputs["store"] / "scores.parquet")
    assert scores["school"].tolist() == sorted(scores["school"].tolist())  # by school, then rank within it
    assert scores.groupby("school")["rank"].min().eq(1).all()


def test_synth_one_school_unchanged_by_the_schools_option(tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app
    from riskmodel.synth import generate, write

    write(generate(students=120, years=1, seed=5), tmp_path / "api")
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "cli"), "--students", "120", "--years", "1",
                                      "--seed", "5", "--schools", "1"])
    assert result.exit_code == 0, result.output
    for path in sorted((tmp_path / "api").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "cli" / path.relative_to(tmp_path / "api")).read_bytes(), path


def test_district_truth_and_files_read_back(district):
    folder = district["folder"] / "data"
    truth = pd.read_parquet(folder / "_truth" / "students")
    students = district["dataset"].table("students")
    assert set(truth["student_id"]) == set(students["student_id"])
    assert (folder / "students.csv").read_bytes().count(b"student_id") == 1  # one header


def test_features_of_a_school_do_not_depend_on_the_other_schools(district):
    """Scoring a batch of schools at once and each alone gives the same rows (trajectory percentiles per school)."""
    from riskmodel.features import build_features

    dataset = district["dataset"]
    whole = build_features(dataset, [AS_OF], settings=Settings()).set_index("student_id")
    alone = pd.concat([build_features(part, [AS_OF], settings=Settings())
                       for _, part in split_by_school(dataset)]).set_index("student_id")
    pd.testing.assert_frame_equal(alone.loc[whole.index], whole, check_exact=True)


def test_dropped_students_are_said_once_per_store_not_once_per_batch(district, tmp_path, caplog):
    """Scored from a store one school a batch, previously listed students missing from two schools come in
    one warning with the run's count (counts only: no ID in the line)."""
    from riskmodel.warning.stream import score_store

    store = tmp_path / "district.duckdb"
    _validate(district["folder"] / "data", store, tmp_path / "rejected.csv")
    first, second = schools_of(district["dataset"].table("students"))[:2]
    previous = pd.DataFrame({"student_id": ["gone-1", "gone-2", "gone-3"], "level": ["I", "II", "III"],
                             "school": [first, second, second]})
    one_a_batch = LEGACY.model_copy(update={"data": LEGACY.data.model_copy(update={"batch_students": 1})})
    with caplog.at_level("WARNING", logger="riskmodel.warning.warning_list"):
        result = score_store(store, district["model"], AS_OF, settings=one_a_batch, previous=previous, lang="en")
    assert (result.warning_list["change"] == "dropped").sum() == 3
    lines = [r.getMessage() for r in caplog.records if "not scored" in r.getMessage()]
    assert lines == ["3 previously listed students were not scored (missing from the register or rejected); "
                     "the list marks them 'dropped'"]


def test_a_store_too_big_for_this_machine_is_refused_before_it_is_read(district, tmp_path, monkeypatch):
    """A single-machine run reads its store whole: where the free memory could not hold it, the run says so
    and stops (exit 3) instead of reading for minutes into the kernel's out-of-memory kill; `score` reads
    the same store school by school and goes on."""
    from collections import namedtuple

    import psutil
    from typer.testing import CliRunner

    from riskmodel.cli import app
    from riskmodel.data.store import WHOLE_READ_FACTOR

    store = tmp_path / "district.duckdb"
    _validate(district["folder"] / "data", store, tmp_path / "rejected.csv")
    free = store.stat().st_size * WHOLE_READ_FACTOR - 1
    monkeypatch.setattr(psutil, "virtual_memory", lambda: namedtuple("Memory", "available")(free))
    model = str(district["folder"] / "model")
    result = CliRunner().invoke(app, ["run", "--data", str(store), "--model", model, "--as-of", AS_OF.isoformat(),
                                      "--out", str(tmp_path / "reports")])
    assert result.exit_code == 3, result.output
    said = " ".join(result.output.split())
    assert f"{store}: reading this store whole needs about" in said and "--cluster local:2" in said
    assert not (tmp_path / "reports").exists() or not any(p.name.startswith("run-")
                                                           for p in (tmp_path / "reports").iterdir())
    result = CliRunner().invoke(app, ["score", "--data", str(store), "--model", model, "--as-of", AS_OF.isoformat(),
                                      "--out", str(tmp_path / "list"), "--lang", "en"])
    assert result.exit_code == 0, result.output
