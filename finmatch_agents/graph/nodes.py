"""The analysis graph's own nodes: ``prepare`` (profile and validate the data), ``synthesize`` (the
executive summary across agents) and ``publish`` (render the report once and write it atomically)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# LangGraph reads node annotations at runtime (get_type_hints), so these imports cannot be type-only.
from langgraph.runtime import Runtime  # noqa: TC002
from langgraph.types import Send

from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.agents.base import build_run_tables
from finmatch_agents.analysts.base import AnalysisRequest
from finmatch_agents.data.profile import profile_dataset
from finmatch_agents.errors import DataError, RunCancelled
from finmatch_agents.events import make_event
from finmatch_agents.graph.agent import step_log
from finmatch_agents.graph.state import RunServices, RunState  # noqa: TC001 - read by LangGraph at runtime
from finmatch_agents.records import AgentProgress, ReportFile, RunRecords
from finmatch_agents.report.document import render_report
from finmatch_agents.report.files import html_paths, report_paths, write_report
from finmatch_agents.report.html import render_html
from finmatch_agents.report.outline import dataset_origin
from finmatch_agents.warehouse.sqltext import literal

PREPARE, SYNTHESIZE, PUBLISH = "prepare", "synthesize", "publish"
PREPARE_STEP = "Dataset profiling and validation"
SYNTHESIZE_STEP = "Executive summary"
PUBLISH_STEP = "Report publication"


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def prepare(state: RunState, runtime: Runtime[RunServices]) -> dict[str, Any]:
    services, emit, run = runtime.context, runtime.stream_writer, state["run"]
    if services.cancel.is_set():
        raise RunCancelled("run cancelled")
    started = time.perf_counter()
    emit(make_event("step_started", run.run_id, PREPARE, PREPARE_STEP, index=1, kind="data", total_steps=1))
    log = step_log(run.run_id, PREPARE, PREPARE_STEP, 1, services, emit)
    profile = profile_dataset(services.engine, log, run.table)
    missing = [f for f in profile.flags if f.code == "missing-required"]
    if missing:
        raise DataError(missing[0].message, file=run.db, hint="load the data with a mapping that provides them")
    echo = ", ".join(f"{literal(v)} AS {k}" for k, v in services.assumptions.params().items())
    assumptions = services.engine.query(f"SELECT {echo}", log=log,
                                        title="Assumptions used for money figures and thresholds",
                                        units=services.assumptions.units())
    profile = profile.model_copy(update={"query_ids": {**profile.query_ids, "assumptions": assumptions.id}})
    build_run_tables([AGENTS[k] for k in run.focus if k in AGENTS], services.engine, log, table=run.table,
                     profile=profile, assumptions=services.assumptions)
    emit(make_event("step_finished", run.run_id, PREPARE, PREPARE_STEP, index=1, status="done",
                    elapsed_ms=_elapsed(started), queries=len(log.records), rows=sum(q.rows for q in log.records),
                    findings=0, dataset_rows=profile.rows, tables={t.name: t.rows for t in profile.tables},
                    dataset_origin=dataset_origin(profile).short))
    return {"profile": profile, "queries": list(log.records)}


def route(state: RunState) -> list[Send] | str:
    """Fan out to the selected agents that have no analysis yet (all of them, except when a run resumes
    after some finished); straight to the summary when none is missing."""
    run, done = state["run"], state.get("analyses", {})
    context = [q for q in state.get("queries", []) if q.agent == PREPARE]
    sends = [Send(key, {"agent": key, "run": run, "profile": state["profile"], "context_queries": context,
                        "restored": progress_of(state, key)})
             for key in FOCUS_ORDER if key in run.focus and key not in done]
    return sends or SYNTHESIZE


def progress_of(state: RunState, agent: str) -> AgentProgress:
    """The records an agent already added to the run (none on a fresh run)."""
    return AgentProgress(steps=tuple(s for s in state.get("steps", []) if s.agent == agent),
                         findings=tuple(f for f in state.get("findings", []) if f.agent == agent),
                         queries=tuple(q for q in state.get("queries", []) if q.agent == agent))


def synthesize(state: RunState, runtime: Runtime[RunServices]) -> dict[str, Any]:
    services, emit, run = runtime.context, runtime.stream_writer, state["run"]
    if services.cancel.is_set():
        raise RunCancelled("run cancelled")
    started = time.perf_counter()
    emit(make_event("step_started", run.run_id, SYNTHESIZE, SYNTHESIZE_STEP, index=1, kind="ai", total_steps=1))
    analyses = state.get("analyses", {})
    queries = list(state.get("queries", []))
    request = AnalysisRequest(run_id=run.run_id, agent=SYNTHESIZE, step=SYNTHESIZE_STEP, currency=run.currency,
                              emit=emit, evidence=lambda: queries,
                              extra_evidence=[[a.to_json() for a in run.assumptions]],
                              findings=lambda: list(state.get("findings", [])),
                              cancelled=services.cancel.is_set)
    summary = services.analyst.summarize([analyses[k] for k in FOCUS_ORDER if k in analyses],
                                         state.get("findings", []), state["profile"], request)
    for warning in summary.warnings:
        emit(make_event("warning", run.run_id, SYNTHESIZE, SYNTHESIZE_STEP, message=warning))
    emit(make_event("step_finished", run.run_id, SYNTHESIZE, SYNTHESIZE_STEP, index=1, status="done",
                    elapsed_ms=_elapsed(started), queries=0, rows=0, findings=0))
    return {"summary": summary}


def records_of(state: RunState) -> RunRecords:
    """The records a report is rendered from (everything but live objects)."""
    return RunRecords(run=state["run"], profile=state.get("profile"), queries=tuple(state.get("queries", [])),
                      findings=tuple(state.get("findings", [])), steps=tuple(state.get("steps", [])),
                      analyses=dict(state.get("analyses", {})), summary=state.get("summary"))


def publish(state: RunState, runtime: Runtime[RunServices]) -> dict[str, Any]:
    services, emit, run = runtime.context, runtime.stream_writer, state["run"]
    started = time.perf_counter()
    emit(make_event("step_started", run.run_id, PUBLISH, PUBLISH_STEP, index=1, kind="report", total_steps=1))
    records = records_of(state)
    text, stats = render_report(records)
    path, latest = report_paths(Path(run.reports_dir) if run.reports_dir else services.settings.reports_dir, run)
    write_report(text, path, latest)
    html = html_latest = None
    if "html" in run.formats:
        html_path, html_latest_path = html_paths(path, latest)
        page = render_html(records.model_copy(update={"report": ReportFile(path=str(path), latest=str(latest),
                                                                           stats=stats)}))
        write_report(page, html_path, html_latest_path)
        html, html_latest = str(html_path), str(html_latest_path)
    emit(make_event("step_finished", run.run_id, PUBLISH, PUBLISH_STEP, index=1, status="done",
                    elapsed_ms=_elapsed(started), queries=0, rows=0, findings=0))
    emit(make_event("report_written", run.run_id, PUBLISH, PUBLISH_STEP, path=str(path), latest=str(latest),
                    **({"html": html, "html_latest": html_latest} if html else {})))
    return {"report": ReportFile(path=str(path), latest=str(latest), stats=stats, html=html, html_latest=html_latest)}
