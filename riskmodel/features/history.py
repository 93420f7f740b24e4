"""History family: crisis outcomes dated on or before as-of.

A prior self-harm or suicide attempt is the strongest single predictor of the next one, so
outcomes up to and including the as-of day are features; outcomes after it are labels
(``riskmodel.labels``) and are unreachable here.

Example
-------
See ``tests/test_features_families.py::test_history_counts_outcomes_up_to_as_of``.
"""

from __future__ import annotations

import numpy as np

from riskmodel.features.catalogue import raw_catalogue, windows_for
from riskmodel.features.context import Context

__all__ = ["compute", "SELF_HARM_OR_ATTEMPT"]

SELF_HARM_OR_ATTEMPT = ("self_harm", "suicide_attempt")


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Outcome-history features for every student at ``ctx.as_of``."""
    fs = ctx.settings.features
    outcomes = ctx.events["outcomes"]
    harm = outcomes.where("event", SELF_HARM_OR_ATTEMPT)
    out: dict[str, np.ndarray] = {}
    for w in windows_for("outcome_self_harm_or_attempt_{w}d", ctx.settings):
        out[f"outcome_self_harm_or_attempt_{w}d"] = harm.count(w)
    out["outcome_self_harm_or_attempt_ever"] = harm.count()
    for w in fs.windows_days:
        out[f"outcome_any_{w}d"] = outcomes.count(w)
    for kind in raw_catalogue()["vocab"]["outcome"]:
        out[f"outcome_{kind}_ever"] = outcomes.where("event", [kind]).count()
    out["outcome_days_since_last"] = outcomes.days_since_last()
    out["outcome_days_since_self_harm_or_attempt"] = harm.days_since_last()
    return out
