"""riskmodel.models: rules baseline, logistic regression, LightGBM, calibration, registry, training.

Example
-------
>>> from riskmodel.models import RulesBaseline, LogisticRisk, LightGBMRisk, ProbabilityCalibrator
>>> # model = train_model(dataset, "2026-03-01", settings=settings); save(model, "models/2026-03")
>>> # model = load_model("models/2026-03", features=feature_frame)
"""

from riskmodel.models.calibration import ProbabilityCalibrator
from riskmodel.models.gbm import LightGBMRisk
from riskmodel.models.logistic import LogisticRisk
from riskmodel.models.matrix import FeatureSpec
from riskmodel.models.metrics import evaluate, expected_calibration_error, recall_at_capacity
from riskmodel.models.pipeline import RiskModel
from riskmodel.models.registry import load, load_model, save
from riskmodel.models.rules import RulesBaseline
from riskmodel.models.training import monthly_as_of_dates, time_folds, train_model

__all__ = ["RulesBaseline", "LogisticRisk", "LightGBMRisk", "ProbabilityCalibrator", "FeatureSpec", "RiskModel",
           "save", "load", "load_model", "train_model", "monthly_as_of_dates", "time_folds", "evaluate",
           "expected_calibration_error", "recall_at_capacity"]
