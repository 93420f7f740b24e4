"""Benchmark of the model audit: 12 monthly as-of dates for 20,000 students (target < 60 s on 2 cores).

Set-up (not timed): a synthetic university of 20,000 students over four years in which left-behind
students' outcomes are recorded 30% of the time, loaded through the real loader, and a LightGBM model
trained up to 2025-06-01. Timed: :func:`riskmodel.audit.run_audit` over 2025-06-01 .. 2026-05-01,
everything included (the model's training-period features for the drift reference and the rules
baseline, the audit period's features, labels, scoring as issued, every table, the model card, the
atomic writes). Prints wall and CPU time per run, the median, each step, and whether the planted
under-recording was flagged.

Usage::

    .venv/bin/python benchmarks/bench_audit.py [--students 20000] [--repeat 3] [--work /tmp/bench_audit]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_audit"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from riskmodel.audit import run_audit
    from riskmodel.config import Settings
    from riskmodel.data import load_dataset
    from riskmodel.models import load_model, save, train_model
    from riskmodel.synth import generate, write

    settings = Settings.model_validate({"model": {"history_months": 12, "calibration_months": 3, "holdout_months": 0,
                                                  "refit": False, "n_estimators": 200}})
    work = args.work / f"s{args.students}"
    data_dir, model_dir = work / "data", work / "model"
    if not model_dir.exists():
        start = time.perf_counter()
        shutil.rmtree(work, ignore_errors=True)
        write(generate(students=args.students, years=4, seed=2026, under_recorded=("left_behind", 0.3)), data_dir)
        dataset = load_dataset(data_dir, settings=settings)
        save(train_model(dataset, "2025-06-01", settings=settings, kind="lightgbm"), model_dir)
        print(f"set-up (not timed): {time.perf_counter() - start:.0f} s")
    dataset = load_dataset(data_dir, settings=settings)
    model = load_model(model_dir)
    walls, cpus = [], []
    for i in range(args.repeat):
        out = work / f"audit-{i}"
        shutil.rmtree(out, ignore_errors=True)
        wall, cpu = time.perf_counter(), time.process_time()
        result = run_audit(dataset, model, date_from="2025-06-01", date_to="2026-05-01", settings=settings,
                           out_dir=out, lang="zh")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        steps = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        print(f"run {i + 1}: wall {walls[-1]:.1f} s, cpu {cpus[-1]:.1f} s ({steps})")
    rows = result.summary["rows"]
    print(f"audit of a {args.students}-student register x {result.summary['period']['dates']} as-of dates "
          f"({rows['rows']} scored rows, {rows['rows'] // result.summary['period']['dates']} enrolled per date; "
          f"{rows['usable']} usable): median wall {statistics.median(walls):.1f} s, "
          f"median cpu {statistics.median(cpus):.1f} s over {args.repeat} run(s); target < 60 s")
    groups = result.tables["groups"]
    planted = groups.query("grouping == 'left_behind' and group == 'yes' and metric == 'observed_expected'")
    for _, row in planted.iterrows():
        print(f"planted under-recording (left_behind, 0.3), {row['scorer']}: status {row['status']}, "
              f"O/E {row['estimate']:.2f}, gap {row['gap']:.2f} [{row['gap_low']:.2f}, {row['gap_high']:.2f}], "
              f"flagged {row['flagged']}")


if __name__ == "__main__":
    main()
