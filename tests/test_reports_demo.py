"""`riskmodel demo`: several monthly runs, so the last list has a change column and the reports a trend."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from riskmodel.config import Settings
from riskmodel.reports import demo as demo_module


def test_demo_makes_four_monthly_runs_and_reuses_the_earlier_ones(tmp_path, monkeypatch):
    made: list[date] = []

    def fake_run(data_dir, model_dir, as_of, out, **_):
        made.append(as_of)
        folder = Path(out) / f"run-{as_of.isoformat()}-20260101T00000{len(list(Path(out).glob('run-*')))}Z"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
        return folder

    steps = demo_module.plan(tmp_path, years=4)
    steps.data_dir.mkdir(parents=True)  # data and model present: reused, not generated or trained
    steps.model_dir.mkdir(parents=True)
    monkeypatch.setattr(demo_module, "run", fake_run)
    last = demo_module.demo(tmp_path, settings=Settings())
    assert demo_module.DEMO_MONTHS == 4
    assert made == [date(2025, 9, 1), date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1)] == \
        demo_module.run_dates(steps.as_of, 4)
    assert last.name.startswith("run-2025-12-01")
    made.clear()
    demo_module.demo(tmp_path, settings=Settings())
    assert made == [date(2025, 12, 1)]  # earlier months reused; the demo's own month is always run again
    made.clear()
    demo_module.demo(tmp_path, settings=Settings(), months=1)
    assert made == [date(2025, 12, 1)]


def test_run_dates_cross_the_year():
    assert demo_module.run_dates(date(2026, 2, 1), 4) == [date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1),
                                                           date(2026, 2, 1)]
