"""Reading a data directory into a validated :class:`~riskmodel.data.Dataset`.

One code path for one file (:func:`read_table`) and for a whole directory (:func:`load_dataset`):

1. read the file as it is (riskmodel.data.read: format, encoding, where each row is);
2. map the centre's headers to the contract's names (riskmodel.data.mapping); a required column
   missing is fatal;
3. parse each column to its canonical type (riskmodel.data.parse); a cell that is no valid value is
   a problem (``not_a_date``, ``not_a_bool``, ``not_allowed``, ``not_a_number``, ``not_whole``);
4. validate with the pandera schema generated from contract.yaml (riskmodel.data.schema): required
   values, ranges, date order; screening answers with ``riskmodel.instruments.item_problems``;
   a CSV whose last line was cut off mid-export rejects that row (``truncated``);
5. (directory only) referential integrity against the accepted students and dates inside each
   student's enrolment;
6. unique keys among the rows that passed everything else: the first copy is kept, each later copy
   is rejected naming the first's row.

**Only a bad required cell rejects a row.** A bad cell in an optional column (a family flag written
``不清楚``, an impossible birth date, a negative ``duration_seconds``, a ``counsellor_rating`` of 7) is
*blanked*: the cell becomes empty, the row and the student are kept, and the problem is recorded in
the rejected rows with ``action`` ``cell_blanked`` (a rejected row has ``row_rejected``). Required
columns are the contract's ``required: true`` ones, the table's key and the screening answers.

A row rejected for several reasons appears once per reason (one line per problem), so a centre can
fix everything in one pass; a cell that fails parsing is not reported again as empty. The ``value``
column shows a rejected value only where it cannot be personal (numbers, dates, short non-answers
such as 不清楚, student IDs); other text may be a name shifted into the column and is replaced by a
placeholder, here and in every reason (``riskmodel.data.parse.shown_value``).

Example
-------
>>> import tempfile, pathlib
>>> from riskmodel.config import Settings
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "life_events.csv").write_text("学号,日期,事件\\n1,2024-03-01,breakup\\n2,2024-02-30,breakup\\n")
>>> accepted, rejected = read_table(folder / "life_events.csv", "life_events", settings=Settings())
>>> len(accepted), rejected[["row", "column"]].values.tolist()
(1, [[3, 'date']])
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from riskmodel.config import Settings
from riskmodel.data import parse
from riskmodel.data.dataset import Dataset, contract
from riskmodel.data.integrity import StudentReference, integrity_problems, student_reference
from riskmodel.data.mapping import MAX_ITEMS, SHIPPED_MAPPING, ColumnMapping, load_mapping, normalise_header
from riskmodel.data.read import RawFile, discover, handover_parts, read_raw
from riskmodel.data.schema import ITEM_DTYPE, PROBLEM_COLUMNS, duplicates, problem_rows, validate_frame
from riskmodel.errors import ConfigError, ContractError
from riskmodel.i18n import text

__all__ = ["load_dataset", "load_validated", "Validated", "validation_fingerprint", "file_sha256", "read_table",
           "REJECTED_COLUMNS", "ITEM_COLUMNS"]

log = logging.getLogger(__name__)

REJECTED_COLUMNS = ["table", "row", "column", "value", "reason", "file", "action"]
REJECTED_DTYPES = {"table": object, "row": "int64", "column": object, "value": object, "reason": object,
                   "file": object, "action": object}
# a problem of one of these kinds in an optional column blanks the cell; anywhere else it rejects the row
_CELL_CODES = frozenset({"not_a_date", "not_a_bool", "not_allowed", "not_a_number", "not_whole", "out_of_range",
                         "order", "control_char", "decimal_id", "not_utf8"})
_ID_COLUMNS = ("student_id", "class_id", "dorm_id")
# text that names a student or a group: no control character belongs in it (in free text, a NUL only)
_KEY_TEXT = frozenset({"student_id", "school", "college", "grade", "class_id", "dorm_id"})
ITEM_COLUMNS = [f"item_{k}" for k in range(1, MAX_ITEMS + 1)]
_HEADER_SEARCH = 10  # rows below the first in which a header row is looked for


@dataclass
class _Checked:
    """One file after steps 1-4: every row parsed (index 0..n-1), with its problems so far."""

    table: str
    raw: RawFile
    cells: pd.DataFrame  # the raw cells under contract names: the values shown in rejected rows
    frame: pd.DataFrame  # canonical types, every row
    problems: pd.DataFrame  # pos, column, code, params (+ reason, value when already formatted)
    notes: list[str] = field(default_factory=list)


def enum_values(name: str) -> list[str]:
    """Allowed values of contract enum ``name``; instruments also include every specification's code."""
    values = list(contract()["enums"][name])
    if name == "instrument":
        try:
            from riskmodel.instruments.specs import all_specs
        except ImportError:  # pragma: no cover - specifications ship with the package
            return values
        values += [code for code in all_specs() if code not in values]
    return values


def _required_found(headers: list[object], table: str, mapping: ColumnMapping) -> bool:
    targets = set(mapping.header_map(headers, table).values())
    spec = contract()["tables"][table]
    required = {c for c, col in spec["columns"].items() if col.get("required")}
    return required <= targets and ("items" not in spec or any(str(t).startswith("item_") for t in targets))


def _header_row(raw: RawFile, table: str, mapping: ColumnMapping, lang: str) -> tuple[RawFile, list[str]]:
    """The file with its real header row: exports often put a title (“2024级学生名单”) above it.

    When the first row does not hold the required columns, the next rows (up to ``_HEADER_SEARCH``)
    are tried; the first that does becomes the header and the rows above it are not read (noted).
    """
    if raw.format == "parquet" or _required_found(list(raw.frame.columns), table, mapping):
        return raw, []
    top = raw.frame.head(_HEADER_SEARCH).apply(parse.to_text)
    for i in range(len(top)):
        headers = [h if h is not None else f"Unnamed: {j}" for j, h in enumerate(top.iloc[i].tolist())]
        if not _required_found(headers, table, mapping):
            continue
        seen: dict[str, int] = {}
        unique = []
        for header in headers:  # as pandas does for a repeated header: 学号, 学号.1
            unique.append(header if header not in seen else f"{header}.{seen[header]}")
            seen[header] = seen.get(header, 0) + 1
        frame = raw.frame.iloc[i + 1:].reset_index(drop=True)
        frame.columns = unique
        note = text("data.skip.header_row", lang, file=raw.path.name, row=int(raw.rows[i]))
        return replace(raw, frame=frame, rows=raw.rows[i + 1:]), [note]
    return raw, []


def _one_header_each(raw: RawFile, header_map: dict, mapping: ColumnMapping, lang: str) -> list[str]:
    """Two headers for one column: the contract's own name wins over a header only the shipped file
    maps (that one is not read, noted); any other pair is fatal, saying how to leave one out."""
    by_target: dict[str, list] = {}
    for header, target in header_map.items():
        if target is not None:
            by_target.setdefault(target, []).append(header)
    notes = []
    for target, headers in by_target.items():
        if len(headers) < 2:
            continue
        exact = [h for h in headers if normalise_header(h) == target]
        aliases = [h for h in headers if h not in exact]
        if len(exact) == 1 and all(mapping.shipped_alias(h, target) for h in aliases):
            for header in aliases:
                header_map[header] = None
                notes.append(text("data.skip.alias_unused", lang, file=raw.path.name, header=header, column=target))
            continue
        own = [s for s in mapping.sources if s != SHIPPED_MAPPING]
        where = text("data.error.mapping_own", lang, mapping=own[-1]) if own else text("data.error.mapping_new", lang)
        raise ContractError(text("data.error.two_headers", lang, file=raw.path.name, first=headers[0],
                                 second=headers[1], column=target, where=where))
    return notes


def _map_headers(raw: RawFile, table: str, mapping: ColumnMapping, lang: str) -> tuple[pd.DataFrame, list[str]]:
    """The raw cells under contract names; fatal on a missing required column or two headers for one."""
    header_map = mapping.header_map(list(raw.frame.columns), table)
    before = {str(h) for h, t in header_map.items() if t is not None}
    alias_notes = _one_header_each(raw, header_map, mapping, lang)
    alias_headers = {str(h) for h, t in header_map.items() if t is None} & before  # noted by _one_header_each
    seen = {target: str(header) for header, target in header_map.items() if target is not None}
    spec = contract()["tables"][table]
    found = sorted(str(h) for h in raw.frame.columns)
    for column, col_spec in spec["columns"].items():
        if col_spec.get("required") and column not in seen:
            raise ContractError(text("data.error.column_missing", lang, file=raw.path.name, column=column, found=found))
    if "items" in spec and not any(target.startswith("item_") for target in seen):
        raise ContractError(text("data.error.no_items", lang, file=raw.path.name, found=found))
    notes = alias_notes
    unread = [h for h, t in header_map.items() if t is None and str(h) not in alias_headers]
    ignored = [str(h) for h in unread if mapping.ignores(h, table)]
    unknown = [str(h) for h in unread if not mapping.ignores(h, table)]
    if ignored:
        notes.append(text("data.skip.ignored", lang, file=raw.path.name, columns=", ".join(ignored)))
    if unknown:
        notes.append(text("data.skip.columns", lang, file=raw.path.name, columns=", ".join(unknown)))
    if "name" in seen and table == "students":
        notes.append(text("data.skip.name_dropped", lang, file=raw.path.name))
    cells = raw.frame[[h for h, t in header_map.items() if t is not None]]
    cells.columns = [header_map[h] for h in cells.columns]
    return cells, notes


def _text_cells(cells: pd.DataFrame, table: str, *, native: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells with Parquet decimals and binary text as text (riskmodel.data.parse.native_cells), and
    the problems found on the way, the same for every format:

    * ``not_utf8``: a binary cell that is no UTF-8 (it is read as empty);
    * ``decimal_id``: a decimal with a fraction in a text column (an ID such as 2025001.5);
    * ``control_char``: a control character (NUL, ESC, a vertical tab ...) inside a student ID, school,
      college, grade, class or dorm, or a NUL in free text. Such a cell is no identifier anyone typed,
      two such IDs may print alike, and an XLSX cannot hold it.

    A required cell with a problem rejects its row, an optional one is blanked (_CELL_CODES).
    ``native``: the cells may hold Python objects (Parquet); CSV and Excel cells are text already.
    """
    spec = contract()["tables"][table]["columns"]
    found: list[pd.DataFrame] = []
    copied = False
    for column in cells.columns:
        none = np.zeros(len(cells), dtype=bool)
        values, undecodable, fractional = parse.native_cells(cells[column]) if native else (cells[column], none, none)
        if values is not cells[column]:
            if not copied:
                cells, copied = cells.copy(), True
            cells[column] = values
        if undecodable.any():
            found.append(problem_rows(np.flatnonzero(undecodable), column, "not_utf8"))
        col = spec.get(column, {})
        if col.get("type") != "string":
            continue  # enums, dates and numbers: a control character makes the cell no valid value
        if fractional.any():
            found.append(problem_rows(np.flatnonzero(fractional), column, "decimal_id"))
        control = parse.control_cells(values, only_nul=column not in _KEY_TEXT)
        if control.any():
            found.append(problem_rows(np.flatnonzero(control), column, "control_char"))
    problems = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=PROBLEM_COLUMNS)
    return cells, problems


def _parse(cells: pd.DataFrame, table: str, mapping: ColumnMapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical columns (contract order, absent optional columns as typed empties) and parse problems."""
    spec = contract()["tables"][table]
    columns: dict[str, pd.Series] = {}
    found: list[pd.DataFrame] = []
    index = cells.index
    for name, col in spec["columns"].items():
        if name == "name" and table == "students":
            continue  # read so it can be dropped: never kept, stored or reported
        kind = col["type"]
        if name not in cells:
            empty = {"date": (pd.NaT, "datetime64[ns]"), "bool": (pd.NA, "boolean"), "int": (pd.NA, "Int64"),
                     "number": (np.nan, "float64")}
            if kind in ("string", "enum"):
                columns[name] = pd.Series(np.full(len(index), None, dtype=object), index=index)
            else:
                value, dtype = empty[kind]
                columns[name] = pd.Series(value, index=index, dtype=dtype)
            continue
        raw = cells[name]
        if kind == "date":
            values, bad = parse.parse_date(raw)
            code = "not_a_date"
        elif kind == "bool":
            values, bad = parse.parse_bool(raw, spellings=mapping.spellings(name, "bool"))
            code = "not_a_bool"
        elif kind == "enum":
            extra = {**(parse.GENDER_SPELLINGS if col["enum"] == "gender" else {}),
                     **mapping.spellings(name, col["enum"])}
            values, bad = parse.parse_enum(raw, enum_values(col["enum"]), spellings=extra,
                                           compact=col["enum"] == "instrument")
            code = "not_allowed"
            if bad.any():
                found.append(problem_rows(np.flatnonzero(bad.to_numpy()), name, code,
                                       {"allowed": ", ".join(enum_values(col["enum"]))}))
            columns[name] = values
            continue
        elif kind in ("int", "number"):
            values, bad = parse.parse_number(raw)
            code = "not_a_number"
            if kind == "int":
                fractional = values.notna() & (values != np.floor(values))
                if fractional.any():
                    found.append(problem_rows(np.flatnonzero(fractional.to_numpy()), name, "not_whole"))
                values = values.where(~fractional).round().astype("Int64")
        else:
            values, bad = parse.parse_string(raw)
            code = ""
        if bad.any():
            found.append(problem_rows(np.flatnonzero(bad.to_numpy()), name, code))
        columns[name] = values
    if "items" in spec:
        # answers written as words (a questionnaire platform's 是/否): the mapping file's values: items:
        answer_words = {str(k).strip(): float(v) for k, v in mapping.spellings("items", None).items()}
        for item in ITEM_COLUMNS:
            if item in cells:
                answers = cells[item]
                if answer_words and answers.dtype == object:
                    as_text = parse.to_text(answers)
                    answers = as_text.map(answer_words).where(lambda mapped: mapped.notna(), as_text)
                # answers stay as read here; riskmodel.instruments reports what cannot be scored
                columns[item] = pd.to_numeric(answers, errors="coerce").astype(ITEM_DTYPE)
            else:
                columns[item] = pd.Series(np.nan, index=index, dtype=ITEM_DTYPE)
    frame = pd.DataFrame(columns, index=index)
    problems = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=PROBLEM_COLUMNS)
    return frame, problems


def _item_problems(frame: pd.DataFrame, cells: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Answers that cannot be scored (riskmodel.instruments), on rows whose instrument is known."""
    from riskmodel.instruments.problems import item_problems  # the specification layer (docs/architecture.md)

    lang = settings.reports.lang
    known = frame["instrument"].notna().to_numpy()
    items = [c for c in ITEM_COLUMNS if c in cells]
    # a cell that is not a number is NaN in the frame; those rows go over as read, so that the
    # instrument's check names the value instead of calling it missing
    if items:
        unreadable = (cells[items].notna().to_numpy() & frame[items].isna().to_numpy()).any(axis=1)
    else:
        unreadable = np.zeros(len(frame), bool)
    parts = []
    clean = known & ~unreadable
    if clean.all():  # the usual case: no copy of 100 answer columns
        parts.append(item_problems(frame, settings=settings.instruments, lang=lang))
    elif clean.any():
        parts.append(item_problems(frame.loc[clean, ["instrument", *ITEM_COLUMNS]], settings=settings.instruments,
                                   lang=lang))
    dirty = known & unreadable
    if dirty.any():
        numbers = frame.loc[dirty, items]
        # numbers where the cell was read as one (or mapped from a word), the cell as written elsewhere
        # text that is not a number may be a name shifted into the answers: never quoted in a reason
        hidden = text("data.value.hidden", lang)
        written = cells.loc[dirty, items].apply(parse.to_text).apply(
            lambda col: parse.shown_value(col, hidden).where(col.notna(), None))
        as_read = numbers.astype(object).where(numbers.notna(), written)
        parts.append(item_problems(pd.concat([frame.loc[dirty, ["instrument"]], as_read], axis=1),
                                   settings=settings.instruments, lang=lang))
    found = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["index", "column", "value", "reason"])
    return pd.DataFrame({"pos": found["index"].astype("int64").to_numpy(), "column": found["column"].to_numpy(),
                         "code": "answers", "params": [{}] * len(found), "reason": found["reason"].to_numpy(),
                         "value": found["value"].astype(str).to_numpy()})


def optional_columns(table: str) -> frozenset[str]:
    """Columns of ``table`` whose bad cell is blanked rather than rejecting the row: not required by
    the contract, not part of the table's key, not a screening answer."""
    spec = contract()["tables"][table]
    key = set(spec.get("key", ()))
    return frozenset(c for c, col in spec["columns"].items() if not col.get("required") and c not in key)


def excel_sheet_for(setting: str | int | dict, table: str, lang: str = "en") -> tuple[str | int, bool]:
    """The sheet to read for ``table`` from ``data.excel_sheet``, and whether a workbook without a
    sheet of that name falls back to its first sheet (a single name set for every workbook)."""
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(contract()["tables"]))
        if unknown:
            raise ConfigError(text("data.error.sheet_tables", lang, unknown=unknown, tables=sorted(contract()["tables"])))
        return setting.get(table, 0), False
    return setting, isinstance(setting, str)


def _id_counts(raw: RawFile, cells: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Per identifier column, cells cleaned of invisible characters and cells that may have lost digits."""
    counts: dict[tuple[str, str], int] = {}
    for column in (c for c in _ID_COLUMNS if c in cells):
        values = cells[column]
        counts[(column, "invisible")] = parse.invisible_cells(values)
        if pd.api.types.is_float_dtype(values):  # 2**53: beyond it a float64 no longer holds every integer
            counts[(column, "float_ids")] = int((values.abs() >= 2.0 ** 53).sum())
    return counts


def _id_notes_text(file: str, counts: dict[tuple[str, str], int], lang: str) -> list[str]:
    """The notes of :func:`_id_counts` (of one file, or summed over its chunks)."""
    notes = []
    for column in _ID_COLUMNS:
        for kind in ("invisible", "float_ids"):
            n = counts.get((column, kind), 0)
            if n:
                notes.append(text(f"data.skip.{kind}", lang, file=file, column=column, n=n))
    return notes


def _id_notes(raw: RawFile, cells: pd.DataFrame, lang: str) -> list[str]:
    """Notes on identifier cells that were cleaned (invisible characters) or may have lost digits."""
    return _id_notes_text(raw.path.name, _id_counts(raw, cells), lang)


def _check_file(path: Path, table: str, settings: Settings, mapping: ColumnMapping) -> _Checked:
    lang = settings.reports.lang
    sheet, fallback = excel_sheet_for(settings.data.excel_sheet, table, lang)
    raw = read_raw(path, encoding=settings.data.encoding, excel_sheet=sheet,
                   is_header=lambda cells: _required_found(cells, table, mapping), lang=lang, sheet_fallback=fallback)
    return _check_raw(raw, table, settings, mapping)


def _check_raw(raw: RawFile, table: str, settings: Settings, mapping: ColumnMapping, *,
               id_counts: dict | None = None) -> _Checked:
    """Steps 2-4 of one file as read (or of one chunk of it: ``id_counts`` then collects the identifier
    counts instead of turning them into notes, and an empty chunk is no error)."""
    lang = settings.reports.lang
    path = raw.path
    raw, header_notes = _header_row(raw, table, mapping, lang)
    cells, notes = _map_headers(raw, table, mapping, lang)
    cells, text_problems = _text_cells(cells, table, native=raw.format == "parquet")
    if id_counts is None:
        notes = list(raw.notes) + header_notes + notes + _id_notes(raw, cells, lang)
        if table == "students" and cells.empty:
            raise ContractError(text("data.error.students_empty", lang, file=path.name))
    else:
        notes = list(raw.notes) + header_notes + notes
        for k, n in _id_counts(raw, cells).items():
            id_counts[k] = id_counts.get(k, 0) + n
    frame, parse_problems = _parse(cells, table, mapping)
    if len(text_problems):
        parse_problems = pd.concat([text_problems, parse_problems], ignore_index=True)
    # a 4-point GPA above 4 is as wrong as a mean score above 100 (contract: 0-5, scale a setting)
    schema_problems = validate_frame(frame, table, limits=(("gpa", 0, settings.data.gpa_scale),))
    if len(parse_problems) and len(schema_problems):
        # a cell that could not be parsed is empty now; do not report it a second time as empty
        already = pd.MultiIndex.from_frame(parse_problems[["pos", "column"]])
        schema_problems = schema_problems[~pd.MultiIndex.from_frame(schema_problems[["pos", "column"]]).isin(already)]
    parts = [parse_problems, schema_problems]
    if "items" in contract()["tables"][table]:
        parts.append(_item_problems(frame, cells, settings))
    if raw.truncated_row is not None:
        at = np.flatnonzero(raw.rows == raw.truncated_row)
        parts.append(problem_rows(at, "*", "truncated"))  # riskmodel validate says so in a line of its own
    problems = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else \
        pd.DataFrame(columns=PROBLEM_COLUMNS)
    return _Checked(table, raw, cells, frame, problems, notes)


def _cell_values(checked: _Checked, problems: pd.DataFrame, lang: str) -> np.ndarray:
    """The raw cell behind each problem (key columns joined with ', '), as text; text that may be
    personal is replaced by a placeholder (module docstring). Student IDs and duplicate keys (values
    that passed every check) are shown."""
    values = np.full(len(problems), "", dtype=object)
    given = problems["value"].to_numpy() if "value" in problems else np.full(len(problems), np.nan, dtype=object)
    for column, where in problems.groupby("column", sort=False).indices.items():
        names = [c for c in str(column).split(",") if c in checked.cells]
        if not names or ("value" in problems and not pd.isna(given[where]).all()):
            values[where] = [("" if pd.isna(v) else str(v)) for v in given[where]]
            continue
        pos = problems["pos"].to_numpy(dtype="int64")[where]
        texts = [parse.to_text(checked.cells[name].iloc[pos]).fillna("").astype(str) for name in names]
        joined = texts[0]
        for more in texts[1:]:  # vectorised: 200,000 duplicate keys joined without a Python loop
            joined = joined + ", " + more
        values[where] = joined.to_numpy()
    redact = (problems["column"].astype(str) != "student_id").to_numpy() & (problems["code"] != "duplicate").to_numpy()
    if redact.any():
        values[redact] = parse.shown_value(pd.Series(values[redact], dtype=object),
                                           text("data.value.hidden", lang)).to_numpy()
    control = parse.control_cells(pd.Series(values, dtype=object))
    if control.any():  # an ID with a NUL or ESC in it: shown as \x00, \x1b where the character is
        values[control] = [parse.shown_control(v) for v in values[control]]
    return values


def _split_cells(checked: _Checked, problems: pd.DataFrame) -> np.ndarray:
    """Blank the optional cells that have a problem; return, per problem, whether it blanked a cell."""
    optional = optional_columns(checked.table)
    blanked = (problems["column"].isin(optional) & problems["code"].isin(_CELL_CODES)).to_numpy()
    frame = checked.frame
    for column, where in problems.loc[blanked].groupby("column").indices.items():
        pos = problems.loc[blanked, "pos"].to_numpy(dtype="int64")[where]
        mask = np.zeros(len(frame), dtype=bool)
        mask[frame.index.get_indexer(pos)] = True
        values = frame[column]
        empty = None if values.dtype == object else (pd.NaT if values.dtype.kind == "M" else pd.NA)
        if values.dtype == "float64":
            empty = np.nan
        frame[column] = values.mask(mask, empty) if empty is not None else values.where(~mask, None)
    return blanked


def _finish(checked: _Checked, extra: pd.DataFrame, lang: str) -> tuple[pd.DataFrame, pd.DataFrame, dict, pd.Index]:
    """Steps 6 and the end: duplicates among survivors, the accepted frame, rejected rows, summary."""
    problems = pd.concat([p for p in (checked.problems, extra) if len(p)] or [checked.problems], ignore_index=True)
    blanked = _split_cells(checked, problems)
    problems["blanked"] = blanked
    rejected_pos = pd.Index(problems.loc[~blanked, "pos"].astype("int64").unique())
    survivors = checked.frame.drop(index=rejected_pos)
    dups = duplicates(survivors, checked.table)
    rows = checked.raw.rows
    if len(dups):
        dups["params"] = [{**p, "first_row": int(rows[p["first_pos"]])} for p in dups["params"]]
        problems = pd.concat([problems, dups.assign(blanked=False)], ignore_index=True)
        rejected_pos = rejected_pos.append(pd.Index(dups["pos"].astype("int64")))
    problems = problems.sort_values(["pos"], kind="stable").reset_index(drop=True)
    reasons = problems["reason"].to_numpy(dtype=object) if "reason" in problems else np.full(len(problems), np.nan, object)
    # a blanked cell of a row rejected for another reason is reported as part of the rejected row
    blanked = problems["blanked"].to_numpy(dtype=bool) & ~problems["pos"].isin(rejected_pos).to_numpy()
    suffix = text("data.blanked", lang)
    templates: dict[str, str] = {}  # one catalogue look-up a code, not one a row

    def reason(code: str, params: dict) -> str:
        if code not in templates:
            templates[code] = text(f"data.reason.{code}", lang)
        return templates[code].format(**params)

    formatted = [
        (r if isinstance(r, str) else reason(code, params)) + (suffix if cell else "")
        for r, code, params, cell in zip(reasons, problems["code"], problems["params"], blanked)
    ]
    rejected = pd.DataFrame({
        "table": checked.table,
        "row": rows[problems["pos"].to_numpy(dtype="int64")].astype("int64"),
        "column": problems["column"].astype(str).to_numpy(),
        "value": _cell_values(checked, problems, lang),
        "reason": formatted,
        "file": checked.raw.path.name,
        "action": np.where(blanked, "cell_blanked", "row_rejected"),
    }, columns=REJECTED_COLUMNS).astype(REJECTED_DTYPES)
    accepted = checked.frame.drop(index=rejected_pos).reset_index(drop=True)
    by_reason = {text(f"data.code.{code}", lang): int(n) for code, n in problems["code"].value_counts().items()}
    summary = {"table": checked.table, "file": checked.raw.path.name, "rows_read": len(checked.frame),
               "accepted": len(accepted), "rejected": len(rejected_pos), "by_reason": by_reason,
               "blanked": int(blanked.sum())}
    log.info("%s: %d rows read, %d accepted, %d rejected", checked.table, len(checked.frame), len(accepted),
             len(rejected_pos))
    return accepted, rejected, summary, rejected_pos


def _mapping(settings: Settings, mapping: str | Path | ColumnMapping | None) -> ColumnMapping:
    if isinstance(mapping, ColumnMapping):
        return mapping
    return load_mapping(mapping if mapping is not None else settings.data.mapping, lang=settings.reports.lang)


def read_table(
    path: str | Path, table: str, *, settings: Settings, mapping: str | Path | ColumnMapping | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate one file of ``table``: (accepted rows in canonical form, rejected rows).

    Only the checks one file allows are made (steps 1-4 and 6 of the module docstring); referential
    integrity and enrolment need the students table (:func:`load_dataset`). A ``students`` table read
    here carries no ``pseudonym`` (that needs the key; :func:`load_dataset` adds it).

    Parameters
    ----------
    path
        A .csv, .xlsx or .parquet file.
    table
        The contract table it holds (``screenings``, ``students`` ...).
    settings
        All settings; ``settings.data`` (encoding, sheet, mapping) and ``settings.instruments``.
    mapping
        A mapping file (laid over the shipped Chinese headers), or a loaded :class:`ColumnMapping`;
        ``None``: ``settings.data.mapping``.

    Returns
    -------
    accepted, rejected
        Canonical rows (index 0..n-1) and ``table, row, column, value, reason``.

    Raises
    ------
    ContractError
        When the file cannot be read or a required column is missing.
    """
    if table not in contract()["tables"]:
        raise ContractError(text("data.error.not_a_table", settings.reports.lang, table=table,
                                 tables=sorted(contract()["tables"])))
    checked = _check_file(Path(path), table, settings, _mapping(settings, mapping))
    accepted, rejected, _, _ = _finish(checked, pd.DataFrame(columns=PROBLEM_COLUMNS), settings.reports.lang)
    return accepted, rejected


def _file_info(checked: _Checked) -> dict:
    raw = checked.raw
    return {"path": str(raw.path), "sha256": raw.sha256, "format": raw.format, "encoding": raw.encoding,
            "rows": len(checked.frame)}


def _checksum(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode("utf-8") + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_dataset(
    data_dir: str | Path, *, settings: Settings, mapping: str | Path | ColumnMapping | None = None,
) -> Dataset:
    """Read, map and validate every table of ``data_dir`` (the whole module docstring).

    Parameters
    ----------
    data_dir
        A folder with one file per table (``students.csv``, ``screenings.xlsx`` ...).
    settings
        All settings (``settings.data``, ``settings.instruments``, ``settings.reports.lang`` for
        the language of reasons and notes).
    mapping
        Column-mapping file laid over the shipped one; ``None``: ``settings.data.mapping``.

    Returns
    -------
    Dataset
        Accepted rows of every table handed in; ``rejected`` holds every rejected row.

    Raises
    ------
    ContractError
        A required table or column is missing, a file cannot be read, the students table is empty.

    Example
    -------
    >>> dataset = load_dataset("data/demo", settings=Settings())  # doctest: +SKIP
    >>> dataset.summary[["table", "rows_read", "accepted", "rejected"]]  # doctest: +SKIP
    """
    return load_validated(data_dir, settings=settings, mapping=mapping).dataset


@dataclass
class Validated:
    """What :func:`load_validated` gives: the dataset and what a store keeps to reuse unchanged files."""

    dataset: Dataset
    reference: StudentReference  # the students every other table was checked against
    notes: dict[str, list[str]]  # the loader's notes per table (file)
    fingerprint: str  # what validation depended on besides the files (validation_fingerprint)
    reused: list[str] = field(default_factory=list)  # tables taken from the store, their files not read


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validation_fingerprint(settings: Settings, mapping: ColumnMapping, key: bytes) -> str:
    """What a validated table depends on besides its file: data and instrument settings, the mapping, the
    language of the reasons, the pseudonym key (its hash), the contract and riskmodel's version."""
    import json
    from dataclasses import asdict

    from riskmodel import __version__

    data = settings.data.model_dump(mode="json", exclude={"chunk_rows", "store_memory"})  # speed, not result
    payload = {"data": data, "instruments": settings.instruments.model_dump(mode="json"),
               "lang": settings.reports.lang, "mapping": asdict(mapping), "contract": contract()["version"],
               "riskmodel": __version__, "key": hashlib.sha256(key).hexdigest()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _same_reference(a: StudentReference, b: StudentReference | None) -> bool:
    if b is None:
        return False
    left, right = a.accepted.sort_index(), b.accepted.sort_index()
    return (left.index.equals(right.index) and all(left[c].equals(right[c]) for c in ("enrollment_date", "exit_date"))
            and left["row"].to_numpy().tolist() == right["row"].to_numpy().tolist()
            and a.rejected_rows.sort_index().to_dict() == b.rejected_rows.sort_index().to_dict())


def table_files(data_dir: Path, mapping: ColumnMapping, lang: str) -> tuple[dict[str, Path], list[str], list]:
    """The data folder's file for each table, the skip notes, and the handover packets' parts.

    Raises ContractError when a required table has no file; a missing optional table is a skip note.
    """
    files, skipped = discover(data_dir, mapping, lang)
    for name, spec in contract()["tables"].items():
        if name not in files:
            if spec.get("required"):
                raise ContractError(text("data.error.table_missing", lang, folder=data_dir.name, table=name))
            skipped.append(text("data.skip.missing_table", lang, table=name))
    return files, skipped, handover_parts(data_dir, [t for t in contract()["tables"] if t != "students"])


def same_file(stored: dict | None, path: Path) -> bool:
    """Whether ``path`` is the file a store recorded (``stored``: its name and SHA-256), unchanged."""
    return stored is not None and Path(stored["path"]).name == path.name and stored["sha256"] == file_sha256(path)


def load_validated(
    data_dir: str | Path, *, settings: Settings, mapping: str | Path | ColumnMapping | None = None,
    store=None,
) -> Validated:
    """:func:`load_dataset`, reusing from ``store`` (a :class:`riskmodel.data.store.Store` written by an earlier
    ``riskmodel validate --store``) every table whose file has the checksum the store recorded.

    A table is taken from the store, its file not read (only hashed), when: the store was validated with
    the same :func:`validation_fingerprint`; the file's SHA-256 is the one recorded; the students the
    tables are checked against are the same (same accepted students, enrolment dates and rows: a
    changed students file that leaves them so keeps the other tables); and no handover part is involved
    (a table with records handed over is always read again). Everything else is read and validated as
    :func:`load_dataset` does; the result is the same dataset, rejected rows, summary and notes.
    """
    from riskmodel.data.pseudonym import load_key, pseudonymise

    data_dir = Path(data_dir)
    lang = settings.reports.lang
    mapping = _mapping(settings, mapping)
    key = load_key(settings.data.pseudonym_key_file, lang=lang)
    fingerprint = validation_fingerprint(settings, mapping, key)
    if store is not None and store.meta.get("fingerprint") != fingerprint:
        log.info("store validated with other settings, mapping, key or version: every file is read again")
        store = None
    stored_files = store.meta.get("files", {}) if store is not None else {}
    stored_notes = store.meta.get("notes", {}) if store is not None else {}
    files, skipped, parts = table_files(data_dir, mapping, lang)
    handed = {name for name, _, _ in parts}
    notes: dict[str, list[str]] = {}
    reused: list[str] = []
    cache: dict[str, pd.DataFrame] = {}

    def unchanged(name: str) -> bool:
        return (store is not None and name not in handed and store.has(name)
                and same_file(stored_files.get(name), files[name]))

    def from_store(name: str) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
        info = stored_files[name]
        file = Path(info["path"]).name
        summary = next(r for r in store.meta["summary"] if r["table"] == name and r["file"] == file)
        if "rejected" not in cache:
            cache["rejected"] = store.rejected()
        rejected = cache["rejected"]
        rejected = rejected.loc[(rejected["table"] == name) & (rejected["file"] == file)].reset_index(drop=True)
        notes[name] = list(stored_notes.get(name, []))
        reused.append(name)
        return store.table(name), rejected, dict(summary), {**info, "path": str(files[name])}

    reference = store.reference() if store is not None and unchanged("students") else None
    if reference is not None:
        students, students_rejected, students_summary, students_info = from_store("students")
    else:
        students_checked = _check_file(files["students"], "students", settings, mapping)
        students, students_rejected, students_summary, rejected_pos = _finish(
            students_checked, pd.DataFrame(columns=PROBLEM_COLUMNS), lang
        )
        students["pseudonym"] = pseudonymise(students["student_id"], key)
        reference = student_reference(students_checked.frame, students_checked.raw.rows, students, rejected_pos)
        students_info = _file_info(students_checked)
        notes["students"] = list(students_checked.notes)
        del students_checked  # the raw cells of each file are let go as soon as the file is done
        if store is not None and not _same_reference(reference, store.reference()):
            log.info("the students the tables are checked against changed: every file is read again")
            store = None
    tables, rejected, summaries = {"students": students}, [students_rejected], [students_summary]
    file_info = {"students": students_info}
    skipped += notes["students"]
    for name in [t for t in contract()["tables"] if t in files and t != "students"]:
        if unchanged(name):
            accepted, table_rejected, summary, info = from_store(name)
        else:
            checked = _check_file(files[name], name, settings, mapping)
            accepted, table_rejected, summary, _ = _finish(
                checked, integrity_problems(name, checked.frame, reference,
                                            grace_days=settings.data.enrolment_grace_days, lang=lang), lang)
            info = _file_info(checked)
            notes[name] = list(checked.notes)
            del checked
        tables[name] = accepted
        rejected.append(table_rejected)
        summaries.append(summary)
        file_info[name] = info
        skipped += notes[name]
    for name, packet, path in parts:  # another school's records of a student (docs/handover.md)
        checked = _check_file(path, name, settings, mapping)
        accepted, table_rejected, summary, _ = _finish(
            checked, integrity_problems(name, checked.frame, reference, grace_days=settings.data.enrolment_grace_days,
                                        lang=lang, before_enrolment=True), lang)
        own = tables.get(name)
        accepted["origin"] = f"handover-{packet}"
        if own is not None and "origin" not in own.columns:
            own = own.assign(origin="")
        tables[name] = accepted if own is None else pd.concat([own, accepted], ignore_index=True)
        rejected.append(table_rejected)
        summaries.append(summary)
        file_info[path.stem] = _file_info(checked)
        notes[path.stem] = list(checked.notes)
        skipped += checked.notes
        del checked
    dataset = Dataset(
        tables=tables,
        checksum=_checksum([*files.values(), *(path for _, _, path in parts)]),
        files=file_info,
        rejected=pd.concat([r for r in rejected if len(r)] or [rejected[0]], ignore_index=True),
        summary=pd.DataFrame(summaries, columns=["table", "file", "rows_read", "accepted", "rejected", "by_reason",
                                                 "blanked"]),
        skipped=tuple(skipped),
    )
    log.info("loaded %d tables (%d taken unchanged from the store), %d rejected rows", len(tables), len(reused),
             int(dataset.summary["rejected"].sum()))
    unscored = len(reference.rejected_rows.index.difference(reference.accepted.index))
    if unscored:
        log.warning("%d students are not scored: their rows in the students table were rejected (see the "
                    "rejected rows); none of their records are read until the rows are fixed", unscored)
    return Validated(dataset=dataset, reference=reference, notes=notes, fingerprint=fingerprint, reused=reused)
