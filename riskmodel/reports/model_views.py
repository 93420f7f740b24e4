"""Tables of the model-development notebook: what a saved model is, how it did, what it uses.

They read the model folder's ``model.json`` (written by ``riskmodel.models.registry.save``) and, for
feature importance, a run's ``report_data/contributions.parquet``; nothing is refitted here.

Example
-------
>>> # model_summary("models/2026-03", "zh")
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from riskmodel.i18n import text
from riskmodel.reports.report_data import RunData

__all__ = ["read_model_meta", "model_summary", "model_metrics", "model_comparison", "feature_importance",
           "metrics_section", "comparison_section"]

_SUMMARY_KEYS = ("version", "kind", "until", "horizon_days", "data_checksum", "seed", "best_iteration",
                 "calibration.chosen", "calibration.positives", "rows.usable", "windows.evaluation",
                 "windows.model")


def read_model_meta(model_dir: str | Path) -> dict:
    """``model.json`` of a model folder as a dict."""
    path = Path(model_dir) / "model.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no model metadata; pass the --out folder of `riskmodel train`.")
    return json.loads(path.read_text(encoding="utf-8"))


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def model_summary(model_dir: str | Path, lang: str) -> pd.DataFrame:
    """Version, kind, training window, horizon, calibration and size of the model (what is recorded)."""
    meta = read_model_meta(model_dir)
    flat = _flatten({k: v for k, v in meta.items() if k != "windows"})
    flat.update({f"windows.{k}": json.dumps(v, ensure_ascii=False) for k, v in (meta.get("windows") or {}).items()})
    rows = [(key, flat[key]) for key in _SUMMARY_KEYS if key in flat]
    rows.append(("features", len(meta.get("features", []))))
    return pd.DataFrame(rows, columns=[text("reports.col.item", lang), text("reports.col.value", lang)]).astype(str)


def model_metrics(model_dir: str | Path, lang: str) -> pd.DataFrame:
    """Every metric recorded for the held-out later period (``meta["metrics_holdout"]``), flattened."""
    meta = read_model_meta(model_dir)
    metrics = meta.get("metrics_holdout") or meta.get("metrics") or {}
    flat = _flatten(metrics)
    return pd.DataFrame({text("reports.col.metric", lang): list(flat),
                         text("reports.col.value", lang): [_fmt(v) for v in flat.values()]})


def model_comparison(model_dir: str | Path, lang: str) -> pd.DataFrame:
    """Held-out metrics of the candidate models recorded at training (``meta["comparison"]``), if any.

    Rows are models, columns metrics; empty when training recorded no comparison.
    """
    comparison = read_model_meta(model_dir).get("comparison") or {}
    if not comparison:
        return pd.DataFrame()
    frame = pd.DataFrame({name: _flatten(values) for name, values in comparison.items()}).T
    frame.index.name = text("reports.col.kind", lang)
    return frame.reset_index()


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def feature_importance(run: RunData, lang: str, *, top: int = 20) -> pd.DataFrame:
    """Mean absolute contribution of each feature over the run's scored students (``top`` first)."""
    contrib = run.table("contributions")
    if contrib.empty:
        return pd.DataFrame()
    means = contrib.drop(columns="pseudonym").abs().mean().sort_values(ascending=False).head(top)
    from riskmodel.reports.views import _feature_text

    return pd.DataFrame({"feature": means.index, text("reports.col.factor", lang): _feature_text(means.index, lang),
                         text("reports.plot.importance", lang): means.round(4).to_numpy()})


def metrics_section(model_dir: str | Path, lang: str):
    """The held-out metrics as a table, or a note that the model records none."""
    from riskmodel.reports.views import Table, note

    metrics = model_metrics(model_dir, lang)
    return Table(metrics) if not metrics.empty else note("reports.md.no_metrics", lang)


def comparison_section(model_dir: str | Path, lang: str):
    """The candidate models side by side, or a note that training recorded no comparison."""
    from riskmodel.reports.views import Table, note

    comparison = model_comparison(model_dir, lang)
    return Table(comparison) if not comparison.empty else note("reports.md.no_comparison", lang)
