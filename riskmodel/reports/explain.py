"""shap's plots for researchers, from the model's own contributions (no second explanation).

The batch explains with LightGBM's own exact TreeSHAP (``pred_contrib``), which the run stores per
scored student in ``report_data/contributions.parquet``. This module wraps those numbers as a
:class:`shap.Explanation`, so a researcher in JupyterLab gets shap's familiar plots (beeswarm,
waterfall, bar) without shap computing anything again. Feature names are the catalogue's
descriptions in the report language.

The expected value (shap's ``base_values``, the model's average log-odds: the waterfall's start) is
stored by the run in ``report_data/run.json`` (``base_value``); for a LightGBM model it is the
constant last column of ``pred_contrib`` for one empty row (every feature missing). A run made before
it was stored, or a ``model_dir`` given, reads it from the model; the contributions themselves are
never recomputed.

Example
-------
>>> # run = open_run("reports/latest")
>>> # shap.plots.beeswarm(run_explanation(run, "en"), show=False)
>>> # student_waterfall(run, "P00012345", "zh", model_dir="models/demo")
"""

from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.i18n import text
from riskmodel.reports.report_data import RunData

__all__ = ["explanation", "run_explanation", "base_value", "expected_log_odds", "plot_beeswarm", "student_waterfall"]


def _shap():
    with warnings.catch_warnings():
        # on import, shap's colour module calls matplotlib APIs matplotlib deprecates, and tqdm.auto warns
        # that ipywidgets is missing (a kernel has no widgets; shap shows no progress bar here)
        warnings.simplefilter("ignore")
        import shap
    return shap


def _labels(names, lang: str) -> list[str]:
    """Catalogue descriptions, wrapped (never cut) onto lines of about 48 Latin or 22 CJK characters."""
    from riskmodel.reports.views import _feature_text

    return [_wrap(label, lang) for label in _feature_text(names, lang)]


def _wrap(label: str, lang: str, *, tail: str = "") -> str:
    """``label`` on lines of about 48 Latin or 22 CJK characters; ``tail`` (the student's value) is never
    broken: it ends the last line, or takes a line of its own."""
    width = 48 if lang == "en" else 22
    if lang == "en":
        lines = textwrap.wrap(label, width=width) or [""]
    else:
        lines = [label[i:i + width] for i in range(0, len(label), width)] or [""]
        if len(lines) > 1 and len(lines[-1]) <= 2:  # a closing bracket alone on a line
            lines[-2:] = [lines[-2] + lines[-1]]
    if tail and len(lines[-1]) + len(tail) <= width:
        lines[-1] += tail
    elif tail:
        lines.append(tail.strip())
    return "\n".join(lines)


def explanation(contributions: pd.DataFrame, *, lang: str, base_values: float = 0.0,
                data: pd.DataFrame | None = None):
    """A :class:`shap.Explanation` of ``contributions`` (rows x features, log-odds) as given.

    ``data`` (the same rows' feature values) colours a beeswarm; without it the points are one colour.
    """
    shap = _shap()
    values = contributions.to_numpy(dtype=float)
    return shap.Explanation(values=values, base_values=np.full(len(values), float(base_values)),
                            data=None if data is None else data[contributions.columns].to_numpy(dtype=float),
                            feature_names=_labels(contributions.columns, lang))


def expected_log_odds(model) -> float:
    """A model's expected log-odds (LightGBM: the bias column of ``pred_contrib``); 0 for other models."""
    booster = getattr(model.estimator, "booster_", None)
    if booster is None:
        return 0.0
    empty = np.full((1, booster.num_feature()), np.nan)
    return float(booster.predict(empty, num_iteration=getattr(model.estimator, "best_iteration_", None),
                                 pred_contrib=True)[0, -1])


def base_value(model_dir: str | Path | None, run: RunData | None = None) -> float:
    """The waterfall's start: from the model in ``model_dir``, else the one ``run`` stored, else 0."""
    if model_dir is not None:
        from riskmodel.models.registry import load

        return expected_log_odds(load(model_dir))
    if run is not None and run.info.get("base_value") is not None:
        return float(run.info["base_value"])
    return 0.0


def run_explanation(run: RunData, lang: str, *, model_dir: str | Path | None = None, rows: pd.Series | None = None):
    """The run's stored contributions (every scored student, or ``rows`` of them) as an Explanation."""
    contrib = run.table("contributions")
    if contrib.empty:
        return None
    if rows is not None:
        contrib = contrib.loc[rows.to_numpy()]
    return explanation(contrib.drop(columns="pseudonym"), lang=lang, base_values=base_value(model_dir, run))


def plot_beeswarm(run: RunData, lang: str, *, model_dir: str | Path | None = None, top: int = 15):
    """shap's beeswarm of the run's contributions (``top`` features by mean absolute contribution)."""
    import matplotlib.pyplot as plt

    from riskmodel.reports.views import note

    explained = run_explanation(run, lang, model_dir=model_dir)
    if explained is None:
        return note("reports.md.no_beeswarm", lang)
    shap = _shap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        shap.plots.beeswarm(explained, max_display=top + 1, show=False, plot_size=(9.0, 0.42 * (top + 1) + 1.2),
                            color="#2166ac" if explained.data is None else None)
    ax = plt.gca()
    ax.set_xlabel(text("reports.plot.contribution", lang))
    _localise_rest(ax, lang)
    return ax


def student_waterfall(run: RunData, pseudonym: str, lang: str, *, model_dir: str | Path | None = None,
                      top: int = 10):
    """shap's waterfall for one student of the run: from the model's average to this student's log-odds.

    The start is the model's average the run stored (or ``model_dir``'s; 0 for a run made before it was
    stored: the plot then shows the contributions alone). Returns the Axes, or a note when the run
    holds no contributions. Notebook 40 (the student file) calls it as
    ``rp.student_waterfall(run, student, lang)``.

    Made for a counsellor's page: shap's ``E[f(X)]`` and ``f(x)`` (drawn on two extra axes, and cut
    off where they met the figure's edge) become the catalogue's words for the model's average and
    this student's score, placed inside the figure. Each factor carries the student's own value,
    worded as the list's reasons word it (:func:`riskmodel.warning.reasons.format_value`), from the
    run's ``feature_values`` table; without one, a yes/no factor says it is one ("性别:男" alone read
    as a claim that the student is male).
    """
    import matplotlib.pyplot as plt

    from riskmodel.reports.views import note

    contrib = run.table("contributions")
    if contrib.empty or not (contrib["pseudonym"] == pseudonym).any():
        return note("reports.student.no_contributions", lang)
    row = contrib.loc[contrib["pseudonym"] == pseudonym].drop(columns="pseudonym").iloc[[0]]
    start = base_value(model_dir, run)
    shap = _shap()
    explained = shap.Explanation(values=row.to_numpy(dtype=float)[0], base_values=start,
                                 feature_names=_student_labels(row.columns, _student_values(run, pseudonym), lang))
    interactive = plt.isinteractive()
    plt.figure()  # made while interactive, so a notebook shows it; shap draws into the current figure
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            shap.plots.waterfall(explained, max_display=top + 1, show=False)
    finally:
        # shap's waterfall turns matplotlib's interactive mode off (plt.ioff()) for good: in a notebook
        # this figure and every later one were then never shown. Restore it.
        plt.interactive(interactive)
    fig = plt.gcf()
    ax = fig.axes[0]
    for extra in fig.axes[1:]:  # shap's E[f(X)] and f(x) axes
        fig.delaxes(extra)
    height = 0.6 * (top + 1) + 2.2
    fig.set_size_inches(10.0, height)
    # room for the factors' descriptions on the left (cut off at shap's own margins), the score above
    # and the start, the axis label below
    fig.subplots_adjust(left=0.42, right=0.97, top=1 - 0.55 / height, bottom=1.3 / height)
    _localise_rest(ax, lang)
    ax.tick_params(axis="y", labelsize=11)  # two or three lines a factor with the student's value
    _mark(ax, start, text("student.waterfall.start", lang, value=_log_odds(start)), above=False)
    score = start + float(row.to_numpy(dtype=float).sum())
    _mark(ax, score, text("student.waterfall.score", lang, value=_log_odds(score)), above=True)
    ax.set_xlabel(text("student.waterfall.axis", lang), labelpad=30, fontsize=12)
    return ax


def _log_odds(value: float) -> str:
    return f"{value:.2f}"  # as the axis' numbers


def _mark(ax, x: float, label: str, *, above: bool) -> None:
    """``label`` at ``x``: over the plot (the student's score) or under the axis' numbers (the start),
    running away from the nearer edge so that it stays inside the figure."""
    low, high = ax.get_xlim()
    right = (x - low) > 0.5 * (high - low)
    ax.annotate(label, (x, 1.0 if above else 0.0), xycoords=ax.get_xaxis_transform(),
                xytext=(-4 if right else 4, 6 if above else -24), textcoords="offset points",
                ha="right" if right else "left", va="bottom" if above else "top", fontsize=12, color="#333333",
                annotation_clip=False)


def _student_values(run: RunData, pseudonym: str) -> pd.Series | None:
    """The student's feature values the run stored (``report_data/feature_values``), or None."""
    values = run.table("feature_values")
    if values.empty or "pseudonym" not in values.columns or not (values["pseudonym"] == pseudonym).any():
        return None
    return values.loc[values["pseudonym"] == pseudonym].drop(columns="pseudonym").iloc[0]


def _student_labels(names, values: pd.Series | None, lang: str) -> list[str]:
    """Catalogue descriptions with the student's value in the reasons' words, wrapped as :func:`_labels`.

    Without the values, a yes/no factor is marked as one; a value not recorded says so.
    """
    from riskmodel.features.catalogue import catalogue
    from riskmodel.reports.views import _feature_text
    from riskmodel.warning.reasons import format_value

    kinds = catalogue()["kind"]
    out = []
    for name, described in zip(names, _feature_text(pd.Index(names), lang)):
        kind = kinds.get(name, "score")
        said = ""
        if values is not None and name in values.index:
            value = values[name]
            value = float("nan") if pd.isna(value) else float(value)
            said = text("student.waterfall.value", lang, value=format_value(value, kind, lang))
        elif kind == "flag":
            said = text("student.waterfall.flag", lang)
        out.append(_wrap(described, lang, tail=said))
    return out


_REST = re.compile(r"^(?:Sum of )?(\d+) other features$")


def _localise_rest(ax, lang: str) -> None:
    """shap's own English label of the pooled last row ("Sum of 303 other features") in the report language."""
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    changed = [text("reports.plot.other_features", lang, n=int(m.group(1))) if (m := _REST.match(label)) else label
               for label in labels]
    if changed != labels:
        ax.set_yticks(ax.get_yticks(), changed)
