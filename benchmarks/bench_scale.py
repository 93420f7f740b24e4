"""Benchmark of a multi-school register on one machine (issue 17): synth, validate into the store, score.

Each step is the real command in a fresh process; the figures are its wall time, CPU time and peak
resident memory (the child's maximum RSS from ``wait4``). Steps:

1. ``riskmodel synth --schools N --students M`` (cached in ``--work``: a second benchmark of the same
   size reuses it);
2. a model: ``riskmodel train`` on one school of the same generator (cached; training at scale is
   benchmarked by benchmarks/bench_models.py, not here);
3. ``riskmodel validate --store`` (first validation), then again with nothing changed (the store's
   per-file checksums: no file is parsed again);
4. ``riskmodel score --data STORE`` (school by school from the store), with ``--cluster local:2`` also
   ``riskmodel score --data STORE --cluster local:2`` (batches of schools on Dask workers; its peak RSS
   is the client's and its workers' summed), and with ``--folder`` also ``riskmodel score --data
   FOLDER`` (the whole data in memory) for comparison; the lists must be the same.

It prints the machine (CPUs, load average before and after each step) and the time per register and
enrolled student. The machine may be shared: read the CPU seconds beside the wall time.

``--enrolled N`` picks the number of schools for about N students enrolled on the as-of date (a school
of 1,000 register students over 4 years has ~555 enrolled): ``--enrolled 2000000`` is the issue's 2M
case (~3,600 schools, ~3.6 million register students; the generator alone takes about 45 minutes and
~2.5 GB of files on a 2-core machine). ``--validate-only`` stops after the two validations (the
bounded-memory part of issue 17; scoring is measured separately).

    .venv/bin/python benchmarks/bench_scale.py --schools 20 --students 1000 [--years 4] [--work /tmp/bench_scale]
        [--as-of 2026-03-01] [--folder] [--enrolled N] [--validate-only] [--cluster local:2 [--skip-single]]
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import os
import shutil
import sys
import threading
import time
from pathlib import Path


def _tree_rss(pid: int, done: threading.Event, peak: list[int]) -> None:
    """Sample the summed RSS of ``pid`` and its descendants (a Dask cluster's workers) every 0.2 s into ``peak``."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not done.wait(0.2):
        total = 0
        try:
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            return
        peak[0] = max(peak[0], total)


def _run(step: str, command: list[str]) -> dict:
    """Run ``command`` in a child process: wall seconds, CPU seconds, peak RSS (MiB) of the child alone
    (``wait4``) and of the child with every process it started, summed (sampled)."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: exec the command so its own peak RSS is what wait4 reports
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(command[0], command)
    done, tree = threading.Event(), [0]
    sampler = threading.Thread(target=_tree_rss, args=(pid, done, tree), daemon=True)
    sampler.start()
    _, status, usage = os.wait4(pid, 0)
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{step}: {' '.join(command)} failed with status {os.waitstatus_to_exitcode(status)}")
    after = os.getloadavg()[0]
    figures = {"step": step, "wall": seconds, "cpu": usage.ru_utime + usage.ru_stime,
               "rss_mib": usage.ru_maxrss / 1024, "tree_mib": tree[0] / 2**20, "load": load, "load_after": after}
    print(f"  {step:<28} {seconds:7.1f} s wall {figures['cpu']:7.1f} s CPU  peak RSS {figures['rss_mib']:7.0f} MiB"
          f" (with its processes, summed: {figures['tree_mib']:,.0f} MiB)  (load average before {load:.1f}, after "
          f"{after:.1f})", flush=True)
    return figures


def _enrolled(store: Path, as_of: str) -> tuple[int, int, int]:
    """Students in the register, enrolled on ``as_of``, schools (from the store)."""
    from riskmodel.data.store import Store

    with Store(store) as opened:
        row = opened.query('SELECT count(*) AS n, count(*) FILTER (WHERE enrollment_date <= ?::DATE AND '
                           '(exit_date IS NULL OR exit_date >= ?::DATE)) AS enrolled, count(DISTINCT school) AS '
                           'schools FROM students', [as_of, as_of]).iloc[0]
    return int(row["n"]), int(row["enrolled"]), int(row["schools"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=20)
    parser.add_argument("--students", type=int, default=1000, help="students per school (register, all years)")
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--as-of", default="2026-03-01")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_scale"))
    parser.add_argument("--folder", action="store_true", help="also score the data folder (whole, in memory)")
    parser.add_argument("--enrolled", type=int, default=0,
                        help="about this many students enrolled on the as-of date (sets --schools; 555 per 1,000)")
    parser.add_argument("--validate-only", action="store_true", help="stop after validating into the store")
    parser.add_argument("--cluster", default="", help="also score the store with riskmodel score --cluster SPEC "
                                                      "(local:2); the lists must be the same")
    parser.add_argument("--skip-single", action="store_true", help="score only with --cluster (not in one process)")
    args = parser.parse_args()
    if args.enrolled:
        args.schools = max(1, round(args.enrolled / (0.555 * args.students)))
    riskmodel = str(Path(sys.executable).with_name("riskmodel"))
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    name = f"s{args.schools}x{args.students}y{args.years}seed{args.seed}"
    data, store, model = work / name, work / f"{name}.duckdb", work / f"model-y{args.years}seed{args.seed}"
    print(f"bench_scale: {args.schools} schools x {args.students} students, {args.years} years, as of {args.as_of}; "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    figures = []
    if not data.exists():
        figures.append(_run("synth", [riskmodel, "synth", "--out", str(data), "--schools", str(args.schools),
                                      "--students", str(args.students), "--years", str(args.years),
                                      "--seed", str(args.seed)]))
    else:
        print(f"  synth: cached in {data}")
    size = sum(p.stat().st_size for p in data.glob("*") if p.is_file()) / 2**20
    if not model.exists() and not args.validate_only:
        one = work / f"train-y{args.years}seed{args.seed}"
        if not one.exists():
            _run("synth (model's school)", [riskmodel, "synth", "--out", str(one), "--students", "5000",
                                            "--years", str(args.years), "--seed", str(args.seed + 1)])
        _run("train (one school)", [riskmodel, "train", "--data", str(one), "--until", args.as_of, "--out",
                                    str(model)])
    store.unlink(missing_ok=True)
    rejected = work / f"{name}_rejected.csv"
    figures.append(_run("validate --store (first)", [riskmodel, "validate", str(data), "--store", str(store),
                                                     "--rejected", str(rejected)]))
    figures.append(_run("validate --store (unchanged)", [riskmodel, "validate", str(data), "--store", str(store),
                                                         "--rejected", str(rejected)]))
    if args.validate_only:
        _report(store, args, size, figures)
        return
    out_store = work / f"{name}-list-store"
    shutil.rmtree(out_store, ignore_errors=True)
    score = [riskmodel, "score", "--data", str(store), "--model", str(model), "--as-of", args.as_of, "--out"]
    if not args.skip_single:
        figures.append(_run("score --data STORE", [*score, str(out_store)]))
    if args.cluster:
        out_cluster = work / f"{name}-list-cluster"
        shutil.rmtree(out_cluster, ignore_errors=True)
        figures.append(_run(f"score --data STORE --cluster {args.cluster}",
                            [*score, str(out_cluster), "--cluster", args.cluster]))
        if not args.skip_single:
            same = all(filecmp.cmp(out_store / f, out_cluster / f, shallow=False)
                       for f in ("warning_list.csv", "scores.parquet"))
            print(f"  lists and scores from one process and from the cluster identical: {same}")
            if not same:
                raise SystemExit("the lists differ")
    if args.folder:
        out_folder = work / f"{name}-list-folder"
        shutil.rmtree(out_folder, ignore_errors=True)
        figures.append(_run("score --data FOLDER", [riskmodel, "score", "--data", str(data), "--model", str(model),
                                                    "--as-of", args.as_of, "--out", str(out_folder)]))
        same = filecmp.cmp(out_store / "warning_list.csv", out_folder / "warning_list.csv", shallow=False)
        print(f"  lists from the store and from the folder identical: {same}")
        if not same:
            raise SystemExit("the lists differ")
    _report(store, args, size, figures)


def _report(store: Path, args: argparse.Namespace, size: float, figures: list[dict]) -> None:
    students, enrolled, schools = _enrolled(store, args.as_of)
    print(f"register {students:,} students in {schools} schools, {enrolled:,} enrolled on {args.as_of}; "
          f"files {size:,.0f} MiB, store {store.stat().st_size / 2**20:,.0f} MiB")
    for row in figures:
        if row["step"].startswith("validate"):
            print(f"  {row['step']}: {1000 * row['cpu'] / students:.3f} ms CPU per register student, peak RSS "
                  f"{row['rss_mib']:,.0f} MiB")
        if row["step"].startswith("score"):
            print(f"  {row['step']}: {1000 * row['wall'] / enrolled:.3f} ms wall and {1000 * row['cpu'] / enrolled:.3f} "
                  f"ms CPU per enrolled student; x{2_000_000 / enrolled:,.0f} to 2,000,000 enrolled: "
                  f"{row['wall'] * 2_000_000 / enrolled / 60:.1f} min if linear")


if __name__ == "__main__":
    main()
