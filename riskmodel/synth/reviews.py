"""The review loop (研判): what the synthetic centre's staff decide after they see a student.

The centre's records of the loop the policies describe (再测及分层访谈, 根据评估结果确定预警等级, 定期研判,
动态调整, 转介, 解除), written as the contract's ``reviews`` table. It is drawn after the latent path,
from the records the centre holds and the latent state at the time of each decision only:

* **Occasions.** Every interview after a screen (the counselling table's ``interview``), every
  follow-up after a crisis, hospital stay, leave of absence and return is a review on its own date.
* **Triggers** (the hard rules of riskmodel/warning/hard_rules.yaml): an urgent self-harm-signal
  observation, a recorded self-harm or suicide attempt, a counsellor rating of 4, a critical SDS
  item 19 (given at interviews). A trigger that no review has answered is answered by an interview
  later: within 0-7 days for most (``REVIEW_PROMPT``), 8-45 days for some, never for a few
  (``NEVER_REVIEWED``). Critical answers at a screening wave (PHQ-9 item 9, UPI item 25, SCL-90
  item 15) are interviewed by the simulation itself (riskmodel.synth.simulate ``_respond``: 96%,
  78% of them within a week), since the interview also starts the course of sessions.
* **The level.** The reviewer sees the true state imperfectly: a rating
  ``clip(rint(1.4 + 0.8 * (distress + ACUTE_SEEN * in_acute) + N(0, PERCEPTION_SD)), 1, 4)`` (an
  interview's own counsellor rating where there is one), rating 4 -> level I, 3 -> II, 2 -> III,
  1 -> none. The same formula without noise is the *true* level (``_truth/reviews.parquet``);
  the two agree moderately (docs/synthetic.md measures it).
* **Status.** Hospital stay -> 住院 (hospital); leave of absence -> 休学 (leave); level I seen in an
  acute phase (or by chance ``REFER_PROB``) -> 转介 (referred); otherwise 随访关注 (monitoring), except
  releases (解除) after sustained improvement: a first interview that finds no risk, a review finding
  no risk after one at III or below, or III after two reviews at III or below (``RELEASE_AT_III``).
  A review finding no risk right after I or II steps the student down to III instead.
* **Follow-ups** at ``next_review``: a month for level I, two to three months for II and III; held
  on time (within a week) for most, late for some, never for a few (``FOLLOW_UP``: level I, referrals
  and hospital stays are followed more closely than II and III).
* Who decided (``reviewer_role``), a reason from a short fixed list and a synthetic note (harmless,
  but present, so that tests can check it never reaches an output).

Causality: a review on day D uses the records dated on or before D (triggers, occasions) and the
latent distress of D's month and whether an acute phase has begun by D; nothing after D. The review
loop does not feed back into the latent path (the intervention effect of the generator is the course
of sessions after an interview, riskmodel.synth.simulate); so reviews carry no information about
future outcomes beyond what the latent state already holds, and the truth stays the ceiling.

Example
-------
>>> level_of(np.array([4, 3, 2, 1])).tolist()
['I', 'II', 'III', 'none']
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from riskmodel.instruments.specs import get as get_spec

__all__ = ["LEVEL_ZH", "NOTES", "REASONS", "ROLE_ZH", "STATUS_ZH", "level_of", "simulate_reviews"]

# --- parameters of the loop (every number a modelling choice; docs/synthetic.md measures the result) ---
PERCEPTION_SD = 0.6  # the reviewer's error on the rating scale (the interview's counsellor rating uses the same)
ACUTE_SEEN = 1.0  # distress units the reviewer adds when the student is in an acute phase on the day
NEVER_REVIEWED = 0.04  # a trigger nobody follows up
REVIEW_PROMPT = 0.75  # of the triggers followed up, the share seen within 0-7 days
REVIEW_LATE_DAYS = (8, 45)  # the others
# planned follow-up held within a week / 8-45 days late / never: level I (and referrals, hospital stays)
# are followed closely; II and III are let slip more often (the case stays open, overdue)
FOLLOW_UP = {"I": (0.88, 0.10, 0.02), "II": (0.72, 0.18, 0.10), "III": (0.72, 0.18, 0.10)}
REFER_PROB = 0.25  # level I outside an acute phase referred (转介) anyway
RELEASE_AT_III = 0.35  # III after two reviews at III or below: released with this probability
NEXT_REVIEW_DAYS = {"I": (28, 35), "II": (56, 75), "III": (75, 95)}
HOSPITAL_REVIEW_DAYS = (28, 35)
LEAVE_REVIEW_DAYS = (90, 100)

LEVELS = np.asarray(["none", "III", "II", "I"], dtype=object)  # by rating 1..4
LEVEL_ZH = {"I": "一级", "II": "二级", "III": "三级", "none": "无"}
STATUS_ZH = {"monitoring": "随访关注", "referred": "转介", "hospital": "住院", "leave": "休学", "released": "解除"}
ROLE_ZH = {"counsellor": "辅导员", "psych_teacher": "心理老师", "class_teacher": "班主任", "centre": "心理中心",
           "meeting": "研判会"}
# short reasons shown to staff: a small fixed list of code-like phrases
REASONS = {
    "screen": "筛查阳性访谈", "critical": "危机题目阳性", "observation": "紧急观察报告", "outcome": "危机事件后评估",
    "rating": "咨询师高风险评估", "follow_up": "定期研判", "improved": "情况好转", "stable": "持续关注",
    "refer": "转介专科", "hospital": "住院治疗", "leave": "休学", "return": "复学评估", "release": "解除关注",
}
# synthetic notes (sensitive column: never copied into a report, list or log); each begins 研判记录
NOTES = ("研判记录：情绪较前平稳，约定下次面谈", "研判记录：睡眠改善，学业压力仍大", "研判记录：已与家长沟通，家长配合",
         "研判记录：同伴支持良好，继续观察", "研判记录：自述压力大，已安排咨询", "研判记录：已建议专科就诊，辅导员陪同",
         "研判记录：近期无异常，按计划随访")
_ROLES = {  # (occasion kind) -> roles and weights, per stage family
    "university": {"interview": (("counsellor", 0.55), ("psych_teacher", 0.45)),
                   "trigger": (("psych_teacher", 0.5), ("counsellor", 0.3), ("centre", 0.2)),
                   "follow_up": (("meeting", 0.35), ("counsellor", 0.35), ("psych_teacher", 0.2), ("centre", 0.1)),
                   "crisis": (("centre", 0.6), ("meeting", 0.4))},
    "k12": {"interview": (("psych_teacher", 0.7), ("class_teacher", 0.3)),
            "trigger": (("psych_teacher", 0.6), ("class_teacher", 0.2), ("centre", 0.2)),
            "follow_up": (("meeting", 0.35), ("psych_teacher", 0.35), ("class_teacher", 0.3)),
            "crisis": (("centre", 0.6), ("meeting", 0.4))},
}
_CRISIS_OUTCOMES = ("self_harm", "suicide_attempt")
_OCCASIONS = {"interview": "screen", "follow_up": "outcome", "hospital": "hospital", "leave_of_absence": "leave",
              "return": "return"}


def level_of(rating: np.ndarray) -> np.ndarray:
    """Rating 1-4 -> level none, III, II, I."""
    return LEVELS[np.clip(np.asarray(rating, dtype=int), 1, 4) - 1]


def _rating(distress: float, acute: bool, noise: float) -> int:
    return int(np.clip(np.rint(1.4 + 0.8 * (distress + ACUTE_SEEN * acute) + noise), 1, 4))


def _days(values) -> np.ndarray:
    return np.asarray(pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64))


def _triggers(screenings: pd.DataFrame, observations: pd.DataFrame, outcomes: pd.DataFrame,
              counselling: pd.DataFrame) -> pd.DataFrame:
    """The hard-rule triggers the review loop answers: idx, day, kind.

    Critical answers at a screening wave are answered by the simulation's interview (prompt, or never
    for ``1 - INTERVIEW_PROB_CRITICAL`` of them: the few the queue exists for), not here."""
    parts = []
    # critical answers at the interview itself (SDS item 19) are answered by that interview
    sds = screenings.loc[screenings["instrument"] == "SDS"]
    hit = np.zeros(len(sds), bool)
    for item, threshold in get_spec("SDS").critical.items():
        hit |= sds[f"item_{item}"].to_numpy(dtype=np.float64) >= threshold
    parts.append(pd.DataFrame({"idx": sds["idx"].to_numpy()[hit], "day": _days(sds["date"])[hit], "kind": "critical"}))
    urgent = observations.loc[(observations["category"] == "self_harm_signal") & (observations["severity"] >= 3)]
    parts.append(pd.DataFrame({"idx": urgent["idx"].to_numpy(), "day": _days(urgent["date"]), "kind": "observation"}))
    crisis = outcomes.loc[outcomes["event"].isin(_CRISIS_OUTCOMES)]
    parts.append(pd.DataFrame({"idx": crisis["idx"].to_numpy(), "day": _days(crisis["date"]), "kind": "outcome"}))
    rated = counselling.loc[counselling["counsellor_rating"].fillna(0).to_numpy() >= 4]
    parts.append(pd.DataFrame({"idx": rated["idx"].to_numpy(), "day": _days(rated["date"]), "kind": "rating"}))
    return pd.concat(parts, ignore_index=True)


def _occasions(counselling: pd.DataFrame) -> pd.DataFrame:
    """Counselling contacts that are reviews on their own date: idx, day, kind, rating (0: none)."""
    rows = counselling.loc[counselling["kind"].isin(list(_OCCASIONS))]
    return pd.DataFrame({"idx": rows["idx"].to_numpy(), "day": _days(rows["date"]),
                         "kind": rows["kind"].to_numpy(dtype=object),
                         "rating": rows["counsellor_rating"].fillna(0).to_numpy(dtype=np.int64)})


class _Student:
    """One student's case over the window, decision by decision."""

    def __init__(self, distress: np.ndarray, month_days: np.ndarray, phases: list[tuple[int, int]], last_day: int,
                 family: str, rng: np.random.Generator):
        self.distress, self.month_days, self.phases = distress, month_days, phases
        self.last_day, self.family, self.rng = last_day, family, rng
        self.history: list[str] = []  # levels of the current case, oldest first
        self.last_review = -(10**9)
        self.serial = 0
        self.rows: list[dict] = []

    def _role(self, occasion: str) -> str:
        names, weights = zip(*_ROLES[self.family][occasion])
        return str(names[int(self.rng.choice(len(names), p=np.asarray(weights)))])

    def _state(self, day: int) -> tuple[float, bool]:
        month = int(np.searchsorted(self.month_days, day, side="right") - 1)
        in_acute = any(start <= day < end for start, end in self.phases)
        return float(self.distress[month]), in_acute

    def review(self, day: int, occasion: str, reason: str, rating: int = 0) -> int | None:
        """Decide on ``day``; returns the day of the follow-up actually held (or None)."""
        rng = self.rng
        distress, in_acute = self._state(day)
        noise = rng.normal(0.0, PERCEPTION_SD)
        seen = rating if rating >= 1 else _rating(distress, in_acute, noise)
        true = _rating(distress, in_acute, 0.0)
        level = str(level_of(np.asarray([seen]))[0])
        earlier = self.history[-2:]
        low = {"III", "none"}
        status = "monitoring"
        if reason == "hospital":
            level, status = "I", "hospital"
        elif reason == "leave":
            level, status = ("I" if level == "I" else "II"), "leave"
        elif level == "I" and (in_acute or rng.random() < REFER_PROB):
            status, reason = "referred", "refer"
        elif level == "none":
            if not self.history or self.history[-1] in low:
                status, reason = "released", "release"
            else:
                level, reason = "III", "improved"
        elif level == "III" and len(earlier) == 2 and set(earlier) <= low and rng.random() < RELEASE_AT_III:
            level, status, reason = "none", "released", "release"
        elif reason == "follow_up" and self.history:
            order = {"I": 3, "II": 2, "III": 1, "none": 0}
            reason = "improved" if order[level] < order[self.history[-1]] else "stable"
        if status == "released":
            level, next_day = "none", None
        elif status == "hospital":
            next_day = day + int(rng.integers(*HOSPITAL_REVIEW_DAYS))
        elif status == "leave":
            next_day = day + int(rng.integers(*LEAVE_REVIEW_DAYS))
        else:
            low_days, high_days = NEXT_REVIEW_DAYS[level]
            next_day = day + int(rng.integers(low_days, high_days + 1))
        self.rows.append({"day": day, "level": level, "status": status, "next_day": next_day,
                          "reviewer_role": self._role(occasion), "reason": REASONS[reason],
                          "note": NOTES[int(rng.integers(0, len(NOTES)))], "true_level": str(level_of([true])[0]),
                          "seen_rating": seen, "true_rating": true, "distress": distress, "in_acute": in_acute})
        self.history = [] if status == "released" else [*self.history, level]
        self.last_review = day
        self.serial += 1
        if next_day is None:
            return None
        u = rng.random()
        on_time, late, _ = FOLLOW_UP["I" if status in ("referred", "hospital", "leave") else level]
        if u < on_time:
            held = next_day + int(rng.integers(-3, 8))
        elif u < on_time + late:
            held = next_day + int(rng.integers(8, 46))
        else:
            return None
        return max(held, day + 1)


def simulate_reviews(sim, *, screenings: pd.DataFrame, observations: pd.DataFrame, outcomes: pd.DataFrame,
                     counselling: pd.DataFrame, months: np.ndarray, family: str, end, seed: int) -> pd.DataFrame:
    """The reviews of every student (``idx`` = register position) and, for the truth, the true level.

    Parameters
    ----------
    sim
        The simulation (latent distress by month, acute phases, exit dates).
    screenings, observations, outcomes, counselling
        The recorded tables with ``idx`` (recorded outcomes only; counselling of unrecorded outcomes
        already dropped), inside enrolment.
    months
        First day of each simulated month.
    family
        ``university`` or ``k12`` (who reviews).
    end
        The window's end (exclusive): no review on or after it.
    seed
        The cohort's seed: each student's decisions come from a generator of their own
        (``default_rng([seed, 3, position])``), drawn in date order, so a student's reviews before a day
        do not change when later records change (tested), and the other tables do not depend on them.

    Returns
    -------
    DataFrame ``idx, date, level, status, next_review, reviewer_role, reason, note`` and the truth's
    ``true_level, seen_rating, true_rating, distress, in_acute``, ordered by student and date.
    """
    triggers = _triggers(screenings, observations, outcomes, counselling)
    occasions = _occasions(counselling)
    month_days = np.asarray(months, dtype="datetime64[D]").astype(np.int64)
    end_day = int(np.datetime64(end, "D").astype(np.int64))
    exit_day = np.where(np.isnat(sim.exit_date), end_day,
                        sim.exit_date.astype("datetime64[D]").astype(np.int64) + 1)
    phases: dict[int, list[tuple[int, int]]] = {}
    for chunk in sim.phases:
        for i, s, e in zip(chunk["idx"].tolist(), chunk["start"].tolist(), chunk["end"].tolist()):
            phases.setdefault(i, []).append((s, e))
    events: dict[int, list[tuple]] = {}
    # (day, order, kind, payload): occasions before triggers on one day, so a same-day interview covers its trigger
    for i, day, kind, rating in occasions.itertuples(index=False):
        events.setdefault(int(i), []).append((int(day), 0, "occasion", (kind, int(rating))))
    for i, day, kind in triggers.itertuples(index=False):
        events.setdefault(int(i), []).append((int(day), 1, "trigger", kind))
    rows = []
    for i in sorted(events):
        rng = np.random.default_rng([seed, 3, i])
        student = _Student(sim.distress[i], month_days, phases.get(i, []), min(int(exit_day[i]), end_day), family, rng)
        queue = sorted(events[i])
        heapq.heapify(queue)
        while queue:
            day, _, what, payload = heapq.heappop(queue)
            if day >= student.last_day:
                break
            follow = None
            if what == "occasion":
                kind, rating = payload
                occasion = "interview" if kind == "interview" else "crisis"
                follow = student.review(day, occasion, _OCCASIONS[kind], rating)
            elif what == "trigger":
                if student.last_review >= day:
                    continue  # already seen on the day
                if rng.random() < NEVER_REVIEWED:
                    continue
                delay = (int(rng.integers(0, 8)) if rng.random() < REVIEW_PROMPT
                         else int(rng.integers(REVIEW_LATE_DAYS[0], REVIEW_LATE_DAYS[1] + 1)))
                heapq.heappush(queue, (day + delay, 2, "response", (day, payload)))
            elif what == "response":
                trigger_day, kind = payload
                if student.last_review >= trigger_day:
                    continue  # another review answered the trigger meanwhile
                follow = student.review(day, "trigger", kind)
            else:  # a planned follow-up, held unless a later review replaced it
                if payload != student.serial:
                    continue
                follow = student.review(day, "follow_up", "follow_up")
            if follow is not None:
                heapq.heappush(queue, (follow, 3, "follow_up", student.serial))
        for row in student.rows:
            row["idx"] = i
        rows += student.rows
    columns = ["idx", "day", "level", "status", "next_day", "reviewer_role", "reason", "note", "true_level",
               "seen_rating", "true_rating", "distress", "in_acute"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["date"] = frame.pop("day").to_numpy(dtype=np.int64).astype("datetime64[D]")
    next_day = frame.pop("next_day").astype("float64").to_numpy()
    nat = np.isnan(next_day)
    next_review = np.where(nat, 0, next_day).astype(np.int64).astype("datetime64[D]")
    next_review[nat] = np.datetime64("NaT")
    frame["next_review"] = next_review
    frame = frame.drop_duplicates(["idx", "date"], keep="last")  # one decision a day: the last one stands
    return frame[["idx", "date", "level", "status", "next_review", "reviewer_role", "reason", "note", "true_level",
                  "seen_rating", "true_rating", "distress", "in_acute"]].reset_index(drop=True)
