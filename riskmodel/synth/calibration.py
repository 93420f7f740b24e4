"""Measure a generated cohort against its calibration targets (DOMAIN.md section 5).

The screens are scored with the package's own engine (riskmodel.instruments.scoring.score), so the rates
are what a centre running riskmodel would see. ``TARGETS`` holds each target range with its source;
tests/test_synth_calibration.py checks every rate of a small fixed-seed cohort against it.

Example
-------
>>> from riskmodel.synth import generate
>>> rates = calibration_rates(generate(students=400, years=1, seed=3))
>>> 0 <= rates["phq9_positive"] <= 1
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.config import InstrumentSettings

__all__ = ["TARGETS", "calibration_rates", "flag_odds_ratios", "outcome_window_rate"]

# rate -> (low, high, basis). University unless the name says otherwise. The ranges are the published
# ranges of DOMAIN.md 5; the tests allow the sampling error of a small cohort on top (see there).
TARGETS: dict[str, tuple[float, float, str]] = {
    "phq9_positive": (0.10, 0.28, "PHQ-9 >= 10 among administrations; DOMAIN.md 5 (Gao 2020; Wu R 2021)"),
    "gad7_positive": (0.05, 0.15, "GAD-7 >= 10; DOMAIN.md 5 (Wu R 2021)"),
    "upi_class1": (0.06, 0.25, "UPI class 1 among freshmen; DOMAIN.md 1.1"),
    "upi_item25": (0.01, 0.05, "UPI item 25 'yes'; DOMAIN.md 1.1"),
    "phq9_item9": (0.03, 0.11, "PHQ-9 item 9 >= 1, a 2-week SI screen; 12-month SI 5-11% (DOMAIN.md 5)"),
    "outcome_90d": (0.005, 0.02, "students with a recorded outcome in a 90-day window (issue 3)"),
    "attempt_12m": (0.001, 0.03, "recorded suicide attempts a year; survey 12-month SA 1-3% (DOMAIN.md 5) "
                                 "is an upper bound: a centre records fewer than surveys find"),
    "risk_flag_outcome_or": (1.5, 2.5, "odds ratio of a recorded outcome over the window, any family risk "
                                       "flag vs none (DOMAIN.md 3.2: flags ~1.3-2.0, bullying ~1.8-2.0)"),
    "flag_or_min": (1.3, 3.5, "smallest odds ratio of one risk flag for a positive screen over the window; "
                              "a threshold screen's OR runs above the outcome OR for the same shift"),
    "flag_or_max": (1.5, 3.5, "largest odds ratio of one risk flag for a positive screen"),
}
_RISK_FLAGS = ("left_behind", "single_parent", "divorced_family", "reconstituted_family", "disability")


def _scored(screenings: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    from riskmodel.instruments.scoring import score

    frame = screenings.copy()
    items = [c for c in frame.columns if c.startswith("item_")]
    frame[items] = frame[items].astype("float32")
    stage = frame["student_id"].map(students.set_index("student_id")["stage"])
    scored = score(frame, settings=InstrumentSettings(), stage=stage)
    scored["item_9"] = frame["item_9"]
    scored["item_25"] = frame["item_25"]
    return scored


def outcome_window_rate(tables: dict[str, pd.DataFrame], horizon_days: int = 90) -> float:
    """Mean over quarterly as-of dates of the share of enrolled students with a recorded outcome in
    ``(as_of, as_of + horizon]`` (as-of dates whose window closes inside the data)."""
    students, outcomes = tables["students"], tables["outcomes"]
    first, last = tables["calendar"]["start"].min(), outcomes["date"].max() if len(outcomes) else None
    if last is None:
        return 0.0
    start = max(first, students["enrollment_date"].min())
    rates = []
    for as_of in pd.date_range(start, last - pd.Timedelta(days=horizon_days), freq="QS"):
        enrolled = (students["enrollment_date"] <= as_of) & ~(students["exit_date"] <= as_of)
        window = outcomes[(outcomes["date"] > as_of) & (outcomes["date"] <= as_of + pd.Timedelta(days=horizon_days))]
        if enrolled.sum():
            hit = window.loc[window["student_id"].isin(students.loc[enrolled, "student_id"]), "student_id"]
            rates.append(hit.nunique() / enrolled.sum())
    return float(np.mean(rates)) if rates else 0.0


def flag_odds_ratios(tables: dict[str, pd.DataFrame], cases: pd.Series | None = None,
                     flags: tuple[str, ...] = _RISK_FLAGS) -> dict[str, float]:
    """Odds ratio flagged vs not, for each risk flag, of being among ``cases`` (student IDs; default:
    students with a recorded outcome over the window). 0.5 is added to each cell."""
    students = tables["students"]
    cases = tables["outcomes"]["student_id"] if cases is None else cases
    has = students["student_id"].isin(cases).to_numpy()
    ratios = {}
    for flag in flags:
        mask = students[flag].fillna(False).to_numpy(dtype=bool)
        a, b = has[mask].sum() + 0.5, (~has[mask]).sum() + 0.5
        c, d = has[~mask].sum() + 0.5, (~has[~mask]).sum() + 0.5
        ratios[flag] = float((a / b) / (c / d))
    return ratios


def calibration_rates(cohort) -> dict[str, float]:
    """Every calibrated rate of ``cohort`` (keys of ``TARGETS`` that apply to its stage)."""
    tables = cohort.tables
    scored = _scored(tables["screenings"], tables["students"])
    rates: dict[str, float] = {}
    by = scored.groupby("instrument")
    if "PHQ9" in by.groups:
        phq = by.get_group("PHQ9")
        rates["phq9_positive"] = float((phq["total"] >= 10).mean())
        rates["phq9_item9"] = float((phq["item_9"] >= 1).mean())
    if "GAD7" in by.groups:
        rates["gad7_positive"] = float((by.get_group("GAD7")["total"] >= 10).mean())
    if "UPI" in by.groups:
        upi = by.get_group("UPI")
        rates["upi_class1"] = float((upi["classification"] == "class_1").mean())
        rates["upi_item25"] = float((upi["item_25"] >= 1).mean())
    if "SCL90" in by.groups:
        rates["scl90_positive"] = float(by.get_group("SCL90")["positive"].mean())
    if "MHT" in by.groups:
        rates["mht_needs_help"] = float((by.get_group("MHT")["classification"] == "needs_help").mean())
    rates["careless"] = float(scored["careless"].mean())
    rates["outcome_90d"] = outcome_window_rate(tables)
    years = (pd.Timestamp(cohort.end) - pd.Timestamp(cohort.start)).days / 365.25
    attempts = tables["outcomes"].loc[tables["outcomes"]["event"].eq("suicide_attempt"), "student_id"].nunique()
    rates["attempt_12m"] = attempts / len(tables["students"]) / years
    screened_positive = scored.loc[scored["positive"].astype(bool)
                                   & scored["instrument"].isin(["PHQ9", "GAD7", "UPI", "SCL90", "MHT"]), "student_id"]
    screened = tables["students"][tables["students"]["student_id"].isin(scored["student_id"])]
    ratios = flag_odds_ratios({**tables, "students": screened}, screened_positive)
    rates["flag_or_min"], rates["flag_or_max"] = min(ratios.values()), max(ratios.values())
    students = tables["students"]
    any_flag = students[list(_RISK_FLAGS)].fillna(False).astype(bool).any(axis=1)
    rates["risk_flag_outcome_or"] = flag_odds_ratios(
        {**tables, "students": students.assign(any_risk_flag=any_flag)}, flags=("any_risk_flag",))["any_risk_flag"]
    return rates
