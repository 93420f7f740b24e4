"""`riskmodel run` pre-flight (nothing written on failure, the documented exit status) and the real
scoring stage of the run on a small synthetic cohort."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.errors import ModelMismatchError, PreflightError
from riskmodel.reports.runner import check_output, earlier_runs, score

AS_OF = date(2023, 12, 1)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small synthetic university and a model fitted on its own features (the machinery, not skill)."""
    from riskmodel.features import build_features
    from riskmodel.features.export import open_data
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel
    from riskmodel.synth import generate, write

    folder = tmp_path_factory.mktemp("small")
    write(generate(students=300, years=2, seed=3), folder / "data")
    settings = Settings()
    features = build_features(open_data(folder / "data", settings=settings), [AS_OF], settings=settings)
    spec = FeatureSpec.from_frame(features)
    rng = np.random.default_rng(0)
    y = (rng.random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  folder / "model")
    return folder


def _invoke(*args):
    return CliRunner().invoke(app, ["run", *map(str, args)])


def test_output_not_writable_exits_3_and_writes_nothing(small, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = _invoke("--data", small / "data", "--model", small / "model", "--as-of", AS_OF, "--out", blocker / "reports")
    assert result.exit_code == 3, result.output
    assert "is a file" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_not_enough_disk_fails_closed(tmp_path):
    with pytest.raises(PreflightError, match="MB free"):
        check_output(tmp_path / "reports", min_free_mb=10**12)
    assert list(tmp_path.iterdir()) == []


def test_missing_data_exits_2_and_writes_nothing(small, tmp_path):
    result = _invoke("--data", tmp_path / "nope", "--model", small / "model", "--as-of", AS_OF, "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    assert "no such data folder" in result.output
    assert not (tmp_path / "r").exists()


def test_model_that_is_not_a_model_exits_2(small, tmp_path):
    (tmp_path / "model").mkdir()
    result = _invoke("--data", small / "data", "--model", tmp_path / "model", "--as-of", AS_OF, "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    assert not (tmp_path / "r").exists()


def test_model_that_does_not_match_the_data(small, tmp_path):
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel

    frame = pd.DataFrame({"student_id": [f"s{i}" for i in range(60)], "as_of": pd.Timestamp(AS_OF),
                          "a_feature_this_data_lacks": np.arange(60, dtype=float)})
    y = (np.arange(60) % 5 == 0).astype(int)
    spec = FeatureSpec.from_frame(frame)
    est = LogisticRisk().fit(spec.frame(frame), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(frame)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={}), tmp_path / "m")
    with pytest.raises(ModelMismatchError):
        score(small / "data", tmp_path / "m", AS_OF, settings=Settings(), out=tmp_path / "r", run_id="x", lang="zh")
    assert not (tmp_path / "r").exists()


def test_scoring_stage_on_real_data(small, tmp_path):
    scored = score(small / "data", small / "model", AS_OF, settings=Settings(), out=tmp_path / "r", run_id="r1",
                   lang="zh")
    everyone, listed = scored.everyone, scored.warning_list
    assert everyone["student_id"].is_unique and len(everyone) > 100
    assert set(listed.loc[listed["level"] != "none", "student_id"]) == set(everyone.loc[everyone["level"] != "none",
                                                                                        "student_id"])
    assert scored.contributions is not None and len(scored.contributions) == len(everyone)
    assert (everyone["pseudonym"] != "").all() and (everyone["school"] != "").all()
    assert scored.previous_run is None and scored.data_checksum


def test_earlier_runs_same_schools_earlier_dates_latest_made(tmp_path):
    def fake(name, as_of, finished, schools=("A",)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps(
            {"as_of": as_of, "finished": finished, "schools": list(schools)}))

    fake("run-1", "2026-01-01", "2026-01-01T02:00")
    fake("run-2", "2026-02-01", "2026-02-01T02:00")
    fake("run-3", "2026-02-01", "2026-02-03T02:00")  # a re-run of February: it counts
    fake("run-4", "2026-02-01", "2026-02-01T03:00", schools=("B",))
    fake("run-5", "2026-03-01", "2026-03-01T02:00")  # the same date as the new run: not earlier
    (tmp_path / ".run-6.partial").mkdir()
    assert [p.name for p in earlier_runs(tmp_path, ["A"], date(2026, 3, 1))] == ["run-1", "run-3"]
