"""The monthly simulation: latent distress, life events, screenings, the centre's response, outcomes.

One pass over the months of the window; every step inside a month is vectorised over all students (no
per-student Python loop). Each month, in this order: life events strike (their jumps enter the AR(1)
deviation), treatment lowers it, distress is formed (student mean + deviation + calendar), an acute
phase may begin (:mod:`riskmodel.synth.acute`), the month's screening waves are answered, positive
screens lead to interviews, SDS/SAS, sessions and referrals, outcomes are drawn from the hazard (acute
days included), then withdrawals, observations (acute-phase entries too) and absences. The raw draws are kept
as index arrays and turned into tables by :mod:`riskmodel.synth.records`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmodel.instruments.specs import get as get_spec
from riskmodel.synth import acute, params
from riskmodel.synth.calendar import MonthCalendar
from riskmodel.synth.items import answer, durations, make_careless
from riskmodel.synth.screening import centre_positive, counselling_request, critical_answer, missed, waves

__all__ = ["Simulation", "simulate"]

_CRISIS = ("suicide_attempt", "self_harm", "crisis_intervention", "suicidal_ideation_confirmed")
_ENTRY_GRADE = {"primary": 1, "junior": 7, "senior": 10, "university": 13}


@dataclass
class Simulation:
    """Raw draws of one simulation (student positions index the register's rows)."""

    mu: np.ndarray
    trait: np.ndarray
    ability: np.ndarray
    exit_date: np.ndarray
    distress: np.ndarray  # (students, months) float32
    hazard: np.ndarray
    acute: np.ndarray  # (students, months) float32: share of the month's days in an acute phase
    active: np.ndarray
    treated: np.ndarray
    on_leave: np.ndarray
    after_outcome: np.ndarray
    screenings: list[dict] = field(default_factory=list)
    counselling: list[dict] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    observations: list[dict] = field(default_factory=list)
    attendance: list[dict] = field(default_factory=list)
    phases: list[dict] = field(default_factory=list)  # acute phases begun each month: idx, start, end (day numbers)


def _flags_matrix(students: pd.DataFrame, family: str) -> np.ndarray:
    flags = list(params.FLAG_PREVALENCE[family])
    return np.column_stack([students[f].fillna(False).to_numpy(dtype=bool) for f in flags])


def vulnerability(students: pd.DataFrame, family: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Each student's mean distress (raised by the register's flags) and its unexplained trait part."""
    flags = _flags_matrix(students, family)
    effects = np.asarray([params.FLAG_EFFECT[f] for f in params.FLAG_PREVALENCE[family]])
    trait = rng.normal(0.0, params.TRAIT_SD, len(students))
    mu = trait + flags @ effects + params.FEMALE_EFFECT * (students["gender"].to_numpy() == "F")
    return mu - float(mu.mean()), trait


def _days(start: np.ndarray | np.datetime64, days: np.ndarray) -> np.ndarray:
    return np.asarray(start, dtype="datetime64[D]") + days.astype("timedelta64[D]")


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row positions repeated ``counts`` times, and the 0-based rank of each copy within its row."""
    index = np.repeat(np.arange(counts.size), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return index, np.arange(index.size) - starts


def simulate(students: pd.DataFrame, mc: MonthCalendar, stage: str, rng: np.random.Generator) -> Simulation:
    """Run the monthly simulation for the register ``students`` over the months of ``mc``."""
    family = "university" if stage == "university" else "k12"
    n, n_months = len(students), mc.months.size
    mu, trait = vulnerability(students, family, rng)
    ability = rng.normal(0.0, 1.0, n)
    anxiety_offset = rng.normal(0.0, 0.4, n)
    enrol = students["enrollment_date"].to_numpy().astype("datetime64[D]")
    exit_date = students["exit_date"].to_numpy().astype("datetime64[D]")
    entry_year = students["_entry_year"].to_numpy()
    programme = students["_programme_years"].to_numpy()
    school_stage = students["stage"].to_numpy()
    grade0 = pd.Series(school_stage).map(_ENTRY_GRADE).to_numpy()
    end_of_window = (mc.months[-1].astype("datetime64[M]") + 1).astype("datetime64[D]")
    sim = Simulation(mu=mu, trait=trait, ability=ability, exit_date=exit_date,
                     distress=np.zeros((n, n_months), np.float32), hazard=np.zeros((n, n_months), np.float32),
                     acute=np.zeros((n, n_months), np.float32),
                     active=np.zeros((n, n_months), bool), treated=np.zeros((n, n_months), bool),
                     on_leave=np.zeros((n, n_months), bool), after_outcome=np.zeros((n, n_months), bool))
    x = rng.normal(0.0, params.AR_SD, n)
    innovation_sd = params.AR_SD * np.sqrt(1.0 - params.AR_RHO**2)
    treated_until = np.full(n, -1)
    history_until = np.full(n, -1)
    leave_until = np.full(n, -1)
    acute_start, acute_end = np.zeros(n, np.int64), np.zeros(n, np.int64)  # day numbers, end exclusive
    d = mu + x
    outcome_count = 0
    for t in range(n_months):
        m0 = mc.months[t]
        m1 = (m0.astype("datetime64[M]") + 1).astype("datetime64[D]")
        n_days = int((m1 - m0).astype(int))
        day0, day1 = int(np.datetime64(m0, "D").astype(np.int64)), int(m1.astype(np.int64))
        month, year = int(str(m0)[5:7]), int(str(m0)[:4])
        academic_year = year if month >= 9 else year - 1
        year_of_study = academic_year - entry_year + 1
        active = (enrol < m1) & (np.isnat(exit_date) | (exit_date >= m0))
        leave = leave_until >= t
        x = params.AR_RHO * x + innovation_sd * rng.standard_normal(n)

        # life events: their jumps persist through the AR(1)
        struck = np.zeros(n, bool)
        for event, (p, jump) in params.LIFE_EVENTS.items():
            prob = p * (params.K12_EVENT_SCALE.get(event, 1.0) if family == "k12" else 1.0)
            if event == "exam_failure":
                prob = params.EXAM_FAILURE_PROB * np.exp(0.5 * d) if mc.exam_month[t] else 0.0
            elif event == "internship_start":
                prob = np.where((family == "university") & (year_of_study >= 3), params.INTERNSHIP_PROB, 0.0)
            hit = active & (rng.random(n) < prob * np.exp(params.EVENT_VULNERABILITY * mu))
            idx = np.flatnonzero(hit)
            x[idx] += jump
            struck[idx] = True
            sim.events.append({"idx": idx, "date": _days(m0, rng.integers(0, n_days, idx.size)), "event": event})

        treated = treated_until >= t
        x = x - params.TREATMENT_DISTRESS * treated
        months_in = (year - entry_year) * 12 + month - 9
        d = (mu + x + mc.season[t] + params.FRESHMAN_EFFECT * ((months_in >= 0) & (months_in < 2))
             + params.GRADUATING_EFFECT * ((year_of_study == programme) & (month >= 3) & (month <= 6)))
        if family == "k12":
            d = d + params.K12_GRADE_EFFECT * (grade0 + year_of_study - 1 - 7)

        # the acute phase: onset rises steeply with distress and after a life event; it is part of the latent path
        acute.onsets(d, struck, treated, active & (acute_end <= day0), day0, n_days, acute_start, acute_end, rng)
        begun = np.flatnonzero(active & (acute_start >= day0) & (acute_start < day1))
        sim.phases.append({"idx": begun, "start": acute_start[begun].copy(), "end": acute_end[begun].copy()})
        acute_share = acute.share(acute_start, acute_end, day0, day1) * active

        # screening waves and the centre's response
        positives = np.zeros(n, bool)
        critical = np.zeros(n, bool)
        wave_day = _days(m0, rng.integers(7, 28, n))
        skip = missed(n, rng)
        for code, due in waves(month, stage, entry_year=entry_year, academic_year=academic_year,
                               programme_years=programme, school_stage=school_stage):
            sel = np.flatnonzero(due & active & ~leave & ~skip & (enrol <= wave_day))
            positive, crit = _administer(sim, code, sel, wave_day[sel], d, anxiety_offset, family, rng)
            positives[sel] |= positive
            critical[sel] |= crit
        _respond(sim, np.flatnonzero(positives), critical, wave_day, d, anxiety_offset, family, t, treated_until, rng)
        _self_referrals(sim, active, d, m0, n_days, t, treated_until, rng)

        # outcomes drawn from the latent hazard, acute days included
        treated = treated_until >= t
        logit = (params.HAZARD_INTERCEPT[family] + params.HAZARD_SLOPE * d
                 + params.HISTORY_EFFECT * (history_until >= t) - params.TREATMENT_HAZARD * treated)
        p, acute_part = acute.mix(logit, acute_share)
        p = np.where(active, p, 0.0)
        sim.distress[:, t], sim.hazard[:, t], sim.active[:, t] = d, p, active
        sim.acute[:, t] = acute_share
        sim.treated[:, t], sim.on_leave[:, t] = treated & active, leave & active
        sim.after_outcome[:, t] = (history_until >= t) & active
        idx = np.flatnonzero(rng.random(n) < p)
        kinds = np.asarray(list(params.OUTCOME_MIX))[
            rng.choice(len(params.OUTCOME_MIX), idx.size, p=np.asarray(list(params.OUTCOME_MIX.values())))]
        days, in_acute = acute.outcome_days(idx, p, acute_part, acute_start, acute_end, day0, day1, rng)
        dates = days.astype("datetime64[D]")
        ids = outcome_count + np.arange(idx.size)
        outcome_count += idx.size
        sim.outcomes.append({"idx": idx, "date": dates, "event": kinds, "outcome_id": ids, "in_acute": in_acute})
        history_until[idx] = t + params.HISTORY_MONTHS
        treated_until[idx] = np.maximum(treated_until[idx], t + params.TREATMENT_MONTHS)
        x[idx] += params.OUTCOME_DISTRESS_JUMP
        leave_until = _consequences(sim, idx, dates, kinds, ids, t, leave_until, rng)

        # withdrawals (take effect in the first half of next month)
        quits = np.flatnonzero(active & np.isnat(exit_date)
                               & (rng.random(n) < params.WITHDRAWAL * np.exp(0.5 * d)))
        leaving = _days(m1, rng.integers(0, 14, quits.size))
        exit_date[quits] = np.where(leaving < end_of_window, leaving, np.datetime64("NaT"))

        # observations and absences thicken with distress
        counts = rng.poisson(params.OBS_RATE[family] * np.exp(params.OBS_SLOPE * d) * active)
        idx, _ = _expand(counts)
        sim.observations.append({"idx": idx, "date": _days(m0, rng.integers(0, n_days, idx.size)), "d": d[idx]})
        sim.observations.append(acute.entries(acute_start, acute_end, active, day0, day1, rng))
        school_days = mc.school_days[t]
        if school_days.size:
            present = active & ~leave
            for status, (rate, slope) in params.ABSENCE_RATES.items():
                idx, _ = _expand(rng.poisson(rate * np.exp(slope * d) * present))
                sim.attendance.append({"idx": idx, "date": school_days[rng.integers(0, school_days.size, idx.size)],
                                       "status": status})
    sim.exit_date = exit_date
    return sim


def _administer(sim: Simulation, code: str, sel: np.ndarray, dates: np.ndarray, d: np.ndarray,
                anxiety_offset: np.ndarray, family: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Answer one instrument for the students ``sel``; record it; return the centre's positive reading
    and whether a critical item (PHQ-9 item 9, UPI item 25, SCL-90 item 15, SDS item 19) was answered."""
    if sel.size == 0:
        return np.zeros(0, bool), np.zeros(0, bool)
    spec = get_spec(code)
    theta = d[sel] + params.SCREEN_NOISE * rng.standard_normal(sel.size)
    if code in ("GAD7", "SAS"):
        theta = theta + anxiety_offset[sel]
    raw = answer(spec, theta, rng)
    careless = make_careless(spec, raw, rng)
    request = counselling_request(theta, rng) if code == "UPI" else np.zeros(sel.size, bool)
    sim.screenings.append({"idx": sel, "date": dates, "instrument": code, "raw": raw,
                           "duration": durations(spec, careless, rng), "request": request if code == "UPI" else None})
    return centre_positive(spec, raw, request, family), critical_answer(spec, raw)


def _counsel(sim: Simulation, idx, dates, kind: str, rating=None, outcome_id=None) -> None:
    size = np.size(idx)
    sim.counselling.append({
        "idx": np.asarray(idx), "date": np.asarray(dates, dtype="datetime64[D]"), "kind": kind,
        "rating": np.full(size, -1) if rating is None else np.asarray(rating),
        "outcome_id": np.full(size, -1) if outcome_id is None else np.asarray(outcome_id)})


def _rating(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.rint(1.4 + 0.8 * d + rng.normal(0.0, 0.6, d.size)), 1, 4).astype(int)


def _respond(sim: Simulation, positive: np.ndarray, critical: np.ndarray, wave_day: np.ndarray, d: np.ndarray,
             anxiety_offset: np.ndarray, family: str, t: int, treated_until: np.ndarray,
             rng: np.random.Generator) -> None:
    """Interview after a positive screen; SDS/SAS at the interview; sessions and referrals by rating.

    A critical answer (a hard-rule trigger) is followed up sooner and more surely: interviewed with
    probability INTERVIEW_PROB_CRITICAL, within a week with probability INTERVIEW_PROMPT, otherwise
    late (INTERVIEW_LATE_DAYS); other positive screens 5-25 days later with probability INTERVIEW_PROB.
    """
    crit = critical[positive]
    chance = np.where(crit, params.INTERVIEW_PROB_CRITICAL, params.INTERVIEW_PROB)
    seen_mask = rng.random(positive.size) < chance
    seen, crit = positive[seen_mask], crit[seen_mask]
    routine = rng.integers(5, 26, seen.size)
    prompt = np.where(rng.random(seen.size) < params.INTERVIEW_PROMPT, rng.integers(0, 8, seen.size),
                      rng.integers(params.INTERVIEW_LATE_DAYS[0], params.INTERVIEW_LATE_DAYS[1] + 1, seen.size))
    dates = wave_day[seen] + np.where(crit, prompt, routine).astype("timedelta64[D]")
    rating = _rating(d[seen], rng)
    _counsel(sim, seen, dates, "interview", rating)
    tested = rng.random(seen.size) < 0.5
    for code in ("SDS", "SAS"):
        _administer(sim, code, seen[tested], dates[tested], d, anxiety_offset, family, rng)
    course = rating >= params.SESSIONS_IF_RATING
    who, first = seen[course], dates[course]
    row, k = _expand(1 + rng.poisson(3.0, who.size))
    _counsel(sim, who[row], first[row] + (7 * (k + 1) + rng.integers(0, 4, row.size)).astype("timedelta64[D]"),
             "session")
    treated_until[who] = np.maximum(treated_until[who], t + params.TREATMENT_MONTHS)
    refer = (rating == 4) & (rng.random(seen.size) < 0.6)
    _counsel(sim, seen[refer], dates[refer] + rng.integers(0, 4, int(refer.sum())).astype("timedelta64[D]"),
             "referral", rating[refer])


def _self_referrals(sim: Simulation, active: np.ndarray, d: np.ndarray, m0: np.datetime64, n_days: int, t: int,
                    treated_until: np.ndarray, rng: np.random.Generator) -> None:
    n = active.size
    come = np.flatnonzero(active & (rng.random(n) < params.SELF_REFERRAL * np.exp(d)))
    _counsel(sim, come, _days(m0, rng.integers(0, n_days, come.size)), "session", _rating(d[come], rng))
    treated_until[come] = np.maximum(treated_until[come], t + 3)
    group = np.flatnonzero(active & (rng.random(n) < 0.003))
    _counsel(sim, group, _days(m0, rng.integers(0, n_days, group.size)), "group")


def _consequences(sim: Simulation, idx: np.ndarray, dates: np.ndarray, kinds: np.ndarray, ids: np.ndarray, t: int,
                  leave_until: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counselling records that follow an outcome (dropped later if the outcome goes unrecorded)."""
    crisis = np.isin(kinds, _CRISIS) & (rng.random(idx.size) < 0.8)
    _counsel(sim, idx[crisis], dates[crisis] + rng.integers(1, 11, int(crisis.sum())).astype("timedelta64[D]"),
             "follow_up", rng.integers(3, 5, int(crisis.sum())), ids[crisis])
    hospital = kinds == "psychiatric_admission"
    _counsel(sim, idx[hospital], dates[hospital], "hospital", np.full(int(hospital.sum()), 4), ids[hospital])
    diagnosis = kinds == "psychiatric_diagnosis"
    _counsel(sim, idx[diagnosis], dates[diagnosis] - rng.integers(1, 15, int(diagnosis.sum())).astype("timedelta64[D]"),
             "referral", np.full(int(diagnosis.sum()), 4), ids[diagnosis])
    leave = kinds == "medical_leave"
    months = rng.integers(params.LEAVE_MONTHS[0], params.LEAVE_MONTHS[1] + 1, int(leave.sum()))
    _counsel(sim, idx[leave], dates[leave], "leave_of_absence", None, ids[leave])
    _counsel(sim, idx[leave], dates[leave] + (30 * months).astype("timedelta64[D]"), "return", None, ids[leave])
    leave_until[idx[leave]] = t + months
    return leave_until
