"""Load-and-validate time of riskmodel.data for a synthetic cohort (issue 2: 30,000 students x 4 years < 15 s).

Generates the cohort with ``riskmodel.synth`` (mixed formats and encodings, as a centre's export),
writes it to a temporary folder (not timed), then times, each ``--repeat`` times:

* ``load_dataset`` (read, map, parse, pandera validation, item checks, referential and enrolment
  checks, duplicates, pseudonyms; the checksum over every input byte included);
* ``write_store`` and ``open_store`` (the DuckDB store).

Prints rows per table and the median and range of each timing. The machine may be shared: report
medians, and say so.

Usage::

    .venv/bin/python benchmarks/bench_data.py                      # 30,000 students, 4 years
    .venv/bin/python benchmarks/bench_data.py --students 2000 --years 1 --repeat 1
    .venv/bin/python benchmarks/bench_data.py --students 5000 --years 1 --repeat 1 --duplicates 200000

``--duplicates N`` appends N copies of existing screening rows (a centre's export appended twice):
every copy must be rejected as a duplicate; the peak memory of the process is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from riskmodel import synth
from riskmodel.config import Settings
from riskmodel.data import load_dataset
from riskmodel.data.store import open_store, write_store


def _timed(func, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return times, result


def _line(label: str, times: list[float]) -> str:
    return f"{label:<28} median {statistics.median(times):6.2f} s  (min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"


def _corrupt(folder: Path, share: float, seed: int) -> None:
    """Break ``share`` of the rows of the Parquet tables the generator writes (screenings, attendance)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    for name, column, bad in (("screenings", "item_1", 9), ("attendance", "student_id", "X-unknown")):
        path = folder / f"{name}.parquet"
        if not path.exists():
            continue
        frame = pd.read_parquet(path)
        hit = rng.random(len(frame)) < share
        frame[column] = frame[column].astype(object).where(~hit, bad)
        frame.to_parquet(path)
        print(f"  corrupted {int(hit.sum()):,} rows of {path.name} ({column} = {bad!r})")


def _duplicate(folder: Path, n: int, seed: int) -> None:
    """Append ``n`` copies of randomly drawn screening rows: each one a duplicate of its original."""
    import numpy as np
    import pandas as pd

    path = folder / "screenings.parquet"
    frame = pd.read_parquet(path)
    copies = frame.iloc[np.random.default_rng(seed).integers(0, len(frame), n)]
    pd.concat([frame, copies], ignore_index=True).to_parquet(path)
    print(f"  appended {n:,} duplicated rows to {path.name} ({len(frame):,} originals)")


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30_000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--corrupt", type=float, default=0.0,
                        help="share of screening and attendance rows to break (out-of-range answer, unknown "
                             "student), to time the rejection path too")
    parser.add_argument("--duplicates", type=int, default=0,
                        help="append this many duplicated screening rows, to time duplicate detection")
    args = parser.parse_args()
    os.environ.setdefault("RISKMODEL_PSEUDONYM_KEY", "00" * 32)  # a throwaway key: no key file is created
    settings = Settings()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "export"
        start = time.perf_counter()
        synth.write(synth.generate(students=args.students, years=args.years, seed=args.seed), folder)
        print(f"generated and wrote {args.students:,} students x {args.years} years in "
              f"{time.perf_counter() - start:.1f} s (not part of the figure)")
        if args.corrupt:
            _corrupt(folder, args.corrupt, args.seed)
        if args.duplicates:
            _duplicate(folder, args.duplicates, args.seed)
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        print(f"input: {size / 1e6:.1f} MB in {sum(1 for p in folder.iterdir() if p.is_file())} files")
        load_times, dataset = _timed(lambda: load_dataset(folder, settings=settings), args.repeat)
        for row in dataset.summary.itertuples(index=False):
            print(f"  {row.table:<13} {row.file:<22} {row.rows_read:>10,} rows  {row.rejected:>6,} rejected")
        store = Path(tmp) / "store.duckdb"
        write_times, _ = _timed(lambda: write_store(dataset, store), args.repeat)
        open_times, _ = _timed(lambda: open_store(store), args.repeat)
        print(_line("load_dataset (validate)", load_times), "  target < 15 s" if args.students >= 30_000 else "")
        print(f"peak memory of the process so far: {_peak_mb():,.0f} MB")
        print(_line("write_store", write_times))
        print(_line("open_store", open_times))
        print(f"store: {store.stat().st_size / 1e6:.1f} MB; cpus: {os.cpu_count()} (shared machine: timings are noisy)")


if __name__ == "__main__":
    main()
