"""riskmodel.instruments: questionnaire specifications (data) and the one scoring engine.

Example
-------
>>> from riskmodel.instruments import get
>>> get("GAD7").n_items
7
"""

from riskmodel.instruments.specs import INSTRUMENT_CODES, InstrumentSpec, all_specs, get

__all__ = ["INSTRUMENT_CODES", "InstrumentSpec", "all_specs", "get"]
