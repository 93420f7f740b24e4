"""Plot helpers for the audit notebook: each takes ``ax=None`` and returns the Axes it drew on.

Labels come from the translation catalogue (``riskmodel/i18n/audit.yaml``); every helper reads one
audit table as :func:`open_audit` returns it, so the notebook is one call per figure.

Example
-------
>>> # tables = open_audit("audits/2026"); ax = plot_reliability(tables["calibration"], lang="en")
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.audit.card import metric_label, variable_labels
from riskmodel.audit.run import LOOP_TABLES, TABLES
from riskmodel.i18n import text

__all__ = ["open_audit", "setup", "plot_metric_by_month", "plot_reliability", "plot_group_gaps", "plot_drift",
           "plot_importance", "plot_stability", "metric_table", "group_gap_table", "loop_overview", "plot_loop",
           "page_title", "model_card_section", "feedback_view"]

SCORER_COLOURS = {"model": "#2166ac", "rules": "#b2182b"}


def open_audit(audit_dir: str | Path) -> dict:
    """The tables of an audit folder (Parquet), its summary and its model card.

    Returns
    -------
    dict with one DataFrame per table name, ``summary`` (dict) and ``card`` (Markdown text).

    Raises
    ------
    FileNotFoundError
        The folder is not an audit folder (names the missing file; run ``riskmodel audit`` first).
    """
    audit_dir = Path(audit_dir)
    out: dict = {}
    for name in TABLES:
        path = audit_dir / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: not found; run `riskmodel audit ... --out {audit_dir}` first.")
        out[name] = pd.read_parquet(path)
    for name in LOOP_TABLES:  # written only when the data held a reviews table
        path = audit_dir / f"{name}.parquet"
        if path.exists():
            out[name] = pd.read_parquet(path)
    out["summary"] = json.loads((audit_dir / "audit_summary.json").read_text(encoding="utf-8"))
    out["card"] = (audit_dir / "model_card.md").read_text(encoding="utf-8")
    return out


def setup(*, dpi: int = 90) -> str | None:
    """Notebook set-up: a CJK font (if one is installed) and a modest figure size; returns the font."""
    import matplotlib as mpl

    mpl.rcParams["figure.dpi"] = dpi
    mpl.rcParams["figure.figsize"] = (7.5, 3.6)
    mpl.rcParams["axes.spines.top"] = False
    mpl.rcParams["axes.spines.right"] = False
    try:
        from riskmodel.reports.fonts import use_cjk_font
    except ImportError:  # the reports stage is optional for the audit
        return None
    return use_cjk_font()


def _axes(ax, figsize=None):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _table(frame: pd.DataFrame):
    """The page's table: escaped, without the row index (riskmodel.reports.Table)."""
    from riskmodel.reports.views import Table

    return Table(frame.reset_index(drop=True))


def _yes_no(values, lang: str) -> list[str]:
    return [text(f"audit.group.{'yes' if bool(v) else 'no'}", lang) for v in values]


def page_title(tables: dict, *, lang: str):
    """The audit page's heading (level 1; the exported page's ``<title>``): model kind, version and period."""
    from riskmodel.audit.card import kind_label
    from riskmodel.reports.views import Heading

    summary = tables["summary"]
    model, period = summary["model"], summary["period"]
    return Heading(text("audit.page.title", lang, kind=kind_label(model.get("kind") or "", lang),
                        version=model.get("version") or "", audit_from=period["from"], audit_to=period["to"]), 1)


def model_card_section(tables: dict, *, lang: str, below: int = 2):
    """The model card in the page's language, built from the audit folder's summary and tables as ``riskmodel
    audit`` built ``model_card.md``, its headings nested under the page's section heading (level ``below``)."""
    import re

    from IPython.display import Markdown

    from riskmodel.audit.card import model_card

    card = model_card(tables["summary"], tables, lang=lang)
    return Markdown(re.sub(r"^(#{1,6}) ", lambda m: "#" * min(6, len(m.group(1)) + below) + " ", card, flags=re.M))


def feedback_view(tables: dict, *, lang: str):
    """The ``feedback`` table for reading: listed and contacted in words, rows, recorded outcomes (empty where the
    audit left a small count out) and the outcome rate in percent."""
    from riskmodel.audit.card import _percent

    feedback = tables["feedback"]
    outcomes = feedback["outcomes"].astype("Int64").to_numpy()
    return _table(pd.DataFrame({
        text("audit.feedback.listed", lang): _yes_no(feedback["listed"], lang),
        text("audit.feedback.counselled", lang): _yes_no(feedback["counselled"], lang),
        text("audit.feedback.n", lang): feedback["n"].astype(int).to_numpy(),
        text("audit.feedback.outcomes", lang): outcomes,
        text("audit.metric.base_rate", lang): [_percent(v) for v in feedback["outcome_rate"].astype(float)]}))


def metric_table(performance: pd.DataFrame, *, lang: str, period: str = "all"):
    """Model against rules baseline, one row per metric, ``estimate (low-high)`` in each cell."""
    part = performance.loc[performance["period"] == period].copy()

    def cell(row) -> str:
        if not np.isfinite(row["estimate"]):
            return "–"
        if not np.isfinite(row["low"]):
            return f"{row['estimate']:.3f}"
        return f"{row['estimate']:.3f} ({row['low']:.3f}–{row['high']:.3f})"

    part["value"] = part.apply(cell, axis=1)
    wide = part.pivot(index="metric", columns="scorer", values="value")
    order = [m for m in part["metric"].drop_duplicates() if not m.startswith("selection_rate")]
    wide = wide.reindex(order)
    table = pd.DataFrame({text("audit.card.metric", lang): [metric_label(m, lang) for m in wide.index]})
    for scorer in wide.columns:
        table[text(f"audit.scorer.{scorer}", lang)] = wide[scorer].to_numpy()
    return _table(table)


def plot_metric_by_month(performance: pd.DataFrame, metric: str, *, lang: str, ax=None):
    """A metric by as-of month with its interval, model and rules baseline side by side."""
    ax = _axes(ax)
    part = performance.loc[(performance["metric"] == metric) & (performance["period"] != "all")]
    for scorer, rows in part.groupby("scorer", sort=False):
        x = pd.to_datetime(rows["period"])
        ax.plot(x, rows["estimate"], marker="o", color=SCORER_COLOURS.get(scorer), label=text(f"audit.scorer.{scorer}", lang))
        ax.fill_between(x, rows["low"], rows["high"], color=SCORER_COLOURS.get(scorer), alpha=0.15, linewidth=0)
    ax.set_xlabel(text("audit.plot.month", lang))
    ax.set_ylabel(metric_label(metric, lang))
    ax.legend(frameon=False)
    ax.tick_params(axis="x", labelrotation=30)
    return ax


def plot_reliability(calibration: pd.DataFrame, *, lang: str, scorer: str = "model", period: str = "all", ax=None):
    """Reliability curve: observed outcome rate (Wilson 95% interval) against mean predicted probability."""
    ax = _axes(ax, figsize=(4.8, 4.4))
    part = calibration.loc[(calibration["scorer"] == scorer) & (calibration["period"] == period)]
    top = float(max(part["mean_score"].max(), part["observed_high"].max(), 1e-3)) * 1.05 if len(part) else 1.0
    ax.plot([0, top], [0, top], linestyle="--", color="#888888", label=text("audit.plot.perfect", lang))
    ax.errorbar(part["mean_score"], part["observed_rate"],
                yerr=[part["observed_rate"] - part["observed_low"], part["observed_high"] - part["observed_rate"]],
                marker="o", color=SCORER_COLOURS.get(scorer), capsize=3, label=text(f"audit.scorer.{scorer}", lang))
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(text("audit.plot.predicted", lang))
    ax.set_ylabel(text("audit.plot.observed", lang))
    ax.legend(frameon=False, loc="upper left")
    return ax


def _group_name(grouping: str, group: str, lang: str) -> str:
    from riskmodel.audit.card import _group_label, _grouping_label

    return f"{_grouping_label(grouping, lang)}: {_group_label(group, lang, grouping)}"


def group_gap_table(groups: pd.DataFrame, *, lang: str, metric: str | None = None):
    """The group table for reading: scorer, group, status, n, estimate (interval), rest, gap (interval), flagged
    (yes/no); a sentence when no row is left (no gap flagged)."""
    part = groups if metric is None else groups.loc[groups["metric"] == metric]
    if part.empty:
        from IPython.display import Markdown

        return Markdown(text("audit.card.groups_none", lang))
    scorer = part["scorer"] if "scorer" in part.columns else pd.Series("model", index=part.index)

    def fmt(v: float) -> str:
        return "–" if not np.isfinite(v) else f"{v:.3f}"
    table = pd.DataFrame({
        "scorer": [text(f"audit.scorer.{v}", lang) for v in scorer],
        "group": [_group_name(g, v, lang) for g, v in zip(part["grouping"], part["group"])],
        "metric": [metric_label(m, lang) for m in part["metric"]],
        "status": [text(f"audit.status.{s}", lang) for s in part["status"]],
        "n": part["n"].to_numpy(),
        "estimate": [f"{fmt(e)} ({fmt(lo)}–{fmt(hi)})" for e, lo, hi in zip(part["estimate"], part["low"], part["high"])],
        "rest": [fmt(v) for v in part["rest"]],
        "gap": [f"{fmt(e)} ({fmt(lo)}–{fmt(hi)})" for e, lo, hi in zip(part["gap"], part["gap_low"], part["gap_high"])],
        "flagged": _yes_no(part["flagged"], lang),
    })
    return _table(table.rename(columns={c: text(f"audit.col.{c}", lang) for c in table.columns}))


def plot_group_gaps(groups: pd.DataFrame, metric: str, *, lang: str, scorer: str = "model", ax=None):
    """Each assessed group's gap to the rest of the students, with its interval; flagged gaps in red."""
    rows = (groups["metric"] == metric) & (groups["status"] == "ok")
    if "scorer" in groups.columns:
        rows &= groups["scorer"] == scorer
    part = groups.loc[rows].reset_index(drop=True)
    ax = _axes(ax, figsize=(7.5, max(2.5, 0.28 * len(part) + 1)))
    y = np.arange(len(part))
    for flagged, colour in ((False, "#4d4d4d"), (True, "#b2182b")):
        rows = (part["flagged"] == flagged).to_numpy()
        if not rows.any():
            continue
        gap, low, high = part["gap"][rows], part["gap_low"][rows], part["gap_high"][rows]
        ax.errorbar(gap, y[rows], xerr=[(gap - low).fillna(0), (high - gap).fillna(0)], fmt="o", color=colour,
                    capsize=2, label=text("audit.plot.flagged", lang) if flagged else None)
    threshold = float(part["threshold"].iloc[0]) if len(part) and np.isfinite(part["threshold"].iloc[0]) else None
    ax.axvline(0, color="#888888", linewidth=1)
    if threshold:
        for sign in (-1, 1):
            ax.axvline(sign * threshold, color="#b2182b", linestyle=":", linewidth=1)
    ax.set_yticks(y, [_group_name(g, v, lang) for g, v in zip(part["grouping"], part["group"])])
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric_label(metric, lang)}: {text('audit.plot.gap', lang)}")
    return ax


def plot_drift(drift: pd.DataFrame, *, lang: str, top: int = 15, flag: float = 0.25, ax=None):
    """The variables with the largest PSI over the whole audited period, and the score's."""
    part = drift.loc[drift["period"] == "all"].sort_values("psi", ascending=False)
    part = pd.concat([part.head(top), part.loc[part["variable"] == "score"]]).drop_duplicates("variable")
    # long English descriptions would squeeze the bars to a sliver: wrapped onto two lines at most
    labels = [textwrap.shorten(v, 80, placeholder=" ...") for v in variable_labels(part["variable"], lang)]
    labels = [textwrap.fill(v, 42) for v in labels]
    ax = _axes(ax, figsize=(7.5, max(2.5, 0.28 * sum(v.count("\n") + 1 for v in labels) + 1)))
    ax.barh(labels, part["psi"], color=np.where(part["flagged"], "#b2182b", "#4393c3"))
    ax.axvline(flag, color="#b2182b", linestyle=":", label=text("audit.plot.psi_threshold", lang))
    ax.invert_yaxis()
    ax.set_xlabel(text("audit.plot.psi", lang))
    ax.legend(frameon=False)
    return ax


def plot_importance(importance: pd.DataFrame, *, lang: str, grouping: str = "all", ax=None):
    """Mean absolute contribution of each factor family, overall or per group of one grouping."""
    from riskmodel.audit.card import _family_label

    ax = _axes(ax)
    part = importance.loc[importance["grouping"] == grouping].copy()
    part["family_label"] = [_family_label(f, lang) for f in part["family"]]
    if grouping == "all":
        ax.barh(part["family_label"], part["mean_abs"], color="#4393c3")
        ax.invert_yaxis()
    else:
        wide = part.pivot(index="family_label", columns="group", values="mean_abs")
        wide = wide.loc[wide.mean(axis=1).sort_values().index]
        wide.plot.barh(ax=ax)
        ax.legend(frameon=False, fontsize="small")
    ax.set_xlabel(text("audit.plot.importance", lang))
    ax.set_ylabel("")
    return ax


def plot_stability(stability: pd.DataFrame, *, lang: str, ax=None):
    """Students who stayed on, entered and left the list at each as-of date."""
    ax = _axes(ax)
    x = pd.to_datetime(stability["as_of"]).dt.strftime("%Y-%m")
    bottom = np.zeros(len(stability))
    for column, colour in (("stayed", "#4393c3"), ("entered", "#ef8a62"), ("left", "#bababa")):
        values = stability[column].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, color=colour, label=text(f"audit.plot.change.{column}", lang))
        bottom += values
    ax.set_ylabel(text("audit.plot.students", lang))
    ax.set_xlabel(text("audit.plot.month", lang))
    ax.legend(frameon=False)
    ax.tick_params(axis="x", labelrotation=30)
    return ax


def loop_overview(tables: dict, *, lang: str = "zh"):
    """The review loop's headline figures (``summary["review_loop"]``) as a two-column table, or a
    Markdown note when the audited data held no reviews table."""
    from IPython.display import Markdown

    from riskmodel.audit.card import _percent, _share

    loop = tables.get("summary", {}).get("review_loop") or {}
    if not loop:
        return Markdown(text("audit.card.loop_none", lang))
    due = loop.get("due_days")
    confidence = f"{tables['summary']['settings']['audit']['confidence']:.0%}"

    def count(value) -> str:
        return "–" if value is None else f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"

    def two(value) -> str:
        return "–" if value is None else f"{value:.2f}"

    def ratio(keys: tuple[str, str, str]) -> str:  # the estimate and its interval
        values = [loop.get(k) for k in keys]
        return "–" if any(v is None for v in values) else f"{values[0]:.2f} ({values[1]:.2f}–{values[2]:.2f})"
    shown = {"triggers": count, "median_days": count, "share_within_due": _share,
             "share_not_reviewed": _share, "interview_overdue": count, "review_overdue": count, "exact": _share,
             "kappa": two, "spearman": two, "released_rate": _percent, "released_recently_rate": _percent,
             "no_case_rate": _percent, "released_ratio": ratio}
    rows = [("triggers", loop.get("triggers")), ("median_days", loop.get("median_days_to_review")),
            ("share_within_due", loop.get("share_reviewed_within_due")),
            ("share_not_reviewed", loop.get("share_not_reviewed")),
            ("interview_overdue", loop.get("interview_overdue_median")),
            ("review_overdue", loop.get("review_overdue_median")), ("exact", loop.get("agreement_exact")),
            ("kappa", loop.get("kappa_linear")), ("spearman", loop.get("spearman_score")),
            ("released_rate", loop.get("released_outcome_rate")),
            ("released_recently_rate", loop.get("released_recently_outcome_rate")),
            ("no_case_rate", loop.get("no_case_outcome_rate")),
            ("released_ratio", ("released_ratio_to_no_case", "released_ratio_low", "released_ratio_high"))]
    figures = [text(f"audit.loop.{key}", lang, due=due, confidence=confidence) for key, _ in rows]
    return _table(pd.DataFrame({text("audit.loop.figure", lang): figures,
                                text("audit.loop.value", lang): [shown[key](v) for key, v in rows]}))


def plot_loop(tables: dict, *, lang: str = "zh", ax=None):
    """Students awaiting interview, under review, and of them overdue, by as-of month (whole population)."""
    import matplotlib.pyplot as plt

    if "loop_overdue" not in tables:
        return None
    overdue = tables["loop_overdue"].query("grouping == 'all'").sort_values("as_of")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    x = pd.to_datetime(overdue["as_of"])
    for column, style, key in (("under_review", "-", "under_review"), ("review_overdue", "--", "review_overdue_short"),
                               ("awaiting_interview", "-", "awaiting_interview"),
                               ("interview_overdue", "--", "interview_overdue_short")):
        ax.plot(x, overdue[column].astype("float64"), style, marker="o", label=text(f"audit.loop.{key}", lang))
    ax.set_xlabel(text("audit.loop.axis_month", lang))
    ax.set_ylabel(text("audit.loop.axis_students", lang))
    ax.legend(loc="best", fontsize="small")
    ax.figure.autofmt_xdate()
    return ax
