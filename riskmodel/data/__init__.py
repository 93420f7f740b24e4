"""The data contract: load (formats, encodings, mapping), validate, store, pseudonymise.

Example
-------
>>> from riskmodel.config import Settings
>>> dataset = load_dataset("data/demo", settings=Settings())  # doctest: +SKIP
>>> write_store(dataset, "data/demo.duckdb")  # doctest: +SKIP
>>> open_store("data/demo.duckdb").checksum == dataset.checksum  # doctest: +SKIP
True
"""

from riskmodel.data.dataset import Dataset, contract
from riskmodel.data.load import REJECTED_COLUMNS, load_dataset, read_table
from riskmodel.data.mapping import ColumnMapping, load_mapping
from riskmodel.data.store import open_store, write_store

__all__ = ["Dataset", "contract", "load_dataset", "read_table", "load_mapping", "ColumnMapping",
           "REJECTED_COLUMNS", "write_store", "open_store"]
