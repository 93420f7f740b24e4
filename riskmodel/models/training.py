"""Training: monthly as-of dates, temporal folds, fit, early stopping, calibration, held-out evaluation.

The as-of dates are the first of each month (``settings.model.as_of_day``) up to the last one whose
label window (``settings.labels.horizon_days``) closes by ``until``; ``history_months`` of them. They
are cut, in time order, into three folds, with a gap between folds so that every label window of an
earlier fold closes on or before the first as-of date of the next (what was known when the next fold
began)::

    | fit ............ | gap | calibration (6) | gap | held-out (6) |      <- evaluation
    | fit ....................................... | gap | calib. (6) |      <- the model kept (refit)

1. *Evaluation*: the estimator learns on the fit fold; LightGBM stops early on the calibration fold
   (log loss); the calibrator is fitted on the calibration fold; the figures in model.json are
   measured on the held-out fold, which nothing has seen.
2. *Refit* (``settings.model.refit``, default): the same procedure one block later (fit on everything
   up to the gap before the held-out fold, stop early and calibrate on the held-out fold), so the model
   put to use has learned from the most recent outcomes. Its own figures cannot be measured until
   later outcomes exist; model.json says which windows each step used.

Early stopping and calibration share the later fold: stopping picks one number (the rounds) and the
calibration map is monotone, so the held-out fold stays untouched by either.

Example
-------
>>> monthly_as_of_dates("2026-03-01", horizon_days=90, months=3)
[Timestamp('2025-10-01 00:00:00'), Timestamp('2025-11-01 00:00:00'), Timestamp('2025-12-01 00:00:00')]
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ConfigError, ContractError
from riskmodel.models.calibration import ProbabilityCalibrator
from riskmodel.models.gbm import LightGBMRisk
from riskmodel.models.logistic import LogisticRisk
from riskmodel.models.matrix import FeatureSpec
from riskmodel.models.metrics import evaluate
from riskmodel.models.pipeline import RiskModel
from riskmodel.models.rules import RulesBaseline
from riskmodel.validation import later_fold, temporal_split

__all__ = ["monthly_as_of_dates", "time_folds", "Folds", "make_estimator", "fit_on_folds", "train_model",
           "training_frame"]

log = logging.getLogger(__name__)


def monthly_as_of_dates(until, *, horizon_days: int, months: int, day: int = 1) -> list[pd.Timestamp]:
    """``months`` monthly as-of dates, the last being the latest whose label window closes by ``until``."""
    until = pd.Timestamp(until).normalize()
    last = until - pd.Timedelta(days=horizon_days)
    candidate = last.replace(day=day) if last.day >= day else (last - pd.DateOffset(months=1)).replace(day=day)
    return [candidate - pd.DateOffset(months=k) for k in range(months - 1, -1, -1)]


@dataclass(frozen=True)
class Folds:
    """As-of dates of each fold (sorted)."""

    fit: list[pd.Timestamp]
    calibration: list[pd.Timestamp]
    holdout: list[pd.Timestamp]

    def describe(self) -> dict:
        """First/last date and count of each fold, for model.json."""
        return {name: {"first": f"{d[0]:%Y-%m-%d}", "last": f"{d[-1]:%Y-%m-%d}", "dates": len(d)} if d else None
                for name, d in (("fit", self.fit), ("calibration", self.calibration), ("holdout", self.holdout))}


def time_folds(dates: list[pd.Timestamp], *, horizon_days: int, calibration_months: int,
               holdout_months: int) -> Folds:
    """Cut sorted as-of dates into fit | gap | calibration | gap | holdout (``holdout_months`` may be 0).

    Raises
    ------
    ContractError
        Too few dates for the folds.
    """
    dates = sorted(pd.Timestamp(d) for d in dates)
    # riskmodel.validation cuts the folds, so training and the tests of the split share one rule (and
    # its guard: a TemporalSplit whose label windows reach into the next fold cannot be built)
    try:
        if holdout_months >= len(dates):
            raise ConfigError("no date before the held-out months")
        before, holdout = dates, []
        if holdout_months:
            outer = temporal_split(dates, test_start=dates[-holdout_months], horizon_days=horizon_days)
            before, holdout = list(outer.train), list(outer.test)
        inner = later_fold(before, horizon_days=horizon_days, later_dates=calibration_months)
    except ConfigError:
        raise ContractError(
            f"{len(dates)} monthly as-of dates (from the first screening to the last whose {horizon_days}-day label "
            f"window the records cover) are too few for a fit fold, {calibration_months} calibration and "
            f"{holdout_months} held-out months; train with a later --until, or lower model.calibration_months / "
            "model.holdout_months in the settings.") from None
    return Folds(fit=list(inner.train), calibration=list(inner.test), holdout=holdout)


def make_estimator(kind: str, *, settings: Settings):
    """A fresh, unfitted estimator of ``kind`` from the model settings."""
    ms = settings.model
    if kind == "lightgbm":
        return LightGBMRisk(n_estimators=ms.n_estimators, early_stopping_rounds=ms.early_stopping_rounds,
                            params=dict(ms.lightgbm), seed=ms.seed, num_threads=ms.num_threads,
                            monotone=tuple(ms.monotone_increasing))
    if kind == "logistic":
        return LogisticRisk(C=ms.logistic_c, seed=ms.seed, num_threads=ms.num_threads)
    if kind == "rules":
        return RulesBaseline(rules=str(ms.rules) if ms.rules else None)
    raise ValueError(f"model kind {kind!r}: use lightgbm, logistic or rules")


def _subsample_negatives(rows: np.ndarray, y: np.ndarray, *, max_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Keep every positive and a seeded share of negatives so that at most ``max_rows`` remain.

    Kept negatives get weight 1/share, so the weighted data have the original class balance: the
    fitted log-odds are not shifted (unlike class reweighting), and calibration on the untouched
    later fold corrects what is left. Returns the new row mask and the weights (None: no subsampling).
    """
    n = int(rows.sum())
    positives = int(y[rows].sum())
    if n <= max_rows or n - positives <= 0:
        return rows, None
    share = max((max_rows - positives) / (n - positives), 0.05)
    keep = rows & ((y == 1) | (np.random.default_rng(seed).random(len(rows)) < share))
    weight = np.where(y[keep] == 1, 1.0, 1.0 / share)
    log.info("fit fold: %d rows; negatives subsampled to %.0f%% and weighted back (%d rows)", n, 100 * share, keep.sum())
    return keep, weight


def fit_on_folds(frame: pd.DataFrame, *, kind: str, fit_dates, calibration_dates, settings: Settings,
                 matrix: tuple[FeatureSpec, pd.DataFrame] | None = None) -> RiskModel:
    """Fit ``kind`` on the rows of ``fit_dates``; stop early and calibrate on ``calibration_dates``.

    ``frame`` holds ``student_id, as_of, label`` and the features (usable rows only); ``matrix`` is
    its ``(spec, spec.frame(frame))`` when already computed (the conversion is costly at 700,000 rows).
    """
    spec, X = matrix if matrix is not None else _matrix(frame)
    fit_rows = frame["as_of"].isin(fit_dates).to_numpy()
    cal_rows = frame["as_of"].isin(calibration_dates).to_numpy()
    y = frame["label"].to_numpy(dtype=int)
    for name, rows, dates in (("fit", fit_rows, fit_dates), ("calibration", cal_rows, calibration_dates)):
        if name == "fit" and kind == "rules":
            continue  # the rules are written, not learned; only their calibration needs outcomes
        _require_both_classes(name, y[rows], dates, settings=settings)
    max_rows = settings.model.max_fit_rows if kind != "logistic" else settings.model.logistic_max_fit_rows
    fit_rows, weight = _subsample_negatives(fit_rows, y, max_rows=max_rows, seed=settings.model.seed)
    estimator = make_estimator(kind, settings=settings)
    start = time.perf_counter()
    extra = {} if kind == "rules" else {"sample_weight": weight}
    if kind == "lightgbm":
        extra["eval_set"] = (X[cal_rows], y[cal_rows])
    estimator.fit(X[fit_rows], y[fit_rows], **extra)
    raw_cal = estimator.decision_function(X[cal_rows])
    calibrator = ProbabilityCalibrator(settings.model.calibration,
                                       isotonic_min_positives=settings.model.isotonic_min_positives)
    # one count per student: a student sits at several monthly dates of the fold and their label
    # windows overlap, so rows are not independent evidence for the interval (docs/models.md)
    calibrator.fit(raw_cal, y[cal_rows], groups=frame.loc[cal_rows, "student_id"].to_numpy())
    log.info("%s fitted on %d rows (%d positives) in %.1fs; calibration %s on %d rows (%d positives)", kind,
             fit_rows.sum(), y[fit_rows].sum(), time.perf_counter() - start, calibrator.method_, cal_rows.sum(),
             y[cal_rows].sum())
    return RiskModel(kind=kind, spec=spec, estimator=estimator, calibrator=calibrator)


def _require_both_classes(fold: str, y: np.ndarray, dates, *, settings: Settings) -> None:
    """Refuse to learn from a fold without recorded outcomes (or without any student free of one)."""
    dates = sorted(pd.Timestamp(d) for d in dates)
    span = f"{dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}" if dates else "no dates"
    positives, rows = int(y.sum()), int(len(y))
    if rows == 0 or positives == 0 or positives == rows:
        events = ", ".join(settings.labels.outcome_events)
        raise ContractError(
            f"the {fold} fold (as-of dates {span}) holds {rows} usable rows and {positives} with a recorded outcome "
            f"({events}) in the {settings.labels.horizon_days} days after; a model cannot be "
            f"{'fitted' if fold == 'fit' else 'calibrated'} without both. Check that the outcomes table is in the "
            "data folder and its events match labels.outcome_events, or train with a later --until (the folds "
            "need months whose outcome windows the records cover).")
    if positives < 20:
        log.warning("the %s fold holds only %d recorded outcomes: the model will be unreliable", fold, positives)


def _from_first_screening(dataset, dates: list[pd.Timestamp]) -> list[pd.Timestamp]:
    """The as-of dates on or after the first screening: before it, every feature reads "nothing
    recorded" and every label "no outcome" only because nothing was recorded yet."""
    screened = dataset.table("screenings")["date"]
    first = screened.min() if len(screened) else None
    if first is None or pd.isna(first):
        return dates
    kept = [d for d in dates if d >= first]
    if len(kept) < len(dates):
        log.info("%d of %d monthly as-of dates fall before the first screening (%s) and are not used",
                 len(dates) - len(kept), len(dates), f"{first:%Y-%m-%d}")
    return kept


def _matrix(frame: pd.DataFrame) -> tuple[FeatureSpec, pd.DataFrame]:
    spec = FeatureSpec.from_frame(frame.drop(columns=["label"]))
    return spec, spec.frame(frame, dtype=np.float32)  # features are float32 already; half the memory


def training_frame(dataset, dates, *, settings: Settings, until) -> tuple[pd.DataFrame, dict]:
    """Features and labels of ``dates``, usable rows only; and counts of what was left out."""
    from riskmodel.features import build_features
    from riskmodel.labels import build_labels, records_end

    # a label window is complete only where the records reach: past the last record, "no outcome"
    # means "not exported yet", and counting it as a negative would teach the model false calm
    end = records_end(dataset)
    data_end = pd.Timestamp(until) if end is None else min(pd.Timestamp(until), end)
    if data_end < pd.Timestamp(until):
        log.warning("--until %s is after the last record in the data (%s): label windows count as complete only "
                    "up to %s", f"{pd.Timestamp(until):%Y-%m-%d}", f"{end:%Y-%m-%d}", f"{end:%Y-%m-%d}")
    features = build_features(dataset, dates, settings=settings)
    labels = build_labels(dataset, features[["student_id", "as_of"]], settings=settings, data_end=data_end)
    usable = labels["usable"].to_numpy(dtype=bool)
    frame = features.loc[usable].reset_index(drop=True)
    frame["label"] = labels.loc[usable, "label"].to_numpy(dtype=int)
    return frame, {"rows": int(len(features)), "unusable_censored": int((~usable).sum())}


def _versions() -> dict[str, str]:
    out = {}
    for package in ("riskmodel", "lightgbm", "scikit-learn", "numpy", "pandas", "scipy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _fold_counts(frame: pd.DataFrame, dates) -> dict:
    rows = frame["as_of"].isin(dates)
    return {"rows": int(rows.sum()), "positives": int(frame.loc[rows, "label"].sum())}


def train_model(dataset, until, *, settings: Settings, kind: str | None = None,
                frame: pd.DataFrame | None = None) -> RiskModel:
    """Train, evaluate on the held-out later fold, (refit,) and return the model with its metadata.

    Parameters
    ----------
    dataset
        The loaded data (riskmodel.data.Dataset), outcomes included.
    until
        Nothing after this date is used: the last label window closes on or before it.
    settings
        ``settings.model`` (kind, seed, folds, calibration), ``settings.labels`` (horizon).
    kind
        Overrides ``settings.model.kind``.
    frame
        Precomputed :func:`training_frame` output (benchmarks reuse it across model kinds).

    Returns
    -------
    RiskModel
        Fitted and calibrated; ``meta`` holds everything model.json records except the version
        (:func:`riskmodel.models.registry.save` adds it).
    """
    from riskmodel.models.sources import training_sources

    kind = kind or settings.model.kind
    ms, horizon = settings.model, settings.labels.horizon_days
    until = pd.Timestamp(until).normalize()
    dates = monthly_as_of_dates(until, horizon_days=horizon, months=ms.history_months, day=ms.as_of_day)
    if dataset is not None and frame is None:
        dates = _from_first_screening(dataset, dates)
    start = time.perf_counter()
    counts = {}
    if frame is None:
        frame, counts = training_frame(dataset, dates, settings=settings, until=until)
    log.info("training frame: %d usable rows in %.1fs", len(frame), time.perf_counter() - start)
    frame = frame.loc[frame["as_of"].isin(dates)].reset_index(drop=True)
    present = sorted(frame["as_of"].unique())
    folds = time_folds(present, horizon_days=horizon, calibration_months=ms.calibration_months,
                       holdout_months=ms.holdout_months)
    matrix = _matrix(frame)
    model = fit_on_folds(frame, kind=kind, fit_dates=folds.fit, calibration_dates=folds.calibration, settings=settings,
                         matrix=matrix)
    metrics = {}
    if folds.holdout:
        test = frame["as_of"].isin(folds.holdout).to_numpy()
        raw = model.estimator.decision_function(matrix[1][test])
        metrics = evaluate(frame.loc[test, "label"], model.calibrator.predict(raw), raw, frame.loc[test, "as_of"],
                           capacity_per_1000=settings.warning.capacity_per_1000)
    windows = {"evaluation": folds.describe()}
    if ms.refit and folds.holdout:
        refit_folds = time_folds(present, horizon_days=horizon, calibration_months=ms.holdout_months, holdout_months=0)
        model = fit_on_folds(frame, kind=kind, fit_dates=refit_folds.fit, calibration_dates=refit_folds.calibration,
                             settings=settings, matrix=matrix)
        windows["model"] = refit_folds.describe()
    else:
        windows["model"] = folds.describe()
    model.meta = {
        "kind": kind,
        "until": f"{until:%Y-%m-%d}",
        "horizon_days": horizon,
        "outcome_events": list(settings.labels.outcome_events),
        "as_of_dates": [f"{d:%Y-%m-%d}" for d in present],
        "windows": windows,
        "folds": {name: _fold_counts(frame, getattr(folds, name)) for name in ("fit", "calibration", "holdout")},
        "data_checksum": getattr(dataset, "checksum", ""),
        # the feature sources and stages it learned from: scoring data without them is refused
        "training_data": training_sources(dataset, frame["student_id"]) if dataset is not None else {},
        "rows": {"usable": int(len(frame)), **counts},
        "seed": ms.seed,
        "parameters": model.estimator.get_params(),
        "best_iteration": getattr(model.estimator, "best_iteration_", None),
        "calibration": {"requested": ms.calibration, "chosen": model.calibrator.method_,
                        "positives": model.calibrator.n_positives_, "rows": model.calibrator.n_},
        "settings": {"model": settings.model.model_dump(mode="json"), "labels": settings.labels.model_dump(mode="json"),
                     "features": settings.features.model_dump(mode="json")},
        "metrics_holdout": metrics,
        "package_versions": _versions(),
    }
    if kind == "rules":
        model.meta["unused_rules"] = list(model.estimator.unused_rules_)
    return model
