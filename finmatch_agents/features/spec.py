"""What the customer feature layer computes: every column, the query that produces it and its formula.

This table is the single source for the feature code (which named query fills which column, how a metric
combines its inputs) and for docs/features.md (generated from it; a test keeps the page in sync and checks
that every column a feature query returns is declared here). Constants the SQL uses are passed to it from
``PARAMS`` so the numbers in the formulas below are the numbers that ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from finmatch_agents.features.interests import INTEREST_TYPES

#: product types whose holdings count as investment / credit experience (data dictionary spellings)
INVESTMENT_TYPES = ("Investment", "Wealth Management")
CREDIT_TYPES = ("Credit Card", "Personal Loan", "Mortgage")

#: constants inlined into the feature SQL (see the formulas)
PARAMS: dict[str, object] = {
    "age_full": 20,  # age at which the horizon score is 1
    "age_zero": 75,  # age from which it is 0
    "breadth_full": 4,  # product types held for a breadth score of 1
    "experience_full": 2,  # investment / credit products held for an experience score of 1
    "investment_types": list(INVESTMENT_TYPES),
    "credit_types": list(CREDIT_TYPES),
}

_AGE1, _AGE0, _BREADTH, _EXPERIENCE = (PARAMS[k] for k in ("age_full", "age_zero", "breadth_full", "experience_full"))


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # metric | input | holding | preference
    unit: str
    formula: str
    query: str | None = None  # named query (under warehouse/sql/) that returns the column; None = combined here


@dataclass(frozen=True)
class Metric:
    """A 0-1 customer metric of 003 and the inputs it is computed from.

    A *direct* metric (no weights) is a column of its own query; a *composite* one is the weighted mean of the
    inputs a customer has, with the weights renormalised over those inputs."""

    name: str
    label: str
    meaning: str
    inputs: tuple[str, ...]  # features shown beside the metric
    weights: tuple[float, ...] = ()  # composite only: one weight per input

    @property
    def composite(self) -> bool:
        return bool(self.weights)


METRICS: tuple[Metric, ...] = (
    Metric("churn_probability", "churn probability", "How likely the customer is to leave within 12 months.",
           ("churn_probability",)),
    Metric("profit", "profit for the bank", "How much revenue the customer already brings, relative to the "
           "other customers.", ("annual_revenue",)),
    Metric("risk_appetite", "risk appetite", "How much financial risk the customer can and chooses to take.",
           ("age_score", "income_score", "balance_score", "held_risk_score", "investment_score"),
           (0.25, 0.20, 0.20, 0.20, 0.15)),
    Metric("financial_acumen", "financial acumen", "How much financial knowledge and experience the customer "
           "shows.", ("breadth_score", "investment_score", "credit_experience_score", "activity_score",
                      "credit_score_score"), (0.30, 0.25, 0.20, 0.15, 0.10)),
)


def _composite(metric: Metric) -> str:
    parts = ", ".join(f"{name} {weight:.2f}" for name, weight in zip(metric.inputs, metric.weights, strict=True))
    return f"Weighted mean of the inputs the customer has: {parts} (weights renormalised over the inputs present)."


FEATURES: tuple[Feature, ...] = (
    Feature("records", "input", "count", "Number of the customer's recommendation records (before the cut-off when "
            "one is given).", "features/customers"),
    # churn
    Feature("churn_probability", "metric", "0-1", "Mean of `customer_churn_probability` over the customer's "
            "records, clipped to 0..1 (the bank's own churn model).", "features/churn"),
    # profit
    Feature("annual_revenue", "input", "currency", "Sum over accepted records of `product_sales_amount` × the "
            "product's catalogue `margin` (the same rule as the Financial Impact agent's revenue).",
            "features/profit"),
    Feature("profit", "metric", "0-1", "Percentile rank of `annual_revenue` among customers "
            "(`percent_rank`: 0 = least revenue, 1 = most; customers without revenue tie at 0).", "features/profit"),
    # risk appetite and acumen inputs
    Feature("age", "input", "years", "Mean `customer_age` over the customer's records.", "features/age"),
    Feature("age_score", "input", "0-1", f"Investment horizon: ({_AGE0} − age) / ({_AGE0} − {_AGE1}), clipped to "
            f"0..1 ({_AGE1} or younger = 1, {_AGE0} or older = 0).", "features/age"),
    Feature("income", "input", "currency", "Mean `annual_income` over the customer's records.", "features/income"),
    Feature("income_score", "input", "0-1", "Percentile rank of `income` among customers with a known income "
            "(capacity for loss).", "features/income"),
    Feature("balance", "input", "currency", "Mean `account_balance` over the customer's records.",
            "features/balance"),
    Feature("balance_score", "input", "0-1", "Percentile rank of `balance` among customers with a known balance "
            "(liquidity cushion).", "features/balance"),
    Feature("credit_score", "input", "score", "Mean `credit_score` over the customer's records.", "features/credit"),
    Feature("credit_score_score", "input", "0-1", "(credit_score − 300) / 550, clipped to 0..1.", "features/credit"),
    Feature("transactions", "input", "count", "Mean `customer_transaction_count` (transactions in six months).",
            "features/transactions"),
    Feature("activity_score", "input", "0-1", "Percentile rank of `transactions` among customers with a known count "
            "(the dictionary has no breakdown by transaction type, so activity stands in for the transaction mix).",
            "features/transactions"),
    Feature("accepted_offers", "holding", "count", "Accepted recommendations (the data's record of products taken "
            "up; there is no separate holdings ledger).", "features/holdings"),
    Feature("held_types", "holding", "count", "Distinct `product_type` values among accepted recommendations.",
            "features/holdings"),
    Feature("investment_held", "holding", "count", f"Accepted recommendations of type {' or '.join(INVESTMENT_TYPES)}.",
            "features/holdings"),
    Feature("credit_held", "holding", "count", f"Accepted recommendations of type {', '.join(CREDIT_TYPES)}.",
            "features/holdings"),
    Feature("breadth_score", "input", "0-1", f"min(held_types / {_BREADTH}, 1): product breadth.",
            "features/holdings"),
    Feature("investment_score", "input", "0-1", f"min(investment_held / {_EXPERIENCE}, 1): investment experience.",
            "features/holdings"),
    Feature("credit_experience_score", "input", "0-1", f"min(credit_held / {_EXPERIENCE}, 1): credit experience.",
            "features/holdings"),
    Feature("held_risk_score", "input", "0-1", "Mean of (`risk_to_customer` − 1) / 4 over the catalogue products "
            "the customer accepted: the risk they already chose. Unknown (not 0) for customers who hold nothing.",
            "features/held_risk"),
    # composites
    *(Feature(m.name, "metric", "0-1", _composite(m)) for m in METRICS if m.composite),
)

#: customer x product-type preference inputs (stage 2 of matching), each from its own query
PREFERENCES: tuple[Feature, ...] = (
    Feature("held", "holding", "product ids", "Distinct `product_id` of the customer's accepted recommendations "
            "(the match engine's already-held gate).", "features/held"),
    Feature("affinity", "preference", "-1..1", "Per product type: mean of `customer_product_affinity` over the "
            "customer's offers of that type (Low −1, Medium 0, High +1).", "features/affinity"),
    Feature("usage_trend", "preference", "-1..1", "Per product type: mean of `customer_product_usage_trend` over "
            "the customer's offers of that type (Decreasing −1, Stable 0, Increasing +1).", "features/usage_trend"),
    Feature("interests", "preference", "text", "Distinct stated interests (`customer_product_interests`, split "
            "on commas, lower case); mapped to product types by `features.interests.INTEREST_TYPES`.",
            "features/interests"),
)

FEATURE_BY_NAME = {f.name: f for f in FEATURES}
METRIC_BY_NAME = {m.name: m for m in METRICS}
#: named queries that return one row per customer, in the order they run
CUSTOMER_QUERIES: tuple[str, ...] = tuple(dict.fromkeys(f.query for f in FEATURES if f.query))
#: all of them (and the interests) in one statement, used when the data has every input column
COMBINED_QUERY = "features/customer_all"


def columns_of_query(query: str) -> tuple[str, ...]:
    """Feature columns a per-customer query fills (besides ``cix``)."""
    return tuple(f.name for f in FEATURES if f.query == query)


def features_markdown() -> str:
    """docs/features.md, generated from the tables above (a test keeps the file in sync)."""
    out = ["# Customer features", "",
           "Generated from `finmatch_agents/features/spec.py`, the single source for the feature code and this "
           "page (`tests/features/test_docs.py` keeps them in sync).", "",
           "One row per customer, computed by the named SQL files under `finmatch_agents/warehouse/sql/features/` "
           "through the read-only sandbox, so every figure has a query id. The match engine uses them today; "
           "predictive models, recommenders and similarity search are meant to reuse them through "
           "`build_customer_features(engine, log, table, present)` (see docs/match.md).", "",
           "**Absent, not zero.** A query whose columns the data lacks is not run: its features are *absent* "
           "(NULL) and listed with the reason, and a metric combines only the inputs present. A metric with no "
           "input present is absent for every customer. A customer whose value is unknown (an empty field) "
           "gets NULL for that feature, never 0.", "",
           "**Cut-off.** With `as_of` (the backtest of `finmatch match evaluate`), only records dated before "
           "the cut-off are read; customers first seen later have no features.", "",
           "Snapshot columns (age, income, balance, credit score, transactions, churn) are averaged over the "
           "customer's records: exact when a customer's records agree, a defensible summary when they differ.",
           "", "## The four metrics (0–1)", "",
           "| metric | meaning | inputs (weight) |", "|---|---|---|"]
    for m in METRICS:
        inputs = ", ".join(f"`{c}` ({w:g})" if m.composite else f"`{c}`"
                           for c, w in zip(m.inputs, m.weights or (1.0,) * len(m.inputs), strict=True))
        out.append(f"| `{m.name}` | {m.meaning} | {inputs} |")
    out += ["", "## Columns", "", "| column | kind | unit | formula | query |", "|---|---|---|---|---|"]
    for f in (*FEATURES, *PREFERENCES):
        query = f"`{f.query}`" if f.query else "combined in Python"
        out.append(f"| `{f.name}` | {f.kind} | {f.unit} | {f.formula} | {query} |")
    out += ["", "## Interests → product types", "",
            "A stated interest counts for a product when it maps to the product's type here, or when it is the "
            "type's own name (case-insensitive).", "",
            "| interest | product type |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in INTEREST_TYPES.items()]
    out.append("")
    return "\n".join(out)
