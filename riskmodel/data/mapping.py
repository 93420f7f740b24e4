"""Column mapping: a centre's own headers (学号, 性别 ...) and spellings to the contract's names.

A mapping file is YAML (docs/data.md shows every key)::

    columns:            # header -> contract column, for every table
      学号: student_id
      学籍号: null      # null: a header not to read (listed as not used), also one the shipped file maps
    tables:             # header -> contract column, for one table only (wins over `columns`)
      screenings:
        columns: {测评日期: date}
    files:              # file name without extension -> table
      学生基本信息: students
    item_patterns:      # regular expressions with one group, the item number (screenings)
      - '^第(\\d+)题$'
    values:             # value spellings, per enum (gender, stage, instrument ...), per column, or `bool`
      gender: {男生: M, 女生: F}
      bool: {有: true, 无: false}

The shipped example (riskmodel/data/mappings/zh_common.yaml) is always read first; a centre's file is
laid over it, so a centre only writes what differs. Headers are compared after Unicode NFKC
normalisation (full-width letters and spaces become ordinary ones), trimming, lower-casing and
turning runs of spaces and hyphens into ``_``; ``Student ID`` therefore matches ``student_id``.

A header mapped to ``null`` is not read, in every table (under ``columns``) or in one (under
``tables``), whatever the shipped file or the contract's own name would make of it; it is listed with
the columns not used. When two headers of one file map to the same column, the one spelled as the
contract's own name (``student_id``) is read and a header only the shipped file maps (``ID``) is not
(noted); any other pair is an error saying which header to map to ``null``.

Example
-------
>>> m = load_mapping(None)
>>> m.header_map(["学号", "性别", "Extra"], "students")
{'学号': 'student_id', '性别': 'gender', 'Extra': None}
>>> m.header_map(["第3题", "Q4", "item_5"], "screenings")
{'第3题': 'item_3', 'Q4': 'item_4', 'item_5': 'item_5'}
>>> m.header_map(["学号", "学籍号"], "students")
{'学号': 'student_id', '学籍号': 'student_id'}
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from riskmodel.data.dataset import contract
from riskmodel.errors import ContractError
from riskmodel.i18n import text
from riskmodel.rulefiles import StrictModel, closest, problems

__all__ = ["ColumnMapping", "load_mapping", "normalise_header", "SHIPPED_MAPPING", "MAX_ITEMS"]

SHIPPED_MAPPING = "zh_common.yaml"
MAX_ITEMS = 100  # screenings carry item_1 .. item_100 (riskmodel.instruments.specs.MAX_ITEMS)
_BUILTIN_ITEM_PATTERNS = (r"^item_?(\d+)$",)
_KEYS = {"columns", "tables", "files", "item_patterns", "values"}


def normalise_header(header: object) -> str:
    """A header as compared: NFKC, no BOM or zero-width characters, trimmed, lower case, ``_`` for gaps.

    Example
    -------
    >>> normalise_header("\\ufeff Student  ID ")
    'student_id'
    """
    text = unicodedata.normalize("NFKC", str(header)).replace("\ufeff", "").replace("\u200b", "")
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


@dataclass(frozen=True)
class ColumnMapping:
    """A loaded mapping: header and value spellings to the contract's names (see module docstring)."""

    columns: dict[str, str | None] = field(default_factory=dict)  # None: a header not read
    tables: dict[str, dict[str, str | None]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    item_patterns: tuple[str, ...] = ()
    values: dict[str, dict[str, object]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    centre_headers: tuple[str, ...] = ()  # the (normalised) headers a centre's own file names, sorted

    def ignores(self, header: object, table: str) -> bool:
        """Whether a mapping file maps ``header`` to ``null`` for ``table`` (it is not read)."""
        key = normalise_header(header)
        table_map = self.tables.get(table, {})
        return table_map[key] is None if key in table_map else (key in self.columns and self.columns[key] is None)

    def shipped_alias(self, header: object, target: str) -> bool:
        """Whether ``header`` maps to ``target`` only through the shipped file (not the contract's own
        name, not a centre's file): it gives way to a header spelled as the contract's name."""
        key = normalise_header(header)
        return key != target and key not in self.centre_headers

    def table_for_file(self, stem: str) -> str | None:
        """The contract table a file (name without extension) holds, or None."""
        key = normalise_header(stem)
        if key in contract()["tables"]:
            return key
        return self.files.get(key)

    def header_map(self, headers: list[object], table: str) -> dict[object, str | None]:
        """Each header -> its contract column (``item_N`` for screening items) or None when unknown."""
        known = set(contract()["tables"][table]["columns"])
        table_map = self.tables.get(table, {})
        items = "items" in contract()["tables"][table]
        patterns = [re.compile(p) for p in (*self.item_patterns, *_BUILTIN_ITEM_PATTERNS)] if items else []
        out: dict[object, str | None] = {}
        for header in headers:
            key = normalise_header(header)
            if key in table_map or self.columns.get(key, "") is None:
                # a table's own entry wins; null (here or under `columns`) means: do not read this header
                out[header] = table_map.get(key, None)
                continue
            target = (key if key in known else None) or self.columns.get(key)
            if target is not None and target not in known:
                target = None  # a global mapping for a column this table does not have
            if target is None and items:
                for pattern in patterns:
                    match = pattern.match(key)
                    if match and 1 <= int(match.group(1)) <= MAX_ITEMS:
                        target = f"item_{int(match.group(1))}"
                        break
            out[header] = target
        return out

    def spellings(self, column: str, enum: str | None) -> dict[str, object]:
        """Extra value spellings for ``column`` (by enum name, then by column name)."""
        merged: dict[str, object] = {}
        for key in (enum, column):
            if key is not None:
                merged.update(self.values.get(key, {}))
        return merged


def _read_yaml(path: Path, label: str, lang: str) -> dict:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ContractError(text("data.error.mapping_missing", lang, file=label)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ContractError(text("data.error.mapping_yaml", lang, file=label, detail=exc)) from None
    if not isinstance(raw, dict):
        raise ContractError(text("data.error.mapping_keys", lang, file=label, unknown=raw, allowed=sorted(_KEYS)))
    # unknown keys (`colums:`, `tables: {screenings: {colums: ..}}`) here, naming the closest known key;
    # a wrong shape is left to _section below, whose message shows the shape expected
    unknown = [p for p in problems(_MappingFile, raw) if p.key is not None]
    if unknown:
        _unknown_key(label, unknown[0].path, unknown[0].key, unknown[0].known, lang)
    return raw


def _unknown_key(label: str, where: str, key: str, allowed, lang: str) -> None:
    near = closest(key, allowed)
    hint = text("data.error.mapping_did_you_mean", lang, closest=near) if near else ""
    raise ContractError(text("data.error.mapping_unknown_key", lang, file=label, key=key, where=where, hint=hint,
                             allowed=", ".join(sorted(allowed))))


class _TableMapping(StrictModel):
    columns: dict[str, str | None] | None = None


class _MappingFile(StrictModel):
    """The keys of a mapping file (module docstring); values are checked against the contract in _merge."""

    columns: dict[str, str | None] | None = None
    tables: dict[str, _TableMapping] | None = None
    files: dict[str, str] | None = None
    item_patterns: list[str] | None = None
    values: dict[str, dict[str, Any]] | None = None


def _section(value, label: str, where: str, lang: str, kind: type = dict):
    """``value`` if it is a ``kind`` (or empty), else a ContractError naming the file and section."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise ContractError(text("data.error.mapping_shape", lang, file=label, where=where,
                                 shape="key: value" if kind is dict else "- item"))
    return value


def _targets_ok(pairs: dict, allowed: set[str], label: str, where: str, lang: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for header, target in _section(pairs, label, where, lang).items():
        if target is None:  # `学籍号: null` (or `学籍号:`): this header is not read
            out[normalise_header(header)] = None
            continue
        if isinstance(target, (dict, list)):  # e.g. columns: {students: {学号: student_id}}
            raise ContractError(text("data.error.mapping_nested", lang, file=label, where=where, header=header))
        if target not in allowed and not re.fullmatch(r"item_\d+", str(target)):
            raise ContractError(text("data.error.mapping_target", lang, file=label, where=where, header=header,
                                     target=target, allowed=sorted(allowed)))
        out[normalise_header(header)] = str(target)
    return out


def _merge(base: ColumnMapping, raw: dict, label: str, lang: str, *, shipped: bool = False) -> ColumnMapping:
    tables_spec = contract()["tables"]
    all_columns = {c for spec in tables_spec.values() for c in spec["columns"]}
    own_columns = _targets_ok(raw.get("columns"), all_columns, label, "columns", lang)
    columns = {**base.columns, **own_columns}
    named = set(own_columns)  # headers this file names (a centre's file: they never give way to the contract's name)
    tables = {name: dict(cols) for name, cols in base.tables.items()}
    for name, spec in _section(raw.get("tables"), label, "tables", lang).items():
        if name not in tables_spec:
            raise ContractError(text("data.error.mapping_table", lang, file=label, table=f"tables.{name}",
                                     tables=sorted(tables_spec)))
        spec = _section(spec, label, f"tables.{name}", lang)
        own = _targets_ok(spec.get("columns"), set(tables_spec[name]["columns"]), label, f"tables.{name}.columns", lang)
        tables[name] = {**tables.get(name, {}), **own}
        named |= set(own)
    files = dict(base.files)
    for stem, name in _section(raw.get("files"), label, "files", lang).items():
        if name not in tables_spec:
            raise ContractError(text("data.error.mapping_table", lang, file=label, table=f"files: {stem} -> {name}",
                                     tables=sorted(tables_spec)))
        files[normalise_header(stem)] = name
    patterns = list(base.item_patterns)
    for pattern in _section(raw.get("item_patterns"), label, "item_patterns", lang, list):
        try:
            if re.compile(pattern).groups != 1:
                raise re.error("needs exactly one group, the item number")
        except re.error as exc:
            raise ContractError(text("data.error.mapping_pattern", lang, file=label, pattern=pattern, detail=exc)) from None
        patterns.insert(0, pattern)
    values = {key: dict(spellings) for key, spellings in base.values.items()}
    # spellings per enum, per column, of `bool` answers or of screening answer words (`items`)
    value_keys = {*contract()["enums"], *all_columns, "bool", "items"}
    for key, spellings in _section(raw.get("values"), label, "values", lang).items():
        if str(key) not in value_keys:  # `gendre:` would silently never apply
            _unknown_key(label, f"values.{key}", str(key), value_keys, lang)
        spellings = _section(spellings, label, f"values.{key}", lang)
        values.setdefault(str(key), {}).update({str(k): v for k, v in spellings.items()})
    centre = base.centre_headers if shipped else tuple(sorted({*base.centre_headers, *named}))
    return ColumnMapping(columns, tables, files, tuple(patterns), values, (*base.sources, label), centre)


def load_mapping(path: str | Path | None, *, lang: str = "en") -> ColumnMapping:
    """The shipped Chinese-header mapping, with the centre's file at ``path`` laid over it.

    Raises
    ------
    ContractError
        When the file is missing, not YAML, or maps to a name the contract does not have.
    """
    shipped = resources.files("riskmodel.data").joinpath("mappings", SHIPPED_MAPPING)
    mapping = _merge(ColumnMapping(), _read_yaml(Path(str(shipped)), SHIPPED_MAPPING, lang), SHIPPED_MAPPING, lang,
                     shipped=True)
    if path is not None:
        path = Path(path)
        mapping = _merge(mapping, _read_yaml(path, path.name, lang), path.name, lang)
    return mapping
