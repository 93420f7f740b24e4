"""The report figures' date axes, keys and coverage (riskmodel.reports.plots), on report_data written directly.

A demo run's review found ticks every four days between two monthly runs (two dates printed over each
other), weekly ticks that missed the run dates, a trajectory key that read as a data point and a coverage
chart where every source seemed to stop at the as-of month, which held one day.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from riskmodel.reports import open_run  # noqa: E402
from riskmodel.reports.plots import date_ticks, plot_coverage, plot_risk_trend, plot_trajectory, setup  # noqa: E402
from riskmodel.reports.report_data import write_report_data  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_reports_fixtures import make_scored  # noqa: E402

RUN_DATES = (date(2024, 11, 1), date(2024, 12, 1), date(2025, 1, 1))


@pytest.fixture(scope="module", autouse=True)
def _cjk_font():
    setup()  # as the notebooks do: Chinese labels in a CJK font


def _write(folder: Path, as_of: date, history: pd.DataFrame | None):
    """A run on ``as_of`` whose screenings fall in each of the three months before it and on the as-of day."""
    scored = make_scored(students=40, as_of=as_of)
    days = [pd.Timestamp(as_of) - pd.DateOffset(months=k, days=-1) for k in (3, 2, 1)] + [pd.Timestamp(as_of)]
    tables = dict(scored.tables)
    tables["screenings"] = pd.DataFrame({"student_id": "S00000", "date": days, "instrument": "PHQ9", "total": 3.0})
    write_report_data(folder, warning_list=scored.everyone, tables=tables, history=history, contributions=None,
                      summary=scored.summary, rejected=scored.rejected, skipped=[],
                      run_info={"as_of": as_of.isoformat(), "small_cell": 5})
    return open_run(folder)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three monthly runs of one school, each with the earlier ones as history."""
    out, history = [], None
    for as_of in RUN_DATES:
        run = _write(tmp_path_factory.mktemp(f"run{as_of:%m}"), as_of, history)
        history = run.history
        out.append(run)
    return out


def _labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.label1.get_text() for t in ax.xaxis.get_major_ticks() if t.label1.get_visible() and t.label1.get_text()]


@pytest.mark.parametrize("runs_so_far", [2, 3])
def test_the_trend_chart_has_one_tick_per_run_date(runs, runs_so_far):
    ax = plot_risk_trend(runs[runs_so_far - 1], "school", "", "zh")
    try:
        assert _labels(ax) == [d.isoformat() for d in RUN_DATES[:runs_so_far]]
    finally:
        plt.close(ax.figure)


def test_many_run_dates_are_thinned_to_a_dozen_keeping_the_latest():
    dates = pd.date_range("2022-01-01", periods=30, freq="MS")
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    try:
        ax.plot(dates, range(30))
        date_ticks(ax, dates)
        labels = _labels(ax)
        assert 2 <= len(labels) <= 12
        assert labels[-1] == "2024-06-01" and set(labels) <= {d.date().isoformat() for d in dates}
    finally:
        plt.close(fig)


def test_dates_too_close_for_their_labels_are_not_printed_over_each_other():
    """A small panel over two years: 2024-09-15 and 2024-10-20 were printed over each other."""
    dates = pd.to_datetime(["2022-09-28", "2024-09-15", "2024-10-20"])
    fig, ax = plt.subplots(figsize=(3.0, 2.4))
    try:
        ax.plot(dates, [1, 2, 3])
        date_ticks(ax, dates)
        assert _labels(ax) == ["2022-09-28", "2024-10-20"]  # the latest kept, its crowded neighbour left out
    finally:
        plt.close(fig)


def test_the_trajectory_key_sits_under_the_plot_not_among_the_points(runs):
    run = runs[-1]
    student = run.history["pseudonym"].iloc[0]
    ax = plot_trajectory(run, student, "zh")
    fig = ax.figure
    try:
        fig.canvas.draw()
        assert ax.get_legend() is None and len(fig.legends) == 1
        key = fig.legends[0].get_window_extent()
        below = min(label.get_window_extent().y0 for label in [*ax.get_xticklabels(), ax.xaxis.label])
        assert key.y1 <= below and key.y0 >= 0  # under the dates and the axis label, inside the figure
    finally:
        plt.close(fig)


@pytest.mark.parametrize(("as_of", "last_month"), [(date(2024, 12, 1), "2024-11-01"), (date(2024, 11, 30), "2024-11-01")])
def test_the_coverage_chart_leaves_out_a_partial_as_of_month(tmp_path, as_of, last_month):
    """The as-of month holds only the days up to the as-of date: drawn, every source seemed to stop."""
    run = _write(tmp_path, as_of, None)
    assert pd.to_datetime(run.table("coverage")["month"]).max() == pd.Timestamp(as_of).to_period("M").to_timestamp()
    ax = plot_coverage(run, "en")
    try:
        ends = {pd.Timestamp(matplotlib.dates.num2date(line.get_xdata(orig=False)[-1])).tz_localize(None)
                for line in ax.get_lines() if line.get_label() and not line.get_label().startswith("_")}
        assert ends == {pd.Timestamp(last_month)}
    finally:
        plt.close(ax.figure)
