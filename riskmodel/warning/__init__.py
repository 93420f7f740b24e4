"""riskmodel.warning: hard rules, warning levels, reasons, the warning list and its exports.

The names below are imported when first used (PEP 562), not when the package is: a report kernel
that needs only :mod:`riskmodel.warning.localise` does not pay for scikit-learn and openpyxl (0.9 s
of every kernel's first ``import riskmodel.reports``).

Example
-------
>>> from riskmodel.warning import score_as_of, write_warning_list
>>> # result = score_as_of(dataset, model, "2026-03-01", settings=settings, run_id="2026-03", lang="zh")
>>> # paths = write_warning_list(result.warning_list, "runs/2026-03", lang="zh")
"""

from __future__ import annotations

import importlib

# public name -> (module, attribute)
_EXPORTS = {
    "neutralise": ("export", "neutralise"),
    "write_warning_list": ("export", "write_warning_list"),
    "HardRule": ("hard_rules", "HardRule"),
    "evaluate_hard_rules": ("hard_rules", "evaluate_hard_rules"),
    "load_hard_rules": ("hard_rules", "load_hard_rules"),
    "assign_levels": ("levels", "assign_levels"),
    "capacities": ("levels", "capacities"),
    "explain": ("reasons", "explain"),
    **{name: ("warning_list", name) for name in (
        "EXTRA_COLUMNS", "LIST_COLUMNS", "ScoreResult", "combine_results", "compare_with_previous",
        "make_warning_list", "previous_by_school", "schools_of", "score_as_of", "score_features",
        "score_school", "split_by_school")},
    "make_list": ("warning_list", "make_warning_list"),  # the name docs/architecture.md uses
}
# (``export`` is the submodule riskmodel.warning.export; the function is ``write_warning_list``)

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), attribute)
    globals()[name] = value  # once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

