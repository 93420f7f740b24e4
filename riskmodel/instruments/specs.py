"""Instrument specifications: each questionnaire as data (specs.yaml), read and checked once.

An :class:`InstrumentSpec` holds everything the scoring engine needs to score one instrument and
everything ``riskmodel.data`` needs to validate its answers (item count and response range). The
rules themselves live in ``specs.yaml`` beside this module; this module only reads and checks them,
so a wrong cut-off is fixed in one data file and adding an instrument is adding an entry.

Example
-------
>>> phq9 = get("PHQ9")
>>> phq9.n_items, phq9.response_min, phq9.response_max, dict(phq9.critical)
(9, 0, 3, {9: 1})
>>> phq9.item_columns[-1]
'item_9'
>>> sorted(all_specs())
['GAD7', 'MHT', 'PHQ9', 'SAS', 'SCL90', 'SDS', 'UPI']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from riskmodel.errors import ContractError
from riskmodel.rulefiles import StrictModel, check
from riskmodel.yamltext import safe_load as yaml_safe_load

__all__ = ["InstrumentSpec", "Bands", "get", "all_specs", "load_specs", "INSTRUMENT_CODES", "MAX_ITEMS"]

INSTRUMENT_CODES: tuple[str, ...] = ("UPI", "PHQ9", "GAD7", "SCL90", "SDS", "SAS", "MHT")
MAX_ITEMS = 100  # the screenings table carries item_1 .. item_100

_OPS = {">", ">=", "<", "<=", "==", "between"}
_QUANTITIES = {"total", "standard_score", "max_subscale", "counselling_request", "item", "count", "class"}


@dataclass(frozen=True)
class Bands:
    """Severity bands of one instrument.

    Attributes
    ----------
    on
        ``"total"`` or ``"standard_score"``: the score the bands cut.
    setting
        Name of the :class:`~riskmodel.config.InstrumentSettings` field choosing the set, or ``None``
        (then the set is ``"default"``).
    sets
        Convention -> ((lower bound, band name), ...), ascending; a score belongs to the last band whose
        lower bound it reaches.
    """

    on: str
    setting: str | None
    sets: Mapping[str, tuple[tuple[float, str], ...]]

    def for_settings(self, settings: Any) -> tuple[tuple[float, str], ...]:
        """The band set chosen by ``settings`` (an InstrumentSettings)."""
        key = "default" if self.setting is None else str(getattr(settings, self.setting))
        return self.sets[key]


@dataclass(frozen=True)
class InstrumentSpec:
    """One questionnaire as data: items, range, keys, subscales, bands, rules and sources.

    Item numbers are 1-based as in the manuals; ``item_columns[k - 1]`` is item ``k``'s column.
    Every mapping is read-only (``MappingProxyType``) and every list a tuple: the specifications are
    shared by all stages, so none can change a rule in place.

    Attributes
    ----------
    code
        ``UPI``, ``PHQ9``, ``GAD7``, ``SCL90``, ``SDS``, ``SAS`` or ``MHT``.
    n_items
        N: items ``item_1 .. item_N`` (lie and supplementary items included).
    response_min, response_max
        The integer answer range.
    item_columns
        ``("item_1", ..., "item_N")``.
    reverse_items
        Items scored ``response_min + response_max - answer``.
    lie_items, supplementary_items
        Items outside the total and the content subscales.
    scored_items
        Items that make the total: all items minus lie and supplementary items.
    subscales
        Scale code -> its items; the scored column is ``sub_<code>``.
    subscale_kind
        ``"mean"`` (SCL-90 factors) or ``"sum"`` (MHT scales).
    subscale_names
        Scale code -> (zh, en).
    critical
        Item -> lowest raw answer that is critical (e.g. PHQ-9 ``{9: 1}``), defaults of the spec.
    critical_setting
        Item -> InstrumentSettings field that overrides its threshold (SCL-90 item 15).
    key_items
        Items the manual calls key items (critical items included).
    name_zh, name_en, source, notes
        Names and references; ``source`` says "unconfirmed" where no primary source was read.
    binary
        Yes/no instrument (answers 1 yes, 0 no).
    standard_multiplier
        Standard score = floor(total * multiplier); ``None`` when the instrument has none.
    positive_item_min
        An item scored at least this is a "positive item" (SCL-90); ``None`` otherwise.
    bands
        :class:`Bands` or ``None``.
    positive
        Clauses (dicts, see specs.yaml), any of which makes the screen positive.
    classification
        Ordered classes (dicts, see specs.yaml) or ``None``.
    lie_invalid
        ``{"op": ">", "value": 7}``: the lie score that makes an administration invalid, or ``None``.
    identical_run
        ``"run"``, ``"run_above_floor"``, ``"all_identical"``, ``"all_identical_above_floor"`` or
        ``"none"``: how identical answering
        is detected (riskmodel.instruments.validity).
    prorate_max_allowed
        Most missing items the manual allows to prorate (0: none).
    """

    code: str
    n_items: int
    response_min: int
    response_max: int
    item_columns: tuple[str, ...]
    reverse_items: tuple[int, ...]
    lie_items: tuple[int, ...]
    supplementary_items: tuple[int, ...]
    subscales: Mapping[str, tuple[int, ...]]
    critical: Mapping[int, int]
    key_items: tuple[int, ...]
    name_zh: str
    name_en: str
    source: str
    notes: str = ""
    binary: bool = False
    scored_items: tuple[int, ...] = ()
    subscale_kind: str = "sum"
    subscale_names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    critical_setting: Mapping[int, str] = field(default_factory=dict)
    standard_multiplier: float | None = None
    positive_item_min: int | None = None
    bands: Bands | None = None
    positive: tuple[Mapping, ...] = ()
    classification: tuple[Mapping, ...] | None = None
    lie_invalid: Mapping | None = None
    identical_run: str = "none"
    prorate_max_allowed: int = 0

    def critical_thresholds(self, settings: Any = None) -> dict[int, int]:
        """Item -> lowest critical answer, with settings overrides applied (SCL-90 item 15)."""
        thresholds = dict(self.critical)
        if settings is not None:
            for item, name in self.critical_setting.items():
                thresholds[item] = int(getattr(settings, name))
        return thresholds


# The schema of one entry of specs.yaml (the comment at its top explains each key). Keys are checked
# here, values and their relations in _build: a typo in a key is refused, never read as "absent".
class _Response(StrictModel):
    min: int
    max: int


class _Subscale(StrictModel):
    zh: str
    en: str
    items: list[int]


class _Bands(StrictModel):
    score: str
    setting: str | None = None
    sets: dict[str, list[tuple[float, str]]]


class _ValueBySetting(StrictModel):
    setting: str
    values: dict[str, float]


class _Clause(StrictModel):
    quantity: str
    op: str | None = None
    value: float | bool | str | tuple[float, float] | None = None
    item: int | None = None
    items: list[int] | str | None = None
    at_least: float | None = None
    value_setting: str | None = None
    per_stage: bool = False
    value_by_setting: _ValueBySetting | None = None
    op_setting: str | None = None


class _Class(StrictModel):
    name: str
    any_of: list[_Clause] | str | None = None
    clauses: list[_Clause] | None = None
    connective_setting: str | None = None
    otherwise: bool = False


class _StandardScore(StrictModel):
    multiplier: float
    rounding: str = "floor"


class _LieInvalid(StrictModel):
    op: str
    value: float


class _Entry(StrictModel):
    name_zh: str
    name_en: str
    n_items: int
    response: _Response
    binary: bool = False
    reverse_items: list[int] | None = None
    lie_items: list[int] | None = None
    lie_invalid: _LieInvalid | None = None
    supplementary_items: list[int] | None = None
    total: str = "sum"
    standard_score: _StandardScore | None = None
    positive_item_min: int | None = None
    subscale_kind: str = "sum"
    subscales: dict[str, _Subscale] | None = None
    bands: _Bands | None = None
    positive: list[_Clause] | None = None
    critical: dict[int, int] | None = None
    critical_setting: dict[int, str] | None = None
    key_items: list[int] | None = None
    classification: list[_Class] | None = None
    identical_run: str = "none"
    prorate_max_allowed: int = 0
    source: str
    notes: str | None = None


def _freeze(value: Any) -> Any:
    """Read-only copy: mappings become MappingProxyType, lists tuples, recursively.

    Specifications are shared by every stage through one cached read; a stage that changed
    ``spec.critical`` in place would silently change every later score.
    """
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _fail(code: str, message: str) -> None:
    raise ValueError(f"riskmodel/instruments/specs.yaml, instrument {code}: {message}")


def _items(code: str, raw: Any, n_items: int, what: str) -> tuple[int, ...]:
    items = tuple(int(i) for i in (raw or ()))
    bad = [i for i in items if not 1 <= i <= n_items]
    if bad:
        _fail(code, f"{what} {bad} outside 1..{n_items}")
    if len(set(items)) != len(items):
        _fail(code, f"{what} lists an item twice")
    return items


def _check_clauses(code: str, clauses: Any, n_items: int) -> tuple[dict, ...]:
    out = []
    for clause in clauses or ():
        if clause.get("quantity") not in _QUANTITIES:
            _fail(code, f"clause {clause} has an unknown quantity; use one of {sorted(_QUANTITIES)}")
        if clause["quantity"] != "class" and clause.get("op") not in _OPS:
            _fail(code, f"clause {clause} has an unknown operator; use one of {sorted(_OPS)}")
        if clause["quantity"] == "item":
            _items(code, [clause["item"]], n_items, "clause item")
        out.append(dict(clause))
    return tuple(out)


def _build(code: str, raw: dict) -> InstrumentSpec:
    n_items = int(raw["n_items"])
    if not 1 <= n_items <= MAX_ITEMS:
        _fail(code, f"n_items {n_items} outside 1..{MAX_ITEMS}")
    lo, hi = int(raw["response"]["min"]), int(raw["response"]["max"])
    if lo >= hi:
        _fail(code, f"response min {lo} is not below max {hi}")
    reverse = _items(code, raw.get("reverse_items"), n_items, "reverse_items")
    lie = _items(code, raw.get("lie_items"), n_items, "lie_items")
    supp = _items(code, raw.get("supplementary_items"), n_items, "supplementary_items")
    if set(lie) & set(supp):
        _fail(code, "an item is both a lie item and a supplementary item")
    scored = tuple(i for i in range(1, n_items + 1) if i not in set(lie) | set(supp))
    subscales, names = {}, {}
    for scale, entry in (raw.get("subscales") or {}).items():
        items = _items(code, entry["items"], n_items, f"subscale {scale}")
        if set(items) - set(scored):
            _fail(code, f"subscale {scale} holds lie or supplementary items {sorted(set(items) - set(scored))}")
        subscales[str(scale)] = items
        names[str(scale)] = (str(entry["zh"]), str(entry["en"]))
    critical = {int(k): int(v) for k, v in (raw.get("critical") or {}).items()}
    for item, value in critical.items():
        _items(code, [item], n_items, "critical item")
        if not lo <= value <= hi:
            _fail(code, f"critical answer {value} of item {item} outside {lo}..{hi}")
    bands = None
    if raw.get("bands"):
        b = raw["bands"]
        sets = {str(k): tuple((float(lower), str(name)) for lower, name in v) for k, v in b["sets"].items()}
        for key, rows in sets.items():
            if [r[0] for r in rows] != sorted(r[0] for r in rows):
                _fail(code, f"bands {key} are not in ascending order")
        bands = Bands(on=str(b["score"]), setting=b.get("setting"), sets=_freeze(sets))
    std = raw.get("standard_score")
    classification = None
    if raw.get("classification"):
        classification = tuple(dict(c) for c in raw["classification"])
        for cls in classification:
            if isinstance(cls.get("any_of"), list):
                _check_clauses(code, cls["any_of"], n_items)
            if isinstance(cls.get("clauses"), list):
                _check_clauses(code, cls["clauses"], n_items)
        if not classification[-1].get("otherwise"):
            _fail(code, "the last class of classification must have 'otherwise: true'")
    identical_run = str(raw.get("identical_run", "none"))
    rules = ("run", "run_above_floor", "all_identical", "all_identical_above_floor", "none")
    if identical_run not in rules:
        _fail(code, f"identical_run {identical_run!r} is not one of {', '.join(rules)}")
    subscale_kind = str(raw.get("subscale_kind", "sum"))
    if subscale_kind not in {"sum", "mean"}:
        _fail(code, f"subscale_kind {subscale_kind!r} is not sum or mean")
    return InstrumentSpec(
        code=code,
        n_items=n_items,
        response_min=lo,
        response_max=hi,
        item_columns=tuple(f"item_{k}" for k in range(1, n_items + 1)),
        reverse_items=reverse,
        lie_items=lie,
        supplementary_items=supp,
        subscales=_freeze(subscales),
        critical=_freeze(critical),
        key_items=_items(code, raw.get("key_items"), n_items, "key_items"),
        name_zh=str(raw["name_zh"]),
        name_en=str(raw["name_en"]),
        source=" ".join(str(raw["source"]).split()),
        notes=" ".join(str(raw.get("notes") or "").split()),
        binary=bool(raw.get("binary", False)),
        scored_items=scored,
        subscale_kind=subscale_kind,
        subscale_names=_freeze(names),
        critical_setting=_freeze({int(k): str(v) for k, v in (raw.get("critical_setting") or {}).items()}),
        standard_multiplier=None if not std else float(std["multiplier"]),
        positive_item_min=None if raw.get("positive_item_min") is None else int(raw["positive_item_min"]),
        bands=bands,
        positive=_freeze(_check_clauses(code, raw.get("positive"), n_items)),
        classification=_freeze(classification),
        lie_invalid=_freeze(dict(raw["lie_invalid"])) if raw.get("lie_invalid") else None,
        identical_run=identical_run,
        prorate_max_allowed=int(raw.get("prorate_max_allowed", 0)),
    )


def load_specs(text: str, *, origin: str = "specs.yaml") -> dict[str, InstrumentSpec]:
    """Specifications from YAML text in the schema of specs.yaml, checked.

    The packaged file is read through :func:`all_specs`; this is for checking a new or edited
    specification before it goes into specs.yaml (and for tests).

    Raises
    ------
    ValueError
        Naming the instrument and what is wrong with it; a ContractError (a ValueError) for an
        unknown key (``reverse_itmes:``), naming the key and the closest known one.

    Example
    -------
    >>> text = resources.files(__package__).joinpath("specs.yaml").read_text(encoding="utf-8")
    >>> load_specs(text)["GAD7"].response_max
    3
    """
    raw = yaml_safe_load(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{origin}: expected instrument codes at the top level")
    for code, entry in raw.items():
        # the values are read from ``raw`` by _build; the model refuses unknown keys and wrong types
        check(_Entry, entry, origin=f"{origin}, instrument {code}", error=ContractError)
    specs = {str(code): _build(str(code), entry) for code, entry in raw.items()}
    seen: dict[str, str] = {}
    for code, spec in specs.items():
        for scale in spec.subscales:
            if scale in seen:
                _fail(code, f"subscale code {scale!r} is also used by {seen[scale]}; columns sub_<code> would clash")
            seen[scale] = code
    return specs


@lru_cache(maxsize=1)
def all_specs() -> dict[str, InstrumentSpec]:
    """Every instrument of specs.yaml, by code, checked (read once; do not mutate the dict).

    Example
    -------
    >>> all_specs()["SDS"].reverse_items
    (2, 5, 6, 11, 12, 14, 16, 17, 18, 20)
    """
    return load_specs(resources.files(__package__).joinpath("specs.yaml").read_text(encoding="utf-8"),
                      origin="riskmodel/instruments/specs.yaml")


def get(code: str) -> InstrumentSpec:
    """The specification of instrument ``code`` (``UPI, PHQ9, GAD7, SCL90, SDS, SAS, MHT``).

    Raises
    ------
    KeyError
        For an unknown code, naming the known ones.

    Example
    -------
    >>> get("UPI").lie_items
    (5, 20, 35, 50)
    """
    specs = all_specs()
    if code not in specs:
        raise KeyError(f"unknown instrument {code!r}; known instruments: {', '.join(sorted(specs))}")
    return specs[code]
