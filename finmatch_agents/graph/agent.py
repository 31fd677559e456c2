"""An agent as a subgraph: one node per workflow step, in the order of the FinMatch document.

A data step runs the agent's step function over a :class:`StepContext`; the AI step asks the run's analyst
(offline or model) for the agent's insights and recommendations; the report step hands the analysis to the
parent graph. Every step returns records (queries, findings, a :class:`StepRecord` with its blocks); the
report itself is rendered once, at publish.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from langgraph.graph import END, START, StateGraph

# LangGraph reads node annotations at runtime (get_type_hints), so these imports cannot be type-only.
from langgraph.runtime import Runtime  # noqa: TC002

from finmatch_agents.agents.base import AgentSpec, StepContext, StepSpec
from finmatch_agents.analysts.base import AnalysisRequest
from finmatch_agents.errors import FinMatchError, Interrupted, ModelError, RunCancelled
from finmatch_agents.events import Emit, make_event
from finmatch_agents.evidence import QueryLog
from finmatch_agents.graph.state import AgentInput, AgentOutput, AgentState, RunServices
from finmatch_agents.ids import BLOCK_SIZE
from finmatch_agents.records import AgentAnalysis, AgentProgress, FailedBlock, Query, StepRecord

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from finmatch_agents.warehouse.engine import QueryResult


def step_log(run_id: str, agent: str, step: str, start: int, services: RunServices, emit: Emit) -> QueryLog:
    """A query log for one step: ids from ``start``, each query reported as an event and audited."""
    def on_query(record: Query) -> None:
        emit(make_event("query", run_id, agent, step, query_id=record.id, title=record.title, status=record.status,
                        rows=record.rows, elapsed_ms=record.elapsed_ms, tables=list(record.tables)))

    return QueryLog("Q", start, agent=agent, step=step, sinks=[on_query, *([services.audit] if services.audit else [])])


def analysis_request(sc: StepContext, state: AgentState, services: RunServices, emit: Emit) -> AnalysisRequest:
    """What the AI step's analyst may use: this agent's evidence, the profile, and the sandbox for tools."""
    engine = sc.engine
    restored = state.get("restored") or AgentProgress()
    own = [*state.get("context_queries", []), *restored.queries, *state.get("queries", [])]
    run = state["run"]

    def evidence() -> list[Query]:
        return own + list(sc.log.records)

    def run_sql(sql: str, purpose: str, max_rows: int) -> QueryResult:
        return engine.query(sql, log=sc.log, title=f"Model query: {purpose}", max_rows=max_rows)

    def on_model_query(result: QueryResult) -> None:
        sc.finding("model_query", "Query requested by the model",
                   f"The model checked the data with an additional query ({result.record.rows} rows).",
                   {"rows": result.record.rows}, [result], units={"rows": "count"})

    return AnalysisRequest(
        run_id=sc.run_id, agent=sc.spec.key, step=sc.step.name, currency=run.currency, emit=emit,
        evidence=evidence, extra_evidence=[[a.to_json() for a in run.assumptions]],
        findings=lambda: [*sc.prior_findings, *sc.findings],
        run_sql=run_sql, tables=engine.tables(), describe=lambda t: [(c.name, c.type) for c in engine.columns(t)],
        on_model_query=on_model_query, cancelled=services.cancel.is_set)


def make_step_node(spec: AgentSpec, index: int, step: StepSpec) -> Callable[..., dict[str, Any]]:
    def node(state: AgentState, runtime: Runtime[RunServices]) -> dict[str, Any]:
        services = runtime.context
        if services.cancel.is_set():
            raise RunCancelled("run cancelled before this step")
        emit: Emit = runtime.stream_writer
        run = state["run"]
        restored = state.get("restored") or AgentProgress()
        if step.kind == "data" and restored.done(step.name):
            return {}  # finished before the run was interrupted: its records are already in the run
        started = time.perf_counter()
        emit(make_event("step_started", run.run_id, spec.key, step.name, index=index, kind=step.kind,
                        total_steps=len(spec.steps)))
        used = len(restored.queries) + len(state.get("queries", []))
        log = step_log(run.run_id, spec.key, step.name, spec.block + 1 + used, services, emit)
        sc = StepContext(spec, step, run_id=run.run_id, table=run.table, currency=run.currency,
                         profile=state["profile"], engine=services.engine, assumptions=services.assumptions,
                         emit=emit, log=log, prior_findings=[*restored.findings, *state.get("findings", [])],
                         state_dir=services.settings.state_dir)
        update: dict[str, Any] = {}
        status: Literal["done", "failed"] = "done"
        error: str | None = None
        try:
            if step.kind == "data" and step.run is not None:
                step.run(sc)
            elif step.kind == "ai":
                if step.run is not None:  # deterministic SQL the AI step needs (e.g. scenario projections)
                    step.run(sc)
                findings = sc.prior_findings + sc.findings
                request = analysis_request(sc, state, services, emit)
                analysis = services.analyst.analyze(spec, findings, state["profile"], request)
                for warning in analysis.warnings:
                    emit(make_event("warning", run.run_id, spec.key, step.name, message=warning))
                update["analysis"] = analysis
            elif step.kind == "report":
                analysis = state.get("analysis") or AgentAnalysis(agent=spec.key)
                update["analyses"] = {spec.key: analysis}
        except (Interrupted, ModelError):  # a stop request, or a model failure with fallback off: end the run
            raise
        except FinMatchError as exc:  # a query failed or timed out: report it, keep going
            if services.cancel.is_set():
                raise RunCancelled(str(exc)) from exc
            status, error = "failed", f"{exc.title}: {exc.message}"
            sc.blocks.append(FailedBlock(reason=error))
            emit(make_event("warning", run.run_id, spec.key, step.name, message=f"step failed: {error}"))
        except Exception as exc:
            if services.cancel.is_set():
                raise RunCancelled(str(exc)) from exc
            error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            emit(make_event("error", run.run_id, spec.key, step.name, message=error))
            raise
        elapsed = (time.perf_counter() - started) * 1000
        if used + len(log.records) >= BLOCK_SIZE:
            raise RuntimeError(f"{spec.key} ran more than {BLOCK_SIZE - 1} queries; its ids would overflow")
        record = StepRecord(agent=spec.key, step=step.name, index=index, kind=step.kind, status=status,
                            blocks=tuple(sc.blocks), finding_ids=tuple(f.id for f in sc.findings),
                            query_ids=tuple(q.id for q in log.records), elapsed_ms=round(elapsed, 1), error=error)
        emit(make_event("step_finished", run.run_id, spec.key, step.name, index=index, status=status,
                        elapsed_ms=record.elapsed_ms, queries=len(log.records),
                        rows=sum(q.rows for q in log.records), findings=len(sc.findings), error=error))
        return {**update, "queries": list(log.records), "findings": sc.findings, "steps": [record]}

    node.__name__ = f"{spec.key}_{index}"
    return node


def build_agent_graph(spec: AgentSpec) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The agent's subgraph: one node per workflow step, in document order."""
    graph = StateGraph(AgentState, context_schema=RunServices, input_schema=AgentInput, output_schema=AgentOutput)
    previous = START
    for index, step in enumerate(spec.steps, start=1):
        graph.add_node(step.name, make_step_node(spec, index, step))
        graph.add_edge(previous, step.name)
        previous = step.name
    graph.add_edge(previous, END)
    return graph.compile(name=spec.key)
