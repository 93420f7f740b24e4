"""riskmodel: student mental-health crisis early warning.

Calibrated, explained warning lists and cohort reports from a psychology centre's records.
Decision support for trained staff, not a diagnosis. See README.md and docs/architecture.md.
"""

__version__ = "0.1.0"
