"""``finmatch analyze``: run the focus agents and write the report (the main job)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from finmatch_agents.cli import common


def analyze(
    focus: Annotated[list[str] | None, typer.Option(
        "--focus", help="performance, optimization, financial-impact, strategy or all (default). Repeat the flag or "
                        "separate with commas.", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model for the AI steps ('offline' = the deterministic "
                                              "offline analyst).", envvar="FINMATCH_MODEL", show_default=False,
                                              metavar="NAME")] = None,
    db: common.DbOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Reports folder.", envvar="FINMATCH_REPORTS_DIR",
                                             show_default=False, metavar="DIR")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Finish an interrupted run without re-running its "
                                               "completed steps.", show_default=False, metavar="RUN_ID")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON-lines events (run_started, step_started, "
                                           "query, finding, step_finished, report_written, run_finished, warning, "
                                           "error) instead of the live view.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the report path.")] = False,
    table: common.TableOpt = None,
) -> None:
    """Run the focus agents over the data and write an evidence-backed markdown report.

    On a terminal a live view shows each agent's steps; otherwise timestamped log lines go to stderr.
    Ctrl-C stops cleanly (exit 130) and `--resume RUN_ID` finishes the run later.
    """
    from finmatch_agents.runner import RunRequest, resolve_focus, run_analysis
    from finmatch_agents.trace import JsonLines, LiveView, PlainLog, Quiet

    common.want_json(json_out)
    if resume and focus:
        from finmatch_agents.errors import UsageError

        raise UsageError("--focus cannot be combined with --resume (a resumed run keeps its focus)")
    focus_list = resolve_focus(focus or ["all"])
    s = common.settings(db=db, reports_dir=out, model=model, table=table)
    sink: Any
    view: contextlib.AbstractContextManager[Any]
    if json_out:
        sink, view = JsonLines(), contextlib.nullcontext()
    elif quiet:
        sink, view = Quiet(), contextlib.nullcontext()
    elif sys.stderr.isatty():
        live = LiveView(common.err())
        sink, view = live, live
    else:
        sink, view = PlainLog(), contextlib.nullcontext()
    notify = (lambda _m: None) if (json_out or quiet) else (lambda m: common.err().print(m, markup=False))
    with view:
        result = run_analysis(s, RunRequest(focus=focus_list, resume=resume), sink, notify=notify)
    if json_out:
        return
    if not quiet:
        stats = result.stats
        common.err().print(
            f"Run {result.run_id} {'resumed and ' if result.resumed else ''}completed: {stats.get('queries')} "
            f"queries, {stats.get('findings')} findings, {stats.get('ungrounded_numbers') or 0} ungrounded numbers. "
            f"Latest: {result.latest_path}", markup=False, highlight=False)
    typer.echo(result.report_path)
