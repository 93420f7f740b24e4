"""Reasons: the factors that raise (and lower) a listed student's score, in plain words.

Contributions come from the model (exact TreeSHAP for LightGBM, ``coef * z`` for the logistic model,
fired rules for the baseline), in log-odds. They are summed per feature *family* of the features
catalogue, so twenty small screening features read as one reason; each family's words are built
from its strongest feature, with the student's own values, from the templates in
``riskmodel/i18n/warning.yaml`` (a screening reason reads "PHQ-9 rose from 6 to 15 since the previous
screening"). Only the students who are listed are explained: TreeSHAP costs about a millisecond a
row on two cores, so explaining the few hundred listed students takes well under a second, where
every student of a university would take tens of seconds.

Example
-------
>>> import pandas as pd
>>> cat = pd.DataFrame({"family": ["screening"], "kind": ["score"], "zh": ["PHQ-9总分"],
...                     "en": ["latest PHQ-9 total score"], "instrument": ["PHQ9"]},
...                    index=["phq9_total_latest"])
>>> values = pd.DataFrame({"phq9_total_latest": [15.0], "phq9_total_prev": [6.0], "phq9_date_latest_days": [12.0]})
>>> contrib = pd.DataFrame({"phq9_total_latest": [1.2]})
>>> long = explain(contrib, values, catalogue=cat, lang="en", top=3)
>>> long["text"].tolist()
['Screening: PHQ-9 rose from 6 to 15 since the previous screening (latest 12 days ago)']
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from riskmodel.i18n import text

__all__ = ["explain", "format_value", "family_contributions", "REASON_COLUMNS"]

REASON_COLUMNS = ["row", "direction", "order", "family", "feature", "contribution", "value", "text"]
_ITEM = re.compile(r"_item\d+_")


def format_value(value: float, kind: str, lang: str) -> str:
    """A feature value in words for its kind (flag: yes/no; days: "12 days"; delta: "+3" ...)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return text("warning.value.unknown", lang)
    if kind == "flag":
        return text("warning.value.yes" if value >= 0.5 else "warning.value.no", lang)
    number = _number(value)
    if kind == "days":
        return text("warning.value.days", lang, n=number)
    if kind == "delta":
        return ("+" if value > 0 else "") + number
    return number


def _number(value: float) -> str:
    return str(int(round(value))) if abs(value - round(value)) < 1e-9 else f"{value:.1f}"


def family_contributions(contrib: pd.DataFrame, families: pd.Series) -> pd.DataFrame:
    """Sum contributions over the features of each family (columns: families, sorted)."""
    fam = families.reindex(contrib.columns).fillna("other")
    codes, names = pd.factorize(fam, sort=True)
    onehot = np.zeros((len(fam), len(names)))
    onehot[np.arange(len(fam)), codes] = 1.0
    return pd.DataFrame(contrib.to_numpy() @ onehot, columns=names, index=contrib.index)


def _top_feature(contrib: np.ndarray, fam_codes: np.ndarray, n_fam: int, sign: float) -> np.ndarray:
    """Index of the feature with the largest signed contribution within each (row, family)."""
    signed = contrib * sign
    best = np.zeros((contrib.shape[0], n_fam), dtype=int)
    for k in range(n_fam):  # one vectorised argmax per family (ten families)
        cols = np.flatnonzero(fam_codes == k)
        best[:, k] = cols[np.argmax(signed[:, cols], axis=1)]
    return best


def explain(contrib: pd.DataFrame, values: pd.DataFrame, *, catalogue: pd.DataFrame, lang: str = "zh",
            top: int = 3, min_contribution: float = 0.01) -> pd.DataFrame:
    """The long reasons table: up to ``top`` raising and ``top`` lowering families per row.

    Parameters
    ----------
    contrib
        Per-feature contributions (log-odds), one row per explained student.
    values
        The same rows' feature values (the feature frame; may carry more columns).
    catalogue
        ``family, kind, zh, en`` (and ``instrument``) indexed by feature name.
    lang
        ``zh`` or ``en``.
    top
        Reasons per direction.
    min_contribution
        A family whose contribution is smaller than this (in log-odds) is not a reason.

    Returns
    -------
    DataFrame
        ``row`` (the index label of ``contrib``), ``direction`` (``raise``/``lower``), ``order``
        (1 = strongest), ``family``, ``feature`` (the family's strongest feature), ``contribution``
        (the family's sum), ``value`` (that feature's value) and ``text``.
    """
    if contrib.empty:
        return pd.DataFrame(columns=REASON_COLUMNS)
    fam = catalogue["family"].reindex(contrib.columns).fillna("other")
    codes, fam_names = pd.factorize(fam, sort=True)
    per_family = family_contributions(contrib, fam).to_numpy()
    c = contrib.to_numpy()
    parts = []
    for direction, sign in (("raise", 1.0), ("lower", -1.0)):
        best = _top_feature(c, codes, len(fam_names), sign)
        order = np.argsort(-sign * per_family, axis=1, kind="stable")[:, :top]
        rows = np.repeat(np.arange(len(c)), order.shape[1])
        fams = order.ravel()
        amount = per_family[rows, fams]
        keep = sign * amount >= min_contribution
        parts.append(pd.DataFrame({
            "row": contrib.index.to_numpy()[rows[keep]], "direction": direction,
            "order": np.tile(np.arange(1, order.shape[1] + 1), len(c))[keep],
            "family": np.asarray(fam_names)[fams[keep]],
            "feature": contrib.columns.to_numpy()[best[rows[keep], fams[keep]]],
            "contribution": amount[keep], "_pos": rows[keep]}))
    long = pd.concat(parts, ignore_index=True)
    long["order"] = long.groupby(["_pos", "direction"]).cumcount() + 1
    long["value"] = _lookup(values, long["_pos"].to_numpy(), long["feature"].to_numpy())
    long["text"] = _render(long, values, catalogue, lang)
    return long.drop(columns="_pos")[REASON_COLUMNS]


def _lookup(values: pd.DataFrame, pos: np.ndarray, features: np.ndarray) -> np.ndarray:
    out = np.full(len(pos), np.nan)
    for feature in np.unique(features):  # one vectorised take per distinct feature
        mask = features == feature
        if feature in values.columns:
            column = pd.to_numeric(values[feature], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            out[mask] = column[pos[mask]]
    return out


def _column(values: pd.DataFrame, name: str, pos: int) -> float:
    if name not in values.columns:
        return float("nan")
    value = values.iat[pos, values.columns.get_loc(name)]
    return float(value) if pd.notna(value) else float("nan")


def _render(long: pd.DataFrame, values: pd.DataFrame, catalogue: pd.DataFrame, lang: str) -> list[str]:
    """Text of each reason row (only listed students' reasons: a few thousand strings at most)."""
    known = _families()
    family_names = {f: text(f"warning.family.{f}" if f"warning.family.{f}" in known else "warning.family.other", lang)
                    for f in long["family"].unique()}
    columns = [c for c in ("kind", "instrument", lang) if c in catalogue.columns]
    entries = catalogue.loc[catalogue.index.intersection(long["feature"].unique()), columns].to_dict("index")
    out = []
    for pos, family, feature, value in zip(long["_pos"], long["family"], long["feature"], long["value"]):
        entry = entries.get(feature)
        instrument = entry.get("instrument") if entry is not None else None
        text_ = None
        if family == "screening" and isinstance(instrument, str) and not _ITEM.search(feature):
            text_ = _screening_text(values, pos, instrument, family_names[family], lang)
        out.append(text_ or _feature_text(entry, feature, value, family_names[family], lang))
    return out


def _screening_text(values: pd.DataFrame, pos: int, instrument: str, family_name: str, lang: str) -> str | None:
    code = instrument.lower()
    latest = _column(values, f"{code}_total_latest", pos)
    if math.isnan(latest):
        return None
    prev = _column(values, f"{code}_total_prev", pos)
    days = _column(values, f"{code}_date_latest_days", pos)
    if math.isnan(prev):
        key = "first"
    else:
        key = "rose" if latest > prev else "fell" if latest < prev else "same"
    return text(f"warning.reason.screening.{key}", lang, family=family_name,
                instrument=text(f"warning.instrument.{instrument}", lang),
                latest=_number(latest), prev=_number(prev) if not math.isnan(prev) else "",
                days=_number(days) if not math.isnan(days) else "?")


def _feature_text(entry: dict | None, feature: str, value: float, family_name: str, lang: str) -> str:
    what = entry.get(lang, feature) if entry is not None else feature
    kind = entry.get("kind", "score") if entry is not None else "score"
    return text("warning.reason.feature", lang, family=family_name, what=what, value=format_value(value, kind, lang))


def _families() -> frozenset[str]:
    from riskmodel.i18n import catalogue as i18n_catalogue

    return frozenset(k for k in i18n_catalogue() if k.startswith("warning.family."))
