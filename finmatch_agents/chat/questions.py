"""Verified questions: plain-language questions the chat answers offline with reviewed SQL.

Matching is deterministic: each question lists groups of terms that must all appear (any term of a group),
and the most specific match wins (more groups; earlier entries break ties). A few questions take parameters
from the text (a status, a product type, a period). Nothing is generated: when no question matches, the
chat says so instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from finmatch_agents.data.schema import PRODUCT_TYPES

ACCEPT = ("accept", "acceptance", "convert", "conversion", "take up", "uptake", "success rate", "hit rate")
CHURN = ("churn", "attrition", "leave", "leaving", "drift away", "drifting away")
SATISFACTION = ("satisfaction", "satisfied", "csat", "happy")
SEGMENT = ("segment",)
PRODUCT_TYPE = ("product type", "product family", "type of product", "product categor")
CHANNEL = ("channel",)
LIFECYCLE = ("lifecycle", "life cycle", "stage")
STATUSES = {"declined": "Declined", "decline": "Declined", "rejected": "Declined", "refused": "Declined",
            "accepted": "Accepted", "pending": "Pending", "open": "Pending", "in progress": "In Progress"}
PRODUCT_WORDS = {"checking": "Checking", "current account": "Checking", "saving": "Savings", "deposit": "Savings",
                 "credit card": "Credit Card", "card": "Credit Card", "personal loan": "Personal Loan",
                 "loan": "Personal Loan", "mortgage": "Mortgage", "home loan": "Mortgage",
                 "investment": "Investment", "insurance": "Insurance", "wealth": "Wealth Management"}
PERIODS = {"month": "month", "quarter": "quarter", "year": "year"}


@dataclass(frozen=True)
class Verified:
    id: str
    question: str  # the canonical wording (shown in /help and when suggesting)
    groups: tuple[tuple[str, ...], ...]
    query: str | None  # a named query (warehouse/sql/<query>.sql)
    kind: str  # ranking | offers | calibration | overall | explain | scope
    params: dict[str, Any] = field(default_factory=dict)
    metric: str = ""  # the result column a ranking is about
    unit: str = "percent"
    phrase: str = ""  # what the metric is called in the answer
    highest_first: bool = True


def _by(id_: str, question: str, subject: tuple[str, ...], column: str, label: str, query: str, metric: str,
        phrase: str, groups: tuple[str, ...], unit: str = "percent") -> Verified:
    return Verified(id_, question, (groups, subject), query, "ranking",
                    {"group_column": column, "group_label": label}, metric, unit, phrase)


LIBRARY: tuple[Verified, ...] = (
    Verified("explain_recommendation", "Why is the optimization report recommending X?",
             (("why",), ("recommend",)), None, "explain"),
    Verified("offers", "Show me declined mortgage offers last quarter",
             (tuple(STATUSES), ("offer", "recommendation"), ("show", "list", "which", "last", "latest", "recent")),
             "chat/offers", "offers"),
    Verified("high_churn_customers", "How many customers are at high churn risk, by segment?",
             (("high churn", "churn risk", "at risk of", "likely to leave", "likely to churn"),
              ("customer", "how many", "who")), "chat/high_churn", "ranking", metric="high_risk_customers",
             unit="count", phrase="customers at high churn risk"),
    _by("acceptance_by_segment", "What is the acceptance rate by customer segment?", SEGMENT, "customer_segment",
        "customer segment", "chat/acceptance_by", "acceptance_rate", "acceptance rate", ACCEPT),
    _by("acceptance_by_product_type", "Which product types are accepted most?", PRODUCT_TYPE, "product_type",
        "product type", "chat/acceptance_by", "acceptance_rate", "acceptance rate", ACCEPT),
    _by("acceptance_by_channel", "Which channel converts best?", CHANNEL, "channel", "channel",
        "chat/acceptance_by", "acceptance_rate", "acceptance rate", ACCEPT),
    _by("acceptance_by_lifecycle", "How does acceptance differ by lifecycle stage?", LIFECYCLE,
        "customer_lifecycle_stage", "lifecycle stage", "chat/acceptance_by", "acceptance_rate", "acceptance rate",
        ACCEPT),
    _by("acceptance_by_affinity", "Does product affinity predict acceptance?", ("affinity",),
        "customer_product_affinity", "product affinity", "chat/acceptance_by", "acceptance_rate",
        "acceptance rate", ACCEPT),
    _by("acceptance_by_crm", "How do offers convert in each CRM system?", ("crm",), "crm_system", "CRM system",
        "chat/acceptance_by", "acceptance_rate", "acceptance rate", ACCEPT),
    _by("churn_by_segment", "Which segment has the highest churn?", SEGMENT, "customer_segment", "customer segment",
        "chat/churn_by", "avg_churn", "mean churn probability", CHURN),
    _by("churn_by_lifecycle", "What is the churn probability by lifecycle stage?", LIFECYCLE,
        "customer_lifecycle_stage", "lifecycle stage", "chat/churn_by", "avg_churn", "mean churn probability", CHURN),
    _by("churn_by_usage_trend", "Does falling product usage drive churn?", ("usage",),
        "customer_product_usage_trend", "product-usage trend", "chat/churn_by", "avg_churn",
        "mean churn probability", CHURN),
    _by("satisfaction_by_segment", "How satisfied is each segment?", SEGMENT, "customer_segment", "customer segment",
        "chat/satisfaction_by", "avg_satisfaction", "mean satisfaction (1-10)", SATISFACTION, unit="score"),
    Verified("top_products", "What are the top and bottom products?",
             (("top", "best", "worst", "bottom", "highest", "lowest", "most popular"), ("product",)),
             "performance/products", "ranking", metric="acceptance_rate", phrase="acceptance rate"),
    Verified("revenue_by_product_type", "Which product types earn the most revenue?",
             (("revenue", "income", "earn", "margin"), ("product",)), "financial/revenue_by_type", "ranking",
             metric="annual_revenue", unit="currency", phrase="annual revenue"),
    Verified("score_calibration", "How well does the recommendation score predict acceptance?",
             (("score",), ("predict", "calibrat", "work", "reliable", "accurate", *ACCEPT)),
             "performance/calibration", "calibration", {"bins": 10}),
    Verified("source_systems", "How do the core banking systems compare?",
             (("source system", "core banking", "fis", "fiserv", "temenos", "feed"),), "optimization/systems",
             "ranking", {"group_column": "source_system", "group_label": "core banking source system"},
             metric="acceptance_rate", phrase="acceptance rate"),
    Verified("overall_acceptance", "What is the overall acceptance rate?", (ACCEPT,), "metrics/acceptance",
             "overall"),
    Verified("overall_churn", "What is the average churn probability?", (CHURN,), "metrics/churn", "overall"),
    Verified("scope", "How many customers and recommendations are there?",
             (("how many", "number of", "count"), ("customer", "recommendation", "record", "offer")),
             "metrics/overview", "scope"),
)


def normalise(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    stems = [w[:-1] if len(w) > 4 and w.endswith("s") and not w.endswith("ss") else w for w in words]
    return " " + " ".join(stems) + " "


def _has(text: str, term: str) -> bool:
    return f" {term}" in text  # a term matches at a word start ("calibrat" matches "calibration")


@dataclass(frozen=True)
class Match:
    question: Verified
    params: dict[str, Any]


def match(text: str) -> Match | None:
    """The verified question ``text`` asks, with its parameters, or None."""
    norm = normalise(text)
    best: tuple[int, int, Verified] | None = None
    for order, q in enumerate(LIBRARY):
        if all(any(_has(norm, normalise(term).strip()) for term in group) for group in q.groups):
            key = (len(q.groups), -order)
            if best is None or key > best[:2]:
                best = (*key, q)
    if best is None:
        return None
    question = best[2]
    params = dict(question.params)
    if question.kind == "offers":
        params.update(offer_params(norm))
    return Match(question, params)


def offer_params(norm: str) -> dict[str, Any]:
    status = next((STATUSES[w] for w in sorted(STATUSES, key=len, reverse=True) if _has(norm, w)), "Declined")
    product = next((PRODUCT_WORDS[w] for w in sorted(PRODUCT_WORDS, key=len, reverse=True) if _has(norm, w)), None)
    for name in PRODUCT_TYPES:
        if _has(norm, normalise(name).strip()):
            product = name
            break
    period = next((PERIODS[w] for w in PERIODS if _has(norm, w)), "quarter")
    return {"status": status, "product_type": product, "period": period}


def suggestions(text: str, limit: int = 3) -> list[str]:
    """Canonical questions sharing the most terms with ``text`` (for 'did you mean')."""
    norm = normalise(text)
    scored = []
    for order, q in enumerate(LIBRARY):
        hits = sum(any(_has(norm, normalise(t).strip()) for t in group) for group in q.groups)
        scored.append((-hits, order, q.question))
    return [q for hits, _, q in sorted(scored) if hits < 0][:limit] or [
        q.question for q in LIBRARY if q.id in ("acceptance_by_segment", "churn_by_segment")]
