"""Runs the analysis graph: new runs and resumed ones, cooperative stop, history, events to a view.

The runner is library code (the CLI and the scheduler both use it). It streams the graph's custom events,
records them in the run store and passes them to a sink (a view). SIGINT/SIGTERM set the run's cancel
flag and interrupt running queries: nodes stop at the next query or step, every finished step is already
checkpointed, and ``--resume RUN_ID`` continues from there. A second signal exits at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents import __version__
from finmatch_agents.agents import AGENTS, FOCUS_ALL, FOCUS_ORDER, resolve_focus
from finmatch_agents.agents.base import build_run_tables
from finmatch_agents.analysts.registry import get_analyst
from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.clock import utc_now
from finmatch_agents.data.checks import check_recommendations_table, run_currency
from finmatch_agents.data.default_db import ensure_default_database
from finmatch_agents.data.profile import profile_dataset
from finmatch_agents.diff import previous_snapshot
from finmatch_agents.errors import Busy, DataError, FinMatchError, Interrupted, RunCancelled, UsageError
from finmatch_agents.events import make_event
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.graph import RunServices, build_graph
from finmatch_agents.graph.nodes import PREPARE, records_of
from finmatch_agents.processes import pid_alive
from finmatch_agents.records import AssumptionValue, Profile, ReportFile, RunMeta
from finmatch_agents.report.files import check_writable
from finmatch_agents.runs import RunStore, new_run_id, open_checkpointer
from finmatch_agents.warehouse.engine import open_engine

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from finmatch_agents.config import Settings

Sink = Callable[[dict[str, Any]], None]
__all__ = ["FOCUS_ALL", "RunRequest", "RunResult", "resolve_focus", "run_analysis"]


@dataclass
class RunRequest:
    focus: list[str] = field(default_factory=lambda: [FOCUS_ALL])
    resume: str | None = None
    job: str | None = None  # set by the scheduler: reports go to reports/<job>/
    formats: tuple[str, ...] = ("md",)  # report files: markdown, and "html" beside it when asked


@dataclass
class RunResult:
    run_id: str
    status: str
    report_path: str | None
    latest_path: str | None
    stats: dict[str, Any]
    resumed: bool = False
    state: dict[str, Any] = field(default_factory=dict, repr=False)
    html_path: str | None = None  # the HTML page beside the report, when the run's formats ask for one


@contextlib.contextmanager
def cancel_on_signals(cancel: Callable[[], None]) -> Iterator[threading.Event]:
    """SIGINT/SIGTERM ask the run to stop (once); a second signal exits immediately with 130."""
    fired = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield fired
        return

    def handler(signum: int, frame: Any) -> None:
        if fired.is_set():
            os._exit(130)
        fired.set()
        cancel()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield fired
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_analysis(settings: Settings, request: RunRequest, sink: Sink, *,
                 notify: Callable[[str], None] | None = None) -> RunResult:
    """Run (or resume) one analysis to completion; raises :class:`Interrupted` if stopped."""
    check_writable(settings.reports_dir)
    store = RunStore(settings.state_dir / "runs.sqlite")
    resumed = request.resume is not None
    focus: list[str] = []
    if request.resume:
        row = store.get(request.resume)
        if row is None:
            raise UsageError(f"--resume: no run {request.resume} in {store.path}",
                             hint="`finmatch history list` shows runs")
        if row["status"] == "completed":
            raise UsageError(f"run {request.resume} already completed; its report is {row['report_path']}")
        if row["status"] == "running" and pid_alive(row["pid"]):
            raise Busy(f"run {request.resume} is still running in process {row['pid']}")
        settings = settings.with_overrides(db=row["db"], table=row["table_name"], model=row["model"])
        run_id = request.resume
    else:
        focus = resolve_focus(request.focus)
        ensure_default_database(settings, notify or (lambda _m: None))
        run_id = new_run_id()

    engine = open_engine(settings)
    checkpointer = None
    try:
        # before any work: the table exists, is a recommendations table and has rows (exit 3 otherwise)
        check = check_recommendations_table(engine, settings.table)
        currency, currency_warning = run_currency(settings.currency, settings.sources.get("currency", "default"),
                                                  check)
        assumptions = load_assumptions(settings)
        analyst = get_analyst(settings.model, settings)
        audit = AuditLog(settings.state_dir / "sql-audit.jsonl", f"analyze:{run_id}")
        services = RunServices(engine=engine, settings=settings, assumptions=assumptions, analyst=analyst,
                               audit=audit)
        checkpointer = open_checkpointer(settings.state_dir)
        graph = build_graph(checkpointer)
        config: RunnableConfig = {"configurable": {"thread_id": run_id}}
        graph_input: dict[str, Any] | None
        if resumed:
            snapshot = graph.get_state(config)
            if not snapshot.values:
                raise UsageError(f"run {run_id} has no checkpoint to resume from; start a new run")
            run: RunMeta = snapshot.values["run"]
            if run.reports_dir:
                check_writable(Path(run.reports_dir))
            _check_same_data(engine, run, snapshot.values.get("profile"))
            _rebuild_run_tables(engine, run, snapshot.values.get("profile"), assumptions, audit)
            if not snapshot.next and not snapshot.tasks and missing_parts(snapshot.values):
                # nothing pending, yet the run is not complete: continue after prepare, which routes only to
                # what is missing (agents without an analysis, then the summary and the report)
                graph.update_state(config, None, as_node="prepare")
            store.resume_run(run_id)
            graph_input = None
        else:
            run = RunMeta(run_id=run_id, focus=tuple(focus), model=settings.model, db=str(settings.db),
                          table=settings.table, created_at=utc_now(), currency=currency,
                          version=__version__, reports_dir=str(settings.reports_dir), formats=request.formats,
                          assumptions=tuple(AssumptionValue(**a) for a in assumptions.to_list()), job=request.job,
                          # the report's "Changes since last run" compares with the job's previous run
                          previous=previous_snapshot(store, request.job) if request.job else None)
            store.start_run(run)
            graph_input = {"run": run}
        audit.warn = lambda message: sink(make_event("warning", run_id, None, None, message=message))
        warnings = [currency_warning] if currency_warning and not resumed else []
        return _stream(graph, graph_input, config, services, store, run, sink, resumed, warnings)
    finally:
        engine.close()
        store.close()
        if checkpointer is not None:  # a chat session runs many analyses in one process
            checkpointer.conn.close()


def _check_same_data(engine: Any, run: RunMeta, profile: Profile | None) -> None:
    """Resuming on changed data would mix two datasets in one report: refuse."""
    if profile is None:
        return
    current = profile_dataset(engine, QueryLog(), run.table).fingerprint
    if current != profile.fingerprint:
        raise DataError(f"the data changed since run {run.run_id} started (fingerprint {profile.fingerprint}"
                        f" -> {current}); a resumed report would mix two datasets",
                        file=run.db, hint="start a new run instead of resuming")


def _rebuild_run_tables(engine: Any, run: RunMeta, profile: Profile | None, assumptions: Any, audit: AuditLog) -> None:
    """A resumed run continues in a new process: rebuild the run tables its prepare step built (and logged as
    its own queries), so the agents read them as they would have and the report is the one a fresh run
    writes. The rebuild is audited, under ids of its own (R1...), and adds nothing to the report."""
    if profile is None:  # prepare has not finished: it builds them itself
        return
    log = QueryLog("R", agent=PREPARE, step="Rebuilding the run tables of a resumed run", sinks=[audit])
    build_run_tables([AGENTS[k] for k in run.focus if k in AGENTS], engine, log, table=run.table, profile=profile,
                     assumptions=assumptions)


def missing_parts(state: dict[str, Any]) -> list[str]:
    """What a finished graph state still lacks: a selected agent's analysis, the summary, the report."""
    run: RunMeta = state["run"]
    analyses = state.get("analyses", {})
    missing = [f"agent {k}" for k in FOCUS_ORDER if k in run.focus and k not in analyses]
    missing += [part for part in ("summary", "report") if state.get(part) is None]
    return missing


def _stream(graph: Any, graph_input: dict[str, Any] | None, config: RunnableConfig, services: RunServices,
            store: RunStore, run: RunMeta, sink: Sink, resumed: bool, warnings: list[str] | None = None) -> RunResult:
    run_id = run.run_id
    started = time.perf_counter()

    def emit(event: dict[str, Any]) -> None:
        store.record(event)
        sink(event)

    def stop() -> None:
        services.cancel.set()
        services.engine.cancel()

    emit(make_event("run_started", run_id, None, None, focus=list(run.focus), model=run.model, db=run.db,
                    table=run.table, resumed=resumed, completed_steps=_done_steps(store, run_id)))
    for message in warnings or ():
        emit(make_event("warning", run_id, None, None, message=message))
    try:
        with cancel_on_signals(stop) as signalled:
            for _ns, _mode, payload in graph.stream(graph_input, config, context=services, stream_mode=["custom"],
                                                    subgraphs=True, durability="sync"):
                if isinstance(payload, dict) and payload.get("event"):
                    emit(payload)
            if signalled.is_set() and graph.get_state(config).next:
                raise RunCancelled("stopped by signal")
        state = graph.get_state(config).values
        done = graph.get_state(config)
        if missing_parts(state) and not done.next and not done.tasks:
            # the graph thinks it is done, yet a part is missing (seen after SIGKILL mid-run): route again from
            # prepare, which sends only what is missing; agents continue after the steps they finished
            graph.update_state(config, None, as_node="prepare")
            for _ns, _mode, payload in graph.stream(None, config, context=services, stream_mode=["custom"],
                                                    subgraphs=True, durability="sync"):
                if isinstance(payload, dict) and payload.get("event"):
                    emit(payload)
            state = graph.get_state(config).values
        missing = missing_parts(state)
        if missing:
            raise Interrupted(f"run {run_id} ended without {', '.join(missing)}")
    except (RunCancelled, Interrupted, KeyboardInterrupt) as exc:
        store.mark_open_steps(run_id, "interrupted")
        store.finish_run(run_id, "interrupted", error="stopped before finishing; resume with --resume")
        emit(make_event("run_finished", run_id, None, None, status="interrupted",
                        elapsed_s=round(time.perf_counter() - started, 2)))
        raise Interrupted(f"run {run_id} stopped; finished steps are saved",
                          hint=f"continue it with: finmatch analyze --resume {run_id}") from exc
    except Exception as exc:
        message = f"{exc.title}: {exc.message}" if isinstance(exc, FinMatchError) else f"{type(exc).__name__}: {exc}"
        store.mark_open_steps(run_id, "failed")
        store.finish_run(run_id, "failed", error=message)
        emit(make_event("error", run_id, None, None, message=message))
        emit(make_event("run_finished", run_id, None, None, status="failed"))
        raise
    report: ReportFile = state["report"]
    profile: Profile = state["profile"]
    stats = report.stats
    store.save_results(run_id, state.get("queries", []), state.get("findings", []))
    store.save_records(records_of(state).model_copy(update={"report": report}))
    store.finish_run(run_id, "completed", fingerprint=profile.fingerprint, dataset_rows=profile.rows,
                     report_path=report.path, queries=stats.queries, findings=stats.findings,
                     model_calls=stats.model_calls, tokens=stats.tokens, cost=stats.model_cost,
                     ungrounded=stats.ungrounded_numbers, duration_s=stats.duration_s)
    with contextlib.suppress(Exception):  # the report is written: the run's checkpoints are no longer needed
        graph.checkpointer.delete_thread(run_id)
    emit(make_event("run_finished", run_id, None, None, status="completed", report=report.path,
                    elapsed_s=round(time.perf_counter() - started, 2), queries=stats.queries,
                    findings=stats.findings, ungrounded_numbers=stats.ungrounded_numbers))
    return RunResult(run_id, "completed", report.path, report.latest,
                     stats.model_dump(exclude={"duration_s"}) | {"duration_s": stats.duration_s}, resumed, state,
                     html_path=report.html)


def _done_steps(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    return [{"agent": s["agent"], "step": s["step"], "elapsed_ms": s["elapsed_ms"], "status": s["status"]}
            for s in store.steps(run_id) if s["status"] == "done"]
