"""The chat's model mode: the shared tool-calling loop (:mod:`finmatch_agents.llm.loop`) over the sandbox.

Each session is a checkpointer thread (``chat_checkpoints.sqlite``), so ``--session NAME`` resumes the
conversation after a restart. Before each call the history is trimmed to the model's context budget; the
system prompt and the question being answered are always sent. Tools run through the same sandbox (and PII
masking) as everything else. Bounds: model turns and tool calls per answer, model calls per session
(``[llm]`` in finmatch.toml); after each answer the thread is compacted to one checkpoint holding a bounded
history, so the checkpoint file does not grow with the session. The answer's numbers are checked against
the session's query results and its queries are cited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage, ToolMessage, trim_messages

from finmatch_agents.chat.context import Answer, ChatContext, refs
from finmatch_agents.chat.tools import ChatTools
from finmatch_agents.data.schema import schema_text
from finmatch_agents.ids import query_refs
from finmatch_agents.llm import prompts
from finmatch_agents.llm.calls import Usage, estimate_tokens
from finmatch_agents.llm.grounding import Evidence, mark_unverified, ungrounded
from finmatch_agents.llm.loop import LoopLimits, LoopServices, build_loop
from finmatch_agents.llm.models import build_chat_model
from finmatch_agents.llm.pii import Masker, load_key
from finmatch_agents.llm.registry import llm_limits, privacy
from finmatch_agents.runs import open_saver
from finmatch_agents.semantic.describe import context_text

if TYPE_CHECKING:
    from finmatch_agents.llm.models import ModelConfig

#: the history kept in a session's checkpoint, as a multiple of the model's context budget
HISTORY_BUDGET_FACTOR = 2


def _count(messages: list[Any]) -> int:
    return sum(estimate_tokens(str(m.content)) + 8 for m in messages)


def bounded_history(messages: list[AnyMessage], budget: int) -> list[AnyMessage]:
    """The current question and its exchange, plus as much earlier history as fits ``budget`` tokens (whole
    turns, starting at a question)."""
    last_question = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0)
    current, older = messages[last_question:], messages[:last_question]
    room = budget - _count(current)
    if room <= 0 or not older:
        return list(current)
    kept: list[AnyMessage] = trim_messages(older, max_tokens=room, token_counter=_count, strategy="last",
                                           start_on="human", allow_partial=False)  # type: ignore[assignment]
    return [*kept, *current]


class ChatAgent:
    def __init__(self, session: ChatContext, cfg: ModelConfig, chat: Any = None) -> None:
        self.session, self.cfg = session, cfg
        columns, self.unmask = privacy(session.settings)
        self.masker = Masker.for_engine(load_key(session.settings.state_dir), columns, session.engine)
        self.limits = llm_limits(session.settings)
        self._chat = chat
        self.checkpointer = open_saver(session.settings.state_dir / "chat_checkpoints.sqlite")
        self.graph = build_loop(self.checkpointer, name="finmatch-chat")
        self.tools = ChatTools(session, self.masker)
        self.last_failure: str | None = None  # why the last answer failed (the session may answer offline)

    @property
    def chat(self) -> Any:
        if self._chat is None:
            self._chat = build_chat_model(self.cfg)
        return self._chat

    @chat.setter
    def chat(self, value: Any) -> None:
        self._chat = value

    def close(self) -> None:
        self.checkpointer.conn.close()

    def _system_prompt(self) -> str:
        s = self.session
        present = {c.name for c in s.engine.columns(s.settings.table)}
        return prompts.render("chat", schema=schema_text("fpr_records", present), semantic=context_text(s.semantic),
                              tables=", ".join(s.engine.tables()), currency=s.settings.currency,
                              max_tool_calls=self.limits["max_chat_tool_calls"])

    def _prepare(self, history: list[AnyMessage]) -> list[AnyMessage]:
        system = SystemMessage(self.masker.text(self._system_prompt()))
        return [system, *bounded_history(history, self.cfg.context_tokens - _count([system]))]

    def _on_call(self, ok: bool, latency_ms: float, attempts: int, usage: Usage | None, error: str | None,
                 status: int | None) -> None:
        event: dict[str, Any] = {"event": "model_call", "status": "ok" if ok else "error", "model": self.cfg.name,
                                 "latency_ms": latency_ms, "attempts": attempts}
        if ok:
            event["total_tokens"] = usage.total if usage else 0
        else:
            event["error"] = error
        self.session.on_event(event)

    def services(self) -> LoopServices:
        return LoopServices(
            chat=self.chat, cfg=self.cfg, tools=self.tools.tools(),
            limits=LoopLimits(max_turns=self.limits["max_turns"], max_tool_calls=self.limits["max_chat_tool_calls"],
                              max_total_calls=self.limits["max_session_calls"]),
            prepare=self._prepare, on_call=self._on_call, offer_tools=self.cfg.tools)

    # -- one answer -----------------------------------------------------------------------------------------
    def answer(self, text: str, on_token: Callable[[str], None] | None = None) -> Answer:
        self.tools.query_ids.clear()
        self.last_failure = None
        config: Any = {"configurable": {"thread_id": self.session.name}}
        streamed = False
        fresh = {"messages": [HumanMessage(self.masker.text(text))], "turns": 0, "tool_calls": 0, "repairs": 0,
                 "problem": None, "failure": None, "result": None, "fell_back": False}
        try:
            stream: Any = self.graph.stream(fresh, config, context=self.services(), stream_mode=["messages"])
            for mode, payload in stream:
                chunk, meta = payload
                if mode == "messages" and meta.get("langgraph_node") == "model" and on_token is not None:
                    token = chunk.content if isinstance(chunk.content, str) else ""
                    if token:
                        on_token(token)
                        streamed = True
        except KeyboardInterrupt:
            self._repair(config)
            raise
        state = self.graph.get_state(config).values
        used = list(dict.fromkeys(self.tools.query_ids))
        if state.get("failure"):
            self.last_failure = state["failure"]
            self._repair(config)
            self._compact(config)
            return Answer("error", f"The model failed: {state['failure']}. Slash commands still work, and `/model "
                                   "offline` answers the verified and compiled questions.", query_ids=used,
                          exit_code=4)
        final = state["messages"][-1]
        reply = str(final.content or "").strip() or "(the model returned no text)"
        reply, missing = self._ground(reply)
        if self.unmask:
            reply = self.masker.unmask(reply)
        cited = set(query_refs(reply))
        unknown = sorted(cited - {q.id for q in self.session.log.records})
        uncited = [q for q in used if q not in cited]
        if uncited:
            reply += f"\n\nQueries used: {refs(*uncited)}"
        if missing:
            reply += f"\n\n_Numbers not found in this session's query results: {', '.join(missing)}._"
        if unknown:
            reply += f"\n\n_Cited queries that this session never ran: {', '.join(unknown)}._"
        self._compact(config)
        return Answer("model", reply, query_ids=used, streamed=streamed)

    def _ground(self, text: str) -> tuple[str, list[str]]:
        extra = [self.session.assumptions.params(), *self.tools.outputs]
        evidence = Evidence.from_queries(self.session.log.records, extra)
        missing = list(dict.fromkeys(ungrounded(text, evidence)))
        return mark_unverified(text, missing), missing

    def _repair(self, config: Any) -> None:
        """After a cancelled or failed answer, answer any dangling tool calls so the history stays valid."""
        state = self.graph.get_state(config)
        messages = state.values.get("messages", []) if state.values else []
        last = messages[-1] if messages else None
        pending = getattr(last, "tool_calls", None) or []
        if pending:
            self.graph.update_state(config, {"messages": [ToolMessage(content="cancelled by the user",
                                                                      tool_call_id=c["id"])
                                                          for c in pending]}, as_node="act")

    def _compact(self, config: Any) -> None:
        """Keep one checkpoint per session, with a bounded history (so the file does not grow per answer)."""
        values = self.graph.get_state(config).values
        if not values:
            return
        messages = bounded_history(list(values.get("messages", [])), HISTORY_BUDGET_FACTOR * self.cfg.context_tokens)
        self.checkpointer.delete_thread(self.session.name)
        self.graph.update_state(config, {"messages": messages, "calls": values.get("calls", 0), "turns": 0,
                                         "tool_calls": 0, "repairs": 0, "failure": None, "problem": None},
                                as_node="fallback")
