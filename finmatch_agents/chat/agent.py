"""The chat's model mode: a LangGraph tool-calling agent over the sandboxed data.

Graph: ``model`` → (tool calls?) → ``tools`` → ``model`` … → END. Each session is a checkpointer thread
(``chat_checkpoints.sqlite``), so ``--session NAME`` resumes the conversation after a restart. Before each
call the history is trimmed to the model's context budget; the system prompt is always sent. Tools run
through the same sandbox (and PII masking) as everything else and are bounded per answer. The answer's
numbers are checked against the session's query results and its queries are cited.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

# LangGraph reads node annotations at runtime, so MessagesState must be a real module-level name.
from langgraph.graph import MessagesState

from finmatch_agents.chat.answers import Answer, refs
from finmatch_agents.errors import FinMatchError
from finmatch_agents.llm import prompts
from finmatch_agents.llm.calls import ModelCallError, call_with_retries, estimate_tokens

if TYPE_CHECKING:
    from finmatch_agents.chat.session import ChatSession
    from finmatch_agents.llm.models import ModelConfig

MAX_TOOL_CALLS = 6
MAX_TOOL_ROWS = 50
MAX_TOOL_CHARS = 8_000
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "list_tables", "description": "Tables in the database with row counts.",
                                      "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {
        "name": "describe_table", "description": "Columns of a table with their types and meaning.",
        "parameters": {"type": "object", "properties": {"table": {"type": "string"}}, "required": ["table"]}}},
    {"type": "function", "function": {
        "name": "run_sql", "description": "Run one read-only SELECT (DuckDB SQL) and get up to 50 rows.",
        "parameters": {"type": "object", "properties": {"sql": {"type": "string"}, "purpose": {"type": "string"}},
                       "required": ["sql", "purpose"]}}},
    {"type": "function", "function": {"name": "get_metrics", "description": "The KPI dashboard (acceptance, score, "
                                      "satisfaction, churn, sales, balances).",
                                      "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {
        "name": "run_analysis", "description": "Run the full FinMatch analysis for some focus agents and get the "
        "report's executive summary. Slow; use when asked for an analysis or report.",
        "parameters": {"type": "object", "properties": {"focus": {"type": "array", "items": {
            "type": "string", "enum": ["performance", "optimization", "financial-impact", "strategy", "all"]}}}}}},
    {"type": "function", "function": {
        "name": "show_report", "description": "The executive summary of a past run's report (latest by default).",
        "parameters": {"type": "object", "properties": {"run_id": {"type": "string"}}}}},
    {"type": "function", "function": {
        "name": "find_customers", "description": "Customers matching filters, with segment, lifecycle stage, churn "
        "and satisfaction (names and e-mails are masked).",
        "parameters": {"type": "object", "properties": {
            "segment": {"type": "string"}, "lifecycle_stage": {"type": "string"}, "product_type": {"type": "string"},
            "status": {"type": "string"}, "min_churn": {"type": "number"}, "max_satisfaction": {"type": "number"},
            "limit": {"type": "integer"}}}}},
]


class ChatAgent:
    def __init__(self, session: ChatSession, cfg: ModelConfig, chat: Any = None) -> None:
        from finmatch_agents.llm.pii import Masker, load_key
        from finmatch_agents.llm.registry import privacy
        from finmatch_agents.runs import open_saver

        self.session, self.cfg = session, cfg
        columns, self.unmask = privacy(session.settings)
        self.masker = Masker.for_engine(load_key(session.settings.state_dir), columns, session.engine)
        self._chat = chat
        self.checkpointer = open_saver(session.settings.state_dir / "chat_checkpoints.sqlite")
        self.graph = self._build()
        self._tool_calls = 0
        self._turn_queries: list[str] = []

    @property
    def chat(self) -> Any:
        if self._chat is None:
            from finmatch_agents.llm.models import build_chat_model

            self._chat = build_chat_model(self.cfg)
        return self._chat

    @chat.setter
    def chat(self, value: Any) -> None:
        self._chat = value

    def close(self) -> None:
        self.checkpointer.conn.close()

    # -- the graph ------------------------------------------------------------------------------------------
    def _system_prompt(self) -> str:
        from finmatch_agents.data.schema import schema_text

        s = self.session
        present = {c.name for c in s.engine.columns(s.settings.table)}
        return prompts.render("chat", schema=schema_text("fpr_records", present),
                              tables=", ".join(s.engine.tables()), currency=s.settings.currency,
                              max_tool_calls=MAX_TOOL_CALLS)

    def _build(self) -> Any:
        from langchain_core.messages import SystemMessage, ToolMessage, trim_messages
        from langgraph.graph import END, START, StateGraph

        def count(messages: list[Any]) -> int:
            return sum(estimate_tokens(str(m.content)) + 8 for m in messages)

        def model_node(state: MessagesState) -> dict[str, Any]:
            history = trim_messages(state["messages"], max_tokens=self.cfg.context_tokens, token_counter=count,
                                    strategy="last", start_on="human", allow_partial=False)
            messages = [SystemMessage(self.masker.text(self._system_prompt())), *history]
            bound = self.chat.bind_tools(TOOLS) if self.cfg.tools else self.chat
            try:
                reply, record = call_with_retries(lambda: bound.invoke(messages), self.cfg,
                                                  prompt_chars=sum(len(str(m.content)) for m in messages),
                                                  budget=None)
            except ModelCallError as exc:
                self.session.on_event({"event": "model_call", "status": "error", "model": self.cfg.name,
                                       "latency_ms": exc.latency_ms, "attempts": exc.attempts, "error": exc.message})
                raise
            self.session.on_event({"event": "model_call", "status": "ok", "model": self.cfg.name,
                                   "latency_ms": record.latency_ms, "attempts": record.attempts,
                                   "total_tokens": record.usage.total})
            return {"messages": [reply]}

        def tools_node(state: MessagesState) -> dict[str, Any]:
            last = state["messages"][-1]
            out = []
            for call in getattr(last, "tool_calls", []) or []:
                if self._tool_calls >= MAX_TOOL_CALLS:
                    content = "tool budget for this answer is used up: answer with what you have"
                else:
                    self._tool_calls += 1
                    content = self.run_tool(call["name"], call.get("args") or {})
                out.append(ToolMessage(content=content[:MAX_TOOL_CHARS], tool_call_id=call["id"]))
            return {"messages": out}

        def route(state: MessagesState) -> str:
            return "tools" if getattr(state["messages"][-1], "tool_calls", None) else END

        graph = StateGraph(MessagesState)
        graph.add_node("model", model_node)
        graph.add_node("tools", tools_node)
        graph.add_edge(START, "model")
        graph.add_conditional_edges("model", route, ["tools", END])
        graph.add_edge("tools", "model")
        return graph.compile(checkpointer=self.checkpointer, name="finmatch-chat")

    # -- tools ----------------------------------------------------------------------------------------------
    def run_tool(self, name: str, args: dict[str, Any]) -> str:
        from finmatch_agents.chat import commands

        s = self.session
        try:
            if name == "list_tables":
                return self._answer_json(commands.tables(s, ""))
            if name == "describe_table":
                return self._answer_json(commands.describe(s, str(args.get("table", ""))))
            if name == "get_metrics":
                return self._answer_json(commands.metrics(s, ""))
            if name == "show_report":
                return self.masker.text(commands.report(s, str(args.get("run_id") or "")).text)
            if name == "run_analysis":
                focus = [str(f) for f in args.get("focus") or ["all"]]
                return self.masker.text(commands.analyze(s, " ".join(focus)).text)
            if name == "find_customers":
                return self._rows(*self._customers_sql(args))
            if name == "run_sql":
                return self._rows(str(args.get("sql", "")), str(args.get("purpose", ""))[:120] or "model query")
        except FinMatchError as exc:
            return f"not done: {exc.message}"
        return f"unknown tool {name}"

    def _rows(self, sql: str, purpose: str) -> str:
        try:
            res = self.session.query(sql, f"Chat model query: {purpose}", max_rows=MAX_TOOL_ROWS)
        except FinMatchError as exc:
            return f"query not run: {exc.message}"
        self._turn_queries.append(res.id)
        rows = self.masker.rows(sql, res.columns, res.rows)
        return json.dumps({"query_id": res.id, "columns": res.columns, "rows": rows, "truncated": res.truncated},
                          default=str)

    def _answer_json(self, answer: Answer) -> str:
        self._turn_queries += answer.query_ids
        data = {"text": answer.text, "tables": [{"title": t.title, "rows": t.rows[:MAX_TOOL_ROWS]}
                                                for t in answer.tables]}
        return self.masker.text(json.dumps(data, default=str))

    def _customers_sql(self, args: dict[str, Any]) -> tuple[str, str]:
        from finmatch_agents.warehouse.sqltext import literal, quote_ident

        s = self.session
        present = {c.name for c in s.engine.columns(s.settings.table)}
        filters, wanted = [], []
        for key, col in (("segment", "customer_segment"), ("lifecycle_stage", "customer_lifecycle_stage"),
                         ("product_type", "product_type"), ("status", "product_recommendation_status")):
            if args.get(key) and col in present:
                filters.append(f"{col} = {literal(str(args[key]))}")
        if args.get("min_churn") is not None and "customer_churn_probability" in present:
            filters.append(f"customer_churn_probability >= {float(args['min_churn'])!r}")
        if args.get("max_satisfaction") is not None and "customer_satisfaction_score" in present:
            filters.append(f"customer_satisfaction_score <= {float(args['max_satisfaction'])!r}")
        for col in ("customer_id", "customer_name", "customer_segment", "customer_lifecycle_stage",
                    "customer_churn_probability", "customer_satisfaction_score"):
            if col in present:
                wanted.append(col)
        limit = max(1, min(int(args.get("limit") or 20), MAX_TOOL_ROWS))
        where = f" WHERE {' AND '.join(filters)}" if filters else ""
        cols = ", ".join(quote_ident(c) if c != "customer_churn_probability" else "max(customer_churn_probability) "
                         "AS customer_churn_probability" for c in wanted)
        group = ", ".join(quote_ident(c) for c in wanted if c != "customer_churn_probability")
        sql = (f"SELECT {cols} FROM {quote_ident(s.settings.table)}{where} GROUP BY {group} "
               f"ORDER BY customer_id LIMIT {limit}")
        return sql, "customers matching filters"

    # -- one answer -----------------------------------------------------------------------------------------
    def answer(self, text: str, on_token: Callable[[str], None] | None = None) -> Answer:
        from langchain_core.messages import HumanMessage

        self._tool_calls, self._turn_queries = 0, []
        config: Any = {"configurable": {"thread_id": self.session.name}}
        streamed = False
        try:
            for mode, payload in self.graph.stream({"messages": [HumanMessage(self.masker.text(text))]}, config,
                                                   stream_mode=["messages"]):
                chunk, meta = payload
                if mode == "messages" and meta.get("langgraph_node") == "model" and on_token is not None:
                    token = chunk.content if isinstance(chunk.content, str) else ""
                    if token:
                        on_token(token)
                        streamed = True
        except KeyboardInterrupt:
            self._repair(config)
            raise
        except ModelCallError as exc:
            self._repair(config)
            return Answer("error", f"The model failed: {exc.message}. Slash commands still work, and `/model "
                                   "offline` answers the verified questions.", query_ids=self._turn_queries)
        final = self.graph.get_state(config).values["messages"][-1]
        reply = str(final.content or "").strip() or "(the model returned no text)"
        reply, missing = self._ground(reply)
        if self.unmask:
            reply = self.masker.unmask(reply)
        cited = set(_ids(reply))
        uncited = [q for q in self._turn_queries if q not in cited]
        if uncited:
            reply += f"\n\nQueries used: {refs(*uncited)}"
        if missing:
            reply += f"\n\n_Numbers not found in this session's query results: {', '.join(missing)}._"
        return Answer("model", reply, query_ids=list(dict.fromkeys(self._turn_queries)), streamed=streamed)

    def _ground(self, text: str) -> tuple[str, list[str]]:
        import re

        from finmatch_agents.llm.grounding import Evidence, ungrounded

        evidence = Evidence.from_queries([r.to_dict() for r in self.session.log.records],
                                         [self.session.assumptions.params()])
        missing = ungrounded(text, evidence)
        for raw in dict.fromkeys(missing):
            text = re.sub(rf"(?<![\w.]){re.escape(raw)}(?![\w])", f"{raw} (unverified)", text, count=1)
        return text, list(dict.fromkeys(missing))

    def _repair(self, config: Any) -> None:
        """After a cancelled answer, answer any dangling tool calls so the history stays valid."""
        from langchain_core.messages import ToolMessage

        state = self.graph.get_state(config)
        messages = state.values.get("messages", []) if state.values else []
        last = messages[-1] if messages else None
        pending = getattr(last, "tool_calls", None) or []
        if pending:
            self.graph.update_state(config, {"messages": [ToolMessage(content="cancelled by the user",
                                                                      tool_call_id=c["id"]) for c in pending]},
                                    as_node="tools")


def _ids(text: str) -> list[str]:
    import re

    return re.findall(r"\[(Q\d+)\]", text)
