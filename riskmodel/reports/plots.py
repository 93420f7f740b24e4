"""Plot helpers for the notebooks: each takes ``ax=None`` and returns the Axes it drew on.

All labels come from the translation catalogue; names from the data pass through
:func:`~riskmodel.reports.names.plot_text` so that a ``$`` in a class name never reaches mathtext.
Call :func:`~riskmodel.reports.fonts.use_cjk_font` once before plotting Chinese labels (the notebooks'
first section does, through :func:`setup`).

Example
-------
>>> # ax = plot_risk_distribution(run, "school", "", "zh")
>>> # ax.figure.savefig("risk.png")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.i18n import text
from riskmodel.reports.names import plot_text
from riskmodel.reports.report_data import LEVELS, RunData
from riskmodel.reports.views import table_name
from riskmodel.warning.localise import LEVEL_COLOURS  # the one level palette (lists and figures)

__all__ = ["setup", "plot_level_counts", "plot_risk_distribution", "plot_risk_trend", "plot_groups",
           "plot_trajectory", "plot_coverage", "plot_importance"]




def setup(*, dpi: int = 80) -> str | None:
    """Notebook set-up: a CJK font, a modest figure resolution; returns the font found (or None)."""
    import matplotlib as mpl

    from riskmodel.reports.fonts import use_cjk_font

    mpl.rcParams["figure.dpi"] = dpi
    mpl.rcParams["figure.figsize"] = (7.5, 3.6)
    mpl.rcParams["axes.spines.top"] = False
    mpl.rcParams["axes.spines.right"] = False
    try:  # the figures use constrained layout: the inline backend's tight bounding box would draw each twice
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.run_line_magic("config", "InlineBackend.print_figure_kwargs = {'bbox_inches': None}")
    except ImportError:
        pass
    return use_cjk_font()


_RISK_TICKS = np.array([1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
_RISK_FLOOR = 1e-4  # risks below 0.01% are drawn at 0.01%


def _log_risk(values) -> np.ndarray:
    """Risks as base-10 logarithms, for a risk axis drawn by :func:`_risk_axis`."""
    return np.log10(np.clip(np.asarray(values, dtype="float64"), _RISK_FLOOR, 1.0))


def _risk_axis(axis, low: float, high: float) -> None:
    """A logarithmic risk axis, ticks at 1-2-5 percentages (``0.1%``, ``0.2%``, ``0.5%``, ``1%`` ...).

    The data are drawn as :func:`_log_risk` values on a linear axis with these few fixed ticks. A
    matplotlib log scale drew about twenty major and minor ticks per axis (each a line and a text
    laid out in the CJK font): half of every risk figure's time in the profile of a cohort report
    (docs/reports.md, Performance). ``low`` and ``high`` are the drawn range, in log10 units.
    """
    from matplotlib.ticker import NullLocator

    logs = np.log10(_RISK_TICKS)
    inside = (logs >= low - 1e-9) & (logs <= high + 1e-9)
    if inside.sum() < 2:  # a narrow range: the nearest tick on either side as well
        inside |= (np.arange(len(logs)) == max(np.searchsorted(logs, low) - 1, 0)) | (
            np.arange(len(logs)) == min(np.searchsorted(logs, high), len(logs) - 1))
    axis.set_ticks(logs[inside], [_percent(v) for v in _RISK_TICKS[inside]])
    axis.set_minor_locator(NullLocator())


def _percent(value: float, _pos=None) -> str:
    """``0.01`` -> ``"1%"``, ``0.001`` -> ``"0.1%"`` (no trailing zeros, no mathtext)."""
    return f"{value * 100:.2g}%"


def _label_inches(labels, fontsize: float) -> float:
    """A generous estimate of the widest label's width (inches): wide (CJK) characters 1 em, others 0.62 em."""
    import unicodedata

    em = fontsize / 72
    widths = [sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.62 for ch in str(label)) * em
              for label in labels]
    return max(widths, default=0.0)


def _date_bottom(ax) -> float:
    """Bottom margin (figure fraction) for rotated date labels and the axis label under them."""
    return min(1.2 / ax.figure.get_size_inches()[1], 0.45)


def date_ticks(ax, dates, *, most: int = 12, fontsize=None) -> None:
    """A tick at each of ``dates`` (run dates, a student's screenings), labelled ``YYYY-MM-DD``.

    Matplotlib's default put a tick every four days between two monthly runs (two of them printed over
    each other) and weekly ticks that missed the run dates. The dates are thinned, keeping the latest,
    to at most ``most`` and so that neighbouring labels, drawn at 30 degrees, are at least about two
    text heights apart on the axis as drawn (set the axis' limits before calling). ``fontsize``: the
    tick labels' size when the caller changes it (default ``xtick.labelsize``).
    """
    import matplotlib as mpl
    import matplotlib.dates as mdates
    from matplotlib.font_manager import FontProperties

    days = pd.to_datetime(pd.Series(dates)).dropna().dt.normalize().drop_duplicates().sort_values()
    if days.empty:
        return
    points = mdates.date2num(days.to_numpy())
    step = -(-len(days) // most)
    low, high = ax.get_xlim()
    inches = ax.get_position().width * ax.figure.get_size_inches()[0] / max(high - low, 1e-9)  # per day
    size = FontProperties(size=fontsize if fontsize is not None else mpl.rcParams["xtick.labelsize"]).get_size_in_points()
    gap = 2.4 * size / 72  # a label rotated by 30 degrees clears its neighbour at twice its height
    keep = [len(days) - 1]
    for i in range(len(days) - 1 - step, -1, -step):
        if (points[keep[-1]] - points[i]) * inches >= gap:
            keep.append(i)
    chosen = days.iloc[sorted(keep)]
    ax.set_xticks(mdates.date2num(chosen.to_numpy()), [d.date().isoformat() for d in chosen])
    ax.set_xlim(low, high)  # ticks never widen the drawn range


def _axes(ax, figsize=None, *, ylabels=()):
    """A new figure's Axes with margins set from the labels (``ylabels``: the category tick labels).

    Fixed margins instead of matplotlib's constrained layout: the layout engine measured every text
    and drew each figure twice, about 40% of a cohort report's plotting time in the profile
    (docs/reports.md, Performance). Long category labels (classes, factors) widen the left margin.
    """
    if ax is not None:
        return ax
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    from matplotlib.font_manager import FontProperties

    fig, ax = plt.subplots(figsize=figsize)
    width, height = fig.get_size_inches()
    tick_size = FontProperties(size=mpl.rcParams["ytick.labelsize"]).get_size_in_points()
    left = 0.75 + (_label_inches(ylabels, tick_size) if len(ylabels) else 0.0)  # tick labels + axis label
    fig.subplots_adjust(left=min(left / width, 0.6), right=1 - 0.25 / width, bottom=min(0.6 / height, 0.3),
                        top=1 - 0.2 / height)
    return ax


def plot_level_counts(run: RunData, level: str, cohort_id: str, lang: str, ax=None):
    """Bars: students at each warning level now and at the previous run."""
    ax = _axes(ax)
    counts = run.level_counts(level, cohort_id).tail(2)
    width = 0.8 / max(len(counts), 1)
    x = np.arange(3)
    for i, (as_of, row) in enumerate(counts.iterrows()):
        ax.bar(x + i * width, row[list(LEVELS[:3])].to_numpy(), width, label=pd.Timestamp(as_of).date().isoformat(),
               color=["#999999", "#b2182b"][i if len(counts) == 2 else 1])
    ax.set_xticks(x + width * (len(counts) - 1) / 2, [text(f"level.{lv}", lang) for lv in LEVELS[:3]])
    ax.set_ylabel(text("reports.plot.students", lang))
    ax.legend(frameon=False)
    return ax


def plot_risk_distribution(run: RunData, level: str, cohort_id: str, lang: str, ax=None):
    """Histogram of the cohort's risk (probability, log scale), coloured by level."""
    ax = _axes(ax)
    members = run.members(run.warning_list, level, cohort_id)
    logs = _log_risk(members["score"])
    low, high = (logs.min(), max(logs.max(), logs.min() + 0.3)) if len(logs) else (-3.0, -1.0)
    bins = np.linspace(low, high, 40)
    stacks = [logs[(members["level"] == lv).to_numpy()] for lv in reversed(LEVELS)]
    # stepfilled: one polygon per level instead of one rectangle per bin (a fraction of the drawing time)
    ax.hist(stacks, bins=bins, stacked=True, histtype="stepfilled", color=[LEVEL_COLOURS[lv] for lv in reversed(LEVELS)],
            label=[text(f"level.{lv}", lang) for lv in reversed(LEVELS)])
    _risk_axis(ax.xaxis, low, high)
    ax.set_xlabel(text("reports.plot.score", lang))
    ax.set_ylabel(text("reports.plot.students", lang))
    ax.legend(frameon=False, fontsize="small")
    return ax


def plot_risk_trend(run: RunData, level: str, cohort_id: str, lang: str, ax=None):
    """Share of the cohort at each level over every run so far (lines, one point per run)."""
    ax = _axes(ax)
    counts = run.level_counts(level, cohort_id)
    shares = counts[list(LEVELS[:3])].div(counts.sum(axis=1).clip(lower=1), axis=0)
    for lv in LEVELS[:3]:
        ax.plot(shares.index, shares[lv] * 100, marker="o", color=LEVEL_COLOURS[lv],
                label=text(f"level.{lv}", lang))
    if len(shares) == 1:  # one run: a month either side, not matplotlib's default of years
        ax.set_xlim(shares.index[0] - pd.Timedelta(days=31), shares.index[0] + pd.Timedelta(days=31))
    date_ticks(ax, shares.index)  # one tick per run date
    ax.set_xlabel(text("reports.plot.run", lang))
    ax.set_ylabel(text("reports.plot.share_listed", lang) + " (%)")
    ax.legend(frameon=False, fontsize="small")
    ax.figure.autofmt_xdate(bottom=_date_bottom(ax))
    return ax


def plot_groups(run: RunData, level: str, cohort_id: str, lang: str, *, by: str = "class_id", top: int = 25, ax=None):
    """Box plots of risk per class (or dorm), the ``top`` highest mean risk first.

    Classes with fewer students than the small-cell threshold are left out (the tables pool them).

    Each box spans the 25th to 75th percentile with a line at the median; the whiskers reach the
    5th and 95th percentiles; no per-student points; on the logarithm of the risk so that the axis
    reads in percent like the histogram. Drawn as three collections (whiskers, boxes, medians) from
    the quantiles: seaborn's ``boxplot`` made the figure 0.05 s slower to build in every cohort report
    (and its import cost each report kernel 0.3 s), for the same picture (docs/reports.md).
    """
    from matplotlib.collections import PolyCollection

    members = run.members(run.warning_list, level, cohort_id)
    members = members[members[by] != ""]
    sizes = members.groupby(by)["score"].agg(["mean", "size"])
    sizes = sizes[sizes["size"] >= run.small_cell]  # a box of two or three students shows their own risks
    order = sizes["mean"].sort_values(ascending=False).head(top).index
    labels = [plot_text(name) for name in order]
    ax = _axes(ax, figsize=(7.5, max(2.5, 0.28 * len(order) + 1)), ylabels=labels)
    if len(order):
        chosen = members[members[by].isin(order)]
        q = chosen.groupby(by)["score"].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack().reindex(order)
        p05, p25, p50, p75, p95 = (_log_risk(q[c]) for c in (0.05, 0.25, 0.5, 0.75, 0.95))
        y = np.arange(len(order), dtype="float64")
        half = 0.3
        ax.hlines(y, p05, p95, color="#333333", linewidth=1)
        boxes = [[(a, b - half), (c, b - half), (c, b + half), (a, b + half)] for a, b, c in zip(p25, y, p75)]
        ax.add_collection(PolyCollection(boxes, facecolors="#c6dbef", edgecolors="#333333", linewidths=1, zorder=2))
        ax.vlines(p50, y - half, y + half, color=LEVEL_COLOURS["I"], linewidth=2, zorder=3)
        ax.set_yticks(y, labels)
        ax.set_ylim(len(order) - 0.5, -0.5)  # highest mean risk on top
        low, high = float(p05.min()), float(max(p95.max(), p05.min() + 0.3))
        ax.set_xlim(low - 0.05 * (high - low), high + 0.05 * (high - low))
        _risk_axis(ax.xaxis, *ax.get_xlim())
    ax.set_xlabel(text("reports.plot.score", lang))
    ax.set_ylabel(text(f"reports.level.{'dorm' if by == 'dorm_id' else 'class'}", lang))
    return ax


def plot_trajectory(run: RunData, pseudonym: str, lang: str, ax=None):
    """One student's risk at every run, points coloured by level.

    The key to the colours sits under the plot, below the axis label: inside (or just above) the plot,
    its marker beside a point read as one more run.
    """
    made = ax is None
    ax = _axes(ax)
    rows = run.history[run.history["pseudonym"] == pseudonym].sort_values("as_of")
    from matplotlib.ticker import FuncFormatter

    from riskmodel.warning.localise import percent

    ax.plot(rows["as_of"], rows["score"] * 100, color="#555555", linewidth=1)
    for lv in LEVELS:
        at = rows[rows["level"] == lv]
        if not at.empty:
            ax.scatter(at["as_of"], at["score"] * 100, color=LEVEL_COLOURS[lv], edgecolor="#333333", zorder=3,
                       label=text(f"level.{lv}", lang))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: percent(v / 100)))  # as every risk in the reports
    if len(rows) == 1:  # one run: a month either side, not matplotlib's default of years
        ax.set_xlim(rows["as_of"].iloc[0] - pd.Timedelta(days=31), rows["as_of"].iloc[0] + pd.Timedelta(days=31))
    date_ticks(ax, rows["as_of"])
    ax.set_ylim(bottom=0)  # from zero: a move from 30% to 31% must not look like a leap
    ax.set_xlabel(text("reports.plot.run", lang))
    ax.set_ylabel(text("reports.plot.score", lang))
    shown = len(set(rows["level"]) & set(LEVELS))
    if not made:  # someone else's figure: the key inside, framed
        if shown:
            ax.legend(fontsize="small")
        ax.figure.autofmt_xdate(bottom=_date_bottom(ax))
        return ax
    height = ax.figure.get_size_inches()[1]
    ax.figure.autofmt_xdate(bottom=_date_bottom(ax) + 0.35 / height)  # and a line for the key under the axis label
    if shown:
        ax.figure.legend(frameon=False, fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=shown,
                         handletextpad=0.3, columnspacing=1.5)
    return ax


def plot_coverage(run: RunData, lang: str, ax=None):
    """Records per month of each source table: where a source starts, stops or has gaps.

    The month of the as-of date is left out unless the as-of date is its last day: it holds only the
    days up to the as-of date (one day for a run on the 1st), so every source would seem to drop at the
    end, the very sign the page tells readers to look for (a source that stopped arriving).
    """
    ax = _axes(ax)
    coverage = run.table("coverage")
    if not coverage.empty:
        partial = run.as_of.to_period("M").to_timestamp()
        if run.as_of.normalize() < partial + pd.offsets.MonthEnd(0):
            coverage = coverage[pd.to_datetime(coverage["month"]) < partial]
    for name, rows in coverage.groupby("table", sort=True):
        ax.plot(rows["month"], rows["records"], label=table_name(name, lang), linewidth=1.2)
    ax.axvline(run.as_of, color="#333333", linestyle="--", linewidth=1)  # records after it are not used
    # left of the line: the line is the right end of the drawn months, the figure's margin is narrow
    ax.annotate(text("reports.cohort.as_of", lang), (run.as_of, 1), xytext=(-3, 3), textcoords="offset points",
                fontsize="small", ha="right")
    ax.set_xlabel(text("reports.col.month", lang))
    ax.set_ylabel(text("reports.plot.records", lang))
    ax.set_yscale("symlog")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))  # plain counts, not mathtext
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)  # counts: symlog's margins would otherwise show negative records
    if not coverage.empty:
        ax.legend(frameon=False, fontsize="small", ncol=2)
    return ax


def plot_importance(importance: pd.DataFrame, lang: str, ax=None):
    """Horizontal bars of a feature-importance table (``factor`` text, mean absolute contribution)."""
    ax = _axes(ax, figsize=(7.5, max(2.5, 0.3 * len(importance) + 1)),
               ylabels=[] if importance.empty else [plot_text(v) for v in importance[text("reports.col.factor", lang)]])
    if not importance.empty:
        ax.barh([plot_text(v) for v in importance[text("reports.col.factor", lang)]],
                importance[text("reports.plot.importance", lang)], color="#2166ac")
        ax.invert_yaxis()
    ax.set_xlabel(text("reports.plot.importance", lang))
    return ax
