"""Typed graph state, the run's services, and the checkpoint serializer.

State channels hold records (:mod:`finmatch_agents.records`) directly: run metadata, the dataset profile,
and what the agents produced — queries, findings, step records and analyses — accumulated by reducers.
No markdown lives in state: the report is rendered once, at publish. LangGraph checkpoints the records
with its msgpack serializer, restricted to an allow-list (``finmatch_agents.runs.checkpoint_serde``).

Live objects (the SQL engine, settings, the analyst, the cancel flag) travel in :class:`RunServices`,
LangGraph's run-scoped context, never through state or globals.

Agents are subgraphs: they receive :class:`AgentInput` (via ``Send``) and hand back only
:class:`AgentOutput`, so the parent's lists are never duplicated by a subgraph's result.
"""

from __future__ import annotations

import operator
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

# LangGraph reads the state classes' annotations at runtime, so the record types cannot be type-only.
from finmatch_agents.records import (
    AgentAnalysis,
    AgentProgress,
    Finding,
    Profile,
    Query,
    ReportFile,
    RunMeta,
    StepRecord,
    Summary,
)

if TYPE_CHECKING:
    from finmatch_agents.analysts.base import Analyst
    from finmatch_agents.assumptions import Assumptions
    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import Sink
    from finmatch_agents.warehouse.engine import DuckDBEngine


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


class RunState(TypedDict, total=False):
    run: RunMeta
    profile: Profile
    queries: Annotated[list[Query], operator.add]
    findings: Annotated[list[Finding], operator.add]
    steps: Annotated[list[StepRecord], operator.add]
    analyses: Annotated[dict[str, AgentAnalysis], merge_dicts]  # agent key -> its analysis
    summary: Summary
    report: ReportFile


class AgentInput(TypedDict):
    agent: str
    run: RunMeta
    profile: Profile
    context_queries: list[Query]  # prepare's queries: evidence agents may cite, not output
    restored: AgentProgress  # what the agent produced before a resume (not output again)


class AgentState(TypedDict, total=False):
    agent: str
    run: RunMeta
    profile: Profile
    context_queries: list[Query]
    restored: AgentProgress
    queries: Annotated[list[Query], operator.add]
    findings: Annotated[list[Finding], operator.add]
    steps: Annotated[list[StepRecord], operator.add]
    analysis: AgentAnalysis
    analyses: Annotated[dict[str, AgentAnalysis], merge_dicts]


class AgentOutput(TypedDict, total=False):
    queries: Annotated[list[Query], operator.add]
    findings: Annotated[list[Finding], operator.add]
    steps: Annotated[list[StepRecord], operator.add]
    analyses: Annotated[dict[str, AgentAnalysis], merge_dicts]


@dataclass
class RunServices:
    """Run-scoped live objects every node may use (LangGraph ``context``)."""

    engine: DuckDBEngine
    settings: Settings
    assumptions: Assumptions
    analyst: Analyst
    cancel: threading.Event = field(default_factory=threading.Event)
    audit: Sink | None = None
