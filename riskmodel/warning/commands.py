"""What ``riskmodel score`` does, as one function (the CLI verb only parses options).

Example
-------
>>> # paths = score_command("data/", "models/2026-03", "2026-03-01", "lists/2026-03", settings=settings)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.data.store import is_store
from riskmodel.errors import ConfigError, PreflightError
from riskmodel.models.registry import load
from riskmodel.outputs import atomic_dir
from riskmodel.warning.export import write_warning_list
from riskmodel.warning.scores_file import write_scores
from riskmodel.warning.stream import score_store
from riskmodel.warning.warning_list import score_as_of

__all__ = ["score_command", "read_previous_list"]


def read_previous_list(path: str | Path) -> pd.DataFrame:
    """A previous warning list (its .parquet or .csv) for the ``change`` column.

    Raises
    ------
    ConfigError
        The file cannot be read or lacks ``student_id`` and ``level``.
    """
    path = Path(path)
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, encoding="utf-8-sig",
                                                                                     dtype=str)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the previous list ({exc}); pass its warning_list.parquet.") from None
    if path.suffix != ".parquet":  # a CSV has the report language's headers and words
        from riskmodel.warning.localise import delocalise

        frame = delocalise(frame)
    missing = {"student_id", "level"} - set(frame.columns)
    if missing:
        raise ConfigError(f"{path}: the previous list lacks columns {sorted(missing)}; pass a riskmodel warning list.")
    return frame


def score_command(data: str | Path, model_dir: str | Path, as_of, out: str | Path, *, settings: Settings,
                  lang: str | None = None, previous: str | Path | None = None,
                  run_id: str | None = None, client=None,
                  progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Score every student on ``as_of`` and write the list (CSV, XLSX, Parquet) into the new folder ``out``.

    ``data`` is a data folder (loaded and validated whole) or a store written by ``riskmodel validate
    --store`` (scored school by school with the memory of one school: :func:`score_store`); both give the
    same list. With ``client`` (a Dask client: ``riskmodel score --cluster``) the store's batches of
    schools are scored on the cluster's workers, again the same list. ``progress(done, total)`` follows a
    store's schools (:func:`score_store`).

    The folder is built aside and renamed into place when complete: never half-written, never
    overwriting an earlier list. ``run_id`` defaults to ``<as_of>-<model version>``.
    """
    from riskmodel.features.export import open_data

    out = Path(out)
    if out.exists():
        raise PreflightError(f"{out}: already exists; an earlier list is never overwritten. Choose a new --out folder.")
    lang = lang or settings.reports.lang
    settings = settings.model_copy(update={"reports": settings.reports.model_copy(update={"lang": lang})})
    if client is not None and not is_store(data):
        raise ConfigError(f"{data}: --cluster scores a store; validate the folder into one first (riskmodel "
                          "validate DIR --store FILE.duckdb) and pass it as --data.")
    model = load(model_dir)
    prev = read_previous_list(previous) if previous is not None else None
    as_of = pd.Timestamp(as_of)
    run_id = run_id or f"{as_of:%Y-%m-%d}-{model.version[:8]}"
    if is_store(data):  # school by school, the memory of one school (riskmodel.warning.stream)
        from riskmodel.data.store import Store

        result = score_store(data, model, as_of, settings=settings, previous=prev, run_id=run_id, lang=lang,
                             client=client, model_dir=model_dir, progress=progress)
        with Store(data, lang=lang) as store:
            students = store.table("students", ["student_id", "pseudonym", "school", "college", "class_id"])
    else:
        dataset = open_data(data, settings=settings)
        result = score_as_of(dataset, model, as_of, settings=settings, previous=prev, run_id=run_id, lang=lang)
        students = dataset.table("students")
        del dataset
    with atomic_dir(out) as work:
        paths = write_warning_list(result.warning_list, work, lang=lang, horizon_days=model.meta.get("horizon_days"))
        paths["scores"] = write_scores(result.scores, work, students=students,
                                       model_version=result.model_version, run_id=run_id)
    return result.warning_list, {kind: out / p.name for kind, p in paths.items()}
