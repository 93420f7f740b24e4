"""Register family: family and social flags, stage, gender, age, time since enrolment.

Categorical register values are one-hot flags (``reg_stage_university``, ``reg_gender_female``; a
student of unknown gender has both gender flags 0). A register flag the centre did not fill stays
NaN (unknown is not "no"). The graduating term comes from the stage's expected programme length
(``settings.features.programme_years``), never from ``exit_date``: a recorded exit is a future fact
on most as-of dates (a withdrawal may even follow a crisis).

Example
-------
See ``tests/test_features_families.py::test_register_flags_and_enrolment``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.features.catalogue import raw_catalogue
from riskmodel.features.context import Context

__all__ = ["compute", "ADVERSITY_FLAGS"]

_LAST_TERM_DAYS = 210  # the last term before the expected end: a spring term from late February to September

ADVERSITY_FLAGS = ("left_behind", "single_parent", "divorced_family", "reconstituted_family",
                   "economic_hardship", "disability")


def _flag_column(reg: pd.DataFrame, name: str) -> np.ndarray:
    if name not in reg.columns:
        return np.full(len(reg), np.nan)
    return pd.array(reg[name], dtype="boolean").astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Register features for every student at ``ctx.as_of``."""
    reg, vocab, fs = ctx.register, raw_catalogue()["vocab"], ctx.settings.features
    out: dict[str, np.ndarray] = {}
    for name in vocab["flag"]:
        out[f"reg_{name}"] = _flag_column(reg, name)
    out["reg_family_flags"] = np.nansum(np.column_stack([out[f"reg_{n}"] for n in ADVERSITY_FLAGS]), axis=1)
    stage = reg["stage"].astype(object).to_numpy()
    for name in vocab["stage"]:
        out[f"reg_stage_{name}"] = (stage == name).astype(np.float64)
    gender = reg["gender"].astype(object).to_numpy()
    out["reg_gender_female"] = (gender == "F").astype(np.float64)
    out["reg_gender_male"] = (gender == "M").astype(np.float64)
    out["reg_age_years"] = (ctx.as_of_day - reg["_birth_day"].to_numpy(dtype=np.float64)) / 365.25
    days = (ctx.as_of_day - reg["_enrolled_day"].to_numpy()).astype(np.float64)
    out["reg_days_enrolled"] = days
    out["reg_study_year"] = np.floor(days / 365.25) + 1
    out["reg_freshman"] = (days < 365).astype(np.float64)
    years = pd.Series(stage).map(fs.programme_years).to_numpy(dtype=np.float64, na_value=np.nan)
    to_end = years * 365.25 - days
    out["reg_graduating_term"] = np.where(np.isnan(years), np.nan,
                                          ((to_end > 0) & (to_end <= _LAST_TERM_DAYS)).astype(np.float64))
    return out
