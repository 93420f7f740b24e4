"""Rule files are data that can be wrong: each is read through a pydantic model that refuses unknown keys.

A hard rule with ``max_agee:`` instead of ``max_age:`` would otherwise load without its age limit, and
an instrument with ``reverse_itmes:`` would score without reversing anything: a safety condition gone
without a word. Every rule file (instrument specifications, hard rules, baseline rules, the features
catalogue, column mappings) is therefore described by a :class:`StrictModel` and checked with
:func:`check`, which turns pydantic's errors into one message naming the file, the key (its path in
the file) and the closest known key.

This module is a leaf (it imports only pydantic and :mod:`riskmodel.errors`), so every stage can use it.

Example
-------
>>> class Rule(StrictModel):
...     name: str
...     max_age: int | None = None
>>> check(Rule, {"name": "a", "max_agee": 365}, origin="rules.yaml")
Traceback (most recent call last):
...
riskmodel.errors.ConfigError: rules.yaml: unknown key 'max_agee' at max_agee; did you mean 'max_age'? ...
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from riskmodel.errors import ConfigError, RiskmodelError

__all__ = ["StrictModel", "Problem", "problems", "check", "closest"]


class StrictModel(BaseModel):
    """Base of every rule-file model: unknown keys are errors, loaded objects are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rule file.

    Attributes
    ----------
    path
        Where in the file: ``rules[0].max_agee`` (list positions count from 0, as pydantic does).
    key
        The unknown key or value (``max_agee``), or ``None`` for another kind of problem.
    closest
        The closest known key or value (``max_age``), or ``None`` when nothing is close.
    known
        Every key (or value) allowed at that place.
    message
        pydantic's wording of the problem (``Field required``, ``Input should be a valid integer``).
    """

    path: str
    key: str | None
    closest: str | None
    known: tuple[str, ...]
    message: str

    def describe(self) -> str:
        """English, one sentence: what is wrong where, and what was probably meant."""
        if self.key is None:
            return f"{self.path}: {self.message}"
        what = "key" if self.message == "unknown key" else "value"
        hint = f"; did you mean {self.closest!r}?" if self.closest else "."
        known = f" Known {what}s there: {', '.join(self.known)}." if self.known else ""
        return f"unknown {what} {self.key!r} at {self.path}{hint}{known}"


def closest(word: str, known: typing.Iterable[str]) -> str | None:
    """The known word closest to ``word`` (difflib), or None.

    Example
    -------
    >>> closest("reverse_itmes", ["reverse_items", "lie_items"])
    'reverse_items'
    """
    match = difflib.get_close_matches(str(word), [str(k) for k in known], n=1, cutoff=0.5)
    return match[0] if match else None


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _strip(annotation: Any) -> list[Any]:
    """The members of a Union/Optional (or the annotation itself)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    return [annotation]


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """Key as written in the file (alias or name) -> annotation."""
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def _at(annotation: Any, loc: tuple) -> list[Any]:
    """The annotations that can sit at ``loc`` below ``annotation`` (several where a Union branches)."""
    if not loc:
        return _strip(annotation)
    part, rest = loc[0], loc[1:]
    found = []
    for member in _strip(annotation):
        origin, args = typing.get_origin(member), typing.get_args(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            annotation_of = _fields(member).get(str(part))
            if annotation_of is not None:
                found += _at(annotation_of, rest)
        elif origin in (dict, typing.Mapping):
            if args:
                found += _at(args[1], rest)
        elif origin in (list, tuple, set, frozenset) and args and isinstance(part, int):
            found += _at(args[0], rest)
    return found


def _allowed(annotations: list[Any]) -> tuple[str, ...]:
    """Keys (for models) or values (for Literals) allowed by the annotations found at one place."""
    known: list[str] = []
    for annotation in annotations:
        for member in _strip(annotation):
            if isinstance(member, type) and issubclass(member, BaseModel):
                known += list(_fields(member))
            elif typing.get_origin(member) is Literal:
                known += [str(a) for a in typing.get_args(member)]
    return tuple(sorted(set(known)))


def problems(model: type[BaseModel], raw: Any) -> list[Problem]:
    """What is wrong with ``raw`` as a ``model`` (empty when nothing is).

    Example
    -------
    >>> class Rule(StrictModel):
    ...     op: Literal[">=", "<="]
    >>> [p.describe() for p in problems(Rule, {"op": "=>"})]
    ["unknown value '=>' at op; did you mean '>='? Known values there: <=, >=."]
    """
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        out = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "extra_forbidden":
                known = _allowed(_at(model, loc[:-1]))
                key = str(loc[-1])
                out.append(Problem(_path(loc), key, closest(key, known), known, "unknown key"))
            elif error["type"] == "literal_error" and isinstance(error.get("input"), str):
                what = "unknown value"
                if loc and loc[-1] == "[key]":  # a bad key of a dictionary whose keys are a fixed set
                    loc, what = loc[:-1], "unknown key"
                    known = _allowed([typing.get_args(a)[0] for a in _at(model, loc[:-1])
                                      if typing.get_origin(a) in (dict, typing.Mapping) and typing.get_args(a)])
                else:
                    known = _allowed(_at(model, loc))
                out.append(Problem(_path(loc), error["input"], closest(error["input"], known), known, what))
            else:
                out.append(Problem(_path(loc), None, None, (), error["msg"]))
        # a misspelt key also makes its field "missing": the unknown key and its closest match come first
        return sorted(out, key=lambda p: p.key is None)
    return []


def check(model: type[BaseModel], raw: Any, *, origin: str,
          error: type[RiskmodelError] = ConfigError) -> Any:
    """``raw`` validated as ``model``; on any problem an ``error`` naming ``origin``, the key and the fix.

    Parameters
    ----------
    model
        A :class:`StrictModel` subclass describing the file.
    raw
        The file as read by ``yaml.safe_load``.
    origin
        The file's name as the person knows it (``hard_rules.yaml (shipped)``, a centre's path).
    error
        The kind of error the file's loader raises (ConfigError, ContractError).
    """
    found = problems(model, raw)
    if found:
        more = f" (and {len(found) - 1} more problem(s))" if len(found) > 1 else ""
        raise error(f"{origin}: {found[0].describe()}{more}")
    return model.model_validate(raw)
