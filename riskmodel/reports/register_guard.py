"""Nobody leaves the list silently: the register-loss guard and the dropped students of a run.

Two guards of the scheduled run (docs/scheduling.md, "A student missing from the register"):

1. **Register loss, before anything is written.** The students scored by the previous run of the
   same school(s) (its ``report_data/list.parquet``, by pseudonym) are looked up among this
   register's accepted students. When more than ``warning.max_register_loss`` of them (5% by
   default) are missing or rejected, the export is probably cut off or broken (a students file that
   stopped half way, a shifted column that rejects every row): the run refuses with exit status 2.
   A real loss (a year group that graduated and was taken out of the export) is accepted with
   ``riskmodel run --accept-register-loss`` or a higher setting. A new pseudonym key also "loses"
   everyone: the message says so.
2. **Dropped students, after scoring.** A student on the previous list who was not scored now
   (missing from this register, or their row rejected) is ``dropped`` in the list
   (riskmodel.warning.warning_list), named by pseudonym in the manifest and on the index page, and
   the run ends with exit status 1: a missing level-I student is a safety issue, never "cleared".

Logs carry counts only, never a pseudonym.

Example
-------
>>> lost = register_loss(["S-A", "S-B", "S-C"], pd.Series(["S-A"]), max_share=0.05)
>>> lost["missing"], lost["share"], lost["refused"]
(2, 0.6667, True)
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import pandas as pd

__all__ = ["dropped_students", "previous_scored", "register_loss"]

log = logging.getLogger(__name__)


def previous_scored(out: Path, schools: list[str], as_of: date, same_schools: list[Path]) -> tuple[str, list[str]] | None:
    """(run name, pseudonyms it scored) of the run the register is compared with, or None.

    The latest earlier run of the same schools (``same_schools``, oldest first); without one, the latest
    earlier run whose schools include all of this run's (a school may have vanished from the export).
    """
    candidates = list(same_schools)
    if not candidates:
        wider = []
        for path in Path(out).glob("run-*/manifest.json"):
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            if manifest.get("as_of", "") < as_of.isoformat() and set(schools) < set(manifest.get("schools") or []):
                wider.append((manifest.get("as_of", ""), manifest.get("finished", ""), path.parent))
        candidates = [max(wider)[2]] if wider else []
    if not candidates:
        return None
    run_dir = candidates[-1]
    path = run_dir / "report_data" / "list.parquet"
    if not path.exists():
        return None
    return run_dir.name, pd.read_parquet(path, columns=["pseudonym"])["pseudonym"].astype(str).tolist()


def register_loss(previous: list[str], registered: pd.Series, *, max_share: float) -> dict:
    """How many of the previously scored students (pseudonyms) this register lacks, and whether too many.

    ``registered`` is the pseudonym of every accepted student of this register (enrolled or not).
    """
    before = pd.Index(pd.unique(pd.Series(previous, dtype=object)))
    missing = int((~before.isin(pd.Index(registered.astype(str)))).sum())
    share = missing / len(before) if len(before) else 0.0
    return {"previous_students": len(before), "missing": missing, "share": round(share, 4),
            "max_share": max_share, "refused": share > max_share}


def dropped_students(warning_list: pd.DataFrame) -> list[dict]:
    """The list's ``dropped`` students by pseudonym, with the level they had (for the manifest and index)."""
    if "change" not in warning_list.columns:
        return []
    rows = warning_list.loc[warning_list["change"] == "dropped"]
    if rows.empty:
        return []
    order = {"I": 0, "II": 1, "III": 2}
    records = [{"pseudonym": str(p), "previous_level": str(lv)}
               for p, lv in zip(rows["pseudonym"], rows["previous_level"])]
    return sorted(records, key=lambda r: (order.get(r["previous_level"], 9), r["pseudonym"]))
