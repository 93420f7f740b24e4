"""Benchmark of `riskmodel synth` (issue 3: 30,000 students over 4 years in under 60 s, under 4 GiB).

Runs the real command in a fresh process REPEATS times and prints each run's wall time and peak
resident memory (the child's maximum RSS), then the medians. The machine may be shared: read the
median, and rerun on a quiet machine for a figure to quote.

    .venv/bin/python benchmarks/bench_synth.py [--students 30000] [--years 4] [--stage university] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def run_once(students: int, years: int, stage: str) -> tuple[float, float, float]:
    """One run of the command in a child process: (wall seconds, CPU seconds, peak RSS in MiB)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cohort"
        command = [str(Path(sys.executable).with_name("riskmodel")), "synth", "--out", str(out),
                   "--students", str(students), "--years", str(years), "--stage", stage]
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # child: exec the command so its own peak RSS is what wait4 reports
            os.execv(command[0], command)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"riskmodel synth failed with status {status}")
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
        cpu = usage.ru_utime + usage.ru_stime
        print(f"  {seconds:6.1f} s wall  {cpu:6.1f} s CPU  peak RSS {usage.ru_maxrss / 1024:7.0f} MiB  "
              f"output {size:6.1f} MiB", flush=True)
        return seconds, cpu, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30000)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--stage", default="university")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"riskmodel synth --students {args.students} --years {args.years} --stage {args.stage} "
          f"({os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f})")
    runs = [run_once(args.students, args.years, args.stage) for _ in range(args.repeats)]
    seconds, cpu, rss = zip(*runs)
    print(f"median {statistics.median(seconds):.1f} s wall (target < 60 s), {statistics.median(cpu):.1f} s CPU "
          "(less sensitive to other load), "
          f"median peak RSS {statistics.median(rss):.0f} MiB (target < 4096 MiB)")


if __name__ == "__main__":
    main()
