"""Parameters of the generative story, in one place, with the figure each one is calibrated to.

Every number here is a modelling choice. Where it is tuned to a published figure, the comment names the
target from ../shared/docs/DOMAIN.md (section 5 for the university, 3.1 for secondary schools); the
calibration test (tests/test_synth_calibration.py) checks the resulting rates within stated tolerances.
Distress is on a standard-normal-like scale (population SD about 1); effects are in those units, and the
outcome hazard is logistic in distress, so a shift of ``s`` in mean distress multiplies the odds of an
outcome by about ``exp(HAZARD_SLOPE * s)``.
"""

from __future__ import annotations

# --- the register ----------------------------------------------------------------------------------
# prevalence of each family/social flag, per stage family (university; k12 = primary/junior/senior)
FLAG_PREVALENCE: dict[str, dict[str, float]] = {
    "university": {"left_behind": 0.12, "single_parent": 0.06, "divorced_family": 0.08,
                   "reconstituted_family": 0.04, "economic_hardship": 0.18, "disability": 0.015,
                   "only_child": 0.45, "migrant": 0.05},
    "k12": {"left_behind": 0.15, "single_parent": 0.07, "divorced_family": 0.10,
            "reconstituted_family": 0.05, "economic_hardship": 0.12, "disability": 0.02,
            "only_child": 0.40, "migrant": 0.12},
}
FLAG_MISSING = 0.01  # share of register cells left empty (the register does not hold the flag)

# shift of a student's mean distress per flag; with HAZARD_SLOPE ~1.1 these give odds ratios for an
# outcome of about 1.4-1.8 and, through the questionnaires, screen-positive ORs of about 1.5-2.5
# (DOMAIN.md 3.2: left-behind SI RR ~1.7 [U]; parental divorce, remarriage OR ~1.3-1.5; disability in
# key-population lists; economic hardship inconsistent in China, hence small)
FLAG_EFFECT: dict[str, float] = {
    "left_behind": 0.50, "single_parent": 0.42, "divorced_family": 0.45, "reconstituted_family": 0.42,
    "economic_hardship": 0.25, "disability": 0.50, "only_child": -0.05, "migrant": 0.25,
}
FEMALE_EFFECT = 0.15  # depressive symptoms and SI higher in girls/women (DOMAIN.md 3.1)
TRAIT_SD = 0.70  # stable, unexplained part of vulnerability

# --- monthly distress, AR(1) -------------------------------------------------------------------------
AR_RHO = 0.75  # month-to-month persistence of the deviation from a student's own mean
AR_SD = 0.70  # stationary SD of the deviation; innovation SD = AR_SD * sqrt(1 - rho^2)
# calendar effects (added to distress; DOMAIN.md 5: +15-25% term-start months, -35% long holidays)
SEASON_EXAM = 0.60  # times the share of the month's days in exam weeks
SEASON_TERM_START = {"university": 0.30, "k12": 0.80}  # times the share of days in a term's first 3 weeks
SEASON_HOLIDAY = 0.45  # minus, times the share of days in holidays
FRESHMAN_EFFECT = 0.30  # first two months after entry (adaptation)
GRADUATING_EFFECT = 0.25  # the last spring term (job seeking, theses; entrance exams in K-12)
K12_GRADE_EFFECT = 0.06  # per school year of age: depressive symptoms rise junior-1 -> senior-3

# life events: monthly base probability, jump in distress, share the centre records (others stay in truth)
LIFE_EVENTS: dict[str, tuple[float, float]] = {
    # event: (monthly probability, distress jump)
    "breakup": (0.006, 0.45),
    "bereavement": (0.0015, 0.60),
    "parental_divorce": (0.0008, 0.50),
    "family_conflict": (0.004, 0.30),
    "bullying_victim": (0.0015, 0.60),
    "bullying_perpetrator": (0.0006, 0.20),
    "disciplinary_action": (0.0008, 0.40),
    "exam_failure": (0.0, 0.35),  # only in exam months, see EXAM_FAILURE_PROB
    "economic_shock": (0.0012, 0.35),
    "illness": (0.0025, 0.30),
    "relocation": (0.0004, 0.20),
    "internship_start": (0.0, 0.10),  # university years 3-4 only, see INTERNSHIP_PROB
    "other": (0.002, 0.15),
}
K12_EVENT_SCALE = {"breakup": 0.4, "bullying_victim": 3.0, "bullying_perpetrator": 3.0, "family_conflict": 1.5}
EXAM_FAILURE_PROB = 0.03  # per exam month, times exp(0.5 * distress)
INTERNSHIP_PROB = 0.04  # per month in university years 3-4
EVENT_VULNERABILITY = 0.30  # event probability times exp(this * mean distress): stress generation
EVENT_RECORDED = 0.60  # share of life events the centre learns of and records

# --- outcomes ----------------------------------------------------------------------------------------
# monthly hazard = sigmoid(HAZARD_INTERCEPT + HAZARD_SLOPE * distress + history - treatment);
# tuned so 0.5-2% of students have an outcome in a 90-day window (issue 3)
HAZARD_INTERCEPT = {"university": -6.65, "k12": -6.45}
HAZARD_SLOPE = 1.10
HISTORY_EFFECT = 1.20  # log-odds, for 12 months after an earlier outcome (prior SI/attempt strongest)
HISTORY_MONTHS = 12
OUTCOME_MIX: dict[str, float] = {
    "suicidal_ideation_confirmed": 0.32, "self_harm": 0.22, "crisis_intervention": 0.14,
    "suicide_attempt": 0.07, "psychiatric_diagnosis": 0.12, "psychiatric_admission": 0.04,
    "medical_leave": 0.09,
}
OUTCOME_DISTRESS_JUMP = 0.30  # an outcome is itself a shock

# --- the acute phase (riskmodel.synth.acute): a short crisis state, causal, in the latent path ---------
# monthly onset probability = sigmoid(ACUTE_INTERCEPT + ACUTE_SLOPE * distress + ACUTE_AFTER_EVENT if a
# life event struck this month); tuned so about half of all outcomes fall inside an acute phase
ACUTE_INTERCEPT = -5.2
ACUTE_SLOPE = 1.4
ACUTE_AFTER_EVENT = 1.0
ACUTE_MEAN_DAYS = 35  # geometric duration in days (about 1.15 months)
ACUTE_HAZARD = 3.0  # outcome log-odds added on acute days (odds x 20)
ACUTE_OBS_RATE = 0.9  # observation entries per 30 acute days: ~half of the phases are noticed
ACUTE_OBS_LEVEL = 2.2  # the distress level the entries' category and severity are drawn at

# --- the centre's response -----------------------------------------------------------------------------
INTERVIEW_PROB = 0.85  # a positive screen leads to an interview (访谈)
# a critical answer (PHQ-9 item 9, UPI item 25, SCL-90 item 15: a hard-rule trigger) is followed up
# sooner: interviewed with this probability (a few never are: the case riskmodel's queue exists for),
# within 0-7 days with INTERVIEW_PROMPT, otherwise 8-40 days late
INTERVIEW_PROB_CRITICAL = 0.96
INTERVIEW_PROMPT = 0.78
INTERVIEW_LATE_DAYS = (8, 40)
SESSIONS_IF_RATING = 2  # counsellor rating >= this: a course of sessions
TREATMENT_MONTHS = 6
TREATMENT_DISTRESS = 0.15  # distress lowered per treated month (cumulates through the AR(1))
TREATMENT_HAZARD = 0.35  # log-odds lowered while treated: the intervention effect the audit documents
SELF_REFERRAL = 0.0015  # monthly, times exp(distress)
WITHDRAWAL = 0.0015  # monthly, times exp(0.5 * distress): ~2% of a university cohort over 4 years
LEAVE_MONTHS = (3, 6)  # a medical leave lasts this many months

# --- observations, attendance, academics -------------------------------------------------------------
OBS_RATE = {"university": 0.025, "k12": 0.045}  # per student-month at mean distress
OBS_SLOPE = 1.0  # rate times exp(slope * distress)
ABSENCE_RATES = {  # per month at mean distress: (rate, distress slope)
    "absent_unexcused": (0.06, 0.90), "absent_excused": (0.10, 0.30), "late": (0.25, 0.35), "leave": (0.05, 0.50),
}

# --- questionnaires ------------------------------------------------------------------------------------
SCREEN_NOISE = 0.35  # state noise of one administration on top of distress
MISSED_WAVE = 0.07  # share of students who miss a given wave
CARELESS = 0.03  # share of administrations answered carelessly (half too fast, half identical answers)
