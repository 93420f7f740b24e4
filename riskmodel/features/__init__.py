"""riskmodel.features."""
