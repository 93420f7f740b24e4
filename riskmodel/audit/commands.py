"""What ``riskmodel audit`` does, as one function (the CLI verb only parses options).

Example
-------
>>> # result = audit_command("data/", "models/2025-09", "2025-09-01", "2026-08-01", "audits/2026",
>>> #                        settings=load_settings(None), lang="zh")
"""

from __future__ import annotations

from pathlib import Path

from riskmodel.audit.run import AuditResult, run_audit
from riskmodel.config import Settings
from riskmodel.errors import PreflightError

__all__ = ["audit_command"]


def audit_command(data: str | Path, model_dir: str | Path, date_from, date_to, out: str | Path, *,
                  settings: Settings, lang: str | None = None, scores=()) -> AuditResult:
    """Load the data (folder or DuckDB store) and the model, audit, write the new folder ``out``.

    ``scores``: the scores files (or run folders) the model issued in audited months; the audit judges
    those as issued (riskmodel.audit.issued).

    Raises
    ------
    PreflightError
        ``out`` exists already (checked before the long work starts).
    ContractError, ModelMismatchError, ConfigError
        The data, the model or the period cannot be used.
    """
    from riskmodel.features.export import open_data
    from riskmodel.models.registry import load

    out = Path(out)
    if out.exists():
        raise PreflightError(f"{out}: already exists; an earlier audit is never overwritten. Choose a new --out folder.")
    model = load(model_dir)
    dataset = open_data(data, settings=settings)
    return run_audit(dataset, model, date_from=date_from, date_to=date_to, settings=settings, out_dir=out,
                     lang=lang or settings.reports.lang, scores=scores)
