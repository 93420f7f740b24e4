"""Global explanations: which factor families move the score most, overall and in each group.

The model's own per-row contributions (``RiskModel.contributions``: exact TreeSHAP for LightGBM,
coefficient x standardised value for logistic regression, rule terms for the baseline; all on the
raw, log-odds scale) are summed within each factor family of the feature catalogue (SHAP values are
additive, so a family's contribution is the sum of its features'), then averaged:

* ``mean_abs``: mean absolute contribution, how much the family moves scores either way;
* ``mean_signed``: mean signed contribution, whether it mostly raises (+) or lowers (-) them;
* ``share``: the family's ``mean_abs`` over the sum of all families' (what part of the movement).

Contributions cost time on a large audit, so they are computed on a seeded random sample of at most
``max_rows`` rows of the audited period (default 10,000); the table says how many rows it used.

Example
-------
>>> import pandas as pd
>>> contrib = pd.DataFrame({"phq9_total": [1.0, -1.0], "gad7_total": [0.5, 0.5], "absences_90d": [0.0, 1.0]})
>>> families = pd.Series({"phq9_total": "screening", "gad7_total": "screening", "absences_90d": "attendance"})
>>> family_importance(contrib, families)[["family", "mean_abs"]].values.tolist()
[['screening', 1.0], ['attendance', 0.5]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["family_contributions", "family_importance", "importance_table"]


def family_contributions(contributions: pd.DataFrame, families: pd.Series) -> pd.DataFrame:
    """Per-row contributions summed within each family (features unknown to the catalogue: ``other``)."""
    family_of = families.reindex(contributions.columns).fillna("other").to_numpy()
    return contributions.T.groupby(family_of).sum().T


def family_importance(contributions: pd.DataFrame, families: pd.Series) -> pd.DataFrame:
    """``family, mean_abs, mean_signed, share`` sorted by ``mean_abs`` (largest first)."""
    by_family = family_contributions(contributions, families)
    mean_abs = by_family.abs().mean()
    table = pd.DataFrame({"family": mean_abs.index, "mean_abs": mean_abs.to_numpy(),
                          "mean_signed": by_family.mean().to_numpy()})
    total = table["mean_abs"].sum()
    table["share"] = table["mean_abs"] / total if total > 0 else np.nan
    return table.sort_values(["mean_abs", "family"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def importance_table(contributions: pd.DataFrame, families: pd.Series, groups: dict[str, pd.Series], *,
                     min_group_size: int = 50) -> pd.DataFrame:
    """Family importance overall (``grouping == "all"``) and for every group of every grouping.

    Parameters
    ----------
    contributions
        Per-row contributions (rows of the sample, one column per feature).
    families
        Feature -> family (the catalogue's ``family`` column).
    groups
        Grouping name -> group label per row (aligned with ``contributions``).
    min_group_size
        Groups with fewer sampled rows are left out (too few to describe).

    Returns
    -------
    DataFrame ``grouping, group, n, family, mean_abs, mean_signed, share, rank``.
    """
    parts = [family_importance(contributions, families).assign(grouping="all", group="all", n=len(contributions))]
    for grouping, labels in groups.items():
        labels = pd.Series(np.asarray(labels, dtype=object), index=contributions.index)
        for group, index in labels.groupby(labels, sort=True).groups.items():
            if len(index) < min_group_size:
                continue
            part = family_importance(contributions.loc[index], families)
            parts.append(part.assign(grouping=grouping, group=str(group), n=len(index)))
    table = pd.concat(parts, ignore_index=True)
    table["rank"] = table.groupby(["grouping", "group"]).cumcount() + 1
    return table[["grouping", "group", "n", "family", "mean_abs", "mean_signed", "share", "rank"]]
