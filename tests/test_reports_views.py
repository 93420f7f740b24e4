"""The report's long sections: the page shows the first rows, says so, and links the whole list (issue 7).

Built on ``report_data`` written directly (no notebook), with a hostile school name: fast.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest

from riskmodel.i18n import text
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


@pytest.fixture(scope="module")
def looped(tmp_path_factory):
    """A run with the review loop: one student awaiting interview after a hard rule, one held at level I
    by a review (the demo's S-E2NAG3FK3S: level I, no rule, a low risk), one a score lifted above its
    reviewed level III, one reviewed by a role the catalogue lacks, and the rest by score."""
    from riskmodel.reports.report_data import write_parquet
    from riskmodel.warning.cases import REPORT_CASE_COLUMNS

    folder = tmp_path_factory.mktemp("looped")
    scored = make_scored(students=120, colleges=("计算机学院",), as_of=date(2026, 3, 1))
    everyone = scored.everyone.copy()
    everyone["rules"] = ""
    listed = everyone[everyone["level"] != "none"].sort_values("rank")
    p = listed["pseudonym"].tolist()
    everyone.loc[everyone["pseudonym"] == p[0], "rules"] = "PHQ-9 第9题阳性"
    for pseudonym, level in zip(p[:4], ["I", "I", "II", "I"], strict=True):
        everyone.loc[everyone["pseudonym"] == pseudonym, "level"] = level
    write_report_data(folder, warning_list=everyone, tables=scored.tables, history=None,
                      contributions=scored.contributions, summary=scored.summary, rejected=scored.rejected,
                      skipped=[], run_info={"as_of": "2026-03-01", "small_cell": 5})
    case = everyone.set_index("pseudonym").loc[p[:4]].reset_index()
    case["state"] = ["awaiting_interview", "under_review", "under_review", "under_review"]
    case["reviewed_level"] = ["none", "I", "III", "I"]
    case["review_date"] = pd.to_datetime([None, "2026-02-20", "2026-01-05", None])
    case["reviewer_role"] = ["", "meeting", "counsellor", "unknown"]
    case["review_status"] = ["", "hospital", "monitoring", ""]
    case["trigger_rules"] = ["phq9_item9", "", "", ""]
    case["trigger_date"] = pd.to_datetime(["2026-02-26", None, None, None])
    case["days_waiting"] = [3, 0, 0, 0]
    case["interview_overdue"] = [False] * 4
    case["score"] = [0.0213, 0.015, 0.05, 0.02]
    case["next_review"] = pd.NaT
    case["review_overdue"] = False
    case["model_level"] = ["I", "none", "II", "none"]
    write_parquet(case.reindex(columns=REPORT_CASE_COLUMNS), folder / "report_data" / "cases.parquet")
    run = open_run(folder)
    return run, p


def test_interview_queue_shows_risk_in_percent_as_the_list(looped):
    from riskmodel.reports.views import interview_queue

    run, p = looped
    for lang in ("zh", "en"):
        queue = interview_queue(run, "school", "", lang)
        assert queue[text("reports.col.score", lang)].tolist() == ["2.1%"], "0.021 was shown before"


def test_the_cohort_list_says_how_each_student_was_listed_in_words(looped):
    run, p = looped
    for lang in ("zh", "en"):
        table = cohort_list(run, "school", "", lang).set_index(text("reports.col.pseudonym", lang))
        how = table[text("reports.col.path", lang)]
        assert how[p[0]] == text("warning.value.path.rule", lang)
        assert how[p[2]] == how[p[5]] == text("warning.value.path.score", lang), "a score above the reviewed level"
        words = how.to_dict()
        page = list_section(run, "school", "", lang, rows=0)._repr_html_()
        assert "review:" not in page and "hospital" not in page.replace(words[p[1]], "") and "unknown" not in page
    zh = cohort_list(run, "school", "", "zh").set_index("化名")["列入途径"]
    assert zh[p[1]] == "研判：住院\n（研判会，2026-02-20）" and zh[p[3]] == "研判"
    en = cohort_list(run, "school", "", "en").set_index("Pseudonym")["How listed"]
    assert en[p[1]] == "Review: Hospital\n(review meeting, 2026-02-20)"
    page = list_section(run, "school", "", "en", rows=0)._repr_html_()
    column = 1 + list(cohort_list(run, "school", "", "en").columns).index("How listed")
    assert f"td:nth-child({column}){{white-space:nowrap}}" in page, "broken only at the line break, never in the date"
    assert "Review: Hospital<br>(review meeting, 2026-02-20)" in page and "\\n" not in page


def test_list_table_lines_empty_list_and_no_markup_from_the_data():
    """A cohort with nobody listed still renders (the column of how listed is then empty, not text); a
    cell holding the private character that carries line breaks through pandas never becomes markup."""
    from riskmodel.reports.views import ListTable

    empty = pd.DataFrame({"Rank": pd.Series([], dtype=int), "How listed": []})
    assert "<tbody>" in ListTable(empty, lines=("How listed",))._repr_html_()
    hostile = pd.DataFrame({"Class": ["a\ue000b<br>"], "How listed": ["Review\n(centre, 2026-01-01)"]})
    page = ListTable(hostile, lines=("How listed",))._repr_html_()
    assert "Review<br>(centre, 2026-01-01)" in page and "ab&lt;br&gt;" in page and page.count("<br>") == 1
