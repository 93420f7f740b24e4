"""Write a feature matrix to a file (the ``riskmodel features`` verb), atomically and owner-only.

Example
-------
>>> from riskmodel.config import Settings
>>> write_feature_matrix("data/demo", "2026-03-01", "features.parquet", settings=Settings())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ConfigError
from riskmodel.features.build import build_features
from riskmodel.outputs import atomic_path

__all__ = ["write_feature_matrix", "open_data"]

log = logging.getLogger(__name__)

SUFFIXES = (".parquet", ".csv")


def open_data(data: str | Path, *, settings: Settings):
    """A Dataset from a data folder (loaded and validated) or a DuckDB store file."""
    data = Path(data)
    if data.is_file() and data.suffix.lower() in (".duckdb", ".db"):
        from riskmodel.data.store import open_store

        return open_store(data)
    from riskmodel.data import load_dataset

    return load_dataset(data, settings=settings)


def write_feature_matrix(data: str | Path, as_of, out: str | Path, *, settings: Settings) -> pd.DataFrame:
    """Build the features of ``as_of`` from ``data`` and write them to ``out`` (.parquet or .csv).

    Raises
    ------
    ConfigError
        When ``out`` has another suffix (checked before any work is done).
    """
    out = Path(out)
    if out.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"{out}: write the matrix as .parquet or .csv (got {out.suffix or 'no suffix'!r}).")
    dataset = open_data(data, settings=settings)
    frame = build_features(dataset, [as_of], settings=settings)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8-sig", date_format="%Y-%m-%d")
    log.info("feature matrix written: %d rows x %d columns", len(frame), frame.shape[1])
    return frame
