"""What ``riskmodel train`` does, as one function (the CLI verb only parses options).

Example
-------
>>> # model = train_command("data/", "2026-03-01", "models/2026-03", settings=load_settings(None))
"""

from __future__ import annotations

import logging
from pathlib import Path

from riskmodel.config import Settings
from riskmodel.errors import PreflightError
from riskmodel.models.pipeline import RiskModel
from riskmodel.models.registry import save
from riskmodel.models.training import train_model

__all__ = ["train_command"]

log = logging.getLogger(__name__)


def train_command(data: str | Path, until, out: str | Path, *, settings: Settings, kind: str | None = None) -> RiskModel:
    """Load ``data`` (folder or DuckDB store), train up to ``until``, save to the new folder ``out``.

    A store is read batch by batch of schools, never whole (:mod:`riskmodel.models.store_window`): the
    same model as from the whole data, in the memory of one batch plus the training matrix.

    Raises
    ------
    PreflightError
        ``out`` exists already (checked before the long work starts).
    ContractError
        The data cannot be used, or it holds too few months for the folds.
    """
    from riskmodel.data.store import Store, is_store
    from riskmodel.features.export import open_data

    out = Path(out)
    if out.exists():
        raise PreflightError(f"{out}: already exists; a saved model is never overwritten. Choose a new --out folder.")
    if is_store(data):
        with Store(data) as store:
            digest = store.digest()
        model = train_model(digest, until, settings=settings, kind=kind, store=data)
    else:
        model = train_model(open_data(data, settings=settings), until, settings=settings, kind=kind)
    save(model, out)
    return model
