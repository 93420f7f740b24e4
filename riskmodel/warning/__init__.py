"""riskmodel.warning."""
