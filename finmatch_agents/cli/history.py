"""``finmatch history``: past runs (list, show) from the run store."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from finmatch_agents.cli import common

app = typer.Typer(help="Past analysis runs: `history list` (default) and `history show RUN_ID`.",
                  invoke_without_command=True)

LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="How many runs to list (newest first).")]


@app.callback()
def history(ctx: typer.Context, json_out: common.JsonOpt = False, limit: LimitOpt = 20) -> None:
    """Past analysis runs (newest first)."""
    if ctx.invoked_subcommand is None:
        list_runs(json_out=json_out, limit=limit)


def _store() -> Any:
    from finmatch_agents.runs import RunStore

    s = common.settings()
    return RunStore(s.state_dir / "runs.sqlite")


@app.command("list")
def list_runs(json_out: common.JsonOpt = False, limit: LimitOpt = 20,
              job: Annotated[str | None, typer.Option("--job", help="Only runs of this scheduled job.",
                                                      show_default=False)] = None) -> None:
    """List runs: id, status, focus, model, queries, findings, report."""
    from rich.table import Table

    common.want_json(json_out)
    store = _store()
    try:
        rows = [r.data for r in store.list_runs(limit, job=job)]
    finally:
        store.close()
    for row in rows:
        row["focus"] = json.loads(row["focus"])
    if json_out:
        common.emit_json(rows)
        return
    if not rows:
        common.out().print("No runs yet. Start one with `finmatch analyze`.")
        return
    view = Table(title="Runs", title_justify="left")
    for col in ("run", "status", "created (UTC)", "focus", "model", "queries", "findings", "report"):
        view.add_column(col, justify="right" if col in ("queries", "findings") else "left",
                        no_wrap=col in ("run", "status", "created (UTC)"), overflow="fold")
    style = {"completed": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
    for r in rows:
        view.add_row(r["run_id"], f"[{style.get(r['status'], '')}]{r['status']}[/]",
                     r["created_at"][:16].replace("T", " "),
                     ",".join(r["focus"]), r["model"], str(r["queries"] or ""), str(r["findings"] or ""),
                     r["report_path"] or "")
    common.out().print(view)


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="Run id (see `history list`).", show_default=False)],
         json_out: common.JsonOpt = False) -> None:
    """One run: settings, steps with timings and attempts, queries, model calls, report path."""
    from rich.table import Table

    from finmatch_agents.errors import UsageError

    common.want_json(json_out)
    store = _store()
    try:
        row = store.get(run_id)
        if row is None:
            raise UsageError(f"no run {run_id}", hint="`finmatch history list` shows run ids")
        data = {**row.data, "focus": json.loads(row.data["focus"]), "steps": store.steps(run_id),
                "query_log": store.table_rows("queries", run_id),
                "model_call_log": store.table_rows("model_calls", run_id)}
    finally:
        store.close()
    if json_out:
        common.emit_json(data)
        return
    console = common.out()
    console.print(f"[bold]Run {data['run_id']}[/] — {data['status']}", highlight=False)
    for key in ("created_at", "finished_at", "focus", "model", "db", "table_name", "job", "fingerprint",
                "dataset_rows", "duration_s", "queries", "findings", "model_calls", "tokens", "ungrounded",
                "attempts", "report_path", "error"):
        value = data.get(key)
        if value not in (None, ""):
            console.print(f"  {key:<14} {', '.join(value) if isinstance(value, list) else value}", markup=False,
                          highlight=False)
    steps = Table(title="Steps", title_justify="left")
    for col in ("agent", "step", "status", "seconds", "queries", "findings", "attempts"):
        steps.add_column(col, justify="right" if col in ("seconds", "queries", "findings", "attempts") else "left")
    for st in data["steps"]:
        steps.add_row(st["agent"], st["step"], st["status"], f"{(st['elapsed_ms'] or 0) / 1000:.2f}",
                      str(st["queries"] or 0), str(st["findings"] or 0), str(st["attempts"]))
    console.print(steps)
    if data["model_call_log"]:
        calls = Table(title="Model calls", title_justify="left")
        for col in ("agent", "step", "model", "status", "tokens", "ms"):
            calls.add_column(col)
        for c in data["model_call_log"]:
            calls.add_row(c["agent"] or "", c["step"] or "", c["model"] or "", c["status"] or "",
                          str((c["prompt_tokens"] or 0) + (c["completion_tokens"] or 0)), f"{c['latency_ms'] or 0:.0f}")
        console.print(calls)
    console.print(f"[dim]{len(data['query_log'])} queries recorded; `finmatch history show {run_id} --json` has "
                  "the SQL.[/]", highlight=False)
