"""The vectorised engine against a plain per-row scorer written straight from INSTRUMENTS.md.

The reference below does not read specs.yaml: item lists, reverse items, cut-offs and classes are
typed in from INSTRUMENTS.md, one administration at a time, in the most obvious Python. Random
answers (with runs, missing items, fast durations and every setting variant) must give the same
result from both, column by column.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pandas as pd
import pytest

from riskmodel.config import InstrumentSettings
from riskmodel.instruments import score

SCL90_FACTORS = {
    "somatization": [1, 4, 12, 27, 40, 42, 48, 49, 52, 53, 56, 58],
    "obsessive_compulsive": [3, 9, 10, 28, 38, 45, 46, 51, 55, 65],
    "interpersonal_sensitivity": [6, 21, 34, 36, 37, 41, 61, 69, 73],
    "depression": [5, 14, 15, 20, 22, 26, 29, 30, 31, 32, 54, 71, 79],
    "anxiety": [2, 17, 23, 33, 39, 57, 72, 78, 80, 86],
    "hostility": [11, 24, 63, 67, 74, 81],
    "phobic_anxiety": [13, 25, 47, 50, 70, 75, 82],
    "paranoid_ideation": [8, 18, 43, 68, 76, 83],
    "psychoticism": [7, 16, 35, 62, 77, 84, 85, 87, 88, 90],
    "additional": [19, 44, 59, 60, 64, 66, 89],
}
MHT_SCALES = {
    "learning_anxiety": list(range(1, 16)), "social_anxiety": list(range(16, 26)),
    "loneliness": list(range(26, 36)), "self_blame": list(range(36, 46)), "sensitivity": list(range(46, 56)),
    "physical_symptoms": list(range(56, 71)), "phobia": list(range(71, 81)), "impulsiveness": list(range(81, 100, 2)),
}
N = {"PHQ9": 9, "GAD7": 7, "SCL90": 90, "SDS": 20, "SAS": 20, "UPI": 64, "MHT": 100}
RANGE = {"PHQ9": (0, 3), "GAD7": (0, 3), "SCL90": (1, 5), "SDS": (1, 4), "SAS": (1, 4), "UPI": (0, 1), "MHT": (0, 1)}


def band(value, edges):
    name = ""
    for lower, label in edges:
        if value >= lower:
            name = label
    return name


def longest_run(answers):
    best = cur = 0
    prev = None
    for a in answers:
        if a is None:
            cur, prev = 0, None
            continue
        cur = cur + 1 if a == prev else 1
        prev = a
        best = max(best, cur)
    return best


def reference(code, answers, settings, stage, duration, request):
    """One administration scored by hand from INSTRUMENTS.md; ``answers[k]`` is item k (None: missing)."""
    n = N[code]
    a = {k: answers[k - 1] for k in range(1, n + 1)}
    out = {"standard_score": math.nan, "band": "", "classification": "", "lie_score": math.nan, "invalid": False,
           "critical_items": "", "prorated": False}
    missing = [k for k in a if a[k] is None]
    out["n_missing"] = len(missing)
    out["too_fast"] = duration is not None and not math.isnan(duration) and duration < settings.seconds_per_item_floor * n
    lo, hi = RANGE[code]
    if code in ("SDS", "SAS"):
        reverse = [2, 5, 6, 11, 12, 14, 16, 17, 18, 20] if code == "SDS" else [5, 9, 13, 17, 19]
        keyed = {k: (None if v is None else (lo + hi - v if k in reverse else v)) for k, v in a.items()}
    else:
        keyed = dict(a)
    scored = [k for k in range(1, n + 1)]
    if code == "UPI":
        scored = [k for k in range(1, 61) if k not in (5, 20, 35, 50)]
    if code == "MHT":
        scored = [k for k in range(1, 101) if k not in range(82, 101, 2)]
    critical = {"PHQ9": {9: 1}, "SCL90": {15: settings.scl90_item15_critical}, "SDS": {19: 2}, "UPI": {25: 1}}.get(code, {})
    limit = settings.prorate_max_missing.get(code, 0)
    crit_missing = any(a[k] is None for k in critical)
    scorable = not missing or (len(missing) <= limit and not crit_missing)
    out["prorated"] = bool(missing) and scorable
    answered = [keyed[k] for k in scored if keyed[k] is not None]
    total = (sum(answered) / len(answered) * len(scored)) if (scorable and answered) else math.nan
    out["total"] = total
    hits = [f"item_{k}" for k, low in sorted(critical.items()) if a[k] is not None and a[k] >= low]
    out["critical"], out["critical_items"] = bool(hits), ",".join(hits)
    subs = {}
    if code == "PHQ9":
        out["band"] = "" if math.isnan(total) else band(total, [(0, "minimal"), (5, "mild"), (10, "moderate"),
                                                                  (15, "moderately_severe"), (20, "severe")])
        cut = settings.phq9_positive_cutoff.get(stage, 10) if stage else 10
        out["positive"] = total >= cut
    elif code == "GAD7":
        out["band"] = "" if math.isnan(total) else band(total, [(0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")])
        out["positive"] = total >= 10
    elif code in ("SDS", "SAS"):
        std = math.floor(total * 1.25) if not math.isnan(total) else math.nan
        out["standard_score"] = std
        if code == "SDS" and settings.sds_convention == "chinese_53":
            edges, cut = [(25, "normal"), (53, "mild"), (63, "moderate"), (73, "severe")], 53
        else:
            edges, cut = [(25, "normal"), (50, "mild"), (60, "moderate"), (70, "severe")], 50
        out["band"] = "" if math.isnan(std) else band(std, edges)
        out["positive"] = std >= cut
    elif code == "SCL90":
        for name, items in SCL90_FACTORS.items():
            got = [keyed[k] for k in items if keyed[k] is not None]
            subs[name] = sum(got) / len(got) if (scorable and got) else math.nan
        n_pos = sum(1 for k in scored if keyed[k] is not None and keyed[k] >= 2)
        total_rule = total > 160 if settings.scl90_total_rule == ">" else total >= 160
        out["positive"] = bool(total_rule or n_pos > 43 or any(v >= 2 for v in subs.values()))
        out["classification"] = "positive" if out["positive"] else ("negative" if scorable else "")
    elif code == "UPI":
        answered = any(a[k] is not None for k in (5, 20, 35, 50))
        out["lie_score"] = sum(1 for k in (5, 20, 35, 50) if a[k] == 1) if answered else math.nan
        supp = sum(1 for k in (61, 62, 63, 64) if a[k] == 1)
        if total >= 25 or a[25] == 1 or supp >= 2 or request:
            klass = "class_1"
        else:
            band2 = 20 <= total <= 24
            key = any(a[k] == 1 for k in (8, 16, 26))
            two = (band2 or key) if settings.upi_class2_connective == "or" else (band2 and key)
            klass = "class_2" if two else ("class_3" if scorable else "")
        out["classification"] = klass
        out["positive"] = klass == "class_1"
    elif code == "MHT":
        for name, items in MHT_SCALES.items():
            got = [keyed[k] for k in items if keyed[k] is not None]
            subs[name] = sum(got) / len(got) * len(items) if (scorable and got) else math.nan
        lie = [a[k] for k in range(82, 101, 2) if a[k] is not None]
        out["lie_score"] = sum(lie) if lie else math.nan
        out["invalid"] = bool(lie) and sum(lie) > 7
        if total >= 65:
            klass = "needs_help"
        elif any(v >= 8 for v in subs.values()):
            klass = "scale_problem"
        else:
            klass = "normal" if scorable else ""
        out["classification"] = klass
        out["positive"] = total >= 65
    out["positive"] = bool(out["positive"])
    if code in ("SDS", "SAS"):
        out["identical_run"] = longest_run([a[k] for k in range(1, n + 1)]) >= min(settings.identical_run_length, n)
    elif code == "SCL90":  # runs of 1 ("none") do not count on a symptom checklist
        above = [None if a[k] == 1 else a[k] for k in range(1, n + 1)]
        out["identical_run"] = longest_run(above) >= min(settings.identical_run_length, n)
    elif code == "UPI":
        given = [v for v in a.values() if v is not None]
        out["identical_run"] = len(given) >= 2 and len(set(given)) == 1
    elif code == "MHT":  # all "yes" only: all "no" is an honest well student's form
        given = [v for v in a.values() if v is not None]
        out["identical_run"] = len(given) >= 2 and set(given) == {1.0}
    else:
        out["identical_run"] = False
    out["careless"] = out["too_fast"] or out["identical_run"]
    out.update({f"sub_{k}": v for k, v in subs.items()})
    return out


def random_table(rng, code, rows, missing_rate):
    lo, hi = RANGE[code]
    n = N[code]
    level = rng.uniform(0, 1, size=(rows, 1))
    answers = lo + rng.binomial(hi - lo, np.clip(level + rng.normal(0, 0.15, (rows, n)), 0, 1)).astype(np.float32)
    reverse = {"SDS": [2, 5, 6, 11, 12, 14, 16, 17, 18, 20], "SAS": [5, 9, 13, 17, 19]}.get(code, [])
    if reverse:  # the level drives keyed scores: reverse-keyed items are answered the other way
        cols = np.asarray(reverse) - 1
        answers[:, cols] = lo + hi - answers[:, cols]
    for r in np.flatnonzero(rng.random(rows) < 0.15):  # identical runs of random length
        start, length = rng.integers(0, n), rng.integers(5, n + 1)
        answers[r, start:start + length] = rng.integers(lo, hi + 1)
    for r in np.flatnonzero(rng.random(rows) < missing_rate):
        answers[r, rng.choice(n, size=rng.integers(1, 13), replace=False)] = np.nan
    items = np.full((rows, 100), np.nan, dtype=np.float32)
    items[:, :n] = answers
    df = pd.DataFrame(items, columns=[f"item_{k}" for k in range(1, 101)])
    df.insert(0, "instrument", code)
    df.insert(0, "date", pd.Timestamp("2026-03-01"))
    df.insert(0, "student_id", [f"s{i}" for i in range(rows)])
    df["duration_seconds"] = np.where(rng.random(rows) < 0.1, np.nan, rng.uniform(0.5, 5, rows) * n)
    df["counselling_request"] = pd.array(rng.random(rows) < 0.05, dtype="boolean")
    return df


SETTINGS = [
    InstrumentSettings(),
    InstrumentSettings(scl90_total_rule=">=", scl90_item15_critical=3, sds_convention="zung_50",
                       upi_class2_connective="and", prorate_max_missing={"SCL90": 9}, identical_run_length=6,
                       seconds_per_item_floor=3.0),
]


@pytest.mark.parametrize("variant", [0, 1])
@pytest.mark.parametrize("code", list(N))
def test_engine_matches_the_plain_reference(code, variant):
    settings = SETTINGS[variant]
    rng = np.random.default_rng(zlib.crc32(f"{code}-{variant}".encode()))
    df = random_table(rng, code, 300, missing_rate=0.2 if code == "SCL90" else 0.0)
    df.index = rng.permutation(np.arange(1000, 1300))
    stage = pd.Series(rng.choice(["junior", "university", "senior", None], 300), index=df.index)
    got = score(df, settings=settings, stage=stage)
    item_cols = [f"item_{k}" for k in range(1, N[code] + 1)]
    for label in df.index:
        row = df.loc[label]
        answers = [None if np.isnan(v) else float(v) for v in row[item_cols]]
        expected = reference(code, answers, settings, stage[label], float(row["duration_seconds"]),
                             bool(row["counselling_request"]))
        for column, value in expected.items():
            actual = got.loc[label, column]
            if isinstance(value, float) and math.isnan(value):
                assert np.isnan(actual), (code, label, column, actual)
            elif isinstance(value, float):
                assert actual == pytest.approx(value, abs=1e-9), (code, label, column)
            else:
                assert actual == value, (code, label, column, actual, value)
    # the random data reached the interesting cases
    assert got["positive"].any() and (~got["positive"]).any()
    if code in ("UPI", "MHT", "SCL90"):
        assert got["classification"].nunique() >= 2
