"""The student file (一生一档, riskmodel.reports.student_file and its waterfall), on report_data written directly.

A demo run's review found: a title in half-width punctuation in Chinese; a history table squeezed until
``一级`` and ``2024-11-01`` broke over two lines; three of four score panels without dates; and a
waterfall in shap's words (``f(x)``, ``E[f(X)]``, cut off at the figure's edge) that named each factor
without the student's value, so that a female student read ``性别:男 +0.04``.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from riskmodel.reports import open_run  # noqa: E402
from riskmodel.reports.explain import student_waterfall  # noqa: E402
from riskmodel.reports.plots import setup  # noqa: E402
from riskmodel.reports.report_data import write_parquet, write_report_data  # noqa: E402
from riskmodel.reports.student_file import file_title, plot_scores, runs_section  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_reports_fixtures import make_scored  # noqa: E402

FEATURES = ["reg_gender_male", "reg_divorced_family", "obs_concern_90d", "days_since_last_screening"]


@pytest.fixture(scope="module", autouse=True)
def _cjk_font():
    setup()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run of 40 students; student S00000 has four instruments, two UPI waves five weeks apart."""
    folder = tmp_path_factory.mktemp("student_file")
    scored = make_scored(students=40, as_of=date(2024, 12, 1))
    screenings = pd.DataFrame({
        "student_id": "S00000",
        "date": pd.to_datetime(["2022-09-28", "2023-03-24", "2023-10-19", "2023-10-19", "2024-09-15", "2024-10-20",
                                "2024-10-20"]),
        "instrument": ["UPI", "SCL90", "GAD7", "PHQ9", "UPI", "GAD7", "PHQ9"],
        "total": [10.0, 122.0, 18.0, 14.0, 2.0, 8.0, 8.0]})
    contributions = pd.DataFrame(0.01, index=range(40), columns=FEATURES)
    contributions.loc[0] = [0.04, -0.02, 2.5, 0.3]  # the score ends at the right edge of the plot
    write_report_data(folder, warning_list=scored.everyone, tables={**scored.tables, "screenings": screenings},
                      history=None, contributions=contributions, summary=scored.summary, rejected=scored.rejected,
                      skipped=[], run_info={"as_of": "2024-12-01", "small_cell": 5, "base_value": -4.88})
    return open_run(folder)


def _student(run) -> str:
    return "P0000000"  # make_scored's pseudonym of S00000


def test_the_title_uses_full_width_punctuation_in_chinese(run):
    student = _student(run)
    zh, en = file_title(run, student, "zh").content, file_title(run, student, "en").content
    assert "（" in zh and "）" in zh and "，" in zh and not re.search(r"[:(),]", zh.replace(student, ""))
    assert f": {student} (" in en and "), as of 2024-12-01" in en


def test_the_history_tables_short_columns_never_wrap(run):
    page = runs_section(run, _student(run), "zh")._repr_html_()
    wrapper = re.search(r'<div class="(rm-student-nowrap3)">', page)
    assert wrapper, page[:300]
    assert re.search(rf"\.{wrapper.group(1)} td:nth-child\(-n\+3\),[^{{]*th\{{white-space:nowrap\}}", page)


def test_every_score_panel_labels_its_own_dates_without_overlap(run):
    fig = plot_scores(run, _student(run), "zh")
    try:
        fig.canvas.draw()
        shown = {ax.get_title(): [t.label1.get_text() for t in ax.xaxis.get_major_ticks()
                                  if t.label1.get_visible() and t.label1.get_text()]
                 for ax in fig.axes if ax.get_visible()}
        assert shown == {"GAD-7": ["2023-10-19", "2024-10-20"], "PHQ-9": ["2023-10-19", "2024-10-20"],
                         "SCL-90": ["2023-03-24"], "UPI": ["2022-09-28", "2024-09-15"]}
    finally:
        plt.close(fig)


def _texts(ax) -> list:
    """Every text the figure draws (tick labels of the ticks inside the axis' range only)."""
    out = []
    for a in ax.figure.axes:
        low, high = sorted(a.get_xlim())
        ticks = [t.label1 for t in a.xaxis.get_major_ticks() if low <= t.get_loc() <= high]
        out += [t for t in [*a.texts, *ticks, *a.get_yticklabels(), a.xaxis.label] if t.get_visible() and t.get_text()]
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_waterfall_speaks_the_catalogues_words_inside_the_figure(run, lang):
    ax = student_waterfall(run, _student(run), lang)
    fig = ax.figure
    try:
        fig.canvas.draw()
        words = " ".join(t.get_text() for t in _texts(ax))
        assert "f(x)" not in words and "E[f(X)]" not in words
        start, score = ("模型的平均水平 -4.88", "该生的模型得分 -2.06") if lang == "zh" else \
            ("the model's average -4.88", "this student's score -2.06")
        assert start in words and score in words
        width = fig.bbox.width
        for t in _texts(ax):
            box = t.get_window_extent()
            assert box.x0 >= 0 and box.x1 <= width, t.get_text()  # nothing cut off at the figure's edge
    finally:
        plt.close(fig)


def test_the_waterfall_gives_each_factor_the_students_own_value(run):
    """A female student with no family flag: 'male' and 'divorced family' read with her value, '否'."""
    student = _student(run)
    values = pd.DataFrame({"pseudonym": [student], "reg_gender_male": [0.0], "reg_divorced_family": [0.0],
                           "obs_concern_90d": [4.0], "days_since_last_screening": [float("nan")]})
    write_parquet(values, run.run_dir / "report_data" / "feature_values.parquet")
    fresh = open_run(run.run_dir)
    try:
        labels = {t.get_text() for t in student_waterfall(fresh, student, "zh").get_yticklabels()}
        assert "性别:男（该生：否）" in labels and "学籍登记:离异家庭（该生：否）" in labels
        assert any(label.endswith("（该生：4）") for label in labels)
        assert any("（该生：未记录）" in label for label in labels)  # a value not recorded says so
        labels = {t.get_text() for t in student_waterfall(fresh, student, "en").get_yticklabels()}
        assert "gender: male (this student: no)" in labels
    finally:
        (run.run_dir / "report_data" / "feature_values.parquet").unlink()
        plt.close("all")


def test_without_stored_values_a_yes_no_factor_does_not_claim_the_student_has_it(run):
    labels = {t.get_text() for t in student_waterfall(run, _student(run), "zh").get_yticklabels()}
    plt.close("all")
    assert "性别:男（是或否）" in labels and "性别:男" not in labels
