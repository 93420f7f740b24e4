"""The report's long sections: the page shows the first rows, says so, and links the whole list (issue 7).

Built on ``report_data`` written directly (no notebook), with a hostile school name: fast.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pytest

from riskmodel.reports import list_section, open_run
from riskmodel.reports.report_data import write_report_data
from riskmodel.reports.views import cohort_list, dorm_section, group_section, group_summary

sys.path.insert(0, str(Path(__file__).parent))
from test_reports_fixtures import make_scored  # noqa: E402

HOSTILE = '<b>"x"</b>&../'


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("views")
    scored = make_scored(students=120, colleges=("计算机学院", "外国语学院"), school=HOSTILE, as_of=date(2026, 3, 1))
    write_report_data(folder, warning_list=scored.everyone, tables=scored.tables, history=None,
                      contributions=scored.contributions, summary=scored.summary, rejected=scored.rejected,
                      skipped=list(scored.skipped), run_info={"as_of": "2026-03-01", "small_cell": 5})
    return open_run(folder)


def test_list_section_shows_first_ranks_and_links_the_files(run):
    key = run.cohorts.loc[run.cohorts["level"] == "school", "key"].iloc[0]
    full = cohort_list(run, "school", key, "en")
    assert len(full) == 15
    page = list_section(run, "school", key, "en", rows=4)._repr_html_()
    assert page.count("<tr") == 1 + 4, "header and the first four ranks"
    listed = run.warning_list[run.warning_list["level"] != "none"].sort_values("rank")["pseudonym"]
    assert all(p in page for p in listed.head(4)) and not any(p in page for p in listed.iloc[4:])
    assert "4 highest-ranked of 15" in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert [unquote(h) for h in hrefs] == [f"../lists/{key}/warning_list.xlsx", f"../lists/{key}/warning_list.csv"]
    assert HOSTILE not in page and "<b>" not in page


def test_list_section_whole_list_when_short_or_rows_zero(run):
    key = run.cohorts.loc[run.cohorts["level"] == "school", "key"].iloc[0]
    for rows in (0, 15, 200):
        page = list_section(run, "school", key, "zh", rows=rows)._repr_html_()
        assert page.count("<tr") == 1 + 15 and "href" not in page


def test_group_section_caps_rows_by_mean_risk_with_a_note(run):
    key = run.cohorts.loc[run.cohorts["level"] == "school", "key"].iloc[0]
    summary = group_summary(run, "school", key, "en", by="class_id")
    assert len(summary) == 6
    page = group_section(run, "school", key, "en", by="class_id", rows=2)._repr_html_()
    assert page.count("<tr") == 1 + 2 and "of 6 in all" in page
    first_two = summary.iloc[:2, 0].tolist()  # sorted by mean risk, highest first
    assert all(name in page for name in first_two)
    assert not any(name in page for name in summary.iloc[2:, 0])
    assert dorm_section(run, "school", key, "en", rows=0)._repr_html_().count("<tr") == 1 + 4
