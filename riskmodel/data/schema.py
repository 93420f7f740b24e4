"""Pandera schemas generated from contract.yaml, and their failures as rejected-row problems.

One :class:`pandera.DataFrameSchema` per table is built from the contract (never written by hand):
each column's canonical dtype, ``nullable=False`` for required columns, ``isin`` for enums,
``in_range`` for ``min``/``max``, a frame-wide check for each ``order`` pair. Duplicate keys are found
by :func:`duplicates` (one hashing pass, not pandera) on the rows that passed everything else, so a
first copy that is itself broken never pushes out a good later one.

Validation is lazy: every failure of every row is collected, then turned into *problems*, one row
each: ``pos`` (position in the table frame), ``column``, ``code`` and ``params`` (for the reason text).

Example
-------
>>> import pandas as pd
>>> frame = pd.DataFrame({"student_id": ["1", None], "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
...                       "source": ["peer", "peer"], "category": ["mood", "mood"],
...                       "severity": pd.array([1, 7], dtype="Int64")})
>>> validate_frame(frame, "observations")[["pos", "column", "code"]].values.tolist()
[[1, 'student_id', 'missing'], [1, 'severity', 'out_of_range']]
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from riskmodel.data.dataset import contract

__all__ = ["DTYPES", "PROBLEM_COLUMNS", "problem_rows", "column_specs", "table_schema", "key_schema", "validate_frame",
           "duplicates"]

DTYPES = {"string": object, "enum": object, "date": "datetime64[ns]", "bool": "boolean", "int": "Int64",
          "number": "float64"}
PROBLEM_COLUMNS = ["pos", "column", "code", "params"]
ITEM_DTYPE = "float32"


def problem_rows(pos: np.ndarray, column: str, code: str, params: dict | None = None) -> pd.DataFrame:
    """Problems (``pos, column, code, params``) for the rows at positions ``pos``, one column, one reason."""
    return pd.DataFrame({"pos": np.asarray(pos).astype("int64"), "column": column, "code": code,
                         "params": [params or {}] * len(pos)})


def column_specs(table: str) -> dict[str, dict]:
    """The contract's columns of ``table`` (``name`` included; it is dropped after reading)."""
    return contract()["tables"][table]["columns"]


def _column(spec: dict) -> pa.Column:
    checks = []
    if spec["type"] == "enum":
        checks.append(pa.Check.isin(contract()["enums"][spec["enum"]]))
    if "min" in spec or "max" in spec:
        low, high = spec.get("min"), spec.get("max")
        if low is not None and high is not None:
            checks.append(pa.Check.in_range(low, high))
        elif low is not None:
            checks.append(pa.Check.ge(low))
        else:
            checks.append(pa.Check.le(high))
    return pa.Column(DTYPES[spec["type"]], checks=checks, nullable=not spec.get("required", False), required=False)


def _order_check(earlier: str, later: str) -> pa.Check:
    def holds(frame: pd.DataFrame) -> pd.Series:
        if earlier not in frame or later not in frame:
            return pd.Series(True, index=frame.index)
        return ~(frame[later] < frame[earlier])

    return pa.Check(holds, name=f"order:{earlier}:{later}")


@cache
def table_schema(table: str, items: tuple[str, ...] = (), limits: tuple[tuple[str, float, float], ...] = ()
                 ) -> pa.DataFrameSchema:
    """The schema of ``table``: contract columns, screening ``items`` (float32), order checks.

    ``limits`` narrows a column's contract range from a setting: ``(("gpa", 0, 4),)`` for a 4-point GPA.
    """
    spec = contract()["tables"][table]
    narrowed = {name: {"min": low, "max": high} for name, low, high in limits}
    columns = {name: _column({**col, **narrowed.get(name, {})})
               for name, col in spec["columns"].items() if name != "name"}
    columns.update({item: pa.Column(ITEM_DTYPE, nullable=True, required=False) for item in items})
    checks = [_order_check(a, b) for a, b in spec.get("order", [])]
    return pa.DataFrameSchema(columns, checks=checks, strict=False, coerce=False, name=table)


@cache
def key_schema(table: str) -> pa.DataFrameSchema | None:
    """A schema whose only check is the table's unique key, or None when the table has no key."""
    key = contract()["tables"][table].get("key")
    if not key:
        return None
    return pa.DataFrameSchema(unique=list(key), report_duplicates="exclude_first", name=f"{table} key")


def _order_target(table: str, check: str) -> str:
    """The column an order failure is reported on: the later date, unless only the earlier is optional.

    The problem's column decides its fate (riskmodel.data.load): a bad optional cell is blanked, a bad
    required one rejects the row. ``birth_date`` after ``enrollment_date`` blanks the birth date and
    keeps the student; ``exit_date`` before ``enrollment_date`` blanks the exit date.
    """
    _, earlier, later = check.split(":")
    columns = contract()["tables"][table]["columns"]
    if columns[later].get("required") and not columns[earlier].get("required"):
        return earlier
    return later


def _params(check: str) -> dict:
    if check.startswith(("in_range", "greater_than", "less_than")):
        numbers = check[check.index("(") + 1: check.rindex(")")].split(",")
        return {"limits": " – ".join(n.strip() for n in numbers)}
    if check.startswith("order:"):
        _, earlier, later = check.split(":")
        return {"earlier": earlier, "later": later}
    return {}


def _code(check: str) -> str:
    if check == "not_nullable":
        return "missing"
    if check.startswith("isin"):
        return "not_allowed"
    if check.startswith(("in_range", "greater_than", "less_than")):
        return "out_of_range"
    if check.startswith("order:"):
        return "order"
    raise RuntimeError(f"unexpected pandera failure {check!r}: the parser produced a wrong dtype (a bug)")


def validate_frame(frame: pd.DataFrame, table: str, *, limits: tuple[tuple[str, float, float], ...] = ()
                   ) -> pd.DataFrame:
    """Problems of the parsed ``frame`` (index 0..n-1) against the contract schema of ``table``."""
    items = tuple(c for c in frame.columns if c.startswith("item_"))
    try:
        with warnings.catch_warnings():
            # pandera concatenates its failure cases with an all-empty frame: pandas' deprecation notice
            # about that is pandera's business and must not reach a centre's console or a report
            warnings.filterwarnings("ignore", message="The behavior of DataFrame concatenation with empty",
                                    category=FutureWarning)
            table_schema(table, items, limits).validate(frame, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        cases = cases[cases["index"].notna()]
        order = cases["check"].astype(str).str.startswith("order:")
        target = cases["check"].astype(str).map(lambda c: _order_target(table, c) if c.startswith("order:") else "")
        cases = cases[~order | (cases["column"] == target)]  # one line per order failure, on the date to blank
        return pd.DataFrame({
            "pos": cases["index"].astype("int64").to_numpy(),
            "column": cases["column"].astype(str).to_numpy(),
            "code": [_code(str(c)) for c in cases["check"]],
            "params": [_params(str(c)) for c in cases["check"]],
        })
    return pd.DataFrame(columns=PROBLEM_COLUMNS)


def duplicates(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Problems for every later copy of a key in ``frame``, naming the position of the first copy.

    ``params`` holds ``first_pos`` (index label of the kept copy) and ``key`` (the key's columns).
    One hashing pass over the key columns (``DataFrame.duplicated`` and ``groupby.ngroup``): linear
    time and memory in the rows, however many copies there are. (Pandera's ``unique`` check gave the
    same rows but reshaped one failure case per cell: 200,000 copies took minutes and a gigabyte.)

    Example
    -------
    >>> frame = pd.DataFrame({"student_id": ["1", "1", "2"], "date": pd.to_datetime(["2024-01-01"] * 3),
    ...                       "status": ["late", "late", "late"]}, index=[4, 7, 9])
    >>> duplicates(frame, "attendance")[["pos", "code"]].values.tolist()
    [[7, 'duplicate']]
    """
    key = contract()["tables"][table].get("key")
    if not key or frame.empty:
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    key = list(key)
    later = frame.duplicated(subset=key, keep="first").to_numpy()
    if not later.any():
        return pd.DataFrame(columns=PROBLEM_COLUMNS)
    group = frame.groupby(key, dropna=False, sort=False).ngroup().to_numpy()
    first_at = np.full(group.max() + 1, -1, dtype=np.int64)
    # the first position of each group: write positions in reverse so the earliest one stays
    positions = np.arange(len(frame), dtype=np.int64)
    first_at[group[::-1]] = positions[::-1]
    labels = frame.index.to_numpy()
    first_pos = labels[first_at[group[later]]]
    joined = ", ".join(key)
    return pd.DataFrame({
        "pos": labels[later].astype("int64"),
        "column": ",".join(key),
        "code": "duplicate",
        "params": [{"first_pos": int(p), "key": joined} for p in first_pos],
    })
