"""``finmatch analyze``: run the focus agents and write the report (the main job)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from finmatch_agents.cli import common
from finmatch_agents.events import kinds_help


def analyze(
    focus: common.FocusOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="Model for the AI steps ('offline' = the deterministic "
                                              "offline analyst).", envvar="FINMATCH_MODEL", show_default=False,
                                              metavar="NAME")] = None,
    db: common.DbOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Reports folder.", envvar="FINMATCH_REPORTS_DIR",
                                             show_default=False, metavar="DIR")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Finish an interrupted run without re-running its "
                                               "completed steps.", show_default=False, metavar="RUN_ID")] = None,
    json_out: Annotated[bool, typer.Option("--json", help=f"Print JSON-lines events ({kinds_help()}) instead of the "
                                           "live view.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the report path.")] = False,
    table: common.TableOpt = None,
    strict_grounding: Annotated[bool | None, typer.Option(
        "--strict-grounding/--lenient-grounding", help="Reject model output whose numbers are not in the run's "
        "evidence (the offline analyst writes that step instead).", envvar="FINMATCH_STRICT_GROUNDING",
        show_default=False)] = None,
    no_fallback: Annotated[bool, typer.Option("--no-fallback", help="Exit 4 when the model fails instead of "
                                              "falling back to the offline analyst.")] = False,
) -> None:
    """Run the focus agents over the data and write an evidence-backed markdown report.

    On a terminal a live view shows each agent's steps; otherwise timestamped log lines go to stderr.
    Ctrl-C stops cleanly (exit 130) and `--resume RUN_ID` finishes the run later.
    """
    from finmatch_agents.cli.views import JsonLines, LiveView, PlainLog, Quiet
    from finmatch_agents.runner import RunRequest, resolve_focus, run_analysis

    common.want_json(json_out)
    if resume and focus:
        from finmatch_agents.errors import UsageError

        raise UsageError("--focus cannot be combined with --resume (a resumed run keeps its focus)")
    focus_list = resolve_focus(focus or ["all"])
    s = common.settings(db=db, reports_dir=out, model=model, table=table, strict_grounding=strict_grounding,
                        model_fallback=False if no_fallback else None)
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
            f"queries, {stats.get('findings')} findings, {stats.get('model_calls') or 0} model calls, "
            f"{stats.get('tokens') or 0} tokens, {stats.get('ungrounded_numbers') or 0} ungrounded numbers. "
            f"Latest: {result.latest_path}", markup=False, highlight=False)
    typer.echo(result.report_path)
