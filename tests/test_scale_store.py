"""Issue 17 (scale-store): one scoring sequence per school, the multi-school generator, the store by school.

A real three-school district from ``riskmodel.synth.write_schools`` (a few hundred students each),
loaded by the real loader, scored with a real (logistic) model fitted on its own features.
"""

from __future__ import annotations

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
