"""Benchmark of the scheduled run (issue 7): the monthly run for a synthetic university, and its report
stage against the floor of the same number of trivial papermill notebooks with the same parallelism.

Usage::

    .venv/bin/python benchmarks/bench_reports.py [--students 20000] [--years 4] [--jobs 2] [--repeat 1]
                                                 [--history 6] [--work /tmp/riskmodel-bench-reports]

The synthetic data, the model and --history earlier monthly runs (so that the measured run has a
history to compare with and draw its trend from, as a centre's run does) are made once in --work
and reused. Each repeat makes one real run
(`riskmodel.reports.runner.run`, every stage) and then, side by side, the floors: N trivial notebooks
(one parameter, one cell) through the same process pool, once with a fresh papermill kernel per
notebook (papermill's default) and once with the reused kernels the run uses. With --fresh-kernels,
each repeat also makes the run with a fresh kernel per notebook. Prints medians.
The warning lists (spreadsheets) are written by the report pool's workers ahead of the notebooks: ``stage_lists``
is their worker seconds, inside the report stage's wall time.
The machine may be shared: read the figures with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import nbformat


def trivial_notebook(folder: Path) -> Path:
    """A notebook with a parameters cell and one trivial cell: what papermill costs by itself."""
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('lang: str = "zh"  # language'),
                                           nbformat.v4.new_code_cell("1 + 1")])
    book.cells[0].metadata["tags"] = ["parameters"]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "trivial.ipynb"
    nbformat.write(book, path)
    return path


def floor_seconds(n: int, *, jobs: int, reuse_kernels: bool) -> float:
    """Wall time of ``n`` trivial notebooks through the run's pool (no HTML export)."""
    from riskmodel.reports.pool import execute_all

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nb = trivial_notebook(folder)
        (folder / "notebooks").mkdir()
        jobs_list = [{"key": f"t{i}", "template": str(nb), "parameters": {"lang": "zh"},
                      "ipynb": str(folder / "notebooks" / f"t{i}.ipynb"), "html": None, "title": "t", "timeout": 600}
                     for i in range(n)]
        started = time.perf_counter()
        outcomes = execute_all(jobs_list, workers=jobs, reuse_kernels=reuse_kernels,
                                       on_done=lambda key, outcome: None)
        elapsed = time.perf_counter() - started
    assert all(o["status"] == "ok" for o in outcomes.values()), outcomes
    return elapsed


def prepare(work: Path, *, students: int, years: int):
    from riskmodel.config import Settings
    from riskmodel.models.commands import train_command
    from riskmodel.reports.demo import plan
    from riskmodel.synth import generate, write

    settings = Settings()
    steps = plan(work, years=years)
    if not steps.data_dir.exists():
        t = time.perf_counter()
        write(generate(students=students, years=years, stage="university", seed=0), steps.data_dir)
        print(f"synthetic cohort: {time.perf_counter() - t:.1f}s (once)")
    if not steps.model_dir.exists():
        t = time.perf_counter()
        train_command(steps.data_dir, steps.until, steps.model_dir, settings=settings)
        print(f"training: {time.perf_counter() - t:.1f}s (once)")
    return steps, settings


def earlier_months(steps, settings, out: Path, *, months: int, jobs: int) -> None:
    """Make the monthly runs before the measured one that ``out`` does not hold yet (once)."""
    import pandas as pd

    from riskmodel.reports.runner import run

    for k in range(months, 0, -1):
        as_of = (pd.Timestamp(steps.as_of) - pd.DateOffset(months=k)).date()
        if any(out.glob(f"run-{as_of.isoformat()}-*/manifest.json")):
            continue
        t = time.perf_counter()
        run(steps.data_dir, steps.model_dir, as_of, out, settings=settings, jobs=jobs)
        print(f"earlier run {as_of}: {time.perf_counter() - t:.1f}s (once)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=20000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--history", type=int, default=6, help="earlier monthly runs before the measured one")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="also make each run with reports.reuse_kernels false (a fresh kernel per notebook)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "riskmodel-bench-reports")
    args = parser.parse_args()

    from riskmodel.reports.runner import run

    steps, settings = prepare(args.work, students=args.students, years=args.years)
    earlier_months(steps, settings, args.work / "reports", months=args.history, jobs=args.jobs)
    rows = []
    for i in range(args.repeat):
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result = run(steps.data_dir, steps.model_dir, steps.as_of, args.work / "reports", settings=settings,
                     jobs=args.jobs)
        total = time.perf_counter() - started
        timings = result.manifest["timings_seconds"]
        n = len(result.outcomes)
        print(f"run {i}: {total:.1f}s, stages {timings}, {len(result.failed)} failed", flush=True)
        if args.fresh_kernels:
            fresh_settings = settings.model_copy(
                update={"reports": settings.reports.model_copy(update={"reuse_kernels": False})})
            fresh_run = run(steps.data_dir, steps.model_dir, steps.as_of, args.work / "reports", settings=fresh_settings,
                            jobs=args.jobs)
            row_fresh = {"reports_fresh_kernels": fresh_run.manifest["timings_seconds"]["reports"]}
        else:
            row_fresh = {}
        fresh = floor_seconds(n, jobs=args.jobs, reuse_kernels=False)
        reused = floor_seconds(n, jobs=args.jobs, reuse_kernels=True)
        import pandas as pd

        runs_so_far = pd.read_parquet(result.run_dir / "report_data" / "levels.parquet")["as_of"].nunique()
        row = {"earlier_runs": runs_so_far - 1, "total": total, "reports": timings["reports"], "floor_fresh": fresh,
               "floor_reused": reused,
               "notebooks": n, "failed": len(result.failed), "students": result.manifest["students_scored"],
               "load_avg_1min": load, **row_fresh, **{f"stage_{k}": v for k, v in timings.items() if k != "reports"}}
        rows.append(row)
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"\nmedian of {len(rows)} (jobs={args.jobs}, {med['notebooks']:.0f} notebooks, "
          f"{med['students']:.0f} students scored, {med['earlier_runs']:.0f} earlier runs in the history, "
          f"load average {med['load_avg_1min']:.1f} on {os.cpu_count()} cores)")
    print(f"monthly run, every stage:           {med['total']:7.1f} s   (target < 90 s)")
    print(f"lists (xlsx/csv/parquet), worker seconds in the pool: {med['stage_lists']:7.1f} s")
    print(f"report stage (lists, notebooks + HTML): {med['reports']:7.1f} s")
    if "reports_fresh_kernels" in med:
        print(f"report stage, fresh kernel per notebook: {med['reports_fresh_kernels']:7.1f} s   ratio to the fresh floor "
              f"{med['reports_fresh_kernels'] / med['floor_fresh']:.2f}")
    print(f"floor, trivial, fresh kernels:      {med['floor_fresh']:7.1f} s   ratio {med['reports'] / med['floor_fresh']:.2f}"
          "   (issue 7: within 1.3; papermill's default floor)")
    print(f"floor, trivial, reused kernels:     {med['floor_reused']:7.1f} s   ratio {med['reports'] / med['floor_reused']:.2f}"
          "   (stricter: the floor of the run's own kernel reuse)")


if __name__ == "__main__":
    main()
