"""Verified questions: plain-language questions the chat answers offline with reviewed SQL.

Matching is deterministic: each question lists groups of terms that must all appear (any term of a group),
and the most specific match wins (more groups; earlier entries break ties). A few questions take parameters
from the text (a status, a product type, a period). Each question that the semantic model can express also
declares it as a structured query (its measures and group), so a test checks its reviewed SQL against the
compiler's, and a keyword match only answers when the question's parse asks for nothing more than that
(no filter, period or group the verified answer would silently drop: "acceptance rate for Email in 2025"
is not "the overall acceptance rate").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from finmatch_agents.data.schema import PRODUCT_TYPES
from finmatch_agents.semantic.query import StructuredQuery
from finmatch_agents.semantic.text import fold, words

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
#: asks for named customers (a list), not a count: "how many customers are likely to churn" is a ranking
WHICH_CUSTOMERS = ("which customer", "which of our customer", "who is most likely", "who are most likely",
                   "who will", "list the customer", "top customer", "name the customer")
#: asks what to offer one customer next (with a customer id in the text): the recommender's list
NEXT_PRODUCT = ("next", "recommend", "suggest", "cross sell", "upsell", "up sell")
#: a customer id: the word after "customer" (or "client") when it has a digit, else a letter and 3+ digits
_AFTER_CUSTOMER = re.compile(r"\b(?:customer|client)(?:\s+(?:id|number|no\.?|#))?\s+([A-Za-z0-9][\w-]*\d[\w-]*)",
                             re.IGNORECASE)
_ID_LIKE = re.compile(r"(?<![\w-])([A-Za-z]\d{3,})(?![\w-])")
_TOP = re.compile(r"\b(?:top\s+(\d{1,2})|(\d{1,2})\s+(?:product|offer|recommendation|suggestion)s?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Verified:
    id: str
    question: str  # the canonical wording (shown in /help and when suggesting)
    groups: tuple[tuple[str, ...], ...]
    query: str | None  # a named query (warehouse/sql/<query>.sql)
    kind: str  # ranking | offers | calibration | overall | explain | scope | model_scores | recommend
    params: dict[str, Any] = field(default_factory=dict)
    metric: str = ""  # the result column a ranking is about
    unit: str = "percent"
    phrase: str = ""  # what the metric is called in the answer
    highest_first: bool = True
    measures: tuple[str, ...] = ()  # the semantic measures its answer shows (the first is the headline)
    group: str | None = None  # the semantic dimension it groups by
    takes: frozenset[str] = frozenset()  # semantic dimensions its parameters filter on (the offers list)
    columns: tuple[tuple[str, str], ...] = ()  # (result column, semantic key) for checking against the compiler
    needs_customer: bool = False  # matches only when the text names a customer id (the recommender's list)

    @property
    def structured(self) -> StructuredQuery | None:
        """The question as a structured query (None for answers the semantic model does not express)."""
        if not self.columns:
            return None
        return StructuredQuery(measures=self.measures, group_by=(self.group,) if self.group else ())


ACCEPTANCE = ("acceptance_rate", "accepted", "recommendations")
ACCEPTANCE_COLUMNS = (("acceptance_rate", "acceptance_rate"), ("accepted", "accepted"),
                      ("recommendations", "recommendations"))
# the reviewed churn and satisfaction queries count the customers *with a score*: not the customers measure
CHURN_MEASURES = ("mean_churn", "high_churn_share")
CHURN_COLUMNS = (("avg_churn", "mean_churn"), ("share_high_risk", "high_churn_share"))
SEMANTIC_GROUPS = {"customer_segment": "segment", "product_type": "product_type", "channel": "channel",
                   "customer_lifecycle_stage": "lifecycle_stage", "customer_product_affinity": "affinity",
                   "crm_system": "crm", "customer_product_usage_trend": "usage_trend", "source_system": "source_system"}


def _by(id_: str, question: str, subject: tuple[str, ...], column: str, label: str, query: str, metric: str,
        phrase: str, groups: tuple[str, ...], unit: str = "percent") -> Verified:
    measures, columns = {"chat/acceptance_by": (ACCEPTANCE, ACCEPTANCE_COLUMNS),
                         "chat/churn_by": (CHURN_MEASURES, CHURN_COLUMNS),
                         "chat/satisfaction_by": (("satisfaction",), (("avg_satisfaction", "satisfaction"),))
                         }[query]
    return Verified(id_, question, (groups, subject), query, "ranking",
                    {"group_column": column, "group_label": label}, metric, unit, phrase, measures=measures,
                    group=SEMANTIC_GROUPS[column], columns=(("label", SEMANTIC_GROUPS[column]), *columns))


LIBRARY: tuple[Verified, ...] = (
    Verified("explain_recommendation", "Why is the optimization report recommending X?",
             (("why",), ("recommend",)), None, "explain"),
    # the recommender's next products for one customer (``finmatch recommend for``), through the sandbox
    Verified("next_products", "What should we offer customer C0000123 next?", (NEXT_PRODUCT,), None, "recommend",
             {"top": 3}, needs_customer=True),
    Verified("offers", "Show me declined mortgage offers last quarter",
             (tuple(STATUSES), ("offer", "recommendation"), ("show", "list", "which", "last", "latest", "recent")),
             "chat/offers", "offers", measures=("recommendations",), takes=frozenset({"status", "product_type"})),
    # the predictive models' scores (``finmatch predict score``), read from the scores table by the sandbox
    Verified("likely_churners", "Which customers are most likely to churn?",
             (WHICH_CUSTOMERS, ("churn", "attrition", "leave", "leaving", "close their account")),
             "chat/likely_churners", "model_scores", {"top": 10}),
    Verified("likely_acceptors", "Which customers are most likely to accept a Mortgage offer?",
             (WHICH_CUSTOMERS, ("accept", "take up", "convert", "say yes", "buy")),
             "chat/likely_acceptors", "model_scores", {"top": 10, "product_type": None}),
    Verified("high_churn_customers", "How many customers are at high churn risk, by segment?",
             (("high churn", "churn risk", "at risk of", "likely to leave", "likely to churn"),
              ("customer", "how many", "who")), "chat/high_churn", "ranking", metric="high_risk_customers",
             unit="count", phrase="customers at high churn risk",
             measures=("high_churn_customers", "high_churn_share"), group="segment",
             columns=(("label", "segment"), ("high_risk_customers", "high_churn_customers"),
                      ("share_high_risk", "high_churn_share"))),
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
             "performance/products", "ranking", metric="acceptance_rate", phrase="acceptance rate",
             measures=("acceptance_rate", "recommendations"), group="product",
             columns=(("product_name", "product"), ("acceptance_rate", "acceptance_rate"),
                      ("recommendations", "recommendations"))),
    Verified("revenue_by_product_type", "Which product types earn the most revenue?",
             (("revenue", "income", "earn", "margin"), ("product",)), "financial/revenue_by_type", "ranking",
             metric="annual_revenue", unit="currency", phrase="annual revenue", measures=("revenue",),
             group="product_type", columns=(("product_type", "product_type"), ("annual_revenue", "revenue"))),
    Verified("score_calibration", "How well does the recommendation score predict acceptance?",
             (("score",), ("predict", "calibrat", "work", "reliable", "accurate", *ACCEPT)),
             "performance/calibration", "calibration", {"bins": 10}, measures=("score", "acceptance_rate")),
    Verified("source_systems", "How do the core banking systems compare?",
             (("source system", "core banking", "fis", "fiserv", "temenos", "feed"),), "optimization/systems",
             "ranking", {"group_column": "source_system", "group_label": "core banking source system"},
             metric="acceptance_rate", phrase="acceptance rate",
             measures=("acceptance_rate", "decided_acceptance_rate", "recommendations", "accepted"),
             group="source_system",
             columns=(("system", "source_system"), ("acceptance_rate", "acceptance_rate"),
                      ("decided_acceptance_rate", "decided_acceptance_rate"), ("recommendations", "recommendations"),
                      ("accepted", "accepted"))),
    Verified("overall_acceptance", "What is the overall acceptance rate?", (ACCEPT,), "metrics/acceptance",
             "overall", measures=("acceptance_rate", "accepted", "recommendations", "decided_acceptance_rate"),
             columns=(("acceptance_rate", "acceptance_rate"), ("accepted", "accepted"),
                      ("recommendations", "recommendations"), ("decided_acceptance_rate", "decided_acceptance_rate"))),
    Verified("overall_churn", "What is the average churn probability?", (CHURN,), "metrics/churn", "overall",
             measures=("mean_churn", "high_churn_share"),
             columns=(("avg_churn_probability", "mean_churn"), ("share_high_churn_risk", "high_churn_share"))),
    Verified("scope", "How many customers and recommendations are there?",
             (("how many", "number of", "count"), ("customer", "recommendation", "record", "offer")),
             "metrics/overview", "scope", measures=("customers", "recommendations"),
             columns=(("customers", "customers"), ("records", "recommendations"))),
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
    customer = customer_id(text)
    for order, q in enumerate(LIBRARY):
        if q.needs_customer and customer is None:
            continue
        if all(any(_has(norm, normalise(term).strip()) for term in group) for group in q.groups):
            key = (len(q.groups) + q.needs_customer, -order)  # the customer id counts as a group
            if best is None or key > best[:2]:
                best = (*key, q)
    if best is None:
        return None
    question = best[2]
    params = dict(question.params)
    if question.kind == "offers":
        params.update(offer_params(norm))
    if question.id == "likely_acceptors":
        params["product_type"] = offer_params(norm)["product_type"]
    if question.needs_customer:
        params["customer_id"] = customer
        top = _TOP.search(text)
        if top:
            params["top"] = int(top.group(1) or top.group(2))
    return Match(question, params)


def customer_id(text: str) -> str | None:
    """The customer id a question names ("customer C0000123", "for C0000123"), or None."""
    found = _AFTER_CUSTOMER.search(text) or _ID_LIKE.search(text)
    return found.group(1) if found else None


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


def terms(q: Verified) -> set[str]:
    """The words of a verified question's keyword groups (they may stand in a question it answers)."""
    return {fold(w) for group in q.groups for term in group for w in words(term)}


def canonical(text: str) -> Verified | None:
    """The verified question whose canonical wording ``text`` is (ignoring case and punctuation)."""
    norm = normalise(text)
    return next((q for q in LIBRARY if normalise(q.question) == norm), None)
