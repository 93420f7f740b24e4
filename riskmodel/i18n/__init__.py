"""The translation catalogue: every user-visible string, in Chinese and English.

Strings live in the YAML files of this folder, one file per stage that owns them
(``common.yaml``, ``data.yaml``, ``warning.yaml``, ``reports.yaml``, ``audit.yaml``), each entry
``key: {zh: ..., en: ...}``. Together they are one catalogue: a key may appear in one file only,
and every key must carry both languages (tests/test_i18n.py checks both).

Example
-------
>>> text("level.I", "en")
'Level I'
>>> text("level.I", "zh")
'一级'

A count says its noun in the placeholder's format spec, so English agrees with the number: ``{n:days}``
reads "1 day" or "3 days" (the spec's last word loses its final "s" for exactly one); Chinese needs none:

>>> fill("the latest observation was {n:days} ago", n="1")
'the latest observation was 1 day ago'
>>> fill("{n:serious observations} in the last 2 weeks", n=3)
'3 serious observations in the last 2 weeks'
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from importlib import resources
from typing import Literal

from riskmodel.yamltext import safe_load as yaml_safe_load

__all__ = ["LANGUAGES", "Lang", "catalogue", "text", "fill"]

Lang = Literal["zh", "en"]
LANGUAGES: tuple[str, ...] = ("zh", "en")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """All entries of every catalogue file, checked for duplicates and missing languages."""
    merged: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".yaml"):
            continue
        for key, value in (yaml_safe_load(entry.read_text(encoding="utf-8")) or {}).items():
            if key in merged:
                raise ValueError(f"i18n key {key!r} is in both {origin[key]} and {entry.name}")
            missing = [lang for lang in LANGUAGES if not isinstance(value, dict) or lang not in value]
            if missing:
                raise ValueError(f"i18n key {key!r} in {entry.name} lacks {missing}")
            # YAML reads an unquoted yes/no as a boolean, and an unquoted comma inside {...} splits the text
            # into a second key: both showed in reports ("True", a truncated English label); quote such text
            odd = {k: v for k, v in value.items() if k not in LANGUAGES or not isinstance(v, str)}
            if odd:
                raise ValueError(f"i18n key {key!r} in {entry.name}: {odd} is not text in a known language; quote the "
                                 "text (YAML reads yes/no as booleans and cuts unquoted text at a comma)")
            merged[key] = {lang: value[lang] for lang in LANGUAGES}
            origin[key] = entry.name
    return merged


def text(key: str, lang: str = "zh", /, **values: object) -> str:
    """The string for ``key`` in ``lang``, with ``{placeholders}`` filled from ``values``.

    Raises ``KeyError`` for an unknown key: a missing translation is a bug, never a silent fallback.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not one of {LANGUAGES}")
    template = catalogue()[key][lang]
    return fill(template, **values) if values else template


_NOUN = re.compile(r"[A-Za-z][A-Za-z -]*")


class _Counting(string.Formatter):
    def format_field(self, value: object, format_spec: str) -> str:
        if format_spec and _NOUN.fullmatch(format_spec):  # "{n:days}": the count and its noun
            one = str(value).strip() in ("1", "1.0", "-1")
            noun = format_spec[:-1] if one and format_spec.endswith("s") else format_spec
            return f"{value} {noun}"
        return super().format_field(value, format_spec)


_FORMATTER = _Counting()


def fill(template: str, /, **values: object) -> str:
    """``template`` with its ``{placeholders}`` filled; ``{n:days}`` gives the count with its noun in number."""
    return _FORMATTER.format(template, **values)
