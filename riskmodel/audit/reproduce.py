"""Reproducibility: re-score a past run from its manifest and check that the list is the same.

:func:`verify_run` reads a run folder written by ``riskmodel run`` (``manifest.json`` and
``warning_list.parquet``), re-scores the same as-of date from the data and model folders it is
given with the run's recorded configuration, and compares:

1. **data**: the SHA-256 of the input files (``Dataset.checksum``) against the manifest's
   ``inputs.data_checksum``;
2. **model**: the model's content version against the manifest's ``model.version``;
3. **list**: a SHA-256 over the *decision* of each listed student, the columns ``as_of, student_id,
   level, rank, score, rules`` (score rounded to 4 decimals as the list writes it; rows sorted by
   student), of the recomputed list against the recorded one. Text written for people (``factors``,
   ``change``, ``run_id``) is not hashed: it depends on the language and on which earlier run was
   the "previous" one, not on the decision. The previous run named in the manifest is used when it
   is still beside the run, so ``change`` is recomputed too and reported, not hashed.

The recorded list is read, never rewritten. Nothing is written anywhere.

Example
-------
>>> # check = verify_run("reports/run-2026-03-01-...", "data/", "models/2025-09")
>>> # bool(check), check.reasons
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ConfigError
from riskmodel.vocab import LEVELS

__all__ = ["HASHED_COLUMNS", "Verification", "list_hash", "verify_run"]

log = logging.getLogger(__name__)

HASHED_COLUMNS: tuple[str, ...] = ("as_of", "student_id", "level", "rank", "score", "rules")


@dataclass
class Verification:
    """The outcome of :func:`verify_run`; true when data, model and list all match."""

    data_matches: bool
    model_matches: bool
    list_matches: bool
    recorded_hash: str
    recomputed_hash: str
    rows_recorded: int
    rows_recomputed: int
    rows_differing: int
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.data_matches and self.model_matches and self.list_matches


def _canonical(listing: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in HASHED_COLUMNS if c not in listing.columns]
    if missing:
        raise ConfigError(f"warning list: columns {missing} are missing; it is not a list riskmodel wrote.")
    frame = listing.loc[listing["level"].isin(LEVELS), list(HASHED_COLUMNS)].copy()
    frame["as_of"] = pd.to_datetime(frame["as_of"]).dt.strftime("%Y-%m-%d")
    frame["student_id"] = frame["student_id"].astype(str)
    frame["rank"] = pd.to_numeric(frame["rank"]).astype("int64").astype(str)
    frame["score"] = pd.to_numeric(frame["score"]).map(lambda v: f"{v:.4f}")
    frame["rules"] = frame["rules"].fillna("").astype(str)
    return frame.sort_values("student_id", kind="mergesort").reset_index(drop=True)


def list_hash(listing: pd.DataFrame) -> str:
    """SHA-256 over the decision columns of the listed students (see the module docstring).

    Example
    -------
    >>> a = pd.DataFrame({"as_of": ["2026-03-01"] * 2, "student_id": ["s2", "s1"], "level": ["I", "II"],
    ...                   "rank": [1, 2], "score": [0.31, 0.2], "rules": ["", ""], "factors": ["x", "y"]})
    >>> list_hash(a) == list_hash(a.iloc[::-1].assign(factors="other words"))
    True
    """
    canonical = _canonical(listing)
    return hashlib.sha256(canonical.to_csv(index=False, lineterminator="\n").encode("utf-8")).hexdigest()


def verify_run(run_dir: str | Path, data_dir: str | Path, model_dir: str | Path, *,
               settings: Settings | None = None) -> Verification:
    """Re-score the run in ``run_dir`` from ``data_dir`` and ``model_dir``; compare (module docstring).

    Parameters
    ----------
    run_dir
        A run folder written by ``riskmodel run`` (``manifest.json``, ``warning_list.parquet``).
    data_dir, model_dir
        The data and the model the run is said to have used.
    settings
        Settings to score with; default: the run's recorded ``configuration``.

    Raises
    ------
    ConfigError
        The folder holds no manifest or list (names the missing file).
    """
    from riskmodel.data import load_dataset
    from riskmodel.features import build_features
    from riskmodel.models.registry import load
    from riskmodel.warning import score_features

    run_dir = Path(run_dir)
    manifest_path, list_path = run_dir / "manifest.json", run_dir / "warning_list.parquet"
    for path in (manifest_path, list_path):
        if not path.exists():
            raise ConfigError(f"{path}: not found; give the folder of a run written by `riskmodel run`.")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    settings = settings or Settings.model_validate(manifest.get("configuration") or {})
    reasons: list[str] = []
    dataset = load_dataset(data_dir, settings=settings)
    recorded_checksum = (manifest.get("inputs") or {}).get("data_checksum", "")
    data_matches = dataset.checksum == recorded_checksum
    if not data_matches:
        reasons.append(f"data checksum {dataset.checksum[:12]} differs from the run's {recorded_checksum[:12]}")
    model = load(model_dir)
    recorded_version = (manifest.get("model") or {}).get("version", "")
    model_matches = model.version == recorded_version
    if not model_matches:
        reasons.append(f"model version {model.version} differs from the run's {recorded_version}")
    as_of = pd.Timestamp(manifest["as_of"])
    previous_name = manifest.get("previous_run")
    previous_path = run_dir.parent / previous_name / "warning_list.parquet" if previous_name else None
    previous = pd.read_parquet(previous_path) if previous_path is not None and previous_path.exists() else None
    features = build_features(dataset, [as_of], settings=settings)
    result = score_features(features, model, as_of, students=dataset.table("students"), settings=settings,
                            lang=manifest.get("lang", settings.reports.lang), previous=previous,
                            run_id=manifest.get("run_id", ""), tables=dataset.tables)
    recorded = pd.read_parquet(list_path)
    recorded_hash, recomputed_hash = list_hash(recorded), list_hash(result.warning_list)
    list_matches = recorded_hash == recomputed_hash
    a, b = _canonical(recorded), _canonical(result.warning_list)
    merged = a.merge(b, on="student_id", how="outer", suffixes=("_recorded", "_recomputed"), indicator=True)
    differing = int((merged["_merge"] != "both").sum())
    both = merged["_merge"] == "both"
    for column in ("level", "rank", "score", "rules"):
        differing += int((both & (merged[f"{column}_recorded"] != merged[f"{column}_recomputed"])).sum())
    if not list_matches:
        reasons.append(f"the recomputed list differs from the recorded one ({differing} differences in "
                       f"{', '.join(HASHED_COLUMNS)})")
    log.info("verify %s: data %s, model %s, list %s", run_dir.name, data_matches, model_matches, list_matches)
    return Verification(data_matches=data_matches, model_matches=model_matches, list_matches=list_matches,
                        recorded_hash=recorded_hash, recomputed_hash=recomputed_hash, rows_recorded=len(a),
                        rows_recomputed=len(b), rows_differing=differing, reasons=reasons)
