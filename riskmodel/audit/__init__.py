"""riskmodel.audit: how well a saved model ranks, how honest its probabilities are, whether it serves
every group alike, how stable its lists are, whether the data drift, and its model card.

The audit notebook (notebooks/30_model_audit.ipynb) imports this package as ``au`` and calls one or
two functions per section; :func:`run_audit` (``riskmodel audit``) writes the tables it reads.
Nothing runs at import.

Example
-------
>>> import riskmodel.audit as au
>>> # result = au.run_audit(dataset, model, date_from="2025-09-01", date_to="2026-05-01",
>>> #                       settings=settings, out_dir="audits/2026", lang="zh")
>>> # tables = au.open_audit("audits/2026")
"""

from riskmodel.audit.card import model_card
from riskmodel.audit.drift import psi, psi_table
from riskmodel.audit.explain import family_importance, importance_table
from riskmodel.audit.groups import fairlearn_reference, group_table
from riskmodel.audit.loop import LOOP_TABLES, loop_summary, loop_tables
from riskmodel.audit.metrics import Bootstrap, reliability_table
from riskmodel.audit.performance import calibration_table, performance_table
from riskmodel.audit.plots import (
    feedback_view,
    group_gap_table,
    loop_overview,
    metric_table,
    model_card_section,
    open_audit,
    page_title,
    plot_drift,
    plot_group_gaps,
    plot_importance,
    plot_loop,
    plot_metric_by_month,
    plot_reliability,
    plot_stability,
    setup,
)
from riskmodel.audit.reproduce import Verification, list_hash, verify_run
from riskmodel.audit.run import TABLES, AuditResult, audit_dates, run_audit
from riskmodel.audit.stability import stability_table, transitions

run = run_audit  # the name docs/architecture.md uses

__all__ = ["AuditResult", "Bootstrap", "TABLES", "audit_dates", "calibration_table", "fairlearn_reference",
           "family_importance", "group_table", "importance_table", "model_card", "performance_table", "psi",
           "psi_table", "reliability_table", "run", "run_audit", "stability_table", "transitions", "open_audit", "setup",
           "metric_table", "group_gap_table", "plot_metric_by_month", "plot_reliability", "plot_group_gaps",
           "plot_drift", "plot_importance", "plot_stability", "Verification", "list_hash", "verify_run",
           "LOOP_TABLES", "loop_summary", "loop_tables", "loop_overview", "plot_loop", "page_title", "model_card_section",
           "feedback_view"]
