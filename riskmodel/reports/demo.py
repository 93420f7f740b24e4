"""``riskmodel demo``: the bundled synthetic university, a model, and a monthly run, in one command.

1. ``<out>/data/synthetic``: the synthetic cohort (:func:`riskmodel.synth.generate`, a university of
   ``students`` students over ``years`` years from 2022-09-01); reused when already there.
2. ``<out>/models/demo``: a model trained up to one year before the end of the data, so that the
   last year is a later test period the model never saw; reused when already there.
3. ``<out>/reports``: monthly runs ending three months after the training cut-off (:func:`runner.run`):
   ``DEMO_MONTHS`` by default (the three months before, then the demo's as-of date), so that the last
   run's list and reports show what changed since the previous run and a trend over four months, and
   the simulated review loop (riskmodel.synth.reviews) has moved students between runs. A month whose
   run is already in the reports folder is reused (the last month is always run again).

Example
-------
>>> # result = demo(Path("."), students=2000, settings=load_settings(None))
>>> # result.run_dir / "index.html"
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from riskmodel.config import Settings
from riskmodel.reports.runner import RunResult, run

__all__ = ["DEMO_MONTHS", "DemoPlan", "plan", "demo", "run_dates"]

log = logging.getLogger(__name__)
DEMO_MONTHS = 4  # monthly runs of `riskmodel demo` / `make demo`: change columns and a trend need several


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo writes, and which dates it uses."""

    data_dir: Path
    model_dir: Path
    reports_dir: Path
    until: date  # training uses nothing after this
    as_of: date  # the monthly run


def plan(out: Path, *, years: int) -> DemoPlan:
    """The demo's folders under ``out`` and its dates for a window of ``years`` from 2022-09-01."""
    from riskmodel.synth import DEFAULT_START

    end_year = DEFAULT_START.year + years
    until = date(end_year - 1, DEFAULT_START.month, 1)  # the last year is left for testing
    as_of = date(until.year + (until.month + 2) // 12, (until.month + 2) % 12 + 1, 1)  # three months later
    return DemoPlan(data_dir=out / "data" / "synthetic", model_dir=out / "models" / "demo",
                    reports_dir=out / "reports", until=until, as_of=as_of)


def run_dates(as_of: date, months: int) -> list[date]:
    """The first day of the ``months`` months ending with ``as_of``, oldest first.

    Example
    -------
    >>> [d.isoformat() for d in run_dates(date(2026, 2, 1), 3)]
    ['2025-12-01', '2026-01-01', '2026-02-01']
    """
    dates = []
    for back in range(max(months, 1) - 1, -1, -1):
        month = as_of.month - back - 1
        dates.append(date(as_of.year + month // 12, month % 12 + 1, as_of.day))
    return dates


def _done(reports_dir: Path, as_of: date) -> bool:
    """Whether a completed run of ``as_of`` is in ``reports_dir`` already (its manifest written)."""
    return any(reports_dir.glob(f"run-{as_of.isoformat()}-*/manifest.json"))


def demo(out: Path, *, students: int = 20000, years: int = 4, settings: Settings, jobs: int | None = None,
         lang: str | None = None, progress: bool = False, seed: int = 0, months: int = DEMO_MONTHS) -> RunResult:
    """Generate (or reuse) the synthetic cohort, train (or reuse) a model, make a monthly run.

    With ``months`` > 1 the runs of the months before are made first, so that the last run's reports
    show the change since the previous run and a trend.

    Returns
    -------
    RunResult
        The last run; ``result.run_dir / "index.html"`` is the page to open.
    """
    from riskmodel.models.commands import train_command
    from riskmodel.synth import generate, write

    steps = plan(Path(out), years=years)
    if not steps.data_dir.exists():
        log.info("generating the synthetic cohort: %d students, %d years", students, years)
        write(generate(students=students, years=years, stage="university", seed=seed), steps.data_dir)
    else:
        log.info("reusing the synthetic cohort in %s", steps.data_dir)
    if not steps.model_dir.exists():
        log.info("training the demo model up to %s", steps.until)
        train_command(steps.data_dir, steps.until, steps.model_dir, settings=settings)
    else:
        log.info("reusing the demo model in %s", steps.model_dir)
    dates = run_dates(steps.as_of, months)
    result = None
    for as_of in dates:
        if as_of != dates[-1] and _done(steps.reports_dir, as_of):
            log.info("reusing the run of %s in %s", as_of, steps.reports_dir)
            continue
        log.info("monthly run of %s", as_of)
        result = run(steps.data_dir, steps.model_dir, as_of, steps.reports_dir, settings=settings, lang=lang,
                     jobs=jobs, progress=progress)
    return result
