"""Lint of the reports area's notebook templates (STYLE.md habit 9 and the papermill paragraph)."""

from __future__ import annotations

import ast
import json

import pytest

from riskmodel.errors import ConfigError
from riskmodel.reports.notebooks import NOTEBOOK_DIR, check_parameters, notebook_parameters

NOTEBOOKS = ["00_data_quality", "10_model_development", "20_cohort_report", "40_student_file"]


def _cells(name: str) -> list[dict]:
    return json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs(name):
    for cell in _cells(name):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{name}: a code cell has outputs"
            assert cell.get("execution_count") is None, f"{name}: a code cell has an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_thin_structure(name):
    cells = _cells(name)
    assert cells[0]["cell_type"] == "markdown"
    intro = "".join(cells[0]["source"])
    for word in ("Purpose", "Inputs", "Outputs"):
        assert word in intro, f"{name}: the first markdown cell must say {word}"
    code = [c for c in cells if c["cell_type"] == "code"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0], f"{name}: the first code cell, and only it, is tagged parameters"
    for cell in code:
        source = "".join(cell["source"])
        tree = ast.parse(source)
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), \
                f"{name}: no def/class/lambda in notebooks; put logic in riskmodel.reports"
        assert "sys.path" not in source and "import sys" not in source, f"{name}: no sys.path edits"
        assert "student_id" not in source, f"{name}: notebooks never handle student IDs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_are_commented_literals(name):
    cell = next(c for c in _cells(name) if c["cell_type"] == "code")
    lines = "".join(cell["source"]).splitlines()
    tree = ast.parse("\n".join(lines))
    assert tree.body, f"{name}: empty parameters cell"
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name), \
            f"{name}: write each parameter as `name: type = literal  # what it means`"
        ast.literal_eval(node.value)  # a literal, nothing computed
        assert "#" in lines[node.lineno - 1], f"{name}: parameter {node.target.id} needs a comment"
        assert not any(w in node.target.id.lower() for w in ("key", "secret", "password", "token")), \
            f"{name}: {node.target.id} looks like a secret; secrets are never notebook parameters"
    documented = notebook_parameters(NOTEBOOK_DIR / f"{name}.ipynb")
    assert all(spec["help"] for spec in documented.values()), "papermill --help-notebook shows each comment"


def test_unknown_and_secret_parameters_rejected_before_running():
    path = NOTEBOOK_DIR / "20_cohort_report.ipynb"
    check_parameters(path, {"run_dir": "x", "lang": "en"})
    with pytest.raises(ConfigError, match="unknown parameter.*cohort_idd"):
        check_parameters(path, {"cohort_idd": "x"})
    with pytest.raises(ConfigError, match="unknown"):
        check_parameters(path, {"key_path": "/etc/riskmodel/key"})
