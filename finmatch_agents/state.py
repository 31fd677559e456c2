"""Typed graph state and the runtime context.

State holds only JSON-safe data (it is checkpointed after every step): run metadata, the dataset profile,
and what the agents produced — queries, findings, step outputs and per-agent sections — accumulated by
reducers. Live objects (the SQL engine, settings, the analyst, the cancel flag) travel in
:class:`RunContext`, LangGraph's run-scoped context, never through state or globals.

Agents are subgraphs: they receive :class:`AgentInput` (via ``Send``) and hand back only
:class:`AgentOutput`, so the parent's lists are never duplicated by a subgraph's result.
"""

from __future__ import annotations

import operator
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

if TYPE_CHECKING:
    from finmatch_agents.assumptions import Assumptions
    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import Sink
    from finmatch_agents.llm.analyst import Analyst
    from finmatch_agents.warehouse.engine import Engine


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


class RunState(TypedDict, total=False):
    run: dict[str, Any]  # run_id, focus, model, db, table, created_at, version, currency
    profile: dict[str, Any]  # DatasetProfile.to_dict(), JSON-safe
    queries: Annotated[list[dict[str, Any]], operator.add]
    findings: Annotated[list[dict[str, Any]], operator.add]
    steps: Annotated[list[dict[str, Any]], operator.add]
    sections: Annotated[dict[str, dict[str, Any]], merge_dicts]  # agent key -> section
    summary: dict[str, Any]
    report: dict[str, Any]


class AgentInput(TypedDict):
    agent: str
    run: dict[str, Any]
    profile: dict[str, Any]
    context_queries: list[dict[str, Any]]  # prepare's queries: evidence agents may cite, not output


class AgentState(TypedDict, total=False):
    agent: str
    run: dict[str, Any]
    profile: dict[str, Any]
    context_queries: list[dict[str, Any]]
    queries: Annotated[list[dict[str, Any]], operator.add]
    findings: Annotated[list[dict[str, Any]], operator.add]
    steps: Annotated[list[dict[str, Any]], operator.add]
    analysis: dict[str, Any]
    sections: Annotated[dict[str, dict[str, Any]], merge_dicts]


class AgentOutput(TypedDict, total=False):
    queries: Annotated[list[dict[str, Any]], operator.add]
    findings: Annotated[list[dict[str, Any]], operator.add]
    steps: Annotated[list[dict[str, Any]], operator.add]
    sections: Annotated[dict[str, dict[str, Any]], merge_dicts]


@dataclass
class RunContext:
    """Run-scoped objects every node may use (LangGraph ``context``)."""

    engine: Engine
    settings: Settings
    assumptions: Assumptions
    analyst: Analyst
    cancel: threading.Event = field(default_factory=threading.Event)
    audit: Sink | None = None
