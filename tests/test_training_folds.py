"""Training cuts its folds with riskmodel.validation's one temporal-split implementation (issue 12)."""

from __future__ import annotations

import pandas as pd
import pytest

import riskmodel.models.training as training
import riskmodel.validation as validation
from riskmodel.errors import ContractError
from riskmodel.models.training import time_folds

DATES = list(pd.date_range("2020-01-01", periods=40, freq="MS"))


@pytest.mark.parametrize(("horizon", "calibration", "holdout"), [(90, 6, 6), (365, 3, 3), (30, 1, 0), (180, 2, 12)])
def test_training_folds_are_validations_splits(monkeypatch, horizon, calibration, holdout):
    calls = []
    for name in ("temporal_split", "later_fold"):
        real = getattr(validation, name)
        monkeypatch.setattr(training, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    folds = time_folds(DATES, horizon_days=horizon, calibration_months=calibration, holdout_months=holdout)
    assert calls == (["temporal_split"] if holdout else []) + ["later_fold"]
    before = DATES
    if holdout:
        outer = validation.temporal_split(DATES, test_start=DATES[-holdout], horizon_days=horizon)
        assert folds.holdout == list(outer.test) == DATES[-holdout:]
        before = list(outer.train)
    inner = validation.later_fold(before, horizon_days=horizon, later_dates=calibration)
    assert (folds.fit, folds.calibration) == (list(inner.train), list(inner.test))
    # no label window of a fold reaches into the next one
    validation.check_gap(folds.fit, folds.calibration, horizon_days=horizon)
    validation.check_gap(folds.fit + folds.calibration, folds.holdout, horizon_days=horizon)


@pytest.mark.parametrize(("calibration", "holdout"), [(6, 6), (0, 2), (2, 10), (12, 0)])
def test_too_few_dates_for_the_folds_is_one_clear_error(calibration, holdout):
    with pytest.raises(ContractError, match="too few for a fit fold"):
        time_folds(DATES[:10], horizon_days=365, calibration_months=calibration, holdout_months=holdout)
