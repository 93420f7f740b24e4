"""Who is screened with what, when; and the centre's own follow-up reading of a screen.

University: UPI in the freshmen's first September (entry census); PHQ-9 and GAD-7 every October for the
other years; SCL-90 in the freshmen's first March; PHQ-9 and GAD-7 again in the graduating year's March.
District: MHT every October from primary grade 4 on; PHQ-9 and GAD-7 every March in junior and senior
schools. SDS and SAS are given at the interview that follows a positive screen. A student misses a
given wave with probability params.MISSED_WAVE; nobody is screened while on leave.

The follow-up rule (``centre_positive``) is how the synthetic centre decides whom to interview: PHQ-9
total at or above the stage cut-off or item 9 >= 1, GAD-7 >= 10, UPI class 1, SCL-90 positive (total >
160, > 43 positive items or any factor >= 2) or item 15 >= 2, MHT total >= 65. It mirrors the documented
rules of riskmodel.instruments; the package's scoring engine remains the one source for analyses.

Example
-------
>>> import numpy as np
>>> from riskmodel.instruments import get
>>> raw = np.zeros((2, 9), np.int8); raw[1, 8] = 1
>>> centre_positive(get("PHQ9"), raw, np.array([False, False]), "university").tolist()
[False, True]
"""

from __future__ import annotations

import numpy as np

from riskmodel.instruments.specs import InstrumentSpec
from riskmodel.synth import params

__all__ = ["waves", "centre_positive", "critical_answer", "scored_total"]


def waves(month: int, stage: str, *, entry_year: np.ndarray, academic_year: int, programme_years: np.ndarray,
          school_stage: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Instruments given in a calendar ``month`` and, for each, who is due (boolean mask).

    ``academic_year`` is the year of the September that opened the current school year.
    """
    year_of_study = academic_year - entry_year + 1  # 1 = first year at this school
    due: list[tuple[str, np.ndarray]] = []
    if stage == "university":
        if month == 9:
            due.append(("UPI", year_of_study == 1))
        elif month == 10:
            due += [("PHQ9", year_of_study >= 2), ("GAD7", year_of_study >= 2)]
        elif month == 3:
            due.append(("SCL90", year_of_study == 1))
            graduating = year_of_study == programme_years
            due += [("PHQ9", graduating), ("GAD7", graduating)]
    else:
        primary_grade = np.where(school_stage == "primary", year_of_study, 99)
        if month == 10:
            due.append(("MHT", primary_grade >= 4))
        elif month == 3:
            secondary = school_stage != "primary"
            due += [("PHQ9", secondary), ("GAD7", secondary)]
    return due


def scored_total(spec: InstrumentSpec, raw: np.ndarray) -> np.ndarray:
    """Sum of the scored items after reversal (lie and supplementary items left out)."""
    keyed = raw.astype(np.int16)
    if spec.reverse_items:
        cols = np.asarray(spec.reverse_items) - 1
        keyed[:, cols] = spec.response_min + spec.response_max - keyed[:, cols]
    scored = np.asarray(spec.scored_items) - 1
    return keyed[:, scored].sum(axis=1)


def critical_answer(spec: InstrumentSpec, raw: np.ndarray) -> np.ndarray:
    """Whether an administration holds a critical answer (the specification's default thresholds:
    PHQ-9 item 9 >= 1, UPI item 25 yes, SCL-90 item 15 >= 2, SDS item 19 >= its threshold): the
    hard rules' trigger (riskmodel/warning/hard_rules.yaml)."""
    critical = np.zeros(raw.shape[0], bool)
    for item, threshold in spec.critical.items():
        critical |= raw[:, item - 1] >= threshold
    return critical


def centre_positive(spec: InstrumentSpec, raw: np.ndarray, request: np.ndarray, stage: str) -> np.ndarray:
    """Whether the synthetic centre reads an administration as a positive screen (see module docstring)."""
    total = scored_total(spec, raw)
    critical = np.zeros(raw.shape[0], bool)
    for item, threshold in spec.critical.items():
        critical |= raw[:, item - 1] >= threshold
    if spec.code == "PHQ9":
        return (total >= (10 if stage == "university" else 11)) | critical
    if spec.code == "GAD7":
        return total >= 10
    if spec.code == "UPI":
        supplementary = raw[:, np.asarray(spec.supplementary_items) - 1].sum(axis=1)
        return (total >= 25) | critical | (supplementary >= 2) | request
    if spec.code == "SCL90":
        factors = np.column_stack([raw[:, np.asarray(items) - 1].mean(axis=1) for items in spec.subscales.values()])
        positive_items = (raw >= 2).sum(axis=1)
        return (total > 160) | (positive_items > 43) | (factors.max(axis=1) >= 2) | critical
    if spec.code == "MHT":
        return total >= 65
    return np.zeros(raw.shape[0], bool)


def counselling_request(theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """UPI's explicit request for counselling: rare, more likely at high distress."""
    return rng.random(theta.size) < 1.0 / (1.0 + np.exp(-(-4.6 + 1.2 * theta)))


def missed(n: int, rng: np.random.Generator) -> np.ndarray:
    """Who misses this wave."""
    return rng.random(n) < params.MISSED_WAVE
