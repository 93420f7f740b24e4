"""A small scored cohort for the reports tests: the stage boundary (:class:`Scored`) built directly.

The scoring stage has its own tests; here the input of :func:`riskmodel.reports.runner.publish` is
made from a seeded random register so that the report machinery is tested on its own, fast.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from riskmodel.reports.runner import Scored

FEATURES = ["phq9_total_latest", "obs_count_90d", "days_since_last_screening"]


def make_scored(*, students: int = 90, colleges: tuple[str, ...] = ("计算机学院", "外国语学院"),
                school: str = "示范大学", as_of: date = date(2026, 3, 1), seed: int = 0,
                previous: pd.DataFrame | None = None) -> Scored:
    """A scored cohort of ``students`` over ``colleges`` (three classes and dorms each)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"S{i:05d}" for i in range(students)])
    college = np.array(colleges)[np.arange(students) % len(colleges)]
    klass = np.array([f"{c}-{k}班" for c, k in zip(college, rng.integers(1, 4, students))])
    register = pd.DataFrame({
        "student_id": ids, "pseudonym": [f"P{abs(hash((seed, i))) % 10**8:08d}" for i in range(students)],
        "school": school, "college": college, "grade": "2024", "class_id": klass,
        "dorm_id": [f"D{k}" for k in rng.integers(1, 5, students)], "stage": "university",
        "gender": rng.choice(["F", "M"], students),
    })
    register["pseudonym"] = [f"P{seed}{i:06d}" for i in range(students)]
    score = np.round(rng.beta(1, 30, students), 4)
    rank = pd.Series(score).rank(ascending=False, method="first").astype(int).to_numpy()
    level = np.select([rank <= 3, rank <= 8, rank <= 15], ["I", "II", "III"], "none")
    everyone = register[["student_id", "pseudonym", "school", "college", "grade", "class_id", "dorm_id", "stage"]].copy()
    everyone.insert(0, "as_of", pd.Timestamp(as_of))
    everyone["level"], everyone["score"], everyone["rank"] = level, score, rank
    everyone["rules"] = np.where(rank == 1, "PHQ-9 第9题阳性", "")
    everyone["factors"] = np.where(level != "none", "PHQ-9 总分高；近90天观察记录多", "")
    everyone["change"] = np.where(level != "none", "new", "")
    everyone["model_version"] = "test0000"
    listed = everyone[everyone["level"] != "none"].copy()
    listed["run_id"] = ""
    contributions = pd.DataFrame(rng.normal(0, 0.3, (students, len(FEATURES))), columns=FEATURES)
    screenings = pd.DataFrame({"student_id": np.repeat(ids, 2),
                               "date": pd.to_datetime(["2025-09-15", "2026-02-20"] * students),
                               "instrument": "PHQ9", "total": rng.integers(0, 27, 2 * students).astype(float)})
    observations = pd.DataFrame({"student_id": ids[:20], "date": pd.Timestamp("2026-02-01"), "source": "counsellor",
                                 "category": "mood", "severity": 2, "note": "SECRET-NOTE-TEXT"})
    return Scored(as_of=as_of, warning_list=listed, everyone=everyone,
                  tables={"students": register, "screenings": screenings, "observations": observations},
                  model_version="test0000", model_meta={"kind": "lightgbm", "horizon_days": 90},
                  contributions=contributions, data_checksum="0" * 64,
                  feature_values=pd.DataFrame(np.random.default_rng(seed + 1).integers(0, 5, (students, len(FEATURES))),
                                              columns=FEATURES).astype(float),
                  summary=pd.DataFrame({"table": ["students", "screenings"], "file": ["students.csv", "screenings.csv"],
                                        "rows_read": [students, 2 * students], "accepted": [students, 2 * students],
                                        "rejected": [0, 0]}),
                  rejected=pd.DataFrame({"table": ["screenings"], "row": [3], "column": ["item_9"], "value": ["7"],
                                         "reason": ["out of range"]}),
                  skipped=("life_events: no file; the source is not used",))
