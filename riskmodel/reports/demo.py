"""``riskmodel demo``: the bundled synthetic university, a model, and a monthly run, in one command.

1. ``<out>/data/synthetic``: the synthetic cohort (:func:`riskmodel.synth.generate`, a university of
   ``students`` students over ``years`` years from 2022-09-01); reused when already there.
2. ``<out>/models/demo``: a model trained up to one year before the end of the data, so that the
   last year is a later test period the model never saw; reused when already there.
3. ``<out>/reports``: a monthly run three months after the training cut-off (:func:`runner.run`).

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

__all__ = ["DemoPlan", "plan", "demo"]

log = logging.getLogger(__name__)


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


def demo(out: Path, *, students: int = 20000, years: int = 4, settings: Settings, jobs: int | None = None,
         lang: str | None = None, progress: bool = False, seed: int = 0, months: int = 1) -> RunResult:
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
    result = None
    for back in range(max(months, 1) - 1, -1, -1):
        month = steps.as_of.month - back - 1
        as_of = date(steps.as_of.year + month // 12, month % 12 + 1, 1)
        result = run(steps.data_dir, steps.model_dir, as_of, steps.reports_dir, settings=settings, lang=lang,
                     jobs=jobs, progress=progress)
    return result
