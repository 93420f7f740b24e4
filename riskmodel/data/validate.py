"""``riskmodel validate``: load a data directory, print what was read, write the rejected rows.

The rejected-rows file is CSV in UTF-8 with BOM (Excel and WPS open the Chinese text correctly),
columns ``table,row,column,value,reason``, written atomically with mode 0600. By default it goes
*beside* the data folder, never into it: ``<DATA_DIR>_rejected_rows.csv`` (for ``exports/2024-03``
that is ``exports/2024-03_rejected_rows.csv``), so the centre's export stays exactly as it was
handed in and two folders never share one file. ``--rejected PATH`` puts it elsewhere (also inside
the folder, if asked). The file is written even when nothing was rejected (header only), so an old
file never tells a stale story.

Example
-------
>>> default_rejected_path(Path("exports/2024-03")).name  # beside the folder (the path is made absolute)
'2024-03_rejected_rows.csv'
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from riskmodel.config import Settings
from riskmodel.data.dataset import Dataset
from riskmodel.data.load import REJECTED_COLUMNS, load_validated
from riskmodel.errors import ContractError, PreflightError
from riskmodel.i18n import text
from riskmodel.outputs import neutralise, write_bytes

__all__ = ["default_rejected_path", "write_rejected", "summary_table", "check_usable", "run_validate"]

log = logging.getLogger(__name__)


def default_rejected_path(data_dir: Path) -> Path:
    """``<DATA_DIR>_rejected_rows.csv`` beside the data folder (never inside it)."""
    # resolved, so that "." or "data/.." still puts the file beside the folder, not inside it
    data_dir = Path(data_dir).resolve()
    return data_dir.parent / f"{data_dir.name}_rejected_rows.csv"


def write_rejected(rejected: pd.DataFrame, path: str | Path, *, lang: str = "en") -> Path:
    """Write the rejected rows as CSV, UTF-8 with BOM, atomically, mode 0600.

    Raises
    ------
    PreflightError
        When the file cannot be written (exit status 3).
    """
    path = Path(path)
    table = rejected.reindex(columns=REJECTED_COLUMNS).copy()
    table["value"] = neutralise(table["value"])
    data = table.to_csv(index=False, lineterminator="\r\n")
    try:
        write_bytes(path, data.encode("utf-8-sig"))
    except OSError as exc:
        raise PreflightError(text("data.error.rejected_unwritable", lang, path=path, detail=exc.strerror)) from None
    return path


def summary_table(dataset: Dataset, lang: str) -> Table:
    """The per-table summary: rows read, accepted, rejected, and rejected problems by reason."""
    table = Table(title=text("data.summary.title", lang))
    for key in ("table", "file", "rows_read", "accepted", "rejected", "blanked", "reasons"):
        table.add_column(text(f"data.summary.{key}", lang), justify="right" if key in
                         ("rows_read", "accepted", "rejected", "blanked") else "left")
    for row in dataset.summary.itertuples(index=False):  # one line per table, a handful at most
        reasons = "; ".join(f"{label} {count}" for label, count in (row.by_reason or {}).items())
        blanked = getattr(row, "blanked", 0)
        table.add_row(row.table, row.file, str(row.rows_read), str(row.accepted), str(row.rejected),
                      str(0 if pd.isna(blanked) else int(blanked)), reasons)
    return table


def check_usable(dataset: Dataset, *, lang: str, rejected: str | Path = "",
                 counts: tuple[int, int] | None = None) -> None:
    """Refuse data that cannot make a list: no student accepted, or no screening accepted.

    Both tables are required by the contract; a run scoring every student without a single
    screening would look like a quiet month instead of a broken export.

    Raises
    ------
    ContractError
        Naming the file and where the reasons are (exit status 2).
    """
    summary = dataset.summary.set_index("table") if len(dataset.summary) else None
    if counts is None:  # students and screenings accepted (given when the tables are in a store, not here)
        counts = (len(dataset.table("students")), len(dataset.table("screenings")))
    if not counts[0]:
        file = summary.loc["students", "file"] if summary is not None and "students" in summary.index else "students"
        raise ContractError(text("data.error.all_rejected", lang, file=file, rejected=rejected))
    if not counts[1]:
        has = summary is not None and "screenings" in summary.index
        raise ContractError(text("data.error.no_screenings", lang, file=summary.loc["screenings", "file"] if has
                                 else "screenings", n=int(summary.loc["screenings", "rows_read"]) if has else 0,
                                 rejected=rejected))


def run_validate(
    data_dir: str | Path, *, settings: Settings, mapping: str | Path | None = None,
    rejected_path: str | Path | None = None, store_path: str | Path | None = None, console: Console | None = None,
) -> Dataset:
    """Load ``data_dir``, print the summary, write the rejected rows (and the store when asked).

    Raises
    ------
    ContractError
        A fatal problem of the data (exit status 2), including "no student accepted" and "no screening
        accepted" (after the rejected rows are written, so the centre can see why).
    PreflightError
        The rejected rows or the store cannot be written (exit status 3).
    """
    console = console or Console()
    lang = settings.reports.lang
    if store_path is not None:  # chunk by chunk into the store, in bounded memory (riskmodel.data.ingest)
        from riskmodel.data.ingest import validate_into_store

        try:
            ingested = validate_into_store(data_dir, store_path, settings=settings, mapping=mapping)
        except OSError as exc:
            raise PreflightError(text("data.error.store_unwritable", lang, path=store_path, detail=exc)) from None
        dataset, reused = ingested.dataset, ingested.reused
        n_students, n_screenings = ingested.students, ingested.screenings
    else:
        validated = load_validated(data_dir, settings=settings, mapping=mapping)
        dataset, reused = validated.dataset, []
        n_students, n_screenings = len(dataset.table("students")), len(dataset.table("screenings"))
    target = Path(rejected_path) if rejected_path is not None else default_rejected_path(Path(data_dir))
    write_rejected(dataset.rejected, target, lang=lang)
    console.print(summary_table(dataset, lang))
    if dataset.skipped:
        console.print(f"[bold]{text('data.summary.skipped', lang)}[/]")
        for note in dataset.skipped:
            console.print(f"  - {note}", highlight=False, markup=False)
    console.print(text("data.summary.rejected_file", lang, path=target, n=len(dataset.rejected)), highlight=False)
    rejected_students = int(dataset.summary.set_index("table").loc["students", "rejected"])
    if rejected_students:
        console.print(f"[bold yellow]{text('data.summary.students_rejected', lang, n=rejected_students)}[/]",
                      highlight=False)
    cut_off = text("data.code.truncated", lang)
    for row in dataset.summary.itertuples(index=False):  # an export that stopped half way: say it loudly
        if cut_off in (row.by_reason or {}):
            console.print(f"[bold yellow]{text('data.summary.truncated', lang, file=row.file)}[/]", highlight=False)
    # after the rejected rows are written: they say why
    check_usable(dataset, lang=lang, rejected=target, counts=(n_students, n_screenings))
    if store_path is not None:
        if reused:
            console.print(text("data.summary.store_reused", lang, path=store_path, tables=", ".join(reused)),
                          highlight=False)
        console.print(text("data.summary.store", lang, path=store_path), highlight=False)
    console.print(text("data.summary.usable", lang, students=n_students, checksum=dataset.checksum[:12]),
                  highlight=False)
    return dataset
