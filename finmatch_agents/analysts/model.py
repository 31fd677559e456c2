"""The AI step with a real model (any OpenAI-compatible endpoint through langchain-openai).

The model gets the agent's prompt file with its findings as a compact table (never raw rows), framed as
untrusted data. It may ask for more evidence with ``run_sql`` / ``describe_table`` (bounded, sandboxed,
recorded as queries and findings, PII masked) and answers through a ``submit_analysis`` tool whose schema
is a pydantic model. The conversation runs in the shared loop (:mod:`finmatch_agents.llm.loop`); its answer
is checked here: schema, cited ids must exist, every number must be grounded in the run's evidence.
Invalid output gets one repair attempt; then, or on any endpoint failure, the step falls back to the
offline analyst with a visible warning (or fails with exit 4 when fallback is off).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field, StringConstraints

from finmatch_agents.analysts.advice import reconcile
from finmatch_agents.analysts.offline import OfflineAnalyst
from finmatch_agents.data.schema import schema_text
from finmatch_agents.errors import FinMatchError, ModelError
from finmatch_agents.events import make_event
from finmatch_agents.ids import cited_ids
from finmatch_agents.llm import prompts
from finmatch_agents.llm.grounding import Sources, mark_unverified, ungrounded_sentences
from finmatch_agents.llm.loop import LoopLimits, LoopServices, Submit, Verdict, build_loop
from finmatch_agents.llm.models import build_chat_model
from finmatch_agents.llm.tools import DataAccess, data_tools
from finmatch_agents.records import (
    HORIZON_BY_EFFORT,
    AgentAnalysis,
    AnalystOutput,
    Finding,
    Insight,
    Profile,
    Recommendation,
    Summary,
    ranking_key,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.analysts.base import AnalysisRequest
    from finmatch_agents.llm.calls import Budget, Usage
    from finmatch_agents.llm.models import ModelConfig
    from finmatch_agents.llm.pii import Masker

SUBMIT, SUBMIT_SUMMARY = "submit_analysis", "submit_summary"
#: longest text field a model may submit (an insight, a rationale...)
MAX_FIELD_CHARS = 2_000


#: ids a model may cite: exactly the shape the run gives them ("F101", "Q12"); anything else is refused
FindingId = Annotated[str, StringConstraints(pattern=r"^F\d{1,7}$")]
QueryId = Annotated[str, StringConstraints(pattern=r"^Q\d{1,7}$")]


class InsightOut(BaseModel):
    text: str = Field(max_length=MAX_FIELD_CHARS,
                      description="One or two sentences; numbers only from the evidence; cite ids like [F101].")
    finding_ids: list[FindingId] = Field(default_factory=list, max_length=20)
    query_ids: list[QueryId] = Field(default_factory=list, max_length=20)


class RecommendationOut(BaseModel):
    title: str = Field(max_length=300, description="The action, imperative.")
    rationale: str = Field(max_length=MAX_FIELD_CHARS)
    impact: Literal["High", "Medium", "Low"]
    effort: Literal["Low", "Medium", "High"]
    owner: str = Field(max_length=200)
    success_metric: str = Field(max_length=MAX_FIELD_CHARS)
    horizon: Literal["Now", "Next", "Later"]
    finding_ids: list[FindingId] = Field(default_factory=list, max_length=20)
    query_ids: list[QueryId] = Field(default_factory=list, max_length=20)


class AnalysisOut(BaseModel):
    """The agent's final analysis."""

    insights: list[InsightOut] = Field(min_length=1, max_length=8)
    recommendations: list[RecommendationOut] = Field(default_factory=list, max_length=8)
    risks: list[str] = Field(default_factory=list, max_length=6)


class SummaryOut(BaseModel):
    """The executive summary."""

    headline: list[str] = Field(min_length=1, max_length=3)
    insights: list[InsightOut] = Field(default_factory=list, max_length=8)
    caveats: list[str] = Field(default_factory=list, max_length=5)


class InvalidOutput(ModelError):
    title = "Unusable model output"


@dataclass
class LLMLimits:
    max_tool_calls: int = 4
    max_tool_rows: int = 50
    max_turns: int = 8


def _flat_values(values: dict[str, Any], limit: int = 14) -> str:
    parts = []
    for key, value in values.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}={v}" for k, v in value.items() if isinstance(v, int | float | str) and
                              not isinstance(v, bool))
            parts.append(f"{key}: {inner}")
        elif isinstance(value, int | float | str) and not isinstance(value, bool):
            parts.append(f"{key}={value}")
        if len(parts) >= limit:
            break
    return "; ".join(parts)


class _Checker:
    """Checks the text of one answer: ids must exist, and every number must be backed by what its own sentence
    cites (or the item's ids), in its unit; ungrounded ones are marked (or, with --strict-grounding, refused)."""

    def __init__(self, analyst: ModelAnalyst, request: AnalysisRequest, known_findings: set[str],
                 model_queries: list[str]) -> None:
        self.a, self.request, self.known_findings, self.model_queries = analyst, request, known_findings, model_queries
        self.ungrounded = 0
        self.sources: Sources | None = None  # built on first use: the evidence each sentence may cite

    def text(self, text: str, finding_ids: Sequence[str] = (), query_ids: Sequence[str] = ()) -> str:
        known_queries = {q.id for q in self.request.evidence()} | set(self.model_queries)
        cited = cited_ids(text) | set(finding_ids) | set(query_ids)
        unknown = sorted(i for i in cited if i not in self.known_findings and i not in known_queries)
        if unknown:
            raise InvalidOutput(f"cites ids that do not exist: {', '.join(unknown)}")
        if self.sources is None:
            self.sources = Sources(self.request.evidence(), self.request.findings(), self.request.extra_evidence)
        missing = ungrounded_sentences(text, self.sources, [*finding_ids, *query_ids])
        if missing:
            if self.a.strict:
                raise InvalidOutput(f"numbers not found in the evidence (--strict-grounding): {', '.join(missing)}")
            self.ungrounded += len(missing)
            text = mark_unverified(text, missing)
        return self.a.masker.unmask(text) if self.a.unmask else text


class _Conversation:
    """One analyst conversation: its services for the loop, the accounting of its calls."""

    def __init__(self, analyst: ModelAnalyst, request: AnalysisRequest) -> None:
        self.a, self.request = analyst, request
        self.calls = self.tokens = 0
        self.cost = 0.0
        self.access: DataAccess | None = None

    def on_call(self, ok: bool, latency_ms: float, attempts: int, usage: Usage | None, error: str | None,
                status: int | None) -> None:
        cfg, r = self.a.cfg, self.request
        inp = usage.input_tokens if usage else 0
        out = usage.output_tokens if usage else 0
        cost = cfg.cost(inp, out)
        self.calls += attempts
        self.tokens += inp + out
        self.cost += cost or 0.0
        r.emit(make_event("model_call", r.run_id, r.agent, r.step, model=cfg.name, status="ok" if ok else "error",
                          latency_ms=latency_ms, attempts=attempts, prompt_tokens=inp, completion_tokens=out,
                          total_tokens=inp + out, cost=cost, estimated=bool(usage and usage.estimated),
                          error=error, http_status=status))

    def tools(self, with_data: bool) -> list[Any]:
        r = self.request
        if not (with_data and self.a.cfg.tools and r.run_sql is not None and r.describe is not None):
            return []
        self.access = DataAccess(run_sql=r.run_sql, tables=r.tables, describe=r.describe, masker=self.a.masker,
                                 max_rows=self.a.limits.max_tool_rows, on_query=r.on_model_query)
        return data_tools(self.access)

    @property
    def model_queries(self) -> list[str]:
        return self.access.query_ids if self.access else []

    def run(self, messages: list[AnyMessage], submit: Submit, tools: list[Any],
            fallback: Callable[[str], AnalystOutput]) -> tuple[AnalystOutput, bool]:
        services = LoopServices(
            chat=self.a.chat, cfg=self.a.cfg, tools=tools, submit=submit, budget=self.a.budget,
            limits=LoopLimits(max_turns=self.a.limits.max_turns, max_tool_calls=self.a.limits.max_tool_calls),
            on_call=self.on_call, fallback=fallback, cancelled=self.request.cancelled,
            offer_tools=self.a.cfg.tools)
        state = self.a.loop.invoke({"messages": messages, "turns": 0, "tool_calls": 0, "repairs": 0},
                                   context=services)
        return state["result"], bool(state.get("fell_back"))

    def account(self, out: AnalystOutput, ungrounded: int = 0) -> Any:
        return out.model_copy(update={"model_calls": self.calls, "tokens": self.tokens,
                                      "cost": round(self.cost, 6), "ungrounded": ungrounded})


class ModelAnalyst:
    def __init__(self, cfg: ModelConfig, *, masker: Masker, budget: Budget, limits: LLMLimits | None = None,
                 strict_grounding: bool = False, fallback: bool = True, unmask_in_report: bool = False,
                 chat: BaseChatModel | None = None) -> None:
        self.cfg, self.masker, self.budget = cfg, masker, budget
        self.limits = limits or LLMLimits()
        self.strict, self.fallback, self.unmask = strict_grounding, fallback, unmask_in_report
        self.name = cfg.name
        self._chat = chat
        self._offline = OfflineAnalyst()
        self.loop = build_loop(name="analyst-loop")

    @property
    def chat(self) -> BaseChatModel:
        if self._chat is None:
            self._chat = build_chat_model(self.cfg)
        return self._chat

    def _fail(self, what: str, reason: str, hint: str | None = None) -> None:
        if not self.fallback:
            raise ModelError(f"{what}: {reason}", hint=hint)

    # -- agent analysis ---------------------------------------------------------------------------------
    def analyze(self, agent: AgentSpec, findings: Sequence[Finding], profile: Profile,
                request: AnalysisRequest) -> AgentAnalysis:
        conv = _Conversation(self, request)
        system = prompts.render("system", agent_title=agent.title, currency=request.currency,
                                max_tool_calls=self.limits.max_tool_calls, max_rows=self.limits.max_tool_rows)
        human = prompts.render(agent.prompt_name, agent_title=agent.title, challenge=agent.challenge,
                               solution=agent.solution, steps=_steps(agent), profile_summary=profile_summary(profile),
                               schema=schema_text("fpr_records", set(profile.present)),
                               findings_table=findings_table(findings))
        messages: list[AnyMessage] = [SystemMessage(self.masker.text(system)), HumanMessage(self.masker.text(human))]
        finding_queries = {f.id: list(f.query_ids) for f in findings}
        checked: dict[str, int] = {}

        def validate(payload: dict[str, Any]) -> Verdict:
            checker = _Checker(self, request, set(finding_queries), conv.model_queries)
            try:
                analysis = to_analysis(agent.key, AnalysisOut.model_validate(payload), finding_queries, checker,
                                       self.name)
            except FinMatchError as exc:
                return {"fatal": exc.message}
            checked["ungrounded"] = checker.ungrounded
            return {"result": analysis}

        def fallback(reason: str) -> AgentAnalysis:
            self._fail(agent.title, reason, hint="run without --no-fallback to use the offline analyst when the "
                                                 "model fails")
            offline = self._offline.analyze(agent, findings, profile)
            warning = f"model {self.name} not used for {agent.title} ({reason}); the offline analyst wrote this step"
            return offline.model_copy(update={"analyst": f"offline (fallback from {self.name})",
                                              "warnings": (*offline.warnings, warning)})

        submit = Submit(SUBMIT, "Submit the final analysis (call exactly once, last).", AnalysisOut, validate)
        result, fell_back = conv.run(messages, submit, conv.tools(with_data=True), fallback)
        return conv.account(result, 0 if fell_back else checked.get("ungrounded", 0))

    # -- executive summary ------------------------------------------------------------------------------
    def summarize(self, analyses: Sequence[AgentAnalysis], findings: Sequence[Finding], profile: Profile,
                  request: AnalysisRequest) -> Summary:
        conv = _Conversation(self, request)
        offline = self._offline.summarize(analyses, findings, profile)
        system = prompts.render("system", agent_title="Executive Summary", currency=request.currency,
                                max_tool_calls=0, max_rows=0)
        human = prompts.render("summary", profile_summary=profile_summary(profile),
                               agent_summaries=_agent_summaries(analyses), currency=request.currency)
        messages: list[AnyMessage] = [SystemMessage(self.masker.text(system)), HumanMessage(self.masker.text(human))]
        agent_of = {f.id: f.agent for f in findings}
        checked: dict[str, int] = {}

        def validate(payload: dict[str, Any]) -> Verdict:
            out = SummaryOut.model_validate(payload)
            checker = _Checker(self, request, set(agent_of), [])
            try:
                headline = tuple(checker.text(h) for h in out.headline)
                insights = tuple(Insight(text=checker.text(i.text, i.finding_ids, i.query_ids),
                                         agent=next((agent_of[f] for f in i.finding_ids if f in agent_of), ""),
                                         finding_ids=tuple(i.finding_ids), query_ids=tuple(i.query_ids))
                                 for i in out.insights)
                caveats = tuple(checker.text(c) for c in out.caveats)
            except FinMatchError as exc:
                return {"fatal": exc.message}
            checked["ungrounded"] = checker.ungrounded
            advice = reconcile(analyses)
            return {"result": Summary(headline=headline, insights=insights or offline.insights,
                                      recommendations=advice.top, all_recommendations=advice.all,
                                      tradeoffs=advice.tradeoffs,
                                      caveats=caveats or offline.caveats, analyst=self.name)}

        def fallback(reason: str) -> Summary:
            self._fail("executive summary", reason)
            warning = f"model {self.name} not used for the executive summary ({reason}); offline summary used"
            return offline.model_copy(update={"analyst": f"offline (fallback from {self.name})",
                                              "warnings": (*offline.warnings, warning)})

        submit = Submit(SUBMIT_SUMMARY, "Submit the executive summary.", SummaryOut, validate)
        result, fell_back = conv.run(messages, submit, [], fallback)
        return conv.account(result, 0 if fell_back else checked.get("ungrounded", 0))


def to_analysis(agent: str, out: AnalysisOut, finding_queries: dict[str, list[str]], check: _Checker,
                analyst: str) -> AgentAnalysis:
    def evidence_ids(finding_ids: list[str], query_ids: list[str]) -> tuple[str, ...]:
        """The queries cited directly plus those behind the cited findings."""
        derived = [q for f in finding_ids for q in finding_queries.get(f, [])]
        return tuple(dict.fromkeys([*query_ids, *derived]))

    insights = tuple(Insight(text=check.text(i.text, i.finding_ids, i.query_ids), agent=agent,
                             finding_ids=tuple(i.finding_ids), query_ids=evidence_ids(i.finding_ids, i.query_ids),
                             score=round(1 - n / 10, 2))
                     for n, i in enumerate(out.insights))
    recs = [Recommendation(title=check.text(r.title), rationale=check.text(r.rationale, r.finding_ids, r.query_ids),
                           impact=r.impact, effort=r.effort, owner=check.text(r.owner),
                           success_metric=check.text(r.success_metric),
                           horizon=r.horizon or HORIZON_BY_EFFORT[r.effort], finding_ids=tuple(r.finding_ids),
                           query_ids=evidence_ids(r.finding_ids, r.query_ids), agent=agent, score=round(1 - n / 10, 2))
            for n, r in enumerate(out.recommendations)]
    recs.sort(key=ranking_key)
    return AgentAnalysis(agent=agent, insights=insights, recommendations=tuple(recs),
                         risks=tuple(check.text(r) for r in out.risks), analyst=analyst)


# -- prompt material ----------------------------------------------------------------------------------------
def _steps(agent: AgentSpec) -> str:
    return "; ".join(f"{s.name} ({s.about.rstrip('.')})" for s in agent.steps if s.kind == "data")


def profile_summary(profile: Profile | None) -> str:
    if profile is None:
        return "- (no dataset profile)"
    lines = [f"- table {profile.table}: {profile.rows} rows, {profile.customers} customers"]
    if profile.date_min:
        lines.append(f"- recommendations dated {profile.date_min} to {profile.date_max}")
    tables = ", ".join(f"{t.name} ({t.rows} rows)" for t in profile.tables)
    if tables:
        lines.append(f"- tables: {tables}")
    for flag in profile.warnings():
        lines.append(f"- data quality ({flag.code}): {flag.message}")
    if profile.absent:
        lines.append(f"- absent columns (not analysed): {', '.join(profile.absent)}")
    return "\n".join(lines)


def findings_table(findings: Sequence[Finding]) -> str:
    rows = ["id | title | statement | values"]
    for f in findings:
        if f.key == "model_query":
            continue
        rows.append(f"{f.id} | {f.title} | {f.statement} | {_flat_values(f.values)}")
    return "\n".join(rows) if len(rows) > 1 else "(no findings: the data lacks the columns these analyses need)"


def _agent_summaries(analyses: Sequence[AgentAnalysis]) -> str:
    out = []
    for a in analyses:
        out.append(f"## {a.agent}")
        out += [f"- insight: {i.text}" for i in a.insights[:5]]
        out += [f"- recommendation ({r.impact} impact, {r.effort} effort, {r.horizon}): {r.title} — {r.rationale}"
                for r in a.recommendations[:4]]
        out += [f"- risk: {r}" for r in a.risks[:2]]
    return "\n".join(out)
