"""Does this data, on this date, fit this model? Checks made before a list is scored.

A model learns from the sources it was trained with; scored on data that lacks one of them, every
feature from it reads "nothing recorded" and lowers every student's risk without a word. The same
holds for a stage of students it never saw, for an as-of date before any screening, and for an
as-of date long after the newest record (the list would miss everything since). Each is refused
(a few students of an unseen stage, such as a first cohort of graduate students, only warned about)
with :class:`~riskmodel.errors.ModelMismatchError` or :class:`~riskmodel.errors.ContractError`
(exit 2) naming what is missing and what to do, in the language of the centre's lists (``lang``, by
default ``reports.lang``). ``riskmodel score`` and ``riskmodel run`` call :func:`check_scoring_data`
before anything is written.

Example
-------
>>> # check_scoring_data(dataset, load_model("models/2026-03"), "2026-03-01", settings=settings)
"""

from __future__ import annotations

import logging

import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError, ModelMismatchError
from riskmodel.i18n import catalogue, text
from riskmodel.models.sources import FEATURE_SOURCES, training_sources
from riskmodel.models.sources import has_rows as _present

__all__ = ["FEATURE_SOURCES", "UNSEEN_STAGE_SHARE", "check_scoring_data", "training_sources"]

log = logging.getLogger(__name__)

# above this share of enrolled students of stages the model never saw, scoring is refused; below, warned
UNSEEN_STAGE_SHARE = 0.10



def _table(name: str, lang: str) -> str:
    return text("warning.check.table", lang, name=_word(f"reports.table.{name}", name, lang), file=name)


def _word(key: str, code: str, lang: str) -> str:
    """The catalogue's word for ``key``; the code itself for one the catalogue lacks (a stage a model names)."""
    return text(key, lang) if key in catalogue() else code


def _stages(stages, lang: str) -> str:
    return text("warning.check.separator", lang).join(_word(f"warning.value.stage.{s}", s, lang) for s in stages)


def check_scoring_data(dataset, model, as_of, *, settings: Settings, lang: str | None = None) -> None:
    """Raise unless ``dataset`` on ``as_of`` can be scored by ``model`` (see the module docstring).

    The refusals are in ``lang`` (default ``settings.reports.lang``), the language of the centre's lists.

    Raises
    ------
    ModelMismatchError
        The data lacks (or holds no rows of) a table the model was trained with, or more than
        ``UNSEEN_STAGE_SHARE`` (10%) of the enrolled students are of stages it never saw (fewer:
        a warning). Models saved before these were recorded are not checked for them.
    ContractError
        No screening on or before ``as_of``, or the newest record is ``warning.max_data_age_days`` or
        more days before it.
    """
    from riskmodel.labels import records_end

    lang = lang or settings.reports.lang
    as_of = pd.Timestamp(as_of).normalize()
    trained = model.meta.get("training_data", {})
    missing = [name for name in trained.get("sources", []) if not _present(dataset, name)]
    if missing:
        raise ModelMismatchError(text("warning.check.missing_tables", lang, tables=text(
            "warning.check.separator", lang).join(_table(name, lang) for name in missing)))
    students = dataset.table("students")
    enrolled = (students["enrollment_date"] <= as_of) & ~(students["exit_date"] < as_of)
    stages = students.loc[enrolled, "stage"].dropna().astype(str)
    known = set(trained.get("stages", stages))
    unseen = sorted(set(stages) - known)
    if unseen:
        share = float((~stages.isin(known)).mean())
        n_unseen = int((~stages.isin(known)).sum())
        if share > UNSEEN_STAGE_SHARE:
            raise ModelMismatchError(text("warning.check.unseen_stages", lang, n=n_unseen, unseen=_stages(unseen, lang),
                                          as_of=f"{as_of:%Y-%m-%d}", trained=_stages(trained["stages"], lang),
                                          share=f"{share:.0%}"))
        # a few newcomers (a first cohort of graduate students) must not leave everyone without a list
        log.warning("%d students of stage(s) %s are enrolled on %s, but the model was trained on %s only (%.1f%% of "
                    "those enrolled): they are scored, but the model has not been validated on them; retrain once "
                    "their records build up", n_unseen, ", ".join(unseen), f"{as_of:%Y-%m-%d}",
                    ", ".join(trained["stages"]), 100 * share)
    screenings = dataset.table("screenings")
    if not (screenings["date"] <= as_of).any():
        if len(screenings):
            raise ContractError(text("warning.check.no_screening", lang, as_of=f"{as_of:%Y-%m-%d}",
                                     first=f"{screenings['date'].min():%Y-%m-%d}"))
        raise ContractError(text("warning.check.no_screening_empty", lang, as_of=f"{as_of:%Y-%m-%d}"))
    end = records_end(dataset)
    limit = settings.warning.max_data_age_days
    if end is not None and (as_of - end).days >= limit:
        raise ContractError(text("warning.check.stale_data", lang, end=f"{end:%Y-%m-%d}", days=(as_of - end).days,
                                 as_of=f"{as_of:%Y-%m-%d}", limit=limit))
