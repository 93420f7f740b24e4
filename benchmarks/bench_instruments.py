"""Benchmark: scoring 1,000,000 administrations of PHQ-9 (target < 2 s) and SCL-90 (target < 10 s).

Builds a canonical screenings table as ``riskmodel.data`` does (one float32 column per item,
item_1..item_100, NaN past N; duration_seconds; random answers), then times
``riskmodel.instruments.score`` and ``item_problems`` several times and prints the median wall time,
the median CPU time of this process (less sensitive to other jobs on a shared machine), the machine
and the targets. Building the table is not timed. ``--row-major`` builds the frame from one 2-D array
instead (a layout the loader never produces; scoring then pays one transpose).

Run::

    .venv/bin/python benchmarks/bench_instruments.py            # 1,000,000 rows, 3 runs
    .venv/bin/python benchmarks/bench_instruments.py --rows 200000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd

from riskmodel.config import InstrumentSettings
from riskmodel.instruments import get, item_problems, score

TARGETS = {"PHQ9": 2.0, "SCL90": 10.0}


def screenings(code: str, rows: int, seed: int = 7, *, row_major: bool = False) -> pd.DataFrame:
    """A canonical screenings table of ``rows`` random administrations of ``code``."""
    spec = get(code)
    rng = np.random.default_rng(seed)
    items = np.full((rows, 100), np.nan, dtype=np.float32)
    items[:, : spec.n_items] = rng.integers(spec.response_min, spec.response_max + 1, size=(rows, spec.n_items))
    names = [f"item_{k}" for k in range(1, 101)]
    if row_major:
        df = pd.DataFrame(items, columns=names)
    else:  # one column per item, as riskmodel.data.load builds the canonical table
        df = pd.DataFrame({name: items[:, k].copy() for k, name in enumerate(names)})
    del items
    df.insert(0, "instrument", code)
    df.insert(0, "date", pd.Timestamp("2026-03-01"))
    df.insert(0, "student_id", pd.RangeIndex(rows).astype(str))
    df["duration_seconds"] = rng.uniform(5, 900, size=rows)
    return df


def timed(func, runs: int) -> tuple[list[float], list[float]]:
    """(wall seconds, CPU seconds of this process) per run."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        func()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--row-major", action="store_true", help="build the frame from one 2-D array")
    args = parser.parse_args()
    settings = InstrumentSettings()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    print(f"note: the machine may be shared (load average {os.getloadavg()[0]:.1f} at start); figures are "
          "medians of the runs")
    stage = None
    for code, target in TARGETS.items():
        df = screenings(code, args.rows, row_major=args.row_major)
        stage = None
        if code == "PHQ9":
            stage = pd.Series(np.where(np.arange(args.rows) % 2 == 0, "university", "junior"), index=df.index)
        wall, cpu = timed(lambda df=df, stage=stage: score(df, settings=settings, stage=stage), args.runs)
        p_wall, p_cpu = timed(lambda df=df: item_problems(df, settings=settings), args.runs)
        median = statistics.median(wall)
        print(f"{code}: score {args.rows:,} rows: median {median:.2f} s wall, {statistics.median(cpu):.2f} s CPU "
              f"(wall runs {', '.join(f'{t:.2f}' for t in wall)}); target < {target:.0f} s per 1,000,000: "
              f"{'OK' if median * 1_000_000 / args.rows < target else 'MISSED'}")
        print(f"{code}: item_problems {args.rows:,} rows: median {statistics.median(p_wall):.2f} s wall, "
              f"{statistics.median(p_cpu):.2f} s CPU")
        del df


if __name__ == "__main__":
    main()
