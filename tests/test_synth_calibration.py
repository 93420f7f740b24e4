"""Each calibrated rate of the synthetic cohort against its published range (DOMAIN.md section 5).

Fixed-seed cohorts (a university of 20,000 and a district of 6,000 students, two years) keep the test
fast; the stated tolerance is added on both sides of each published range to allow for that sample's error (about two standard
errors at the cohort's size), so a failure means the generator moved, not that the dice were unlucky.
Screens are scored with the package's own engine, as a centre running riskmodel would see them.
"""

from __future__ import annotations

import pytest

from riskmodel.synth import generate
from riskmodel.synth.calibration import TARGETS, calibration_rates, flag_odds_ratios

# rate -> tolerance added on both sides of the TARGETS range
TOLERANCE = {
    "phq9_positive": 0.01, "gad7_positive": 0.01, "upi_class1": 0.02, "upi_item25": 0.005,
    "phq9_item9": 0.01, "outcome_90d": 0.002, "attempt_12m": 0.0, "flag_or_min": 0.1, "flag_or_max": 0.2,
    "risk_flag_outcome_or": 0.1,
}
# secondary-school targets (DOMAIN.md 3.1 and 5): PHQ-9 >= 11 (adolescent cut-off) ~24%, GAD-7 ~14%,
# MHT high anxiety ~7%, outcomes as for the university
K12_TARGETS = {
    "phq9_positive": (0.15, 0.35), "gad7_positive": (0.08, 0.20), "mht_needs_help": (0.02, 0.12),
    "outcome_90d": (0.005, 0.025),
}


@pytest.fixture(scope="module")
def university():
    return generate(students=20000, years=2, stage="university", seed=11)


@pytest.fixture(scope="module")
def university_rates(university):
    return calibration_rates(university)


@pytest.fixture(scope="module")
def district_rates():
    return calibration_rates(generate(students=6000, years=2, stage="k12", seed=12))


@pytest.mark.parametrize("rate", sorted(TOLERANCE))
def test_university_rate_within_published_range(university_rates, rate):
    low, high, basis = TARGETS[rate]
    value, slack = university_rates[rate], TOLERANCE[rate]
    assert low - slack <= value <= high + slack, f"{rate} = {value:.4f}, target {low}-{high} ({basis})"


@pytest.mark.parametrize("rate", sorted(K12_TARGETS))
def test_district_rate_within_published_range(district_rates, rate):
    low, high = K12_TARGETS[rate]
    assert low <= district_rates[rate] <= high, f"{rate} = {district_rates[rate]:.4f}, target {low}-{high}"


def test_careless_answering_is_a_few_percent(university_rates):
    # params.CARELESS = 3% of administrations, as the package's validity flags see them
    assert 0.015 < university_rates["careless"] < 0.06


def test_common_risk_flags_raise_outcome_odds(university):
    # flags held by >= 6% of students; rarer ones (disability 1.5%) are too few for a steady estimate here
    ratios = flag_odds_ratios(university.tables)
    assert all(ratios[flag] > 1.0 for flag in ("left_behind", "single_parent", "divorced_family")), ratios
