"""Reasons: the factors that raise (and lower) a listed student's score, in sentences staff use.

Contributions come from the model (exact TreeSHAP for LightGBM, ``coef * z`` for the logistic model,
fired rules for the baseline), in log-odds. They are summed per feature *family* of the features
catalogue, so twenty small screening features read as one reason. Each family's reason is one
sentence about its strongest feature that has something to say: what was observed, how much, over
what time and, where the features hold it, compared with whom ("近3个月记录了4次较严重的情况，远多于同班
同学"). The sentences are data: ``warning.say.<pattern>`` in ``riskmodel/i18n/warning.yaml`` for a
feature whose catalogue name pattern has one, ``warning.say.kind.<kind>`` for the rest.

What is never a reason: a value that is not recorded (the next strongest feature of the family
speaks instead, or the family stays silent), a flag that is not set, a count of zero that raises the
score. Factors that lower the score are shown only from the families a counsellor can act on or
weigh (screenings, observations, life events, academics, attendance, counselling, crisis history,
classmates), never calendar distances, register facts or "days since" features.

Only the students who are listed are explained: TreeSHAP costs about a millisecond a row on two
cores, so explaining the few hundred listed students takes well under a second.

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
from functools import lru_cache

import numpy as np
import pandas as pd

from riskmodel.features.register import ADVERSITY_FLAGS
from riskmodel.i18n import catalogue as i18n_catalogue
from riskmodel.i18n import fill, text

__all__ = ["explain", "previous_families", "format_value", "family_contributions", "period", "plain_windows",
           "REASON_COLUMNS", "LOWERING_FAMILIES", "HIGHER_IS_BETTER"]

REASON_COLUMNS = ["row", "direction", "order", "family", "feature", "contribution", "value", "text"]
# families whose lowering factors mean something to a counsellor (not the calendar, not the register)
LOWERING_FAMILIES = frozenset({"screening", "observations", "life_events", "academics", "attendance",
                               "counselling", "history", "cohort"})
# features where more is better (marks): a rise lowers the risk in words, a fall raises it
HIGHER_IS_BETTER = frozenset({"acad_score_latest", "acad_score_change", "acad_score_vs_class"})
# the class comparison (cohort_obs_concern_90d_z) describes these features only
_CLASS_COMPARED = frozenset({"obs_concern_90d", "obs_urgent_90d"})
_SCREENING_TOTAL = re.compile(r"^[a-z0-9]+_total_(latest|prev|change)$")
# a critical item's answer (PHQ-9 item 9, UPI item 25 ...): only 0 reassures, any other answer is a warning sign
_CRITICAL_ITEM = re.compile(r"^(traj_)?[a-z0-9]+_item\d+_(latest|max)$")
# ratings whose lowest value (1-4 scale: 1 = no risk seen) is reassuring and anything above it is not
_LOWEST_IS_REASSURING = {"counsellor_rating_last": 1.0, "counsellor_rating_prev": 1.0, "traj_couns_rating_max_365d": 1.0}
_SAY = "warning.say."


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


def period(days: int, lang: str) -> str:
    """A window of ``days`` in words: 90 -> "近3个月" / "the last 3 months"; 365 -> "近一年"."""
    key = f"warning.period.{days}"
    if key in i18n_catalogue():
        return text(key, lang)
    if days % 30 == 0:
        return text("warning.period.months", lang, n=days // 30)
    return text("warning.period.days", lang, n=days)


_WINDOW_ZH = re.compile(r"近(\d+)天")
_WINDOW_EN = re.compile(r"in the last (\d+) days")


def plain_windows(description: str, lang: str) -> str:
    """A catalogue description with its window in words ("近90天..." -> "近3个月...")."""
    if lang == "zh":
        return _WINDOW_ZH.sub(lambda m: period(int(m.group(1)), "zh"), description)
    return _WINDOW_EN.sub(lambda m: "in " + period(int(m.group(1)), "en"), description)


def family_contributions(contrib: pd.DataFrame, families: pd.Series) -> pd.DataFrame:
    """Sum contributions over the features of each family (columns: families, sorted)."""
    fam = families.reindex(contrib.columns).fillna("other")
    codes, names = pd.factorize(fam, sort=True)
    onehot = np.zeros((len(fam), len(names)))
    onehot[np.arange(len(fam)), codes] = 1.0
    return pd.DataFrame(contrib.to_numpy() @ onehot, columns=names, index=contrib.index)


# -- sentence patterns ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern, str, tuple[str, ...]], ...]:
    """(compiled name regex, catalogue key, placeholder names) for every ``warning.say.<pattern>`` key."""
    from riskmodel.features.catalogue import raw_catalogue

    vocab = raw_catalogue()["vocab"]
    out = []
    for key in i18n_catalogue():
        if not key.startswith(_SAY) or "." in key[len(_SAY):]:
            continue
        pattern = key[len(_SAY):]
        names: list[str] = []
        regex = ""
        for part in re.split(r"(\{[a-z_]+\})", pattern):
            if part.startswith("{"):
                name = part[1:-1]
                names.append(name)
                if name in vocab:
                    regex += "(" + "|".join(sorted(map(re.escape, vocab[name]), key=len, reverse=True)) + ")"
                elif name in ("w", "t", "critical_item"):
                    regex += r"(\d+)"
                else:
                    regex += r"([a-z0-9]+)"
            else:
                regex += re.escape(part)
        out.append((re.compile(f"^{regex}$"), key, tuple(names)))
    # literal names before patterns with placeholders; then longer (more specific) first
    out.sort(key=lambda p: (len(p[2]) > 0, -len(p[1])))
    return tuple(out)


@lru_cache(maxsize=4096)
def _match(feature: str) -> tuple[str, dict[str, str]] | None:
    for regex, key, names in _patterns():
        found = regex.match(feature)
        if found:
            return key, dict(zip(names, found.groups()))
    return None


def _vocab_words(name: str, code: str, lang: str, instrument: str | None) -> str:
    from riskmodel.features.catalogue import raw_catalogue

    if name == "severity":
        return text(f"warning.say.severity.{code}", lang)
    if name == "instrument":
        return text(f"warning.instrument.{instrument}", lang) if instrument else code.upper()
    vocab = raw_catalogue()["vocab"].get(name)
    if vocab and code in vocab:
        return str(vocab[code][lang])
    return code


# -- which feature speaks for a family --------------------------------------------------------------

def _sayable(feature: str, kind: str, value: float, direction: str, family: str) -> bool:
    """Whether a feature's value can be said as a reason in this direction.

    The words must agree with the direction: "2 more failed courses" is never read out as lowering the
    risk, nor "1 fewer" as raising it, even where the model's contribution has that sign (a model's
    interactions can give one); such a feature is passed over for the family's next one.
    """
    if value is None or math.isnan(value):
        return False  # "not recorded" is never a reason
    worse = -value if feature in HIGHER_IS_BETTER else value  # > 0: the change is for the worse
    if feature.startswith("cohort_"):  # against classmates: above them raises, not above them lowers
        if feature.endswith("_pct"):  # a percentile: the middle of the class says nothing either way
            return value > 0.5 if direction == "raise" else (family in LOWERING_FAMILIES and value < 0.5)
        return value > 0 if direction == "raise" else (family in LOWERING_FAMILIES and value <= 0)
    if direction == "lower":
        if family not in LOWERING_FAMILIES or kind in ("days", "category", "ratio", "flag"):
            return False
        if kind == "count":
            return value == 0  # "no unexcused absence in the last month"
        if kind == "delta":
            return worse < 0
        if _CRITICAL_ITEM.match(feature):
            return value == 0  # "answered 0 to PHQ-9 item 9"; any other answer is a warning sign, never reassurance
        if feature in _LOWEST_IS_REASSURING:
            return value <= _LOWEST_IS_REASSURING[feature]
        # a level ("an SDS standard score of 62", "a mean mark of 51") is reassuring only past a threshold
        # the words do not carry: screening totals speak as a fall against the previous screening (explain)
        return bool(_SCREENING_TOTAL.match(feature))
    if kind == "flag":
        return value >= 0.5
    if kind == "count":
        return value > 0
    if kind == "delta":
        return worse > 0
    if _CRITICAL_ITEM.match(feature):
        return value > 0  # "answered 0 to item 9" never raises
    return value > _LOWEST_IS_REASSURING.get(feature, -math.inf)


def previous_families(previous: pd.DataFrame | None) -> dict[str, frozenset[str]]:
    """Student ID -> the families that raised the score on the previous list (read from its ``factors``).

    The previous list keeps its reasons as text; each starts with its family's name in either language.
    """
    if previous is None or "factors" not in previous.columns or "student_id" not in previous.columns:
        return {}
    names = {}
    for key, words in i18n_catalogue().items():
        if key.startswith("warning.family."):
            for lang in ("zh", "en"):
                names[words[lang] + text("warning.reason.colon", lang).strip()] = key[len("warning.family."):]
    out = {}
    for sid, factors in zip(previous["student_id"].astype(str), previous["factors"].fillna("").astype(str)):
        found = {family for name, family in names.items() if name in factors}
        out[sid] = frozenset(found)
    return out


def explain(contrib: pd.DataFrame, values: pd.DataFrame, *, catalogue: pd.DataFrame, lang: str = "zh",
            top: int = 3, min_contribution: float = 0.01,
            previous: dict[str, frozenset[str]] | None = None) -> pd.DataFrame:
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
    previous
        :func:`previous_families` of the previous list: a raising reason of a student who was on it,
        from a family that was not among their reasons then, is marked new ("（新）" / " (new)").

    Returns
    -------
    DataFrame
        ``row`` (the index label of ``contrib``), ``direction`` (``raise``/``lower``), ``order``
        (1 = strongest), ``family``, ``feature`` (the feature whose sentence speaks for the family),
        ``contribution`` (the family's sum), ``value`` (that feature's value) and ``text``. A family
        none of whose features can be said (every value not recorded, say) gives no row; the next
        family takes its place.
    """
    if contrib.empty:
        return pd.DataFrame(columns=REASON_COLUMNS)
    fam = catalogue["family"].reindex(contrib.columns).fillna("other")
    kinds = catalogue["kind"].reindex(contrib.columns).fillna("score").to_numpy()
    codes, fam_names = pd.factorize(fam, sort=True)
    per_family = family_contributions(contrib, fam).to_numpy()
    c = contrib.to_numpy()
    columns = contrib.columns.to_numpy()
    members = [np.flatnonzero(codes == k) for k in range(len(fam_names))]
    value_of = _ValueReader(values)
    rows = []
    for direction, sign in (("raise", 1.0), ("lower", -1.0)):
        order = np.argsort(-sign * per_family, axis=1, kind="stable")
        for i in range(len(c)):
            found = 0
            for k in order[i]:
                amount = per_family[i, k]
                if sign * amount < min_contribution or found >= top:
                    break
                family = str(fam_names[k])
                cols = members[k][np.argsort(-sign * c[i, members[k]], kind="stable")]
                for j in cols:
                    if sign * c[i, j] <= 0:
                        break
                    feature = str(columns[j])
                    value = value_of(i, feature)
                    if not _sayable(feature, kinds[j], value, direction, family):
                        continue
                    if direction == "lower" and family == "screening" and _SCREENING_TOTAL.match(feature):
                        code = feature.split("_total_")[0]  # said as latest against previous: only a fall lowers
                        if not value_of(i, f"{code}_total_latest") < value_of(i, f"{code}_total_prev"):
                            continue
                    found += 1
                    rows.append((contrib.index[i], direction, found, family, feature, amount, value, i))
                    break
    long = pd.DataFrame(rows, columns=[*REASON_COLUMNS[:7], "_pos"])
    if long.empty:
        return pd.DataFrame(columns=REASON_COLUMNS)
    long["text"] = _render(long, values, catalogue, lang)
    if previous and "student_id" in values.columns:
        ids = values["student_id"].astype(str).to_numpy()[long["_pos"].to_numpy()]
        new = [direction == "raise" and sid in previous and family not in previous[sid]
               for sid, family, direction in zip(ids, long["family"], long["direction"])]
        long.loc[new, "text"] = long.loc[new, "text"] + text("warning.reason.new", lang)
    return long.drop(columns="_pos")[REASON_COLUMNS]


class _ValueReader:
    """Feature values by (position, name), each column converted to float once."""

    def __init__(self, values: pd.DataFrame) -> None:
        self.values = values
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, pos: int, name: str) -> float:
        column = self.cache.get(name)
        if column is None:
            if name not in self.values.columns:
                return float("nan")
            column = pd.to_numeric(self.values[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            self.cache[name] = column
        return float(column[pos])


def _column(values: pd.DataFrame, name: str, pos: int) -> float:
    if name not in values.columns:
        return float("nan")
    value = values.iat[pos, values.columns.get_loc(name)]
    return float(value) if pd.notna(value) else float("nan")


def _render(long: pd.DataFrame, values: pd.DataFrame, catalogue: pd.DataFrame, lang: str) -> list[str]:
    """Text of each reason row (only listed students' reasons: a few thousand strings at most)."""
    known = i18n_catalogue()
    family_names = {f: text(f"warning.family.{f}" if f"warning.family.{f}" in known else "warning.family.other", lang)
                    for f in long["family"].unique()}
    columns = [c for c in ("kind", "instrument", lang) if c in catalogue.columns]
    entries = catalogue.loc[catalogue.index.intersection(long["feature"].unique()), columns].to_dict("index")
    out = []
    for pos, family, feature, value, direction in zip(long["_pos"], long["family"], long["feature"], long["value"],
                                                      long["direction"]):
        entry = entries.get(feature) or {}
        instrument = entry.get("instrument")
        sentence = None
        if family == "screening" and isinstance(instrument, str) and _SCREENING_TOTAL.match(feature):
            sentence = _screening_text(values, pos, instrument, lang, compare=direction == "raise")
        if sentence is None:
            sentence = _sentence(feature, entry, value, values, pos, lang)
        out.append(f"{family_names[family]}{text('warning.reason.colon', lang)}{sentence}")
    return out


def _screening_text(values: pd.DataFrame, pos: int, instrument: str, lang: str, *, compare: bool = True) -> str | None:
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
    compare = _class_rank(values, pos, code, lang) if compare else ""
    said = text(f"warning.reason.screening.{key}", lang, instrument=text(f"warning.instrument.{instrument}", lang),
                latest=_number(latest), prev=_number(prev) if not math.isnan(prev) else "",
                days=_number(days) if not math.isnan(days) else "?")
    return said + (text("warning.say.compare.join", lang, rel=compare) if compare else "")


def _class_rank(values: pd.DataFrame, pos: int, code: str, lang: str) -> str:
    pct = _column(values, f"cohort_{code}_total_pct", pos)
    return _relation_pct(pct, lang) if not math.isnan(pct) and pct >= 0.75 else ""


def _relation_pct(pct: float, lang: str) -> str:
    if pct >= 0.995:
        return text("warning.say.compare.pct_top", lang)
    if pct >= 0.5:
        return text("warning.say.compare.pct", lang, p=int(round(pct * 100)))
    return text("warning.say.compare.pct_low", lang)


def _relation_z(z: float, lang: str) -> str:
    if z >= 3:
        return text("warning.say.compare.z_far", lang)
    if z >= 1.5:
        return text("warning.say.compare.z_high", lang)
    if z > 0:
        return text("warning.say.compare.z_above", lang)
    return text("warning.say.compare.z_low", lang)


def _sentence(feature: str, entry: dict, value: float, values: pd.DataFrame, pos: int, lang: str) -> str:
    """The sentence of one feature with the student's value."""
    kind = entry.get("kind", "score")
    n = _number(value)
    fields: dict[str, object] = {
        "n": n, "abs": _number(abs(value)),
        "more": text("warning.say.more" if value > 0 else "warning.say.fewer", lang),
        "up": text("warning.say.up" if value > 0 else "warning.say.down", lang),
        "above": text("warning.say.above" if value > 0 else "warning.say.below", lang),
        "pct": _number(value * 100), "signed_pct": ("+" if value > 0 else "") + _number(value * 100),
        "compare": "", "rel": "",
    }
    matched = _match(feature)
    if matched is None:
        what = plain_windows(str(entry.get(lang, feature)), lang)
        if kind == "count" and value == 0:
            return text("warning.say.none_count", lang, what=what)
        shown = format_value(value, kind, lang) if kind in ("delta",) else n
        return text(f"warning.say.kind.{kind}", lang, what=what, n=shown)
    key, parts = matched
    instrument = entry.get("instrument")
    for name, code in parts.items():
        if name in ("w", "t"):
            fields["period"] = period(int(code), lang)
            fields[name] = code
        elif name == "critical_item":
            fields["item"] = code
        else:
            fields[name] = _vocab_words(name, code, lang, instrument if isinstance(instrument, str) else None)
    if feature == "reg_family_flags":  # the student's own flags, not the list of every kind
        own = [c for c in ADVERSITY_FLAGS if _column(values, f"reg_{c}", pos) >= 0.5]
        fields["flags"] = text("warning.reason.list_separator", lang).join(
            _vocab_words("flag", c, lang, None) for c in own) if own else n
    if feature.startswith("cohort_"):
        fields["rel"] = _relation_pct(value, lang) if feature.endswith("_pct") else _relation_z(value, lang)
    elif feature in _CLASS_COMPARED and value > 0:
        z = _column(values, "cohort_obs_concern_90d_z", pos)
        if not math.isnan(z) and z >= 1.5:
            fields["compare"] = text("warning.say.compare.class_far" if z >= 3 else "warning.say.compare.class_more",
                                     lang)
    none_key = _SAY + "none." + key[len(_SAY):]
    if kind == "count" and value == 0:
        if none_key not in i18n_catalogue():
            what = plain_windows(str(entry.get(lang, feature)), lang)
            return text("warning.say.none_count", lang, what=what)
        key = none_key
    template = i18n_catalogue()[key][lang]
    wanted = set(re.findall(r"\{([a-z_]+)(?::[^{}]*)?\}", template))
    return fill(template, **{k: fields.get(k, "") for k in wanted})
