"""Probability calibration on a later time fold than training, with the calibration's own uncertainty.

A raw model score is turned into the chance of an outcome within the horizon by a monotone map fitted
on a later period than the model learned from (so it also absorbs drift between the periods).
``method="auto"`` chooses isotonic regression when the calibration fold holds at least
``isotonic_min_positives`` positives (isotonic needs many positives to be smooth; sigmoid below
that) and records the choice in ``method_``. Both maps are non-decreasing in the raw score, so
calibration never reorders students; ties it creates (isotonic plateaus) are broken by the raw score.

Uncertainty (:meth:`ProbabilityCalibrator.predict_interval`): how well the calibration fold pinned
down the probability at a given raw score, as a ``level`` (95%) interval. It is the uncertainty of
the calibration map, not a range for the student's own outcome (which happens or not).

* isotonic: each step (block) of the isotonic map is the observed outcome rate of the calibration
  rows pooled in it; the interval is the Wilson score interval of that rate from the block's counts.
  Between two steps the map interpolates linearly and so do the bounds.
* sigmoid (Platt): the map is ``1 / (1 + exp(-(a * raw + b)))``; the interval is
  ``sigmoid(eta +- z * se(eta))`` with ``se`` from the covariance of ``(a, b)`` (inverse Fisher
  information of the fit, or the cluster-robust sandwich when ``groups`` are given). It widens where
  the calibration fold had few rows and only covers the sigmoid's own parameters, not a wrong shape.

Rows of one student at successive monthly as-of dates are not independent (their outcome windows
overlap). Pass ``groups`` (the student id of each row) to :meth:`fit` to count each student once:
isotonic blocks use the number of distinct students as their effective size (the rate unchanged),
sigmoid uses the sandwich covariance clustered by student. Without ``groups`` every row counts as
independent and the intervals are too narrow (``interval_["effective"]`` says which was used).

Example
-------
>>> import numpy as np
>>> raw = np.linspace(-4, 2, 1000); y = (np.random.default_rng(0).random(1000) < 1 / (1 + np.exp(-raw))).astype(int)
>>> cal = ProbabilityCalibrator().fit(raw, y)
>>> cal.method_
'sigmoid'
>>> bool(np.all(np.diff(cal.predict(np.sort(raw))) >= 0))
True
>>> low, high = cal.predict_interval(raw)
>>> bool(np.all((low <= cal.predict(raw)) & (cal.predict(raw) <= high)))
True
"""

from __future__ import annotations

import logging
from statistics import NormalDist

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from riskmodel.vocab import wilson_interval  # re-exported: riskmodel.models.calibration.wilson_interval

__all__ = ["ProbabilityCalibrator", "wilson_interval"]

log = logging.getLogger(__name__)


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-eta))


class ProbabilityCalibrator(BaseEstimator):
    """Monotone map from raw score to probability: isotonic, sigmoid (Platt), or chosen automatically.

    Parameters
    ----------
    method
        ``"auto"``, ``"isotonic"`` or ``"sigmoid"``.
    isotonic_min_positives
        With ``auto``: isotonic from this many positives in the calibration fold, sigmoid below.
    interval_level
        Coverage of :meth:`predict_interval` (0.95).
    """

    def __init__(self, method: str = "auto", isotonic_min_positives: int = 1000, interval_level: float = 0.95):
        self.method = method
        self.isotonic_min_positives = isotonic_min_positives
        self.interval_level = interval_level

    def fit(self, raw: np.ndarray, y, groups=None) -> ProbabilityCalibrator:
        """Fit the map on a later fold's raw scores and outcomes.

        Parameters
        ----------
        raw, y
            Raw scores and 0/1 outcomes of the calibration fold.
        groups
            Optional, one per row: who the row belongs to (the student id). Rows of one student
            count as one for the intervals (see the module docstring); the map itself is unchanged.
        """
        raw = np.asarray(raw, dtype=float)
        y = np.asarray(y, dtype=int)
        if not 0.5 <= float(self.interval_level) < 1:
            raise ValueError(f"interval_level {self.interval_level!r}: use a coverage in [0.5, 1), e.g. 0.95")
        codes = None if groups is None else pd.factorize(np.asarray(groups, dtype=object))[0]
        if codes is not None and len(codes) != len(y):
            raise ValueError(f"groups has {len(codes)} values for {len(y)} calibration rows; give one per row")
        self.n_positives_ = int(y.sum())
        self.n_ = int(len(y))
        if self.method == "auto":
            self.method_ = "isotonic" if self.n_positives_ >= self.isotonic_min_positives else "sigmoid"
        elif self.method in ("isotonic", "sigmoid"):
            self.method_ = self.method
        else:
            raise ValueError(f"calibration method {self.method!r}: use auto, isotonic or sigmoid")
        if self.method_ == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
            self.x_ = iso.X_thresholds_.astype(float)
            self.y_ = iso.y_thresholds_.astype(float)
            self.interval_ = self._isotonic_interval(raw, y, codes)
        else:
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            self.interval_ = self._sigmoid_interval(raw, y, codes)
        return self

    def _isotonic_interval(self, raw: np.ndarray, y: np.ndarray, codes: np.ndarray | None) -> dict:
        """Wilson interval of each isotonic step from the calibration rows that fall in it."""
        # breakpoints come in runs of equal y (a step's first and last x): number the steps
        step_of_point = np.concatenate([[0], np.cumsum(self.y_[1:] != self.y_[:-1])])
        point = np.clip(np.searchsorted(self.x_, raw, side="right") - 1, 0, len(self.x_) - 1)
        step = step_of_point[point]
        n_steps = int(step_of_point[-1]) + 1
        n = np.bincount(step, minlength=n_steps).astype(float)
        k = np.bincount(step, weights=y, minlength=n_steps)
        if codes is None:
            n_eff, effective = n, "rows"
        else:
            pairs = np.unique(np.stack([step, codes]), axis=1)
            n_eff, effective = np.bincount(pairs[0], minlength=n_steps).astype(float), "groups"
        k_eff = np.where(n > 0, k * n_eff / np.where(n > 0, n, 1.0), 0.0)
        low, high = wilson_interval(k_eff, n_eff, self.interval_level)
        rate = self.y_
        low_at, high_at = low[step_of_point], high[step_of_point]
        # the map's value at a step is its rate; guard against a last-bit difference from k / n
        return {"method": "wilson", "level": float(self.interval_level), "effective": effective,
                "low": np.minimum(low_at, rate).tolist(), "high": np.maximum(high_at, rate).tolist(),
                "step_rows": n.astype(int).tolist(), "step_positives": k.astype(int).tolist(),
                "step_effective_n": n_eff.astype(int).tolist()}

    def _sigmoid_interval(self, raw: np.ndarray, y: np.ndarray, codes: np.ndarray | None) -> dict:
        """Covariance of (a, b): inverse Fisher information, or the sandwich clustered by ``codes``."""
        X = np.column_stack([raw, np.ones_like(raw)])
        p = _sigmoid(self.a_ * raw + self.b_)
        hessian = (X * (p * (1 - p))[:, None]).T @ X
        bread = np.linalg.pinv(hessian)
        if codes is None:
            cov, effective = bread, "rows"
        else:
            scores = X * (y - p)[:, None]
            per_group = np.column_stack([np.bincount(codes, weights=scores[:, j]) for j in range(2)])
            cov, effective = bread @ (per_group.T @ per_group) @ bread, "groups"
        cov = (cov + cov.T) / 2
        return {"method": "delta_logit", "level": float(self.interval_level), "effective": effective,
                "cov": cov.tolist()}

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        check_is_fitted(self, "method_")
        raw = np.asarray(raw, dtype=float)
        if self.method_ == "isotonic":
            return np.interp(raw, self.x_, self.y_)
        return _sigmoid(self.a_ * raw + self.b_)

    @property
    def has_interval(self) -> bool:
        """False for a calibrator loaded from a model saved before intervals were stored."""
        return getattr(self, "interval_", None) is not None

    def predict_interval(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (``interval_level``) of the calibrated probability at ``raw``.

        Each bound is within [0, 1] and ``low <= predict(raw) <= high``. A calibrator from a model
        saved before intervals were stored returns NaN bounds (and logs it once per call).

        Example
        -------
        >>> cal = ProbabilityCalibrator("isotonic").fit(np.arange(20.0), [1, 1] + [0] * 8 + [1] * 6 + [0] * 4)
        >>> low, high = cal.predict_interval(np.array([3.0, 15.0]))
        >>> np.round(low, 4).tolist(), np.round(high, 4).tolist()
        ([0.0567, 0.3127], [0.5098, 0.8318])
        """
        check_is_fitted(self, "method_")
        raw = np.asarray(raw, dtype=float)
        if not self.has_interval:
            log.warning("this model's calibrator stores no uncertainty (saved by an older riskmodel): score_low "
                        "and score_high are left empty; retrain the model to get them")
            empty = np.full(raw.shape, np.nan)
            return empty, empty.copy()
        info = self.interval_
        if self.method_ == "isotonic":
            return np.interp(raw, self.x_, np.asarray(info["low"])), np.interp(raw, self.x_, np.asarray(info["high"]))
        cov = np.asarray(info["cov"], dtype=float)
        eta = self.a_ * raw + self.b_
        se = np.sqrt(np.maximum(raw * raw * cov[0, 0] + 2 * raw * cov[0, 1] + cov[1, 1], 0.0))
        z = NormalDist().inv_cdf(0.5 + float(info["level"]) / 2)
        return _sigmoid(eta - z * se), _sigmoid(eta + z * se)

    def to_dict(self) -> dict:
        """JSON-ready state for the registry."""
        check_is_fitted(self, "method_")
        out = {"method": self.method, "isotonic_min_positives": self.isotonic_min_positives,
               "method_chosen": self.method_, "n_positives": self.n_positives_, "n": self.n_}
        if self.method_ == "isotonic":
            out.update(x=self.x_.tolist(), y=self.y_.tolist())
        else:
            out.update(a=self.a_, b=self.b_)
        if self.has_interval:
            out["interval"] = self.interval_
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ProbabilityCalibrator:
        """Inverse of :meth:`to_dict`; a model saved before intervals existed loads without them."""
        interval = data.get("interval")
        level = float(interval["level"]) if interval else 0.95
        cal = cls(method=data["method"], isotonic_min_positives=data["isotonic_min_positives"], interval_level=level)
        cal.method_, cal.n_positives_, cal.n_ = data["method_chosen"], data["n_positives"], data["n"]
        if cal.method_ == "isotonic":
            cal.x_, cal.y_ = np.asarray(data["x"], float), np.asarray(data["y"], float)
        else:
            cal.a_, cal.b_ = float(data["a"]), float(data["b"])
        cal.interval_ = interval
        if interval is not None:
            expected = "wilson" if cal.method_ == "isotonic" else "delta_logit"
            if interval.get("method") != expected:
                raise ValueError(f"calibration interval method {interval.get('method')!r} with a {cal.method_} "
                                 f"map (expected {expected!r})")
            shape_ok = (len(interval["low"]) == len(interval["high"]) == len(cal.x_) if expected == "wilson"
                        else np.asarray(interval["cov"], float).shape == (2, 2))
            if not shape_ok:
                raise ValueError("calibration interval does not match the calibration map's size")
        return cal
