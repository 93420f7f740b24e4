"""A run of a past date is the same whatever happened after that date (issue 15).

One synthetic centre is written twice: as generated, and with every record dated after the as-of
date perturbed (other categories, sources, severities, events, kinds, ratings, statuses, answers,
scores, notes; exit dates after the as-of date moved). The same run (same run id) of the as-of date
is made from each, and every output is compared byte for byte: the warning lists (CSV, Parquet),
every ``report_data`` file, the cohort and data-quality reports' HTML, the index page, and the
student file's HTML of the students with the most records after the date.

Compared after normalising, by design: papermill gives the cell it injects with the parameters a random
id (``cell-id=<8 hex>`` of the ``injected-parameters`` cell in the HTML), replaced here by a fixed one
and nothing else; the XLSX lists (their zip stores a creation time; compared
cell by cell), ``manifest.json`` (input checksums and timings differ by design; its levels and
student counts are compared), ``run.log`` and the executed ``.ipynb`` copies (timestamps). The
school calendar is not perturbed: it is a plan published in advance, not a record of what happened.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.data.dataset import contract
from riskmodel.reports.report_data import CUT_BY, cut_at

AS_OF = date(2023, 6, 1)
RUN_ID = "run-2023-06-01-fixed"
SETTINGS = Settings()
ENUM_OF = {("observations", "source"): "observation_source", ("observations", "category"): "observation_category",
           ("life_events", "event"): "life_event", ("counselling", "kind"): "counselling_kind",
           ("attendance", "status"): "attendance_status", ("outcomes", "event"): "outcome_event"}


def _rotate(values: pd.Series, allowed: list) -> pd.Series:
    position = {v: i for i, v in enumerate(allowed)}
    return values.map(lambda v: allowed[(position[v] + 1) % len(allowed)] if v in position else v)


def perturb(tables: dict[str, pd.DataFrame], as_of: date) -> dict[str, pd.DataFrame]:
    """Every record dated after ``as_of`` changed in every column but its key; later exit dates moved."""
    from riskmodel.instruments import get

    day = pd.Timestamp(as_of)
    out = {}
    for name, table in tables.items():
        table = table.copy()
        if name == "students":
            later = table["exit_date"] > day
            table.loc[later, "exit_date"] = table.loc[later, "exit_date"] + pd.Timedelta(days=20)
        elif name != "calendar":
            after = table[CUT_BY[name]] > day
            assert after.any(), f"{name}: the fixture needs records after the as-of date"
            for (table_name, column), enum in ENUM_OF.items():
                if table_name == name:
                    table.loc[after, column] = _rotate(table.loc[after, column], contract()["enums"][enum])
            if "severity" in table:
                table.loc[after, "severity"] = table.loc[after, "severity"] % 3 + 1
            if "counsellor_rating" in table:
                table.loc[after, "counsellor_rating"] = table.loc[after, "counsellor_rating"] % 4 + 1
            if "note" in table:
                table.loc[after, "note"] = "written after the as-of date"
            if name == "academics":
                table.loc[after, "mean_score"] = 100 - table.loc[after, "mean_score"]
                table.loc[after, "rank_pct"] = 1 - table.loc[after, "rank_pct"]
            if name == "screenings":
                for code, rows in table[after].groupby("instrument"):
                    spec = get(code)
                    span = spec.response_max - spec.response_min + 1
                    for k in range(1, spec.n_items + 1):
                        col = f"item_{k}"
                        table.loc[rows.index, col] = (rows[col] - spec.response_min + 1) % span + spec.response_min
                table.loc[after, "duration_seconds"] = table.loc[after, "duration_seconds"] * 3
        out[name] = table
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from riskmodel.data import load_dataset
    from riskmodel.features import build_features
    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel
    from riskmodel.reports.runner import publish, score
    from riskmodel.synth import generate, write

    root = tmp_path_factory.mktemp("as_of")
    cohort = generate(students=300, years=2, seed=5)
    write(cohort, root / "data-as-generated")
    write(dataclasses.replace(cohort, tables=perturb(cohort.tables, AS_OF)), root / "data-perturbed")
    features = build_features(load_dataset(root / "data-as-generated", settings=SETTINGS), [AS_OF], settings=SETTINGS)
    spec = FeatureSpec.from_frame(features)
    y = (np.random.default_rng(0).random(len(features)) < 0.1).astype(int)
    y[:5] = 1
    est = LogisticRisk().fit(spec.frame(features), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(features)), y)
    registry.save(RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={"horizon_days": 90}),
                  root / "model")
    made = {}
    for variant in ("as-generated", "perturbed"):
        out = root / f"reports-{variant}"
        scored = score(root / f"data-{variant}", root / "model", AS_OF, settings=SETTINGS, out=out, run_id=RUN_ID,
                       lang="zh")
        made[variant] = publish(scored, out, settings=SETTINGS, jobs=2, run_id=RUN_ID)
        assert made[variant].exit_code == 0, made[variant].failed
    return root, made


_NORMALISED = {"manifest.json", "run.log"}
_INJECTED_ID = re.compile(rb'id="cell-id=[0-9a-f-]+"( class="[^"]*celltag_injected-parameters)')


def _normalised(path: Path) -> bytes:
    """The file's bytes; in HTML, the random id papermill gives its injected-parameters cell made fixed."""
    data = path.read_bytes()
    return _INJECTED_ID.sub(rb'id="cell-id=injected"\1', data) if path.suffix == ".html" else data


def _files(run_dir: Path) -> dict[str, bytes]:
    return {p.relative_to(run_dir).as_posix(): _normalised(p) for p in sorted(run_dir.rglob("*")) if p.is_file()
            and p.name not in _NORMALISED and p.suffix not in (".ipynb", ".xlsx")}


def test_the_perturbation_reaches_the_input(runs):
    root, _ = runs
    from riskmodel.data import load_dataset

    one = load_dataset(root / "data-as-generated", settings=SETTINGS)
    two = load_dataset(root / "data-perturbed", settings=SETTINGS)
    for name in ("observations", "life_events", "counselling", "screenings"):
        assert not one.tables[name].equals(two.tables[name]), f"{name} was not perturbed"
        assert len(one.tables[name]) == len(two.tables[name]), f"{name}: a perturbed row was rejected"
    assert one.checksum != two.checksum


def test_every_output_of_the_run_is_byte_identical(runs):
    _, made = runs
    one, two = _files(made["as-generated"].run_dir), _files(made["perturbed"].run_dir)
    assert sorted(one) == sorted(two)
    assert any(k.startswith("reports/") and k.endswith(".html") for k in one) and "report_data/list.parquet" in one
    different = [name for name in one if one[name] != two[name]]
    assert different == [], f"outputs that changed with records after the as-of date: {different}"
    for path in made["as-generated"].run_dir.rglob("*.xlsx"):
        other = made["perturbed"].run_dir / path.relative_to(made["as-generated"].run_dir)
        pd.testing.assert_frame_equal(pd.read_excel(path, sheet_name=None)[next(iter(pd.read_excel(path, sheet_name=None)))],
                                      pd.read_excel(other, sheet_name=None)[next(iter(pd.read_excel(other, sheet_name=None)))])
    m1, m2 = made["as-generated"].manifest, made["perturbed"].manifest
    assert m1["levels"] == m2["levels"] and m1["students_scored"] == m2["students_scored"]


def test_nothing_after_the_as_of_date_enters_report_data(runs):
    _, made = runs
    data = made["perturbed"].run_dir / "report_data"
    for name in ("screenings", "observations", "life_events", "counselling", "coverage"):
        frame = pd.read_parquet(data / f"{name}.parquet")
        column = "month" if name == "coverage" else "date"
        assert len(frame) and (pd.to_datetime(frame[column]) <= pd.Timestamp(AS_OF)).all(), name
    register = pd.read_parquet(data / "register.parquet")
    assert not (register["exit_date"] > pd.Timestamp(AS_OF)).any()
    assert "student_id" not in register.columns and "note" not in pd.read_parquet(data / "observations.parquet")


def test_student_file_of_a_past_date_is_identical(runs, tmp_path):
    from riskmodel.data import load_dataset
    from riskmodel.reports.notebooks import NOTEBOOK_DIR, execute

    root, made = runs
    dataset = load_dataset(root / "data-as-generated", settings=SETTINGS)
    later = pd.concat([t.loc[t["date"] > pd.Timestamp(AS_OF), "student_id"] for name, t in dataset.tables.items()
                       if name in ("observations", "counselling", "life_events", "screenings")])
    listed = pd.read_parquet(made["as-generated"].run_dir / "report_data" / "list.parquet")
    pseudonyms = dataset.tables["students"].set_index("student_id")["pseudonym"]
    busiest = [p for p in pseudonyms.loc[later.value_counts().index] if p in set(listed["pseudonym"])][:1]
    top = listed.sort_values("rank")["pseudonym"].iloc[0]
    for pseudonym in {*busiest, top}:
        pages = []
        for variant in ("as-generated", "perturbed"):
            html = tmp_path / f"{variant}-{pseudonym}.html"
            outcome = execute(NOTEBOOK_DIR / "40_student_file.ipynb", tmp_path / f"{variant}-{pseudonym}.ipynb", html,
                              {"run_dir": str(made[variant].run_dir), "pseudonym": pseudonym, "lang": "zh"})
            assert outcome["status"] == "ok", outcome["error"]
            pages.append(_normalised(html))
        assert pages[0] == pages[1], f"the student file of {pseudonym} changed with records after the as-of date"


def test_cut_at_blanks_later_exits_and_keeps_the_register(runs):
    tables = {"students": pd.DataFrame({"student_id": ["a", "b", "c"],
                                        "enrollment_date": pd.to_datetime(["2022-09-01", "2022-09-01", "2023-09-01"]),
                                        "exit_date": pd.to_datetime(["2023-01-31", "2024-06-30", None])}),
              "reviews": pd.DataFrame({"student_id": ["a", "b"], "date": pd.to_datetime(["2023-05-01", "2023-07-01"]),
                                       "next_review": pd.to_datetime(["2023-08-01", "2023-09-01"])})}
    cut = cut_at(tables, AS_OF)
    assert cut["students"]["student_id"].tolist() == ["a", "b"]
    assert cut["students"]["exit_date"].dt.date.astype(str).fillna("").tolist() == ["2023-01-31", "NaT"] or \
        cut["students"]["exit_date"].isna().tolist() == [False, True]
    assert cut["reviews"]["next_review"].dt.date.tolist() == [date(2023, 8, 1)]
    assert json.dumps(sorted(CUT_BY)) and set(CUT_BY) >= {t for t, s in contract()["tables"].items()
                                                             if s.get("dated_by")}
