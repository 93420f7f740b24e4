"""The synthetic register: a university (one school, 20 colleges, classes of ~30, dorms of 4-6) or a
K-12 district (primary, junior and senior schools, classes of ~40), with the register's family flags.

Cohorts enter every September. The oldest cohorts enrolled before the window, so a four-year window of a
university holds all four grades from its first day. All names are fictitious (青溪 is an invented
place name); student IDs follow the usual 学号 pattern: entry year, unit code, serial.

Example
-------
>>> import numpy as np
>>> from datetime import date
>>> students = register(np.random.default_rng(0), students=500, stage="university",
...                     start=date(2023, 9, 1), end=date(2025, 9, 1))
>>> students["student_id"].is_unique, sorted(students["stage"].unique())
(True, ['university'])
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from riskmodel.synth import params

__all__ = ["register", "COLLEGES", "K12_SCHOOLS", "UNIVERSITY", "PROGRAMME_YEARS"]

UNIVERSITY = "青溪大学"
COLLEGES: tuple[str, ...] = (
    "计算机科学与技术学院", "数学与统计学院", "物理与电子工程学院", "化学化工学院", "生命科学学院", "文学院",
    "外国语学院", "历史文化学院", "经济学院", "管理学院", "法学院", "马克思主义学院", "教育科学学院",
    "心理学院", "新闻传播学院", "美术与设计学院", "音乐学院", "体育学院", "医学院", "机械工程学院",
)
# school, stage, relative size of one entering cohort
K12_SCHOOLS: tuple[tuple[str, str, float], ...] = (
    ("青溪区第一小学", "primary", 1.0), ("青溪区实验小学", "primary", 1.2), ("青溪区第二小学", "primary", 0.8),
    ("青溪区第一中学", "junior", 1.5), ("青溪区第二中学", "junior", 1.2), ("青溪区高级中学", "senior", 2.0),
)
PROGRAMME_YEARS = {"primary": 6, "junior": 3, "senior": 3, "university": 4}
_ENTRY_AGE = {"primary": 6, "junior": 12, "senior": 15, "university": 18}
_CLASS_SIZE = {"university": 30, "k12": 40}
_DORM_BUILDINGS = ("桃园", "李园", "竹园", "梅园", "松园", "兰园")


def _first_academic_year(start: date) -> int:
    return start.year if start.month >= 9 else start.year - 1


def _cohorts(stage: str, start: date, end: date) -> list[int]:
    first = _first_academic_year(start) - PROGRAMME_YEARS[stage] + 1
    last = _first_academic_year(end - pd.Timedelta(days=1))
    return list(range(first, last + 1))


def _units(students: int, stage: str, start: date, end: date) -> pd.DataFrame:
    """One row per (school, stage, entry year) with its number of students."""
    if stage == "university":
        years = _cohorts("university", start, end)
        return pd.DataFrame({"school": UNIVERSITY, "stage": "university", "entry_year": years,
                             "n": np.full(len(years), max(students // len(years), 1))})
    rows = [(school, school_stage, year, weight) for school, school_stage, weight in K12_SCHOOLS
            for year in _cohorts(school_stage, start, end)]
    units = pd.DataFrame(rows, columns=["school", "stage", "entry_year", "weight"])
    units["n"] = np.maximum(np.round(students * units["weight"] / units["weight"].sum()).astype(int), 1)
    return units.drop(columns="weight")


def _flags(rng: np.random.Generator, n: int, family: str) -> dict[str, pd.Series]:
    prevalence = params.FLAG_PREVALENCE[family]
    drawn = {flag: rng.random(n) < p for flag, p in prevalence.items()}
    # family structure hangs together: a divorce often leaves one parent; remarriage needs a divorce
    drawn["single_parent"] |= drawn["divorced_family"] & (rng.random(n) < 0.35)
    drawn["reconstituted_family"] &= drawn["divorced_family"] | (rng.random(n) < 0.3)
    out = {}
    for flag in prevalence:
        values = pd.array(drawn[flag], dtype="boolean")
        values[rng.random(n) < params.FLAG_MISSING] = pd.NA
        out[flag] = pd.Series(values)
    return out


def register(rng: np.random.Generator, *, students: int, stage: str, start: date, end: date) -> pd.DataFrame:
    """The students table (contract columns) plus private helper columns prefixed ``_``.

    Parameters
    ----------
    rng
        The cohort's random generator (consumed in a fixed order: deterministic for a seed).
    students
        Roughly the number of distinct students over the window.
    stage
        ``"university"`` or ``"k12"``.
    start, end
        The window (end exclusive).

    Returns
    -------
    DataFrame
        Contract columns of ``students`` (``exit_date`` holds graduations inside the window only;
        withdrawals are added by the simulation) and ``_entry_year``, ``_unit`` (college or school
        index), ``_programme_years``.
    """
    units = _units(students, stage, start, end)
    family = "university" if stage == "university" else "k12"
    unit_index = np.repeat(np.arange(len(units)), units["n"].to_numpy())
    n = unit_index.size
    base = units.iloc[unit_index].reset_index(drop=True)
    if stage == "university":
        college_weights = rng.dirichlet(np.full(len(COLLEGES), 8.0))
        college = rng.choice(len(COLLEGES), size=n, p=college_weights)
        base["college"] = np.asarray(COLLEGES, dtype=object)[college]
        unit_code = college + 1
    else:
        base["college"] = ""
        unit_code = pd.Index([s for s, _, _ in K12_SCHOOLS]).get_indexer(base["school"]) + 1
    gender = np.where(rng.random(n) < (0.52 if family == "university" else 0.48), "F", "M").astype(object)
    gender[rng.random(n) < 0.002] = "unknown"
    frame = pd.DataFrame({"school": base["school"], "college": base["college"], "stage": base["stage"],
                          "gender": gender, "_entry_year": base["entry_year"].to_numpy(), "_unit": unit_code})
    frame = frame.sort_values(["school", "_unit", "_entry_year", "gender"], kind="stable").reset_index(drop=True)
    entry = frame["_entry_year"].to_numpy()
    # classes: consecutive students of a unit and year, mixed by gender through a shuffle key; the
    # 学号 serial follows the class list (entry year, unit code, serial)
    shuffle = rng.permutation(n)
    order = np.lexsort((shuffle, entry, frame["_unit"].to_numpy(), frame["school"].to_numpy()))
    in_unit = np.empty(n, dtype=np.int64)
    in_unit[order] = frame.iloc[order].groupby(["school", "_unit", "_entry_year"]).cumcount().to_numpy()
    class_no = in_unit // _CLASS_SIZE[family] + 1
    frame["student_id"] = (pd.Series(entry).astype(str) + pd.Series(frame["_unit"].to_numpy()).astype(str).str.zfill(2)
                           + pd.Series(in_unit + 1).astype(str).str.zfill(4))
    grade = pd.Series(entry).astype(str) + "级"
    if stage == "university":
        short = frame["college"].str.replace("学院", "", regex=False)
        frame["class_id"] = short + grade + pd.Series(class_no).astype(str) + "班"
    else:
        frame["class_id"] = grade + pd.Series(class_no).astype(str) + "班"
    frame["grade"] = grade
    frame["dorm_id"] = _dorms(frame, in_unit)
    frame["_programme_years"] = frame["stage"].map(PROGRAMME_YEARS).to_numpy()
    age = frame["stage"].map(_ENTRY_AGE).to_numpy()
    birth = (pd.to_datetime(pd.Series(entry - age).astype(str) + "-01-01")
             + pd.to_timedelta(rng.integers(-180, 365, n), unit="D"))
    frame["birth_date"] = birth.dt.normalize()
    frame["enrollment_date"] = pd.to_datetime(pd.Series(entry).astype(str) + "-09-01") + pd.to_timedelta(
        rng.integers(0, 4 if family == "university" else 1, n), unit="D")
    graduation = pd.to_datetime(pd.Series(entry + frame["_programme_years"].to_numpy()).astype(str) + "-06-30")
    frame["exit_date"] = graduation.where(graduation < pd.Timestamp(end))
    for flag, values in _flags(rng, n, family).items():
        frame[flag] = values
    columns = ["student_id", "school", "college", "grade", "class_id", "dorm_id", "stage", "gender", "birth_date",
               "enrollment_date", "exit_date", *params.FLAG_PREVALENCE[family], "_entry_year", "_unit",
               "_programme_years"]
    return frame[columns].sort_values("student_id", kind="stable").reset_index(drop=True)


def _dorms(frame: pd.DataFrame, class_order: np.ndarray) -> pd.Series:
    """Rooms of 4 or 6 students of one gender, unit and year, filled in class-list order so that
    roommates are mostly classmates (university; senior boarders in a district)."""
    boards = (frame["stage"].isin(["university", "senior"])).to_numpy()
    room_size = np.where(frame["_unit"].to_numpy() % 3 == 0, 6, 4)
    key = frame[["school", "_unit", "_entry_year", "gender"]]
    position = pd.Series(class_order).groupby([key[c].to_numpy() for c in key.columns]).rank(method="first")
    position = position.to_numpy().astype(np.int64) - 1
    room_in_group = position // room_size
    group = key.groupby(list(key.columns), sort=True).ngroup().to_numpy()
    building = np.asarray(_DORM_BUILDINGS, dtype=object)[group % len(_DORM_BUILDINGS)]
    floor = 1 + (room_in_group // 20) % 6
    number = pd.Series(floor * 100 + 1 + room_in_group % 20).astype(str)
    block = pd.Series(1 + group // len(_DORM_BUILDINGS)).astype(str)  # one building block per group
    dorm = pd.Series(building) + block + "栋" + number
    return dorm.where(pd.Series(boards), "")
