"""riskmodel.audit."""
