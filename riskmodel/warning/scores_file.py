"""The scores file (data contract version 2): every student scored on the date, listed or not.

The warning list holds the listed students only (a few percent of the enrolled); the scores file holds
all of them, so that the ranking can be audited over the whole population (how the model orders the
unlisted, where the capacity cut falls, how scores are spread across schools and classes).

``scores.parquet`` columns, in this order: ``as_of, student_id, pseudonym, school, college, class_id,
score, score_low, score_high, rank, level``, then ``state`` when the scoring produced one (the review
loop's state of each student), then ``model_version`` and ``run_id``. The file is driven by the
columns of the frame it is given (``ScoreResult.scores`` joined to the register, or the run's
``everyone`` frame): a column of the contract the frame lacks is written empty, an optional one
(``state``) only when present. One row per scored student (a test checks that the rows are exactly the
students enrolled on the date). Parquet, written atomically, mode 0600, in an owner-only folder;
it names students, so it is as confidential as the list.

Example
-------
>>> # frame = scores_frame(result.scores, students, model_version=result.model_version, run_id="r1")
>>> # write_scores(frame, out_dir)          # out_dir / "scores.parquet"
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from riskmodel.outputs import private_dir, write_bytes

__all__ = ["SCORES_FILE", "SCORES_COLUMNS", "scores_frame", "write_scores", "read_scores"]

SCORES_FILE = "scores.parquet"
SCORES_COLUMNS = ("as_of", "student_id", "pseudonym", "school", "college", "class_id", "score", "score_low",
                  "score_high", "rank", "level")
_OPTIONAL = ("state",)
_TRAILING = ("model_version", "run_id")
_STUDENT_COLUMNS = ("pseudonym", "school", "college", "class_id")


def scores_frame(scores: pd.DataFrame, students: pd.DataFrame | None = None, *, model_version: str | None = None,
                 run_id: str | None = None) -> pd.DataFrame:
    """The scores file's frame from every scored student's row.

    Parameters
    ----------
    scores
        One row per scored student with ``student_id, as_of, score, score_low, score_high, rank,
        level`` (``ScoreResult.scores``) or the run's ``everyone`` frame (which already carries the
        register columns); ``state`` is kept when present.
    students
        The register, for ``pseudonym, school, college, class_id`` missing from ``scores``.
    model_version, run_id
        Written on every row when given (else kept from ``scores`` if there).
    """
    frame = scores.reset_index(drop=True).copy()
    if students is not None:
        info = students.drop_duplicates("student_id").set_index("student_id")
        for column in _STUDENT_COLUMNS:
            if column not in frame.columns:
                values = frame["student_id"].map(info[column]) if column in info.columns else pd.Series(
                    None, index=frame.index, dtype=object)
                frame[column] = values.astype(object).where(values.notna(), "")
    for column in SCORES_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NA
    if model_version is not None:
        frame["model_version"] = model_version
    if run_id is not None:
        frame["run_id"] = run_id
    columns = [*SCORES_COLUMNS, *(c for c in _OPTIONAL if c in frame.columns),
               *(c for c in _TRAILING if c in frame.columns)]
    out = frame[columns].copy()
    out["as_of"] = pd.to_datetime(out["as_of"])
    for column in ("score", "score_low", "score_high"):
        out[column] = pd.to_numeric(out[column], errors="coerce").round(4)
    out["rank"] = pd.to_numeric(out["rank"], errors="coerce").astype("Int64")
    for column in ("student_id", *_STUDENT_COLUMNS, "level"):
        out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
    # by school, then rank within it (issue 17: rank is per school); one school: by rank as before
    return out.sort_values(["school", "rank", "student_id"], kind="mergesort").reset_index(drop=True)


def write_scores(frame: pd.DataFrame, out_dir: str | Path, *, students: pd.DataFrame | None = None,
                 model_version: str | None = None, run_id: str | None = None) -> Path:
    """Write ``out_dir / scores.parquet`` (atomically, mode 0600; ``out_dir`` owner-only)."""
    import io

    table = scores_frame(frame, students, model_version=model_version, run_id=run_id)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False, engine="pyarrow", compression="zstd")
    return write_bytes(private_dir(out_dir) / SCORES_FILE, buffer.getvalue())


def read_scores(path: str | Path) -> pd.DataFrame:
    """A scores file, or the one in a run or list folder."""
    path = Path(path)
    return pd.read_parquet(path / SCORES_FILE if path.is_dir() else path)
