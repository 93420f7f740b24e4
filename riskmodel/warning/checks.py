"""Does this data, on this date, fit this model? Checks made before a list is scored.

A model learns from the sources it was trained with; scored on data that lacks one of them, every
feature from it reads "nothing recorded" and lowers every student's risk without a word. The same
holds for a stage of students it never saw, for an as-of date before any screening, and for an
as-of date long after the newest record (the list would miss everything since). Each is refused
(a few students of an unseen stage, such as a first cohort of graduate students, only warned about)
with :class:`~riskmodel.errors.ModelMismatchError` or :class:`~riskmodel.errors.ContractError`
(exit 2) naming what is missing and what to do. ``riskmodel score`` and ``riskmodel run`` call
:func:`check_scoring_data` before anything is written.

Example
-------
>>> # check_scoring_data(dataset, load_model("models/2026-03"), "2026-03-01", settings=settings)
"""

from __future__ import annotations

import logging

import pandas as pd

from riskmodel.config import Settings
from riskmodel.errors import ContractError, ModelMismatchError
from riskmodel.models.sources import FEATURE_SOURCES, training_sources
from riskmodel.models.sources import has_rows as _present

__all__ = ["FEATURE_SOURCES", "UNSEEN_STAGE_SHARE", "check_scoring_data", "training_sources"]

log = logging.getLogger(__name__)

# above this share of enrolled students of stages the model never saw, scoring is refused; below, warned
UNSEEN_STAGE_SHARE = 0.10



def check_scoring_data(dataset, model, as_of, *, settings: Settings) -> None:
    """Raise unless ``dataset`` on ``as_of`` can be scored by ``model`` (see the module docstring).

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

    as_of = pd.Timestamp(as_of).normalize()
    trained = model.meta.get("training_data", {})
    missing = [name for name in trained.get("sources", []) if not _present(dataset, name)]
    if missing:
        raise ModelMismatchError(
            f"the model was trained with the table(s) {', '.join(missing)}, which this data lacks or holds no rows "
            "of: every feature from them would read 'nothing recorded' and lower students' risk. Add the table(s) "
            "to the data folder, or train a model on data without them (riskmodel train).")
    students = dataset.table("students")
    enrolled = (students["enrollment_date"] <= as_of) & ~(students["exit_date"] < as_of)
    stages = students.loc[enrolled, "stage"].dropna().astype(str)
    known = set(trained.get("stages", stages))
    unseen = sorted(set(stages) - known)
    if unseen:
        share = float((~stages.isin(known)).mean())
        where = (f"{int((~stages.isin(known)).sum())} students of stage(s) {', '.join(unseen)} are enrolled on "
                 f"{as_of:%Y-%m-%d}, but the model was trained on {', '.join(trained['stages'])} only")
        if share > UNSEEN_STAGE_SHARE:
            raise ModelMismatchError(f"{where}: it has never seen {share:.0%} of the students. Train a model on data "
                                     "that includes them.")
        # a few newcomers (a first cohort of graduate students) must not leave everyone without a list
        log.warning("%s (%.1f%% of those enrolled): they are scored, but the model has not been validated on "
                    "them; retrain once their records build up", where, 100 * share)
    screenings = dataset.table("screenings")
    if not (screenings["date"] <= as_of).any():
        first = f" (the first is on {screenings['date'].min():%Y-%m-%d})" if len(screenings) else " (the table is empty)"
        raise ContractError(f"no screening on or before {as_of:%Y-%m-%d}{first}: every student would be scored as "
                            "never screened. Check --as-of, or the screenings table.")
    end = records_end(dataset)
    limit = settings.warning.max_data_age_days
    if end is not None and (as_of - end).days >= limit:
        raise ContractError(
            f"the newest record in the data is from {end:%Y-%m-%d}, {(as_of - end).days} days before --as-of "
            f"{as_of:%Y-%m-%d}: a list built on it would miss everything since. Export fresh data, or use an as-of "
            f"date within {limit} days of the newest record (warning.max_data_age_days).")
