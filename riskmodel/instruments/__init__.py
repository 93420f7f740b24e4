"""riskmodel.instruments."""
