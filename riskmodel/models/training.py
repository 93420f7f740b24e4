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
from riskmodel.models.sampling import RowSample, plan_rows
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


def fit_on_folds(frame: pd.DataFrame, *, kind: str, fit_dates, calibration_dates, settings: Settings,
                 matrix: tuple[FeatureSpec, pd.DataFrame] | None = None, sample: RowSample | None = None) -> RiskModel:
    """Fit ``kind`` on the rows of ``fit_dates``; stop early and calibrate on ``calibration_dates``.

    ``frame`` holds ``student_id, as_of, label`` (and the features unless ``matrix`` is given);
    ``matrix`` is ``(spec, X)`` with X the float32 feature rows of ``frame`` when already built (the
    conversion is costly at 700,000 rows); ``sample`` says how the rows were drawn
    (riskmodel.models.sampling; None: ``frame`` holds every usable row).
    """
    spec, X = matrix if matrix is not None else _matrix(frame)
    sample = sample if sample is not None else RowSample.everything(frame, seed=settings.model.seed)
    fit_rows = frame["as_of"].isin(fit_dates).to_numpy()
    cal_rows = frame["as_of"].isin(calibration_dates).to_numpy()
    y = frame["label"].to_numpy(dtype=int)
    for name, rows, dates in (("fit", fit_rows, fit_dates), ("calibration", cal_rows, calibration_dates)):
        if name == "fit" and kind == "rules":
            continue  # the rules are written, not learned; only their calibration needs outcomes
        _require_both_classes(name, y[rows], dates, settings=settings)
    max_rows = settings.model.max_fit_rows if kind != "logistic" else settings.model.logistic_max_fit_rows
    fit_rows, weight = sample.fit_rows(fit_rows, y, dates=fit_dates, max_rows=max_rows)
    estimator = make_estimator(kind, settings=settings)
    start = time.perf_counter()
    extra = {} if kind == "rules" else {"sample_weight": weight}
    X_cal = _rows(X, cal_rows)  # the calibration months are one run of rows: a view, not a copy
    if kind == "lightgbm":
        extra["eval_set"] = (X_cal, y[cal_rows])
    estimator.fit(_rows(X, fit_rows), y[fit_rows], **extra)
    raw_cal = estimator.decision_function(X_cal)
    calibrator = ProbabilityCalibrator(settings.model.calibration,
                                       isotonic_min_positives=settings.model.isotonic_min_positives)
    # one count per student: a student sits at several monthly dates of the fold and their label
    # windows overlap, so rows are not independent evidence for the interval (docs/models.md)
    calibrator.fit(raw_cal, y[cal_rows], groups=frame.loc[cal_rows, "student_id"].to_numpy())
    log.info("%s fitted on %d rows (%d positives) in %.1fs; calibration %s on %d rows (%d positives)", kind,
             fit_rows.sum(), y[fit_rows].sum(), time.perf_counter() - start, calibrator.method_, cal_rows.sum(),
             y[cal_rows].sum())
    return RiskModel(kind=kind, spec=spec, estimator=estimator, calibrator=calibrator)


def _rows(X: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``X`` where ``mask``: a view when they are one contiguous run, else one copy."""
    index = np.flatnonzero(mask)
    if len(index) and index[-1] - index[0] + 1 == len(index):
        return X.iloc[index[0]:index[-1] + 1]
    return X.iloc[index]


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


def _data_end(dataset, until) -> pd.Timestamp:
    from riskmodel.labels import records_end

    # a label window is complete only where the records reach: past the last record, "no outcome"
    # means "not exported yet", and counting it as a negative would teach the model false calm
    end = records_end(dataset)
    data_end = pd.Timestamp(until) if end is None else min(pd.Timestamp(until), end)
    if data_end < pd.Timestamp(until):
        log.warning("--until %s is after the last record in the data (%s): label windows count as complete only "
                    "up to %s", f"{pd.Timestamp(until):%Y-%m-%d}", f"{end:%Y-%m-%d}", f"{end:%Y-%m-%d}")
    return data_end


@dataclass
class _Window:
    """The usable rows of each as-of date, found before any feature is computed."""

    source: object  # riskmodel.features.build.FeatureSource
    as_of: list[pd.Timestamp]
    positions: list[np.ndarray]  # register positions of the usable rows, register order
    labels: list[np.ndarray]
    enrolled_rows: int

    @property
    def names(self) -> list[str]:
        """The feature columns, in catalogue order."""
        return self.source.names

    @property
    def ids(self) -> np.ndarray:
        """The register's student IDs; ``positions`` index them."""
        return self.source.register["student_id"].to_numpy()

    def build(self, chosen: list[np.ndarray] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The rows ``chosen`` (per date; None: all) as ``student_id, as_of, label``, and their float32 features
        (a frame around one C-ordered matrix: its runs of rows are views, never copies).

        One matrix is allocated for all of them and each date's features written into its slice
        (riskmodel.features.build.FeatureSource.fill): no per-date frames, no concatenation.
        """
        chosen = chosen if chosen is not None else [np.arange(len(p)) for p in self.positions]
        sizes = [len(c) for c in chosen]
        names = self.source.names
        matrix = np.empty((sum(sizes), len(names)), dtype=np.float32)
        start = 0
        for d, pos, c in zip(self.as_of, self.positions, chosen):
            if len(c):  # a date without any row to build is not computed at all
                self.source.fill(d, pos[c], matrix[start:start + len(c)])
            start += len(c)
        return window_rows(self, chosen), pd.DataFrame(matrix, columns=list(names), copy=False)


def window_rows(window, chosen: list[np.ndarray]) -> pd.DataFrame:
    """``student_id, as_of, label`` of the rows ``chosen`` (per date) of a window (``ids``, ``as_of``,
    ``positions``, ``labels``), date by date: the rows of its matrix."""
    positions = np.concatenate([p[c] for p, c in zip(window.positions, chosen)]) if chosen else np.zeros(0, int)
    labels = np.concatenate([y[c] for y, c in zip(window.labels, chosen)]) if chosen else np.zeros(0, int)
    return pd.DataFrame({"student_id": window.ids[positions],
                         "as_of": np.repeat(np.array([d.to_datetime64() for d in window.as_of], dtype="datetime64[ns]"),
                                            [len(c) for c in chosen]),
                         "label": labels.astype(int)})


def _window(dataset, dates, *, settings: Settings, data_end: pd.Timestamp) -> _Window:
    """Enrolled students and their labels per as-of date (usable rows only), before any feature."""
    from riskmodel.features.build import as_of_list, prepare
    from riskmodel.labels import build_labels

    source = prepare(dataset, settings=settings)
    ids = source.register["student_id"].to_numpy()
    as_of, positions, labels, enrolled_rows = [], [], [], 0
    for d in as_of_list(dates):
        enrolled = np.flatnonzero(source.enrolled_on(d))
        enrolled_rows += len(enrolled)
        index = pd.DataFrame({"student_id": ids[enrolled], "as_of": np.full(len(enrolled), d.to_datetime64())})
        lab = build_labels(dataset, index, settings=settings, data_end=data_end)
        usable = lab["usable"].to_numpy(dtype=bool)
        if usable.any():
            as_of.append(d)
            positions.append(enrolled[usable])
            labels.append(lab["label"].to_numpy(dtype=np.int64)[usable])
    return _Window(source=source, as_of=as_of, positions=positions, labels=labels, enrolled_rows=enrolled_rows)


def training_frame(dataset, dates, *, settings: Settings, until) -> tuple[pd.DataFrame, dict]:
    """Features and labels of ``dates``, usable rows only; and counts of what was left out."""
    window = _window(dataset, dates, settings=settings, data_end=_data_end(dataset, until))
    from riskmodel.features.build import feature_frame

    rows, features = window.build()
    features = feature_frame(features.to_numpy(), list(features.columns), rows["student_id"].to_numpy(),
                             rows["as_of"].to_numpy())
    features["label"] = rows["label"].to_numpy()
    usable = int(len(rows))
    return features, {"rows": window.enrolled_rows, "unusable_censored": window.enrolled_rows - usable}


def _versions() -> dict[str, str]:
    out = {}
    for package in ("riskmodel", "lightgbm", "scikit-learn", "numpy", "pandas", "scipy"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def _fold_counts(sample: RowSample, dates) -> dict:
    rows, positives = sample.population(dates)
    return {"rows": rows, "positives": positives}


def _refit_folds(present, folds: Folds, *, settings: Settings) -> Folds | None:
    """The folds of the refit (one block later), or None when there is no refit."""
    ms = settings.model
    if not (ms.refit and folds.holdout):
        return None
    return time_folds(present, horizon_days=settings.labels.horizon_days, calibration_months=ms.holdout_months,
                      holdout_months=0)


def train_model(dataset, until, *, settings: Settings, kind: str | None = None,
                frame: pd.DataFrame | None = None, store=None) -> RiskModel:
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
    store
        A store (``riskmodel validate --store``) to read the records from, batch by batch
        (:mod:`riskmodel.models.store_window`); ``dataset`` is then its :meth:`~riskmodel.data.store.Store.digest`.
        The model is the one the whole data would give.

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
    counts, info = {}, None
    if frame is None:
        # the labels of every date first (cheap), then only the rows the fits and the evaluation use are
        # built, into one float32 matrix; under model.max_memory_gb fewer (riskmodel.models.sampling)
        if store is not None:
            from riskmodel.models.store_window import store_window

            window = store_window(store, dates, settings=settings, data_end=_data_end(dataset, until))
        else:
            window = _window(dataset, dates, settings=settings, data_end=_data_end(dataset, until))
        present = list(window.as_of)
        folds = time_folds(present, horizon_days=horizon, calibration_months=ms.calibration_months,
                           holdout_months=ms.holdout_months)
        refit_folds = _refit_folds(present, folds, settings=settings)
        steps = [folds] + ([refit_folds] if refit_folds is not None else [])
        max_rows = ms.max_fit_rows if kind != "logistic" else ms.logistic_max_fit_rows
        chosen, sample = plan_rows(present, window.labels, window.positions, fit_steps=[f.fit for f in steps],
                                   evaluation=sorted({d for f in steps for d in f.calibration + f.holdout}),
                                   max_rows=max_rows, n_features=len(window.names),
                                   max_memory_gb=ms.max_memory_gb, seed=ms.seed, n_register=len(window.ids))
        frame, features = window.build(chosen)
        spec = FeatureSpec(names=tuple(window.names))
        matrix = (spec, features)
        ids = window.ids
        seen = np.zeros(len(ids), dtype=bool)  # the students of any usable row, in register order
        for positions in window.positions:
            seen[positions] = True
        student_ids = ids[seen]
        counts = {"rows": window.enrolled_rows,
                  "unusable_censored": window.enrolled_rows - int(sample.counts["rows"].sum())}
        info = sample.info
        del window
    else:
        frame = frame.loc[frame["as_of"].isin(dates)].reset_index(drop=True)
        present = sorted(frame["as_of"].unique())
        folds = time_folds(present, horizon_days=horizon, calibration_months=ms.calibration_months,
                           holdout_months=ms.holdout_months)
        refit_folds = _refit_folds(present, folds, settings=settings)
        matrix = _matrix(frame)
        sample = RowSample.everything(frame, seed=ms.seed)
        student_ids = frame["student_id"]
    log.info("training matrix: %d rows built in %.1fs", len(frame), time.perf_counter() - start)
    model = fit_on_folds(frame, kind=kind, fit_dates=folds.fit, calibration_dates=folds.calibration, settings=settings,
                         matrix=matrix, sample=sample)
    metrics = {}
    if folds.holdout:
        test = frame["as_of"].isin(folds.holdout).to_numpy()
        raw = model.estimator.decision_function(_rows(matrix[1], test))
        metrics = evaluate(frame.loc[test, "label"], model.calibrator.predict(raw), raw, frame.loc[test, "as_of"],
                           capacity_per_1000=settings.warning.capacity_per_1000)
    windows = {"evaluation": folds.describe()}
    if refit_folds is not None:
        model = fit_on_folds(frame, kind=kind, fit_dates=refit_folds.fit, calibration_dates=refit_folds.calibration,
                             settings=settings, matrix=matrix, sample=sample)
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
        "folds": {name: _fold_counts(sample, getattr(folds, name)) for name in ("fit", "calibration", "holdout")},
        "data_checksum": getattr(dataset, "checksum", ""),
        # the feature sources and stages it learned from: scoring data without them is refused
        "training_data": training_sources(dataset, student_ids) if dataset is not None else {},
        "rows": {"usable": int(sample.counts["rows"].sum()), **counts},
        "seed": ms.seed,
        "parameters": model.estimator.get_params(),
        "best_iteration": getattr(model.estimator, "best_iteration_", None),
        "calibration": {"requested": ms.calibration, "chosen": model.calibrator.method_,
                        "positives": model.calibrator.n_positives_, "rows": model.calibrator.n_},
        # the memory budget is a property of the machine, not of the model: recorded (under "sampling")
        # only when it changed which rows the model learned from, so a model is the same wherever it fits
        "settings": {"model": settings.model.model_dump(mode="json", exclude={"max_memory_gb"}),
                     "labels": settings.labels.model_dump(mode="json"),
                     "features": settings.features.model_dump(mode="json")},
        "metrics_holdout": metrics,
        "package_versions": _versions(),
    }
    if info is not None:
        model.meta["sampling"] = info
    if kind == "rules":
        model.meta["unused_rules"] = list(model.estimator.unused_rules_)
    return model
