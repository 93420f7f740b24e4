"""LightGBM gradient boosting with early stopping on a later time fold.

No class reweighting (``is_unbalance``/``scale_pos_weight`` spoil probabilities; calibration comes
after, on a later fold). Training is deterministic: ``deterministic=True``, ``force_col_wise``, a
fixed thread count and seeds, so the same data and seed give the same trees. The fitted booster is
saved as LightGBM's own model text, never pickled.

Explanations use ``pred_contrib=True`` (exact TreeSHAP in LightGBM's C++), which returns one column
per feature plus the expected value in log-odds.

Example
-------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"phq9_total_latest": rng.integers(0, 27, 2000).astype(float)})
>>> y = (rng.random(2000) < X["phq9_total_latest"] / 40).astype(int)
>>> model = LightGBMRisk(n_estimators=20, seed=1).fit(X[:1500], y[:1500], eval_set=(X[1500:], y[1500:]))
>>> model.contributions(X[:3]).shape
(3, 1)
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from riskmodel.config import MONOTONE_INCREASING as _MONOTONE_INCREASING

__all__ = ["LightGBMRisk", "DEFAULT_PARAMS", "MONOTONE_INCREASING", "monotone_features"]

DEFAULT_PARAMS: dict[str, float | int | str] = {
    "learning_rate": 0.08,
    # 7 leaves of at least 100 rows: recall at I+II +0.006 to +0.015 on the validation fold of both generators
    # against 15/200, the test year within noise (issue 16, docs/models.md); 31 leaves lose everywhere
    "num_leaves": 7,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 10.0,
    "max_bin": 63,
}

# the features constrained to raise the score (patterns; the settings' default, see riskmodel.config)
MONOTONE_INCREASING = _MONOTONE_INCREASING


def monotone_features(names, patterns=MONOTONE_INCREASING) -> list[str]:
    """The names among ``names`` that a pattern of ``patterns`` constrains to raise the score."""
    from fnmatch import fnmatchcase

    return [n for n in map(str, names) if any(fnmatchcase(n, p) for p in patterns)]


class LightGBMRisk(ClassifierMixin, BaseEstimator):
    """Binary LightGBM on the feature matrix; early stopping on ``eval_set`` (a later time fold).

    Parameters
    ----------
    n_estimators
        Most boosting rounds.
    early_stopping_rounds
        Stop when the later fold's log loss has not improved for this many rounds.
    params
        Overrides of :data:`DEFAULT_PARAMS` (settings.model.lightgbm).
    seed
        Seed of every random choice.
    num_threads
        Fixed thread count (determinism and a shared machine: on a busy two-core machine two OpenMP
        threads ran about 18 times slower than one, spinning while waiting for each other).
    monotone
        Patterns of the features constrained to never lower the score as they rise
        (:data:`MONOTONE_INCREASING`; empty: none).
    """

    def __init__(self, n_estimators: int = 400, early_stopping_rounds: int = 50, params: dict | None = None,
                 seed: int = 0, num_threads: int = 1, monotone: tuple[str, ...] = MONOTONE_INCREASING):
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.params = params
        self.seed = seed
        self.num_threads = num_threads
        self.monotone = monotone

    def _params(self) -> dict:
        params = {**DEFAULT_PARAMS, **(self.params or {})}
        unbalance, pos_weight = params.pop("is_unbalance", False), params.pop("scale_pos_weight", 1.0)
        if str(unbalance).lower() not in ("false", "0") or float(pos_weight) != 1.0:
            raise ValueError("is_unbalance / scale_pos_weight spoil probabilities; riskmodel calibrates instead")
        params.update(objective="binary", metric="binary_logloss", seed=self.seed, deterministic=True,
                      force_col_wise=True, num_threads=self.num_threads, verbosity=-1)
        return params

    def fit(self, X: pd.DataFrame, y, eval_set: tuple[pd.DataFrame, object] | None = None,
            sample_weight=None) -> LightGBMRisk:
        """Fit; with ``eval_set`` (a later fold) stop early on its log loss.

        ``sample_weight`` is for restoring the mass of subsampled negatives (riskmodel.models.training),
        never for up-weighting a class.
        """
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        train = lgb.Dataset(X.to_numpy(dtype=np.float32), label=np.asarray(y, dtype=float), weight=sample_weight,
                            feature_name=[str(c) for c in X.columns], free_raw_data=True)
        callbacks, valid_sets = [], []
        if eval_set is not None:
            valid_sets = [lgb.Dataset(eval_set[0].to_numpy(dtype=np.float32), label=np.asarray(eval_set[1], float),
                                      reference=train)]
            callbacks = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
        params = self._params()
        constrained = set(monotone_features(X.columns, tuple(self.monotone or ())))
        if constrained:
            params["monotone_constraints"] = [1 if str(c) in constrained else 0 for c in X.columns]
        self.monotone_features_ = sorted(constrained)
        booster = lgb.train(params, train, num_boost_round=self.n_estimators, valid_sets=valid_sets,
                            callbacks=callbacks)
        self.best_iteration_ = int(booster.best_iteration or booster.current_iteration())
        self.booster_ = booster
        self.classes_ = np.array([0, 1])
        return self

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "booster_")
        # a float32 matrix (training's) is read as it is: LightGBM widens each value to double itself,
        # so the scores are those of a float64 copy, without the copy (twice the matrix at 200,000 students)
        if len(X.columns) and all(dtype == np.float32 for dtype in X.dtypes):
            return X.to_numpy()
        return X.to_numpy(dtype=np.float64)

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds (uncalibrated)."""
        matrix = self._matrix(X)  # checks fitted first: NotFittedError, not AttributeError on booster_
        return self.booster_.predict(matrix, num_iteration=self.best_iteration_, raw_score=True,
                                     num_threads=self.num_threads)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated probabilities, shape (n, 2)."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def contributions(self, X: pd.DataFrame) -> np.ndarray:
        """Exact TreeSHAP values in log-odds, shape (n, p) (the expected-value column dropped)."""
        matrix = self._matrix(X)
        contrib = self.booster_.predict(matrix, num_iteration=self.best_iteration_, pred_contrib=True,
                                        num_threads=self.num_threads)
        return np.asarray(contrib)[:, :-1]

    def to_dict(self) -> dict:
        """JSON-ready state; the booster itself is LightGBM model text (see :meth:`model_text`)."""
        check_is_fitted(self, "booster_")
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.get_params().items()}
        return {"params": params, "best_iteration": self.best_iteration_,
                "feature_names_in": list(self.feature_names_in_)}

    def model_text(self) -> str:
        """The booster as LightGBM model text (safe to load: no code runs)."""
        check_is_fitted(self, "booster_")
        return self.booster_.model_to_string(num_iteration=self.best_iteration_)

    @classmethod
    def from_dict(cls, data: dict, model_text: str) -> LightGBMRisk:
        """Inverse of :meth:`to_dict` plus :meth:`model_text`."""
        params = dict(data["params"])
        # folders saved before the constraints existed were trained without them
        params["monotone"] = tuple(params.get("monotone", ()))
        model = cls(**params)
        model.booster_ = lgb.Booster(model_str=model_text)
        model.best_iteration_ = int(data["best_iteration"])
        model.feature_names_in_ = np.asarray(data["feature_names_in"], dtype=object)
        model.classes_ = np.array([0, 1])
        return model
