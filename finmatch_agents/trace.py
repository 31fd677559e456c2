"""Run events and the views that render them.

Nodes emit plain-dict events through LangGraph's stream writer; the runner adds run lifecycle events.
Views only consume events: a Rich live view on terminals, timestamped log lines otherwise, JSON lines for
``--json`` and nothing but the report path for ``--quiet``. No view can change the analysis.

Event kinds (DESIGN §6): run_started, step_started, query, finding, step_finished, report_written,
run_finished, warning, error. Every event carries ``event``, ``run_id``, ``agent``, ``step`` and ``ts``.
"""

from __future__ import annotations

from typing import Any

from finmatch_agents.evidence import utc_now

EVENT_KINDS = ("run_started", "step_started", "query", "finding", "step_finished", "report_written",
               "run_finished", "warning", "error")


def make_event(event: str, run_id: str, agent: str | None, step: str | None, /, **fields: Any) -> dict[str, Any]:
    if event not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {event}")
    return {"event": event, "run_id": run_id, "agent": agent, "step": step, "ts": utc_now(), **fields}
