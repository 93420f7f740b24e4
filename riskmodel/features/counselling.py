"""Counselling family: contacts with the psychology centre, referrals, hospital, leave and return,
and the counsellor's own risk rating.

Only contacts dated on or before as-of are features. Contacts after as-of belong to the audit
(``riskmodel.labels`` reports them as ``counselling_after``), never here.

Example
-------
See ``tests/test_features_families.py::test_counselling_leave_and_rating``.
"""

from __future__ import annotations

import numpy as np

from riskmodel.features.context import Context, safe_diff

__all__ = ["compute"]

CONTACT_KINDS = ("session", "group", "interview", "follow_up")


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Counselling features for every student at ``ctx.as_of``."""
    fs = ctx.settings.features
    couns = ctx.events["counselling"]
    contacts = couns.where("kind", CONTACT_KINDS)
    out: dict[str, np.ndarray] = {}
    for w in fs.windows_days:
        out[f"couns_contacts_{w}d"] = contacts.count(w)
    out["couns_interview_365d"] = couns.where("kind", ["interview"]).count(365)
    referral, hospital = couns.where("kind", ["referral"]), couns.where("kind", ["hospital"])
    out["couns_referral_365d"], out["couns_referral_ever"] = referral.count(365), referral.count()
    out["couns_hospital_365d"], out["couns_hospital_ever"] = hospital.count(365), hospital.count()
    out["couns_leave_ever"] = couns.where("kind", ["leave_of_absence"]).count()
    leave_return = couns.where("kind", ["leave_of_absence", "return"])
    out["couns_on_leave"] = (leave_return.last("kind") == "leave_of_absence").astype(np.float64)
    out["couns_returned_90d"] = (couns.where("kind", ["return"]).count(90) > 0).astype(np.float64)
    rated = couns.where("counsellor_rating", min_value=1)
    last, prev = rated.last("counsellor_rating"), rated.last("counsellor_rating", nth=1)
    out["counsellor_rating_last"] = last
    out["counsellor_rating_prev"] = prev
    out["counsellor_rating_change"] = safe_diff(last, prev)
    out["counsellor_rating_high_365d"] = couns.where("counsellor_rating", min_value=3).count(365)
    out["couns_days_since_last"] = couns.days_since_last()
    return out
