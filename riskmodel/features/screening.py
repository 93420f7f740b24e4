"""Screening family: latest scores per instrument, change since the previous wave, validity, misses.

Reads the scored screenings (one row per administration, scored once by
``riskmodel.instruments.score`` in ``build``) through the as-of cut. Critical-item features are
the raw answers of the latest administration (``phq9_item9_latest``), NaN if never screened.
Bands and classes are ordinal codes: band 0 is the lowest band of the instrument's configured set;
class 1 is the first (most urgent) class of its classification.

Example
-------
See ``tests/test_features_families.py::test_screening_latest_previous_and_change``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.features.catalogue import REQUIRED_CRITICAL_ITEMS
from riskmodel.features.context import Context, flag, safe_diff

__all__ = ["compute"]


def _ordinal(values: np.ndarray, order: list[str], *, start: int) -> np.ndarray:
    """Ordinal code of each text value by its position in ``order`` (``start`` for the first); NaN if absent."""
    cat = pd.Categorical(values, categories=order)
    out = cat.codes.astype(np.float64)
    out[out < 0] = np.nan
    return out + start


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Screening features for every student at ``ctx.as_of``."""
    from riskmodel.instruments import specs as specs_module

    fs = ctx.settings.features
    scored = ctx.events["screenings"]
    out: dict[str, np.ndarray] = {}
    for code, spec in sorted(specs_module.all_specs().items()):
        c = code.lower()
        cut = scored.where("instrument", [code])
        total, prev = cut.last("total"), cut.last("total", nth=1)
        out[f"{c}_total_latest"] = total
        out[f"{c}_total_prev"] = prev
        out[f"{c}_total_change"] = safe_diff(total, prev)
        out[f"{c}_date_latest_days"] = cut.days_since_last()
        out[f"{c}_waves"] = cut.count()
        has, has_prev = cut.has(0), cut.has(1)
        out[f"{c}_positive_latest"] = flag(cut.last("positive"), has)
        out[f"{c}_positive_prev"] = flag(cut.last("positive", nth=1), has_prev)
        out[f"{c}_critical_latest"] = flag(cut.last("critical"), has)
        careless = np.fmax(cut.last("careless"), cut.last("invalid"))
        out[f"{c}_careless_latest"] = flag(careless, has)
        if spec.bands is not None:
            names = [name for _, name in spec.bands.for_settings(ctx.settings.instruments)]
            out[f"{c}_band_latest"] = _ordinal(cut.last("band"), names, start=0)
        if spec.standard_multiplier is not None:
            out[f"{c}_standard_latest"] = cut.last("standard_score")
        if spec.classification is not None:
            names = [cls["name"] for cls in spec.classification]
            out[f"{c}_class_latest"] = _ordinal(cut.last("classification"), names, start=1)
        for scale in spec.subscales:
            out[f"{c}_{scale}_latest"] = cut.last(f"sub_{scale}")
        for item in sorted(set(spec.critical) | set(REQUIRED_CRITICAL_ITEMS.get(code, ()))):
            out[f"{c}_item{item}_latest"] = cut.last(f"item_{item}")

    out["screening_days_since_last"] = scored.days_since_last()
    for w in fs.windows_days:
        out[f"screening_count_{w}d"] = scored.count(w)
        out[f"screening_positive_{w}d"] = scored.sum("positive", w)
        out[f"screening_critical_{w}d"] = scored.sum("critical", w)
        out[f"screening_careless_{w}d"] = scored.sum("careless_or_invalid", w)
    days_enrolled = ctx.as_of_day - ctx.register["_enrolled_day"].to_numpy()
    since = out["screening_days_since_last"]
    never = np.isnan(since)
    missed = np.where(never, days_enrolled > fs.screening_grace_days, since > fs.missed_screening_days)
    out["screening_missed"] = missed.astype(np.float64)
    return out
