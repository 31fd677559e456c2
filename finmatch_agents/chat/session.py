"""One chat session: the sandbox, the transcript, and how a line of input becomes an answer.

* ``/command`` lines are slash commands (work with or without a model).
* Other lines, in this order: a verified question (reviewed SQL); else the question compiler (the semantic
  model's parse, one compiled statement); else, with a model, the shared tool-calling loop
  (``chat/agent.py``), using the same sandboxed tools (the compiler among them) and citing its queries.
  Offline, or when the model fails, a question neither of the first two answers gets an honest "I can't
  answer that" with what was understood and close questions, never an invented answer (``ask`` exits 4
  when the model was needed and failed).

Every query of the session is numbered in the session (``Q1``, ``Q2``… continuing after a restart), logged
to the SQL audit file and kept for ``/save``'s provenance appendix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.chat.agent import ChatAgent
from finmatch_agents.chat.answers import answer_verified
from finmatch_agents.chat.commands import run_command
from finmatch_agents.chat.compiled import refusal, run_compiled
from finmatch_agents.chat.context import Answer
from finmatch_agents.chat.library import find_verified
from finmatch_agents.chat.store import ChatStore, check_name
from finmatch_agents.data import queries
from finmatch_agents.data.checks import table_meta
from finmatch_agents.data.default_db import ensure_default_database
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.llm.calls import ModelCallError, call_with_retries
from finmatch_agents.llm.models import OFFLINE, build_chat_model, resolve_model
from finmatch_agents.runner import run_analysis
from finmatch_agents.semantic.layer import SemanticLayer
from finmatch_agents.semantic.model import load_model
from finmatch_agents.warehouse.engine import open_engine

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.records import Query
    from finmatch_agents.runner import RunRequest, RunResult
    from finmatch_agents.warehouse.engine import DuckDBEngine, QueryResult
    from finmatch_agents.warehouse.named import Skipped

Event = Callable[[dict[str, Any]], None]


class ChatSession:
    def __init__(self, settings: Settings, name: str, *, on_event: Event | None = None,
                 notify: Callable[[str], None] | None = None, engine: DuckDBEngine | None = None) -> None:
        """``engine``: a sandbox the caller owns (``finmatch serve`` lends one per request and may replace
        ``self.engine`` between answers); without it the session opens its own and closes it."""
        self.settings, self.name = settings, check_name(name)
        self.model = settings.model
        self.on_event = on_event or (lambda _e: None)
        self._own_engine = engine is None
        if engine is None:
            ensure_default_database(settings, notify or (lambda _m: None))
        self.engine = engine if engine is not None else open_engine(settings)
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
        self.model_spec = load_model(settings)  # checks [semantic] in finmatch.toml up front
        self._semantic: SemanticLayer | None = None
        self._vocabulary_log = QueryLog("V", agent="chat", step=f"{self.name}:vocabulary", sinks=[
            AuditLog(settings.state_dir / "sql-audit.jsonl", f"chat:{self.name}")])
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
        return cols | {f"{table}.{c.name}" for table in ("products", "scores") for c in self.engine.columns(table)}

    def query(self, sql: str, title: str, max_rows: int | None = None) -> QueryResult:
        return self.engine.query(sql, log=self.log, title=title, max_rows=max_rows)

    @property
    def semantic(self) -> SemanticLayer:
        """The semantic layer of this database, learned (two queries) the first time a question needs it."""
        if self._semantic is None:
            def run(sql: str, title: str) -> QueryResult:
                return self.engine.query(sql, log=self._vocabulary_log, title=title)

            self._semantic = SemanticLayer.learn(self.model_spec, run, self.settings.table, self.present)
        return self._semantic

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

    def test_model(self, name: str) -> str | None:
        """One tiny call to ``name``'s endpoint: None when it answers, else why not (``/model`` switches only
        to a model that answers)."""
        if name == OFFLINE:
            return None
        cfg = resolve_model(name, self.settings)
        if cfg.api_key_env and not cfg.key_present:
            return f"the environment variable {cfg.api_key_env} is not set"
        try:
            call_with_retries(lambda: build_chat_model(cfg).invoke("Reply with the single word: ok"), cfg,
                              prompt_chars=30, budget=None)
        except ModelCallError as exc:
            return exc.message
        return None

    # -- answering ------------------------------------------------------------------------------------------
    def ask(self, text: str, on_token: Callable[[str], None] | None = None) -> Answer:
        text = text.strip()
        if not text:
            return Answer("command", "")
        before = len(self.log.records)
        if text.startswith("/"):
            answer = run_command(self, text)
        else:
            answer = self.offline(text)
            if answer.kind == "unknown" and self._agent is not None:
                answer = self._model_answer(text, on_token, answer)
        if answer.kind != "exit":
            self.store.add_turn(self.name, text, answer.to_dict(), self.log.records[before:])
        return answer

    def offline(self, text: str) -> Answer:
        """A verified answer, else a compiled one, else a refusal that says what was understood."""
        parse = self.semantic.parse(text)
        found = find_verified(text, parse, self.semantic)
        if found is not None:
            return answer_verified(self, found, text)
        if parse.query is not None:
            return run_compiled(self, parse.query, parse.direction)
        return refusal(self, parse)

    def _model_answer(self, text: str, on_token: Callable[[str], None] | None, offline: Answer) -> Answer:
        """The model answers what the offline path could not; when it fails, the refusal stands (exit 4)."""
        answer: Answer = self._agent.answer(text, on_token)
        if answer.kind == "error" and self._agent.last_failure:
            offline.text = (f"_The model {self.model} failed ({self._agent.last_failure}), and the question needs "
                            f"it._\n\n{offline.text}")
            offline.kind, offline.exit_code = "error", answer.exit_code
            offline.query_ids = answer.query_ids
            return offline
        return answer

    @property
    def model_failure(self) -> str | None:
        """Why the model failed on the last answer that needed it (None when it did not fail)."""
        return self._agent.last_failure if self._agent is not None else None

    def run_analysis(self, request: RunRequest) -> RunResult:
        """The analysis runs in a worker thread, so Ctrl-C reaches this one: it cancels the run (at its next
        event, as an interrupted, resumable run) and the session goes on."""
        cancel, done = threading.Event(), threading.Event()
        outcome: dict[str, Any] = {}

        stopped = threading.Event()

        def relay(event: dict[str, Any]) -> None:
            if cancel.is_set() and not stopped.is_set():
                stopped.set()  # once: the runner's own "interrupted" events come through this relay too
                raise KeyboardInterrupt  # the runner records the run as interrupted and raises Interrupted
            if event["event"] in ("step_finished", "report_written", "warning", "error"):
                self.on_event({**event, "event": f"analysis_{event['event']}"})

        def work() -> None:
            try:
                outcome["result"] = run_analysis(self.settings, request, relay)
            except BaseException as exc:  # handed to the session's thread below
                outcome["error"] = exc
            finally:
                done.set()

        worker = threading.Thread(target=work, name=f"chat-analysis-{self.name}", daemon=True)
        worker.start()
        while not done.is_set():
            try:
                done.wait(0.2)  # not Thread.join: a KeyboardInterrupt inside join can mark a live thread stopped
            except KeyboardInterrupt:
                if not cancel.is_set():
                    cancel.set()
                    self.on_event({"event": "warning", "message": "cancelling the analysis (finished steps are "
                                                                  "kept; /analyze --resume RUN_ID continues it)"})
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        result: RunResult = outcome["result"]
        return result

    def queries(self) -> list[Query]:
        return self.store.queries(self.name)

    def close(self) -> None:
        if self._agent is not None:
            self._agent.close()
        if self._own_engine:
            self.engine.close()
        self.store.close()
