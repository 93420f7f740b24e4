"""A readable model for audits: median imputation with missing-value indicators, scaling, L2 logistic.

Values outside the range seen in training are held at its edge (no linear extrapolation into a later
period). Each coefficient reads as the change in log-odds for one standard deviation of its feature; a
student's contribution of feature *j* is ``coef_j * z_j`` (``z`` the scaled value, 0 for an average
student), and a missing value contributes through its indicator. The fitted state is plain numbers,
saved as JSON: no pickle is ever needed to load it.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"phq9_total_latest": rng.integers(0, 27, 400).astype(float)})
>>> y = (rng.random(400) < X["phq9_total_latest"] / 40).astype(int)
>>> model = LogisticRisk(seed=1).fit(X, y)
>>> bool(model.coefficients()["phq9_total_latest"] > 0)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

__all__ = ["LogisticRisk"]


class LogisticRisk(ClassifierMixin, BaseEstimator):
    """Impute (median + indicators), standardise, L2 logistic regression; unweighted classes.

    Parameters
    ----------
    C
        Inverse L2 strength.
    max_iter
        Solver iterations.
    seed
        Random state of the solver (lbfgs is deterministic; kept for the record).
    num_threads
        BLAS threads while fitting (more threads than free cores slow lbfgs down).
    """

    def __init__(self, C: float = 0.1, max_iter: int = 500, seed: int = 0, num_threads: int = 1):
        self.C = C
        self.max_iter = max_iter
        self.seed = seed
        self.num_threads = num_threads

    def fit(self, X: pd.DataFrame, y, eval_set=None, sample_weight=None) -> LogisticRisk:
        """Fit on ``X``; ``eval_set`` is accepted for a common interface and not used.

        ``sample_weight`` restores the mass of subsampled negatives (riskmodel.models.training).
        """
        values = X.to_numpy(dtype=np.float64)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True).fit(values)
        self.medians_ = np.nan_to_num(imputer.statistics_, nan=0.0)
        missing_any = np.isnan(values).any(axis=0)
        self.indicator_features_ = np.flatnonzero(missing_any)
        design = self._design(values)
        self.means_ = np.average(design, axis=0, weights=sample_weight)
        scale = np.sqrt(np.average((design - self.means_) ** 2, axis=0, weights=sample_weight))
        self.scales_ = np.where(scale > 0, scale, 1.0)
        self.low_, self.high_ = design.min(axis=0), design.max(axis=0)
        z = (design - self.means_) / self.scales_
        clf = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        with threadpool_limits(limits=self.num_threads):
            clf.fit(z, np.asarray(y, dtype=int), sample_weight=sample_weight)
        self.coef_ = clf.coef_.ravel().astype(float)
        self.intercept_ = float(clf.intercept_[0])
        self.classes_ = np.array([0, 1])
        return self

    def _design(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values)
        filled = np.where(missing, self.medians_, values)
        return np.hstack([filled, missing[:, self.indicator_features_].astype(float)])

    def _z(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "coef_")
        # values beyond the training range are held at its edge: a linear model must not extrapolate
        # (counts that grow with the length of the records would otherwise dominate a later year)
        design = np.clip(self._design(X.to_numpy(dtype=np.float64)), self.low_, self.high_)
        return (design - self.means_) / self.scales_

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of the outcome (uncalibrated)."""
        return self._z(X) @ self.coef_ + self.intercept_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probabilities, shape (n, 2)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds contribution of each feature (its value and its missing indicator), shape (n, p)."""
        terms = self._z(X) * self.coef_
        n_features = len(self.feature_names_in_)
        out = terms[:, :n_features].copy()
        out[:, self.indicator_features_] += terms[:, n_features:]
        return out

    def coefficients(self) -> pd.Series:
        """Coefficient per feature (per standard deviation), for the audit."""
        check_is_fitted(self, "coef_")
        return pd.Series(self.coef_[: len(self.feature_names_in_)], index=self.feature_names_in_)

    def to_dict(self) -> dict:
        """JSON-ready state for the registry."""
        check_is_fitted(self, "coef_")
        return {
            "params": self.get_params(), "feature_names_in": list(self.feature_names_in_),
            "medians": self.medians_.tolist(), "indicator_features": self.indicator_features_.tolist(),
            "means": self.means_.tolist(), "scales": self.scales_.tolist(),
            "low": self.low_.tolist(), "high": self.high_.tolist(),
            "coef": self.coef_.tolist(), "intercept": self.intercept_,
        }

    @classmethod
    def from_dict(cls, data: dict) -> LogisticRisk:
        """Inverse of :meth:`to_dict`."""
        model = cls(**data["params"])
        model.feature_names_in_ = np.asarray(data["feature_names_in"], dtype=object)
        model.medians_ = np.asarray(data["medians"], dtype=float)
        model.indicator_features_ = np.asarray(data["indicator_features"], dtype=int)
        model.means_ = np.asarray(data["means"], dtype=float)
        model.scales_ = np.asarray(data["scales"], dtype=float)
        model.low_ = np.asarray(data["low"], dtype=float)
        model.high_ = np.asarray(data["high"], dtype=float)
        model.coef_ = np.asarray(data["coef"], dtype=float)
        model.intercept_ = float(data["intercept"])
        model.classes_ = np.array([0, 1])
        return model
