"""Trajectory family: how a student's records move over time, against the student's own history.

The other families mostly read the latest value or a count in a fixed window. This one reads the
whole course up to as-of, through the same point-in-time cuts (``Cut.window_rows``: rows dated on or
before as-of only):

* **Screening waves, per instrument**: the mean of every valid administration so far (a steadier
  estimate of the student's level than the latest wave alone), the highest total, the largest rise
  between two consecutive waves, and the slope per year. Careless or invalid forms are left out.
* **Critical items across waves**: the highest answer ever given to each critical item (a student who
  once answered PHQ-9 item 9 "nearly every day" is not the same as one who never did).
* **Across instruments**: each administration's total as a percentile among all administrations of
  the same instrument dated on or before as-of by the students of the same school enrolled on the date
  (a population figure known on the date; per school, so that a school's features are the same whether
  it is scored alone or with other schools), so that waves of different questionnaires can be averaged:
  latest, mean, mean and highest over the last 365 days.
* **A missed wave**: the student's class had a screening wave in the last 120 days (at least half
  of its enrolled students answered) and the student did not answer any.
* **Observation bursts and recency**: exponentially decayed counts (half-lives 14 days for concern
  and urgent entries, 60 days for every entry weighted by severity), concern entries in the last
  14 days, days since the last concern entry, and bursts against the student's own earlier rate
  (count in the window minus the count expected from the year before it).
* **Attendance and counselling**: a decayed count of unexcused absences (half-life 30 days), their
  burst against the student's own earlier rate, and the highest counsellor rating of the year.

Example
-------
See ``tests/test_features_families.py::test_trajectory_waves_bursts_and_missed_wave``.
"""

from __future__ import annotations

import numpy as np

from riskmodel.features.catalogue import REQUIRED_CRITICAL_ITEMS
from riskmodel.features.context import Context
from riskmodel.features.timeline import Cut

__all__ = ["compute", "MISSED_WAVE_DAYS", "MISSED_WAVE_SHARE"]

MISSED_WAVE_DAYS = 120  # a class's wave: screenings of its students in the last 120 days
MISSED_WAVE_SHARE = 0.5  # ... covering at least half of its enrolled students
_YEAR = 365.25


def _group_max(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -np.inf)
    ok = ~np.isnan(values)
    np.maximum.at(out, owner[ok], values[ok])
    out[np.isinf(out)] = np.nan
    return out


def _group_mean(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    ok = ~np.isnan(values)
    count = np.bincount(owner[ok], minlength=n).astype(np.float64)
    total = np.bincount(owner[ok], weights=values[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _decayed(cut: Cut, as_of_day: int, half_life: float, n: int, weight: str | None = None) -> np.ndarray:
    """Sum over rows of 0.5 ** (age / half_life) (times ``weight``), rows up to 8 half-lives old."""
    owner, idx = cut.window_rows(int(8 * half_life))
    age = as_of_day - cut.days()[idx]
    w = np.power(0.5, age / half_life)
    if weight is not None:
        w = w * np.nan_to_num(cut.values(weight)[idx], nan=0.0)
    return np.bincount(owner, weights=w, minlength=n)


def _burst(cut: Cut, days: int) -> np.ndarray:
    """Count in the last ``days`` minus the count the year before it predicts for ``days`` days."""
    return cut.count(days) - cut.count_between(days, days + 365) * days / 365.0


def _waves(cut: Cut, as_of_day: int, n: int, out: dict, c: str, items: list[int]) -> None:
    owner, idx = cut.window_rows()
    valid = cut.values("careless_or_invalid")[idx] < 0.5 if len(idx) else np.zeros(0, bool)
    owner_v, idx_v = owner[valid], idx[valid]
    total = cut.values("total")[idx_v] if len(idx_v) else np.zeros(0)
    out[f"traj_{c}_total_mean"] = _group_mean(owner_v, total, n)
    out[f"traj_{c}_total_max"] = _group_max(owner_v, total, n)
    same = owner_v[1:] == owner_v[:-1]
    rise = np.where(same, total[1:] - total[:-1], np.nan)
    out[f"traj_{c}_rise_max"] = _group_max(owner_v[1:], rise, n)
    # least-squares slope of the total per year over the valid waves (NaN below two distinct dates)
    t = (cut.days()[idx_v] - as_of_day) / _YEAR if len(idx_v) else np.zeros(0)
    ok = ~np.isnan(total)
    o, t, y = owner_v[ok], t[ok], total[ok]
    k = np.bincount(o, minlength=n).astype(np.float64)
    st, sy = np.bincount(o, t, minlength=n), np.bincount(o, y, minlength=n)
    stt, sty = np.bincount(o, t * t, minlength=n), np.bincount(o, t * y, minlength=n)
    den = k * stt - st * st
    with np.errstate(invalid="ignore", divide="ignore"):
        out[f"traj_{c}_slope"] = np.where((k >= 2) & (den > 1e-9), (k * sty - st * sy) / np.where(den > 1e-9, den, 1), np.nan)
    for item in items:
        answers = cut.values(f"item_{item}")[idx] if len(idx) else np.zeros(0)
        out[f"traj_{c}_item{item}_max"] = _group_max(owner, answers, n)


def _percentiles(cut: Cut, enrolled: np.ndarray, school: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every valid administration of one instrument up to as-of by a student enrolled on as-of: owner,
    day, percentile of its total among those of the same school (mid-rank, 0-1). The population is the
    school's students enrolled on the date: who enrols later is a future fact, and another school's
    students are another population (so a school's features do not depend on which other schools are
    scored with it: issue 17, per-school scoring). ``school``: each student's school as an integer code."""
    owner, idx = cut.window_rows()
    if len(idx) == 0:
        return owner, np.zeros(0, np.int64), np.zeros(0)
    total = cut.values("total")[idx]
    keep = (cut.values("careless_or_invalid")[idx] < 0.5) & ~np.isnan(total) & enrolled[owner]
    owner, idx, total = owner[keep], idx[keep], total[keep]
    group = school[owner].astype(np.int64)
    values, dense = np.unique(total, return_inverse=True)  # ties stay ties
    span = np.int64(len(values) + 1)
    key = group * span + dense.astype(np.int64)
    ranked = np.sort(key)
    start = np.searchsorted(ranked, group * span, "left")
    size = np.bincount(group, minlength=int(group.max()) + 1 if len(group) else 0)[group]
    mid = ((np.searchsorted(ranked, key, "left") - start) + (np.searchsorted(ranked, key, "right") - start)) / 2.0
    return owner, cut.days()[idx], mid / np.maximum(size, 1)


def compute(ctx: Context) -> dict[str, np.ndarray]:
    """Trajectory features for every student at ``ctx.as_of``."""
    from riskmodel.instruments import specs as specs_module

    n, day = ctx.n, ctx.as_of_day
    scored = ctx.events["screenings"]
    out: dict[str, np.ndarray] = {}
    owners, days, pcts = [], [], []
    _, school = np.unique(ctx.register["school"].to_numpy(dtype=object).astype(str), return_inverse=True)
    for code, spec in sorted(specs_module.all_specs().items()):
        cut = scored.where("instrument", [code])
        items = sorted(set(spec.critical) | set(REQUIRED_CRITICAL_ITEMS.get(code, ())))
        _waves(cut, day, n, out, code.lower(), items)
        o, d, p = _percentiles(cut, ctx.enrolled, school)
        owners.append(o), days.append(d), pcts.append(p)
    owner, when, pct = np.concatenate(owners), np.concatenate(days), np.concatenate(pcts)
    order = np.lexsort((when, owner))  # by student, then date: the last row of a student is the latest
    owner, when, pct = owner[order], when[order], pct[order]
    latest = np.full(n, np.nan)
    if len(owner):
        last = np.r_[owner[1:] != owner[:-1], True]
        latest[owner[last]] = pct[last]
    recent = when > day - 365
    out["traj_screen_pct_latest"] = latest
    out["traj_screen_pct_mean"] = _group_mean(owner, pct, n)
    out["traj_screen_pct_mean_365d"] = _group_mean(owner[recent], pct[recent], n)
    out["traj_screen_pct_max_365d"] = _group_max(owner[recent], pct[recent], n)

    # a class's wave the student missed: at least half of the class's enrolled students screened lately
    screened = (scored.count(MISSED_WAVE_DAYS) > 0) & ctx.enrolled
    classes, cls = np.unique(ctx.register["_class_key"].to_numpy(dtype=object).astype(str), return_inverse=True)
    enrolled_in = np.bincount(cls, weights=ctx.enrolled.astype(float), minlength=len(classes))
    screened_in = np.bincount(cls, weights=screened.astype(float), minlength=len(classes))
    with np.errstate(invalid="ignore", divide="ignore"):
        wave = (screened_in / np.maximum(enrolled_in, 1))[cls] >= MISSED_WAVE_SHARE
    out["traj_missed_class_wave"] = (wave & ~screened).astype(np.float64)

    obs = ctx.events["observations"]
    concern = obs.where("severity", min_value=2)
    out["traj_obs_concern_decay_14d"] = _decayed(concern, day, 14.0, n)
    out["traj_obs_severity_decay_60d"] = _decayed(obs, day, 60.0, n, weight="severity")
    out["traj_obs_concern_14d"] = concern.count(14)
    out["traj_obs_days_since_concern"] = concern.days_since_last()
    out["traj_obs_concern_burst_30d"] = _burst(concern, 30)
    out["traj_obs_burst_90d"] = _burst(obs, 90)

    unexcused = ctx.events["attendance"].where("status", ["absent_unexcused"])
    out["traj_att_unexcused_decay_30d"] = _decayed(unexcused, day, 30.0, n)
    out["traj_att_unexcused_burst_30d"] = _burst(unexcused, 30)
    couns = ctx.events["counselling"]
    owner, idx = couns.window_rows(365)
    rating = couns.values("counsellor_rating")[idx] if len(idx) else np.zeros(0)
    out["traj_couns_rating_max_365d"] = _group_max(owner, rating, n)
    return out
