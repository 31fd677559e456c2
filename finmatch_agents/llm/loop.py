"""The one tool-calling loop every model conversation runs: the AI steps of the analysis and the chat.

A LangGraph subgraph::

    START → model ─┬─ tool calls ──→ act ─┬─ answer ─────────────→ END
                   │                      ├─ problem → repair → model
                   │                      └─ more tools ───────→ model
                   ├─ text (chat) ───────────────────────────────→ END
                   ├─ text (structured) ─→ act (parse the JSON)
                   └─ endpoint failed / bounds reached ─→ fallback → END

Each node is a checkpointed step: invoked inside an analysis node it inherits the run's checkpointer, so a
resumed run does not repeat finished model calls; the chat compiles it with its session checkpointer.

Bounds (all in :class:`LoopLimits`): model turns, tool calls, repairs, characters read from one response.
A model that keeps calling tools gets "tool budget used up" and then runs out of turns; an answer that is
too long, not JSON or not valid against the schema gets one repair; anything else ends in the fallback
node (the offline analyst for analyses; an error answer for the chat).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

# LangGraph reads node annotations at runtime (get_type_hints), so this import cannot be type-only.
from langgraph.runtime import Runtime  # noqa: TC002
from pydantic import BaseModel, ValidationError

from finmatch_agents.errors import Interrupted, ModelError
from finmatch_agents.llm import prompts
from finmatch_agents.llm.calls import Budget, ModelCallError, call_with_retries

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from finmatch_agents.llm.models import ModelConfig
    from finmatch_agents.llm.tools import Tool

#: most characters read from one model response (content plus tool arguments); more is refused, not parsed
MAX_RESPONSE_CHARS = 200_000


@dataclass(frozen=True)
class LoopLimits:
    max_turns: int = 8
    max_tool_calls: int = 4
    max_repairs: int = 1
    max_response_chars: int = MAX_RESPONSE_CHARS
    #: model calls over the whole thread (a chat session across answers and restarts); None: unbounded
    max_total_calls: int | None = None


class Verdict(TypedDict, total=False):
    """What a ``validate`` callback says about a candidate answer."""

    result: Any  # the accepted answer (a record)
    problem: str  # the model may repair this
    fatal: str  # no repair can help (e.g. cites ids that do not exist): fall back


@dataclass
class Submit:
    """The structured answer a conversation must end with: a tool (``submit_analysis``) with a schema."""

    name: str
    description: str
    schema: type[BaseModel]
    validate: Callable[[dict[str, Any]], Verdict]

    def spec(self) -> dict[str, Any]:
        schema = self.schema.model_json_schema()
        schema.pop("title", None)
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": schema}}


@dataclass
class LoopServices:
    """The live objects one conversation uses (LangGraph run context; never checkpointed)."""

    chat: BaseChatModel
    cfg: ModelConfig
    tools: Sequence[Tool] = ()
    submit: Submit | None = None
    limits: LoopLimits = field(default_factory=LoopLimits)
    budget: Budget | None = None
    #: the messages sent for a turn, from the conversation so far (system prompt, trimming)
    prepare: Callable[[list[AnyMessage]], list[AnyMessage]] = list
    #: called once per call: (ok, latency_ms, attempts, usage, error, http_status)
    on_call: Callable[..., None] = lambda *a, **k: None
    #: the answer when the model cannot give one: (reason) -> result; raise to fail instead
    fallback: Callable[[str], Any] | None = None
    cancelled: Callable[[], bool] = lambda: False
    offer_tools: bool = True


class LoopState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    turns: int
    tool_calls: int
    repairs: int
    calls: Annotated[int, operator.add]
    tokens: Annotated[int, operator.add]
    problem: str | None
    failure: str | None
    result: Any
    fell_back: bool


def _parse_json(content: str) -> dict[str, Any] | str:
    """The JSON object in a text answer, or why there is none."""
    text = content.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return "the answer contained no JSON object"
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        return f"the answer is not valid JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(data, dict):
        return "the answer is not a JSON object"
    return data


def _size(message: Any) -> int:
    calls = getattr(message, "tool_calls", None) or []
    return len(str(message.content or "")) + sum(len(json.dumps(c.get("args"), default=str)) for c in calls)


def _judge(submit: Submit, candidate: dict[str, Any]) -> Verdict:
    try:
        submit.schema.model_validate(candidate)
    except ValidationError as exc:
        return {"problem": "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])}
    return submit.validate(candidate)


def model_node(state: LoopState, runtime: Runtime[LoopServices]) -> dict[str, Any]:
    s = runtime.context
    if s.cancelled():
        raise Interrupted("run cancelled")
    turns = state.get("turns", 0)
    total = s.limits.max_total_calls
    if total is not None and state.get("calls", 0) >= total:
        return {"failure": f"the session's budget of {total} model calls is used up (raise [llm] max_session_calls "
                           "or start a new session)"}
    if turns >= s.limits.max_turns:
        what = f"no {s.submit.name}" if s.submit else "no answer"
        return {"failure": f"{what} after {s.limits.max_turns} turns"}
    specs = [t.spec() for t in s.tools] + ([s.submit.spec()] if s.submit else [])
    bound = s.chat.bind_tools(specs) if specs and s.offer_tools else s.chat
    messages = s.prepare(list(state.get("messages", [])))
    try:
        reply, record = call_with_retries(lambda: bound.invoke(messages), s.cfg,
                                          prompt_chars=sum(len(str(m.content)) for m in messages),
                                          budget=s.budget, cancelled=s.cancelled)
    except ModelCallError as exc:
        s.on_call(False, exc.latency_ms, exc.attempts, None, exc.message, exc.status)
        return {"failure": exc.message, "calls": exc.attempts}
    except ModelError as exc:  # the run's budget of calls or tokens is used up
        return {"failure": exc.message}
    s.on_call(True, record.latency_ms, record.attempts, record.usage, None, None)
    return {"messages": [reply], "turns": turns + 1, "calls": record.attempts, "tokens": record.usage.total,
            "problem": None}


def act_node(state: LoopState, runtime: Runtime[LoopServices]) -> dict[str, Any]:
    """Run the tool calls of the last reply (or read its text as the structured answer) and judge it."""
    s = runtime.context
    reply = state["messages"][-1]
    if _size(reply) > s.limits.max_response_chars:
        return {"problem": f"the answer is longer than {s.limits.max_response_chars:,} characters"}
    calls = list(getattr(reply, "tool_calls", None) or [])
    by_name = {t.name: t for t in s.tools}
    used = state.get("tool_calls", 0)
    out: list[AnyMessage] = []
    candidate: dict[str, Any] | None = None
    problem: str | None = None
    for call in calls:
        name, args, call_id = call["name"], call.get("args"), call.get("id") or ""
        if s.submit is not None and name == s.submit.name:
            candidate = args if isinstance(args, dict) else {}
            out.append(ToolMessage(content="received", tool_call_id=call_id))
        elif name in by_name:
            if used >= s.limits.max_tool_calls:
                content = ("tool budget used up: submit your analysis now" if s.submit else
                           "tool budget for this answer is used up: answer with what you have")
            else:
                used += 1
                content = by_name[name].call(args)
            out.append(ToolMessage(content=content, tool_call_id=call_id))
        else:
            offered = ", ".join([*by_name, *([s.submit.name] if s.submit else [])])
            out.append(ToolMessage(content=f"unknown tool {name}", tool_call_id=call_id))
            problem = f"called an unknown tool {name!r}; the tools are {offered}"
    if not calls and s.submit is not None:
        parsed = _parse_json(str(reply.content or ""))
        if isinstance(parsed, str):
            problem = parsed
        else:
            candidate = parsed
    update: dict[str, Any] = {"messages": out, "tool_calls": used}
    if candidate is not None and problem is None and s.submit is not None:
        verdict = _judge(s.submit, candidate)
        if "result" in verdict:
            return {**update, "result": verdict["result"], "problem": None}
        if "fatal" in verdict:
            return {**update, "failure": verdict["fatal"]}
        problem = verdict.get("problem")
    return {**update, "problem": problem}


def repair_node(state: LoopState, runtime: Runtime[LoopServices]) -> dict[str, Any]:
    s = runtime.context
    tool = s.submit.name if s.submit else "answer"
    return {"messages": [HumanMessage(prompts.render("repair", error=state.get("problem") or "", tool=tool))],
            "repairs": state.get("repairs", 0) + 1, "problem": None}


def fallback_node(state: LoopState, runtime: Runtime[LoopServices]) -> dict[str, Any]:
    s = runtime.context
    reason = failure_reason(dict(state))
    if s.fallback is None:
        return {"fell_back": False, "failure": reason}
    return {"result": s.fallback(reason), "fell_back": True, "failure": reason}


def after_model(state: LoopState, runtime: Runtime[LoopServices]) -> str:
    if state.get("failure"):
        return "fallback"
    reply = state["messages"][-1]
    if getattr(reply, "tool_calls", None) or runtime.context.submit is not None:
        return "act"
    return END


def after_act(state: LoopState, runtime: Runtime[LoopServices]) -> str:
    if state.get("result") is not None:
        return END
    if state.get("failure"):
        return "fallback"
    if state.get("problem"):
        if state.get("repairs", 0) >= runtime.context.limits.max_repairs:
            return "fallback"
        return "repair"
    return "model"


def build_loop(checkpointer: BaseCheckpointSaver[Any] | None = None, name: str = "model-loop"
               ) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The loop graph. Without a checkpointer it uses the one of the graph whose node invokes it."""
    graph = StateGraph(LoopState, context_schema=LoopServices)
    graph.add_node("model", model_node)
    graph.add_node("act", act_node)
    graph.add_node("repair", repair_node)
    graph.add_node("fallback", fallback_node)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", after_model, ["act", "fallback", END])
    graph.add_conditional_edges("act", after_act, ["model", "repair", "fallback", END])
    graph.add_edge("repair", "model")
    graph.add_edge("fallback", END)
    return graph.compile(checkpointer=checkpointer, name=name)


def failure_reason(state: dict[str, Any]) -> str:
    """Why a loop that ended without a result gave up (after a repair that still failed, say so)."""
    if state.get("problem") and state.get("repairs", 0):
        return f"the model's answer was still invalid after one repair: {state['problem']}"
    return state.get("failure") or state.get("problem") or "the model gave no usable answer"
