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
from typing import TYPE_CHECKING, Any

from finmatch_agents import __version__
from finmatch_agents.errors import Busy, DataError, FinMatchError, Interrupted, UsageError
from finmatch_agents.evidence import AuditLog, QueryLog, utc_now
from finmatch_agents.trace import make_event

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

    from finmatch_agents.config import Settings
    from finmatch_agents.runs import RunStore

Sink = Callable[[dict[str, Any]], None]
FOCUS_ALL = "all"


@dataclass
class RunRequest:
    focus: list[str] = field(default_factory=lambda: [FOCUS_ALL])
    resume: str | None = None
    job: str | None = None  # set by the scheduler: reports go to reports/<job>/


@dataclass
class RunResult:
    run_id: str
    status: str
    report_path: str | None
    latest_path: str | None
    stats: dict[str, Any]
    resumed: bool = False
    state: dict[str, Any] = field(default_factory=dict, repr=False)


def resolve_focus(values: list[str]) -> list[str]:
    from finmatch_agents.agents import FOCUS_ORDER

    chosen: list[str] = []
    for value in values or [FOCUS_ALL]:
        for item in (v.strip() for v in value.split(",")):
            if item == FOCUS_ALL:
                chosen.extend(FOCUS_ORDER)
            elif item in FOCUS_ORDER:
                chosen.append(item)
            else:
                raise UsageError(f"--focus: '{item}' is not one of {', '.join((*FOCUS_ORDER, FOCUS_ALL))}")
    return [k for k in FOCUS_ORDER if k in chosen]


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
    from finmatch_agents.assumptions import load_assumptions
    from finmatch_agents.data.generator import ensure_default_database
    from finmatch_agents.graph import build_graph
    from finmatch_agents.llm.registry import get_analyst
    from finmatch_agents.processes import pid_alive
    from finmatch_agents.runs import RunStore, new_run_id, open_checkpointer
    from finmatch_agents.state import RunContext
    from finmatch_agents.warehouse.engine import open_engine

    store = RunStore(settings.state_dir / "runs.sqlite")
    resumed = request.resume is not None
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
        if not engine.has_table(settings.table):
            raise UsageError(f"table '{settings.table}' is not in {settings.db} (tables: {', '.join(engine.tables())})",
                             hint="load data with `finmatch data load FILE` or set --db / FINMATCH_TABLE")
        assumptions = load_assumptions(settings)
        analyst = get_analyst(settings.model, settings)
        audit = AuditLog(settings.state_dir / "sql-audit.jsonl", f"analyze:{run_id}")
        ctx = RunContext(engine=engine, settings=settings, assumptions=assumptions, analyst=analyst, audit=audit)
        checkpointer = open_checkpointer(settings.state_dir)
        graph = build_graph(checkpointer)
        config: RunnableConfig = {"configurable": {"thread_id": run_id}}
        if resumed:
            snapshot = graph.get_state(config)
            if not snapshot.values:
                raise UsageError(f"run {run_id} has no checkpoint to resume from; start a new run")
            run = snapshot.values["run"]
            _check_same_data(engine, run, snapshot.values.get("profile", {}))
            store.resume_run(run_id)
            graph_input: dict[str, Any] | None = None
        else:
            run = {"run_id": run_id, "focus": focus, "model": settings.model, "db": str(settings.db),
                   "table": settings.table, "created_at": utc_now(), "currency": settings.currency,
                   "version": __version__, "assumptions": assumptions.to_list(), "job": request.job}
            if request.job:  # the report's "Changes since last run" compares with the job's previous run
                from finmatch_agents.diff import previous_meta

                run["previous"] = previous_meta(store, request.job)
            store.start_run(run)
            graph_input = {"run": run}
        return _stream(graph, graph_input, config, ctx, store, run, sink, resumed)
    finally:
        engine.close()
        store.close()
        if checkpointer is not None:  # a chat session runs many analyses in one process
            checkpointer.conn.close()


def _check_same_data(engine: Any, run: dict[str, Any], profile: dict[str, Any]) -> None:
    """Resuming on changed data would mix two datasets in one report: refuse."""
    from finmatch_agents.data.profile import profile_dataset

    if not profile:
        return
    current = profile_dataset(engine, QueryLog(), run["table"]).fingerprint
    if current != profile.get("fingerprint"):
        raise DataError(f"the data changed since run {run['run_id']} started (fingerprint {profile.get('fingerprint')}"
                        f" -> {current}); a resumed report would mix two datasets",
                        file=run["db"], hint="start a new run instead of resuming")


def _stream(graph: Any, graph_input: dict[str, Any] | None, config: RunnableConfig, ctx: Any, store: RunStore,
            run: dict[str, Any], sink: Sink, resumed: bool) -> RunResult:
    from finmatch_agents.agents.base import RunCancelled

    run_id = run["run_id"]
    started = time.perf_counter()

    def emit(event: dict[str, Any]) -> None:
        store.record(event)
        sink(event)

    def stop() -> None:
        ctx.cancel.set()
        ctx.engine.cancel()

    emit(make_event("run_started", run_id, None, None, focus=run["focus"], model=run["model"], db=run["db"],
                    table=run["table"], resumed=resumed, completed_steps=_done_steps(store, run_id)))
    try:
        with cancel_on_signals(stop) as signalled:
            for _ns, _mode, payload in graph.stream(graph_input, config, context=ctx, stream_mode=["custom"],
                                                    subgraphs=True, durability="sync"):
                if isinstance(payload, dict) and payload.get("event"):
                    emit(payload)
            if signalled.is_set() and graph.get_state(config).next:
                raise RunCancelled("stopped by signal")
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
    state = graph.get_state(config).values
    report = state.get("report", {})
    profile = state.get("profile", {})
    store.save_results(run_id, state.get("queries", []), state.get("findings", []))
    store.finish_run(run_id, "completed", fingerprint=profile.get("fingerprint"), dataset_rows=profile.get("rows"),
                     report_path=report.get("path"), queries=report.get("queries"), findings=report.get("findings"),
                     model_calls=report.get("model_calls"), tokens=report.get("tokens"), cost=report.get("model_cost"),
                     ungrounded=report.get("ungrounded_numbers"), duration_s=report.get("duration_s"))
    with contextlib.suppress(Exception):  # checkpoints of a finished run are no longer needed
        graph.checkpointer.delete_thread(run_id)
    emit(make_event("run_finished", run_id, None, None, status="completed", report=report.get("path"),
                    elapsed_s=round(time.perf_counter() - started, 2), queries=report.get("queries"),
                    findings=report.get("findings"), ungrounded_numbers=report.get("ungrounded_numbers")))
    return RunResult(run_id, "completed", report.get("path"), report.get("latest"),
                     {k: report.get(k) for k in ("queries", "findings", "model_calls", "tokens", "model_cost",
                                                 "ungrounded_numbers", "duration_s")}, resumed, state)


def _done_steps(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    return [{"agent": s["agent"], "step": s["step"], "elapsed_ms": s["elapsed_ms"], "status": s["status"]}
            for s in store.steps(run_id) if s["status"] == "done"]
