"""riskmodel.reports."""
