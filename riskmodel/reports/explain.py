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

    out = []
    for label in _feature_text(names, lang):
        if lang == "en":
            out.append(textwrap.fill(label, width=48))
        else:
            out.append("\n".join(label[i:i + 22] for i in range(0, len(label), 22)))
    return out


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
    """
    import matplotlib.pyplot as plt

    from riskmodel.reports.views import note

    contrib = run.table("contributions")
    if contrib.empty or not (contrib["pseudonym"] == pseudonym).any():
        return note("reports.student.no_contributions", lang)
    row = contrib.loc[contrib["pseudonym"] == pseudonym].drop(columns="pseudonym").iloc[[0]]
    explained = explanation(row, lang=lang, base_values=base_value(model_dir, run))[0]
    shap = _shap()
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
    fig.set_size_inches(10.0, 0.6 * (top + 1) + 1.5)
    fig.subplots_adjust(left=0.42, right=0.97)  # room for the factors' descriptions (cut off at shap's own margins)
    _localise_rest(fig.axes[0], lang)
    return fig.axes[0]


_REST = re.compile(r"^(?:Sum of )?(\d+) other features$")


def _localise_rest(ax, lang: str) -> None:
    """shap's own English label of the pooled last row ("Sum of 303 other features") in the report language."""
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    changed = [text("reports.plot.other_features", lang, n=int(m.group(1))) if (m := _REST.match(label)) else label
               for label in labels]
    if changed != labels:
        ax.set_yticks(ax.get_yticks(), changed)
