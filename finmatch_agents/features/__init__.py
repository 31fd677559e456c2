"""The customer feature layer: one row per customer, every column from a named SQL query (DESIGN §8).

Shared by the match engine today and meant for the predictive models, recommenders and similarity search:
``build_customer_features(engine, log, table, present_columns(engine, table))`` returns
:class:`CustomerFeatures` (numpy columns, holdings, preferences, what is absent and why, query ids);
``load_catalogue(engine, log, present)`` returns the products with their matching attributes.
"""

from finmatch_agents.features.build import (
    CustomerFeatures,
    FeatureStatus,
    Holdings,
    build_customer_features,
    present_columns,
)

__all__ = ["CustomerFeatures", "FeatureStatus", "Holdings", "build_customer_features", "present_columns"]
