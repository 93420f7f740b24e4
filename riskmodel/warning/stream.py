"""Scoring a validated store school by school, with the memory of one school (issue 17).

``riskmodel validate --store district.duckdb`` keeps the validated tables by school
(:mod:`riskmodel.data.store`). :func:`score_store` then makes the whole list without ever holding the
whole data: it checks the data once from aggregates the store computes (the same checks, the same
messages as :func:`riskmodel.warning.checks.check_scoring_data`), then for each school in
:func:`riskmodel.warning.warning_list.schools_of` order loads that school's tables, builds its
features, scores it (:func:`~riskmodel.warning.warning_list.score_school`, the one scoring sequence)
and keeps only the list, the reasons of the listed students and the scores; the school's tables and
features are let go before the next school is loaded. Peak memory is one school's data plus the rows
kept (a few hundred bytes per scored student); time grows with the number of students.

The list is the same, row for row and byte for byte once written, as :func:`score_as_of` on the data
folder the store was validated from (a test holds it).

Example
-------
>>> # result = score_store("district.duckdb", load_model("models/2026-03"), "2026-03-01", settings=settings)
>>> # result.warning_list, result.scores
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.data.dataset import Dataset
from riskmodel.models.pipeline import RiskModel
from riskmodel.vocab import DATED_BY
from riskmodel.warning.hard_rules import load_hard_rules
from riskmodel.warning.warning_list import (
    ScoreResult,
    combine_results,
    previous_by_school,
    schools_of,
    score_school,
)

__all__ = ["is_store", "store_digest", "score_store", "BATCH_STUDENTS"]

log = logging.getLogger(__name__)

# register students read from the store at once: a few hundred MB of tables with 4 years of records
BATCH_STUDENTS = 20_000


def _batches(sizes: pd.Series, limit: int) -> list[tuple[str, str]]:
    """Consecutive runs of schools (first, last) of at most ``limit`` students (a larger school alone)."""
    batches, first, total, previous = [], None, 0, None
    for school, n in sizes.items():
        if first is not None and total + n > limit:
            batches.append((first, previous))
            first, total = None, 0
        if first is None:
            first = school
        total += int(n)
        previous = school
    if first is not None:
        batches.append((first, previous))
    return batches


def is_store(data: str | Path) -> bool:
    """Whether ``data`` names a store file (``.duckdb`` or ``.db``) rather than a data folder."""
    data = Path(data)
    return data.is_file() and data.suffix.lower() in (".duckdb", ".db")


def store_digest(store) -> Dataset:
    """A small stand-in for the whole data, enough for the scoring checks: the register's enrolment dates and
    stages, and of every other table its earliest and latest dated rows (or, undated, one row)."""
    tables = {"students": store.table("students", ["student_id", "enrollment_date", "exit_date", "stage"])}
    for name in store.meta["tables"]:
        if name == "students":
            continue
        column = DATED_BY.get(name)
        if column is None:
            tables[name] = store.query(f'SELECT * FROM "{name}" LIMIT 1')
            continue
        bounds = store.query(f'SELECT min("{column}") AS lo, max("{column}") AS hi, count(*) AS n FROM "{name}"')
        lo, hi, n = bounds.iloc[0]
        values = [] if not n else [lo, hi]
        tables[name] = pd.DataFrame({column: pd.to_datetime(pd.Series(values, dtype=object)).astype("datetime64[ns]")})
    return Dataset(tables=tables, checksum=store.checksum, files=store.meta.get("files", {}))


def score_store(path: str | Path, model: RiskModel, as_of, *, settings: Settings, previous: pd.DataFrame | None = None,
                run_id: str = "", lang: str = "zh", batch_students: int = BATCH_STUDENTS,
                on_batch: Callable[[list[str], Dataset, ScoreResult], None] | None = None) -> ScoreResult:
    """The list of ``as_of`` from the store ``path``, school by school (see the module docstring).

    Parameters
    ----------
    path
        A store written by ``riskmodel validate --store`` (:func:`riskmodel.data.store.write_store`).
    model, as_of, settings, previous, run_id, lang
        As for :func:`riskmodel.warning.warning_list.score_as_of`.
    batch_students
        Schools are read from the store in batches of about this many register students (one query
        per table per batch, not per school; a school larger than it is a batch of its own), then
        scored one by one: memory is that of one batch.
    on_batch
        Called with ``(its schools, its dataset, its result)`` after each batch is scored, before its data
        is let go (e.g. to keep contributions from ``result.features`` or write the schools' own files).

    Returns
    -------
    ScoreResult
        ``warning_list``, ``reasons``, ``scores`` and ``cases`` of every school; ``features`` is None
        (not kept); ``timings``: seconds of ``load`` (the store's reads), ``features`` and ``score``.

    Raises
    ------
    ContractError, ModelMismatchError
        As :func:`score_as_of` (the checks are made once, from the store's aggregates).
    """
    from riskmodel.data.store import Store
    from riskmodel.features import catalogue as feature_catalogue_fn
    from riskmodel.warning.checks import check_scoring_data

    results: list[ScoreResult] = []
    load = 0.0
    with Store(path, lang=lang) as store:
        started = time.perf_counter()
        check_scoring_data(store_digest(store), model, as_of, settings=settings)
        by_school = previous_by_school(previous, store.table("students", ["student_id", "school"])) \
            if previous is not None else {}
        sizes = store.school_sizes()
        load += time.perf_counter() - started
        catalogue = feature_catalogue_fn()
        rules = load_hard_rules(settings=settings)
        done = 0
        for first, last in _batches(sizes, batch_students):
            started = time.perf_counter()
            batch = store.schools_between(first, last)
            load += time.perf_counter() - started
            names = schools_of(batch.table("students"))
            parts = [by_school[name] for name in names if name in by_school]
            result = score_school(batch, model, as_of, settings=settings,
                                  previous=pd.concat(parts, ignore_index=True) if parts else None,
                                  run_id=run_id, lang=lang, check=False, feature_catalogue=catalogue, rules=rules)
            if on_batch is not None:
                on_batch(names, batch, result)
            results.append(replace(result, features=None))
            done += len(names)
            del batch, result
            log.info("scored %d of %d schools", done, len(sizes))
    combined = combine_results(results)
    return replace(combined, timings={"load": load, **(combined.timings or {})})
