"""The audit end to end on a small synthetic cohort with a planted unfairness, through the real stages:
synth -> loader -> features/labels -> LightGBM -> warning levels -> audit tables, model card, notebook."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskmodel.audit import open_audit, run_audit
from riskmodel.audit.reproduce import list_hash, verify_run
from riskmodel.audit.run import TABLES, _score_months, audit_dates
from riskmodel.config import Settings
from riskmodel.errors import ConfigError, PreflightError

UNTIL = "2024-09-01"
AUDIT_FROM, AUDIT_TO = "2024-09-01", "2025-05-01"


def _settings(**audit) -> Settings:
    return Settings.model_validate({
        "model": {"history_months": 12, "calibration_months": 3, "holdout_months": 0, "refit": False,
                  "n_estimators": 40, "early_stopping_rounds": 10},
        "audit": {"bootstrap": 100, **audit},
    })


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """A university of ~4,000 students over three years; women's outcomes recorded 30% of the time.

    The planted group is gender=F rather than left_behind (12% of students) only for the test's
    speed: at 4,000 students the left-behind group has too few recorded outcomes to be assessed
    (which the audit then says). benchmarks/bench_audit.py plants left_behind at 20,000 students.
    """
    from riskmodel.data import load_dataset
    from riskmodel.models import save, train_model
    from riskmodel.synth import generate, write

    root = tmp_path_factory.mktemp("audit")
    write(generate(students=4000, years=3, seed=11, under_recorded=("gender=F", 0.3)), root / "data")
    settings = _settings()
    dataset = load_dataset(root / "data", settings=settings)
    model = train_model(dataset, UNTIL, settings=settings, kind="lightgbm")
    save(model, root / "model")
    return {"root": root, "dataset": dataset, "model": model, "settings": settings}


@pytest.fixture(scope="module")
def audit(cohort):
    return run_audit(cohort["dataset"], cohort["model"], date_from=AUDIT_FROM, date_to=AUDIT_TO,
                     settings=cohort["settings"], out_dir=cohort["root"] / "audit", lang="en")


def test_every_table_written_atomically_owner_only_and_without_student_ids(audit, cohort):
    folder = audit.out_dir
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in TABLES:
        csv, parquet = folder / f"{name}.csv", folder / f"{name}.parquet"
        assert csv.read_bytes().startswith(b"\xef\xbb\xbf"), f"{name}.csv lacks the UTF-8 BOM Excel needs"
        assert stat.S_IMODE(csv.stat().st_mode) == 0o600 and stat.S_IMODE(parquet.stat().st_mode) == 0o600
        table = pd.read_parquet(parquet)
        assert "student_id" not in table.columns and "pseudonym" not in table.columns
    ids = cohort["dataset"].table("students")["student_id"].astype(str).head(200).tolist()
    everything = "".join(p.read_text(encoding="utf-8-sig", errors="ignore") for p in folder.iterdir())
    assert not any(sid in everything for sid in ids), "a student identifier reached an audit output"
    assert not list(folder.glob(".*")), "a temporary file was left behind"


def test_the_planted_under_recording_is_flagged_by_the_group_table(audit):
    groups = audit.tables["groups"]
    row = groups.query("scorer == 'rules' and grouping == 'gender' and group == 'F' "
                       "and metric == 'observed_expected'").iloc[0]
    assert row["status"] == "ok"
    assert row["flagged"], f"F O/E {row['estimate']:.2f}, gap {row['gap']:.2f} [{row['gap_low']:.2f}, {row['gap_high']:.2f}]"
    assert row["gap_high"] < 0 and row["estimate"] < 0.8
    assert any(g["scorer"] == "rules" and g["grouping"] == "gender" and g["group"] == "F"
               and g["metric"] == "observed_expected" for g in audit.summary["flagged_gaps"])
    # groups with too few recorded outcomes are reported as such, with no number
    small = groups[groups["status"] == "insufficient"]
    assert small["estimate"].isna().all() and not small["flagged"].any()


def test_performance_pooled_by_month_and_against_the_rules_baseline(audit):
    perf = audit.tables["performance"]
    months = [d.date().isoformat() for d in audit_dates(AUDIT_FROM, AUDIT_TO)]
    assert set(perf["period"]) == {"all", *months}
    assert set(perf["scorer"]) == {"model", "rules"}
    pooled = perf.query("period == 'all'").set_index(["scorer", "metric"])
    for scorer in ("model", "rules"):
        assert 0.5 < pooled.loc[(scorer, "auc"), "estimate"] < 1.0
        assert pooled.loc[(scorer, "auc"), "low"] < pooled.loc[(scorer, "auc"), "high"]
        assert pooled.loc[(scorer, "recall_III"), "estimate"] >= pooled.loc[(scorer, "recall_I"), "estimate"]
    assert audit.summary["rows"]["usable"] == int(perf.query("period == 'all'")["n"].iloc[0])


def test_audit_levels_are_the_levels_the_warning_list_issues(cohort):
    from riskmodel.features import build_features
    from riskmodel.warning import score_features

    as_of = pd.Timestamp("2024-11-01")
    features = build_features(cohort["dataset"], [as_of], settings=cohort["settings"])
    issued = score_features(features, cohort["model"], as_of, students=cohort["dataset"].table("students"),
                            settings=cohort["settings"], lang="en").scores.set_index("student_id")
    mine = _score_months(features, cohort["model"], [as_of], settings=cohort["settings"]).set_index("student_id")
    pd.testing.assert_series_equal(mine["level"], issued.loc[mine.index, "level"])
    np.testing.assert_allclose(mine["score"], issued.loc[mine.index, "score"])


def test_stability_drift_and_importance(audit, cohort):
    stability = audit.tables["stability"]
    assert len(stability) == len(audit_dates(AUDIT_FROM, AUDIT_TO)) - 1
    assert (stability["listed_now"] == stability["stayed"] + stability["entered"]).all()
    assert ((0 <= stability["jaccard"]) & (stability["jaccard"] <= 1)).all()
    drift = audit.tables["drift"]
    assert set(drift["variable"]) == {*cohort["model"].features, "score"}
    assert not drift.loc[drift["variable"].str.startswith("cal_"), "flagged"].any()
    importance = audit.tables["importance"]
    overall = importance.query("grouping == 'all'")
    assert overall["share"].sum() == pytest.approx(1.0)
    assert overall.iloc[0]["family"] in set(importance["family"])
    assert {"gender", "left_behind"} <= set(importance["grouping"])


def test_levels_table_counts_rule_listings_against_capacity(audit, cohort):
    from riskmodel.warning import capacities

    levels = audit.tables["levels"]
    assert len(levels) == len(audit_dates(AUDIT_FROM, AUDIT_TO))
    first = levels.iloc[0]
    assert first["capacity_II"] == capacities(int(first["scored"]), settings=cohort["settings"])["II"]
    assert (levels["listed_by_rule"] <= levels["listed_I"]).all()
    assert audit.summary["months_rules_over_level_I_capacity"] == int((levels["listed_by_rule"] > levels["capacity_I"]).sum())


def test_feedback_table_splits_listed_students_by_counselling(audit):
    feedback = audit.tables["feedback"]
    assert set(feedback.columns) == {"listed", "counselled", "n", "outcomes", "outcome_rate"}
    assert feedback["n"].sum() == audit.summary["rows"]["usable"]
    assert feedback["listed"].any() and (~feedback["listed"]).any()


def test_model_card_says_what_the_model_is_not_for(audit):
    card = (audit.out_dir / "model_card.md").read_text(encoding="utf-8")
    for words in ("decision support", "not a diagnosis", "Feedback effect of interventions", "gender",
                  audit.summary["model"]["version"], AUDIT_FROM):
        assert words in card, words
    assert "| ROC AUC |" in card


def test_period_inside_training_and_existing_output_are_refused(cohort, tmp_path):
    with pytest.raises(ConfigError, match="before the model's training data end"):
        run_audit(cohort["dataset"], cohort["model"], date_from="2024-06-01", date_to="2024-12-01",
                  settings=cohort["settings"], out_dir=tmp_path / "a")
    (tmp_path / "b").mkdir()
    with pytest.raises(PreflightError, match="never overwritten"):
        run_audit(cohort["dataset"], cohort["model"], date_from=AUDIT_FROM, date_to=AUDIT_TO,
                  settings=cohort["settings"], out_dir=tmp_path / "b")


def test_notebook_runs_under_papermill_on_the_audit_folder(audit, tmp_path):
    import papermill

    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "30_model_audit.ipynb"
    out = tmp_path / "30.ipynb"
    papermill.execute_notebook(str(notebook), str(out), parameters={"audit_dir": str(audit.out_dir), "lang": "zh"},
                               cwd=str(notebook.parent), progress_bar=False)
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
    assert images >= 7  # section 10 plots the review loop
    assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    loop_cells = [c for c in cells if "loop_overview" in "".join(c["source"]) or "plot_loop" in "".join(c["source"])]
    assert len(loop_cells) == 2 and all(c["outputs"] for c in loop_cells)
    assert not any(o.get("name") == "stderr" for c in loop_cells for o in c["outputs"]), "a warning in section 10"
    tables = open_audit(audit.out_dir)
    assert "模型说明卡" not in tables["card"]  # the card was written in English; the page shows it in its own language
    html = "".join("".join(o["data"]["text/html"]) for c in cells for o in c.get("outputs", [])
                   if "text/html" in o.get("data", {}))
    markdown = "\n".join("".join(o["data"]["text/markdown"]) for c in cells for o in c.get("outputs", [])
                         if "text/markdown" in o.get("data", {}))
    assert html.count("<h1>") == 1 and "<h1>模型审计：" in html  # the page's title (the exported page's <title>)
    assert "\n### 模型说明卡：" in "\n" + markdown and "\n# " not in "\n" + markdown  # nested under 一、模型说明卡
    assert ">True<" not in html and ">False<" not in html and "outcome_rate" not in html


def test_verify_run_recomputes_a_recorded_list_and_detects_a_change(cohort, tmp_path):
    from riskmodel.warning import score_as_of

    as_of = "2024-12-01"
    settings = cohort["settings"]
    result = score_as_of(cohort["dataset"], cohort["model"], as_of, settings=settings, run_id="run-test", lang="en")
    run = tmp_path / "reports" / "run-test"
    run.mkdir(parents=True)
    result.warning_list.to_parquet(run / "warning_list.parquet")
    manifest = {"run_id": "run-test", "as_of": as_of, "lang": "en", "previous_run": None,
                "inputs": {"data_checksum": cohort["dataset"].checksum},
                "model": {"version": cohort["model"].version}, "configuration": settings.as_dict()}
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    check = verify_run(run, cohort["root"] / "data", cohort["root"] / "model")
    assert check, check.reasons
    assert check.recorded_hash == check.recomputed_hash == list_hash(result.warning_list)
    tampered = result.warning_list.copy()
    tampered.loc[tampered.index[0], "level"] = "III" if tampered.loc[tampered.index[0], "level"] != "III" else "II"
    tampered.to_parquet(run / "warning_list.parquet")
    check = verify_run(run, cohort["root"] / "data", cohort["root"] / "model")
    assert not check and not check.list_matches and check.data_matches and check.rows_differing == 1


def test_cli_verb_refuses_a_period_inside_the_training_window(cohort, tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    result = CliRunner().invoke(app, ["audit", "--data", str(cohort["root"] / "data"), "--model",
                                      str(cohort["root"] / "model"), "--from", "2024-05-01", "--to", "2024-12-01",
                                      "--out", str(tmp_path / "audit")])
    assert result.exit_code == 2, result.output
    assert "training data end" in result.output and not (tmp_path / "audit").exists()


# ------------------------------------------------------------------------------------------ the review loop
def test_review_loop_tables_are_written_without_ids_and_small_cells(audit, cohort):
    from riskmodel.audit.loop import LOOP_TABLES

    small = cohort["settings"].reports.small_cell
    ids = set(cohort["dataset"].table("students")["student_id"].astype(str))
    for name in LOOP_TABLES:
        parquet = audit.out_dir / f"{name}.parquet"
        assert (audit.out_dir / f"{name}.csv").read_bytes().startswith(b"\xef\xbb\xbf")
        table = pd.read_parquet(parquet)
        assert len(table) and "student_id" not in table.columns
        assert not ids & set(table.astype(str).to_numpy().ravel())
        for column in ("triggers", "rows", "outcomes", "awaiting_interview", "interview_overdue", "under_review",
                       "review_overdue", "released"):
            if column in table.columns:
                values = table[column].dropna().astype(int)
                assert not values.between(0, small - 1).any(), (name, column)  # the audit's small-cell rule
    assert set(LOOP_TABLES) <= set(open_audit(audit.out_dir))
    assert len(cohort["dataset"].table("reviews")["note"].dropna())  # the synthetic notes exist ...
    written = "".join(p.read_bytes().decode("utf-8", errors="ignore") for p in audit.out_dir.iterdir())
    assert "研判记录" not in written  # ... and reach no audit output (every synthetic note begins so)


def test_review_loop_interviews_overdue_agreement_and_released(audit, cohort):
    tables = audit.tables
    interviews = tables["loop_interviews"].set_index(["grouping", "group"]).loc[("all", "all")]
    assert interviews["triggers"] > 50 and interviews["due_days"] == cohort["settings"].warning.interview_due_days
    # the synthetic centre sees most triggers within a week, some late, a few never (docs/synthetic.md)
    assert 0.5 <= interviews["share_within_due"] <= 0.97
    assert interviews["median_days"] <= 7 and interviews["share_not_reviewed"] < 0.2
    assert {"grade", "college"} <= set(tables["loop_interviews"]["grouping"])
    overdue = tables["loop_overdue"].query("grouping == 'all'")
    assert len(overdue) == len(audit_dates(AUDIT_FROM, AUDIT_TO))
    assert (overdue["under_review"] > 0).all()
    assert (overdue["review_overdue"].fillna(0) <= overdue["under_review"]).all()
    agreement = tables["loop_agreement"]
    overall = agreement.query("grouping == 'all'").iloc[0]
    assert overall["rows"] > 100 and -1 <= overall["kappa_linear"] <= 1 and 0 <= overall["exact"] <= 1
    cross = agreement.query("grouping == 'crosstab'")
    assert len(cross) == 16 and cross["rows"].sum() <= overall["rows"]
    released = tables["loop_released"].query("grouping == 'all'").set_index("state")
    assert released.loc["released", "rows"] > 100 and released.loc["under_review", "rows"] > 100
    assert released.loc["none", "rows"] > released.loc["released", "rows"]
    loop = audit.summary["review_loop"]
    assert loop["triggers"] == interviews["triggers"] and loop["kappa_linear"] == pytest.approx(overall["kappa_linear"],
                                                                                               abs=1e-4)
    assert "## The review loop" in audit.card and "Safety:" in audit.card
    # the released students' rate against no case: the ratio of the two rates, a cluster-bootstrap interval around
    # it, and the card's verdict follows the interval
    row = released.loc["released"]
    assert row["ratio_to_none"] == pytest.approx(row["outcome_rate"] / released.loc["none", "outcome_rate"])
    assert row["ratio_low"] <= row["ratio_to_none"] <= row["ratio_high"]
    assert loop["released_ratio_to_no_case"] == pytest.approx(row["ratio_to_none"], abs=1e-4)
    verdict = ("is higher than in no case" if row["ratio_low"] > 1 else "is lower than in no case"
               if row["ratio_high"] < 1 else "does not differ detectably")
    assert verdict in audit.card


def test_review_loop_waits_count_from_the_trigger_to_the_first_review_on_or_after_it():
    from riskmodel.audit.loop import _interviews

    dates = pd.to_datetime(["2025-01-01", "2025-03-01"])
    triggers = pd.DataFrame({"student_id": ["a", "b", "c", "d"], "rule": "phq9_item9",
                             "date": pd.to_datetime(["2025-01-05", "2025-01-10", "2025-02-01", "2024-12-01"])})
    reviews = pd.DataFrame({"student_id": ["a", "a", "b", "d"],
                            "date": pd.to_datetime(["2025-01-04", "2025-01-08", "2025-02-10", "2024-12-02"])})
    waits = _interviews(triggers, reviews, dates, due=7, horizon=90).set_index("student_id")
    assert sorted(waits.index) == ["a", "b", "c"]  # d's trigger is before the period
    assert waits.loc["a", "days"] == 3 and waits.loc["a", "within_due"]  # the review before the trigger does not count
    assert waits.loc["b", "days"] == 31 and not waits.loc["b", "within_due"]
    assert np.isnan(waits.loc["c", "days"]) and not waits.loc["c", "within_due"]


def test_review_loop_is_left_out_without_a_reviews_table(cohort):
    from riskmodel.audit.card import _loop_section
    from riskmodel.audit.loop import loop_tables
    from riskmodel.data import Dataset

    tables = {k: v for k, v in cohort["dataset"].tables.items() if k != "reviews"}
    assert loop_tables(Dataset(tables=tables), pd.DataFrame(), pd.DataFrame(), cohort["model"], [],
                       settings=cohort["settings"]) == {}
    summary = {"review_loop": {}, "settings": {"labels": {"horizon_days": 90}}}
    assert "no reviews table" in _loop_section(summary, "en")[1]


# ------------------------------------------------------------------------ the issued scores (scores.parquet)
ISSUED = "2024-10-01"  # one audited month with a scores file written by `riskmodel score`


@pytest.fixture(scope="module")
def issued(cohort):
    """The scores file `riskmodel score` wrote for ISSUED (the real CLI, the real file)."""
    import yaml
    from typer.testing import CliRunner

    from riskmodel.cli import app

    root = cohort["root"]
    (root / "settings.yaml").write_text(yaml.safe_dump(cohort["settings"].as_dict()), encoding="utf-8")
    result = CliRunner().invoke(app, ["score", "--data", str(root / "data"), "--model", str(root / "model"),
                                      "--as-of", ISSUED, "--out", str(root / "issued"), "--config",
                                      str(root / "settings.yaml"), "--lang", "en"])
    assert result.exit_code == 0, result.output
    return root / "issued"


def _audit_two_months(cohort, out, scores=()):
    return run_audit(cohort["dataset"], cohort["model"], date_from="2024-09-01", date_to=ISSUED,
                     settings=cohort["settings"], out_dir=out, lang="en", scores=scores)


def test_audit_reads_the_issued_scores_file_and_says_it_reproduces_it(cohort, issued, tmp_path):
    """The audit re-scores every enrolled student itself; given the run's scores file, the month is judged
    as issued, and the summary says the re-scoring reproduces every issued score and level."""
    plain = _audit_two_months(cohort, tmp_path / "plain")
    audit = _audit_two_months(cohort, tmp_path / "issued", scores=[issued])
    sources = json.loads((audit.out_dir / "audit_summary.json").read_text())["scores"]
    rows = len(pd.read_parquet(issued / "scores.parquet"))
    assert sources["2024-09-01"] == {"scores": "re-scored by the audit"}
    month = sources[ISSUED]
    assert month["scores"] == "issued" and month["source"] == [str(issued / "scores.parquet")]
    assert month["rows"] == rows == month["scores_reproduced"] == month["levels_reproduced"]
    assert month["largest_score_difference"] <= 5e-5
    # the same levels give the same level counts; the same scores to the file's 4 decimals give the same
    # figures up to the ties that rounding makes (a monthly ROC AUC moved by 0.002 in one of 96)
    perf, base = (t.set_index(["scorer", "period", "metric"])["estimate"] for t in
                  (audit.tables["performance"], plain.tables["performance"]))
    pd.testing.assert_frame_equal(audit.tables["levels"], plain.tables["levels"])
    np.testing.assert_allclose(perf.to_numpy(dtype=float), base.loc[perf.index].to_numpy(dtype=float), atol=1e-2)


def test_audit_judges_the_levels_as_issued_not_as_re_scored(cohort, issued, tmp_path):
    scores = pd.read_parquet(issued / "scores.parquet")
    unlisted = scores.index[scores["level"] == "none"][:7]
    scores.loc[unlisted, "level"] = "III"  # issued with 7 more students at level III than the model gives
    changed = tmp_path / "changed.parquet"
    scores.to_parquet(changed)
    audit = _audit_two_months(cohort, tmp_path / "audit", scores=[changed])
    plain = _score_months(build_features_of(cohort, ISSUED), cohort["model"], [pd.Timestamp(ISSUED)],
                          settings=cohort["settings"], tables=cohort["dataset"].tables)
    levels = audit.tables["levels"].set_index("as_of").loc[ISSUED]
    assert int(levels["listed_III"]) == int((plain["level"] == "III").sum()) + 7
    month = audit.summary["scores"][ISSUED]
    assert month["levels_reproduced"] == len(scores) - 7 and month["scores_reproduced"] == len(scores)


def build_features_of(cohort, as_of):
    from riskmodel.features import build_features

    return build_features(cohort["dataset"], [pd.Timestamp(as_of)], settings=cohort["settings"])


def test_a_scores_file_of_another_register_model_or_month_is_refused(cohort, issued, tmp_path):
    from riskmodel.errors import ContractError, ModelMismatchError

    scores = pd.read_parquet(issued / "scores.parquet")
    cases = {"missing.parquet": (scores.iloc[1:], ContractError, r"enrolled student\(s\) are missing"),
             "model.parquet": (scores.assign(model_version="0123456789abcdef"), ModelMismatchError, "written by model"),
             "month.parquet": (scores.assign(as_of=pd.Timestamp("2024-12-01")), ConfigError, "not an audited month"),
             "twice.parquet": (pd.concat([scores, scores.iloc[:1]]), ContractError, "twice")}
    for name, (frame, error, words) in cases.items():
        frame.to_parquet(tmp_path / name)
        with pytest.raises(error, match=words):
            _audit_two_months(cohort, tmp_path / f"out-{name}", scores=[tmp_path / name])
        assert not (tmp_path / f"out-{name}").exists()
    with pytest.raises(ConfigError, match="no scores file"):
        _audit_two_months(cohort, tmp_path / "out-none", scores=[tmp_path])


def test_cli_audit_reads_a_run_folder_given_with_scores(cohort, issued, tmp_path):
    from typer.testing import CliRunner

    from riskmodel.cli import app

    root = cohort["root"]
    result = CliRunner().invoke(app, ["audit", "--data", str(root / "data"), "--model", str(root / "model"),
                                      "--from", "2024-09-01", "--to", ISSUED, "--out", str(tmp_path / "audit"),
                                      "--config", str(root / "settings.yaml"), "--scores", str(issued)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "audit" / "audit_summary.json").read_text())
    assert summary["scores"][ISSUED]["scores"] == "issued"
