"""The training window read from a store, batch by batch (issue 17): ``riskmodel train --data STORE``.

Training (:func:`riskmodel.models.training.train_model`) first finds every as-of date's usable rows and
their labels, chooses the rows it will learn from (:func:`riskmodel.models.sampling.plan_rows`, under
``model.max_fit_rows`` and ``model.max_memory_gb``), and only then builds the features of the chosen
rows into one float32 matrix. From a store the same is done in two passes over batches of schools of
about ``data.batch_students`` register students (:meth:`riskmodel.data.store.Store.batches`):

1. each batch's register, outcomes and counselling: per as-of date, the register positions and labels
   of its usable rows (five bytes a row: int32 and int8);
2. each batch whole again: its features are prepared and the chosen rows of each date are written
   into their places in the matrix.

Positions are those of the whole register in the store's validated order, the order the whole data
is loaded in, so the rows, their order, the negatives drawn and the model are those of training on the
whole data (tests/test_models_store.py). Memory is one batch's records, the labels and the matrix:
not the register's records, which at two million students would not fit one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError

__all__ = ["StoreWindow", "store_window"]

# what the labels are built from (riskmodel.labels.build_labels): the first pass reads nothing else
_LABEL_TABLES = ("students", "outcomes", "counselling")


@dataclass
class StoreWindow:
    """The usable rows of each as-of date in a store (see the module docstring); ``build`` as
    :class:`riskmodel.models.training._Window`'s."""

    path: Path
    settings: Settings
    batches: list[tuple[str, str]]
    ids: np.ndarray  # the register's student IDs in validated order: what ``positions`` index
    as_of: list[pd.Timestamp]
    positions: list[np.ndarray]  # int32
    labels: list[np.ndarray]  # int8
    enrolled_rows: int

    @property
    def names(self) -> list[str]:
        """The feature columns, in catalogue order."""
        from riskmodel.features.catalogue import catalogue

        return catalogue(self.settings).index.tolist()

    def build(self, chosen: list[np.ndarray] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The rows ``chosen`` (per date; None: all) as ``student_id, as_of, label`` and their float32 features,
        date by date in register order, written batch by batch into one matrix."""
        from riskmodel.data.store import Store
        from riskmodel.features.build import prepare
        from riskmodel.models.training import window_rows

        chosen = chosen if chosen is not None else [np.arange(len(p)) for p in self.positions]
        picked = [p[c] for p, c in zip(self.positions, chosen)]
        sizes = np.array([len(p) for p in picked], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        names = self.names
        matrix = np.empty((int(sizes.sum()), len(names)), dtype=np.float32)
        index = pd.Index(self.ids)
        local = np.full(len(self.ids), -1, dtype=np.int64)  # register position -> position in the batch
        with Store(self.path) as store:
            for first, last in self.batches:
                source = prepare(store.schools_between(first, last), settings=self.settings)
                where = _positions(index, source.register["student_id"])
                local[where] = np.arange(len(where))
                for d, rows, start in zip(self.as_of, picked, starts):
                    here = local[rows]
                    mine = np.flatnonzero(here >= 0)
                    if len(mine):  # a date without a chosen row of this batch is not computed
                        block = np.empty((len(mine), len(names)), dtype=np.float32)
                        source.fill(d, here[mine], block)
                        matrix[start + mine] = block
                local[where] = -1
                del source
        return window_rows(self, chosen), pd.DataFrame(matrix, columns=list(names), copy=False)


def _positions(index: pd.Index, ids: pd.Series) -> np.ndarray:
    """The register positions of a batch's students (every one is in the register it was read from)."""
    where = index.get_indexer(ids.astype(str))
    if (where < 0).any():  # the store's batches are parts of its register: a store changed while read
        raise ContractError("the store changed while training read it (a batch holds students its register did "
                            "not); let `riskmodel validate --store` finish, then train again.")
    return where


def store_window(path: str | Path, dates, *, settings: Settings, data_end: pd.Timestamp) -> StoreWindow:
    """Pass 1 (see the module docstring): the usable rows and labels of each of ``dates`` in the store ``path``,
    labels complete only up to ``data_end`` (the whole store's, from its digest)."""
    from riskmodel.data.store import Store
    from riskmodel.features.build import as_of_list, enrolled_mask, enrolment
    from riskmodel.labels import build_labels

    dates = as_of_list(dates)
    found = {d: ([], []) for d in dates}
    enrolled_rows = 0
    with Store(path) as store:
        ids = store.table("students", ["student_id"])["student_id"].astype(str).to_numpy()
        index = pd.Index(ids)
        batches = store.batches(settings.data.batch_students)
        for first, last in batches:
            batch = store.schools_between(first, last, tables=_LABEL_TABLES)
            batch_ids, enrolled_day, exit_day = enrolment(batch.table("students"))
            where = _positions(index, pd.Series(batch_ids))
            for d in dates:
                enrolled = np.flatnonzero(enrolled_mask(enrolled_day, exit_day, d))
                enrolled_rows += len(enrolled)
                if not len(enrolled):
                    continue
                frame = pd.DataFrame({"student_id": batch_ids[enrolled],
                                      "as_of": np.full(len(enrolled), d.to_datetime64())})
                lab = build_labels(batch, frame, settings=settings, data_end=data_end)
                usable = lab["usable"].to_numpy(dtype=bool)
                # compact (a register below 2**31 students; labels 0/1): ~100 million rows at 2M x 48 dates
                found[d][0].append(where[enrolled[usable]].astype(np.int32))
                found[d][1].append(lab["label"].to_numpy(dtype=np.int8)[usable])
    as_of, positions, labels = [], [], []
    for d in dates:
        parts, ys = found[d]
        if not parts or not sum(len(p) for p in parts):
            continue
        pos, y = np.concatenate(parts), np.concatenate(ys)
        order = np.argsort(pos, kind="stable")  # register order, as the whole data has them
        as_of.append(d)
        positions.append(pos[order])
        labels.append(y[order])
    return StoreWindow(path=Path(path), settings=settings, batches=batches, ids=ids, as_of=as_of,
                       positions=positions, labels=labels, enrolled_rows=enrolled_rows)
