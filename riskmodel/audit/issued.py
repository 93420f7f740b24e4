"""The scores a centre was issued: the audit reads a run's scores file instead of its own re-scoring.

``riskmodel score`` and ``riskmodel run`` write ``scores.parquet`` (data contract version 2,
riskmodel.warning.scores_file): every student scored on the date, listed or not. The audit scores every
enrolled student of every audited month itself (riskmodel.audit.run, the same steps as the monthly
run, tested to give the same levels and scores), so without scores files it already judges the whole
population. Given scores files (``riskmodel audit --scores RUN``), it judges the scores **as issued**
for the months they cover: their ``score`` and ``level`` replace the re-scored ones in every table,
and the audit says, month by month, how far its own re-scoring is from what was issued
(``audit_summary.json`` ``scores``): a difference means the data or the settings of the run are not
the ones audited, which an auditor needs to know before reading any figure.

A scores file is refused when it was written by another model (``model_version``), when its month is
not an audited month, when a student appears twice, or when its students are not exactly the students
enrolled on its date in the audited data (the run and the audit did not see the same register).

Example
-------
>>> # issued = read_issued(["reports/run-2026-03-01-ab12/"])
>>> # frame, info = apply_issued(frame, issued, model_version=model.version, dates=dates)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.errors import ConfigError, ContractError, ModelMismatchError

__all__ = ["ISSUED_PATH", "SCORE_TOLERANCE", "read_issued", "apply_issued"]

ISSUED_PATH = "issued"  # the path of a row whose issued level differs from the audit's re-scoring
SCORE_TOLERANCE = 5e-5  # the scores file rounds scores to 4 decimals
_REQUIRED = ("as_of", "student_id", "score", "level")


def _file(path: Path) -> Path:
    from riskmodel.warning.scores_file import SCORES_FILE

    file = path / SCORES_FILE if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"{file}: no scores file. Give --scores a run or list folder written by riskmodel run or "
                          f"riskmodel score (it holds {SCORES_FILE}, data contract version 2) or the file itself.")
    return file


def read_issued(paths) -> pd.DataFrame:
    """Every row of the scores files ``paths`` (files or run folders), with the file in ``source``.

    Raises
    ------
    ConfigError
        A path holds no scores file.
    ContractError
        A file lacks a required column, or a student appears twice on one date (within or across files).
    """
    frames = []
    for path in paths:
        file = _file(Path(path))
        try:
            frame = pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several kinds for a damaged or foreign file
            raise ContractError(f"{file}: not a readable Parquet scores file ({type(exc).__name__}); give the "
                                "scores.parquet a run wrote, unchanged.") from None
        missing = [c for c in _REQUIRED if c not in frame.columns]
        if missing:
            raise ContractError(f"{file}: column(s) {', '.join(missing)} missing; a scores file of data contract "
                                "version 2 has as_of, student_id, score and level (riskmodel.warning.scores_file).")
        frame = frame.assign(as_of=pd.to_datetime(frame["as_of"]).dt.normalize(),
                             student_id=frame["student_id"].astype(str), source=str(file))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*_REQUIRED, "source"])
    issued = pd.concat(frames, ignore_index=True)
    twice = issued.duplicated(["student_id", "as_of"], keep=False)
    if twice.any():
        row = issued.loc[twice].iloc[0]
        files = sorted(issued.loc[twice, "source"].unique())
        raise ContractError(f"{', '.join(files)}: {int(twice.sum())} rows give a student twice on one date (first: "
                            f"row {int(np.flatnonzero(twice.to_numpy())[0]) + 1}, as_of {row['as_of']:%Y-%m-%d}); give "
                            "each run's scores file once (a distributed run: its combined scores.parquet, not also "
                            "the schools').")
    return issued


def apply_issued(frame: pd.DataFrame, issued: pd.DataFrame, *, model_version: str, dates
                 ) -> tuple[pd.DataFrame, dict]:
    """The audit frame with the issued ``score`` and ``level`` on the months ``issued`` covers.

    ``frame`` is riskmodel.audit.run.build_audit_frame's (one row per enrolled student and audited
    date, re-scored). The re-scored values are kept as ``score_rescored`` / ``level_rescored``; the
    ``path`` (rule or score) is the re-scoring's where the levels agree and :data:`ISSUED_PATH`
    where they do not (the scores file does not say why a student was listed).

    Returns
    -------
    (frame, info)
        ``info``: per audited date, where its scores came from and, for issued months, the rows and how
        many scores and levels the re-scoring reproduces.

    Raises
    ------
    ModelMismatchError
        A file was written by another model.
    ConfigError
        A file's date is not an audited month.
    ContractError
        A file's students are not the students enrolled on its date in the audited data.
    """
    dates = [pd.Timestamp(d) for d in dates]
    info = {f"{d:%Y-%m-%d}": {"scores": "re-scored by the audit"} for d in dates}
    if issued.empty:
        return frame, info
    if "model_version" in issued.columns:
        other = issued.loc[issued["model_version"].astype(str) != str(model_version)]
        if len(other):
            raise ModelMismatchError(
                f"{other['source'].iloc[0]}: written by model {other['model_version'].iloc[0]}, the audited model is "
                f"{model_version}; audit the model that issued the scores (--model), or leave the file out.")
    outside = issued.loc[~issued["as_of"].isin(dates)]
    if len(outside):
        raise ConfigError(f"{outside['source'].iloc[0]}: scores of {outside['as_of'].iloc[0]:%Y-%m-%d}, which is not "
                          f"an audited month ({dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}, day "
                          f"{dates[0].day}); widen --from/--to or leave the file out.")
    frame = frame.copy()
    frame["score_rescored"], frame["level_rescored"] = frame["score"], frame["level"]
    keys = pd.MultiIndex.from_frame(frame[["student_id", "as_of"]].astype({"student_id": str}))
    for as_of, month in issued.groupby("as_of", sort=True):
        rows = np.flatnonzero(frame["as_of"].to_numpy() == as_of.to_datetime64())
        enrolled = set(frame["student_id"].iloc[rows].astype(str))
        given = set(month["student_id"])
        if given != enrolled:
            source = ", ".join(sorted(month["source"].unique()))
            raise ContractError(
                f"{source}: {len(given - enrolled)} student(s) of the scores file are not enrolled on {as_of:%Y-%m-%d} "
                f"in the audited data and {len(enrolled - given)} enrolled student(s) are missing from it; the run "
                "and the audit did not read the same register. Audit with the data folder the run read.")
        at = keys.get_indexer(pd.MultiIndex.from_frame(month[["student_id", "as_of"]]))
        score = pd.to_numeric(month["score"], errors="coerce").to_numpy(dtype=float)
        level = month["level"].astype(str).to_numpy(dtype=object)
        rescored = frame["score"].to_numpy(dtype=float)[at]
        same_level = frame["level"].astype(str).to_numpy(dtype=object)[at] == level
        frame.loc[frame.index[at], "score"] = score
        frame.loc[frame.index[at], "level"] = level
        frame.loc[frame.index[at[~same_level]], "path"] = ISSUED_PATH
        info[f"{as_of:%Y-%m-%d}"] = {
            "scores": "issued", "source": sorted(month["source"].unique()), "rows": int(len(month)),
            "scores_reproduced": int((np.abs(rescored - score) <= SCORE_TOLERANCE).sum()),
            "levels_reproduced": int(same_level.sum()),
            "largest_score_difference": float(np.nanmax(np.abs(rescored - score))) if len(month) else 0.0,
        }
    return frame, info
