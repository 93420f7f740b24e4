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
from riskmodel.warning.warning_list import ScoreResult, combine_results, previous_by_school, score_school

__all__ = ["is_store", "store_digest", "score_store"]

log = logging.getLogger(__name__)


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
                run_id: str = "", lang: str = "zh",
                on_school: Callable[[str, Dataset, ScoreResult], None] | None = None) -> ScoreResult:
    """The list of ``as_of`` from the store ``path``, school by school (see the module docstring).

    Parameters
    ----------
    path
        A store written by ``riskmodel validate --store`` (:func:`riskmodel.data.store.write_store`).
    model, as_of, settings, previous, run_id, lang
        As for :func:`riskmodel.warning.warning_list.score_as_of`.
    on_school
        Called with ``(school, its dataset, its result)`` after each school is scored, before its data
        is let go (e.g. to keep per-school contributions or write the school's own files).

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
        schools = store.schools()
        load += time.perf_counter() - started
        catalogue = feature_catalogue_fn()
        for n, school in enumerate(schools, start=1):
            started = time.perf_counter()
            part = store.school(school)
            load += time.perf_counter() - started
            result = score_school(part, model, as_of, settings=settings, previous=by_school.get(school),
                                  run_id=run_id, lang=lang, check=False, feature_catalogue=catalogue)
            if on_school is not None:
                on_school(school, part, result)
            results.append(replace(result, features=None))
            del part, result
            if n % 100 == 0:
                log.info("scored %d of %d schools", n, len(schools))
    combined = combine_results(results)
    return replace(combined, timings={"load": load, **(combined.timings or {})})
