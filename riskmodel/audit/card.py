"""The model card: what the model is for, on what data, how well it did, for whom, and its limits.

Built from an audit's summary and tables, in Markdown, in the report language (every sentence from
the translation catalogue, ``riskmodel/i18n/audit.yaml``). The sections follow the template in
docs/model_card_template.md: intended use (decision support, not diagnosis), data and time window,
performance against the rules baseline with intervals, groups, drift, main factors, stability,
limitations (including the feedback effect of interventions on labels) and reproducibility.

Example
-------
>>> # card = model_card(result.summary, result.tables, lang="en")
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskmodel.i18n import text
from riskmodel.vocab import LEVELS

__all__ = ["kind_label", "markdown_table", "metric_label", "model_card", "outcome_labels", "released_verdict",
           "variable_labels"]

MAX_CARD_GAPS = 12  # the card lists the largest flagged gaps; groups.csv has them all
CARD_METRICS: tuple[str, ...] = ("auc", "average_precision", "recall_I", "precision_I", "recall_II", "precision_II",
                                 "recall_III", "precision_III", "brier", "ece", "observed_expected", "base_rate")


def metric_label(metric: str, lang: str) -> str:
    """Words for a metric name such as ``recall_II`` or ``auc``.

    Example
    -------
    >>> metric_label("recall_II", "en")
    'recall (level II or higher)'
    """
    stem, _, level = metric.rpartition("_")
    if level in LEVELS:
        return text(f"audit.metric.{stem}", lang, level=text(f"level.{level}", lang).replace("Level ", ""))
    return text(f"audit.metric.{metric}", lang)


def markdown_table(frame: pd.DataFrame) -> str:
    """A plain Markdown table (pipes in cells escaped).

    Example
    -------
    >>> print(markdown_table(pd.DataFrame({"a": [1], "b": ["x|y"]})))
    | a | b |
    |---|---|
    | 1 | x\\|y |
    """
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _with_interval(row: pd.Series) -> str:
    if not np.isfinite(row["low"]):
        return _fmt(row["estimate"])
    return f"{_fmt(row['estimate'])} ({_fmt(row['low'])}–{_fmt(row['high'])})"


def _metrics_section(performance: pd.DataFrame, lang: str) -> str:
    pooled = performance.loc[performance["period"] == "all"]
    wide = pooled.assign(value=pooled.apply(_with_interval, axis=1)).pivot(index="metric", columns="scorer",
                                                                             values="value")
    wide = wide.reindex([m for m in CARD_METRICS if m in wide.index])
    table = pd.DataFrame({text("audit.card.metric", lang): [metric_label(m, lang) for m in wide.index]})
    for scorer in [s for s in ("model", "rules") if s in wide.columns]:
        table[text(f"audit.scorer.{scorer}", lang)] = wide[scorer].to_numpy()
    return markdown_table(table)


def _grouping_label(grouping: str, lang: str) -> str:
    for key in (f"audit.grouping.{grouping}", f"flag.{grouping}"):
        try:
            return text(key, lang)
        except KeyError:
            continue
    return grouping


def _group_label(group: str, lang: str, grouping: str = "") -> str:
    """Words for a group: yes/no/missing, a gender or a stage from the catalogue; a name from the data
    as literal Markdown (a college named ``<script>`` or ``[x](javascript:...)`` stays text)."""
    from riskmodel.i18n import catalogue
    from riskmodel.reports.names import md_text

    for key in (f"audit.group.{group}", f"{grouping}.{group}"):
        if key in catalogue() and (key.startswith("audit.group.") or grouping in ("gender", "stage")):
            return text(key, lang)
    return md_text(group)


def _groups_section(summary: dict, lang: str) -> str:
    audit = summary["settings"]["audit"]
    lines = [text("audit.card.groups_text", lang, min_n=audit["min_group_size"], min_pos=audit["min_group_positives"],
                  fdr=f"{1 - audit['confidence']:.0%}")]
    flagged = summary.get("flagged_gaps", [])
    if not flagged:
        lines.append(text("audit.card.groups_none", lang))
    else:
        lines.append(text("audit.card.groups_count", lang, flagged=len(flagged), tested=summary.get("gaps_tested", "?")))
    thresholds = audit.get("gap_thresholds", {})

    def severity(item: dict) -> float:  # how many thresholds the gap spans
        stem, _, level = item["metric"].rpartition("_")
        threshold = thresholds.get(stem if level in LEVELS else item["metric"], 1.0) or 1.0
        return abs(item["gap"]) / threshold

    shown = sorted(flagged, key=severity, reverse=True)[:MAX_CARD_GAPS]
    for item in shown:
        lines.append("- " + text(f"audit.scorer.{item.get('scorer', 'model')}", lang) + ": "
                     + text("audit.card.group_line", lang, grouping=_grouping_label(item["grouping"], lang),
                                 group=_group_label(item["group"], lang, item["grouping"]),
                                 metric=metric_label(item["metric"], lang),
                                 gap=_fmt(item["gap"]), low=_fmt(item.get("gap_low", np.nan)),
                                 high=_fmt(item.get("gap_high", np.nan))))
    if len(flagged) > len(shown):
        lines.append(text("audit.card.groups_more", lang, more=len(flagged) - len(shown)))
    insufficient = summary.get("insufficient_groups", [])
    if insufficient:
        names = text("audit.card.separator", lang).join(
            f"{_grouping_label(g['grouping'], lang)} = {_group_label(g['group'], lang, g['grouping'])}" for g in insufficient)
        lines.append(text("audit.card.groups_insufficient", lang, groups=names))
    return "\n\n".join(lines)


def _family_label(family: str, lang: str) -> str:
    try:
        return text(f"warning.family.{family}", lang)
    except KeyError:
        return family


def _share(value) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.0%}"


def _percent(value) -> str:
    """A rate in percent, as every risk on a page is (0.0089 -> ``0.89%``); ``–`` when unknown."""
    from riskmodel.warning.localise import percent

    return "–" if value is None or not np.isfinite(value) else percent(value)


def _count(unit: str, n, lang: str) -> str:
    """``n`` with its unit in words (``1 day``, ``2 days``; ``once``); ``–`` when unknown."""
    if n is None or (isinstance(n, float) and not np.isfinite(n)):
        return "–"
    return text(f"audit.unit.{unit}.{'one' if n == 1 else 'other'}", lang, n=f"{n:g}")


def kind_label(kind: str, lang: str) -> str:
    """Words for a model kind (``lightgbm`` -> ``LightGBM``); an unknown kind stays as written, literal."""
    from riskmodel.i18n import catalogue
    from riskmodel.reports.names import md_text

    key = f"audit.kind.{kind}"
    return text(key, lang) if key in catalogue() else md_text(kind)


def outcome_labels(events, lang: str) -> list[str]:
    """The outcome events' words from the feature catalogue's vocabulary (``self_harm`` -> ``自伤``)."""
    from riskmodel.features.catalogue import raw_catalogue
    from riskmodel.reports.names import md_text

    words = raw_catalogue()["vocab"]["outcome"]
    return [words[e][lang] if e in words else md_text(e) for e in events]


def variable_labels(variables, lang: str) -> list[str]:
    """Feature descriptions from the feature catalogue in ``lang`` (the name itself if not catalogued), and
    ``score`` as the model score: the drift chart's labels and the card's drift list.

    Example
    -------
    >>> variable_labels(["score"], "en")
    ['model score']
    """
    from riskmodel.features import catalogue

    words = catalogue()[lang]
    return [text("audit.plot.score", lang) if v == "score" else str(words.get(v, v)) for v in variables]


def _loop_section(summary: dict, lang: str) -> list[str]:
    """The review loop's headline figures (riskmodel.audit.loop), or a note that the data hold no reviews."""
    loop = summary.get("review_loop") or {}
    if not loop:
        return ["## " + text("audit.card.loop", lang), text("audit.card.loop_none", lang)]
    def number(value) -> str:
        return "–" if value is None else (f"{value:g}" if isinstance(value, (int, float)) else str(value))

    horizon = summary["settings"]["labels"]["horizon_days"]
    from riskmodel.audit.loop import RECENT_DAYS

    return ["## " + text("audit.card.loop", lang),
            text("audit.card.loop_text", lang, triggers=_count("time", loop.get("triggers"), lang),
                 median=_count("day", loop.get("median_days_to_review"), lang),
                 within=_share(loop.get("share_reviewed_within_due")),
                 due=_count("day", loop.get("due_days"), lang), never=_share(loop.get("share_not_reviewed")), horizon=horizon,
                 awaiting_overdue=number(loop.get("interview_overdue_median")),
                 review_overdue=number(loop.get("review_overdue_median")), under=number(loop.get("under_review_median"))),
            text("audit.card.loop_agreement", lang, rows=number(loop.get("agreement_rows")),
                 exact=_share(loop.get("agreement_exact")),
                 kappa="–" if loop.get("kappa_linear") is None else f"{loop['kappa_linear']:.2f}",
                 spearman="–" if loop.get("spearman_score") is None else f"{loop['spearman_score']:.2f}"),
            text("audit.card.loop_released", lang, horizon=horizon, released=_percent(loop.get("released_outcome_rate")),
                 released_outcomes=number(loop.get("released_outcomes")), released_rows=number(loop.get("released_rows")),
                 recent=_percent(loop.get("released_recently_outcome_rate")), recent_days=RECENT_DAYS,
                 under=_percent(loop.get("under_review_outcome_rate")), none=_percent(loop.get("no_case_outcome_rate")),
                 none_outcomes=number(loop.get("no_case_outcomes")), none_rows=number(loop.get("no_case_rows")),
                 verdict=text("audit.card.loop_released_" + released_verdict(loop), lang, **_ratio_words(loop, summary)))]


def released_verdict(loop: dict) -> str:
    """``higher``, ``lower``, ``similar`` or ``unknown``: released students' outcome rate against that of students
    in no case, called higher or lower only when the cluster-bootstrap interval of the ratio excludes 1.

    Example
    -------
    >>> released_verdict({"released_ratio_to_no_case": 1.16, "released_ratio_low": 0.6, "released_ratio_high": 2.1})
    'similar'
    >>> released_verdict({"released_ratio_to_no_case": 1.5, "released_ratio_low": 1.1, "released_ratio_high": 2.0})
    'higher'
    """
    ratio, low, high = (loop.get(k) for k in ("released_ratio_to_no_case", "released_ratio_low", "released_ratio_high"))
    if any(v is None or not np.isfinite(v) for v in (ratio, low, high)):
        return "unknown"
    return "higher" if low > 1 else "lower" if high < 1 else "similar"


def _ratio_words(loop: dict, summary: dict) -> dict[str, str]:
    def ratio(value) -> str:
        return "–" if value is None or not np.isfinite(value) else f"{value:.2f}"

    return {"ratio": ratio(loop.get("released_ratio_to_no_case")), "low": ratio(loop.get("released_ratio_low")),
            "high": ratio(loop.get("released_ratio_high")),
            "confidence": f"{summary['settings']['audit']['confidence']:.0%}"}


def _by_psi(variables: list[str], drift: pd.DataFrame | None) -> list[tuple[str, float]]:
    """The drifted variables with their PSI over the whole period, largest first (NaN PSI if not in ``drift``)."""
    psi = {}
    if drift is not None and len(drift):
        pooled = drift.loc[drift["period"] == "all"]
        psi = dict(zip(pooled["variable"], pooled["psi"].astype(float)))
    pairs = [(v, psi.get(v, float("nan"))) for v in variables]
    return sorted(pairs, key=lambda pair: -pair[1] if np.isfinite(pair[1]) else 0.0)


def model_card(summary: dict, tables: dict[str, pd.DataFrame], *, lang: str) -> str:
    """The model card in Markdown (see the module docstring for its sections).

    Parameters
    ----------
    summary
        ``AuditResult.summary`` (model metadata, period, counts, settings, flags).
    tables
        The audit tables (``performance``, ``groups``, ``drift``, ``importance``, ``stability``).
    lang
        ``zh`` or ``en``.
    """
    model, period, rows = summary["model"], summary["period"], summary["rows"]
    audit = summary["settings"]["audit"]
    train = model.get("as_of_dates") or ["?"]
    horizon = model.get("horizon_days") or summary["settings"]["labels"]["horizon_days"]
    sections = [
        "# " + text("audit.card.title", lang, kind=kind_label(model.get("kind", ""), lang), version=model.get("version", "")),
        "> " + text("disclaimer", lang),
        "## " + text("audit.card.intended_use", lang),
        text("audit.card.intended_use_text", lang, horizon=horizon),
        "## " + text("audit.card.data", lang),
        text("audit.card.data_text", lang, train_first=train[0], train_last=train[-1], until=model.get("until", "?"),
             audit_from=period["from"], audit_to=period["to"], dates=period["dates"],
             outcomes=text("audit.card.separator", lang).join(
                 outcome_labels(model.get("outcome_events") or summary["settings"]["labels"]["outcome_events"], lang)),
             usable=rows["usable"], censored=rows["left_out_censored"], incomplete=rows["left_out_incomplete_window"]),
        "## " + text("audit.card.metrics", lang),
        text("audit.card.metrics_text", lang, replicates=audit["bootstrap"], confidence=f"{audit['confidence']:.0%}"),
        _metrics_section(tables["performance"], lang),
        "## " + text("audit.card.groups", lang),
        _groups_section(summary, lang),
        "## " + text("audit.card.drift", lang),
    ]
    drifted = _by_psi(summary.get("drifted_variables", []), tables.get("drift"))
    sections.append(text("audit.card.drift_text", lang, threshold=audit["psi_flag"],
                         variables=text("audit.card.drift_separator", lang).join(
                             text("audit.card.drift_item", lang, variable=label, psi=f"{psi:.2f}") if np.isfinite(psi)
                             else label
                             for label, psi in zip(variable_labels([v for v, _ in drifted], lang), [p for _, p in drifted])))
                    if drifted else text("audit.card.drift_none", lang))
    importance = tables.get("importance")
    if importance is not None and len(importance):
        overall = importance.loc[importance["grouping"] == "all"].head(5)
        families = text("audit.card.separator", lang).join(
            f"{_family_label(f, lang)} {s:.0%}" for f, s in zip(overall["family"], overall["share"]))
        sections += ["## " + text("audit.card.factors", lang), text("audit.card.factors_text", lang, families=families)]
    levels = tables.get("levels")
    if levels is not None and len(levels):
        over = levels["listed_by_rule"] > levels["capacity_I"]
        sections += ["## " + text("audit.card.levels", lang),
                     text("audit.card.levels_text", lang, over=int(over.sum()), months=len(levels),
                          by_rule=int(levels["listed_by_rule"].median()),
                          capacity=int(levels["capacity_I"].median()) if levels["capacity_I"].notna().any() else "–")]
    stability = tables.get("stability")
    if stability is not None and len(stability):
        entered = stability["entered"].sum()

        def share(col: str) -> str:
            return f"{stability[col].sum() / entered:.0%}" if entered else "–"
        sections += ["## " + text("audit.card.stability", lang),
                     text("audit.card.stability_text", lang, jaccard=f"{stability['jaccard'].mean():.0%}",
                          by_rule=share("entered_rule"), by_score=share("entered_score"))]
    feedback = tables.get("feedback")
    if feedback is not None and len(feedback):
        listed = feedback.loc[feedback["listed"]]
        counselled = listed.loc[listed["counselled"]]

        def rate(rows: pd.DataFrame) -> str:
            return _percent(float(rows["outcome_rate"].iloc[0])) if len(rows) else "–"
        share = listed.loc[listed["counselled"], "n"].sum() / max(int(listed["n"].sum()), 1)
        sections += ["## " + text("audit.card.feedback", lang),
                     text("audit.card.feedback_text", lang, share=f"{share:.0%}", with_contact=rate(counselled),
                          without_contact=rate(listed.loc[~listed["counselled"]]))]
    sections += _loop_section(summary, lang)
    sections += ["## " + text("audit.card.limitations", lang), text("audit.card.limitations_text", lang),
                 "## " + text("audit.card.reproducibility", lang), text("audit.card.reproducibility_text", lang)]
    return "\n\n".join(sections) + "\n"
