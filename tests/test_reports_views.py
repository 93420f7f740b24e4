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
from riskmodel.warning.localise import percent

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


def test_groups_smaller_than_the_small_cell_are_pooled_not_shown(tmp_path):
    """A dorm room of three: its mean risk is nearly each one's own, so it is never shown alone
    (table or box plot); such groups are pooled into one row, its mean shown only if the pool is
    itself at least the threshold."""
    import matplotlib

    matplotlib.use("Agg")
    from riskmodel.reports.plots import plot_groups

    scored = make_scored(students=120, colleges=("计算机学院", "外国语学院"), as_of=date(2026, 3, 1))
    rng = __import__("numpy").random.default_rng(0)
    everyone = scored.everyone.copy()
    big = everyone.index < 60
    everyone.loc[big, "dorm_id"] = "BIG"  # one dorm of 60, the rest in rooms of 1-3
    everyone.loc[~big, "dorm_id"] = [f"R{k}" for k in rng.integers(0, 25, (~big).sum())]
    scored.tables["students"]["dorm_id"] = scored.tables["students"]["student_id"].map(
        everyone.set_index("student_id")["dorm_id"])
    write_report_data(tmp_path, warning_list=everyone.drop(columns="dorm_id"), tables=scored.tables, history=None,
                      contributions=scored.contributions, summary=scored.summary, rejected=scored.rejected,
                      skipped=[], run_info={"as_of": "2026-03-01", "small_cell": 5})
    small_run = open_run(tmp_path)
    key = small_run.cohorts.loc[small_run.cohorts["level"] == "school", "key"].iloc[0]
    members = small_run.warning_list
    sizes = members.groupby("dorm_id").size()
    tiny = sizes[sizes < 5].index
    assert len(tiny) >= 5, "the case has tiny rooms"
    summary = group_summary(small_run, "school", key, "en", by="dorm_id")
    assert summary.attrs["pooled"] and summary.iloc[:, 0].tolist()[0] == "BIG"
    assert len(summary) == int((sizes >= 5).sum()) + 1, "BIG and any room of 5 or more, then one pooled row"
    assert f"{len(tiny)} with fewer than 5 students" in summary.iloc[-1, 0]
    page = dorm_section(small_run, "school", key, "en", rows=0)._repr_html_()
    assert not any(re.search(rf">{name}<", page) for name in tiny), "no tiny room is named"
    pooled_students = int(sizes[tiny].sum())
    assert summary.iloc[-1, 1] == str(pooled_students)
    expected = members.loc[members["dorm_id"].isin(tiny), "score"].mean()
    assert summary.iloc[-1, -1] == percent(expected)  # mean risk in percent, as the plots
    capped = dorm_section(small_run, "school", key, "en", rows=1)._repr_html_()
    assert "fewer than 5 students" in capped, "the pooled row stays when the table is capped"
    ax = plot_groups(small_run, "school", key, "en", by="dorm_id")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "BIG" in labels and not set(labels) & set(tiny), labels


def test_latest_is_not_moved_back_by_a_backfill(tmp_path):
    from riskmodel.reports.runlog import point_latest

    for name in ("run-2024-09-01-20240902T020000Z", "run-2024-06-01-20241001T020000Z",
                 "run-2024-09-01-20241002T020000Z"):
        (tmp_path / name).mkdir()
    point_latest(tmp_path, "run-2024-09-01-20240902T020000Z")
    point_latest(tmp_path, "run-2024-06-01-20241001T020000Z")  # June, made later: a backfill
    assert (tmp_path / "latest").resolve().name == "run-2024-09-01-20240902T020000Z"
    point_latest(tmp_path, "run-2024-09-01-20241002T020000Z")  # September again, made later: it moves
    assert (tmp_path / "latest").resolve().name == "run-2024-09-01-20241002T020000Z"
