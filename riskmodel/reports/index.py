"""The run's index page: one HTML page linking every report and warning list of the run.

Every name from the data is escaped (:func:`~riskmodel.reports.names.html_text`) and every link is a
relative path built from safe components, so the run folder can be copied or served as a whole.

Example
-------
>>> # write_index(run_dir, cohorts=cohorts, outcomes=outcomes, lists=lists, info=info, lang="zh")
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pandas as pd

from riskmodel.i18n import text
from riskmodel.outputs import write_text
from riskmodel.reports.names import html_text

__all__ = ["write_index"]

_STYLE = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;
margin:2rem auto;max-width:60rem;color:#222;line-height:1.5}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #eee;text-align:left}
.failed{color:#b2182b;font-weight:bold}.note{color:#555;font-size:.9rem}.confidential{background:#fff3cd;padding:.5rem}
"""


def _href(run_dir: Path, path: str | Path) -> str:
    return quote(Path(path).relative_to(run_dir).as_posix())


def _cohort_label(row: pd.Series, lang: str) -> str:
    level = text(f"reports.level.{row['level']}", lang)
    name = row["name"] if row["level"] == "school" else f"{row['school']} · {row['name']}"
    return f"{level}: {name}"


def write_index(run_dir: Path, *, cohorts: pd.DataFrame, outcomes: dict[str, dict], lists: dict[str, list[Path]],
                info: dict, lang: str) -> Path:
    """Write ``index.html`` into ``run_dir``.

    Parameters
    ----------
    run_dir
        The run folder (being built); links are relative to it.
    cohorts
        The cohort table (``key, level, school, name, students``).
    outcomes
        Report key -> notebook outcome (``status``, ``html``, ``notebook``); key ``data_quality`` too.
    lists
        Cohort key -> the warning-list files written for it.
    info
        ``run_id, as_of, model_version``; ``rejected_rows`` (count) when the run folder holds
        ``rejected_rows.csv``; ``dropped`` (pseudonym, previous_level) of previously listed students
        not scored this time, shown first (riskmodel.reports.register_guard).
    """
    t = lambda key, **v: html_text(text(key, lang, **v))  # noqa: E731 - local shorthand
    rows = []
    for _, cohort in cohorts.iterrows():
        outcome = outcomes.get(cohort["key"], {})
        label = html_text(_cohort_label(cohort, lang))
        if outcome.get("status") == "ok":
            report = f'<a href="{_href(run_dir, outcome["html"])}">{label}</a>'
        elif outcome:
            report = (f'{label} <span class="failed">({t("reports.index.failed")})</span> '
                      f'<a href="{_href(run_dir, outcome["notebook"])}">ipynb</a>')
        else:
            report = label
        files = " ".join(f'<a href="{_href(run_dir, p)}">{html_text(Path(p).suffix.lstrip("."))}</a>'
                         for p in lists.get(cohort["key"], []))
        rows.append(f"<tr><td>{report}</td><td>{int(cohort['students'])}</td><td>{files}</td></tr>")
    other = ['<li><a href="manifest.json">' + t("reports.index.manifest") + "</a></li>",
             '<li><a href="run.log">' + t("reports.index.log") + "</a></li>"]
    if info.get("rejected_rows"):
        other.insert(0, '<li><a href="rejected_rows.csv">' + t("reports.index.rejected", n=int(info["rejected_rows"]))
                     + "</a></li>")
    quality = outcomes.get("data_quality")
    if quality and quality.get("status") == "ok":
        other.insert(0, f'<li><a href="{_href(run_dir, quality["html"])}">{t("reports.index.data_quality")}</a></li>')
    failed_note = (f'<p class="note">{t("reports.index.failed_note")}</p>'
                   if any(o.get("status") == "failed" for o in outcomes.values()) else "")
    dropped = info.get("dropped") or []
    if dropped:  # by pseudonym: a missing level-I student is a safety issue, never shown as cleared
        items = "".join(f"<li>{html_text(d['pseudonym'])} ({t('reports.index.dropped_level', level=d['previous_level'])})"
                        "</li>" for d in dropped)
        failed_note = (f'<h2 class="failed">{t("reports.index.dropped", n=len(dropped))}</h2>'
                       f'<p class="note">{t("reports.index.dropped_note")}</p><ul>{items}</ul>') + failed_note
    page = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="robots" content="noindex"><title>{t("reports.index.title")} {html_text(info["as_of"])}</title>
<style>{_STYLE}</style></head><body>
<h1>{t("reports.index.title")}: {t("reports.cohort.as_of")} {html_text(info["as_of"])}</h1>
<p class="confidential">{t("reports.index.confidential")}</p>
<p class="note">{t("reports.index.run")}: {html_text(info["run_id"])} · {t("reports.index.model")}: \
{html_text(info.get("model_version", ""))}</p>
<p class="note">{t("disclaimer")}</p>
<h2>{t("reports.index.reports")}</h2>
<table><thead><tr><th>{t("reports.index.reports")}</th><th>{t("reports.col.students")}</th>\
<th>{t("reports.index.lists")}</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
{failed_note}
<h2>{t("reports.index.other")}</h2><ul>{"".join(other)}</ul>
</body></html>
"""
    return write_text(run_dir / "index.html", page)
