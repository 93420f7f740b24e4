"""Probability calibration on a later time fold than training.

A raw model score is turned into the chance of an outcome within the horizon by a monotone map fitted
on a later period than the model learned from (so it also absorbs drift between the periods).
``method="auto"`` chooses isotonic regression when the calibration fold holds at least
``isotonic_min_positives`` positives (isotonic needs many positives to be smooth; sigmoid below
that) and records the choice in ``method_``. Both maps are non-decreasing in the raw score, so
calibration never reorders students; ties it creates (isotonic plateaus) are broken by the raw score.

Example
-------
>>> import numpy as np
>>> raw = np.linspace(-4, 2, 1000); y = (np.random.default_rng(0).random(1000) < 1 / (1 + np.exp(-raw))).astype(int)
>>> cal = ProbabilityCalibrator().fit(raw, y)
>>> cal.method_
'sigmoid'
>>> bool(np.all(np.diff(cal.predict(np.sort(raw))) >= 0))
True
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

__all__ = ["ProbabilityCalibrator"]


class ProbabilityCalibrator(BaseEstimator):
    """Monotone map from raw score to probability: isotonic, sigmoid (Platt), or chosen automatically.

    Parameters
    ----------
    method
        ``"auto"``, ``"isotonic"`` or ``"sigmoid"``.
    isotonic_min_positives
        With ``auto``: isotonic from this many positives in the calibration fold, sigmoid below.
    """

    def __init__(self, method: str = "auto", isotonic_min_positives: int = 1000):
        self.method = method
        self.isotonic_min_positives = isotonic_min_positives

    def fit(self, raw: np.ndarray, y) -> ProbabilityCalibrator:
        """Fit the map on a later fold's raw scores and outcomes."""
        raw = np.asarray(raw, dtype=float)
        y = np.asarray(y, dtype=int)
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
        else:
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        return self

    def predict(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        check_is_fitted(self, "method_")
        raw = np.asarray(raw, dtype=float)
        if self.method_ == "isotonic":
            return np.interp(raw, self.x_, self.y_)
        return 1.0 / (1.0 + np.exp(-(self.a_ * raw + self.b_)))

    def to_dict(self) -> dict:
        """JSON-ready state for the registry."""
        check_is_fitted(self, "method_")
        out = {"method": self.method, "isotonic_min_positives": self.isotonic_min_positives,
               "method_chosen": self.method_, "n_positives": self.n_positives_, "n": self.n_}
        if self.method_ == "isotonic":
            out.update(x=self.x_.tolist(), y=self.y_.tolist())
        else:
            out.update(a=self.a_, b=self.b_)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> ProbabilityCalibrator:
        """Inverse of :meth:`to_dict`."""
        cal = cls(method=data["method"], isotonic_min_positives=data["isotonic_min_positives"])
        cal.method_, cal.n_positives_, cal.n_ = data["method_chosen"], data["n_positives"], data["n"]
        if cal.method_ == "isotonic":
            cal.x_, cal.y_ = np.asarray(data["x"], float), np.asarray(data["y"], float)
        else:
            cal.a_, cal.b_ = float(data["a"]), float(data["b"])
        return cal
