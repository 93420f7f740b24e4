"""The scheduled run's report stage end to end: real papermill, real nbconvert, real files.

One small run with hostile names is made once per module; a second run (with a template that fails
for one cohort) goes into the same folder. Each test then checks one promise of issue 7.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from riskmodel.config import Settings
from riskmodel.reports import runner
from riskmodel.reports.notebooks import NOTEBOOK_DIR, execute
from riskmodel.reports.runner import publish

sys.path.insert(0, str(Path(__file__).parent))
from test_reports_fixtures import make_scored  # noqa: E402

HOSTILE_SCHOOL = "=cmd|' /C calc'!A0"
HOSTILE_COLLEGES = ("计算机学院", "../../etc", "<script>alert(1)</script>$x")
SETTINGS = Settings()


def _tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def reports_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
def first(reports_dir):
    scored = make_scored(students=90, colleges=HOSTILE_COLLEGES, school=HOSTILE_SCHOOL, as_of=date(2026, 2, 1))
    result = publish(scored, reports_dir, settings=SETTINGS, jobs=2)
    return result, _tree_digest(result.run_dir)


@pytest.fixture(scope="module")
def failing_templates(tmp_path_factory) -> Path:
    """The real templates, with one extra cell in the cohort report that fails for the ../../etc college."""
    folder = tmp_path_factory.mktemp("templates")
    for path in NOTEBOOK_DIR.glob("*.ipynb"):
        shutil.copy(path, folder / path.name)
    book = nbformat.read(folder / "20_cohort_report.ipynb", as_version=4)
    book.cells.insert(3, nbformat.v4.new_code_cell(
        'if rp.open_run(run_dir).cohort(cohort_level, cohort_id)["name"] == "../../etc":\n'
        '    raise RuntimeError("deliberate failure of one cohort")'))
    nbformat.write(book, folder / "20_cohort_report.ipynb")
    return folder


@pytest.fixture(scope="module")
def second(first, reports_dir, failing_templates):
    scored = make_scored(students=90, colleges=HOSTILE_COLLEGES, school=HOSTILE_SCHOOL, as_of=date(2026, 3, 1), seed=1)
    return publish(scored, reports_dir, settings=SETTINGS, jobs=2, templates=failing_templates, lang="en")


def test_run_folder_complete_and_owner_only(first):
    result, _ = first
    run_dir = result.run_dir
    assert result.exit_code == 0, result.outcomes
    assert set(result.outcomes) == {"data_quality", *result.manifest["failed"],
                                    *[c["key"] for c in result.manifest["cohorts"]]}
    assert len(result.manifest["cohorts"]) == 1 + len(HOSTILE_COLLEGES)
    for key, outcome in result.outcomes.items():
        assert (run_dir / outcome["html"]).is_file(), key
    for path in [run_dir, *run_dir.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: mode {oct(mode)}"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    for section in ("inputs", "configuration", "packages", "timings_seconds", "notebooks", "skipped", "model"):
        assert manifest[section], section
    assert manifest["inputs"]["data_checksum"] == "0" * 64
    assert "run" in (run_dir / "run.log").read_text(encoding="utf-8")
    assert (reports_dir_of(run_dir) / "latest").resolve() == run_dir.resolve()
    assert not list(run_dir.parent.glob(".*partial")), "no partial folder is left beside the runs"
    rejected = pd.read_csv(run_dir / "rejected_rows.csv", encoding="utf-8-sig")
    assert rejected[["table", "row", "column"]].values.tolist() == [["screenings", 3, "item_9"]], \
        "the run hands back every rejected row with its reason (DATA_CONTRACT: what riskmodel hands back)"
    assert 'href="rejected_rows.csv"' in (run_dir / "index.html").read_text(encoding="utf-8")


def reports_dir_of(run_dir: Path) -> Path:
    return run_dir.parent


def test_html_without_code_and_in_chinese(first):
    result, _ = first
    school_key = next(c["key"] for c in result.manifest["cohorts"] if c["level"] == "school")
    page = (result.run_dir / result.outcomes[school_key]["html"]).read_text(encoding="utf-8")
    assert "一、预警等级人数及与上次相比的变化" in page and "五、预警名单及原因" in page
    assert "import riskmodel" not in page and "rp.level_counts" not in page, "code cells are excluded"
    assert page.count("<img") >= 3, "the plots (distribution, trend, classes) are embedded"
    assert "四、本群体的主要风险因素" in page and "linear-gradient" in page, "the factors as a table with bars"
    assert "&lt;Axes" not in page and "<Axes" not in page


def test_hostile_names_are_harmless(first):
    result, _ = first
    run_dir = result.run_dir.resolve()
    for path in run_dir.rglob("*"):
        assert path.resolve().is_relative_to(run_dir), f"{path} escapes the run folder"
        assert not path.name.startswith(("-", "=")), path.name
    assert not (result.run_dir.parent / "etc").exists()
    pages = [p.read_text(encoding="utf-8") for p in run_dir.rglob("*.html")]
    for page in pages:
        assert "<script>alert(1)</script>" not in page, "a name from the data ran as HTML"
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;$x" in page for page in pages), "the name shows, escaped"
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert html_escaped(HOSTILE_SCHOOL) in index
    for csv in run_dir.rglob("*.csv"):
        for line in csv.read_text(encoding="utf-8-sig").splitlines()[1:]:
            assert not re.search(r'(^|,)"?[=+@]', line), f"{csv.name}: a cell starts a spreadsheet formula: {line}"


def html_escaped(value: str) -> str:
    import html

    return html.escape(value, quote=True)


def test_per_cohort_outputs_hold_only_that_cohort(first):
    result, _ = first
    run_dir = result.run_dir
    everyone = pd.read_parquet(run_dir / "report_data" / "list.parquet")
    for cohort in result.manifest["cohorts"]:
        rows = pd.read_parquet(run_dir / "lists" / cohort["key"] / "warning_list.parquet")
        assert len(rows) > 0
        assert (rows["school"] == cohort["school"]).all()
        if cohort["level"] != "school":
            assert (rows[cohort["level"]] == cohort["name"]).all(), cohort["key"]
            page = (run_dir / result.outcomes[cohort["key"]]["html"]).read_text(encoding="utf-8")
            others = everyone[(everyone["college"] != cohort["name"]) & (everyone["level"] != "none")]
            leaked = [p for p in others["pseudonym"] if p in page]
            assert not leaked, f"{cohort['key']}: other cohorts' students in its report"
            mine = everyone[(everyone["college"] == cohort["name"]) & (everyone["level"] != "none")]
            assert all(p in page for p in mine["pseudonym"]), "the cohort's listed students are in its report"


def test_no_student_id_or_note_reaches_a_report(first):
    result, _ = first
    for path in result.run_dir.rglob("*"):
        if path.suffix in (".html", ".ipynb", ".json", ".log") or path.parent.name == "report_data":
            data = path.read_bytes()
            assert b"SECRET-NOTE-TEXT" not in data, f"{path}: an observation note leaked"
            if path.suffix in (".html", ".ipynb", ".log"):
                assert not re.search(rb"S0\d{4}", data), f"{path}: a student_id leaked"


def test_failing_cohort_does_not_stop_the_others(second):
    assert second.exit_code == 1
    failed = second.failed
    assert len(failed) == 1 and "etc" in failed[0], failed
    bad = second.outcomes[failed[0]]
    assert "deliberate failure" in bad["error"]
    executed = nbformat.read(second.run_dir / bad["notebook"], as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors, "the failing notebook keeps its executed copy with the error"
    ok = [k for k, o in second.outcomes.items() if o["status"] == "ok"]
    assert len(ok) == len(second.outcomes) - 1
    assert second.manifest["failed"] == failed and second.manifest["outcome"] == "failed_reports"
    index = (second.run_dir / "index.html").read_text(encoding="utf-8")
    assert "failed" in index


def test_second_run_leaves_first_untouched_and_compares(first, second):
    result, digest = first
    assert second.run_dir != result.run_dir
    assert _tree_digest(result.run_dir) == digest, "the first run's files changed"
    history = pd.read_parquet(second.run_dir / "report_data" / "history.parquet")
    assert sorted(history["as_of"].dt.date.unique()) == [date(2026, 2, 1), date(2026, 3, 1)]
    school_key = next(c["key"] for c in second.manifest["cohorts"] if c["level"] == "school")
    page = (second.run_dir / second.outcomes[school_key]["html"]).read_text(encoding="utf-8")
    assert "1. Students at each level and change since the last run" in page, "English report"
    assert (second.run_dir.parent / "latest").resolve() == second.run_dir.resolve()


def test_level_counts_per_run_match_the_history(second):
    """levels.parquet (what the cohort reports read) counts exactly what the history holds."""
    from riskmodel import reports as rp
    from riskmodel.reports.report_data import LEVELS

    run = rp.open_run(second.run_dir)
    history = run.history
    for cohort in run.cohorts.itertuples(index=False):
        members = run.members(history, cohort.level, cohort.key)
        expected = pd.crosstab(members["as_of"], members["level"]).reindex(columns=list(LEVELS), fill_value=0)
        got = run.level_counts(cohort.level, cohort.key)
        assert len(got) == 2, "both runs"
        assert (got.to_numpy() == expected.to_numpy()).all() and list(got.index) == list(expected.index), cohort.key
    counts = rp.level_counts(run, "school", "", "en")
    assert counts.iloc[:, 2].notna().all(), "the school's counts at the previous run are shown"


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.ReportPool, "run", lambda *args, **kwargs: interrupted())  # Ctrl-C while reports run
    with pytest.raises(KeyboardInterrupt):
        publish(make_scored(students=30), tmp_path, settings=SETTINGS, jobs=1)
    assert calls
    assert [p.name for p in tmp_path.iterdir()] == [], "no run folder, partial folder or latest link"


def test_sigterm_during_the_pool_leaves_nothing(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_reports_fixtures import make_scored
        from riskmodel.config import Settings
        from riskmodel.reports.runner import publish
        publish(make_scored(students=40), {str(tmp_path)!r}, settings=Settings(), jobs=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # wait until the pool is starting the notebooks
        if any(tmp_path.glob(".run-*/notebooks")):
            time.sleep(2.0)
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the run never reached the notebooks")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    time.sleep(0.5)
    assert [p.name for p in tmp_path.iterdir()] == [], "an interrupted run leaves no partial folder"


def test_student_file_notebook_runs(first, tmp_path):
    result, _ = first
    listed = pd.read_parquet(result.run_dir / "report_data" / "list.parquet").query("level != 'none'")
    pseudonym = listed.sort_values("rank")["pseudonym"].iloc[0]
    outcome = execute(NOTEBOOK_DIR / "40_student_file.ipynb", tmp_path / "s.ipynb", tmp_path / "s.html",
                      {"run_dir": str(result.run_dir), "pseudonym": pseudonym, "lang": "zh"})
    assert outcome["status"] == "ok", outcome["error"]
    page = (tmp_path / "s.html").read_text(encoding="utf-8")
    assert pseudonym in page and "一生一档" in page and "<img" in page
    assert "SECRET-NOTE-TEXT" not in page
    # every figure cell shows its figure: shap's waterfall once switched matplotlib's interactive mode
    # off, and the waterfall and every later figure silently disappeared from the page
    import nbformat

    executed = nbformat.read(tmp_path / "s.ipynb", as_version=4)
    screened = (pd.read_parquet(result.run_dir / "report_data" / "screenings.parquet")["pseudonym"] == pseudonym).any()
    for cell in executed.cells:
        if cell.cell_type == "code" and ("plot_" in cell.source or "waterfall(" in cell.source):
            if "plot_scores" in cell.source and not screened:
                continue
            images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            assert len(images) == 1, cell.source


def test_model_development_notebook_runs(first, tmp_path):
    import numpy as np

    from riskmodel.models import registry
    from riskmodel.models.calibration import ProbabilityCalibrator
    from riskmodel.models.logistic import LogisticRisk
    from riskmodel.models.pipeline import FeatureSpec, RiskModel

    result, _ = first
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"student_id": [f"s{i}" for i in range(300)], "as_of": pd.Timestamp("2026-01-01"),
                          "phq9_total_latest": rng.integers(0, 27, 300).astype(float)})
    y = (rng.random(300) < frame["phq9_total_latest"] / 40).astype(int)
    spec = FeatureSpec.from_frame(frame)
    est = LogisticRisk().fit(spec.frame(frame), y)
    cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(frame)), y)
    model = RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={})
    model_dir = registry.save(model, tmp_path / "model", meta={"until": "2026-01-01", "horizon_days": 90,
                                                                 "metrics_holdout": {"auc": 0.71, "brier": 0.02}})
    outcome = execute(NOTEBOOK_DIR / "10_model_development.ipynb", tmp_path / "m.ipynb", tmp_path / "m.html",
                      {"model_dir": str(model_dir), "run_dir": str(result.run_dir), "lang": "en"})
    assert outcome["status"] == "ok", outcome["error"]
    page = (tmp_path / "m.html").read_text(encoding="utf-8")
    assert "Temporal validation" in page and "0.7100" in page and "<img" in page


def test_unknown_run_folder_fails_the_notebook_not_the_caller(tmp_path):
    outcome = execute(NOTEBOOK_DIR / "00_data_quality.ipynb", tmp_path / "q.ipynb", tmp_path / "q.html",
                      {"run_dir": str(tmp_path / "nowhere")})
    assert outcome["status"] == "failed" and "not a riskmodel run folder" in outcome["error"]
    assert (tmp_path / "q.ipynb").exists() and not (tmp_path / "q.html").exists()
    assert oct(os.stat(tmp_path / "q.ipynb").st_mode & 0o777) == "0o600"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _draw_with_glyph_check(run_dir: Path) -> None:
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from riskmodel import reports as rp

    run = rp.open_run(run_dir)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing.*")
        warnings.filterwarnings("error", message=".*missing from.*font.*")
        fig, axes = plt.subplots(1, 3)
        rp.plot_risk_distribution(run, "school", "", "zh", ax=axes[0])
        rp.plot_groups(run, "school", "", "zh", ax=axes[1])
        axes[2].set_title("心理危机预警 一级 二级 三级 学院 班级")
        fig.canvas.draw()
    plt.close(fig)


def test_chinese_glyphs_render_in_plots(first):
    import matplotlib as mpl

    from riskmodel.reports.plots import setup

    result, _ = first
    saved = mpl.rcParams.copy()
    try:
        assert setup() is not None, "no CJK font: run scripts/setup_system.sh (fonts-noto-cjk)"
        _draw_with_glyph_check(result.run_dir)
        # negative control: the same drawing with a Latin-only font must fail the check
        mpl.rcParams["font.sans-serif"] = ["DejaVu Sans"]
        with pytest.raises(UserWarning, match="(?i)glyph"):
            _draw_with_glyph_check(result.run_dir)
    finally:
        mpl.rcParams.update(saved)


# In CI the browser must be there (make test installs it); elsewhere a missing chromium is a skip.
@pytest.mark.skipif(_chromium() is None and not os.environ.get("CI"),
                    reason="chromium not installed: run scripts/setup_system.sh")
def test_headless_chromium_renders_index_and_cohort_report(first, tmp_path):
    result, _ = first
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    school_key = next(c["key"] for c in result.manifest["cohorts"] if c["level"] == "school")
    pages = {"index": result.run_dir / "index.html", "cohort": result.run_dir / result.outcomes[school_key]["html"]}
    for name, page in pages.items():
        profile = tmp_path / f"profile-{name}"
        dom = subprocess.run([_chromium(), *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
        if name == "index":
            assert "心理危机预警" in dom and "预警名单" in dom
            assert dom.count("<a href=") >= len(result.manifest["cohorts"]) + 2
        else:
            assert "一、预警等级人数及与上次相比的变化" in dom and "五、预警名单及原因" in dom
            assert dom.count("<img") >= 3 and "data:image/png;base64" in dom
            assert "linear-gradient" in dom, "the factor table's bars"
            assert "<script>alert(1)</script>" not in dom
        shot = tmp_path / f"{name}.png"
        subprocess.run([_chromium(), *flags, f"--user-data-dir={profile}-shot", "--window-size=1000,1400",
                        f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, cwd=tmp_path)
        import matplotlib.image as mpimg

        pixels = mpimg.imread(shot)
        assert pixels.std() > 0.02, f"{name}: the screenshot is blank"
        dark = (pixels[..., :3].mean(axis=2) < 0.5).mean()
        assert dark > 0.005, f"{name}: almost no text or plot drawn ({dark:.4f} dark pixels)"


@pytest.mark.parametrize("name", ["20_cohort_report"])
def test_notebooks_run_with_their_defaults_as_in_jupyterlab(first, reports_dir, tmp_path, name):
    """Opened from notebooks/ beside reports/ (what `riskmodel demo` makes), the defaults just work."""
    (tmp_path / "reports").symlink_to(reports_dir, target_is_directory=True)
    (tmp_path / "notebooks").mkdir()
    out = tmp_path / "notebooks" / f"{name}.ipynb"
    outcome = execute(NOTEBOOK_DIR / f"{name}.ipynb", out, None, {})
    assert outcome["status"] == "ok", outcome["error"]


def test_the_run_hands_back_every_scored_student_in_the_scores_file(first):
    """Contract v2: scores.parquet holds every scored student once, the same rows the reports read
    (report_data/list.parquet, pseudonymised)."""
    result, _ = first
    scores = pd.read_parquet(result.run_dir / "scores.parquet")
    report = pd.read_parquet(result.run_dir / "report_data" / "list.parquet")
    assert list(scores.columns[:11]) == ["as_of", "student_id", "pseudonym", "school", "college", "class_id",
                                         "score", "score_low", "score_high", "rank", "level"]
    assert len(scores) == 90 and not scores["student_id"].duplicated().any()
    assert set(scores["pseudonym"]) == set(report["pseudonym"])
    merged = scores.merge(report, on="pseudonym", suffixes=("", "_report"))
    assert (merged["level"] == merged["level_report"]).all() and (merged["rank"] == merged["rank_report"]).all()
    assert (scores["run_id"] == result.run_dir.name).all()


def test_the_student_waterfall_starts_at_the_models_average(first):
    """The student file's waterfall runs from the model's average log-odds, which the run stores, to the
    student's own; it started at 0 (E[f(X)] = 0, f(x) = the contributions' sum), which no auditor could
    hold against the listed risk."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from riskmodel.models.gbm import LightGBMRisk
    from riskmodel.reports import open_run
    from riskmodel.reports.explain import expected_log_odds, student_waterfall

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(3000, 4)), columns=["a", "b", "c", "d"])
    y = (rng.random(3000) < 1 / (1 + np.exp(4 - 1.5 * X["a"]))).astype(int)
    estimator = LightGBMRisk(n_estimators=40).fit(X, y)
    model = type("Model", (), {"estimator": estimator})()
    base = expected_log_odds(model)
    assert base < -1  # about the log-odds of a rare outcome, not 0
    assert np.allclose(estimator.contributions(X[:50]).sum(axis=1) + base, estimator.decision_function(X[:50]))

    result, _ = first
    run = open_run(result.run_dir)
    assert "base_value" in json.loads((result.run_dir / "report_data" / "run.json").read_text(encoding="utf-8"))
    run.info["base_value"] = -4.25
    pseudonym = run.table("contributions")["pseudonym"].iloc[0]
    figure = student_waterfall(run, pseudonym, "en").figure
    labels = " ".join(t.get_text() for axes in figure.axes for t in [*axes.texts, *axes.get_xticklabels()])
    assert "the model's average -4.25" in labels  # the start, in words
    # the run stores every scored student's feature values beside the contributions: each factor with its value
    values = run.table("feature_values")
    assert list(values.columns) == list(run.table("contributions").columns)
    assert values["pseudonym"].tolist() == run.table("contributions")["pseudonym"].tolist()
    ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert any("(this student: " in t for t in ticks) and not any("(yes or no)" in t for t in ticks), ticks


def test_the_index_title_reads_as_a_title(first):
    """It read '心理危机预警：本次运行：截止日期 2026-02-01' (two colons, a software word)."""
    import re

    result, _ = first
    page = (result.run_dir / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<h1>(.*?)</h1>", page).group(1) == "心理危机预警名单（截止日期 2026-02-01）"
    assert "<title>心理危机预警名单（截止日期 2026-02-01）</title>" in page
