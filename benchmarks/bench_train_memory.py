"""Benchmark of issue 17 (training part): peak memory of `riskmodel train` and what sampling costs.

Loads a synthetic register (generated once with ``riskmodel synth`` and cached in ``--cache``),
trains the LightGBM model up to ``--until`` with a memory budget (``model.max_memory_gb``; 0 turns
the budget off), then scores the later period (the monthly as-of dates from ``--until`` whose
label windows the records cover) one date at a time and prints average precision and ECE there.
Prints the wall time and the peak resident memory of each phase (sampled from /proc every 0.1 s;
the process peak from getrusage), the rows the model learned from, the machine and the load
average before and after.

Run one configuration per process so that the peak belongs to it, for instance::

    nice -n 10 .venv/bin/python benchmarks/bench_train_memory.py --students 200000 --budget 6
    nice -n 10 .venv/bin/python benchmarks/bench_train_memory.py --students 200000 --budget 1.5
    .venv/bin/python benchmarks/bench_train_memory.py --store district.duckdb --budget 4   # batch by batch
    .venv/bin/python benchmarks/bench_train_memory.py --store province.duckdb --budget 6 --later-every 18 --save m

``--model DIR`` evaluates a saved model on the later period instead of training one (the same sample of
a store's schools for every model compared).

``--profile`` adds a tracemalloc breakdown of the training phase (slow: about 2x).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd


class RssSampler:
    """Peak resident memory per phase, sampled from /proc/self/status."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.phase, self.peaks = interval, "start", {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            value = self.rss()
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), value)
            time.sleep(self.interval)

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.peaks[phase] = self.rss()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def machine() -> str:
    mem = next((line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemTotal")), "0")
    return (f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, {int(mem) / 1048576:.1f} GiB, "
            f"Python {platform.python_version()}")


def register(students: int, seed: int, cache: Path) -> Path:
    folder = cache / f"synth-{students}-{seed}"
    if not folder.exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "riskmodel", "synth", "--out", str(folder), "--students", str(students),
                        "--seed", str(seed)], check=True)
        print(f"register generated in {time.perf_counter() - started:.0f}s -> {folder}")
    return folder


def later_rows(dataset, models: list, until, settings, *, store: str | None = None, every: int = 1) -> dict:
    """The usable rows of the monthly dates from ``until`` whose label windows the records cover, scored
    by each of ``models``: ``y``, ``groups`` (as-of date), ``students``, ``scores`` (per model:
    calibrated probability and raw score), ``dates`` and ``schools`` (what was read).

    From a ``store``: batch by batch of schools (as training reads it), every ``every``-th batch only
    (a sample of schools: at two million students all ten later dates of every school take hours).
    """
    from riskmodel.features.build import prepare
    from riskmodel.labels import build_labels, records_end

    end = records_end(dataset)  # the whole data's (a store's digest)
    horizon = pd.Timedelta(days=settings.labels.horizon_days)
    dates = [d for d in pd.date_range(until, periods=24, freq="MS") if d + horizon <= end]
    ys, groups, students = [], [], []
    ps = [[] for _ in models]
    raws = [[] for _ in models]

    def score(part) -> None:
        source = prepare(part, settings=settings)
        for d in dates:
            frame = source.at(d)
            labels = build_labels(part, frame[["student_id", "as_of"]], settings=settings, data_end=end)
            usable = labels["usable"].to_numpy(bool)
            rows = frame.loc[usable]
            for i, model in enumerate(models):
                pred = model.predict(rows)
                ps[i].append(pred["score"].to_numpy())
                raws[i].append(pred["raw"].to_numpy())
            ys.append(labels.loc[usable, "label"].to_numpy(int))
            groups.append(np.full(int(usable.sum()), d.value))
            students.append(rows["student_id"].astype(str).to_numpy())

    schools = "all"
    if store:
        from riskmodel.data.store import Store

        with Store(store) as st:
            every_batch = st.batches(settings.data.batch_students)
            batches = every_batch[::every]
            schools = f"{len(batches)} of {len(every_batch)} batches of schools"
            for first, last in batches:
                score(st.schools_between(first, last))
    else:
        score(dataset)
    return {"y": np.concatenate(ys), "groups": np.concatenate(groups), "students": np.concatenate(students),
            "scores": [(np.concatenate(p), np.concatenate(r)) for p, r in zip(ps, raws)],
            "dates": f"{dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d} ({len(dates)})", "schools": schools}


def later_figures(dataset, model, until, settings, *, store: str | None = None, every: int = 1) -> dict:
    """AP, ECE, recall at I+II of ``model`` on the later period (:func:`later_rows`)."""
    from riskmodel.models import evaluate

    rows = later_rows(dataset, [model], until, settings, store=store, every=every)
    p, raw = rows["scores"][0]
    out = evaluate(rows["y"], p, raw, rows["groups"], capacity_per_1000=settings.warning.capacity_per_1000)
    out.update(dates=rows["dates"], schools=rows["schools"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20_000, help="register size given to riskmodel synth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="an existing data folder instead of a cached synth register")
    parser.add_argument("--store", default=None, help="a store (riskmodel validate --store) to train from batch by "
                                                      "batch, as riskmodel train --data STORE does")
    parser.add_argument("--later-every", type=int, default=1,
                        help="from a store, the later-period figures on every N-th batch of schools only")
    parser.add_argument("--model", default=None, help="evaluate this saved model on the later period (no training)")
    parser.add_argument("--save", default=None, help="save the trained model into this new folder")
    parser.add_argument("--cache", default="/tmp/scale-train", help="where generated registers are kept")
    parser.add_argument("--until", default="2025-09-01")
    parser.add_argument("--budget", type=float, default=None,
                        help="model.max_memory_gb for this run (0: no budget); default: the settings' value")
    parser.add_argument("--max-fit-rows", type=int, default=None, help="model.max_fit_rows for this run")
    parser.add_argument("--config", default=None, help="settings YAML (defaults when omitted)")
    parser.add_argument("--no-later", action="store_true", help="skip the later-period figures")
    parser.add_argument("--profile", action="store_true", help="tracemalloc top allocations of training")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")

    from riskmodel.config import load_settings
    from riskmodel.data import load_dataset
    from riskmodel.models import train_model

    settings = load_settings(args.config)
    model_over = {}
    if args.budget is not None:
        model_over["max_memory_gb"] = args.budget
    if args.max_fit_rows is not None:
        model_over["max_fit_rows"] = args.max_fit_rows
    if model_over:
        settings = settings.model_copy(update={"model": settings.model.model_copy(update=model_over)})
    folder = Path(args.store) if args.store else Path(args.data) if args.data else register(args.students, args.seed,
                                                                                            Path(args.cache))
    load_before = os.getloadavg()
    sampler = RssSampler()
    figures: dict = {"machine": machine(), "load_before": [round(x, 2) for x in load_before], "data": str(folder),
                     "until": args.until, "max_memory_gb": getattr(settings.model, "max_memory_gb", None),
                     "max_fit_rows": settings.model.max_fit_rows}
    phases = {}

    sampler.enter("load")
    t = time.perf_counter()
    if args.store:  # the whole data is never loaded: its digest, then batches of schools (riskmodel.models.store_window)
        from riskmodel.data.store import Store

        with Store(folder) as store:
            dataset = store.digest()
    else:
        dataset = load_dataset(folder, settings=settings)
    phases["load"] = time.perf_counter() - t
    figures["students"] = int(len(dataset.table("students")))
    peak_before_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    sampler.enter("train")
    if args.profile:
        import tracemalloc

        tracemalloc.start(8)
    t = time.perf_counter()
    if args.model:
        from riskmodel.models import load

        model = load(args.model)
    else:
        model = train_model(dataset, args.until, settings=settings, store=args.store)
    phases["train"] = time.perf_counter() - t
    if args.save:
        from riskmodel.models import save

        save(model, args.save)
    if args.profile:
        snapshot = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"tracemalloc: traced peak {gb(peak)}, still held {gb(current)}; largest live allocations:")
        for stat in snapshot.statistics("lineno")[:12]:
            print(f"  {stat.size / 1e6:9.1f} MB  {stat.traceback}")
    peak_train = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    meta = model.meta
    inside = ("average_precision", "roc_auc", "recall_at_I_II", "ece_quantile")
    figures.update(rows=meta["rows"], folds=meta["folds"], sampling=meta.get("sampling"),
                   best_iteration=meta.get("best_iteration"),
                   holdout_inside={k: meta.get("metrics_holdout", {}).get(k) for k in inside})
    if not args.no_later:
        sampler.enter("later")
        t = time.perf_counter()
        later = later_figures(dataset, model, args.until, settings, store=args.store, every=args.later_every)
        phases["later"] = time.perf_counter() - t
        figures["later"] = {k: later[k] for k in ("dates", "schools", "rows", "positives", "average_precision",
                                                  "roc_auc", "ece_quantile", "ece_uniform", "brier", "recall_at_I_II")
                            if k in later}
    sampler.stop()
    figures.update(wall_seconds={k: round(v, 1) for k, v in phases.items()},
                   peak_rss_phase_gb={k: round(v / 1e9, 2) for k, v in sampler.peaks.items()},
                   peak_rss_process_after_load_gb=round(peak_before_train / 1e9, 2),
                   peak_rss_process_after_train_gb=round(peak_train / 1e9, 2),
                   peak_rss_process_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 2),
                   load_after=[round(x, 2) for x in os.getloadavg()], model_version=model.version or None)
    text = json.dumps(figures, indent=1, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
