"""The domain's vocabulary, each fact defined once: levels, stages, family flags, dating columns, model
kinds, capacity rounding and the Wilson interval.

Every stage imports these names from here (a leaf: it imports only numpy, yaml and the standard
library), so a fact cannot drift between the warning list, the reports and the audit. Facts that the
data contract already states (stages, family flags, the column that dates each table) are read from
``riskmodel/data/contract.yaml``, their one home, the first time they are used; the others are
defined below.

Example
-------
>>> LEVELS, LEVEL_ORDER["none"]
(('I', 'II', 'III'), 0)
>>> from riskmodel.vocab import DATED_BY, FAMILY_FLAGS, STAGES  # read from the contract on first use
>>> STAGES[:2], FAMILY_FLAGS[0], DATED_BY["academics"]
(('primary', 'junior'), 'left_behind', 'term_end')
>>> capacity_for(5, 100), capacity_for(15, 100)  # 0.5 and 1.5 students: half rounds up
(1, 2)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType
from typing import Any

import numpy as np

from riskmodel.yamltext import safe_load as yaml_safe_load

__all__ = ["LEVELS", "NO_LEVEL", "ALL_LEVELS", "LEVEL_ORDER", "MODEL_KINDS", "STAGES", "K12_STAGES",  # noqa: F822
           "FAMILY_FLAGS", "DATED_BY", "contract_enum", "capacity_for", "wilson_interval"]  # STAGES etc.: __getattr__ below

# Warning levels, highest first: I (see now), II (interview), III (attention); a student on no level
# is "none". LEVEL_ORDER ranks them for sorting and for "raised/lowered since last month".
LEVELS: tuple[str, ...] = ("I", "II", "III")
NO_LEVEL = "none"
ALL_LEVELS: tuple[str, ...] = (*LEVELS, NO_LEVEL)
LEVEL_ORDER: MappingProxyType[str, int] = MappingProxyType({"I": 3, "II": 2, "III": 1, NO_LEVEL: 0})

# The models `riskmodel train` fits (settings.model.kind, --model)
MODEL_KINDS: tuple[str, ...] = ("lightgbm", "logistic", "rules")

# Stages of schooling below university: reports group these students by grade, not by college
K12_STAGES: frozenset[str] = frozenset({"primary", "junior", "senior", "vocational"})


@lru_cache(maxsize=1)
def _contract() -> dict:
    # read by path, not through riskmodel.data (which imports pandas and pandera): vocab stays a leaf
    return yaml_safe_load((Path(__file__).parent / "data" / "contract.yaml").read_text(encoding="utf-8"))


def _from_contract(name: str) -> Any:
    contract = _contract()
    if name == "STAGES":
        return tuple(contract["enums"]["stage"])
    if name == "FAMILY_FLAGS":
        return tuple(contract["family_flags"])
    return MappingProxyType({table: spec["dated_by"] for table, spec in contract["tables"].items()
                             if "dated_by" in spec})


def contract_enum(name: str) -> tuple[str, ...]:
    """The codes of the data contract's enum ``name`` (``review_status``, ``reviewer_role``, ...), in order."""
    return tuple(_contract()["enums"][name])


def __getattr__(name: str) -> Any:
    """``STAGES``, ``FAMILY_FLAGS`` and ``DATED_BY``, read from the data contract on first use.

    * ``STAGES``: stages of the ``stage`` enum, youngest first.
    * ``FAMILY_FLAGS``: the register's optional family/social flags, in contract order.
    * ``DATED_BY``: table -> the column that dates each row (``term_end`` for academics), for every
      table whose rows are dated (not students, not calendar).
    """
    if name in ("STAGES", "FAMILY_FLAGS", "DATED_BY"):
        value = _from_contract(name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def capacity_for(per_1000: float, n_students):
    """Students a level holds: ``per_1000`` per 1,000 of ``n_students``, half a student rounding up.

    The one rounding of a capacity (the warning list, the model's recall at capacity and the audit all
    use it): ``floor(x + 0.5)``, not Python's ``round`` (which rounds 0.5 to 0, so 5 per 1,000 of 100
    students would give level I no place at all). Works on a number (gives an ``int``) or an array of
    group sizes (gives an integer array).

    Example
    -------
    >>> capacity_for(5, 100), capacity_for(5, 2000), capacity_for(30, np.array([10, 50])).tolist()
    (1, 10, [0, 2])
    """
    seats = np.floor(np.asarray(n_students, dtype=np.float64) * float(per_1000) / 1000.0 + 0.5).astype(np.int64)
    return int(seats) if seats.ndim == 0 else seats


def wilson_interval(positives, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion ``positives / n`` (arrays; non-integer counts allowed).

    It always contains ``positives / n``, stays in [0, 1] and is sensible at 0 and at ``n`` positives
    (unlike the Wald interval). ``n = 0`` gives [0, 1].

    Example
    -------
    >>> low, high = wilson_interval(np.array([2.0]), np.array([10.0]))
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.0567, 0.5098)
    """
    k = np.asarray(positives, dtype=float)
    n = np.asarray(n, dtype=float)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / n, 0.0)
        denom = 1.0 + z * z / np.where(n > 0, n, 1.0)
        centre = (p + z * z / (2 * np.where(n > 0, n, 1.0))) / denom
        half = z / denom * np.sqrt(np.maximum(p * (1 - p) / np.where(n > 0, n, 1.0)
                                              + z * z / (4 * np.where(n > 0, n, 1.0) ** 2), 0.0))
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    return np.minimum(low, p), np.maximum(high, p)
