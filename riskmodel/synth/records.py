"""Turn the raw draws of a simulation into the contract's tables (and the truth tables).

Every dated record is kept only inside its student's enrolment (``enrollment_date <= date <=
exit_date``) and inside the window, as a real register would hold it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.instruments.specs import get as get_spec
from riskmodel.synth import params
from riskmodel.synth.simulate import Simulation

__all__ = ["screenings", "counselling", "outcomes", "life_events", "observations", "attendance", "academics",
           "inside_enrolment"]

OBS_CATEGORIES = ("mood", "sleep", "academic", "social", "family", "behaviour", "health", "self_harm_signal",
                  "aggression", "absence", "other")
_NOTES = {  # short synthetic notes; never copied into reports or logs (the contract's sensitive column)
    "mood": "情绪低落，少言寡语", "sleep": "自述近期失眠、早醒", "academic": "上课注意力不集中，作业拖欠",
    "social": "与同学交往减少，常独来独往", "family": "家庭近期有变故", "behaviour": "行为反常，易激动",
    "health": "多次诉说身体不适", "self_harm_signal": "流露轻生念头，需立即关注", "aggression": "与同学发生冲突",
    "absence": "无故缺课", "other": "其他情况，待进一步了解",
}
_SOURCES = {
    "university": (("counsellor", 0.35), ("psych_committee", 0.25), ("dorm_head", 0.15), ("peer", 0.08),
                   ("self", 0.07), ("parent", 0.05), ("psych_teacher", 0.05)),
    "k12": (("class_teacher", 0.50), ("psych_teacher", 0.15), ("parent", 0.15), ("peer", 0.08),
            ("psych_committee", 0.07), ("self", 0.05)),
}


def _cat(chunks: list[dict], key: str, dtype=None) -> np.ndarray:
    parts = [np.asarray(c[key]) if np.ndim(c[key]) else np.full(np.size(c["idx"]), c[key]) for c in chunks]
    if not parts:
        return np.zeros(0, dtype=dtype or float)
    return np.concatenate(parts).astype(dtype) if dtype else np.concatenate(parts)


def inside_enrolment(frame: pd.DataFrame, students: pd.DataFrame, exit_date: np.ndarray, start, end,
                     column: str = "date") -> pd.DataFrame:
    """Rows of ``frame`` (with ``idx`` = register position) dated inside enrolment and the window."""
    dates = frame[column].to_numpy().astype("datetime64[D]")
    enrol = students["enrollment_date"].to_numpy().astype("datetime64[D]")[frame["idx"].to_numpy()]
    leave = exit_date[frame["idx"].to_numpy()]
    keep = (dates >= enrol) & (np.isnat(leave) | (dates <= leave))
    keep &= (dates >= np.datetime64(start, "D")) & (dates < np.datetime64(end, "D"))
    return frame[keep]


def _frame(chunks: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: _cat(chunks, key) for name, key in columns.items()})


def screenings(sim: Simulation) -> pd.DataFrame:
    """Wide screenings (``item_1 .. item_K`` float32, NaN past each instrument's N) with ``idx``."""
    chunks = [c for c in sim.screenings if c["idx"].size]
    width = max(get_spec(c["instrument"]).n_items for c in chunks)
    total = sum(c["idx"].size for c in chunks)
    items = np.full((total, width), -1, np.int8)
    request = np.zeros(total, bool)
    request_mask = np.ones(total, bool)
    row = 0
    for c in chunks:
        size, k = c["raw"].shape
        items[row:row + size, :k] = c["raw"]
        if c["request"] is not None:
            request[row:row + size], request_mask[row:row + size] = c["request"], False
        row += size
    frame = pd.DataFrame({"idx": _cat(chunks, "idx"), "date": _cat(chunks, "date"),
                          "instrument": _cat(chunks, "instrument").astype(object)})
    answers = np.where(items < 0, np.nan, items).astype(np.float32)  # canonical: float32, NaN past N
    frame = pd.concat([frame, pd.DataFrame(answers, columns=[f"item_{j + 1}" for j in range(width)])], axis=1)
    frame["duration_seconds"] = _cat(chunks, "duration")
    frame["counselling_request"] = pd.arrays.BooleanArray(request, request_mask)
    return frame


def counselling(sim: Simulation) -> pd.DataFrame:
    """Counselling contacts with ``idx`` and the ``outcome_id`` that caused them (-1: none)."""
    frame = _frame(sim.counselling, {"idx": "idx", "date": "date", "kind": "kind", "rating": "rating",
                                     "outcome_id": "outcome_id"})
    rating = frame.pop("rating").to_numpy().astype(int)
    frame["counsellor_rating"] = pd.arrays.IntegerArray(rating.astype(np.int64), rating < 1)
    frame["kind"] = frame["kind"].astype(object)
    return frame


def outcomes(sim: Simulation) -> pd.DataFrame:
    """Every outcome of the simulation (recorded or not), with ``idx``, ``outcome_id`` and ``in_acute``."""
    frame = _frame(sim.outcomes, {"idx": "idx", "date": "date", "event": "event", "outcome_id": "outcome_id",
                                  "in_acute": "in_acute"})
    frame["event"] = frame["event"].astype(object)
    return frame


def life_events(sim: Simulation, rng: np.random.Generator) -> pd.DataFrame:
    """Every life event with ``recorded`` (the share the centre learns of: params.EVENT_RECORDED)."""
    frame = _frame(sim.events, {"idx": "idx", "date": "date", "event": "event"})
    frame["event"] = frame["event"].astype(object)
    frame["recorded"] = rng.random(len(frame)) < params.EVENT_RECORDED
    return frame


def _category(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    high = np.maximum(d, 0.0)
    weights = np.column_stack([
        2.5 + 1.5 * high, 1.2 + 0.8 * high, 2.5 + 0.3 * high, 1.5 + 0.5 * high, np.full(d.size, 1.0),
        1.0 + 0.4 * high, np.full(d.size, 1.0), 0.25 * np.exp(1.4 * (d - 1.5)), np.full(d.size, 0.4),
        1.0 + 0.4 * high, np.full(d.size, 1.0)])
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(d.size) * cumulative[:, -1]
    return (cumulative < u[:, None]).sum(axis=1)


def observations(sim: Simulation, family: str, rng: np.random.Generator) -> pd.DataFrame:
    """Observation log: routine entries that follow distress, and the entries of acute phases.

    Both kinds were drawn in the simulation from the latent state only (never from a later outcome).
    """
    frame = _frame(sim.observations, {"idx": "idx", "date": "date", "d": "d"})
    d = frame.pop("d").to_numpy()
    category = _category(d, rng)
    frame["category"] = np.asarray(OBS_CATEGORIES, dtype=object)[category]
    noise = rng.normal(0.0, 0.7, (d.size, 2))
    severity = 1 + (d + noise[:, 0] > 1.5).astype(int) + (d + noise[:, 1] > 2.8).astype(int)
    severity = np.where(frame["category"].eq("self_harm_signal"), np.maximum(severity, 2), severity)
    frame["severity"] = severity.astype(np.int64)
    names, weights = zip(*_SOURCES[family])
    frame["source"] = np.asarray(names, dtype=object)[rng.choice(len(names), len(frame), p=np.asarray(weights))]
    frame["note"] = frame["category"].map(_NOTES).where(rng.random(len(frame)) < 0.7, "")
    return frame[["idx", "date", "source", "category", "severity", "note"]]


def attendance(sim: Simulation) -> pd.DataFrame:
    """One row per recorded absence, late arrival or leave; one row per student and day at most."""
    frame = _frame(sim.attendance, {"idx": "idx", "date": "date", "status": "status"})
    frame["status"] = frame["status"].astype(object)
    return frame.drop_duplicates(["idx", "date"], keep="first")


def academics(sim: Simulation, students: pd.DataFrame, months: np.ndarray, term_ends: np.ndarray,
              stage: str, rng: np.random.Generator) -> pd.DataFrame:
    """One row per student and term: mean score, GPA (university, 4-point), failed courses, rank in grade."""
    rows = []
    enrol = students["enrollment_date"].to_numpy().astype("datetime64[D]")
    for term_end in term_ends:
        in_term = (months <= term_end) & (months > term_end - np.timedelta64(150, "D"))
        weight = sim.active[:, in_term]
        if not weight.any():
            continue
        d_term = (sim.distress[:, in_term] * weight).sum(axis=1) / np.maximum(weight.sum(axis=1), 1)
        sat = np.flatnonzero(weight.sum(axis=1) >= 2)  # enrolled for most of the term
        sat = sat[(enrol[sat] <= term_end) & ~sim.on_leave[sat][:, in_term].all(axis=1)]
        score = np.clip(76 + 7 * sim.ability[sat] - 3.5 * d_term[sat] + rng.normal(0, 4, sat.size), 0, 100)
        failed = rng.poisson(np.exp(-2.3 - 0.9 * sim.ability[sat] + 0.7 * d_term[sat]))
        rows.append(pd.DataFrame({"idx": sat, "term_end": term_end, "mean_score": np.round(score, 1),
                                  "failed_courses": failed.astype(np.int64)}))
    frame = pd.concat(rows, ignore_index=True)
    frame["gpa"] = np.round(np.clip((frame["mean_score"] - 50) / 10, 0, 4), 2)
    group = [students["school"].to_numpy()[frame["idx"]], students["grade"].to_numpy()[frame["idx"]],
             frame["term_end"].to_numpy()]
    frame["rank_pct"] = np.round(frame.groupby(group)["mean_score"].rank(ascending=False, pct=True), 4)
    columns = ["idx", "term_end", "mean_score", "gpa", "failed_courses", "rank_pct"]
    return frame[[c for c in columns if stage == "university" or c != "gpa"]]  # schools report scores only
