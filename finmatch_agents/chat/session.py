"""One chat session: the sandbox, the transcript, and how a line of input becomes an answer.

* ``/command`` lines are slash commands (work with or without a model).
* Other lines, offline: matched against the verified questions; no match means an honest "I can't answer
  that offline" with suggestions, never an invented answer.
* Other lines, with a model: the shared tool-calling loop (``chat/agent.py``) answers, using the same
  sandboxed tools and citing the queries it ran.

Every query of the session is numbered in the session (``Q1``, ``Q2``… continuing after a restart), logged
to the SQL audit file and kept for ``/save``'s provenance appendix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.chat.agent import ChatAgent
from finmatch_agents.chat.answers import answer_verified
from finmatch_agents.chat.commands import run_command
from finmatch_agents.chat.context import Answer
from finmatch_agents.chat.questions import match, suggestions
from finmatch_agents.chat.store import ChatStore, check_name
from finmatch_agents.data import queries
from finmatch_agents.data.checks import table_meta
from finmatch_agents.data.generator import ensure_default_database
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.llm.models import OFFLINE, resolve_model
from finmatch_agents.runner import run_analysis
from finmatch_agents.warehouse.engine import open_engine

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.records import Query
    from finmatch_agents.runner import RunRequest, RunResult
    from finmatch_agents.warehouse.engine import QueryResult
    from finmatch_agents.warehouse.named import Skipped

Event = Callable[[dict[str, Any]], None]


class ChatSession:
    def __init__(self, settings: Settings, name: str, *, on_event: Event | None = None,
                 notify: Callable[[str], None] | None = None) -> None:
        self.settings, self.name = settings, check_name(name)
        self.model = settings.model
        self.on_event = on_event or (lambda _e: None)
        ensure_default_database(settings, notify or (lambda _m: None))
        self.engine = open_engine(settings)
        if self.engine.has_table(settings.table):  # money in the data's currency, as in analyze and metrics
            recorded = table_meta(self.engine, settings.table).get("currency")
            if isinstance(recorded, str) and recorded != settings.currency:
                self.settings = settings = settings.with_overrides(currency=recorded)
        self.store = ChatStore(settings.state_dir / "chat.sqlite")
        self.resumed = self.store.open_session(self.name, self.model, str(settings.db))
        self.log = QueryLog("Q", agent="chat", step=self.name, allocate=lambda: self.store.allocate_query_number(
            self.name), sinks=[AuditLog(settings.state_dir / "sql-audit.jsonl", f"chat:{self.name}",
                                        warn=lambda m: self.on_event({"event": "warning", "message": m})),
                               self._query_event])
        self.assumptions = load_assumptions(settings)
        self._agent: Any = None
        if self.model != OFFLINE:
            self.set_model(self.model)

    # -- evidence -------------------------------------------------------------------------------------------
    def _query_event(self, record: Query) -> None:
        self.on_event({"event": "query", "query_id": record.id, "title": record.title, "status": record.status,
                       "rows": record.rows, "elapsed_ms": record.elapsed_ms, "rule": record.rule})

    @property
    def present(self) -> set[str]:
        cols = {c.name for c in self.engine.columns(self.settings.table)}
        return cols | {f"products.{c.name}" for c in self.engine.columns("products")}

    def query(self, sql: str, title: str, max_rows: int | None = None) -> QueryResult:
        return self.engine.query(sql, log=self.log, title=title, max_rows=max_rows)

    def named(self, name: str, **params: object) -> QueryResult | Skipped:
        return queries.run(self.engine, self.log, name, present=self.present, table=self.settings.table,
                           products="products", **{**self.assumptions.params(), **params})

    # -- model ----------------------------------------------------------------------------------------------
    def set_model(self, name: str) -> None:
        if name == OFFLINE:
            self.model, self._agent = OFFLINE, None
            return
        cfg = resolve_model(name, self.settings)  # raises a UsageError for unknown names
        self._agent = ChatAgent(self, cfg)
        self.model = name

    # -- answering ------------------------------------------------------------------------------------------
    def ask(self, text: str, on_token: Callable[[str], None] | None = None) -> Answer:
        text = text.strip()
        if not text:
            return Answer("command", "")
        before = len(self.log.records)
        if text.startswith("/"):
            answer = run_command(self, text)
        elif self._agent is None:
            answer = self.verified(text)
        else:
            answer = self._agent.answer(text, on_token)
            if answer.kind == "error" and self._agent.last_failure:
                answer = self._offline_instead(text, answer, self._agent.last_failure)
        if answer.kind != "exit":
            self.store.add_turn(self.name, text, answer.to_dict(), self.log.records[before:])
        return answer

    def _offline_instead(self, text: str, failed: Answer, reason: str) -> Answer:
        """The model failed: give the verified answer when the question has one, still flagged (exit 4)."""
        offline = self.verified(text)
        if offline.kind != "verified":
            return failed
        offline.text = f"_The model {self.model} failed ({reason}); this is the verified offline answer._\n\n" \
                       + offline.text
        offline.exit_code = failed.exit_code
        return offline

    def verified(self, text: str) -> Answer:
        found = match(text)
        if found is None:
            tips = "\n".join(f"- {s}" for s in suggestions(text))
            return Answer("unknown", "I can't answer that offline: it matches none of the verified questions, and "
                          "no model is configured, so I won't guess.\n\nYou can run your own query with `/sql "
                          "SELECT ...`, configure a model (`finmatch models list`, then `/model NAME`), or ask one "
                          f"of these:\n{tips}")
        return answer_verified(self, found, text)

    def run_analysis(self, request: RunRequest) -> RunResult:
        def relay(event: dict[str, Any]) -> None:
            if event["event"] in ("step_finished", "report_written", "warning", "error"):
                self.on_event({**event, "event": f"analysis_{event['event']}"})

        return run_analysis(self.settings, request, relay)

    def queries(self) -> list[Query]:
        return self.store.queries(self.name)

    def close(self) -> None:
        if self._agent is not None:
            self._agent.close()
        self.engine.close()
        self.store.close()
