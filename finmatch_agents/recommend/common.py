"""Names and thresholds shared by the recommender modules and the light serving path (no heavy imports here)."""

from __future__ import annotations

FEEDBACK_TABLE = "recommend_feedback"
REQUIRED = ("customer_id", "product_id", "product_recommendation_status", "product_recommendation_date")
#: ratings at or above this count as an acceptance, at or below NEGATIVE_RATING as a decline
POSITIVE_RATING = 4
NEGATIVE_RATING = 2
#: the gate compares MAP at this K
GATE_K = 3
