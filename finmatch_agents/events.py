"""Run events (DESIGN §6): what nodes and the runner tell views, the run store and ``--json`` readers.

Every event is a plain dict with ``event``, ``run_id``, ``agent``, ``step`` and ``ts``; views only consume
them (see ``finmatch_agents.cli.views``), so no view can change an analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finmatch_agents.clock import utc_now

#: every event kind, with what it reports (the ``--json`` help is built from this table)
EVENT_KINDS: dict[str, str] = {
    "run_started": "a run began or resumed (focus, model, db, completed_steps)",
    "step_started": "an agent step began",
    "query": "a query ran or was refused (query_id, title, status, rows, elapsed_ms)",
    "finding": "a step established a finding (finding_id, title, statement)",
    "model_call": "a model endpoint answered or failed (model, status, latency_ms, tokens)",
    "step_finished": "a step ended (status, elapsed_ms, queries, rows, findings)",
    "report_written": "the report file was written (path, latest)",
    "run_finished": "the run ended (status, report)",
    "warning": "something the reader should know (message)",
    "error": "something failed (message)",
}

Emit = Callable[[dict[str, Any]], None]


def make_event(event: str, run_id: str, agent: str | None, step: str | None, /, **fields: Any) -> dict[str, Any]:
    if event not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {event}")
    return {"event": event, "run_id": run_id, "agent": agent, "step": step, "ts": utc_now(), **fields}


def kinds_help() -> str:
    return ", ".join(EVENT_KINDS)


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plural(n: int, word: str, plural_form: str | None = None) -> str:
    """``1 query``, ``2 queries``."""
    return f"{n:,} {word if n == 1 else (plural_form or word + 's')}"


def plain_line(event: dict[str, Any]) -> str | None:
    """An event as one greppable log line (cron, CI, job logs), or None for events logs leave out."""
    kind = event["event"]
    who = " ".join(p for p in (event.get("agent"), f"| {event['step']}" if event.get("step") else None) if p)
    if kind == "run_started":
        what = "resumed" if event.get("resumed") else "started"
        return f"run {event['run_id']} {what}: focus {','.join(event['focus'])}, model {event['model']}, " \
               f"db {event['db']}"
    if kind == "step_started":
        return f"{who} started"
    if kind == "step_finished":
        extra = f" ({event['error']})" if event.get("error") else ""
        return (f"{who} {event.get('status', 'done')} in {event.get('elapsed_ms', 0) / 1000:.2f} s: "
                f"{plural(event.get('queries', 0), 'query', 'queries')}, "
                f"{plural(event.get('findings', 0), 'finding')}{extra}")
    if kind == "query":
        return None
    if kind == "finding":
        return f"{who} finding {event.get('finding_id')}: {_short(event.get('statement', ''), 160)}"
    if kind == "report_written":
        return f"report written: {event['path']}"
    if kind == "run_finished":
        return f"run {event['run_id']} {event['status']}" + (f": {event['report']}" if event.get("report") else "")
    if kind in ("warning", "error"):
        return f"{kind.upper()} {who}: {event.get('message', '')}".replace("  ", " ")
    if kind == "model_call":
        return (f"{who} model call {event.get('model')}: {event.get('status')} in "
                f"{event.get('latency_ms', 0):.0f} ms, {event.get('total_tokens', 0)} tokens")
    return None
