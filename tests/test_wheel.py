"""An installed wheel runs reports: it carries the notebook templates (riskmodel/notebooks), found through
importlib.resources, not through the repository's folder (issue 12)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs outside the repository with only the installed wheel on the path: the test fixture's scored
# cohort (tests/test_reports_fixtures.py, loaded by file), then publish: the data-quality report and one
# cohort report, executed by papermill from the wheel's templates.
SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    from pathlib import Path
    import riskmodel
    from riskmodel.config import Settings
    from riskmodel.reports.notebooks import NOTEBOOK_DIR
    from riskmodel.reports.runner import publish

    spec = importlib.util.spec_from_file_location("fixtures", sys.argv[1])
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    scored = fixtures.make_scored(students=30, colleges=("计算机学院",))
    result = publish(scored, Path("reports"), settings=Settings(), jobs=1, lang="en")
    print(json.dumps({"package": riskmodel.__file__, "templates": str(NOTEBOOK_DIR),
                      "exit_code": result.exit_code, "run_dir": str(result.run_dir)}))
""")


def _source_copy(folder: Path) -> Path:
    """What the wheel is built from (pyproject, README, the package with its link, notebooks/), outside
    the repository so that the build's own folders (build/, *.egg-info) never land in it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, folder / name)
    shutil.copytree(REPO / "notebooks", folder / "notebooks", ignore=ignore)
    shutil.copytree(REPO / "riskmodel", folder / "riskmodel", symlinks=True, ignore=ignore)
    return folder


@pytest.mark.slow
def test_an_installed_wheel_runs_a_report_from_outside_the_repository(tmp_path):
    (tmp_path / "src").mkdir()
    source = _source_copy(tmp_path / "src")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("riskmodel-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    templates = {Path(n).name for n in names if n.startswith("riskmodel/notebooks/")}
    assert templates == {p.name for p in (REPO / "notebooks").glob("*.ipynb")}
    assert "riskmodel/data/contract.yaml" in names and "riskmodel/vocab.py" in names

    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                                "--disable-pip-version-check", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert (site / "riskmodel" / "notebooks" / "00_data_quality.ipynb").is_file()  # a real file, not a link

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(site)  # papermill's kernel inherits it: the notebooks import the wheel too
    ran = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO / "tests" / "test_reports_fixtures.py")],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    assert report["package"].startswith(str(site)) and report["templates"].startswith(str(site))
    assert report["exit_code"] == 0
    pages = sorted(p.name for p in Path(report["run_dir"]).rglob("*.html"))
    assert any("data_quality" in name for name in pages), pages
    assert len(pages) >= 2, pages
