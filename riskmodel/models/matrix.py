"""From the feature frame to the numeric matrix a model reads, and the check that they fit.

The feature frame of :func:`riskmodel.features.build_features` has ``student_id, as_of`` and one
column per catalogue feature. A model records, when it is fitted, which feature columns it read and,
for text (category) columns, the categories it saw; scoring turns a new frame into exactly the same
matrix or refuses with :class:`~riskmodel.errors.ModelMismatchError`.

Example
-------
>>> import pandas as pd
>>> frame = pd.DataFrame({"student_id": ["a", "b"], "as_of": pd.Timestamp("2026-03-01"),
...                       "phq9_total_latest": [4.0, 15.0], "stage": ["university", "university"]})
>>> spec = FeatureSpec.from_frame(frame)
>>> spec.names
('phq9_total_latest', 'stage')
>>> spec.matrix(frame).tolist()
[[4.0, 0.0], [15.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskmodel.errors import ModelMismatchError

__all__ = ["ID_COLUMNS", "FeatureSpec", "feature_columns"]

ID_COLUMNS: tuple[str, ...] = ("student_id", "as_of")
# Columns a feature frame may carry that are not model inputs (labels, truth, bookkeeping).
_NOT_FEATURES = frozenset({"student_id", "as_of", "label", "label_date", "label_event", "pseudonym"})


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model-input columns of a feature frame: everything but identifiers and labels."""
    return [c for c in frame.columns if c not in _NOT_FEATURES]


@dataclass(frozen=True)
class FeatureSpec:
    """The feature list a model was fitted on, and the categories of its text columns.

    Attributes
    ----------
    names
        Feature columns in model order.
    categories
        Text column -> the sorted categories seen in training; scoring codes them 0..k-1 and an
        unseen category as missing.
    """

    names: tuple[str, ...]
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, names: list[str] | None = None) -> FeatureSpec:
        """Record the features of ``frame`` (all but identifiers and labels, unless ``names``)."""
        names = list(names) if names is not None else feature_columns(frame)
        categories = {}
        for name in names:
            col = frame[name]
            if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                categories[name] = tuple(sorted(str(v) for v in col.dropna().unique()))
        return cls(names=tuple(names), categories=categories)

    def check(self, frame: pd.DataFrame, *, source: str = "the feature matrix") -> None:
        """Refuse a frame whose feature columns differ from the model's.

        Raises
        ------
        ModelMismatchError
            Naming the missing and the extra features and what to do.
        """
        present = set(feature_columns(frame))
        missing = [n for n in self.names if n not in present]
        extra = sorted(present - set(self.names))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"{len(missing)} feature(s) the model needs are missing: {_preview(missing)}")
            if extra:
                parts.append(f"{len(extra)} feature(s) the model was not trained on: {_preview(extra)}")
            raise ModelMismatchError(
                f"{source} does not fit the model: " + "; ".join(parts) + ". The model was trained with a "
                "different feature set (another riskmodel version or feature settings). Retrain with "
                "`riskmodel train` on this installation, or score with the riskmodel version and settings "
                "recorded in the model's model.json."
            )

    def matrix(self, frame: pd.DataFrame, dtype=np.float64) -> np.ndarray:
        """The float matrix of ``frame``'s features in model order (NaN for missing values)."""
        self.check(frame)
        out = np.empty((len(frame), len(self.names)), dtype=dtype)
        numeric = [j for j, name in enumerate(self.names) if name not in self.categories
                   and (pd.api.types.is_numeric_dtype(frame[name]) or pd.api.types.is_bool_dtype(frame[name]))]
        if numeric:  # one block copy for the numeric columns (nearly all of them)
            block = frame[[self.names[j] for j in numeric]]
            out[:, numeric] = block.to_numpy(dtype=dtype, na_value=np.nan)
        done = set(numeric)
        for j, name in enumerate(self.names):
            if j in done:
                continue
            col = frame[name]
            if name in self.categories:
                codes = pd.Categorical(col.astype("string"), categories=list(self.categories[name])).codes
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:  # text in a numeric feature: unreadable values are missing
                out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return out

    def frame(self, frame: pd.DataFrame, dtype=np.float64) -> pd.DataFrame:
        """:meth:`matrix` as a DataFrame with the feature names (what the estimators read)."""
        return pd.DataFrame(self.matrix(frame, dtype), columns=list(self.names), index=frame.index)

    def to_dict(self) -> dict:
        """JSON-ready form for the registry."""
        return {"names": list(self.names), "categories": {k: list(v) for k, v in self.categories.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(names=tuple(data["names"]), categories={k: tuple(v) for k, v in data["categories"].items()})


def _preview(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
