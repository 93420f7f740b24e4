"""Saved models compared on the same later-period rows, with how much of a difference is noise (issue 17).

Is a model trained under the memory budget (``model.max_memory_gb``: negatives and evaluation students
sampled) within 5% of the model trained on all rows? Both are scored on the same rows (the later
period of ``bench_train_memory.later_rows``: a data folder, or a store's every N-th batch of schools),
and for each model after the first this prints:

- AP, ROC AUC, recall at levels I+II and ECE (quantile bins), as ``evaluate`` computes them;
- the ratio of its AP and the difference of its ECE to the first model's, with a 95% interval from a
  paired bootstrap over students (all of a student's rows drawn together, the same draw for both
  models);
- the ECE **noise floor**: the ECE of the first model's own probabilities against outcomes drawn
  from those probabilities (a perfectly calibrated model of the same scores on the same rows), the
  mean over the draws. An ECE near the floor is calibration within what the rows can tell.

Run (one process; the later rows are built once)::

    .venv/bin/python benchmarks/compare_models.py --store district.duckdb --model all-rows --model sampled
    .venv/bin/python benchmarks/compare_models.py --store province.duckdb --every 18 --model a --model b
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_train_memory import later_rows, machine
from sklearn.metrics import average_precision_score

from riskmodel.config import load_settings
from riskmodel.models import evaluate, load
from riskmodel.models.metrics import expected_calibration_error


def student_draws(students: np.ndarray, n: int, seed: int):
    """Row indices of ``n`` bootstrap samples of students (each drawn student brings all its rows)."""
    codes, uniques = pd.factorize(students)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    rng = np.random.default_rng(seed)
    for _ in range(n):
        picked = rng.integers(0, len(uniques), len(uniques))
        counts = starts[picked + 1] - starts[picked]
        first = np.repeat(starts[picked], counts)
        offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        yield order[first + offset]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=None, help="a store (riskmodel validate --store)")
    parser.add_argument("--data", default=None, help="a data folder instead of a store")
    parser.add_argument("--model", action="append", required=True, help="a saved model folder (the first is the reference)")
    parser.add_argument("--every", type=int, default=1, help="from a store: every N-th batch of schools")
    parser.add_argument("--until", default="2025-09-01", help="the later period starts here (the models' --until)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap samples of students")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    settings = load_settings(None)
    started = time.perf_counter()
    if args.store:
        from riskmodel.data.store import Store

        with Store(args.store) as store:
            dataset = store.digest()
    else:
        from riskmodel.data import load_dataset

        dataset = load_dataset(args.data, settings=settings)
    models = [load(path) for path in args.model]
    rows = later_rows(dataset, models, args.until, settings, store=args.store, every=args.every)
    y, groups = rows["y"], rows["groups"]
    capacity = settings.warning.capacity_per_1000
    out: dict = {"machine": machine(), "data": args.store or args.data, "dates": rows["dates"],
                 "schools": rows["schools"], "rows": int(len(y)), "positives": int(y.sum()),
                 "students": int(len(np.unique(rows["students"]))), "models": []}
    for path, model, (p, raw) in zip(args.model, models, rows["scores"]):
        figures = evaluate(y, p, raw, groups, capacity_per_1000=capacity)
        out["models"].append({"model": path, "version": model.version, "sampling": model.meta.get("sampling"),
                              **{k: round(figures[k], 6) for k in ("average_precision", "roc_auc", "recall_at_I_II",
                                                                    "ece_quantile")}})
    reference_p, reference_raw = rows["scores"][0]
    rng = np.random.default_rng(7)
    floor = [expected_calibration_error(rng.random(len(y)) < reference_p, reference_p) for _ in range(20)]
    out["ece_noise_floor"] = round(float(np.mean(floor)), 6)
    for i in range(1, len(models)):
        p, raw = rows["scores"][i]
        ratios, differences = [], []
        for index in student_draws(rows["students"], args.bootstrap, seed=i):
            ratios.append(average_precision_score(y[index], raw[index])
                          / average_precision_score(y[index], reference_raw[index]))
            differences.append(expected_calibration_error(y[index], p[index])
                               - expected_calibration_error(y[index], reference_p[index]))
        out["models"][i]["ap_ratio_ci95"] = [round(float(v), 4) for v in np.percentile(ratios, [2.5, 97.5])]
        out["models"][i]["ece_difference_ci95"] = [round(float(v), 6) for v in np.percentile(differences, [2.5, 97.5])]
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(out, indent=1, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
