"""The metrics dashboard of the FinMatch document (KPIs, financial metrics, distributions, top products and
segments). Every figure is read from a named query run through the sandbox; each carries its query id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finmatch_agents.data import queries
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog, QueryRecord
    from finmatch_agents.warehouse.engine import Engine, QueryResult


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    query: str
    column: str
    unit: str  # count | percent | currency | score


KPIS = (
    MetricSpec("avg_recommendation_score", "Avg recommendation score", "metrics/score", "avg_recommendation_score",
               "score"),
    MetricSpec("acceptance_rate", "Acceptance rate", "metrics/acceptance", "acceptance_rate", "percent"),
    MetricSpec("avg_satisfaction", "Avg customer satisfaction (1-10)", "metrics/satisfaction", "avg_satisfaction",
               "score"),
    MetricSpec("avg_churn_probability", "Avg churn probability", "metrics/churn", "avg_churn_probability", "percent"),
    MetricSpec("total_product_sales", "Total product sales", "metrics/sales", "total_product_sales", "currency"),
    MetricSpec("records", "Recommendations", "metrics/overview", "records", "count"),
    MetricSpec("customers", "Customers", "metrics/overview", "customers", "count"),
    MetricSpec("accepted", "Accepted recommendations", "metrics/acceptance", "accepted", "count"),
)
FINANCIAL = (
    MetricSpec("total_transaction_value", "Transaction value (6 months)", "metrics/transaction_value",
               "total_transaction_value", "currency"),
    MetricSpec("avg_transaction_value", "Avg transaction value per customer", "metrics/transaction_value",
               "avg_transaction_value", "currency"),
    MetricSpec("total_account_balance", "Total account balances", "metrics/balance", "total_account_balance",
               "currency"),
    MetricSpec("avg_account_balance", "Avg account balance per customer", "metrics/balance", "avg_account_balance",
               "currency"),
    MetricSpec("median_account_balance", "Median account balance", "metrics/balance", "median_account_balance",
               "currency"),
    MetricSpec("total_transaction_count", "Transactions (6 months)", "metrics/transaction_count",
               "total_transaction_count", "count"),
    MetricSpec("avg_transaction_count", "Avg transactions per customer", "metrics/transaction_count",
               "avg_transaction_count", "score"),
)
DISTRIBUTIONS = (
    ("recommendation_status", "Recommendation status", "metrics/status_distribution"),
    ("product_affinity", "Product affinity", "metrics/affinity_distribution"),
    ("lifecycle_stage", "Customer lifecycle stage (customers)", "metrics/lifecycle_distribution"),
)


@dataclass
class MetricValue:
    key: str
    label: str
    value: Any
    unit: str
    query_id: str | None
    absent: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "value": self.value, "unit": self.unit, "query": self.query_id}
        if self.absent:
            out["absent_columns"] = list(self.absent)
        return out


@dataclass
class Breakdown:
    key: str
    title: str
    rows: list[dict[str, Any]]
    query_id: str | None
    absent: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "rows": self.rows, "query": self.query_id}
        if self.absent:
            out["absent_columns"] = list(self.absent)
        return out


@dataclass
class Dashboard:
    db: str
    table: str
    currency: str
    kpis: list[MetricValue]
    financial: list[MetricValue]
    distributions: list[Breakdown]
    product_types: Breakdown
    segments: Breakdown
    queries: list[QueryRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "db": self.db, "table": self.table, "currency": self.currency,
            "kpis": {m.key: m.to_dict() for m in self.kpis},
            "financial": {m.key: m.to_dict() for m in self.financial},
            "distributions": {b.key: b.to_dict() for b in self.distributions},
            "top_product_types": self.product_types.to_dict(),
            "top_segments": self.segments.to_dict(),
            "queries": [{"id": q.id, "title": q.title, "sql": q.sql, "rows": q.rows, "elapsed_ms": q.elapsed_ms}
                        for q in self.queries],
        }


class _Runner:
    """Runs each named query once and remembers the result (or the skip)."""

    def __init__(self, engine: Engine, log: QueryLog, table: str, present: set[str]) -> None:
        self.engine, self.log, self.table, self.present = engine, log, table, present
        self.results: dict[str, QueryResult | named.Skipped] = {}

    def get(self, name: str) -> QueryResult | named.Skipped:
        if name not in self.results:
            self.results[name] = queries.run(self.engine, self.log, name, present=self.present, table=self.table)
        return self.results[name]

    def metric(self, spec: MetricSpec) -> MetricValue:
        res = self.get(spec.query)
        if isinstance(res, named.Skipped):
            return MetricValue(spec.key, spec.label, None, spec.unit, None, res.absent)
        return MetricValue(spec.key, spec.label, res.first().get(spec.column), spec.unit, res.id)

    def breakdown(self, key: str, title: str, query: str, limit: int | None = None) -> Breakdown:
        res = self.get(query)
        if isinstance(res, named.Skipped):
            return Breakdown(key, title, [], None, res.absent)
        rows = res.dicts()
        return Breakdown(key, title, rows[:limit] if limit else rows, res.id)


def compute_dashboard(engine: Engine, log: QueryLog, *, table: str, currency: str = "USD", top: int = 8) -> Dashboard:
    present = {c.name for c in engine.columns(table)}
    run = _Runner(engine, log, table, present)
    product_types = run.breakdown("top_product_types", "Top product types", "metrics/product_types", top)
    sales = run.get("metrics/product_type_sales")
    if not isinstance(sales, named.Skipped):
        by_type = {r["label"]: r["sales"] for r in sales.dicts()}
        for row in product_types.rows:
            row["sales"] = by_type.get(row["label"])
    return Dashboard(
        db=engine.location, table=table, currency=currency,
        kpis=[run.metric(s) for s in KPIS],
        financial=[run.metric(s) for s in FINANCIAL],
        distributions=[run.breakdown(k, t, q) for k, t, q in DISTRIBUTIONS],
        product_types=product_types,
        segments=run.breakdown("top_segments", "Customer segments", "metrics/segments", top),
        queries=list(log.records),
    )
