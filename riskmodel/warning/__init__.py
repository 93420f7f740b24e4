"""riskmodel.warning: hard rules, warning levels, reasons, the warning list and its exports.

Example
-------
>>> from riskmodel.warning import score_as_of, write_warning_list
>>> # result = score_as_of(dataset, model, "2026-03-01", settings=settings, run_id="2026-03", lang="zh")
>>> # paths = write_warning_list(result.warning_list, "runs/2026-03", lang="zh")
"""

from riskmodel.warning.export import neutralise, write_warning_list
from riskmodel.warning.hard_rules import HardRule, evaluate_hard_rules, load_hard_rules
from riskmodel.warning.levels import assign_levels, capacities
from riskmodel.warning.reasons import explain
from riskmodel.warning.warning_list import (
    EXTRA_COLUMNS,
    LIST_COLUMNS,
    ScoreResult,
    combine_results,
    compare_with_previous,
    make_warning_list,
    previous_by_school,
    schools_of,
    score_as_of,
    score_features,
    score_school,
    split_by_school,
)

make_list = make_warning_list  # the names docs/architecture.md uses
export = write_warning_list

__all__ = ["load_hard_rules", "evaluate_hard_rules", "HardRule", "assign_levels", "capacities", "explain",
           "score_as_of", "score_features", "make_warning_list", "make_list", "write_warning_list", "export",
           "neutralise", "compare_with_previous", "ScoreResult", "LIST_COLUMNS", "EXTRA_COLUMNS",
           "score_school", "split_by_school", "schools_of", "previous_by_school", "combine_results"]
