"""The student file (一生一档, notebook 40): one student's record as of the run's date, one call per section.

Every function reads the run's ``report_data/`` only (already cut at the as-of date by
:func:`riskmodel.reports.report_data.cut_at`), speaks the report language through the catalogue
(record codes such as ``counsellor``, ``self_harm_signal``, ``follow_up`` are translated; no code is
shown raw), and never shows a student ID, a name, a note or any free text from the data.

Sections, in the notebook's order:

1. :func:`register_section`: register and family situation;
2. :func:`runs_section`: risk, level, hard rules and reasons at every run so far;
3. :func:`screenings_section`: each administration with total, band, critical answers and validity;
4. :func:`plot_scores`: one line per instrument over its waves;
5. :func:`observations_section`, 6. :func:`events_section`, 7. :func:`counselling_section`,
8. :func:`interviews_section`, 9. :func:`reviews_section` (the contract v2 ``reviews`` table, when the
   data holds one); 10. :func:`handover_section`: the summary and levels a previous school sent.

Records handed over by a previous school (``riskmodel handover import``) are marked in a ``from``
column.

Example
-------
>>> # run = open_run("reports/latest"); screenings_section(run, "P0000001", "zh")
"""

from __future__ import annotations

import pandas as pd

from riskmodel.i18n import catalogue, text
from riskmodel.reports.report_data import RunData
from riskmodel.reports.views import Heading, Section, Table, note
from riskmodel.vocab import ALL_LEVELS, FAMILY_FLAGS, LEVELS
from riskmodel.warning.localise import percent, word

__all__ = [
    "counselling_section",
    "events_section",
    "file_title",
    "handover_section",
    "interviews_section",
    "observations_section",
    "plot_scores",
    "register_section",
    "reviews_section",
    "runs_section",
    "screenings_section",
    "student_table",
]

_FLAGS = FAMILY_FLAGS
_VALIDITY = ("invalid", "careless", "too_fast", "identical_run", "prorated")


def _code(prefix: str, value) -> str:
    """A record code in the report language (``student.<prefix>.<code>``); an unknown code as it is."""
    return f"student.{prefix}.{value}"


def _say(prefix: str, value, lang: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return ""
    key = _code(prefix, value)
    return text(key, lang) if key in catalogue() else str(value)


def _day(values: pd.Series) -> list[str]:
    return [pd.Timestamp(v).date().isoformat() if pd.notna(v) else "" for v in values]


def _yes(value, lang: str) -> str:
    if value is None or pd.isna(value):
        return text("student.unknown", lang)
    return text("student.yes" if bool(value) else "student.no", lang)


def _column(rows: pd.DataFrame, name: str) -> pd.Series:
    """``rows[name]``, or an empty column when the run's data has no such column."""
    return rows[name] if name in rows.columns else pd.Series(pd.NA, index=rows.index)


def student_table(run: RunData, pseudonym: str, table: str) -> pd.DataFrame:
    """One student's rows of a ``report_data`` table, oldest first (empty when the run has none)."""
    frame = run.table(table)
    if frame.empty or "pseudonym" not in frame.columns:
        return pd.DataFrame()
    return frame[frame["pseudonym"] == pseudonym].sort_values("date", kind="stable").reset_index(drop=True)


def _origin(rows: pd.DataFrame, lang: str) -> list[str] | None:
    """The ``from`` column (this school / previous school), or None when no record came by handover."""
    if "origin" not in rows.columns or not rows["origin"].astype(str).str.startswith("handover").any():
        return None
    return [text("student.origin.handover" if str(o).startswith("handover") else "student.origin.own", lang)
            for o in rows["origin"]]


def _with_origin(out: dict, rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    origin = _origin(rows, lang)
    if origin is not None:
        out[text("student.col.origin", lang)] = origin
    return pd.DataFrame(out)


def _or_none(frame: pd.DataFrame, lang: str) -> Table | Heading:
    return _Table(frame) if len(frame) else note("student.none", lang)


def file_title(run: RunData, pseudonym: str, lang: str) -> Heading:
    """The page's title, ``<title>: <pseudonym> (<school · college · class>), as of <date>`` (escaped).

    One heading for the student file wherever it is shown: :func:`riskmodel.reports.views.student_title`
    (the catalogue's ``reports.student.heading``, full-width punctuation in Chinese).
    """
    from riskmodel.reports.views import student_title

    return student_title(run, pseudonym, lang)


class _Table(Table):
    """A :class:`Table` whose first ``nowrap`` columns (dates, levels, risks) and headers stay on one line.

    Beside a long column of reasons the browser squeezed the short ones until ``一级`` and ``2024-11-01``
    broke over two lines. Scoped to the table by a wrapper class.
    """

    def __init__(self, frame: pd.DataFrame, *, nowrap: int = 1) -> None:
        super().__init__(frame)
        self.nowrap = nowrap

    def _repr_html_(self) -> str:
        scope = f".jp-RenderedHTMLCommon .rm-student-nowrap{self.nowrap}"
        style = f"<style>{scope} td:nth-child(-n+{self.nowrap}),{scope} th{{white-space:nowrap}}</style>"
        return f'{style}<div class="rm-student-nowrap{self.nowrap}">{super()._repr_html_()}</div>'


# --------------------------------------------------------------------------------------------- 1 register
def register_section(run: RunData, pseudonym: str, lang: str) -> Section:
    """Register (school, class, stage, gender, birth year, enrolment) and the family flags the register holds."""
    register = run.table("register")
    rows = register[register["pseudonym"] == pseudonym] if "pseudonym" in register.columns else register.iloc[0:0]
    if rows.empty:
        return Section(note("student.none", lang))
    row = rows.iloc[0]
    items, values = [], []
    for col in ("school", "college", "grade", "class_id", "stage", "gender", "birth_year", "enrollment_date",
                "exit_date"):
        value = row.get(col)
        if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
            continue
        if col == "stage":
            value = text(f"stage.{value}", lang) if f"stage.{value}" in catalogue() else value
        elif col == "gender":
            value = text(f"gender.{value}", lang) if f"gender.{value}" in catalogue() else value
        elif col in ("enrollment_date", "exit_date"):
            value = pd.Timestamp(value).date().isoformat()
        items.append(text(f"student.reg.{col}", lang))
        values.append(str(value))
    flags = [text(f"flag.{f}", lang) for f in _FLAGS if f in row.index and pd.notna(row[f]) and bool(row[f])]
    unknown = all(f not in row.index or pd.isna(row[f]) for f in _FLAGS)
    items.append(text("student.reg.family", lang))
    values.append(("、" if lang == "zh" else ", ").join(flags) if flags else
                  text("student.unknown" if unknown else "student.reg.no_flags", lang))
    handed = any(_origin(student_table(run, pseudonym, t), lang) for t in ("screenings", "observations",
                                                                            "life_events", "counselling"))
    if handed:
        items.append(text("student.reg.previous_school", lang))
        values.append(text("student.yes", lang))
    return Section(Table(pd.DataFrame({text("student.col.item", lang): items, text("student.col.value", lang): values})))


# --------------------------------------------------------------------------------------------- 2 runs
def runs_section(run: RunData, pseudonym: str, lang: str) -> Section:
    """Level, calibrated risk, hard rules and reasons at every run so far (this run's and the earlier ones)."""
    rows = run.history[run.history["pseudonym"] == pseudonym].sort_values("as_of")
    table = pd.DataFrame({
        text("reports.col.as_of", lang): rows["as_of"].dt.date.astype(str).to_numpy(),
        text("reports.col.level", lang): [text(f"level.{lv}", lang) if lv in ALL_LEVELS else "" for lv in rows["level"]],
        text("reports.col.score", lang): rows["score"].map(percent).to_numpy(),  # as every risk in the reports
        text("reports.col.rules", lang): rows["rules"].fillna("").to_numpy(),
        text("reports.col.factors", lang): rows["factors"].fillna("").to_numpy(),
    })
    parts = [_Table(table, nowrap=3)]  # date, level, risk
    if len(rows) < 2:
        parts.append(note("student.no_runs", lang))
    return Section(*parts)


# --------------------------------------------------------------------------------------------- 3 screenings
def _critical(items, lang: str) -> str:
    if items is None or (not isinstance(items, str) and pd.isna(items)) or str(items) == "":
        return ""
    sep = "、" if lang == "zh" else ", "
    return sep.join(text("student.item", lang, n=i.strip().removeprefix("item_")) for i in str(items).split(",")
                    if i.strip())


def _validity(row: pd.Series, lang: str) -> str:
    flags = [text(f"student.flag.{f}", lang) for f in _VALIDITY if f in row.index and pd.notna(row[f]) and bool(row[f])]
    if "careless" in row.index and pd.notna(row.get("careless")) and bool(row.get("careless")):
        flags = [f for f in flags if f != text("student.flag.careless", lang)] or [text("student.flag.careless", lang)]
    return ("、" if lang == "zh" else ", ").join(flags) if flags else text("student.flag.none", lang)


def _say_class(value, lang: str) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return ""
    key = f"instruments.class.{value}"
    return text(key, lang) if key in catalogue() else str(value)


def _instrument(code: str) -> str:
    key = f"warning.instrument.{code}"
    return text(key, "en") if key in catalogue() else str(code)


def screenings_section(run: RunData, pseudonym: str, lang: str) -> Table | Heading:
    """Each administration: date, instrument, total (standard score), band, positive, critical answers,
    class, validity flags; the item answers stay in the data."""
    rows = student_table(run, pseudonym, "screenings")
    if rows.empty:
        return note("student.none", lang)
    def col(name: str) -> pd.Series:
        return _column(rows, name)

    out = {
        text("reports.col.date", lang): _day(rows["date"]),
        text("student.col.instrument", lang): [_instrument(c) for c in rows["instrument"]],
        text("student.col.total", lang): [("" if pd.isna(v) else f"{v:g}") for v in col("total")],
        text("student.col.standard_score", lang): [("" if pd.isna(v) else f"{v:g}") for v in col("standard_score")],
        text("student.col.band", lang): [text(f"instruments.band.{b}", lang) if isinstance(b, str) and
                                         f"instruments.band.{b}" in catalogue() else "" for b in col("band")],
        text("student.col.positive", lang): [_yes(v, lang) if pd.notna(v) else "" for v in col("positive")],
        text("student.col.critical", lang): [_critical(v, lang) for v in col("critical_items")],
        text("student.col.classification", lang): [_say_class(v, lang) for v in col("classification")],
        text("student.col.validity", lang): [_validity(r, lang) for _, r in rows.iterrows()],
    }
    frame = _with_origin(out, rows, lang)
    if frame[text("student.col.standard_score", lang)].eq("").all():
        frame = frame.drop(columns=text("student.col.standard_score", lang))
    if frame[text("student.col.classification", lang)].eq("").all():
        frame = frame.drop(columns=text("student.col.classification", lang))
    return _Table(frame, nowrap=2)  # date, instrument


# --------------------------------------------------------------------------------------------- 4 trajectories
def _scale(code: str) -> tuple[float, float] | None:
    """The range of an instrument's total (or standard score), from its specification, with a margin."""
    from riskmodel.instruments import get

    try:
        spec = get(code)
    except KeyError:
        return None
    scored = len(spec.scored_items) or spec.n_items
    low, high = scored * spec.response_min, scored * spec.response_max
    if spec.standard_multiplier:
        low, high = int(low * spec.standard_multiplier), int(high * spec.standard_multiplier)
    margin = (high - low) * 0.04
    return low - margin, high + margin


def plot_scores(run: RunData, pseudonym: str, lang: str):
    """One small panel per instrument, a line over its waves (standard score where the instrument has one).

    Returns the Figure (or a note when the student has no scored screening). Scales differ (PHQ-9 0-27,
    SCL-90 90-450), so each instrument gets its own axis; handed-over waves are drawn hollow.
    """
    import matplotlib.pyplot as plt

    from riskmodel.reports.names import plot_text
    from riskmodel.reports.plots import date_ticks

    rows = student_table(run, pseudonym, "screenings")
    if rows.empty or "total" not in rows.columns or rows["total"].isna().all():
        return note("student.none", lang)
    rows = rows.assign(value=rows["standard_score"].fillna(rows["total"]) if "standard_score" in rows.columns
                       else rows["total"]).dropna(subset=["value"])
    instruments = sorted(rows["instrument"].unique())
    cols = min(3, len(instruments))
    nrows = -(-len(instruments) // cols)
    # not sharex: matplotlib then labelled the dates under the bottom panel of each column only, and a
    # grid of four left three panels without dates. Each panel labels its own waves, on one time range.
    fig, axes = plt.subplots(nrows, cols, figsize=(3.0 * cols + 1, 2.6 * nrows), squeeze=False, layout="constrained")
    first, last = rows["date"].min(), rows["date"].max()
    pad = max(pd.Timedelta(days=20), (last - first) * 0.06)
    for ax, code in zip(axes.ravel(), instruments):
        scale = _scale(code)
        if scale is not None:  # the instrument's whole range: a change of 2 on PHQ-9 must not look like a leap
            ax.set_ylim(*scale)
        part = rows[rows["instrument"] == code].sort_values("date")
        ax.plot(part["date"], part["value"], marker="o", color="#2c7bb6", linewidth=1.4)
        if "origin" in part.columns:
            handed = part[part["origin"].astype(str).str.startswith("handover")]
            if len(handed):
                ax.scatter(handed["date"], handed["value"], facecolor="white", edgecolor="#2c7bb6", zorder=3)
        ax.set_title(plot_text(_instrument(code)), fontsize="medium")
        if ax in axes[:, 0]:
            ax.set_ylabel(text("student.plot.score", lang), fontsize="small")
        ax.set_xlim(first - pad, last + pad)
    for ax in axes.ravel()[len(instruments):]:
        ax.set_visible(False)
    fig.get_layout_engine().execute(fig)  # the panels' final widths, for thinning crowded dates
    for ax, code in zip(axes.ravel(), instruments):
        date_ticks(ax, rows.loc[rows["instrument"] == code, "date"], fontsize="small")
        ax.tick_params(axis="x", labelsize="small")
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    return fig


# --------------------------------------------------------------------------------------------- 5-9 records
def observations_section(run: RunData, pseudonym: str, lang: str) -> Table | Heading:
    """Date, who reported, category and severity; the note text never reaches ``report_data``."""
    rows = student_table(run, pseudonym, "observations")
    if rows.empty:
        return note("student.none", lang)
    return _or_none(_with_origin({
        text("reports.col.date", lang): _day(rows["date"]),
        text("student.col.source", lang): [_say("source", v, lang) for v in rows["source"]],
        text("student.col.category", lang): [_say("category", v, lang) for v in rows["category"]],
        text("student.col.severity", lang): [_say("severity", int(v), lang) if pd.notna(v) else "" for v in rows["severity"]],
    }, rows, lang), lang)


def events_section(run: RunData, pseudonym: str, lang: str) -> Table | Heading:
    """Life events by date."""
    rows = student_table(run, pseudonym, "life_events")
    if rows.empty:
        return note("student.none", lang)
    return _or_none(_with_origin({text("reports.col.date", lang): _day(rows["date"]),
                                  text("student.col.event", lang): [_say("event", v, lang) for v in rows["event"]]},
                                 rows, lang), lang)


def _counselling(rows: pd.DataFrame, lang: str) -> pd.DataFrame:
    ratings = rows["counsellor_rating"] if "counsellor_rating" in rows.columns else pd.Series(pd.NA, index=rows.index)
    return _with_origin({text("reports.col.date", lang): _day(rows["date"]),
                         text("student.col.kind", lang): [_say("kind", v, lang) for v in rows["kind"]],
                         text("student.col.rating", lang): ["" if pd.isna(v) else str(int(v)) for v in ratings]},
                        rows, lang)


def counselling_section(run: RunData, pseudonym: str, lang: str) -> Table | Heading:
    """Contacts with the psychology centre (kind, date, the counsellor's own rating), interviews included."""
    rows = student_table(run, pseudonym, "counselling")
    return note("student.none", lang) if rows.empty else _or_none(_counselling(rows, lang), lang)


def interviews_section(run: RunData, pseudonym: str, lang: str) -> Table | Heading:
    """The interviews after a screening (访谈): counselling contacts of kind ``interview``."""
    rows = student_table(run, pseudonym, "counselling")
    if rows.empty:
        return note("student.none", lang)
    rows = rows[rows["kind"] == "interview"]
    return note("student.none", lang) if rows.empty else _Table(_counselling(rows, lang))


def reviews_section(run: RunData, pseudonym: str, lang: str) -> Table | Heading:
    """What staff decided (研判): level set, status, next review, reviewer role; no reason text, no note."""
    frame = run.table("reviews")
    if frame.empty and "level" not in frame.columns:
        return note("student.no_reviews", lang)
    rows = student_table(run, pseudonym, "reviews")
    if rows.empty:
        return note("student.none", lang)
    def get(name: str) -> pd.Series:
        return _column(rows, name)

    return _Table(_with_origin({
        text("reports.col.date", lang): _day(rows["date"]),
        text("student.col.level", lang): [text(f"level.{v}", lang) if v in LEVELS else
                                          text("student.review_level.none", lang) for v in rows["level"]],
        text("student.col.status", lang): [word("review_status", v, lang) for v in get("status")],
        text("student.col.next_review", lang): _day(get("next_review")),
        text("student.col.reviewer", lang): [word("reviewer_role", v, lang) for v in get("reviewer_role")],
    }, rows, lang))


def handover_section(run: RunData, pseudonym: str, lang: str) -> Table | Heading:
    """The previous school's summary (problem, causes, behaviour, family, advice) and levels, as it sent them.

    Generated by the sending installation from its records and labelled so (docs/handover.md).
    """
    frame = run.table("handover")
    rows = frame[frame["pseudonym"] == pseudonym] if "pseudonym" in frame.columns else frame
    if "lang" in rows.columns:  # every language since 2026-12; an older run folder holds its run's only
        rows = rows[rows["lang"] == lang]
    if rows.empty:
        return note("student.no_handover", lang)
    rows = rows.sort_values(["packet", "order"])
    return Table(pd.DataFrame({text("student.col.section", lang): rows["section"].to_numpy(),
                               text("student.col.content", lang): rows["line"].to_numpy()}))
