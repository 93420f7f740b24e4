"""Lint of notebooks/30_model_audit.ipynb (STYLE.md habit 9); it is run end to end in test_audit_run.py."""

from __future__ import annotations

import ast
import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "30_model_audit.ipynb"


def _cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def test_committed_without_outputs():
    for cell in _cells():
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None


def test_thin_structure_one_parameters_cell_no_logic():
    cells = _cells()
    intro = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and all(w in intro for w in ("Purpose", "Inputs", "Outputs"))
    code = [c for c in cells if c["cell_type"] == "code"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0]
    for cell in code:
        source = "".join(cell["source"])
        for node in ast.walk(ast.parse(source)):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        assert "sys.path" not in source and "student_id" not in source
        assert len(source.splitlines()) <= 6, "a section is a call or two into riskmodel.audit"
    headings = ["".join(c["source"]).splitlines()[0] for c in cells if c["cell_type"] == "markdown"][1:]
    numbered = [h for h in headings if h.startswith("## ")]
    assert [h.split(".")[0] for h in numbered] == [f"## {i}" for i in range(1, len(numbered) + 1)]


def test_parameters_are_commented_literals():
    from riskmodel.reports.notebooks import notebook_parameters

    cell = next(c for c in _cells() if c["cell_type"] == "code")
    lines = "".join(cell["source"]).splitlines()
    for node in ast.parse("\n".join(lines)).body:
        assert isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
        ast.literal_eval(node.value)
        assert "#" in lines[node.lineno - 1]
    documented = notebook_parameters(NOTEBOOK)
    assert set(documented) == {"audit_dir", "lang", "gap_metric"} and all(s["help"] for s in documented.values())
