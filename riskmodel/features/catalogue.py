"""The feature catalogue: every feature's name, family, kind and one-line description (zh, en).

The catalogue is data (``catalogue.yaml`` beside this module), written once per pattern and
expanded here over the vocabularies, the time windows of :class:`~riskmodel.config.FeatureSettings`
and the instruments of ``riskmodel/instruments/specs.yaml`` (their subscales and critical items).
``build_features`` writes exactly these columns, in this order; a test holds the two together.

Example
-------
>>> cat = catalogue()
>>> cat.loc["phq9_item9_latest", ["family", "kind", "instrument"]].tolist()
['screening', 'score', 'PHQ9']
>>> cat.loc["obs_self_harm_signal_urgent_30d", "en"]
'urgent (severity 3) self-harm-signal observations in the last 30 days'
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from importlib import resources
from typing import Literal

import pandas as pd
from pydantic import Field

from riskmodel import vocab
from riskmodel.config import FeatureSettings, Settings
from riskmodel.errors import ContractError
from riskmodel.rulefiles import StrictModel, check
from riskmodel.yamltext import safe_load as yaml_safe_load

__all__ = ["catalogue", "feature_names", "raw_catalogue", "windows_for", "KINDS", "FAMILIES"]

KINDS = ("score", "count", "days", "flag", "delta", "category", "ratio")
FAMILIES = ("screening", "observations", "life_events", "academics", "attendance", "counselling",
            "history", "register", "calendar", "cohort", "trajectory")

# Critical-item features the warning engineer's hard rules name; kept even if a spec changes
REQUIRED_CRITICAL_ITEMS = {"PHQ9": (9,), "UPI": (25,), "SDS": (19,), "SCL90": (15,)}


# The schema of catalogue.yaml (its top comment explains each key): a misspelt key (`alway_windows:`)
# is refused rather than read as absent.
class _Word(StrictModel):
    zh: str
    en: str
    value: int | None = None


class _Entry(StrictModel):
    name: str
    for_: list[str] | None = Field(default=None, alias="for")
    kind: Literal[KINDS]
    when: Literal["bands", "standard_score", "classification"] | None = None
    always_windows: list[int] | None = None
    zh: str
    en: str


class _CatalogueFile(StrictModel):
    vocab: dict[str, dict[str, _Word]]
    families: dict[Literal[FAMILIES], list[_Entry]]


@lru_cache(maxsize=1)
def raw_catalogue() -> dict:
    """``catalogue.yaml`` as read, its keys checked (an unknown key is a ContractError naming it)."""
    raw = yaml_safe_load(resources.files(__package__).joinpath("catalogue.yaml").read_text(encoding="utf-8"))
    check(_CatalogueFile, raw, origin="riskmodel/features/catalogue.yaml", error=ContractError)
    # the words of stages and family flags live here; which ones exist is the contract's (riskmodel.vocab)
    for name, facts in (("stage", vocab.STAGES), ("flag", vocab.FAMILY_FLAGS)):
        if tuple(raw["vocab"].get(name, {})) != tuple(facts):
            raise ContractError(f"riskmodel/features/catalogue.yaml: vocab.{name} lists {list(raw['vocab'].get(name, {}))}"
                                f"; the data contract's are {list(facts)} (same order): make them equal.")
    return raw


def _expand_entry(entry: dict, family: str, fs: FeatureSettings, specs: dict) -> list[dict]:
    vocab = raw_catalogue()["vocab"]
    loops = entry.get("for", [])
    # each placeholder -> list of (value, zh, en)
    simple: dict[str, list[tuple]] = {}
    for var in loops:
        if var == "windows":
            simple["w"] = [(str(w), str(w), str(w)) for w in _windows(fs, entry)]
        elif var == "trend":
            simple["t"] = [(str(fs.trend_window_days),) * 3]
        elif var in vocab:
            simple[var] = [(key, v["zh"], v["en"]) for key, v in vocab[var].items()]
        elif var not in ("instrument", "subscale", "critical_item"):
            raise ValueError(f"riskmodel/features/catalogue.yaml: {entry['name']}: unknown loop {var!r}")
    per_instrument = [None]
    if "instrument" in loops:
        per_instrument = [s for s in specs.values() if _applies(entry.get("when"), s)]
    rows = []
    for spec in per_instrument:
        inner: dict[str, list[tuple]] = dict(simple)
        if spec is not None:
            inner["instrument"] = [(spec.code.lower(), _short(spec.name_zh), _short(spec.name_en))]
            if "subscale" in loops:
                inner["subscale"] = [(code, *spec.subscale_names.get(code, (code, code))) for code in spec.subscales]
            if "critical_item" in loops:
                items = sorted(set(spec.critical) | set(REQUIRED_CRITICAL_ITEMS.get(spec.code, ())))
                inner["critical_item"] = [(str(i), str(i), str(i)) for i in items]
        names = list(inner)
        for combo in itertools.product(*(inner[n] for n in names)):
            values = {}
            for var, (value, zh, en) in zip(names, combo):
                values[var] = value
                values[f"{var}_zh"], values[f"{var}_en"] = zh, en
            rows.append({
                "name": entry["name"].format(**values),
                "family": family,
                "kind": entry["kind"],
                "zh": entry["zh"].format(**values),
                "en": entry["en"].format(**values),
                "instrument": spec.code if spec is not None else None,
            })
    return rows


def _windows(fs: FeatureSettings, entry: dict) -> list[int]:
    return sorted(set(fs.windows_days) | set(entry.get("always_windows", ())))


def windows_for(name: str, settings: Settings | None = None) -> list[int]:
    """The windows (days) of the catalogue entry whose name pattern is ``name``.

    Example
    -------
    >>> windows_for("obs_self_harm_signal_urgent_{w}d", Settings.model_validate({"features": {"windows_days": [7]}}))
    [7, 30]
    """
    fs = (settings or Settings()).features
    for entries in raw_catalogue()["families"].values():
        for entry in entries:
            if entry["name"] == name:
                return _windows(fs, entry)
    raise KeyError(f"{name!r} is not a name pattern of riskmodel/features/catalogue.yaml")


def _short(name: str) -> str:
    """'Patient Health Questionnaire-9 (PHQ-9)' -> 'PHQ-9'; names without brackets unchanged."""
    for open_, close in (("（", "）"), ("(", ")")):
        if name.endswith(close) and open_ in name:
            inner = name[name.rindex(open_) + 1:-1]
            return inner.split(",")[0].strip()
    return name


def _applies(when: str | None, spec) -> bool:
    if when is None:
        return True
    if when == "bands":
        return spec.bands is not None
    if when == "standard_score":
        return spec.standard_multiplier is not None
    if when == "classification":
        return spec.classification is not None
    raise ValueError(f"riskmodel/features/catalogue.yaml: unknown condition when: {when}")


@lru_cache(maxsize=8)
def _catalogue_cached(fs_json: str) -> pd.DataFrame:
    from riskmodel.instruments import specs as specs_module

    fs = FeatureSettings.model_validate_json(fs_json)

    specs = specs_module.all_specs()
    specs = {code: specs[code] for code in sorted(specs)}
    rows = []
    for family, entries in raw_catalogue()["families"].items():
        if family not in FAMILIES:
            raise ValueError(f"riskmodel/features/catalogue.yaml: unknown family {family!r}")
        for entry in entries:
            if entry["kind"] not in KINDS:
                raise ValueError(f"riskmodel/features/catalogue.yaml: {entry['name']}: kind {entry['kind']!r} "
                                 f"is not one of {KINDS}")
            rows.extend(_expand_entry(entry, family, fs, specs))
    frame = pd.DataFrame(rows).set_index("name")
    dupes = frame.index[frame.index.duplicated()].unique().tolist()
    if dupes:
        raise ValueError(f"riskmodel/features/catalogue.yaml: feature names defined twice: {dupes}")
    return frame


def catalogue(settings: Settings | None = None) -> pd.DataFrame:
    """Every feature ``build_features`` writes: ``family, kind, zh, en, instrument`` by name.

    Parameters
    ----------
    settings
        The windows in names (``obs_mood_30d``) come from ``settings.features``; defaults if None.

    Returns
    -------
    DataFrame
        Indexed by feature name, in the column order of the feature matrix. ``instrument`` is the
        instrument code for screening and cohort features of one instrument, else ``None``.
    """
    fs = (settings or Settings()).features
    return _catalogue_cached(fs.model_dump_json()).copy()


def feature_names(settings: Settings | None = None) -> list[str]:
    """The feature columns in matrix order."""
    return catalogue(settings).index.tolist()
