"""Issue 12: a student leaves the list only visibly. `riskmodel run` on a small synthetic cohort.

* A register that lost more than ``warning.max_register_loss`` of the previous run's students (a
  students file cut off mid-export) is refused with exit 2 before anything is written, unless
  ``--accept-register-loss``.
* A previously listed student missing from this register is ``dropped`` (never ``cleared``) in the
  list, named by pseudonym (never by ID) in the manifest and on the index page, and the run exits 1.

The previous run is the scoring stage's real output written as the runner writes it (warning list,
report list, manifest); the run under test is the real command line with its real notebooks.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from riskmodel.cli import app
from riskmodel.config import Settings
from riskmodel.reports.runner import score

PREVIOUS, AS_OF = date(2023, 11, 1), date(2023, 12, 1)


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
    y = (np.random.default_rng(0).random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  folder / "model")
    return folder


def _previous_run(small: Path, out: Path) -> pd.DataFrame:
    """The previous month's run folder as the runner leaves it (the files the next run reads)."""
    scored = score(small / "data", small / "model", PREVIOUS, settings=Settings(), out=out, run_id="prev", lang="en")
    run_dir = out / "run-2023-11-01-20231101T020000Z"
    (run_dir / "report_data").mkdir(parents=True)
    scored.warning_list.to_parquet(run_dir / "warning_list.parquet")
    scored.everyone.drop(columns="student_id").to_parquet(run_dir / "report_data" / "list.parquet")
    (run_dir / "manifest.json").write_text(json.dumps({"as_of": PREVIOUS.isoformat(), "schools": scored.schools,
                                                       "finished": "2023-11-01T02:10:00+00:00"}))
    return scored.warning_list


def _students_text(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("students.csv in an unexpected encoding")


def _run(small: Path, data: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["run", "--data", str(data), "--model", str(small / "model"), "--as-of",
                                    AS_OF.isoformat(), "--out", str(out), "--lang", "en", "--jobs", "1", *extra])


def test_register_cut_off_is_refused_before_anything_is_written(small, tmp_path):
    out = tmp_path / "reports"
    _previous_run(small, out)
    before = sorted(p.name for p in out.iterdir())
    data = tmp_path / "data"
    shutil.copytree(small / "data", data)
    content, encoding = _students_text(data / "students.csv")
    (data / "students.csv").write_bytes(content[: len(content) // 2].encode(encoding))  # stops mid-line
    result = _run(small, data, out)
    assert result.exit_code == 2, result.output
    assert "lacks" in result.output and "--accept-register-loss" in result.output
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written, not even a partial folder
    # told otherwise, the same data is scored, and the manifest will say the loss was accepted
    scored = score(data, small / "model", AS_OF, settings=Settings(), out=out, run_id="x", lang="en",
                   accept_register_loss=True)
    check = scored.register_check
    assert check["accepted"] and check["refused"] and check["missing"] > 0.4 * check["previous_students"]
    # a setting may allow it too
    loose = Settings(warning={"max_register_loss": 0.9})
    assert score(data, small / "model", AS_OF, settings=loose, out=out, run_id="y", lang="en").register_check[
        "accepted"] is False


def test_missing_listed_student_is_dropped_by_pseudonym_and_exits_1(small, tmp_path):
    out = tmp_path / "reports"
    previous = _previous_run(small, out)
    listed = previous.loc[previous["level"] != "none"].sort_values("rank")
    gone_id, gone_pseudonym, gone_level = listed.iloc[0][["student_id", "pseudonym", "level"]]
    data = tmp_path / "data"
    shutil.copytree(small / "data", data)
    content, encoding = _students_text(data / "students.csv")
    lines = content.split("\n")
    kept = [line for line in lines if not line.startswith(f"{gone_id},")]
    assert len(kept) == len(lines) - 1
    (data / "students.csv").write_bytes("\n".join(kept).encode(encoding))

    result = _run(small, data, out)
    assert result.exit_code == 1, result.output
    assert "dropped: 1 previously listed student(s) not scored" in result.output.replace("\n", " ")
    assert gone_id not in result.output and gone_pseudonym not in result.output
    run_dir = next(p for p in out.iterdir() if p.name.startswith("run-2023-12-01"))
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dropped"] == [{"pseudonym": gone_pseudonym, "previous_level": gone_level}]
    assert manifest["outcome"] == "dropped_students"
    assert manifest["register_check"]["missing"] == 1 and not manifest["register_check"]["refused"]
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert gone_pseudonym in index and "previously listed students were not scored" in index
    for name in ("manifest.json", "index.html", "run.log"):
        assert gone_id not in (run_dir / name).read_text(encoding="utf-8"), name
    run_log = (run_dir / "run.log").read_text(encoding="utf-8")
    assert gone_pseudonym not in run_log
    # what scoring said before the run's folder existed is in run.log too, first: the auditor's record
    said = run_log.index("WARNING riskmodel.warning.warning_list: 1 previously listed students were not scored")
    assert said < run_log.index("INFO riskmodel.reports.runner: run run-2023-12-01")
    listed_now = pd.read_parquet(run_dir / "warning_list.parquet").set_index("pseudonym")
    assert listed_now.loc[gone_pseudonym, ["change", "previous_level", "level"]].tolist() == ["dropped", gone_level,
                                                                                              "none"]
    # nobody silently gone: every previously listed student has a row in the new list
    assert set(previous.loc[previous["level"] != "none", "pseudonym"]) <= set(listed_now.index)
    assert listed_now.loc[listed_now["change"] == "cleared", "score"].notna().all()  # cleared = scored, below levels
