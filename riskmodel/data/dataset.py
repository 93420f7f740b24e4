"""The validated data every later stage reads: one DataFrame per contract table.

A :class:`Dataset` is what ``riskmodel.data.load_dataset`` returns and what the store reopens. Later
stages take a ``Dataset`` and never read files themselves, so a run records exactly what it read
(``checksum`` and ``files``).

Canonical form of the tables (whatever the source format or headers were):

* column names are the contract's English names (riskmodel/data/contract.yaml);
* ``student_id`` and other text columns are Python ``str`` (object dtype);
* dates are ``datetime64[ns]``, normalised to midnight, no time zone;
* enums are their canonical spelling (``F``/``M``/``unknown``, ``absent_unexcused`` ...);
* booleans are pandas ``boolean`` (nullable: a flag the register does not hold is ``<NA>``);
* ``screenings`` items ``item_1 ... item_100`` are ``float32``, ``NaN`` past an instrument's length;
* ``students`` carries ``pseudonym`` (keyed HMAC, riskmodel.data.pseudonym) and never ``name``.

An optional table the centre did not hand in is absent from ``tables``; ``table(name)`` then gives an
empty frame with the contract's columns, so a feature family reads "no records" rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import pandas as pd

from riskmodel.yamltext import safe_load as yaml_safe_load

__all__ = ["Dataset", "contract"]


@lru_cache(maxsize=1)
def contract() -> dict:
    """The data contract as data (riskmodel/data/contract.yaml)."""
    return yaml_safe_load(resources.files(__package__).joinpath("contract.yaml").read_text(encoding="utf-8"))


def _empty_table(name: str) -> pd.DataFrame:
    dtypes = {"date": "datetime64[ns]", "bool": "boolean", "int": "Int64", "number": "float64"}
    columns = contract()["tables"][name]["columns"]
    return pd.DataFrame({col: pd.Series(dtype=dtypes.get(spec["type"], "object")) for col, spec in columns.items()
                         if col != "name"})


@dataclass(frozen=True)
class Dataset:
    """Validated tables of one data directory, with what was read and what was rejected.

    Attributes
    ----------
    tables
        Contract table name -> canonical DataFrame (see the module docstring).
    checksum
        SHA-256 over the input files (name and bytes, sorted by name): the data's identity.
    files
        Table name -> {"path", "sha256", "format", "encoding", "rows"} for every file read.
    rejected
        Every problem found: columns ``table, row, column, value, reason, file, action``, one line per
        problem; ``action`` is ``row_rejected`` or ``cell_blanked`` (a bad optional cell emptied, the
        row kept) (docs/data.md section 4).
    summary
        One row per table: ``table, file, rows_read, accepted, rejected`` (rows), ``by_reason``
        (reason label -> number of problems; a row may have several) and ``blanked`` (cells emptied).
    skipped
        Human-readable notes on what was not used and why (a missing optional table, an unknown file).
    """

    tables: dict[str, pd.DataFrame]
    checksum: str = ""
    files: dict[str, dict] = field(default_factory=dict)
    rejected: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["table", "row", "column", "value", "reason", "file", "action"])
    )
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: tuple[str, ...] = ()

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name``, or an empty frame with the contract's columns if it was not handed in."""
        if name in self.tables:
            return self.tables[name]
        if name not in contract()["tables"]:
            raise KeyError(f"{name!r} is not a table of the data contract")
        return _empty_table(name)

    def has(self, name: str) -> bool:
        """Whether the centre handed in table ``name``."""
        return name in self.tables
