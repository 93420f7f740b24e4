"""riskmodel.instruments: questionnaire specifications (data) and the one scoring engine.

* :mod:`~riskmodel.instruments.specs`: ``get(code)``, ``all_specs()``, :class:`InstrumentSpec`
  (read from ``specs.yaml``; ``riskmodel.data`` reads item counts and ranges from here).
* :func:`item_problems`: answers that cannot be scored, with reasons (what the loader rejects).
* :func:`score`: one row per administration with every score, band, flag and classification.

Example
-------
>>> from riskmodel.instruments import get
>>> get("GAD7").n_items
7
"""

from riskmodel.instruments.problems import PROBLEM_COLUMNS, item_problems
from riskmodel.instruments.scoring import prorate_limit, score, score_columns
from riskmodel.instruments.specs import INSTRUMENT_CODES, InstrumentSpec, all_specs, get, load_specs

__all__ = [
    "INSTRUMENT_CODES", "InstrumentSpec", "all_specs", "get", "load_specs",
    "item_problems", "PROBLEM_COLUMNS", "score", "score_columns", "prorate_limit",
]
