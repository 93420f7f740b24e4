"""The one-way flow of docs/architecture.md, checked on every import of every module (ast, lazy imports
inside functions included): data -> instruments -> features/labels -> models -> warning -> reports/audit,
with config, errors, i18n, outputs, vocab, rulefiles and yamltext as leaves anyone may read."""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

import riskmodel

PACKAGE = Path(riskmodel.__file__).parent

# Leaves: read from anywhere, import only other leaves
LEAVES = {"config", "errors", "i18n", "outputs", "vocab", "rulefiles", "yamltext"}
# Rank of each stage: a module may import its own stage, leaves and stages of a lower rank only
RANK = {
    "data": 1,
    "instruments": 2,
    "synth": 3,  # the synthetic centre: writes the contract's tables, scores its own screenings
    "validation": 4, "labels": 4, "features": 4,
    "models": 5,
    "warning": 6,
    "reports": 7, "audit": 7,
    "handover": 7,  # one student's file to another centre: reads data, scores screenings, reads run folders
    "cli": 8, "__main__": 8,
}
# The instrument specifications are data too: riskmodel.data reads them to reject answers out of range
# (docs/architecture.md). These modules form that layer: they import leaves and each other only.
SPECIFICATION_LAYER = {"riskmodel.instruments.specs", "riskmodel.instruments.rules",
                       "riskmodel.instruments.problems"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=1)
def imports() -> dict[str, set[str]]:
    """Module -> the riskmodel modules it imports (``from riskmodel import x`` resolved to riskmodel.x)."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        graph[name]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}: relative import; write riskmodel.<module>"
                base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t.startswith("riskmodel.") and t != name}
    return graph


def stage(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_the_graph_sees_every_module_and_known_imports():
    graph = imports()
    assert "riskmodel.instruments.problems" in graph["riskmodel.data.load"]
    assert "riskmodel.vocab" in graph["riskmodel.warning.levels"]
    assert {stage(m) for m in graph} - {"__init__"} <= LEAVES | set(RANK), "a new stage: give it a rank here"


def test_every_import_flows_one_way():
    wrong = []
    for module, targets in imports().items():
        own = stage(module)
        for target in targets:
            other = stage(target)
            if other in LEAVES or other == own:
                continue
            if own in LEAVES:
                wrong.append(f"{module} -> {target} (a leaf imports a stage)")
            elif target in SPECIFICATION_LAYER and RANK[own] >= RANK["data"]:
                continue
            elif RANK.get(own, 0) < RANK.get(other, 0) or (RANK.get(own) == RANK.get(other) and own != other
                                                           and _reaches(other, own)):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_specification_layer_imports_no_stage():
    graph = imports()
    for module in SPECIFICATION_LAYER:
        assert {t for t in graph[module] if stage(t) not in LEAVES} <= SPECIFICATION_LAYER, module


@lru_cache(maxsize=1)
def _stage_graph() -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for module, targets in imports().items():
        for target in targets:
            if stage(target) != stage(module) and target not in SPECIFICATION_LAYER:
                out[stage(module)].add(stage(target))
    return out


def _reaches(start: str, goal: str) -> bool:
    graph, seen, todo = _stage_graph(), set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return False


def test_no_two_stages_import_each_other():
    graph = _stage_graph()
    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a < b and _reaches(b, a))
    assert cycles == []  # data and instruments did (instruments.rules read the stages from data)
