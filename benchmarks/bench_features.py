"""Benchmark: the feature matrix for a 30,000-student cohort at 1 and at 36 monthly as-of dates.

Targets (issue 5): one as-of date < 5 s, 36 monthly dates < 60 s, on 2 cores. Uses the synthetic
cohort of ``riskmodel.synth`` when it provides ``generate``; otherwise a vectorised random cohort of
the same shape (every table of the contract, three school years). Prints median wall times of
``--repeat`` runs; the machine may be shared, so read the median, not the best.

Run::

    .venv/bin/python benchmarks/bench_features.py --students 30000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.data import Dataset, contract
from riskmodel.features import build_features, prepare
from riskmodel.instruments.specs import all_specs
from riskmodel.labels import build_labels


def random_cohort(n: int, *, seed: int = 0) -> Dataset:
    """Every table of the contract for ``n`` students over school years 2022-2025, vectorised."""
    rng = np.random.default_rng(seed)
    enums = contract()["enums"]
    start, span = pd.Timestamp("2022-09-01"), 1200
    ids = np.array([f"S{i:06d}" for i in range(n)], dtype=object)

    def dates(m):
        return start + pd.to_timedelta(rng.integers(0, span, m), unit="D")

    students = pd.DataFrame({
        "student_id": ids, "school": rng.choice(["A", "B", "C"], n), "college": rng.choice(list("pqrst"), n),
        "class_id": np.char.add("c", rng.integers(0, 800, n).astype(str)), "stage": "university",
        "gender": rng.choice(["F", "M"], n),
        "birth_date": pd.Timestamp("2003-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D"),
        "enrollment_date": pd.to_datetime(rng.choice(pd.to_datetime(["2021-09-01", "2022-09-01", "2023-09-01"]), n)),
        "exit_date": pd.NaT,
    })
    for flag in contract()["family_flags"]:
        students[flag] = pd.array(rng.random(n) < 0.1, dtype="boolean")
    frames = []
    for code in ("UPI", "PHQ9", "GAD7", "SCL90"):
        spec = all_specs()[code]
        m = n * 2
        items = rng.integers(spec.response_min, spec.response_max + 1, (m, spec.n_items)).astype("float32")
        frame = pd.DataFrame(items, columns=list(spec.item_columns))
        frame.insert(0, "student_id", rng.choice(ids, m))
        frame.insert(1, "date", dates(m))
        frame.insert(2, "instrument", code)
        frames.append(frame)
    screenings = pd.concat(frames, ignore_index=True)

    def events(m, **cols):
        frame = pd.DataFrame({"student_id": rng.choice(ids, m), "date": dates(m)})
        for col, values in cols.items():
            frame[col] = rng.choice(values, m)
        return frame

    observations = events(n * 10, source=enums["observation_source"], category=enums["observation_category"],
                          severity=[1, 2, 3])
    life = events(n * 2, event=enums["life_event"])
    attendance = events(n * 30, status=["late", "absent_excused", "absent_unexcused", "leave"])
    counselling = events(n * 2, kind=enums["counselling_kind"])
    counselling["counsellor_rating"] = pd.array(rng.choice([1, 2, 3, 4], len(counselling)), dtype="Int64")
    outcomes = events(n // 10, event=enums["outcome_event"])
    terms = pd.to_datetime(["2023-01-15", "2023-07-05", "2024-01-15", "2024-07-05", "2025-01-15", "2025-07-05"])
    academics = pd.DataFrame({"student_id": np.repeat(ids, len(terms)), "term_end": np.tile(terms, n)})
    academics["mean_score"] = rng.uniform(40, 100, len(academics))
    academics["failed_courses"] = pd.array(rng.poisson(0.3, len(academics)), dtype="Int64")
    return Dataset(tables={"students": students, "screenings": screenings, "observations": observations,
                           "life_events": life, "academics": academics, "attendance": attendance,
                           "counselling": counselling, "outcomes": outcomes})


def cohort(n: int) -> tuple[Dataset, str]:
    try:
        from riskmodel.synth import generate  # noqa: F401
    except ImportError:
        return random_cohort(n), "random cohort (riskmodel.synth.generate not available)"
    from riskmodel.synth import generate

    synth = generate(students=n, years=3, stage="university", seed=1)
    return Dataset(tables=synth.tables), "riskmodel.synth.generate"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dates", type=int, default=36)
    args = parser.parse_args()
    settings = Settings()
    t0 = time.perf_counter()
    dataset, origin = cohort(args.students)
    rows = {k: len(v) for k, v in dataset.tables.items()}
    print(f"cohort: {origin}; built in {time.perf_counter() - t0:.1f} s; rows {rows}")
    starts = [t for t in dataset.tables["students"]["enrollment_date"].dropna()]
    first = max(pd.Timestamp("2023-01-01"), min(starts) + pd.Timedelta(days=120))
    monthly = pd.date_range(first, periods=args.dates, freq="MS")
    one = [monthly[-1]]
    timings: dict[str, list[float]] = {"prepare": [], "one date (prepare + build)": [], f"{args.dates} dates": [],
                                       f"labels, {args.dates} dates": []}
    for _ in range(args.repeat):
        t = time.perf_counter()
        source = prepare(dataset, settings=settings)
        timings["prepare"].append(time.perf_counter() - t)
        del source
        t = time.perf_counter()
        matrix = build_features(dataset, one, settings=settings)
        timings["one date (prepare + build)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        big = build_features(dataset, monthly, settings=settings)
        timings[f"{args.dates} dates"].append(time.perf_counter() - t)
        t = time.perf_counter()
        labels = build_labels(dataset, big[["student_id", "as_of"]], settings=settings)
        timings[f"labels, {args.dates} dates"].append(time.perf_counter() - t)
    for name, values in timings.items():
        print(f"{name:>28}: median {statistics.median(values):6.2f} s  (runs: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"one date: {matrix.shape[0]} rows x {matrix.shape[1] - 2} features; "
          f"{args.dates} dates: {big.shape[0]} rows, {big.memory_usage(deep=False).sum() / 2**20:.0f} MiB; "
          f"labels: {int(labels['label'].sum())} positive, {int((~labels['usable']).sum())} not usable")


if __name__ == "__main__":
    main()
