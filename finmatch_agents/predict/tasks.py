"""The prediction tasks: what one row is, what the label is, which columns the label is made of, and the
bank's own score each model is compared with.

- ``conversion``: one row per decided offer (Accepted = 1, Declined = 0; Pending and In Progress are open
  and are what batch scoring scores). Order: recommendation date, then record id (file order when a file
  has no dates).
- ``churn``: one row per customer with an observed ``customer_churned``; its features are the columns of
  the customer's latest record plus the customer feature layer. Order: the date the customer was first
  seen. The modelled ``customer_churn_probability`` is never the label; it is the bank's score to beat.

Next best action is not a task of its own: it combines the conversion model's calibrated propensity for
every product that passes the matching engine's suitability gates with the product's value
(:mod:`finmatch_agents.predict.nba`).
"""

from __future__ import annotations

from dataclasses import dataclass

from finmatch_agents.errors import UsageError


@dataclass(frozen=True)
class Task:
    name: str
    unit: str  # what one row is: "offer" or "customer"
    label: str  # column the outcome comes from
    positive: str  # the outcome in words
    #: columns the label is made of or that exist only once the outcome is known (never model inputs)
    outcome_columns: dict[str, str]
    bank_score: str  # the bank's own score for the same question (baseline, kept out of the model)
    frame_query: str  # named query with the labelled rows
    score_query: str  # named query with the rows batch scoring scores
    counts_query: str


TASKS: dict[str, Task] = {
    "conversion": Task(
        name="conversion", unit="offer", label="product_recommendation_status", positive="accepted the offer",
        outcome_columns={
            "product_recommendation_status": "the outcome itself (the label)",
            "product_sales_amount": "the sale of the predicted offer: recorded only once it was accepted",
            "product_sales_date": "the sale date of the predicted offer: recorded only once it was accepted",
            "customer_churned": "the churn outcome is observed up to 12 months after the offer",
        },
        bank_score="recommendation_score", frame_query="predict/offers", score_query="predict/open_offers",
        counts_query="predict/offer_counts"),
    "churn": Task(
        name="churn", unit="customer", label="customer_churned", positive="left within 12 months",
        outcome_columns={"customer_churned": "the outcome itself (the label)"},
        bank_score="customer_churn_probability", frame_query="predict/customers",
        score_query="predict/customer_rows", counts_query="predict/customer_counts"),
}
TASK_NAMES = tuple(TASKS)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise UsageError(f"TASK: '{name}' is not a task; tasks: {', '.join(TASKS)}",
                         hint="next best action (nba) is scored from the conversion model: "
                              "`finmatch predict score nba`")
    return TASKS[name]
