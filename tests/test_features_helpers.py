"""Small hand-made and random datasets for the feature, label and validation tests (no tests here)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.data import Dataset, contract
from riskmodel.instruments.specs import all_specs

ENUMS = contract()["enums"]
DATED = {"screenings": "date", "observations": "date", "life_events": "date", "academics": "term_end",
         "attendance": "date", "counselling": "date", "outcomes": "date"}


def students(ids, *, enrolled="2023-09-01", exits=None, school="A", classes=None, stage="university", **extra):
    n = len(ids)
    frame = pd.DataFrame({
        "student_id": list(ids), "school": [school] * n,
        "class_id": list(classes) if classes is not None else ["c1"] * n,
        "stage": [stage] * n, "gender": ["F"] * n,
        "enrollment_date": pd.to_datetime([enrolled] * n),
        "exit_date": pd.to_datetime(exits if exits is not None else [None] * n),
    })
    for key, value in extra.items():
        frame[key] = value
    return frame


def screening_rows(rows):
    """rows: (student_id, date, instrument, answers list)."""
    out = []
    for sid, date, code, answers in rows:
        rec = {"student_id": sid, "date": pd.Timestamp(date), "instrument": code}
        rec.update({f"item_{k + 1}": float(a) for k, a in enumerate(answers)})
        out.append(rec)
    frame = pd.DataFrame(out, columns=["student_id", "date", "instrument"]) if not out else pd.DataFrame(out)
    frame["date"] = pd.to_datetime(frame["date"])
    items = [f"item_{k}" for k in range(1, 101)]
    missing = pd.DataFrame(np.nan, index=frame.index, columns=[c for c in items if c not in frame])
    frame = pd.concat([frame, missing], axis=1)
    frame[items] = frame[items].astype("float32")
    return frame.copy()


def random_dataset(n_students: int = 80, *, seed: int = 0, start="2022-09-01", end="2025-12-31") -> Dataset:
    """Every table of the contract with random but valid content over a few school years."""
    rng = np.random.default_rng(seed)
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    span = (end - start).days
    ids = np.array([f"s{i:04d}" for i in range(n_students)])

    def dates(n, lo=start, days=span):
        return lo + pd.to_timedelta(rng.integers(0, days, n), unit="D")

    enrol = pd.Series(pd.to_datetime(rng.choice(pd.to_datetime(["2022-09-01", "2023-09-01", "2024-09-01"]),
                                                n_students)))
    exits = pd.Series(pd.NaT, index=range(n_students), dtype="datetime64[ns]")
    leaving = rng.random(n_students) < 0.2
    exits[leaving] = enrol[leaving] + pd.to_timedelta(rng.integers(200, 1100, leaving.sum()), unit="D")
    st = pd.DataFrame({
        "student_id": ids, "school": rng.choice(["A", "B"], n_students),
        "college": "x", "grade": "g", "class_id": rng.choice(["c1", "c2", "c3"], n_students), "dorm_id": "d",
        "stage": rng.choice(["university", "senior"], n_students),
        "gender": rng.choice(["F", "M", "unknown"], n_students),
        "birth_date": pd.to_datetime("2005-01-01") + pd.to_timedelta(rng.integers(0, 1500, n_students), unit="D"),
        "enrollment_date": enrol, "exit_date": exits,
    })
    for flag in contract()["family_flags"]:
        st[flag] = pd.array(rng.choice([True, False, None], n_students), dtype="boolean")

    specs = all_specs()
    rows = []
    for code in ("PHQ9", "GAD7", "UPI", "SCL90", "SDS", "SAS", "MHT"):
        spec = specs[code]
        m = n_students * 3
        who = rng.choice(ids, m)
        when = dates(m)
        answers = rng.integers(spec.response_min, spec.response_max + 1, (m, spec.n_items))
        for i in range(m):
            rows.append((who[i], when[i], code, answers[i]))
    scr = screening_rows(rows)
    scr["duration_seconds"] = rng.uniform(10, 600, len(scr))

    def events(n, **cols):
        frame = pd.DataFrame({"student_id": rng.choice(ids, n), "date": dates(n)})
        for col, values in cols.items():
            frame[col] = rng.choice(values, n)
        return frame

    obs = events(n_students * 8, source=ENUMS["observation_source"], category=ENUMS["observation_category"],
                 severity=[1, 2, 3])
    obs["note"] = "private note"
    life = events(n_students * 3, event=ENUMS["life_event"])
    att = events(n_students * 15, status=ENUMS["attendance_status"])
    att = att.drop_duplicates(["student_id", "date"])
    couns = events(n_students * 4, kind=ENUMS["counselling_kind"])
    couns["counsellor_rating"] = pd.array(rng.choice([1, 2, 3, 4, None], len(couns)), dtype="Int64")
    outc = events(n_students // 2, event=ENUMS["outcome_event"])
    terms = pd.to_datetime(["2023-01-15", "2023-07-05", "2024-01-15", "2024-07-05", "2025-01-15", "2025-07-05"])
    acad = pd.DataFrame([(sid, t) for sid in ids for t in terms], columns=["student_id", "term_end"])
    acad["mean_score"] = rng.uniform(40, 100, len(acad))
    acad["failed_courses"] = pd.array(rng.poisson(0.4, len(acad)), dtype="Int64")
    acad["rank_pct"] = rng.random(len(acad))
    return Dataset(tables={"students": st, "screenings": scr, "observations": obs, "life_events": life,
                           "academics": acad, "attendance": att, "counselling": couns, "outcomes": outc})


def cut_after(dataset: Dataset, t) -> Dataset:
    """Delete every record dated after ``t``; students enrolled after it; exit dates after it."""
    t = pd.Timestamp(t)
    tables = {}
    for name, frame in dataset.tables.items():
        if name in DATED:
            tables[name] = frame.loc[frame[DATED[name]] <= t].reset_index(drop=True)
        elif name == "students":
            st = frame.loc[frame["enrollment_date"] <= t].copy()
            st.loc[st["exit_date"] > t, "exit_date"] = pd.NaT
            tables[name] = st.reset_index(drop=True)
        else:
            tables[name] = frame
    return Dataset(tables=tables)


def alter_after(dataset: Dataset, t, *, seed: int = 1) -> Dataset:
    """Randomly alter every record dated after ``t``: new values, moved dates (still after t), extra rows."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp(t)
    tables = {}
    for name, frame in dataset.tables.items():
        frame = frame.copy()
        if name in DATED:
            col = DATED[name]
            late = (frame[col] > t).to_numpy()
            idx = np.flatnonzero(late)
            shift = pd.to_timedelta(rng.integers(1, 400, len(idx)), unit="D")
            frame.loc[frame.index[idx], col] = t + shift
            for c in frame.columns:
                if c in (col, "student_id") or len(idx) == 0:
                    continue
                if c == "instrument":
                    continue
                if c.startswith("item_"):
                    continue
                else:
                    frame.loc[frame.index[idx], c] = frame[c].sample(len(idx), replace=True, random_state=seed).values
            if name == "screenings" and len(idx):
                specs = all_specs()
                for code in frame.loc[frame.index[idx], "instrument"].unique():
                    rows = frame.index[idx][frame.loc[frame.index[idx], "instrument"].to_numpy() == code]
                    spec = specs[code]
                    new = rng.integers(spec.response_min, spec.response_max + 1, (len(rows), spec.n_items))
                    frame.loc[rows, list(spec.item_columns)] = new.astype("float32")
            # extra future rows for some students, copied from random rows and moved after t
            extra = frame.sample(min(len(frame), 30), random_state=seed).copy()
            extra[col] = t + pd.to_timedelta(rng.integers(0, 300, len(extra)) + 1, unit="D")
            if name == "attendance":
                extra = extra.drop_duplicates(["student_id", col])
            frame = pd.concat([frame, extra], ignore_index=True)
            if name == "attendance":
                frame = frame.drop_duplicates(["student_id", col], keep="first")
            tables[name] = frame.reset_index(drop=True)
        elif name == "students":
            late_exit = frame["exit_date"] > t
            frame.loc[late_exit, "exit_date"] = t + pd.to_timedelta(rng.integers(1, 300, late_exit.sum()), unit="D")
            late_enrol = frame["enrollment_date"] > t
            frame.loc[late_enrol, "stage"] = "graduate"
            tables[name] = frame
        else:
            tables[name] = frame
    return Dataset(tables=tables)
