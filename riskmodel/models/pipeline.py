"""The fitted early-warning model: feature list, estimator, calibrator and metadata together.

A :class:`RiskModel` is what ``riskmodel train`` writes and ``riskmodel score`` reads. It scores a
feature frame (``student_id, as_of`` + features) and explains rows of it; it refuses a frame whose
features differ from those it was trained on.

Example
-------
>>> import numpy as np, pandas as pd
>>> from riskmodel.models.logistic import LogisticRisk
>>> from riskmodel.models.calibration import ProbabilityCalibrator
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"student_id": [f"s{i}" for i in range(500)], "as_of": pd.Timestamp("2026-03-01"),
...                       "phq9_total_latest": rng.integers(0, 27, 500).astype(float)})
>>> y = (rng.random(500) < frame["phq9_total_latest"] / 40).astype(int)
>>> spec = FeatureSpec.from_frame(frame)
>>> est = LogisticRisk().fit(spec.frame(frame), y)
>>> cal = ProbabilityCalibrator("sigmoid").fit(est.decision_function(spec.frame(frame)), y)
>>> model = RiskModel(kind="logistic", spec=spec, estimator=est, calibrator=cal, meta={})
>>> list(model.predict(frame).columns)
['student_id', 'as_of', 'score', 'raw']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmodel.models.calibration import ProbabilityCalibrator
from riskmodel.models.matrix import FeatureSpec

__all__ = ["RiskModel", "FeatureSpec"]


@dataclass
class RiskModel:
    """A fitted, calibrated early-warning model.

    Attributes
    ----------
    kind
        ``lightgbm``, ``logistic`` or ``rules``.
    spec
        The features it reads (:class:`FeatureSpec`).
    estimator
        The fitted estimator (``decision_function`` and ``contributions``).
    calibrator
        Raw score -> probability of an outcome within the horizon.
    meta
        The metadata written to model.json (version, training window, metrics ...).
    """

    kind: str
    spec: FeatureSpec
    estimator: object
    calibrator: ProbabilityCalibrator
    meta: dict = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The content hash given by the registry ('' before saving)."""
        return self.meta.get("version", "")

    @property
    def features(self) -> tuple[str, ...]:
        """Feature names in model order."""
        return self.spec.names

    def check(self, frame: pd.DataFrame, *, source: str = "the feature matrix") -> None:
        """Raise ModelMismatchError unless ``frame`` carries exactly the model's features."""
        self.spec.check(frame, source=source)

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The estimator's uncalibrated score (log-odds, or the rules' ordinal score)."""
        return np.asarray(self.estimator.decision_function(self.spec.frame(frame)), dtype=float)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``student_id, as_of, score`` (calibrated probability), ``raw`` (ranking score)."""
        raw = self.raw_score(frame)
        return pd.DataFrame({"student_id": frame["student_id"].to_numpy(), "as_of": frame["as_of"].to_numpy(),
                             "score": self.calibrator.predict(raw), "raw": raw}, index=frame.index)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contribution to the raw score for each row (SHAP, coefficient or rule terms)."""
        values = self.estimator.contributions(self.spec.frame(frame))
        return pd.DataFrame(values, columns=list(self.spec.names), index=frame.index)
