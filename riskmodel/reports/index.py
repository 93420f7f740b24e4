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
from riskmodel.vocab import LEVELS

__all__ = ["write_index"]

_STYLE = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei","Microsoft YaHei","PingFang SC",sans-serif;
margin:2rem auto;max-width:60rem;color:#222;line-height:1.5}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #eee;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{white-space:nowrap}
.failed{color:#b2182b;font-weight:bold}.note{color:#555;font-size:.9rem}.confidential{background:#fff3cd;padding:.5rem}
"""


def _href(run_dir: Path, path: str | Path) -> str:
    return quote(Path(path).relative_to(run_dir).as_posix())


def collation_key(name: str) -> bytes:
    """Sort key for names as Chinese readers expect: by pinyin, whatever the machine's locale.

    GB 18030 (a superset of GB 2312) orders the 3,755 common (level-1) hanzi by their pinyin, so the
    encoded bytes sort 北京, 化学, 计算机, 外国语, 物理 as a Chinese index does; Latin letters and digits
    come first, as in ASCII. Rarer (level-2) hanzi sort by radical after the common ones. A locale
    (``locale.strxfrm`` with zh_CN.UTF-8) is not installed on every server (not on the cron host's
    minimal image), and pypinyin or ICU would be a dependency for the order of a few dozen names.
    """
    return str(name).encode("gb18030", errors="replace")


def _order(cohorts: pd.DataFrame) -> pd.DataFrame:
    """Each school, then its colleges or grades, each by :func:`collation_key`."""
    if cohorts.empty:
        return cohorts
    keys = cohorts.assign(_school=cohorts["school"].map(collation_key), _own=cohorts["level"] != "school",
                          _name=cohorts["name"].map(collation_key))
    return cohorts.loc[keys.sort_values(["_school", "_own", "_name"], kind="mergesort").index]


def _level_counts(run_dir: Path, cohorts: pd.DataFrame) -> dict[str, pd.Series]:
    """Listed students per level (I, II, III) of each cohort, from the run's report data."""
    from riskmodel.reports.report_data import open_run

    try:
        run = open_run(run_dir)
    except (FileNotFoundError, OSError):
        return {}
    out = {}
    for cohort in cohorts.itertuples(index=False):
        members = run.members(run.warning_list, cohort.level, cohort.key)
        out[cohort.key] = members["level"].value_counts().reindex(list(LEVELS), fill_value=0)
    return out


def _cohort_label(row: pd.Series, lang: str) -> str:
    level = text(f"reports.level.{row['level']}", lang)
    name = row["name"] if row["level"] == "school" else f"{row['school']} · {row['name']}"
    return f"{level}{text('colon', lang)}{name}"


def write_index(run_dir: Path, *, cohorts: pd.DataFrame, outcomes: dict[str, dict], lists: dict[str, list[Path]],
                info: dict, lang: str, level_counts: dict[str, pd.Series] | None = None) -> Path:
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
    level_counts
        Cohort key -> students per level; by default counted from the run's ``report_data`` (a
        distributed run, whose report data is per school, passes the counts its school tasks made).
    """
    t = lambda key, **v: html_text(text(key, lang, **v))  # noqa: E731 - local shorthand
    rows = []
    counts = level_counts if level_counts is not None else _level_counts(run_dir, cohorts)
    for _, cohort in _order(cohorts).iterrows():
        outcome = outcomes.get(cohort["key"], {})
        label = html_text(_cohort_label(cohort, lang))
        if outcome.get("status") == "ok":
            report = f'<a href="{_href(run_dir, outcome["html"])}">{label}</a>'
        elif outcome:  # a failed report keeps its notebook; a failed school task (distributed run) has none
            report = (f'{label} <span class="failed">({t("reports.index.failed")})</span>'
                      + (f' <a href="{_href(run_dir, outcome["notebook"])}">ipynb</a>' if outcome.get("notebook")
                         else ""))
        else:
            report = label
        files = " ".join(f'<a href="{_href(run_dir, p)}">{t("reports.index.file." + Path(p).suffix.lstrip("."))}</a>'
                         for p in lists.get(cohort["key"], []) if Path(p).suffix in (".xlsx", ".csv", ".parquet"))
        levels = counts.get(cohort["key"])
        level_cells = "".join(f'<td class="n lv{lv}">{int(levels[lv]) if levels is not None else ""}</td>'
                              for lv in LEVELS)
        rows.append(f"<tr><td>{report}</td><td class=\"n\">{int(cohort['students'])}</td>{level_cells}"
                    f"<td>{files}</td></tr>")
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
<meta name="robots" content="noindex"><title>{t("reports.index.title", as_of=info["as_of"])}</title>
<style>{_STYLE}</style></head><body>
<h1>{t("reports.index.title", as_of=info["as_of"])}</h1>
<p class="confidential">{t("reports.index.confidential")}</p>
<p class="note">{t("reports.index.run")}{t("colon")}{html_text(info["run_id"])} · {t("reports.index.model")}{t("colon")}\
{html_text(info.get("model_version", ""))}</p>
<p class="note">{t("disclaimer")}</p>
<h2>{t("reports.index.reports")}</h2>
<table><thead><tr><th>{t("reports.index.reports")}</th><th>{t("reports.col.students")}</th>\
<th>{t("level.I")}</th><th>{t("level.II")}</th><th>{t("level.III")}</th>\
<th>{t("reports.index.lists")}</th></tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
{failed_note}
<h2>{t("reports.index.other")}</h2><ul>{"".join(other)}</ul>
</body></html>
"""
    return write_text(run_dir / "index.html", page)
