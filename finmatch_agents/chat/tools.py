"""The chat model's tools: the shared data tools plus the chat's own (tables, metrics, analyses, reports,
customer lookup), each with validated arguments (:class:`finmatch_agents.llm.tools.Tool`)."""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, JsonValue, field_validator

from finmatch_agents.agents import FOCUS_ALL, FOCUS_ORDER, resolve_focus
from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.chat import commands
from finmatch_agents.errors import FinMatchError, UsageError
from finmatch_agents.llm.tools import DataAccess, NoArgs, SqlArgs, TableArgs, Tool, ToolArgs, data_tools
from finmatch_agents.recommend.api import recommendations_for
from finmatch_agents.semantic.tool import to_query, tool_schema
from finmatch_agents.warehouse.sqltext import literal, quote_ident

if TYPE_CHECKING:
    from finmatch_agents.chat.context import Answer, ChatContext
    from finmatch_agents.llm.pii import Masker
    from finmatch_agents.semantic.layer import SemanticLayer
    from finmatch_agents.warehouse.engine import QueryResult

MAX_TOOL_ROWS = 50
FOCUS_CHOICES: list[JsonValue] = [*FOCUS_ORDER, FOCUS_ALL]


class AnalysisArgs(ToolArgs):
    focus: list[str] = Field(default_factory=lambda: [FOCUS_ALL], max_length=len(FOCUS_CHOICES),
                             json_schema_extra={"items": {"type": "string", "enum": FOCUS_CHOICES}})

    @field_validator("focus")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        try:
            resolve_focus(value)
        except UsageError as exc:  # a validation error (a tool error for the model), naming the unknown agent
            raise ValueError(exc.message) from exc
        return value


class ReportArgs(ToolArgs):
    run_id: str = Field(default="", max_length=64)


class CustomerArgs(ToolArgs):
    segment: str | None = Field(default=None, max_length=100)
    lifecycle_stage: str | None = Field(default=None, max_length=100)
    product_type: str | None = Field(default=None, max_length=100)
    status: str | None = Field(default=None, max_length=100)
    min_churn: float | None = Field(default=None, ge=0, le=1)
    max_satisfaction: float | None = Field(default=None, ge=0, le=10)
    limit: int = Field(default=20, ge=1, le=MAX_TOOL_ROWS)


class MatchCustomerArgs(ToolArgs):
    customer_id: str = Field(min_length=1, max_length=64)
    top: int = Field(default=3, ge=1, le=10)


class RecommendCustomerArgs(ToolArgs):
    customer_id: str = Field(min_length=1, max_length=64)
    top: int = Field(default=3, ge=1, le=10)


class SimilarArgs(ToolArgs):
    """A plain-language audience question, or customers to find look-alikes of (one of the two)."""

    question: str | None = Field(default=None, max_length=500, description="Which customers, in plain language: "
                                 "constraints the semantic model knows, then what they might want after "
                                 "'interested in', e.g. 'customers with credit score over 750 interested in "
                                 "investment products'.")
    like: list[str] = Field(default_factory=list, max_length=20, description="Customer ids to find look-alikes of "
                            "(instead of a question).")
    top: int = Field(default=10, ge=1, le=MAX_TOOL_ROWS)


class QueryArgs(ToolArgs):
    """The structured query (its JSON schema, with the model's names and values, comes from the session's
    semantic layer: :func:`query_args`)."""

    measures: list[str] = Field(min_length=1, max_length=6)
    group_by: list[str] = Field(default_factory=list, max_length=3)
    filters: list[dict[str, JsonValue]] = Field(default_factory=list, max_length=8)
    ranges: list[dict[str, JsonValue]] = Field(default_factory=list, max_length=4)
    period: str | None = Field(default=None, max_length=100)
    compare: list[str] | None = Field(default=None, min_length=2, max_length=2)
    breakdown: bool = False
    top: int | None = Field(default=None, ge=1, le=100)
    order: Literal["desc", "asc"] | None = None


def query_args(layer: SemanticLayer) -> type[QueryArgs]:
    schema = tool_schema(layer)

    class SessionQueryArgs(QueryArgs):
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return copy.deepcopy(schema)

    return SessionQueryArgs


class ChatTools:
    """The tools of one chat session; ``query_ids`` collects the queries an answer ran."""

    def __init__(self, session: ChatContext, masker: Masker) -> None:
        self.session, self.masker = session, masker
        self.query_ids: list[str] = []
        #: what the engines' tools returned (match, similar): numbers the model may repeat, so they ground its
        #: answer like query results do (they are computed from the session's queries, not by the model)
        self.outputs: list[Any] = []
        engine = session.engine

        def run_sql(sql: str, purpose: str, rows: int) -> QueryResult:
            return session.query(sql, f"Chat model query: {purpose}", max_rows=rows)

        self.access = DataAccess(run_sql=run_sql, tables=engine.tables(),
                                 describe=lambda t: [(c.name, c.type) for c in engine.columns(t)],
                                 masker=masker, max_rows=MAX_TOOL_ROWS, query_ids=self.query_ids)

    def answer_json(self, answer: Answer) -> str:
        self.query_ids += answer.query_ids
        data = {"text": answer.text, "tables": [{"title": t.title, "rows": t.rows[:MAX_TOOL_ROWS]}
                                                for t in answer.tables]}
        return self.masker.text(json.dumps(data, default=str))

    def customers_sql(self, args: CustomerArgs) -> str:
        s = self.session
        present = {c.name for c in s.engine.columns(s.settings.table)}
        filters, wanted = [], []
        for key, col in (("segment", "customer_segment"), ("lifecycle_stage", "customer_lifecycle_stage"),
                         ("product_type", "product_type"), ("status", "product_recommendation_status")):
            value = getattr(args, key)
            if value and col in present:
                filters.append(f"{col} = {literal(value)}")
        if args.min_churn is not None and "customer_churn_probability" in present:
            filters.append(f"customer_churn_probability >= {args.min_churn!r}")
        if args.max_satisfaction is not None and "customer_satisfaction_score" in present:
            filters.append(f"customer_satisfaction_score <= {args.max_satisfaction!r}")
        for col in ("customer_id", "customer_name", "customer_segment", "customer_lifecycle_stage",
                    "customer_churn_probability", "customer_satisfaction_score"):
            if col in present:
                wanted.append(col)
        where = f" WHERE {' AND '.join(filters)}" if filters else ""
        cols = ", ".join(quote_ident(c) if c != "customer_churn_probability" else "max(customer_churn_probability) "
                         "AS customer_churn_probability" for c in wanted)
        group = ", ".join(quote_ident(c) for c in wanted if c != "customer_churn_probability")
        return (f"SELECT {cols} FROM {quote_ident(s.settings.table)}{where} GROUP BY {group} "
                f"ORDER BY customer_id LIMIT {args.limit}")

    def query_data(self, args: QueryArgs) -> str:
        """The semantic model's compiler for the model: the same statement an offline question compiles to."""
        layer = self.session.semantic
        try:
            query = to_query(layer, args.model_dump())
            compiled = layer.compile(query)
        except ValueError as exc:
            return f"not done: {exc}"
        except UsageError as exc:
            return f"not done: {exc.message}"
        res = self.session.query(compiled.sql, f"Chat model query: {compiled.title}", max_rows=MAX_TOOL_ROWS)
        self.query_ids.append(res.id)
        data = json.loads(self.access.rows_json(compiled.sql, res))
        data.update({"interpretation": compiled.title, "units": {k: u for k, _h, u in compiled.columns}})
        return self.masker.text(json.dumps(data, default=str))

    def match_customer(self, args: MatchCustomerArgs) -> str:
        """`finmatch match customer ID` for the model: the engine's offers for one customer, the products it
        left out and the gates they failed (the engine's queries are logged and cited like any other)."""
        from finmatch_agents.features import present_columns  # start-up speed: NumPy and the engine on first use
        from finmatch_agents.match.explain import explain_customer_id, for_model  # start-up speed
        from finmatch_agents.match.params import MatchParams  # start-up speed

        s = self.session
        before = len(s.log.records)
        try:
            params = MatchParams(top=args.top,
                                 high_churn_threshold=float(load_assumptions(s.settings)["high_churn_threshold"]))
            detail = explain_customer_id(s.engine, s.log, s.settings.table, present_columns(s.engine, s.settings.table),
                                         params, args.customer_id)
        except FinMatchError as exc:
            return f"not done: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
        finally:
            self.query_ids += [r.id for r in s.log.records[before:] if r.status == "ok"]
        shown = for_model(detail)
        self.outputs.append(shown)
        return self.masker.text(json.dumps(shown, default=str))

    def recommend_customer(self, args: RecommendCustomerArgs) -> str:
        """`finmatch recommend for ID` for the model: the serving recommender's next products for one customer
        with a reason each, and whether that recommender is promoted or a baseline (its held-products query is
        logged and cited like any other)."""
        s = self.session
        before = len(s.log.records)
        try:
            result = recommendations_for(s.settings, s.engine, s.log, args.customer_id, args.top)
        except FinMatchError as exc:
            return f"not done: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
        finally:
            self.query_ids += [r.id for r in s.log.records[before:] if r.status == "ok"]
        keep = ("customer_id", "model_id", "recommender", "label", "promoted", "baseline", "gate", "products",
                "held_or_answered", "data_last_date")
        shown = {k: result[k] for k in keep}
        self.outputs.append(shown)
        return self.masker.text(json.dumps(shown, default=str))

    def similar_customers(self, args: SimilarArgs) -> str:
        """The similarity search (exact constraints, ranked by meaning) or look-alikes, as JSON for the model."""
        from finmatch_agents.similar import api  # start-up speed: numpy and the index only when the tool is used

        s = self.session
        if bool(args.question) == bool(args.like):
            return "not done: give either a question or customer ids to find look-alikes of (one of the two)"
        before = len(s.log.records)
        try:
            if args.like:
                result = api.like(s.settings, s.engine, s.log, args.like, args.top)
            else:
                assert args.question is not None
                result = api.search(s.settings, s.engine, s.log, args.question, args.top)
        except FinMatchError as exc:
            return f"not done: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
        self.query_ids += [r.id for r in s.log.records[before:]]
        keep = ("interpretation", "seed", "ranker_label", "matched", "customers", "seed_size", "lookalikes",
                "notes", "results")
        shown = {k: result[k] for k in keep if k in result}
        self.outputs.append(shown)
        return self.masker.text(json.dumps(shown, default=str))

    def tools(self) -> list[Tool]:
        s = self.session
        run_sql, _describe = data_tools(self.access)
        return [
            Tool("list_tables", "Tables in the database with row counts.", NoArgs,
                 lambda _a: self.answer_json(commands.tables(s, ""))),
            Tool("describe_table", "Columns of a table with their types and meaning.", TableArgs,
                 lambda a: self.answer_json(commands.describe(s, a.table))),
            Tool("run_sql", "Run one read-only SELECT (DuckDB SQL) and get up to 50 rows.", SqlArgs, run_sql.run),
            Tool("query_data", "Compute measures of the semantic model (filters, groups, a period or a comparison of "
                 "two) with the reviewed SQL compiler. Prefer it to run_sql for anything it covers.",
                 query_args(s.semantic), self.query_data),
            Tool("get_metrics", "The KPI dashboard (acceptance, score, satisfaction, churn, sales, balances).", NoArgs,
                 lambda _a: self.answer_json(commands.metrics(s, ""))),
            Tool("run_analysis", "Run the full FinMatch analysis for some focus agents and get the report's "
                 "executive summary. Slow; use when asked for an analysis or report.", AnalysisArgs,
                 lambda a: self.masker.text(commands.analyze(s, " ".join(a.focus)).text)),
            Tool("show_report", "The executive summary of a past run's report (latest by default).", ReportArgs,
                 lambda a: self.masker.text(commands.report(s, a.run_id).text)),
            Tool("find_customers", "Customers matching filters, with segment, lifecycle stage, churn and satisfaction "
                 "(names and e-mails are masked).", CustomerArgs,
                 lambda a: run_sql.run(SqlArgs(sql=self.customers_sql(a), purpose="customers matching filters"))),
            Tool("match_customer", "The product-matching engine for one customer id: the suitable products it would "
                 "offer, in order (suitability gates, then distance, then the customer's preferences), the customer's "
                 "metrics, and every product it leaves out with the gates that product fails.", MatchCustomerArgs,
                 self.match_customer),
            Tool("recommend_customer", "The trained recommender's next products for one customer id (what to offer "
                 "next), best first, each with its score and a reason (e.g. what customers holding the same products "
                 "also accepted); says whether the recommender is promoted through its gate or only a baseline. "
                 "Train one with `finmatch recommend train` if it says there is none.", RecommendCustomerArgs,
                 self.recommend_customer),
            Tool("similar_customers", "Find customers like these: a plain-language question (exact constraints from "
                 "the semantic model, then ranked by what they might want, each with why it matched), or the "
                 "customers most like given customer ids. Says how many meet the constraints and which ranker "
                 "answered.", SimilarArgs, self.similar_customers),
        ]
