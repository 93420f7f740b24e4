"""The data contract: load (formats, encodings, mapping), validate, store, pseudonymise."""

from riskmodel.data.dataset import Dataset, contract

__all__ = ["Dataset", "contract"]
