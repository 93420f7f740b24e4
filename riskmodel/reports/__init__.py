"""riskmodel.reports: the scheduled run, its notebooks, HTML export, index page and manifest.

The notebooks in ``notebooks/`` import this package as ``rp`` and call one or two functions per
section: :func:`open_run` reads a run folder's ``report_data/``; the table functions
(:mod:`~riskmodel.reports.views`, :mod:`~riskmodel.reports.model_views`) return DataFrames or escaped
HTML; the plot helpers (:mod:`~riskmodel.reports.plots`) take ``ax=None`` and return the Axes.
The run itself is :func:`riskmodel.reports.runner.run` (``riskmodel run``); nothing runs at import.

Example
-------
>>> import riskmodel.reports as rp
>>> # run = rp.open_run("reports/latest"); rp.Table(rp.level_counts(run, "school", "", "zh"))
"""

from riskmodel.reports.explain import plot_beeswarm, run_explanation, student_waterfall
from riskmodel.reports.model_views import (
    comparison_section,
    feature_importance,
    metrics_section,
    model_comparison,
    model_metrics,
    model_summary,
    read_model_meta,
)
from riskmodel.reports.plots import (
    plot_coverage,
    plot_groups,
    plot_importance,
    plot_level_counts,
    plot_risk_distribution,
    plot_risk_trend,
    plot_trajectory,
    setup,
)
from riskmodel.reports.report_data import RunData, open_run
from riskmodel.reports.views import (
    BarTable,
    Heading,
    ListTable,
    Table,
    case_section,
    check_run,
    cohort_list,
    data_summary,
    dorm_section,
    factor_section,
    factor_summary,
    group_section,
    group_summary,
    heading,
    history_note,
    interview_queue,
    level_counts,
    list_section,
    note,
    overdue_reviews,
    pick_student,
    rejected_section,
    rejected_summary,
    show_text,
    skipped_notes,
    skipped_section,
    student_reasons,
    student_records,
    student_title,
    title,
)

__all__ = [
    "RunData", "open_run", "setup", "Heading", "Table", "BarTable", "heading", "note", "title", "check_run", "level_counts",
    "history_note", "list_section", "group_section", "group_summary", "dorm_section", "factor_summary", "factor_section",
    "cohort_list", "pick_student",
    "student_title", "student_records", "student_reasons", "data_summary", "rejected_summary", "rejected_section",
    "skipped_notes", "skipped_section", "model_summary", "model_metrics", "model_comparison", "feature_importance",
    "read_model_meta", "metrics_section", "comparison_section", "plot_level_counts", "plot_risk_distribution",
    "plot_risk_trend", "plot_groups",
    "plot_trajectory", "plot_coverage", "plot_importance", "case_section", "interview_queue", "overdue_reviews",
    "show_text", "ListTable", "plot_beeswarm", "run_explanation", "student_waterfall",
]
