"""Drift: has the population moved away from what the model learned on?

The population stability index (PSI) of a variable compares its distribution now (``actual``) with
its distribution in the training period (``expected``)::

    PSI = sum over bins b of (a_b - e_b) * ln(a_b / e_b)

where ``a_b`` and ``e_b`` are the shares of rows in bin ``b``. Conventional reading: below 0.1 no
material shift, 0.1-0.25 moderate, above 0.25 (``AuditSettings.psi_flag``) a shift worth acting on.

Binning, documented because the number depends on it
----------------------------------------------------
* numeric variables: the inner edges are the ``1/k, ..., (k-1)/k`` quantiles of the *training*
  values (``k = AuditSettings.psi_bins``, default 10; tied edges merged), with open outer bins, so
  each bin holds about a tenth of the training rows and a value beyond the training range still
  falls in a bin; a value equal to an edge goes to the upper bin;
* a variable with at most ``k`` distinct training values (flags, counts, categories, text) gets one
  bin per training value and one ``other`` bin for values not seen in training;
* missing values (NaN, None) are always their own bin: a source that stops arriving is drift;
* a bin empty on one side would make the logarithm infinite; shares are floored at ``1e-4``
  (and the floor is reported with the result) so one empty bin reads as a large but finite shift.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> train = rng.normal(size=5000)
>>> round(psi(train, rng.normal(size=5000)), 2) < 0.02, psi(train, rng.normal(1.0, size=5000)) > 0.25
(True, True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PSI_FLOOR", "psi", "psi_table"]

PSI_FLOOR = 1e-4  # smallest share a bin counts with: keeps an empty bin finite


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_bins).astype(np.float64)
    return np.maximum(counts / max(counts.sum(), 1.0), PSI_FLOOR)


def _codes(expected: pd.Series, actual: pd.Series, n_bins: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin codes of both samples; the last code is the missing-value bin."""
    numeric = pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(expected) \
        and str(expected.dtype) != "boolean"
    if numeric:
        e_all = expected.to_numpy(dtype=np.float64, na_value=np.nan)
        a_all = pd.to_numeric(actual, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        e_missing, a_missing = np.isnan(e_all), np.isnan(a_all)
        e_num = e_all[~e_missing]
        edges = np.unique(np.quantile(e_num, np.linspace(0.0, 1.0, n_bins + 1)[1:-1])) if len(e_num) else np.zeros(0)
        a_num = a_all[~a_missing]
        # tied quantiles hint at few distinct values: then one bin per value (checked, not assumed)
        values = np.unique(e_num) if len(edges) < n_bins - 1 else None
        if values is None or len(values) > n_bins:
            e_code = np.searchsorted(edges, e_num, side="right")
            a_code = np.searchsorted(edges, a_num, side="right")
            return _with_missing(e_code, a_code, len(edges) + 1, e_missing, a_missing)
        e_code = np.searchsorted(values, e_num)
        position = np.minimum(np.searchsorted(values, a_num), max(len(values) - 1, 0))
        seen = values[position] == a_num if len(values) else np.zeros(len(a_num), dtype=bool)
        a_code = np.where(seen, position, len(values))  # unseen in training: the 'other' bin
        return _with_missing(e_code, a_code, len(values) + 1, e_missing, a_missing)
    e_missing, a_missing = expected.isna().to_numpy(), actual.isna().to_numpy()
    e_values, a_values = expected[~e_missing], actual[~a_missing]
    categories = pd.Index(pd.unique(e_values))
    e_code = categories.get_indexer(e_values)
    a_code = categories.get_indexer(a_values)
    a_code = np.where(a_code < 0, len(categories), a_code)  # unseen in training: the 'other' bin
    return _with_missing(e_code, a_code, len(categories) + 1, e_missing, a_missing)


def _with_missing(e_code: np.ndarray, a_code: np.ndarray, n_value_bins: int, e_missing: np.ndarray,
                  a_missing: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    missing_code = n_value_bins
    e_all = np.full(len(e_missing), missing_code, dtype=np.int64)
    a_all = np.full(len(a_missing), missing_code, dtype=np.int64)
    e_all[~e_missing], a_all[~a_missing] = e_code, a_code
    return e_all, a_all, n_value_bins + 1


def psi(expected: pd.Series | np.ndarray, actual: pd.Series | np.ndarray, *, n_bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (binning: module docstring).

    Example
    -------
    >>> psi(pd.Series([0, 0, 1, 1]), pd.Series([0, 1, 1, 1])) > 0
    True
    """
    expected, actual = pd.Series(expected), pd.Series(actual)
    if expected.notna().sum() == 0 and actual.notna().sum() == 0:
        return 0.0
    e_code, a_code, total_bins = _codes(expected, actual, n_bins)
    e, a = _shares(e_code, total_bins), _shares(a_code, total_bins)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_table(reference: pd.DataFrame, current: pd.DataFrame, *, columns: list[str], n_bins: int = 10,
              flag: float = 0.25, period_column: str = "as_of", exempt: tuple[str, ...] = ()) -> pd.DataFrame:
    """PSI of each column, training period against the whole audited period (``period == "all"``) and
    against each as-of date of ``current``.

    Parameters
    ----------
    reference
        Rows of the training period (its as-of dates pooled).
    current
        Rows of the audited period, with ``period_column``.
    columns
        Variables to compare (features and ``score``).
    n_bins, flag
        Quantile bins and the PSI above which a variable is flagged.
    exempt
        Variables never flagged (they are reported): calendar features differ from month to month by
        design, so a single month always "drifts" from a year of training months.

    Returns
    -------
    DataFrame ``variable, period, psi, missing_reference, missing_current, flagged``.

    Example
    -------
    >>> ref = pd.DataFrame({"x": np.arange(100.0)})
    >>> cur = pd.DataFrame({"as_of": ["2026-03-01"] * 100, "x": np.arange(100.0) + 50})
    >>> psi_table(ref, cur, columns=["x"])[["variable", "period", "flagged"]].values.tolist()
    [['x', 'all', True], ['x', '2026-03-01', True]]
    """
    period_codes, periods = pd.factorize(current[period_column], sort=True)
    labels = ["all"] + [p if isinstance(p, str) else pd.Timestamp(p).date().isoformat() for p in periods]
    n_periods = len(periods) + 1
    parts = []
    for column in columns:
        e_code, a_code, total_bins = _codes(reference[column], current[column], n_bins)
        e = _shares(e_code, total_bins)
        per_period = np.bincount(period_codes * total_bins + a_code, minlength=len(periods) * total_bins)
        counts = np.vstack([np.bincount(a_code, minlength=total_bins),
                            per_period.reshape(len(periods), total_bins)]).astype(np.float64)
        shares = np.maximum(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0), PSI_FLOOR)
        values = np.sum((shares - e) * np.log(shares / e), axis=1)
        missing = current[column].isna().to_numpy()
        missing_by_period = np.r_[missing.mean() if len(missing) else np.nan,
                                  np.bincount(period_codes, weights=missing, minlength=len(periods))
                                  / np.maximum(np.bincount(period_codes, minlength=len(periods)), 1)]
        parts.append(pd.DataFrame({"variable": column, "period": labels, "psi": values,
                                   "missing_reference": float(reference[column].isna().mean()),
                                   "missing_current": missing_by_period,
                                   "flagged": (values > flag) & (column not in exempt)}))
    if not parts:
        return pd.DataFrame(columns=["variable", "period", "psi", "missing_reference", "missing_current", "flagged"])
    assert all(len(part) == n_periods for part in parts)
    return pd.concat(parts, ignore_index=True)
