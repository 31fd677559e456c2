"""The interface every analyst implements, and what an analyst is given to work with.

Analysts interpret numbers the agents established with SQL; they never add numbers of their own (the
grounding check flags any that do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.events import Emit
    from finmatch_agents.records import AgentAnalysis, Finding, Impact, Profile, Query, Summary
    from finmatch_agents.warehouse.engine import QueryResult


@dataclass
class AnalysisRequest:
    """What an analyst may use while it works: the evidence it can cite, the sandbox (for model tool calls),
    and where to report events. Built by the graph for one AI step (or the executive summary)."""

    run_id: str
    agent: str
    step: str
    currency: str
    emit: Emit
    evidence: Callable[[], Sequence[Query]]  # query records (with result samples) visible to this step
    extra_evidence: list[Any] = field(default_factory=list)  # run-level values (the assumptions)
    findings: Callable[[], Sequence[Finding]] = lambda: ()  # findings the step may cite (their tests, estimates)
    run_sql: Callable[[str, str, int], QueryResult] | None = None  # (sql, purpose, max_rows); None: no tools
    tables: list[str] = field(default_factory=list)
    describe: Callable[[str], list[tuple[str, str]]] | None = None
    on_model_query: Callable[[QueryResult], None] | None = None
    cancelled: Callable[[], bool] = lambda: False


class Analyst(Protocol):
    name: str

    def analyze(self, agent: AgentSpec, findings: Sequence[Finding], profile: Profile,
                request: AnalysisRequest) -> AgentAnalysis: ...

    def summarize(self, analyses: Sequence[AgentAnalysis], findings: Sequence[Finding], profile: Profile,
                  request: AnalysisRequest) -> Summary: ...


def impact_from(effect: float, confidence: float) -> Impact:
    weighted = effect * confidence
    return "High" if weighted >= 0.5 else ("Medium" if weighted >= 0.2 else "Low")
