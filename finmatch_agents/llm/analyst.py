"""What an analyst produces from an agent's findings, and the interface every analyst implements.

The offline analyst (rules, no network) is the default; model-backed analysts implement the same
interface. Analysts interpret numbers the agents established with SQL; they never add numbers of their
own (the grounding check flags any that do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.evidence import Finding
    from finmatch_agents.warehouse.engine import QueryResult

IMPACT_WEIGHT = {"High": 3.0, "Medium": 2.0, "Low": 1.0}
EFFORT_WEIGHT = {"Low": 1.0, "Medium": 2.0, "High": 3.0}
HORIZON_BY_EFFORT = {"Low": "Now", "Medium": "Next", "High": "Later"}


@dataclass
class Insight:
    text: str
    finding_ids: list[str]
    query_ids: list[str]
    score: float = 0.0
    polarity: str = "neutral"


@dataclass
class Recommendation:
    title: str  # the action, imperative
    rationale: str  # why, with figures and [Qn] references
    impact: str  # High | Medium | Low
    effort: str  # Low | Medium | High
    owner: str
    success_metric: str
    horizon: str  # Now | Next | Later
    finding_ids: list[str]
    query_ids: list[str]
    agent: str = ""
    score: float = 0.0
    #: what the action is about; agents that reach the same action share a topic, so summaries merge them
    topic: str | None = None

    @property
    def priority(self) -> float:
        return IMPACT_WEIGHT[self.impact] / EFFORT_WEIGHT[self.effort] + self.score / 10


@dataclass(kw_only=True)
class AnalystOutput:
    """What every analyst output carries besides its content: who wrote it, what it cost, what it flagged."""

    insights: list[Insight]
    recommendations: list[Recommendation]
    analyst: str = "offline"
    model_calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    ungrounded: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls(**{**data, "insights": [Insight(**i) for i in data.get("insights", [])],
                      "recommendations": [Recommendation(**r) for r in data.get("recommendations", [])]})


@dataclass(kw_only=True)
class AgentAnalysis(AnalystOutput):
    agent: str
    risks: list[str]


@dataclass(kw_only=True)
class Summary(AnalystOutput):
    headline: list[str]  # key figures, each with references
    caveats: list[str]
    # insights: the most important insight of each agent; recommendations: the top ones across agents


@dataclass
class AnalysisContext:
    """What an analyst may use while it works: the evidence, the sandbox (for model tool calls), events."""

    run_id: str
    agent: str
    step: str
    currency: str
    emit: Callable[[dict[str, Any]], None]
    evidence: Callable[[], list[dict[str, Any]]]  # query records (with result samples) visible to this step
    extra_evidence: list[Any] = field(default_factory=list)  # profile and assumption values
    run_sql: Callable[[str, str, int], QueryResult] | None = None  # (sql, purpose, max_rows); None: no tools
    tables: list[str] = field(default_factory=list)
    describe: Callable[[str], list[tuple[str, str]]] | None = None
    on_model_query: Callable[[QueryResult], None] | None = None
    cancelled: Callable[[], bool] = lambda: False


class Analyst(Protocol):
    name: str

    def analyze(self, agent: AgentSpec, findings: list[Finding], profile: dict[str, Any],
                actx: AnalysisContext) -> AgentAnalysis: ...

    def summarize(self, analyses: list[AgentAnalysis], findings: list[Finding], profile: dict[str, Any],
                  actx: AnalysisContext) -> Summary: ...


def impact_from(effect: float, confidence: float) -> str:
    weighted = effect * confidence
    return "High" if weighted >= 0.5 else ("Medium" if weighted >= 0.2 else "Low")


@dataclass(frozen=True)
class RecDraft:
    """A recommendation as a rule writes it; the analyst fills impact (if not given), horizon and ids."""

    title: str
    rationale: str
    effort: str
    owner: str
    success_metric: str
    impact: str | None = None
    horizon: str | None = None
    topic: str | None = None


@dataclass(frozen=True)
class RuleOutput:
    insight: str | None = None
    recommendation: RecDraft | None = None
    risk: str | None = None
