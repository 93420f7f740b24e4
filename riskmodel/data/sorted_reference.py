"""The register's students, as validation into a store looks them up chunk by chunk: sorted byte keys.

Every chunk of every record file is checked against the students it names (enrolled, rejected, or
unknown: riskmodel.data.integrity). A join of the chunk's IDs against the store's ``_reference`` table
read the whole register for each chunk: 0.22 s a chunk at 3.6 million register students, 2,090 chunks,
about 7.7 of the 23.8 minutes of a first validation at two million enrolled, and the reason
validation grew faster than the register (16.4 minutes since; docs/benchmarks.md). Here the
register's IDs are read once, encoded as UTF-8 and sorted as fixed-width bytes (with their
enrolment, exit and row); a chunk's IDs are found by binary search, so a chunk costs its own size,
not the register's. About 35 bytes a register student (125 MB at 3.6 million with 10-byte IDs).

IDs are compared as bytes, as DuckDB compares them. Fixed-width bytes ignore trailing NULs, so a
register with an ID holding a NUL, or with an ID longer than :data:`MAX_KEY_BYTES` (the width would
multiply the memory), is not held here: :meth:`SortedReference.from_store` returns ``None`` and the
caller keeps the join.

Example
-------
>>> import duckdb, pandas as pd
>>> con = duckdb.connect()
>>> _ = con.execute("CREATE TABLE _reference AS SELECT * FROM (VALUES ('s2', DATE '2024-09-01', NULL::DATE, 3), "
...                 "('s1', DATE '2023-09-01', DATE '2025-06-30', 2)) t(student_id, enrollment_date, exit_date, row)")
>>> _ = con.execute("CREATE TABLE _reference_rejected AS SELECT 'x9' AS student_id, 7::BIGINT AS row")
>>> found = SortedReference.from_store(con).lookup(pd.Series(["s1", "x9", "nobody", "s1"]))
>>> found.accepted["row"].to_dict(), found.rejected_rows.to_dict()
({'s1': 2}, {'x9': 7})
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.data.integrity import StudentReference

__all__ = ["SortedReference", "MAX_KEY_BYTES"]

MAX_KEY_BYTES = 64  # longer IDs: the join instead (the width of every key is the longest one's)
_BATCH = 500_000  # rows fetched at a time while the keys are built (bounded temporary memory)


def _encoded(values) -> list[bytes]:
    return [str(v).encode("utf-8", "surrogatepass") for v in values]


class SortedReference:
    """Accepted students (sorted keys, enrolment and exit dates, rows) and rejected ones (keys, first rows)."""

    def __init__(self, width: int, keys: np.ndarray, enrolled: np.ndarray, exited: np.ndarray, rows: np.ndarray,
                 rejected_keys: np.ndarray, rejected_rows: np.ndarray):
        self.width = width
        self.keys, self.enrolled, self.exited, self.rows = keys, enrolled, exited, rows
        self.rejected_keys, self.rejected_rows = rejected_keys, rejected_rows

    @classmethod
    def from_store(cls, con) -> SortedReference | None:
        """The ``_reference`` and ``_reference_rejected`` tables of the store ``con`` builds; ``None`` when an
        ID holds a NUL or is longer than :data:`MAX_KEY_BYTES` bytes (look those registers up by join)."""
        width = con.execute("SELECT max(strlen(student_id)) FROM (SELECT student_id FROM _reference UNION ALL "
                            "SELECT student_id FROM _reference_rejected)").fetchall()[0][0] or 1
        if width > MAX_KEY_BYTES:
            return None
        parts: dict[str, list] = {"keys": [], "enrolled": [], "exited": [], "rows": []}
        reader = con.sql("SELECT student_id, enrollment_date, exit_date, row FROM _reference "
                         "WHERE student_id IS NOT NULL").to_arrow_reader(_BATCH)
        for batch in reader:
            frame = batch.to_pandas()
            encoded = _encoded(frame["student_id"])
            if any(b"\x00" in key for key in encoded):
                return None
            parts["keys"].append(np.array(encoded, dtype=f"S{width}"))
            for name, column in (("enrolled", "enrollment_date"), ("exited", "exit_date")):
                parts[name].append(pd.to_datetime(frame[column]).to_numpy(dtype="datetime64[ns]"))
            parts["rows"].append(frame["row"].to_numpy(dtype=np.int64))
        rejected = con.execute("SELECT student_id, row FROM _reference_rejected WHERE student_id IS NOT NULL").df()
        rejected_encoded = _encoded(rejected["student_id"])
        if any(b"\x00" in key for key in rejected_encoded):
            return None
        keys = np.concatenate(parts["keys"]) if parts["keys"] else np.zeros(0, dtype=f"S{width}")
        order = np.argsort(keys, kind="stable")
        rejected_keys = np.array(rejected_encoded, dtype=f"S{width}")
        rejected_order = np.argsort(rejected_keys, kind="stable")

        def joined(name: str, dtype) -> np.ndarray:
            return (np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype=dtype))[order]

        return cls(width, keys[order], joined("enrolled", "datetime64[ns]"), joined("exited", "datetime64[ns]"),
                   joined("rows", np.int64), rejected_keys[rejected_order],
                   rejected["row"].to_numpy(dtype=np.int64)[rejected_order])

    def lookup(self, ids: pd.Series) -> StudentReference:
        """The students ``ids`` names (accepted ones indexed by ID; rejected ones' first rows), as the join
        against the store's tables gives them."""
        wanted = pd.unique(ids.dropna().astype(str))
        encoded = _encoded(wanted)
        # an ID longer than every key, or holding a NUL (the keys hold none), is nobody's
        usable = np.fromiter((len(key) <= self.width and b"\x00" not in key for key in encoded), bool, len(encoded))
        names = np.asarray(wanted, dtype=object)[usable]
        probe = np.array([key for key, ok in zip(encoded, usable, strict=True) if ok], dtype=f"S{self.width}")

        def find(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if len(keys) == 0 or len(probe) == 0:
                return np.zeros(len(probe), bool), np.zeros(len(probe), np.int64)
            at = np.minimum(np.searchsorted(keys, probe), len(keys) - 1)
            return keys[at] == probe, at

        hit, at = find(self.keys)
        at = at[hit]
        accepted = pd.DataFrame({"enrollment_date": self.enrolled[at], "exit_date": self.exited[at],
                                 "row": self.rows[at]}, index=pd.Index(names[hit], name="student_id", dtype=object))
        hit, at = find(self.rejected_keys)
        return StudentReference(accepted, pd.Series(self.rejected_rows[at[hit]], index=names[hit]))
