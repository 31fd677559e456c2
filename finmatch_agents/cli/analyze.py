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
    engine_name: common.EngineOpt = None,
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
    formats: Annotated[list[str] | None, typer.Option(
        "--format", help="Report files: md (always) and html (one self-contained page beside it: X.html and "
        "latest.html). Comma-separated or repeated.", show_default="md", metavar="md,html")] = None,
) -> None:
    """Run the focus agents over the data and write an evidence-backed markdown report (and HTML with --format).

    On a terminal a live view shows each agent's steps; otherwise timestamped log lines go to stderr.
    Ctrl-C stops cleanly (exit 130) and `--resume RUN_ID` finishes the run later.
    """
    from finmatch_agents.cli.views import JsonLines, LiveView, PlainLog, Quiet
    from finmatch_agents.runner import RunRequest, resolve_focus, run_analysis

    common.want_json(json_out)
    if resume and focus:
        from finmatch_agents.errors import UsageError

        raise UsageError("--focus cannot be combined with --resume (a resumed run keeps its focus)")
    from finmatch_agents.report.files import parse_formats

    chosen = parse_formats(formats)
    if resume and formats:
        from finmatch_agents.errors import UsageError

        raise UsageError("--format cannot be combined with --resume (a resumed run writes the files it was asked for)")
    focus_list = resolve_focus(focus or ["all"])
    s = common.settings(db=db, engine=engine_name, reports_dir=out, model=model, table=table,
                        strict_grounding=strict_grounding,
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
        result = run_analysis(s, RunRequest(focus=focus_list, resume=resume, formats=chosen), sink, notify=notify)
    if json_out:
        return
    if not quiet:
        common.err().print(final_line(result), markup=False, highlight=False)
    typer.echo(result.report_path)


def final_line(result: Any) -> str:
    """The line `analyze` ends with: counts, the data's origin, which AI steps fell back, where the files are."""
    from finmatch_agents.events import plural
    from finmatch_agents.report.outline import dataset_origin

    stats = result.stats
    origin = dataset_origin(result.state.get("profile")).short if result.state.get("profile") else ""
    fallbacks = list(stats.get("fallback_steps") or [])
    fell_back = (f" The model's answer was not used for {', '.join(fallbacks)}: the offline analyst wrote "
                 f"{'it' if len(fallbacks) == 1 else 'them'}." if fallbacks else "")
    html = f" HTML: {result.html_path}." if result.html_path else ""
    return (f"Run {result.run_id} {'resumed and ' if result.resumed else ''}completed on {origin or 'the data'}: "
            f"{plural(stats.get('queries') or 0, 'query', 'queries')}, "
            f"{plural(stats.get('findings') or 0, 'finding')}, "
            f"{plural(stats.get('model_calls') or 0, 'model call')}, {plural(stats.get('tokens') or 0, 'token')}, "
            f"{plural(stats.get('ungrounded_numbers') or 0, 'ungrounded number')}.{fell_back}{html} "
            f"Latest: {result.latest_path}")
