"""Validation into a store looks each chunk's students up by binary search (riskmodel.data.sorted_reference):
the same answer as the join against the store's tables, for IDs a centre's export may hold."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from riskmodel.data.ingest import joined_reference
from riskmodel.data.sorted_reference import MAX_KEY_BYTES, SortedReference

REGISTER = ["2024010001", "2024010001 ", "20240100010", "202401000", "学号-七", "Ünï", "a", "A", "b" * 40, "0", "",
            "x\u00e9", "xe\u0301"]  # a trailing space, prefixes, CJK, composed and decomposed accents, empty
REJECTED = ["2024010001", "r-1", "学号-八"]  # an accepted ID can also have a rejected row (a later duplicate)


def _store(register: list[str], rejected: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    rng = np.random.default_rng(0)
    con.register("r", pd.DataFrame({
        "student_id": register,
        "enrollment_date": pd.to_datetime("2023-09-01") + pd.to_timedelta(rng.integers(0, 700, len(register)), "D"),
        "exit_date": [pd.NaT if k % 3 else pd.Timestamp("2026-06-30") for k in range(len(register))],
        "row": np.arange(2, len(register) + 2, dtype=np.int64)}))
    con.execute("CREATE TABLE _reference AS SELECT * FROM r")
    con.register("j", pd.DataFrame({"student_id": rejected, "row": np.arange(100, 100 + len(rejected), dtype=np.int64)}))
    con.execute("CREATE TABLE _reference_rejected AS SELECT * FROM j")
    return con


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.accepted.sort_index(), b.accepted.sort_index(), check_index_type=False)
    pd.testing.assert_series_equal(a.rejected_rows.sort_index(), b.rejected_rows.sort_index(), check_index_type=False)


def test_binary_search_finds_what_the_join_finds():
    con = _store(REGISTER, REJECTED)
    sorted_reference = SortedReference.from_store(con)
    assert sorted_reference is not None
    probes = pd.Series([*REGISTER, *REJECTED, "2024010001\x00", "b" * 41, "b" * 39, "nobody", "2024010002", None, "A ",
                        " a", "202401000"] * 2 + [20240100010])  # repeated, a NUL, longer than every key, a number
    found = sorted_reference.lookup(probes)
    _same(found, joined_reference(con, probes))
    assert set(found.accepted.index) == set(REGISTER) and set(found.rejected_rows.index) == set(REJECTED)
    assert found.accepted.loc["学号-七", "row"] == 2 + REGISTER.index("学号-七")
    _same(sorted_reference.lookup(pd.Series(["nobody"])), joined_reference(con, pd.Series(["nobody"])))
    _same(sorted_reference.lookup(pd.Series([], dtype=object)), joined_reference(con, pd.Series([], dtype=object)))


def test_a_register_read_in_batches(monkeypatch):
    from riskmodel.data import sorted_reference

    monkeypatch.setattr(sorted_reference, "_BATCH", 1_000)  # five batches of keys read from the store
    register = [f"S{k:07d}" for k in np.random.default_rng(1).permutation(5_000)]
    con = _store(register, [])
    probes = pd.Series(register[::7] + ["S9999999", "S0"])
    _same(SortedReference.from_store(con).lookup(probes), joined_reference(con, probes))


@pytest.mark.parametrize("odd", ["with\x00nul", "x" * (MAX_KEY_BYTES + 1)])
def test_registers_the_keys_cannot_hold_keep_the_join(odd):
    """A NUL (fixed-width bytes ignore trailing NULs) or a very long ID (every key takes the longest's width)."""
    assert SortedReference.from_store(_store([*REGISTER, odd], REJECTED)) is None
    assert SortedReference.from_store(_store(REGISTER, [*REJECTED, odd])) is None
