"""Small cells of the class and dorm tables cannot be undone by subtraction (complementary suppression).

The checker here is independent of riskmodel's rule: it reads a table as the page prints it and asks a
linear programme, for every hidden cell, its least and greatest value given everything on the page:
each level's total for the cohort (section 1), the table's visible cells, each row's students, and
what the marks say (``<n``: 1 to n-1 where the column still prints zeros, else 0 to n-1; the hidden
mark: any number). Rows meet columns once, so the programme's bounds are whole numbers (a totally
unimodular system): a cell whose least and greatest agree is recovered exactly.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from riskmodel.reports import open_run
from riskmodel.reports.report_data import write_report_data
from riskmodel.reports.views import group_summary, level_counts, protect_levels

sys.path.insert(0, str(Path(__file__).parent))
from test_reports_fixtures import make_scored  # noqa: E402

N = 5
LV = ["I", "II", "III"]


def recoverable(shown: pd.DataFrame, totals: dict[str, int], students: list[int], *, hidden: str = "x",
                n: int = N) -> list[tuple[int, str, int]]:
    """Every hidden cell (row, column, value) that the page pins to a count of 1 to n-1: the reader's
    subtraction. (A hidden 0 or a count of n or more read off the page was never hidden by the rule.)"""
    cells, low, high = [], [], []
    for j in LV:
        column = shown[j].astype(str).tolist()
        zeros_printed = "0" in column
        for r, value in enumerate(column):
            if value in (f"<{n}", hidden):
                cells.append((r, j))
                low.append(1 if value != hidden and zeros_printed else 0)
                high.append(n - 1 if value != hidden else students[r])
    if not cells:
        return []
    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    for j in LV:
        visible = sum(int(v) for v in shown[j].astype(str) if v.isdigit())
        a_eq.append([1.0 if c == j else 0.0 for _, c in cells])
        b_eq.append(totals[j] - visible)
    for r in range(len(shown)):
        visible = sum(int(shown[j].iloc[r]) for j in LV if str(shown[j].iloc[r]).isdigit())
        a_ub.append([1.0 if row == r else 0.0 for row, _ in cells])
        b_ub.append(students[r] - visible)
    out = []
    for k, (r, j) in enumerate(cells):
        goal = np.eye(len(cells))[k]
        ends = []
        for sign in (1.0, -1.0):
            res = linprog(sign * goal, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=list(zip(low, high)),
                          method="highs")
            assert res.status == 0, "the true table always fits the page"
            ends.append(sign * res.fun)
        if round(ends[1]) - round(ends[0]) < 1 and 0 < round(ends[0]) < n:  # a 0 or a large count was never secret
            out.append((r, j, round(ends[0])))
    return out


def old_rule(counts: pd.DataFrame) -> pd.DataFrame:
    """What the page printed before: ``<n`` for 1..n-1 and nothing more (the reviewer's finding)."""
    return counts.astype(str).mask((counts > 0) & (counts < N), f"<{N}")


def test_the_checker_finds_the_reviewers_subtraction():
    # section 1: level I 3; two rooms of six and the pooled small rooms hold one each, every other room none
    counts = pd.DataFrame({"I": [0, 1, 0, 1, 0, 1], "II": [2, 1, 1, 0, 0, 3], "III": [1, 0, 0, 1, 2, 1]})
    students = [6, 6, 6, 6, 5, 20]
    found = recoverable(old_rule(counts), counts.sum().to_dict(), students)
    assert {(1, "I", 1), (3, "I", 1), (5, "I", 1)} <= set(found)
    assert recoverable(protect_levels(counts, pd.Series(students), N, hidden="x"), counts.sum().to_dict(),
                       students) == []


@pytest.mark.parametrize("seed", range(40))
def test_no_hidden_cell_is_recovered_from_the_page_totals(seed):
    """Random small tables of every shape the reports meet: rooms of 5-8 with few listed, classes of 20-40
    with many, a lone small cell among large ones, a table of two rows, full rooms."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(2, 9))
    students = rng.integers(5, 9, rows) if seed % 2 else rng.integers(5, 41, rows)
    share = rng.choice([0.05, 0.2, 0.6, 1.0])
    listed = rng.binomial(students, share)
    counts = pd.DataFrame([rng.multinomial(k, [0.2, 0.3, 0.5]) for k in listed], columns=LV)
    shown = protect_levels(counts, pd.Series(students), N, hidden="x")
    small = ((counts > 0) & (counts < N)).to_numpy()
    assert not (shown.to_numpy()[small] == counts.astype(str).to_numpy()[small]).any(), "every small cell hidden"
    totals = counts.sum().to_dict()
    assert recoverable(shown, totals, students.tolist()) == [], (counts, shown)


def test_rows_bound_the_cells_too():
    """A room of six with five at level III printed: its level-I cell is at most one. With the column's
    other hidden cell in a full room, the row bounds alone would give the cells away."""
    counts = pd.DataFrame({"I": [1, 1, 0, 0], "II": [0, 4, 0, 0], "III": [5, 0, 5, 6]})
    students = [6, 5, 6, 6]  # the second room: all five listed
    shown = protect_levels(counts, pd.Series(students), N, hidden="x")
    assert recoverable(shown, counts.sum().to_dict(), students) == [], shown
    assert shown.attrs == {"widened": ["I", "II"], "hidden": []}
    assert recoverable(old_rule(counts), counts.sum().to_dict(), students)


def test_a_table_of_one_row_is_the_cohort_and_keeps_its_counts():
    counts = pd.DataFrame({"I": [2], "II": [7], "III": [0]})
    shown = protect_levels(counts, pd.Series([40]), N, hidden="x")
    assert shown.iloc[0].tolist() == ["<5", "7", "0"] and shown.attrs == {"widened": [], "hidden": []}


def _run(tmp_path, dorms: dict[str, list[str]], levels: dict[str, str]):
    """A run of one college whose students live in the given dorms (pseudonym -> level for the listed)."""
    total = sum(len(v) for v in dorms.values())
    scored = make_scored(students=total, colleges=("体育学院",), as_of=date(2024, 12, 1))
    everyone = scored.everyone.copy()
    rooms = [room for room, members in dorms.items() for _ in members]
    everyone["dorm_id"] = rooms
    everyone["level"] = [levels.get(p, "none") for room, members in dorms.items() for p in members]
    scored.tables["students"]["dorm_id"] = rooms
    write_report_data(tmp_path, warning_list=everyone.drop(columns="dorm_id"), tables=scored.tables, history=None,
                      contributions=scored.contributions, summary=scored.summary, rejected=scored.rejected,
                      skipped=[], run_info={"as_of": "2024-12-01", "small_cell": N})
    run = open_run(tmp_path)
    return run, run.cohorts.loc[run.cohorts["level"] == "college", "key"].iloc[0]


def test_reviewers_page_shape_no_room_is_pinned(tmp_path):
    """体育学院 of the demo: 一级 3 in section 1; 松园36栋101 and 梅园36栋102 (six students each) and the
    pooled small rooms hold one level-I student each, ten other rooms none. The page printed '<5' for
    the three and 0 elsewhere, so each was exactly 1."""
    dorms = {f"R{k}": [f"R{k}-{i}" for i in range(6)] for k in range(10)}
    dorms.update({"松园36栋101": [f"A{i}" for i in range(6)], "梅园36栋102": [f"B{i}" for i in range(6)],
                  "S1": ["s1", "s2"], "S2": ["s3", "s4", "s5"]})
    levels = {"A0": "I", "B0": "I", "s1": "I", "R0-0": "II", "R0-1": "II", "R1-0": "II", "A1": "II",
              "R2-0": "III", "R3-0": "III", "R3-1": "III", "B1": "III", "s4": "III"}
    run, key = _run(tmp_path, dorms, levels)
    page_totals = level_counts(run, "college", key, "en").set_index("Level")["Students"]
    totals = {lv: int(page_totals[f"Level {lv}"]) for lv in LV}
    assert totals["I"] == 3
    summary = group_summary(run, "college", key, "en", by="dorm_id")
    shown = summary.rename(columns={f"Level {lv}": lv for lv in LV})
    sizes = run.warning_list.groupby("dorm_id").size()
    names = shown["Dormitory"].tolist()
    students = [int(sizes[name]) if name in sizes.index else int(sizes[sizes < N].sum()) for name in names]
    assert recoverable(shown, totals, students) == []
    row = {name: i for i, name in enumerate(names)}
    assert shown.loc[row["松园36栋101"], "I"] == "<5" and shown.loc[row["R5"], "I"] == "<5", \
        "the column's zeros read <5 too: a room with one is not told from a room with none"
    assert summary.attrs["widened"] == ["I"]


def test_the_note_under_the_table_says_why_zeros_read_small(tmp_path):
    from riskmodel.reports.views import dorm_section

    dorms = {f"R{k}": [f"R{k}-{i}" for i in range(6)] for k in range(6)}
    run, key = _run(tmp_path, dorms, {"R0-0": "I", "R1-0": "II", "R2-0": "II"})
    zh = dorm_section(run, "college", key, "zh")._repr_html_()
    en = dorm_section(run, "college", key, "en")._repr_html_()
    assert "一级、二级列中为0的格子也显示为“&lt;5”" in zh and "0至4人" in zh
    assert "the zeros of Level I and Level II therefore also show as &quot;&lt;5&quot;" in en
    assert "<p>" not in dorm_section(run, "college", key, "en", rows=0)._repr_html_().split("</table>")[0], \
        "the note follows the table"


def test_a_hidden_column_is_said_so_in_both_languages(tmp_path):
    """Rooms whose every student is listed: row totals pin the cells even with zeros read <5, so the
    level's column is hidden with the mark, and the note says why."""
    from riskmodel.reports.views import dorm_section

    dorms = {f"R{k}": [f"R{k}-{i}" for i in range(5)] for k in range(3)}
    levels = {**{f"R0-{i}": "III" for i in range(4)}, "R0-4": "I", **{f"R1-{i}": "III" for i in range(5)},
              **{f"R2-{i}": "II" for i in range(5)}}
    run, key = _run(tmp_path, dorms, levels)
    summary = group_summary(run, "college", key, "en", by="dorm_id")
    assert summary.attrs["hidden"], summary
    shown = summary.rename(columns={f"Level {lv}": lv for lv in LV})
    totals = {lv: sum(v == lv for v in levels.values()) for lv in LV}
    assert recoverable(shown, totals, [5, 5, 5]) == []
    zh = dorm_section(run, "college", key, "zh")._repr_html_()
    en = dorm_section(run, "college", key, "en")._repr_html_()
    assert "全部以“×”隐去" in zh and "are all hidden in this table (&quot;x&quot;)" in en
