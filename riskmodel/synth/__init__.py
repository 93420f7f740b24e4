"""riskmodel.synth."""
