"""What a model records of its training data: the feature sources present and the students' stages.

Recorded in model.json by training; read back by :mod:`riskmodel.warning.checks` before scoring, so a
model is never scored on data that lacks a table it learned from. It lives here, with the model it
describes, because the models stage comes before the warning stage (docs/architecture.md).

Example
-------
>>> FEATURE_SOURCES[:2]
('observations', 'life_events')
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FEATURE_SOURCES", "has_rows", "training_sources"]

# the optional tables the features read (the calendar has a documented default, so it is not one)
FEATURE_SOURCES: tuple[str, ...] = ("observations", "life_events", "academics", "attendance", "counselling",
                                    "outcomes")


def has_rows(dataset, name: str) -> bool:
    """The dataset holds table ``name`` with at least one row."""
    return dataset.has(name) and len(dataset.table(name)) > 0


def training_sources(dataset, student_ids) -> dict:
    """What a model records of its training data: the feature sources present and the students' stages."""
    students = dataset.table("students")
    stages = students.loc[students["student_id"].isin(pd.unique(student_ids)), "stage"].dropna().astype(str)
    return {"sources": [name for name in FEATURE_SOURCES if has_rows(dataset, name)],
            "stages": sorted(stages.unique().tolist())}
