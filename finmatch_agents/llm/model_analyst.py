"""The AI step with a real model (any OpenAI-compatible endpoint through langchain-openai).

The model gets the agent's prompt file with its findings as a compact table (never raw rows), framed as
untrusted data. It may ask for more evidence with ``run_sql`` / ``describe_table`` (bounded, sandboxed,
recorded as queries and findings, PII masked) and answers through a ``submit_analysis`` tool whose schema
is a pydantic model. Output is checked: schema, cited ids must exist, every number must be grounded in the
run's evidence. Invalid output gets one repair attempt; then, or on any endpoint failure, the step falls
back to the offline analyst with a visible warning (or fails with exit 4 when fallback is off).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from finmatch_agents.errors import FinMatchError, Interrupted, ModelError
from finmatch_agents.llm import prompts
from finmatch_agents.llm.analyst import (
    HORIZON_BY_EFFORT,
    AgentAnalysis,
    AnalysisContext,
    Insight,
    Recommendation,
    Summary,
)
from finmatch_agents.llm.calls import Budget, ModelCallError, call_with_retries
from finmatch_agents.llm.grounding import Evidence, find_numbers
from finmatch_agents.llm.offline import OfflineAnalyst, merge_topics
from finmatch_agents.trace import make_event

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.evidence import Finding
    from finmatch_agents.llm.models import ModelConfig
    from finmatch_agents.llm.pii import Masker

SUBMIT, SUBMIT_SUMMARY, RUN_SQL, DESCRIBE = "submit_analysis", "submit_summary", "run_sql", "describe_table"
UNVERIFIED = "(unverified)"
_IDS = re.compile(r"\b[QF]\d+\b")


class InsightOut(BaseModel):
    text: str = Field(description="One or two sentences; numbers only from the evidence; cite ids like [F101].")
    finding_ids: list[str] = Field(default_factory=list)
    query_ids: list[str] = Field(default_factory=list)


class RecommendationOut(BaseModel):
    title: str = Field(description="The action, imperative.")
    rationale: str
    impact: Literal["High", "Medium", "Low"]
    effort: Literal["Low", "Medium", "High"]
    owner: str
    success_metric: str
    horizon: Literal["Now", "Next", "Later"]
    finding_ids: list[str] = Field(default_factory=list)
    query_ids: list[str] = Field(default_factory=list)


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


def _tool(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return schema


def _parse_json(content: str) -> dict[str, Any]:
    text = content.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise InvalidOutput("the answer contained no JSON object")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        raise InvalidOutput(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(data, dict):
        raise InvalidOutput("the answer is not a JSON object")
    return data


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

    @property
    def chat(self) -> BaseChatModel:
        if self._chat is None:
            from finmatch_agents.llm.models import build_chat_model

            self._chat = build_chat_model(self.cfg)
        return self._chat

    # -- public interface -------------------------------------------------------------------------------
    def analyze(self, agent: AgentSpec, findings: list[Finding], profile: dict[str, Any],
                actx: AnalysisContext) -> AgentAnalysis:
        session = _Session(self, actx)
        try:
            return self._analyze(agent, findings, profile, actx, session)
        except Interrupted:
            raise
        except (FinMatchError, ValidationError) as exc:
            reason = exc.message if isinstance(exc, FinMatchError) else str(exc).splitlines()[0]
            if not self.fallback:
                raise ModelError(f"{agent.title}: {reason}", hint="run without --no-fallback to use the offline "
                                 "analyst when the model fails") from exc
            warning = f"model {self.name} not used for {agent.title} ({reason}); the offline analyst wrote this step"
            analysis = self._offline.analyze(agent, findings, profile)
            analysis.analyst = f"offline (fallback from {self.name})"
            analysis.warnings.append(warning)
            session.account(analysis)
            return analysis

    def summarize(self, analyses: list[AgentAnalysis], findings: list[Finding], profile: dict[str, Any],
                  actx: AnalysisContext) -> Summary:
        session = _Session(self, actx)
        offline = self._offline.summarize(analyses, findings, profile)
        try:
            return self._summarize(analyses, findings, profile, actx, session, offline)
        except Interrupted:
            raise
        except (FinMatchError, ValidationError) as exc:
            reason = exc.message if isinstance(exc, FinMatchError) else str(exc).splitlines()[0]
            if not self.fallback:
                raise ModelError(f"executive summary: {reason}") from exc
            warning = f"model {self.name} not used for the executive summary ({reason}); offline summary used"
            offline.analyst = f"offline (fallback from {self.name})"
            offline.warnings.append(warning)
            session.account(offline)
            return offline

    # -- agent analysis ---------------------------------------------------------------------------------
    def _analyze(self, agent: AgentSpec, findings: list[Finding], profile: dict[str, Any], actx: AnalysisContext,
                 session: _Session) -> AgentAnalysis:
        from langchain_core.messages import HumanMessage, SystemMessage

        system = prompts.render("system", agent_title=agent.title, currency=actx.currency,
                                max_tool_calls=self.limits.max_tool_calls, max_rows=self.limits.max_tool_rows)
        human = prompts.render(agent.prompt_name, agent_title=agent.title, challenge=agent.challenge,
                               solution=agent.solution, steps=_steps(agent), profile_summary=profile_summary(profile),
                               schema=_schema_text(profile), findings_table=findings_table(findings))
        messages: list[Any] = [SystemMessage(self.masker.text(system)), HumanMessage(self.masker.text(human))]
        tools = []
        if self.cfg.tools:
            tools = [_tool(SUBMIT, "Submit the final analysis (call exactly once, last).", _schema(AnalysisOut))]
            if actx.run_sql is not None:
                tools += [
                    _tool(RUN_SQL, "Run one read-only SELECT (DuckDB SQL) on the bank data to check a fact.",
                          {"type": "object", "properties": {"sql": {"type": "string"},
                                                            "purpose": {"type": "string"}},
                           "required": ["sql", "purpose"]}),
                    _tool(DESCRIBE, "List the columns and types of a table.",
                          {"type": "object", "properties": {"table": {"type": "string"}}, "required": ["table"]})]
        payload = session.converse(messages, tools, SUBMIT, AnalysisOut)
        out = AnalysisOut.model_validate(payload)
        return session.to_analysis(agent.key, out, {f.id: list(f.query_ids) for f in findings})

    # -- executive summary ------------------------------------------------------------------------------
    def _summarize(self, analyses: list[AgentAnalysis], findings: list[Finding], profile: dict[str, Any],
                   actx: AnalysisContext, session: _Session, offline: Summary) -> Summary:
        from langchain_core.messages import HumanMessage, SystemMessage

        system = prompts.render("system", agent_title="Executive Summary", currency=actx.currency,
                                max_tool_calls=0, max_rows=0)
        human = prompts.render("summary", profile_summary=profile_summary(profile),
                               agent_summaries=_agent_summaries(analyses), currency=actx.currency)
        messages: list[Any] = [SystemMessage(self.masker.text(system)), HumanMessage(self.masker.text(human))]
        tools = [_tool(SUBMIT_SUMMARY, "Submit the executive summary.", _schema(SummaryOut))] if self.cfg.tools else []
        payload = session.converse(messages, tools, SUBMIT_SUMMARY, SummaryOut)
        out = SummaryOut.model_validate(payload)
        known = {f.id for f in findings}
        headline = [session.check_text(h, known) for h in out.headline]
        insights = [Insight(session.check_text(i.text, known, i.finding_ids, i.query_ids), list(i.finding_ids),
                            list(i.query_ids)) for i in out.insights]
        caveats = [session.check_text(c, known) for c in out.caveats]
        recs = merge_topics(sorted((r for a in analyses for r in a.recommendations),
                                   key=lambda r: (-r.priority, r.agent, r.finding_ids)))
        summary = Summary(headline=headline, insights=insights or offline.insights, recommendations=recs[:6],
                          caveats=caveats or offline.caveats, analyst=self.name)
        session.account(summary)
        return summary


class _Session:
    """One analyst conversation: calls, tool use, validation, accounting."""

    def __init__(self, analyst: ModelAnalyst, actx: AnalysisContext) -> None:
        self.a, self.actx = analyst, actx
        self.calls = self.tokens = self.ungrounded = 0
        self.cost = 0.0
        self.tool_calls = 0
        self.model_queries: list[str] = []

    # accounting ------------------------------------------------------------------------------------------
    def _record(self, ok: bool, latency_ms: float, attempts: int, usage: Any = None, error: str | None = None,
                status: int | None = None) -> None:
        cfg = self.a.cfg
        inp = usage.input_tokens if usage else 0
        out = usage.output_tokens if usage else 0
        cost = cfg.cost(inp, out)
        self.calls += attempts
        self.tokens += inp + out
        self.cost += cost or 0.0
        self.actx.emit(make_event("model_call", self.actx.run_id, self.actx.agent, self.actx.step, model=cfg.name,
                                  status="ok" if ok else "error", latency_ms=latency_ms, attempts=attempts,
                                  prompt_tokens=inp, completion_tokens=out, total_tokens=inp + out, cost=cost,
                                  estimated=bool(usage and usage.estimated), error=error, http_status=status))

    def account(self, target: AgentAnalysis | Summary) -> None:
        target.model_calls, target.tokens = self.calls, self.tokens
        target.cost, target.ungrounded = round(self.cost, 6), self.ungrounded

    # conversation ----------------------------------------------------------------------------------------
    def converse(self, messages: list[Any], tools: list[dict[str, Any]], submit: str,
                 schema: type[BaseModel]) -> dict[str, Any]:
        from langchain_core.messages import HumanMessage, ToolMessage

        chat = self.a.chat.bind_tools(tools) if tools else self.a.chat
        repairs = 0
        for _turn in range(self.a.limits.max_turns):
            if self.actx.cancelled():
                raise Interrupted("run cancelled")
            prompt_chars = sum(len(str(m.content)) for m in messages)
            try:
                reply, record = call_with_retries(lambda: chat.invoke(messages), self.a.cfg,
                                                  prompt_chars=prompt_chars, budget=self.a.budget,
                                                  cancelled=self.actx.cancelled)
            except ModelCallError as exc:
                self._record(False, exc.latency_ms, exc.attempts, error=exc.message, status=exc.status)
                raise
            self._record(True, record.latency_ms, record.attempts, record.usage)
            messages.append(reply)
            calls = list(getattr(reply, "tool_calls", None) or [])
            candidate: dict[str, Any] | None = None
            problem: str | None = None
            for call in calls:
                name, args, call_id = call["name"], call.get("args") or {}, call.get("id") or ""
                if name == submit:
                    candidate = args
                    messages.append(ToolMessage(content="received", tool_call_id=call_id))
                elif name in (RUN_SQL, DESCRIBE):
                    messages.append(ToolMessage(content=self.run_tool(name, args), tool_call_id=call_id))
                else:
                    messages.append(ToolMessage(content=f"unknown tool {name}", tool_call_id=call_id))
                    offered = ", ".join(t["function"]["name"] for t in tools)
                    problem = f"called an unknown tool {name!r}; the tools are {offered}"
            if not calls:
                try:
                    candidate = _parse_json(str(reply.content or ""))
                except InvalidOutput as exc:
                    problem = exc.message
            if candidate is not None and problem is None:
                try:
                    schema.model_validate(candidate)
                    return candidate
                except ValidationError as exc:
                    problem = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            if problem is None:
                continue  # the model used data tools; let it go on
            repairs += 1
            if repairs > 1:
                raise InvalidOutput(f"the model's answer was still invalid after one repair: {problem}")
            messages.append(HumanMessage(prompts.render("repair", error=problem, tool=submit)))
        raise InvalidOutput(f"no {submit} after {self.a.limits.max_turns} turns")

    def run_tool(self, name: str, args: dict[str, Any]) -> str:
        actx, limits = self.actx, self.a.limits
        if self.tool_calls >= limits.max_tool_calls or actx.run_sql is None:
            return "tool budget used up: submit your analysis now"
        self.tool_calls += 1
        if name == DESCRIBE:
            table = str(args.get("table", ""))
            if actx.describe is None or table not in actx.tables:
                return f"unknown table {table!r}; tables: {', '.join(actx.tables)}"
            return json.dumps({"table": table, "columns": [{"name": n, "type": t} for n, t in actx.describe(table)]})
        sql, purpose = str(args.get("sql", "")), str(args.get("purpose", ""))[:120] or "model query"
        try:
            result = actx.run_sql(sql, purpose, limits.max_tool_rows)
        except FinMatchError as exc:
            return f"query not run: {exc.message}"
        self.model_queries.append(result.id)
        if actx.on_model_query is not None:
            actx.on_model_query(result)
        rows = self.a.masker.rows(sql, result.columns, result.rows)
        return json.dumps({"query_id": result.id, "columns": result.columns, "rows": rows,
                           "truncated": result.truncated}, default=str)

    # validation ------------------------------------------------------------------------------------------
    def evidence(self) -> Evidence:
        return Evidence.from_queries(self.actx.evidence(), self.actx.extra_evidence)

    def check_text(self, text: str, known_findings: set[str], finding_ids: list[str] | None = None,
                   query_ids: list[str] | None = None) -> str:
        """Ids must exist; numbers must be grounded (or are marked and counted; rejected when strict)."""
        known_queries = {q["id"] for q in self.actx.evidence()} | set(self.model_queries)
        cited = set(_IDS.findall(text)) | set(finding_ids or []) | set(query_ids or [])
        unknown = sorted(i for i in cited if (i.startswith("F") and i not in known_findings)
                         or (i.startswith("Q") and i not in known_queries))
        if unknown:
            raise InvalidOutput(f"cites ids that do not exist: {', '.join(unknown)}")
        evidence = self.evidence()
        numbers, dates = find_numbers(text)
        missing = [t.raw for t in numbers if not evidence.supports(t)] + [d for d in dates if d not in evidence.dates]
        if missing:
            if self.a.strict:
                raise InvalidOutput(f"numbers not found in the evidence (--strict-grounding): {', '.join(missing)}")
            self.ungrounded += len(missing)
            for raw in dict.fromkeys(missing):
                text = re.sub(rf"(?<![\w.]){re.escape(raw)}(?![\w])", f"{raw} {UNVERIFIED}", text, count=1)
        return self.a.masker.unmask(text) if self.a.unmask else text

    def to_analysis(self, agent: str, out: AnalysisOut, finding_queries: dict[str, list[str]]) -> AgentAnalysis:
        known = set(finding_queries)

        def evidence_ids(finding_ids: list[str], query_ids: list[str]) -> list[str]:
            """The queries cited directly plus those behind the cited findings."""
            derived = [q for f in finding_ids for q in finding_queries.get(f, [])]
            return list(dict.fromkeys([*query_ids, *derived]))

        insights = [Insight(self.check_text(i.text, known, i.finding_ids, i.query_ids), list(i.finding_ids),
                            evidence_ids(i.finding_ids, i.query_ids), score=round(1 - n / 10, 2))
                    for n, i in enumerate(out.insights)]
        recs = [Recommendation(title=self.check_text(r.title, known),
                               rationale=self.check_text(r.rationale, known, r.finding_ids, r.query_ids),
                               impact=r.impact, effort=r.effort, owner=self.check_text(r.owner, known),
                               success_metric=self.check_text(r.success_metric, known),
                               horizon=r.horizon or HORIZON_BY_EFFORT[r.effort], finding_ids=list(r.finding_ids),
                               query_ids=evidence_ids(r.finding_ids, r.query_ids), agent=agent,
                               score=round(1 - n / 10, 2))
                for n, r in enumerate(out.recommendations)]
        recs.sort(key=lambda r: (-r.priority, -r.score))
        analysis = AgentAnalysis(agent=agent, insights=insights, recommendations=recs,
                                 risks=[self.check_text(r, known) for r in out.risks], analyst=self.a.name)
        self.account(analysis)
        return analysis


# -- prompt material ----------------------------------------------------------------------------------------
def _steps(agent: AgentSpec) -> str:
    return "; ".join(f"{s.name} ({s.about.rstrip('.')})" for s in agent.steps if s.kind == "data")


def profile_summary(profile: dict[str, Any]) -> str:
    lines = [f"- table {profile.get('table')}: {profile.get('rows')} rows, {profile.get('customers')} customers"]
    if profile.get("date_min"):
        lines.append(f"- recommendations dated {profile['date_min']} to {profile['date_max']}")
    tables = ", ".join(f"{t['name']} ({t['rows']} rows)" for t in profile.get("tables", []))
    if tables:
        lines.append(f"- tables: {tables}")
    for flag in profile.get("flags", []):
        if flag.get("severity") in ("warning", "error"):
            lines.append(f"- data quality ({flag['code']}): {flag['message']}")
    if profile.get("absent"):
        lines.append(f"- absent columns (not analysed): {', '.join(profile['absent'])}")
    return "\n".join(lines)


def _schema_text(profile: dict[str, Any]) -> str:
    """The dictionary description of the columns the data has (the records table follows the dictionary)."""
    from finmatch_agents.data.schema import schema_text

    return schema_text("fpr_records", set(profile.get("present", [])))


def findings_table(findings: list[Finding]) -> str:
    rows = ["id | title | statement | values"]
    for f in findings:
        if f.key == "model_query":
            continue
        rows.append(f"{f.id} | {f.title} | {f.statement} | {_flat_values(f.values)}")
    return "\n".join(rows) if len(rows) > 1 else "(no findings: the data lacks the columns these analyses need)"


def _agent_summaries(analyses: list[AgentAnalysis]) -> str:
    out = []
    for a in analyses:
        out.append(f"## {a.agent}")
        out += [f"- insight: {i.text}" for i in a.insights[:5]]
        out += [f"- recommendation ({r.impact} impact, {r.effort} effort, {r.horizon}): {r.title} — {r.rationale}"
                for r in a.recommendations[:4]]
        out += [f"- risk: {r}" for r in a.risks[:2]]
    return "\n".join(out)
