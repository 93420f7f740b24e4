"""The summary for the receiving school: problem, causes, behaviour at school, family support, advice.

What the 宝山 guidance asks a handover to discuss (心理问题状况、原因分析、在校表现、家庭支持、关心关爱
建议), generated from the records in the packet by fixed rules, as far as the records allow, and
labelled as such (``handover.summary.label``): records hold no clinical formulation, no assessment of
how supportive a family is, and no care plan, and the summary does not pretend they do. Each section
is a list of ``{"key", "params"}`` facts (for another system) and the same facts rendered in Chinese
and English.
"""

from __future__ import annotations

import pandas as pd

from riskmodel.i18n import LANGUAGES, text
from riskmodel.vocab import FAMILY_FLAGS, LEVELS
from riskmodel.warning.localise import percent, word

__all__ = ["SECTIONS", "summarise"]

SECTIONS = ("problem", "causes", "behaviour", "family", "advice")
FAMILY_EVENTS = ("parental_divorce", "family_conflict", "bereavement", "economic_shock")
_FLAGS = tuple(f for f in FAMILY_FLAGS if f != "only_child")  # the register flags that bear on family support


def _day(value) -> str:
    return pd.Timestamp(value).date().isoformat()


def _fact(key: str, **params) -> dict:
    return {"key": key, "params": params}


def _problem(screenings: pd.DataFrame, runs: pd.DataFrame, reviews: pd.DataFrame) -> list[dict]:
    facts = []
    if not screenings.empty:
        for instrument, rows in screenings.sort_values("date").groupby("instrument", sort=True):
            last = rows.iloc[-1]
            if pd.notna(last.get("total")) and (last.get("band") not in (None, "minimal", "normal")
                                                or bool(last.get("positive"))):
                total = last.get("standard_score") if pd.notna(last.get("standard_score")) else last["total"]
                facts.append(_fact("handover.summary.latest_screening", date=_day(last["date"]), instrument=instrument,
                                   total=int(total), band=str(last.get("band") or ""),
                                   positive=bool(last.get("positive"))))
        critical = screenings[screenings.get("critical", pd.Series(False, index=screenings.index)).fillna(False)
                              .astype(bool)]
        for row in critical.sort_values("date").itertuples(index=False):
            facts.append(_fact("handover.summary.critical", date=_day(row.date), instrument=row.instrument,
                               items=str(row.critical_items)))
    if not runs.empty:
        last = runs.sort_values("as_of").iloc[-1]
        facts.append(_fact("handover.summary.level", date=_day(last["as_of"]), level=str(last["level"]),
                           score=round(float(last["score"]), 3)))
    if not reviews.empty:
        last = reviews.sort_values("date").iloc[-1]
        facts.append(_fact("handover.summary.review", date=_day(last["date"]), level=str(last["level"]),
                           status=str(last["status"])))
    return facts or [_fact("handover.summary.no_problem")]


def _causes(events: pd.DataFrame, runs: pd.DataFrame) -> list[dict]:
    facts = [_fact("handover.summary.event", date=_day(r.date), event=str(r.event))
             for r in events.sort_values("date").itertuples(index=False)] if not events.empty else []
    if not runs.empty:
        listed = runs[runs["level"] != "none"].sort_values("as_of")
        if not listed.empty and str(listed.iloc[-1].get("factors") or ""):
            facts.append(_fact("handover.summary.factors", date=_day(listed.iloc[-1]["as_of"]),
                               factors=str(listed.iloc[-1]["factors"])))
    return facts or [_fact("handover.summary.no_causes")]


def _behaviour(observations: pd.DataFrame, counselling: pd.DataFrame, as_of: pd.Timestamp) -> list[dict]:
    facts = []
    if not observations.empty:
        recent = observations[pd.to_datetime(observations["date"]) > as_of - pd.DateOffset(years=1)]
        if not recent.empty:
            counts = recent["category"].value_counts().sort_index()
            facts.append(_fact("handover.summary.observations", n=len(recent),
                               categories={str(k): int(v) for k, v in counts.items()},
                               urgent=int((recent["severity"] >= 3).sum())))
    if not counselling.empty:
        counts = counselling["kind"].value_counts().sort_index()
        facts.append(_fact("handover.summary.counselling", n=len(counselling),
                           kinds={str(k): int(v) for k, v in counts.items()},
                           date=_day(pd.to_datetime(counselling["date"]).max())))
    return facts or [_fact("handover.summary.no_behaviour")]


def _family(register: dict, observations: pd.DataFrame, events: pd.DataFrame) -> list[dict]:
    facts = []
    flags = [f for f in _FLAGS if register.get(f) is True]
    if flags:
        facts.append(_fact("handover.summary.flags", flags=flags))
    if not observations.empty and (observations["source"] == "parent").any():
        facts.append(_fact("handover.summary.parent_reports", n=int((observations["source"] == "parent").sum())))
    if not events.empty and events["event"].isin(FAMILY_EVENTS).any():
        facts.append(_fact("handover.summary.family_events",
                           events=sorted(events.loc[events["event"].isin(FAMILY_EVENTS), "event"].unique().tolist())))
    return [*facts, _fact("handover.summary.family_limit")] if facts else [_fact("handover.summary.no_family")]


def _advice(screenings: pd.DataFrame, runs: pd.DataFrame, reviews: pd.DataFrame, counselling: pd.DataFrame) -> list[dict]:
    critical = not screenings.empty and screenings.get("critical", pd.Series(dtype=bool)).fillna(False).astype(bool).any()
    last_level = str(runs.sort_values("as_of").iloc[-1]["level"]) if not runs.empty else "none"
    last_review = str(reviews.sort_values("date").iloc[-1]["level"]) if not reviews.empty else "none"
    kinds = set(counselling["kind"]) if not counselling.empty else set()
    positive = not screenings.empty and screenings.get("positive", pd.Series(dtype=bool)).fillna(False).astype(bool).any()
    advice = []
    if critical or "I" in (last_level, last_review) or "hospital" in kinds:
        advice.append(_fact("handover.advice.urgent"))
    if kinds & {"referral", "hospital"}:
        advice.append(_fact("handover.advice.treatment"))
    if positive or last_level in ("II", "III") or last_review in ("II", "III"):
        advice.append(_fact("handover.advice.rescreen"))
    if kinds & {"leave_of_absence", "return"}:
        advice.append(_fact("handover.advice.return"))
    advice.append(_fact("handover.advice.transition"))
    return advice


def _value(name: str, value, lang: str) -> str:
    """One parameter rendered in ``lang`` (codes through the catalogue)."""
    if name == "band":  # with its separator: no dangling comma when the instrument has no bands
        return text("handover.summary.band", lang, band=text(f"instruments.band.{value}", lang)) if value else ""
    if name == "score":
        return percent(value)
    if name == "positive":
        return text("handover.summary.positive", lang) if value else ""
    if name == "level":
        return text(f"level.{value}", lang) if value in LEVELS else text("student.review_level.none", lang)
    if name == "status":
        return word("review_status", value, lang)
    if name == "event":
        return text(f"student.event.{value}", lang)
    if name == "events":
        return "、".join(text(f"student.event.{v}", lang) for v in value) if lang == "zh" else \
            ", ".join(text(f"student.event.{v}", lang) for v in value)
    if name == "flags":
        sep = "、" if lang == "zh" else ", "
        return sep.join(text(f"flag.{v}", lang) for v in value)
    if name in ("categories", "kinds"):
        prefix = "student.category" if name == "categories" else "student.kind"
        sep = "；" if lang == "zh" else "; "
        return sep.join(f"{text(f'{prefix}.{k}', lang)} {n}" for k, n in value.items())
    if name == "items":
        return ("、" if lang == "zh" else ", ").join(
            text("student.item", lang, n=v.removeprefix("item_")) for v in str(value).split(",") if v.strip())
    if name == "instrument":
        return text(f"warning.instrument.{value}", lang) if f"warning.instrument.{value}" in _catalogue() else str(value)
    return str(value)


def _catalogue():
    from riskmodel.i18n import catalogue

    return catalogue()


def _chinese(value: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in value)


def render(fact: dict, lang: str) -> str:
    """One fact in ``lang``. The model's reasons are the sending list's text, in its language: where that
    is not ``lang`` they are quoted as written, and said so."""
    params = {k: _value(k, v, lang) for k, v in fact["params"].items()}
    key = fact["key"]
    if key == "handover.summary.factors" and _chinese(str(params.get("factors", ""))) != (lang == "zh"):
        key = "handover.summary.factors_as_written"
    return text(key, lang, **params)


def summarise(*, register: dict, tables: dict[str, pd.DataFrame], runs: pd.DataFrame, as_of) -> dict:
    """The summary of one student's records (``tables``: scored screenings, observations, life_events,
    counselling, reviews; ``runs``: as_of, level, score, factors at each run), structured and rendered.

    Example
    -------
    >>> empty = {n: pd.DataFrame() for n in ("screenings", "observations", "life_events", "counselling", "reviews")}
    >>> s = summarise(register={}, tables=empty, runs=pd.DataFrame(), as_of="2026-03-01")
    >>> s["sections"]["problem"][0]["key"], s["text"]["en"]["advice"][-1][:20]
    ('handover.summary.no_problem', 'The first months at ')
    """
    as_of = pd.Timestamp(as_of)
    empty = pd.DataFrame()
    def get(name: str) -> pd.DataFrame:
        return tables.get(name, empty)

    sections = {
        "problem": _problem(get("screenings"), runs, get("reviews")),
        "causes": _causes(get("life_events"), runs),
        "behaviour": _behaviour(get("observations"), get("counselling"), as_of),
        "family": _family(register, get("observations"), get("life_events")),
        "advice": _advice(get("screenings"), runs, get("reviews"), get("counselling")),
    }
    rendered = {lang: {name: [render(f, lang) for f in facts] for name, facts in sections.items()}
                for lang in LANGUAGES}
    return {"label": {lang: text("handover.summary.label", lang) for lang in LANGUAGES},
            "headings": {lang: {name: text(f"handover.summary.{name}", lang) for name in SECTIONS} for lang in LANGUAGES},
            "sections": sections, "text": rendered}
