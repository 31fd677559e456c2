"""The analysis graph (DESIGN §3): prepare -> selected focus agents in parallel -> synthesize -> publish.

``prepare`` profiles and validates the dataset; each selected agent runs as its own subgraph (fanned
out with ``Send``, so agents progress independently); ``synthesize`` writes the executive summary across
agents; ``publish`` renders the report and writes it atomically. The graph only wires nodes: agents
live in ``agents/``, the report in ``report/``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

# LangGraph reads node annotations at runtime (get_type_hints), so these imports cannot be type-only.
from langgraph.runtime import Runtime  # noqa: TC002
from langgraph.types import Send

from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.agents.base import RunCancelled, build_agent_graph
from finmatch_agents.errors import DataError
from finmatch_agents.evidence import Finding, QueryLog, QueryRecord
from finmatch_agents.llm.analyst import AgentAnalysis, AnalysisContext
from finmatch_agents.state import RunContext, RunState
from finmatch_agents.trace import make_event
from finmatch_agents.warehouse.sqltext import literal

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

PREPARE, SYNTHESIZE, PUBLISH = "prepare", "synthesize", "publish"
PREPARE_STEP = "Dataset profiling and validation"
SYNTHESIZE_STEP = "Executive summary"
PUBLISH_STEP = "Report publication"


def _step_log(run_id: str, agent: str, step: str, start: int, ctx: RunContext,
              emit: Any) -> QueryLog:
    def on_query(record: QueryRecord) -> None:
        emit(make_event("query", run_id, agent, step, query_id=record.id, title=record.title, status=record.status,
                        rows=record.rows, elapsed_ms=record.elapsed_ms, tables=list(record.tables)))

    return QueryLog("Q", start, agent=agent, step=step, sinks=[on_query, *([ctx.audit] if ctx.audit else [])])


def prepare(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from finmatch_agents.data.profile import profile_dataset

    ctx, emit, run = runtime.context, runtime.stream_writer, state["run"]
    if ctx.cancel.is_set():
        raise RunCancelled("run cancelled")
    started = time.perf_counter()
    emit(make_event("step_started", run["run_id"], PREPARE, PREPARE_STEP, index=1, kind="data", total_steps=1))
    log = _step_log(run["run_id"], PREPARE, PREPARE_STEP, 1, ctx, emit)
    profile = profile_dataset(ctx.engine, log, run["table"])
    missing = [f for f in profile.flags if f.code == "missing-required"]
    if missing:
        raise DataError(missing[0].message, file=run["db"], hint="load the data with a mapping that provides them")
    echo = ", ".join(f"{literal(v)} AS {k}" for k, v in ctx.assumptions.params().items())
    assumptions = ctx.engine.query(f"SELECT {echo}", log=log, title="Assumptions used for money figures and thresholds")
    data = profile.to_dict()
    data["query_ids"]["assumptions"] = assumptions.id
    emit(make_event("step_finished", run["run_id"], PREPARE, PREPARE_STEP, index=1, status="done",
                    elapsed_ms=round((time.perf_counter() - started) * 1000, 1), queries=len(log.records),
                    rows=sum(q.rows for q in log.records), findings=0, dataset_rows=profile.rows,
                    tables={t.name: t.rows for t in profile.tables}))
    from finmatch_agents.evidence import jsonable

    return {"profile": jsonable(data), "queries": [q.to_dict() for q in log.records]}


def route(state: RunState) -> list[Send]:
    focus = state["run"]["focus"]
    context = [q for q in state.get("queries", []) if q.get("agent") == PREPARE]
    return [Send(key, {"agent": key, "run": state["run"], "profile": state["profile"], "context_queries": context})
            for key in FOCUS_ORDER if key in focus]


def synthesize(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    ctx, emit, run = runtime.context, runtime.stream_writer, state["run"]
    if ctx.cancel.is_set():
        raise RunCancelled("run cancelled")
    started = time.perf_counter()
    emit(make_event("step_started", run["run_id"], SYNTHESIZE, SYNTHESIZE_STEP, index=1, kind="ai", total_steps=1))
    sections = state.get("sections", {})
    analyses = [AgentAnalysis.from_dict(sections[k]["analysis"]) for k in FOCUS_ORDER if k in sections]
    findings = [Finding.from_dict(f) for f in state.get("findings", [])]
    queries = list(state.get("queries", []))
    actx = AnalysisContext(run_id=run["run_id"], agent=SYNTHESIZE, step=SYNTHESIZE_STEP,
                           currency=run.get("currency", "USD"), emit=emit, evidence=lambda: queries,
                           extra_evidence=[state.get("profile", {}), run.get("assumptions", [])],
                           cancelled=ctx.cancel.is_set)
    summary = ctx.analyst.summarize(analyses, findings, state.get("profile", {}), actx)
    for warning in summary.warnings:
        emit(make_event("warning", run["run_id"], SYNTHESIZE, SYNTHESIZE_STEP, message=warning))
    emit(make_event("step_finished", run["run_id"], SYNTHESIZE, SYNTHESIZE_STEP, index=1, status="done",
                    elapsed_ms=round((time.perf_counter() - started) * 1000, 1), queries=0, rows=0, findings=0))
    return {"summary": summary.to_dict()}


def publish(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
    from finmatch_agents.report.files import report_paths, write_report
    from finmatch_agents.report.render import render_report

    ctx, emit, run = runtime.context, runtime.stream_writer, state["run"]
    started = time.perf_counter()
    emit(make_event("step_started", run["run_id"], PUBLISH, PUBLISH_STEP, index=1, kind="report", total_steps=1))
    text, meta = render_report(dict(state))
    path, latest = report_paths(ctx.settings.reports_dir, run)
    write_report(text, path, latest)
    emit(make_event("step_finished", run["run_id"], PUBLISH, PUBLISH_STEP, index=1, status="done",
                    elapsed_ms=round((time.perf_counter() - started) * 1000, 1), queries=0, rows=0, findings=0))
    emit(make_event("report_written", run["run_id"], PUBLISH, PUBLISH_STEP, path=str(path), latest=str(latest)))
    return {"report": {"path": str(path), "latest": str(latest), **meta}}


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(RunState, context_schema=RunContext)
    graph.add_node(PREPARE, prepare)
    for key in FOCUS_ORDER:
        graph.add_node(key, build_agent_graph(AGENTS[key]))
        graph.add_edge(key, SYNTHESIZE)
    graph.add_node(SYNTHESIZE, synthesize)
    graph.add_node(PUBLISH, publish)
    graph.add_edge(START, PREPARE)
    graph.add_conditional_edges(PREPARE, route, list(FOCUS_ORDER))
    graph.add_edge(SYNTHESIZE, PUBLISH)
    graph.add_edge(PUBLISH, END)
    return graph.compile(checkpointer=checkpointer, name="finmatch")
