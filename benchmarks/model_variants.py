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
* ``reviews``: the records' features plus 15 features of the review decisions (研判, contract version 2's
  ``reviews``: latest and previous level, change, days since, decisions and level I decisions so far, the
  latest status, days overdue, highest level in 90 and 365 days); the bundled generator only.
* ``seeds``: the mean log-odds of five LightGBM models (``model.seed`` + 0..4: each its own sample of the
  fit fold's negatives and its own bagging), recalibrated.
* ``lambdarank``: LightGBM's LambdaRank objective (NDCG at 150 within random thirds of each month: a query
  holds at most 10,000 rows), the refit's folds and early stopping on its calibration months; test-year
  ranking figures only (a ranker's scores are not probabilities).
* ``gap``: where the default model and the ceiling find their positives (bench_models.recall_by_onset),
  and, among positives in an acute phase begun before the as-of date, how many had an observation entry in
  the 30 days before it.
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
from bench_models import ceiling, cohort, recall_by_onset, test_frame  # noqa: E402

from riskmodel.config import load_settings  # noqa: E402
from riskmodel.models import evaluate  # noqa: E402
from riskmodel.models.calibration import ProbabilityCalibrator  # noqa: E402
from riskmodel.models.metrics import recall_at_capacity  # noqa: E402
from riskmodel.models.training import (  # noqa: E402
    _matrix,
    _refit_folds,
    fit_on_folds,
    monthly_as_of_dates,
    time_folds,
    training_frame,
)
from riskmodel.vocab import capacity_for  # noqa: E402

VARIANTS = ("default", "logistic", "blend", "history36", "history48", "leaves", "rows", "semimonthly", "reviews", "seeds",
            "lambdarank", "gap", "latent")
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


LEVEL_CODE = {"none": 0, "III": 1, "II": 2, "I": 3}


def review_columns(reviews: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Features of the review decisions dated on or before each row's as-of date (the later row of one day
    is the decision in force, as in riskmodel.warning.cases), aligned with ``rows``."""
    r = reviews[["student_id", "date", "level", "status", "next_review"]].reset_index(drop=True)
    r = r.assign(student_id=r["student_id"].astype(str), level=r["level"].map(LEVEL_CODE).astype(float),
                 order=np.arange(len(r))).sort_values(["date", "order"], kind="mergesort")
    by = r.groupby("student_id")
    r = r.assign(previous=by["level"].shift(1), decisions=by.cumcount() + 1.0,
                 level_one=(r["level"] == 3).astype(float).groupby(r["student_id"]).cumsum())
    keys = rows[["student_id", "as_of"]].assign(student_id=rows["student_id"].astype(str), row=np.arange(len(rows)))
    m = pd.merge_asof(keys.sort_values("as_of"), r.rename(columns={"date": "decided"}), left_on="as_of",
                      right_on="decided", by="student_id").sort_values("row")
    out = pd.DataFrame({"rev_level_last": m["level"].to_numpy(), "rev_level_prev": m["previous"].to_numpy(),
                        "rev_level_change": (m["level"] - m["previous"]).to_numpy(),
                        "rev_days_since": (m["as_of"] - m["decided"]).dt.days.to_numpy(dtype=float),
                        "rev_decisions": m["decisions"].to_numpy(), "rev_level_one": m["level_one"].to_numpy(),
                        "rev_overdue_days": (m["as_of"] - m["next_review"]).dt.days.to_numpy(dtype=float)},
                       index=rows.index)
    for status in ("referred", "hospital", "leave", "released"):
        out[f"rev_status_{status}"] = np.where(m["status"].isna(), np.nan, (m["status"] == status).astype(float))
    pairs = keys.merge(r[["student_id", "date", "level"]], on="student_id")
    age = (pairs["as_of"] - pairs["date"]).dt.days
    for days in (90, 365):
        highest = pairs.loc[(age >= 0) & (age < days)].groupby("row")["level"].max()
        out[f"rev_level_max_{days}d"] = highest.reindex(np.arange(len(rows))).to_numpy()
    return out.astype("float32")


def lambdarank(bench: Bench, frame: pd.DataFrame, test: pd.DataFrame) -> None:
    """LightGBM's ranking objective on the refit's folds; prints the test year's AP, ROC AUC and recall."""
    import lightgbm

    _, refit, monthly = bench.folds(frame, bench.settings.model.history_months)
    frame = frame.loc[frame["as_of"] >= monthly[0]].reset_index(drop=True)
    spec, X = _matrix(frame)
    y = frame["label"].to_numpy()
    third = np.random.default_rng(0).integers(0, 3, len(frame))
    query = frame["as_of"].to_numpy().astype("datetime64[D]").astype(np.int64) * 4 + third

    def grouped(dates):
        rows = np.flatnonzero(frame["as_of"].isin(dates).to_numpy())
        rows = rows[np.argsort(query[rows], kind="stable")]
        return rows, np.unique(query[rows], return_counts=True)[1]

    (fit, fit_sizes), (stop, stop_sizes) = grouped(refit.fit), grouped(refit.calibration)
    ranker = lightgbm.LGBMRanker(objective="lambdarank", lambdarank_truncation_level=300, n_estimators=600,
                                 learning_rate=0.05, num_leaves=7, min_child_samples=100, subsample=0.8,
                                 subsample_freq=1, colsample_bytree=0.7, reg_lambda=10.0, max_bin=63, num_threads=1,
                                 verbose=-1)
    ranker.fit(X.iloc[fit], y[fit], group=fit_sizes, eval_X=(X.iloc[stop],), eval_y=(y[stop],), eval_group=[stop_sizes],
               eval_at=[150], callbacks=[lightgbm.early_stopping(60, verbose=False)])
    raw = ranker.predict(spec.frame(test, dtype=np.float32))
    m = evaluate(test["label"], np.full(len(raw), float(test["label"].mean())), raw, test["as_of"],
                 capacity_per_1000=bench.cap)
    print(f"| LightGBM LambdaRank ({ranker.best_iteration_} trees) | {bench.args.generator}, {bench.args.students:,} "
          f"students | | | | | {m['average_precision']:.3f} | {m['roc_auc']:.3f} | {m['recall_at_I_II']:.3f} | |",
          flush=True)


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
    if "reviews" in wanted:
        reviews = bench._cohort()[1].table("reviews")
        bench.show("records' features + 15 features of the review decisions",
                   bench.figures(bench.fit(pd.concat([frame, review_columns(reviews, frame)], axis=1),
                                           pd.concat([test, review_columns(reviews, test)], axis=1))))
    if "seeds" in wanted:
        fits = [bench.fit(frame, test, model={"seed": bench.settings.model.seed + k}) for k in range(5)]

        def mean_log_odds(step):
            estimators = [f[step][0].estimator for f in fits]
            return lambda X: np.mean([e.decision_function(X) for e in estimators], axis=0)

        bench.show("mean log-odds of 5 LightGBM seeds, recalibrated", bench.figures(fits[0], combine=mean_log_odds))
    if "lambdarank" in wanted:
        lambdarank(bench, frame, test)
    if "gap" in wanted:
        model, (X_test, _, _), _ = bench.fit(frame, test)["test"]
        raw = model.estimator.decision_function(X_test)
        risk = ceiling(truth, test)["risk_90d_state"]
        cap = bench.cap["I"] + bench.cap["II"]
        table = recall_by_onset(truth, test, {"LightGBM": raw, "ceiling": risk.fillna(risk.mean()).to_numpy()}, cap)
        if table is not None:
            print(f"<!-- recall at I+II, the points each kind of positive gives; positives {table.attrs['positives']}\n"
                  f"{table.round(3).to_string()} -->")
            months = truth["student_months"][["student_id", "month", "acute"]].assign(
                month=lambda m: pd.to_datetime(m["month"]) + pd.DateOffset(months=1))
            before = test[["student_id", "as_of"]].merge(months, left_on=["student_id", "as_of"],
                                                        right_on=["student_id", "month"], how="left")["acute"]
            now = test[["student_id", "as_of"]].merge(months.assign(month=months["month"] - pd.DateOffset(months=1)),
                                                      left_on=["student_id", "as_of"], right_on=["student_id", "month"],
                                                      how="left")["acute"]
            onset = ((now.fillna(0) > 0) & (before.fillna(0) == 0)).to_numpy().astype(int)
            slots = sum(capacity_for(cap, n) for n in test.groupby("as_of").size())
            for name, score in (("LightGBM", raw), ("ceiling", risk.fillna(risk.mean()).to_numpy())):
                held = recall_at_capacity(onset, score, test["as_of"], per_1000=cap) * onset.sum()
                print(f"<!-- {name}: {held / slots:.0%} of its top {cap:g} per 1,000 are students whose acute phase "
                      "begins after the as-of date -->")
            ongoing = (before.fillna(0) > 0).to_numpy() & (test["label"].to_numpy() == 1)
            seen = test["obs_count_30d"].to_numpy() > 0
            for name, score in (("LightGBM", raw), ("ceiling", risk.fillna(risk.mean()).to_numpy())):
                for label, mask in (("an entry in the 30 days before", seen), ("no entry", ~seen)):
                    share = recall_at_capacity((ongoing & mask).astype(int), score, test["as_of"], per_1000=cap)
                    print(f"<!-- {name}: positives in a phase begun before the as-of date with {label}: "
                          f"{int((ongoing & mask).sum())}, in the top {cap:g} per 1,000: {share:.0%} -->")
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
