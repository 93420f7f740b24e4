"""Model variants of issue 16, each measured the same way on either generator (docs/models.md).

One training frame (48 monthly as-of dates up to ``--until``, and optionally the 15th of each month too)
and one test frame (the following twelve monthly dates) are built per generator and cached in
``--cache``; every variant is then trained with riskmodel.models.training.fit_on_folds on the same
temporal folds as ``riskmodel train`` (evaluation step: fit | calibration | held-out; refit one block
later), and printed as one Markdown row of the docs' table: the held-out (validation) fold's AP, ROC
AUC, recall at the level I+II capacity and ECE, then the same on the test year.

Variants (``--variants``, comma-separated; default all):

* ``default``: today's settings (``model.history_months`` as configured), LightGBM; ``logistic``.
* ``blend``: the average of LightGBM's and the logistic model's log-odds (weights 0.5, 0.7, 0.85) or of
  their ranks (0.7), recalibrated on the calibration fold.
* ``history36``, ``history48``: 36 or 48 monthly as-of dates.
* ``leaves``: LightGBM with other tree sizes (num_leaves / min_data_in_leaf), at 36 and 48 dates.
* ``rows``: LightGBM fitted on twice ``model.max_fit_rows`` (fewer of the fit fold's negatives subsampled).
* ``semimonthly``: the 15th of each month added to the fit fold (calibration and held-out folds unchanged).
* ``latent``: the records' features plus the generator's latent state of the three months *before* each
  as-of date (never the month that begins on it): an estimate of the best a model could do knowing
  the latent state up to the as-of date (the causal ceiling; docs/models.md). Uses ``_truth``, so it is
  a yardstick, never a model.

Run: ``nice -n 10 .venv/bin/python benchmarks/model_variants.py --generator synth --students 15000``
(about 5 minutes on a quiet core; the frames are built once and cached) and
``--generator district --students 20000``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import ceiling, cohort, test_frame  # noqa: E402

from riskmodel.config import load_settings  # noqa: E402
from riskmodel.models import evaluate  # noqa: E402
from riskmodel.models.calibration import ProbabilityCalibrator  # noqa: E402
from riskmodel.models.training import (  # noqa: E402
    _matrix,
    _refit_folds,
    fit_on_folds,
    monthly_as_of_dates,
    time_folds,
    training_frame,
)

VARIANTS = ("default", "logistic", "blend", "history36", "history48", "leaves", "rows", "semimonthly", "latent")
METRICS = ("average_precision", "roc_auc", "recall_at_I_II", "ece_quantile")


class Bench:
    def __init__(self, args):
        self.args, self.settings = args, load_settings(args.config)
        self.until = pd.Timestamp(args.until)
        self.cap = self.settings.warning.capacity_per_1000
        self.synth = self.dataset = None

    def _cohort(self):
        if self.dataset is None:
            self.synth, self.dataset = cohort(self.args.students, self.args.years, self.args.seed, self.args.generator)
        return self.synth, self.dataset

    def frames(self, semimonthly: bool = False):
        """(training frame of 48 monthly dates [and the 15ths], test frame, the generator's truth)."""
        a = self.args
        path = Path(a.cache) / f"{a.generator}-{a.students}-{a.years}-{a.seed}-{a.until}{'-semi' if semimonthly else ''}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())
        synth, dataset = self._cohort()
        dates = monthly_as_of_dates(self.until, horizon_days=self.settings.labels.horizon_days, months=48,
                                    day=self.settings.model.as_of_day)
        if semimonthly:
            dates = sorted(dates + [d.replace(day=15) for d in dates
                                    if d.replace(day=15) + pd.Timedelta(days=self.settings.labels.horizon_days) <= self.until])
        t = time.process_time()
        frame, _ = training_frame(dataset, dates, settings=self.settings, until=self.until)
        print(f"<!-- training frame: {len(dates)} dates, {len(frame)} rows, {int(frame['label'].sum())} positives, "
              f"{time.process_time() - t:.1f}s CPU -->", flush=True)
        test = test_frame(dataset, list(pd.date_range(self.until, periods=12, freq="MS")), self.settings)
        out = (frame, test, synth.truth)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(pickle.dumps(out))
        return out

    def folds(self, frame, months):
        monthly = sorted(d for d in frame["as_of"].unique() if pd.Timestamp(d).day == self.settings.model.as_of_day)[-months:]
        ms = self.settings.model
        folds = time_folds(monthly, horizon_days=self.settings.labels.horizon_days,
                           calibration_months=ms.calibration_months, holdout_months=ms.holdout_months)
        return folds, _refit_folds(monthly, folds, settings=self.settings), monthly

    def fit(self, frame, test, kind="lightgbm", months=None, lightgbm=None, extra_fit=(), model=None):
        """The evaluation-step model (for the held-out fold) and the refit model (for the test year), with
        the rows each is judged on and its calibration rows (for blends)."""
        months = months or self.settings.model.history_months
        folds, refit, monthly = self.folds(frame, months)
        frame = frame.loc[frame["as_of"] >= monthly[0]].reset_index(drop=True)
        settings = self.settings
        changes = {**({"lightgbm": lightgbm} if lightgbm is not None else {}), **(model or {})}
        if changes:
            settings = settings.model_copy(update={"model": settings.model.model_copy(update=changes)})
        spec, X = _matrix(frame)
        X_test = spec.frame(test, dtype=np.float32)
        out = {}
        for step, f in (("validation", folds), ("test", refit)):
            fit_dates = list(f.fit) + [d for d in extra_fit if f.fit[0] <= d < f.fit[-1]]
            model = fit_on_folds(frame, kind=kind, fit_dates=fit_dates, calibration_dates=f.calibration,
                                 settings=settings, matrix=(spec, X))
            cal = frame["as_of"].isin(f.calibration).to_numpy()
            if step == "validation":
                rows = frame["as_of"].isin(folds.holdout).to_numpy()
                judged = (X.iloc[np.flatnonzero(rows)], frame.loc[rows, "label"].to_numpy(), frame.loc[rows, "as_of"].to_numpy())
            else:
                judged = (X_test, test["label"].to_numpy(), test["as_of"].to_numpy())
            out[step] = (model, judged, (X.iloc[np.flatnonzero(cal)], frame.loc[cal, "label"].to_numpy(),
                                         frame.loc[cal, "student_id"].to_numpy()))
        return out

    def figures(self, fitted, combine=None):
        row = {}
        for step, (model, (X, y, when), (Xc, yc, gc)) in fitted.items():
            if combine is None:
                raw = model.estimator.decision_function(X)
                p = model.calibrator.predict(raw)
            else:
                score = combine(step)
                calibrator = ProbabilityCalibrator(self.settings.model.calibration,
                                                   isotonic_min_positives=self.settings.model.isotonic_min_positives)
                calibrator.fit(score(Xc), yc, groups=gc)
                raw = score(X)
                p = calibrator.predict(raw)
            m = evaluate(y, p, raw, when, capacity_per_1000=self.cap)
            row[step] = [m[k] for k in METRICS]
        return row

    def show(self, label, row):
        v, t = row["validation"], row["test"]
        cells = " | ".join(f"{x:.4f}" if i % 4 == 3 else f"{x:.3f}" for i, x in enumerate([*v, *t]))
        print(f"| {label} | {self.args.generator}, {self.args.students:,} students | {cells} |  "
              f"<!-- load {os.getloadavg()[0]:.1f} -->", flush=True)


def blend(lgb, logistic, weight, how):
    def combine(step):
        a, b = lgb[step][0].estimator, logistic[step][0].estimator
        if how == "rank":
            Xc = lgb[step][2][0]
            ca, cb = np.sort(a.decision_function(Xc)), np.sort(b.decision_function(Xc))
            return lambda X: (weight * np.searchsorted(ca, a.decision_function(X)) / len(ca)
                              + (1 - weight) * np.searchsorted(cb, b.decision_function(X)) / len(cb))
        return lambda X: weight * a.decision_function(X) + (1 - weight) * b.decision_function(X)
    return combine


def latent_columns(truth: dict, rows: pd.DataFrame) -> pd.DataFrame:
    """The latent state of the three months before each row's as-of date (and the student's vulnerability)."""
    months = truth["student_months"].copy()
    months["month"] = pd.to_datetime(months["month"])
    columns = [c for c in ("distress", "acute", "hazard", "treated", "after_outcome", "on_leave", "risk_90d_state")
               if c in months.columns]
    if "hazard" in columns:
        columns.remove("risk_90d_state")  # the synthetic university: the state itself, not its summary
    out = rows
    for lag in (1, 2, 3):
        shifted = months[["student_id", "month", *columns]].assign(month=months["month"] + pd.DateOffset(months=lag))
        shifted = shifted.rename(columns={c: f"latent_{c}_m{lag}" for c in columns})
        shifted = shifted.astype({f"latent_{c}_m{lag}": "float32" for c in columns})
        out = out.merge(shifted, left_on=["student_id", "as_of"], right_on=["student_id", "month"], how="left")
        out = out.drop(columns="month")
    students = truth.get("students")
    if students is not None and "vulnerability" in students.columns:
        out["latent_vulnerability"] = out["student_id"].map(students.set_index("student_id")["vulnerability"]).astype("float32")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", choices=("synth", "district"), default="synth")
    parser.add_argument("--students", type=int, default=15_000)
    parser.add_argument("--years", type=int, default=6)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--until", default="2026-09-01")
    parser.add_argument("--config", default=None)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--cache", default="/tmp/riskmodel-model-variants")
    args = parser.parse_args()
    bench = Bench(args)
    wanted = args.variants.split(",")
    frame, test, truth = bench.frames()
    print("| variant | generator | validation AP | ROC AUC | recall I+II | ECE | test-year AP | ROC AUC | recall I+II | ECE |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    lgb = logistic = None
    if {"default", "blend"} & set(wanted):
        lgb = bench.fit(frame, test)
        bench.show(f"LightGBM, default settings ({bench.settings.model.history_months} dates)", bench.figures(lgb))
    if {"logistic", "blend"} & set(wanted):
        logistic = bench.fit(frame, test, kind="logistic")
        bench.show("logistic, default settings", bench.figures(logistic))
    if "blend" in wanted:
        for weight, how in ((0.5, "log-odds"), (0.7, "log-odds"), (0.85, "log-odds"), (0.7, "rank")):
            bench.show(f"blend: {how} {weight:.2f} LightGBM + {1 - weight:.2f} logistic, recalibrated",
                       bench.figures(lgb, combine=blend(lgb, logistic, weight, how)))
    for months in (36, 48):
        if f"history{months}" in wanted:
            bench.show(f"LightGBM, {months} monthly as-of dates", bench.figures(bench.fit(frame, test, months=months)))
    if "leaves" in wanted:
        for months in (36, 48):
            for params in ({"num_leaves": 31, "min_data_in_leaf": 400}, {"num_leaves": 7, "min_data_in_leaf": 100},
                           {"num_leaves": 7, "min_data_in_leaf": 200}, {"num_leaves": 4, "min_data_in_leaf": 100}):
                bench.show(f"LightGBM {params}, {months} dates",
                           bench.figures(bench.fit(frame, test, months=months, lightgbm=params)))
    if "rows" in wanted:
        rows = 2 * bench.settings.model.max_fit_rows
        bench.show(f"LightGBM, max_fit_rows {rows:,}", bench.figures(bench.fit(frame, test, model={"max_fit_rows": rows})))
    if "semimonthly" in wanted:
        semi, _, _ = bench.frames(semimonthly=True)
        extra = sorted(d for d in semi["as_of"].unique() if pd.Timestamp(d).day == 15)
        for months in (36, 48):
            bench.show(f"LightGBM, the 15th of each month added to the fit fold, {months} months",
                       bench.figures(bench.fit(semi, test, months=months, extra_fit=extra)))
    if "latent" in wanted:
        bench.show("records' features + the latent state of the 3 months before the as-of date (causal-ceiling estimate)",
                   bench.figures(bench.fit(latent_columns(truth, frame), latent_columns(truth, test))))
        rows = ceiling(truth, test)
        for name, column in (("generator's risk, state of the as-of month (the ceiling of the targets)", "risk_90d_state"),
                             ("generator's risk, state of the month before the as-of date", "risk_90d_state_before")):
            risk = rows[column].fillna(rows[column].mean()).to_numpy(dtype=float)
            m = evaluate(test["label"], np.clip(risk, 0, 1), risk, test["as_of"], capacity_per_1000=bench.cap)
            print(f"| {name} | {args.generator}, {args.students:,} students | | | | | " +
                  " | ".join(f"{m[k]:.4f}" if k.startswith("ece") else f"{m[k]:.3f}" for k in METRICS) + " |")


if __name__ == "__main__":
    main()
