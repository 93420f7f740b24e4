"""riskmodel.features: point-in-time features, one module per family, a catalogue, one build.

Example
-------
>>> from riskmodel.features import catalogue
>>> catalogue().loc["counsellor_rating_last", "family"]
'counselling'
"""

from riskmodel.features.build import FeatureSource, build_features, prepare
from riskmodel.features.catalogue import catalogue, feature_names

__all__ = ["build_features", "prepare", "FeatureSource", "catalogue", "feature_names"]
