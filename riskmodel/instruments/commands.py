"""``riskmodel score-screenings``: score a centre's raw screening export outside any model.

Reads one file of the ``screenings`` table (CSV, XLSX or Parquet, any header the column mapping
knows) with ``riskmodel.data.read_table``, which validates every row and rejects the ones that cannot
be scored (with ``item_problems``' reasons); scores the accepted rows; writes one row per
administration to ``OUT_FILE`` (format by its suffix) and the rejected rows beside it
(``<stem>_rejected<suffix>``), both atomically and owner-only (riskmodel.outputs).

Spreadsheet safety: a text cell that starts with ``= + - @`` (or a tab / carriage return) is written
with a leading apostrophe in CSV and XLSX so that a spreadsheet never runs it as a formula. A character
XML forbids (a control character in an ID or a text cell) is shown as U+FFFD in the XLSX only
(riskmodel.outputs.xml_safe); the CSV and the Parquet keep every value byte for byte.

Example
-------
>>> from riskmodel.config import Settings
>>> scored, rejected, paths = score_screenings_file("export.xlsx", "scores.xlsx",
...                                                 settings=Settings())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ConfigError
from riskmodel.instruments.rules import stages
from riskmodel.instruments.scoring import score
from riskmodel.instruments.specs import all_specs
from riskmodel.outputs import atomic_path, neutralise_frame

__all__ = ["score_screenings_file", "write_frame", "rejected_path", "OUTPUT_SUFFIXES"]

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".csv", ".xlsx", ".parquet")
def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` by its suffix (.csv UTF-8 with BOM, .xlsx, .parquet), atomically, 0600.

    Raises
    ------
    ConfigError
        For another suffix.

    Example
    -------
    >>> import tempfile
    >>> path = write_frame(pd.DataFrame({"id": ["=1+1"]}), Path(tempfile.mkdtemp()) / "x.csv")
    >>> path.read_text(encoding="utf-8-sig").splitlines()
    ['id', "'=1+1"]
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise ConfigError(f"{path}: cannot write a {suffix or 'suffix-less'} file; end the name with "
                          f"{', '.join(OUTPUT_SUFFIXES)}.")
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]) and suffix != ".parquet":
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            out.to_parquet(tmp, index=False, engine="pyarrow")
        elif suffix == ".csv":
            neutralise_frame(out).to_csv(tmp, index=False, encoding="utf-8-sig")  # BOM: Excel reads Chinese text
        else:
            neutralise_frame(out, xlsx=True).to_excel(tmp, index=False, engine="openpyxl")  # no XML-illegal character
    return path


def rejected_path(out: str | Path) -> Path:
    """Where the rejected rows of ``out`` go: ``<stem>_rejected<suffix>`` beside it.

    Example
    -------
    >>> rejected_path("out/scores.xlsx").as_posix()
    'out/scores_rejected.xlsx'
    """
    out = Path(out)
    return out.with_name(f"{out.stem}_rejected{out.suffix}")


def score_screenings_file(
    in_file: str | Path, out_file: str | Path, *, settings: Settings, mapping: str | Path | None = None,
    stage: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Path]]:
    """Read, validate and score one screenings export; write the scores and the rejected rows.

    Parameters
    ----------
    in_file
        A screenings file (.csv, .xlsx, .parquet) with the contract's columns or mapped headers.
    out_file
        Scores to write, one row per accepted administration (.csv, .xlsx or .parquet).
    settings
        All settings (``data`` for reading, ``instruments`` for scoring).
    mapping
        Column-mapping YAML (docs/data.md); ``None``: ``settings.data.mapping`` or the shipped headers.
    stage
        One school stage for the whole file (selects the PHQ-9 positive cut-off); ``None``: the adult
        cut-off (10), the more sensitive one.

    Returns
    -------
    scored, rejected, paths
        The scores (``score``'s columns, ``duration_seconds`` and ``counselling_request`` when the file
        has them, and ``sub_<scale>`` only for the instruments in the file), the rejected rows
        (``table, row, column, value, reason``) and ``{"scores": ..., "rejected": ...}``.

    Raises
    ------
    ConfigError
        When the output would overwrite the input, has an unknown suffix, or the stage is unknown.
    ContractError
        When the file cannot be read or lacks a required column (from riskmodel.data).
    """
    from riskmodel.data import read_table  # the loader reads the specifications; imported at use

    in_file, out_file = Path(in_file), Path(out_file)
    if out_file.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--out {out_file}: end the name with {', '.join(OUTPUT_SUFFIXES)}.")
    if out_file.resolve() == in_file.resolve() or rejected_path(out_file).resolve() == in_file.resolve():
        raise ConfigError(f"--out {out_file} would overwrite the input {in_file}; choose another name.")
    if stage is not None and stage not in stages():
        raise ConfigError(f"--stage {stage!r}: use one of {', '.join(stages())}.")
    accepted, rejected = read_table(in_file, "screenings", settings=settings, mapping=mapping)
    stage_of_rows = None if stage is None else pd.Series(stage, index=accepted.index)
    scored = score(accepted, settings=settings.instruments, stage=stage_of_rows)
    # subscale columns of instruments the file does not hold would only be empty columns
    present = set(accepted["instrument"].astype(str)) if len(accepted) else set()
    wanted = {f"sub_{scale}" for code in present for scale in all_specs()[code].subscales}
    scored = scored.drop(columns=[c for c in scored.columns if c.startswith("sub_") and c not in wanted])
    for position, column in enumerate(("duration_seconds", "counselling_request"), start=3):
        if column in accepted.columns:  # the inputs of too_fast and of UPI class 1, shown beside them
            scored.insert(position, column, accepted[column])
    paths = {"scores": write_frame(scored, out_file), "rejected": write_frame(rejected, rejected_path(out_file))}
    log.info("scored %d administrations, %d rejected rows", len(scored), len(rejected))
    return scored, rejected, paths
