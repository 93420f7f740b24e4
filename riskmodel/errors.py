"""Errors a person can act on, each with the exit status the command line gives it.

Exit statuses of every ``riskmodel`` verb (README "Exit statuses"):

* 0: done.
* 1: done, but part failed (a cohort report, a notebook); the manifest says which.
* 2: the input cannot be used: data that breaks the contract, a configuration or model that does
  not fit. Nothing was written. Fix the input named in the message and run again.
* 3: the machine cannot take the output (folder not writable, disk full). Nothing was written.
"""

from __future__ import annotations

__all__ = ["RiskmodelError", "ContractError", "ConfigError", "ModelMismatchError", "PreflightError"]


class RiskmodelError(Exception):
    """Base of every error riskmodel raises on purpose; ``exit_code`` is the CLI's exit status."""

    exit_code = 2


class ContractError(RiskmodelError, ValueError):
    """Input data that cannot be used at all: a missing required table or column, an unreadable file."""


class ConfigError(RiskmodelError, ValueError):
    """A configuration file or option that cannot be used."""


class ModelMismatchError(RiskmodelError, ValueError):
    """A saved model that does not fit the data it is asked to score."""


class PreflightError(RiskmodelError, OSError):
    """The output cannot be written: folder not writable, not enough disk."""

    exit_code = 3
