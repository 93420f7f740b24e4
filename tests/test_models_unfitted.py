"""Every estimator follows scikit-learn's contract when unfitted: NotFittedError, never AttributeError."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from riskmodel.models.calibration import ProbabilityCalibrator
from riskmodel.models.gbm import LightGBMRisk
from riskmodel.models.logistic import LogisticRisk
from riskmodel.models.rules import RulesBaseline

X = pd.DataFrame({"phq9_total_latest": [1.0, 12.0], "phq9_item9_latest": [0.0, 1.0]})


@pytest.mark.parametrize(("estimator", "methods"), [
    (LightGBMRisk(), ["decision_function", "predict_proba", "contributions"]),
    (LogisticRisk(), ["decision_function", "predict_proba", "contributions"]),
    (RulesBaseline(), ["fired", "decision_function", "predict_proba", "contributions"]),
])
def test_an_unfitted_model_raises_not_fitted(estimator, methods):
    for name in methods:
        with pytest.raises(NotFittedError):
            getattr(clone(estimator), name)(X)
    with pytest.raises(NotFittedError):
        clone(estimator).to_dict()


def test_unfitted_state_exports_raise_not_fitted():
    with pytest.raises(NotFittedError):
        LightGBMRisk().model_text()
    with pytest.raises(NotFittedError):
        LogisticRisk().coefficients()
    calibrator = ProbabilityCalibrator()
    for call in (lambda: calibrator.predict(np.r_[0.1]), lambda: calibrator.predict_interval(np.r_[0.1]),
                 calibrator.to_dict):
        with pytest.raises(NotFittedError):
            call()
    assert calibrator.has_interval is False
