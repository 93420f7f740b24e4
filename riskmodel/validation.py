"""Temporal validation: train on as-of dates whose label windows close before the test dates.

A label at as-of date ``d`` looks at outcomes in ``(d, d + horizon]``. A training row whose window
reaches past the first test date has learnt from the very period the test is meant to be unseen,
so its score on the test is optimistic. Here the gap is a property of the split, not advice: a
:class:`TemporalSplit` cannot be constructed with a training date ``d`` for which
``d + horizon_days > min(test dates)``; it raises :class:`TemporalLeakageError`. Dates that fall in
the gap are left out of both sides and listed in ``dropped``.

The same rule splits a training period once more into an earlier *fit* part and a later part for
early stopping or calibration (:func:`later_fold`).

Example
-------
>>> dates = pd.date_range("2024-01-01", periods=12, freq="MS")
>>> split = temporal_split(dates, test_start="2024-10-01", horizon_days=90)
>>> [d.strftime("%m") for d in split.train][-1], [d.strftime("%m") for d in split.test]
('07', ['10', '11', '12'])
>>> [d.strftime("%m") for d in split.dropped]
['08', '09']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmodel.errors import ConfigError, RiskmodelError

__all__ = ["TemporalSplit", "TemporalLeakageError", "check_gap", "temporal_split", "rolling_origin",
           "later_fold", "split_frame", "temporal_splits"]


class TemporalLeakageError(RiskmodelError, ValueError):
    """A training label window reaches into the test period."""


def _dates(values) -> list[pd.Timestamp]:
    if isinstance(values, (str, pd.Timestamp, np.datetime64)) or not isinstance(values, Iterable):
        values = [values]
    idx = pd.DatetimeIndex(pd.to_datetime(list(values))).normalize()
    return sorted(set(idx))


def check_gap(train_dates, test_dates, *, horizon_days: int) -> None:
    """Raise :class:`TemporalLeakageError` unless every train window closes by the first test date.

    A train as-of date ``d`` is allowed when ``d + horizon_days <= min(test_dates)``: its label
    window ``(d, d + horizon]`` ends on or before the first test as-of date, whose own window starts
    the day after it.
    """
    train, test = _dates(train_dates), _dates(test_dates)
    if not train or not test:
        return
    first_test = test[0]
    limit = first_test - pd.Timedelta(days=int(horizon_days))
    late = [d for d in train if d > limit]
    if late:
        raise TemporalLeakageError(
            f"training as-of dates {[d.date().isoformat() for d in late]} have label windows of {horizon_days} days "
            f"that close after the first test date {first_test.date().isoformat()}; train only on dates up to "
            f"{limit.date().isoformat()} (use riskmodel.validation.temporal_split)."
        )


@dataclass(frozen=True)
class TemporalSplit:
    """Train and test as-of dates separated by at least one label horizon (checked on creation).

    Attributes
    ----------
    train, test
        Sorted as-of dates.
    horizon_days
        The label horizon the gap was checked against.
    dropped
        Dates left out because their label windows would reach into the test period.
    """

    train: tuple[pd.Timestamp, ...]
    test: tuple[pd.Timestamp, ...]
    horizon_days: int
    dropped: tuple[pd.Timestamp, ...] = field(default=())

    def __post_init__(self) -> None:
        check_gap(self.train, self.test, horizon_days=self.horizon_days)
        overlap = set(self.train) & set(self.test)
        if overlap:
            raise TemporalLeakageError(f"as-of dates {sorted(d.date().isoformat() for d in overlap)} are in both "
                                       "train and test.")

    def train_mask(self, as_of: pd.Series) -> np.ndarray:
        """Rows of a frame (by its ``as_of`` column) that belong to train."""
        return pd.to_datetime(as_of).dt.normalize().isin(self.train).to_numpy()

    def test_mask(self, as_of: pd.Series) -> np.ndarray:
        """Rows of a frame (by its ``as_of`` column) that belong to test."""
        return pd.to_datetime(as_of).dt.normalize().isin(self.test).to_numpy()


def temporal_split(as_of_dates, *, test_start, horizon_days: int, test_end=None) -> TemporalSplit:
    """One split: test on dates from ``test_start`` (to ``test_end``), train on dates whose windows close by it.

    Raises
    ------
    ConfigError
        When either side would be empty.
    """
    dates = _dates(as_of_dates)
    start = pd.Timestamp(test_start).normalize()
    end = pd.Timestamp(test_end).normalize() if test_end is not None else None
    limit = start - pd.Timedelta(days=int(horizon_days))
    test = [d for d in dates if d >= start and (end is None or d <= end)]
    train = [d for d in dates if d <= limit]
    dropped = [d for d in dates if limit < d < start]
    if not test:
        raise ConfigError(f"no as-of date on or after the test start {start.date()}; the last is "
                          f"{dates[-1].date() if dates else 'none'}.")
    if not train:
        raise ConfigError(f"no training as-of date on or before {limit.date()} ({horizon_days} days before the test "
                          f"start {start.date()}); choose a later test start or add earlier as-of dates.")
    return TemporalSplit(tuple(train), tuple(test), int(horizon_days), tuple(dropped))


def rolling_origin(as_of_dates, *, horizon_days: int, min_train_dates: int = 3, test_size: int = 1,
                   step: int = 1) -> Iterator[TemporalSplit]:
    """Rolling-origin evaluation: each block of ``test_size`` dates is tested on a model trained on
    every earlier date whose window closes before the block (an expanding window).

    Blocks start at the first date with at least ``min_train_dates`` allowed training dates and
    move ``step`` dates at a time.
    """
    dates = _dates(as_of_dates)
    for i in range(0, len(dates), step):
        block = dates[i:i + test_size]
        if len(block) < test_size:
            break
        limit = block[0] - pd.Timedelta(days=int(horizon_days))
        train = [d for d in dates if d <= limit]
        if len(train) < min_train_dates:
            continue
        dropped = [d for d in dates if limit < d < block[0]]
        yield TemporalSplit(tuple(train), tuple(block), int(horizon_days), tuple(dropped))


temporal_splits = rolling_origin  # the name docs/architecture.md uses


def later_fold(train_dates, *, horizon_days: int, later_dates: int | None = None,
               fraction: float = 0.2) -> TemporalSplit:
    """Split training dates into an earlier fit part (``train``) and a later part (``test``).

    The later part (for early stopping or calibration) takes the last ``later_dates`` dates, or
    the last ``fraction`` of them (at least one); fit dates keep the same gap before it.

    Raises
    ------
    ConfigError
        When no fit date would remain before the gap.
    """
    dates = _dates(train_dates)
    k = later_dates if later_dates is not None else max(1, int(round(len(dates) * fraction)))
    if k < 1 or k >= len(dates):
        raise ConfigError(f"later_fold: cannot hold out {k} of {len(dates)} as-of dates.")
    later = dates[-k:]
    limit = later[0] - pd.Timedelta(days=int(horizon_days))
    fit = [d for d in dates if d <= limit]
    if not fit:
        raise ConfigError(f"later_fold: no as-of date on or before {limit.date()} is left to fit on before the later "
                          f"fold starting {later[0].date()}; give more as-of dates or a smaller later fold.")
    dropped = [d for d in dates if limit < d < later[0]]
    return TemporalSplit(tuple(fit), tuple(later), int(horizon_days), tuple(dropped))


def split_frame(frame: pd.DataFrame, split: TemporalSplit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of ``frame`` (with an ``as_of`` column) on the train and on the test side."""
    return frame.loc[split.train_mask(frame["as_of"])], frame.loc[split.test_mask(frame["as_of"])]
