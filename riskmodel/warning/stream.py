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
folder the store was validated from (a test holds it). On a Dask cluster (``riskmodel score
--cluster``) each batch of schools is one task (:func:`score_batch_task`) and the results are gathered
in batch order: the same list again (tests/test_distributed.py).

Example
-------
>>> # result = score_store("district.duckdb", load_model("models/2026-03"), "2026-03-01", settings=settings)
>>> # result.warning_list, result.scores
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.data.dataset import Dataset
from riskmodel.models.pipeline import RiskModel
from riskmodel.warning.hard_rules import load_hard_rules
from riskmodel.warning.levels import warn_level_one_over
from riskmodel.warning.warning_list import (
    ScoreResult,
    combine_results,
    previous_by_school,
    score_school,
    warn_dropped,
)

__all__ = ["score_store", "score_batch_task"]

log = logging.getLogger(__name__)


def _score_batch(batch: Dataset, model: RiskModel, as_of, *, settings: Settings, previous: pd.DataFrame | None,
                 run_id: str, lang: str, catalogue=None, rules=None) -> ScoreResult:
    """One batch of schools read from the store, scored by :func:`score_school` (features not kept)."""
    result = score_school(batch, model, as_of, settings=settings, previous=previous, run_id=run_id, lang=lang,
                          check=False, feature_catalogue=catalogue, rules=rules)
    return replace(result, features=None)


def score_batch_task(path: str, model_dir: str, version: str, first: str, last: str, as_of, *, settings: Settings,
                     previous: pd.DataFrame | None, run_id: str, lang: str) -> ScoreResult:
    """On a Dask worker (``riskmodel score --cluster``): read the schools ``first`` .. ``last`` from the store
    on shared storage and score them with the model of ``model_dir`` (loaded once per worker process).

    Raises
    ------
    ModelMismatchError
        The worker's model folder holds another version than the one the client loaded (changed since).
    """
    from riskmodel.data.store import Store
    from riskmodel.errors import ModelMismatchError
    from riskmodel.models.registry import load_cached

    started = time.perf_counter()
    with Store(path, lang=lang) as store:
        batch = store.schools_between(first, last)
    load = time.perf_counter() - started
    model = load_cached(model_dir)
    if model.version != version:
        raise ModelMismatchError(f"{model_dir}: model version {model.version[:12]} on a worker, {version[:12]} where "
                                 "the run started; the folder changed during the run: run again.")
    result = _score_batch(batch, model, as_of, settings=settings, previous=previous, run_id=run_id, lang=lang)
    timings = dict(result.timings or {})
    timings["load"] = timings.get("load", 0.0) + load
    return replace(result, timings=timings)


def score_store(path: str | Path, model: RiskModel, as_of, *, settings: Settings, previous: pd.DataFrame | None = None,
                run_id: str = "", lang: str = "zh", client=None, model_dir: str | Path | None = None,
                progress: Callable[[int, int], None] | None = None) -> ScoreResult:
    """The list of ``as_of`` from the store ``path``, school by school (see the module docstring).

    Parameters
    ----------
    path
        A store written by ``riskmodel validate --store`` (:func:`riskmodel.data.store.write_store`).
    model, as_of, settings, previous, run_id, lang
        As for :func:`riskmodel.warning.warning_list.score_as_of`. Schools are read from the store in
        batches of about ``settings.data.batch_students`` register students (one query per table per
        batch, not per school; a school larger than it is a batch of its own): memory is that of one batch.
    client, model_dir
        A :class:`distributed.Client` (``riskmodel score --cluster``): each batch becomes one task
        (:func:`score_batch_task`) that reads its schools from the store and the model from
        ``model_dir`` (both on storage the workers share); the results are gathered in batch order, so
        the list is the one this process would make. A lost worker's batch is run again
        (``cluster.retries``); any other failure of a batch fails the whole list.
    progress
        Called after each batch with the schools scored so far and the store's schools (``riskmodel
        score`` shows them as a bar: at two million students scoring takes minutes).

    Returns
    -------
    ScoreResult
        ``warning_list``, ``reasons``, ``scores`` and ``cases`` of every school; ``features`` is None
        (not kept); ``timings``: seconds of ``load`` (the store's reads), ``features`` and ``score``
        (summed over the batches: on a cluster, the workers' seconds).

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
        check_scoring_data(store.digest(), model, as_of, settings=settings, lang=lang)
        by_school = previous_by_school(previous, store.table("students", ["student_id", "school"])) \
            if previous is not None else {}
        sizes = store.school_sizes()
        load += time.perf_counter() - started
        batches = store.batches(settings.data.batch_students, sizes)
        names = sizes.index.to_numpy(dtype=str)
        in_batch = [int(((names >= first) & (names <= last)).sum()) for first, last in batches]
        report = progress or (lambda done, total: log.info("scored %d of %d schools", done, total))
        report(0, len(sizes))

        def previous_of(first: str, last: str) -> pd.DataFrame | None:
            parts = [by_school[name] for name in sorted(by_school) if first <= name <= last]
            return pd.concat(parts, ignore_index=True) if parts else None

        if client is not None:
            results = _on_cluster(client, batches, path, model, model_dir, as_of, settings=settings,
                                  previous_of=previous_of, run_id=run_id, lang=lang,
                                  done=lambda number: report(sum(in_batch[:number + 1]), len(sizes)))
        else:
            catalogue = feature_catalogue_fn()
            rules = load_hard_rules(settings=settings)
            for number, (first, last) in enumerate(batches):
                started = time.perf_counter()
                batch = store.schools_between(first, last)
                load += time.perf_counter() - started
                results.append(_score_batch(batch, model, as_of, settings=settings, previous=previous_of(first, last),
                                            run_id=run_id, lang=lang, catalogue=catalogue, rules=rules))
                del batch
                report(sum(in_batch[:number + 1]), len(sizes))
    combined = combine_results(results)
    warn_level_one_over(combined.over_capacity)  # once for the store, not once per school
    warn_dropped(combined.warning_list)
    timings = dict(combined.timings or {})
    timings["load"] = timings.get("load", 0.0) + load
    return replace(combined, timings=timings)


def _on_cluster(client, batches: list[tuple[str, str]], path, model: RiskModel, model_dir, as_of, *,
                settings: Settings, previous_of, run_id: str, lang: str, done: Callable[[int], None]) -> list[ScoreResult]:
    """Each batch a task on the cluster; the results in batch order (a failed batch raises its error);
    ``done(number)`` after batch ``number``'s result is in."""
    if model_dir is None:
        raise ValueError("score_store on a cluster needs model_dir: the workers load the model from it")
    path, model_dir = str(Path(path).absolute()), str(Path(model_dir).absolute())
    this = uuid.uuid4().hex[:12]  # keys of this command alone: another one may share a remote scheduler
    futures = [client.submit(score_batch_task, path, model_dir, model.version, first, last, as_of, settings=settings,
                             previous=previous_of(first, last), run_id=run_id, lang=lang, pure=False,
                             retries=settings.cluster.retries, key=f"score-batch-{number}-{this}")
               for number, (first, last) in enumerate(batches)]
    results = []
    try:
        for number, future in enumerate(futures):
            results.append(future.result())
            future.release()
            done(number)
    finally:
        client.cancel([f for f in futures if not f.done()], force=True)
    return results
