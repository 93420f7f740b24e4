"""Outcome labels: did a crisis outcome follow the as-of date within the horizon?

``label`` is 1 when the student has any outcome of ``settings.labels.outcome_events`` dated in
``(as_of, as_of + horizon_days]``. The window is open at as-of: an outcome on the as-of day itself
is already known on that day, so it is a feature (``riskmodel.features.history``), never a label.

Students who leave (``exit_date``) before the window closes are *censored*: the part of the window
while they were enrolled is observed, the rest is not. An outcome seen before the exit is a
positive like any other. A censored student with no outcome seen is an unknown, not a known
negative; with ``settings.labels.exclude_censored_negatives`` (default) ``usable`` is False for
these rows and training leaves them out (they are reported, not hidden). The same holds when the
data end (``data_end``, the last day the centre's records cover) falls inside the window.

``counselling_after`` counts counselling contacts in the label window. It is for the audit only
(a student who was seen and helped may have no outcome *because* of the warning: the intervention
bias of docs/features.md) and must never become a feature.

Example
-------
>>> import pandas as pd
>>> from riskmodel.config import Settings
>>> from riskmodel.data import Dataset
>>> students = pd.DataFrame({"student_id": ["s1", "s2"], "enrollment_date": pd.to_datetime(["2024-09-01"] * 2),
...                          "exit_date": pd.to_datetime([None, "2025-04-01"])})
>>> outcomes = pd.DataFrame({"student_id": ["s1"], "date": pd.to_datetime(["2025-03-10"]), "event": ["self_harm"]})
>>> index = pd.DataFrame({"student_id": ["s1", "s2"], "as_of": pd.to_datetime(["2025-03-01"] * 2)})
>>> build_labels(Dataset(tables={"students": students, "outcomes": outcomes}), index,
...              settings=Settings())[["label", "censored", "usable"]].values.tolist()
[[1, False, True], [0, True, False]]
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError
from riskmodel.features.timeline import day_number
from riskmodel.vocab import DATED_BY

__all__ = ["build_labels", "LABEL_COLUMNS"]

log = logging.getLogger(__name__)

LABEL_COLUMNS = ("student_id", "as_of", "label", "label_date_days", "censored", "window_complete",
                 "observed_days", "usable", "counselling_after")

_CONTACT_KINDS = ("session", "group", "interview", "follow_up", "referral", "hospital")


def _events_between(ids: np.ndarray, lo: np.ndarray, hi: np.ndarray, ev_ids: np.ndarray,
                    ev_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query row: count of events of the same student with lo < day <= hi, and the first such day."""
    n = len(ids)
    if len(ev_ids) == 0 or n == 0:
        return np.zeros(n, dtype=np.int64), np.full(n, np.nan)
    cat = pd.Index(pd.unique(np.concatenate([ev_ids, ids])))
    ev_code, q_code = cat.get_indexer(ev_ids), cat.get_indexer(ids)
    span = np.int64(1 << 22)
    offset = np.int64(1 << 21)
    key = ev_code.astype(np.int64) * span + (ev_days + offset)
    order = np.argsort(key, kind="stable")
    key, days_sorted = key[order], ev_days[order]
    q = q_code.astype(np.int64) * span + offset
    first = np.searchsorted(key, q + lo, side="right")
    last = np.searchsorted(key, q + hi, side="right")
    count = np.maximum(last - first, 0)
    first_day = np.where(count > 0, days_sorted[np.minimum(first, len(key) - 1)], np.nan)
    return count, first_day


def build_labels(dataset, index: pd.DataFrame, *, settings: Settings, data_end=None) -> pd.DataFrame:
    """Labels for the (student_id, as_of) pairs of ``index``.

    Parameters
    ----------
    dataset
        A :class:`riskmodel.data.Dataset` with ``students`` and (for any positive) ``outcomes``.
    index
        Frame with ``student_id`` and ``as_of`` (e.g. the first two columns of a feature matrix).
    settings
        ``settings.labels``: ``horizon_days``, ``outcome_events``, ``exclude_censored_negatives``.
    data_end
        Last day the records cover. ``None``: the latest date in any dated table. A window that
        runs past it is not complete (``window_complete`` False).

    Returns
    -------
    DataFrame
        In the order of ``index``: ``student_id, as_of``; ``label`` (int 0/1); ``label_date_days``
        (days from as-of to the first outcome in the window, NaN if none); ``censored`` (the
        student left before the window closed and no outcome was seen); ``window_complete`` (the
        data cover the whole window); ``observed_days``; ``usable`` (fit to train or evaluate on);
        ``counselling_after`` (contacts in the window: audit only, never a feature).
    """
    for col in ("student_id", "as_of"):
        if col not in index.columns:
            raise ContractError(f"label index: column {col!r} is missing; pass the feature matrix's "
                                f"student_id and as_of columns (found {sorted(map(str, index.columns))}).")
    lab = settings.labels
    horizon = int(lab.horizon_days)
    ids = index["student_id"].astype(str).to_numpy()
    as_of = day_number(index["as_of"])
    window_end = as_of + horizon

    outcomes = dataset.table("outcomes")
    unknown = sorted(set(lab.outcome_events) - set(dataset_outcome_kinds()))
    if unknown:
        raise ContractError(f"settings labels.outcome_events: {unknown} are not outcome events of the data contract "
                            f"({sorted(dataset_outcome_kinds())}).")
    chosen = outcomes[outcomes["event"].astype(str).isin(lab.outcome_events) & outcomes["date"].notna()]
    count, first_day = _events_between(ids, as_of, window_end, chosen["student_id"].astype(str).to_numpy(),
                                       day_number(chosen["date"]) if len(chosen) else np.zeros(0, np.int64))

    students = dataset.table("students")
    exits = pd.Series(
        pd.to_datetime(students["exit_date"]).to_numpy() if "exit_date" in students.columns else pd.NaT,
        index=students["student_id"].astype(str).to_numpy(),
    )
    exit_day = day_number(exits.reindex(ids).to_numpy()).astype(np.float64)
    exit_day[pd.isna(exits.reindex(ids)).to_numpy()] = np.nan

    end = _data_end(dataset) if data_end is None else int(day_number([data_end])[0])
    # an outcome after the exit date is outside the school's knowledge: the observed part ends at exit
    observed_end = np.fmin(np.fmin(window_end.astype(np.float64), exit_day), float(end))
    count_obs, first_obs = _events_between(ids, as_of, observed_end.astype(np.int64), chosen["student_id"].astype(str)
                                           .to_numpy(), day_number(chosen["date"]) if len(chosen) else np.zeros(0, np.int64))
    label = (count_obs > 0).astype(np.int64)
    left_early = exit_day < window_end
    censored = left_early & (label == 0)
    complete = window_end <= end
    usable = complete | (label == 1)
    if lab.exclude_censored_negatives:
        usable &= ~censored

    couns = dataset.table("counselling")
    couns = couns[couns["kind"].astype(str).isin(_CONTACT_KINDS) & couns["date"].notna()]
    contacts, _ = _events_between(ids, as_of, window_end, couns["student_id"].astype(str).to_numpy(),
                                  day_number(couns["date"]) if len(couns) else np.zeros(0, np.int64))
    if (count > count_obs).any():
        log.info("labels: %d windows have outcomes recorded after the student's exit or the data end; not counted",
                 int((count > count_obs).sum()))
    out = pd.DataFrame({
        "student_id": ids,
        "as_of": pd.to_datetime(index["as_of"]).dt.normalize().to_numpy(),
        "label": label,
        "label_date_days": first_obs - as_of,
        "censored": censored,
        "window_complete": complete,
        "observed_days": np.clip(observed_end - as_of, 0, None),
        "usable": usable,
        "counselling_after": contacts.astype(np.int64),
    })
    log.info("labels: %d rows, %d positive, %d censored, %d incomplete windows", len(out), int(label.sum()),
             int(censored.sum()), int((~complete).sum()))
    return out


def dataset_outcome_kinds() -> list[str]:
    """Outcome events of the data contract."""
    from riskmodel.data import contract

    return list(contract()["enums"]["outcome_event"])


def records_end(dataset) -> pd.Timestamp | None:
    """Latest date in any dated table the dataset holds (how far the records reach), or None."""
    latest = []
    for name, col in DATED_BY.items():
        if dataset.has(name):
            values = dataset.table(name)[col]
            if values.notna().any():
                latest.append(pd.Timestamp(values.max()))
    return max(latest) if latest else None


def _data_end(dataset) -> int:
    """:func:`records_end` as a day number (no records: no end)."""
    end = records_end(dataset)
    return np.iinfo(np.int32).max if end is None else int(day_number([end])[0])
