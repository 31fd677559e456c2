"""``finmatch report``: a finished run's report in the terminal (``show``), as one HTML page (``html``), and the
runs that have one (``list``). Both renderings come from the run's records in the run store, like the markdown
file they match; see docs/report.md."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finmatch_agents.cli import common

if TYPE_CHECKING:
    from finmatch_agents.records import RunRecords
    from finmatch_agents.runs import RunRow

app = typer.Typer(help="Reports of finished runs: `report show` (terminal), `report html` (one page), `report list`.",
                  no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="Run id (see `report list`), or latest: the newest completed run.",
                                       show_default=True, metavar="[RUN_ID|latest]")]
JobOpt = Annotated[str | None, typer.Option("--job", help="With latest: the newest completed run of this scheduled "
                                            "job.", show_default=False, metavar="NAME")]


def _load(run: str, job: str | None) -> tuple[RunRow, RunRecords]:
    """The run's history row and its records; exit 2 when there are none to render from."""
    from finmatch_agents.errors import UsageError
    from finmatch_agents.runs import RunStore

    s = common.settings()
    path = s.state_dir / "runs.sqlite"
    if not path.exists():
        raise UsageError(f"no runs yet in {path}", hint="`finmatch analyze` makes one")
    store = RunStore(path)
    try:
        if run == "latest":
            row = next((r for r in store.list_runs(1000, job=job) if r["status"] == "completed"), None)
            if row is None:
                raise UsageError("no completed run yet" + (f" of job {job}" if job else ""),
                                 hint="`finmatch analyze` makes one; `finmatch report list` shows runs")
        else:
            row = store.get(run)
            if row is None:
                raise UsageError(f"no run {run} in {path}", hint="`finmatch report list` shows runs")
        if row["status"] != "completed":
            raise UsageError(f"run {row['run_id']} is {row['status']}: it has no report",
                             hint=f"finish it with `finmatch analyze --resume {row['run_id']}`"
                             if row["status"] == "interrupted" else None)
        records = store.records(row["run_id"])
    finally:
        store.close()
    if records is None:
        raise UsageError(f"run {row['run_id']} was made before runs kept the records a report is rendered from, so "
                         "it cannot be rendered again" + (f"; its markdown report is {row['report_path']}"
                                                          if row["report_path"] else ""),
                         hint="a new `finmatch analyze` run can be shown and written as HTML")
    return row, records


@app.command("show")
def show(run: RunArg = "latest", job: JobOpt = None) -> None:
    """The report in the terminal: front matter as a header panel, aligned tables, charts as bar charts."""
    from finmatch_agents.cli.render_report import print_report

    _row, records = _load(run, job)
    print_report(common.out(), records)


@app.command("html")
def html(run: RunArg = "latest", job: JobOpt = None,
         out: Annotated[Path | None, typer.Option("--out", help="Where to write the page ('-' for stdout). "
                                                  "Default: beside the run's markdown report, same name, .html.",
                                                  show_default=False, metavar="FILE")] = None) -> None:
    """One self-contained HTML page (inline CSS and SVG charts, no script, no remote asset); prints its path."""
    from finmatch_agents.errors import StorageError
    from finmatch_agents.files import atomic_write_text
    from finmatch_agents.report.html import render_html

    row, records = _load(run, job)
    page = render_html(records)
    if out is not None and str(out) == "-":
        typer.echo(page, nl=False)
        return
    target = out or Path(row["report_path"] or f"finmatch-{row['run_id']}.md").with_suffix(".html")
    try:
        atomic_write_text(target, page)
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {exc.strerror or exc}",
                           hint="pick another file with --out") from exc
    typer.echo(str(target))


@app.command("list")
def list_reports(json_out: common.JsonOpt = False,
                 limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs (newest first).")] = 20,
                 job: Annotated[str | None, typer.Option("--job", help="Only runs of this scheduled job.",
                                                         show_default=False, metavar="NAME")] = None) -> None:
    """Completed runs with their reports: id, created, focus, model, report, HTML beside it, renderable."""
    from rich.table import Table
    from rich.text import Text

    from finmatch_agents.runs import RunStore

    common.want_json(json_out)
    s = common.settings()
    path = s.state_dir / "runs.sqlite"
    rows: list[dict[str, Any]] = []
    if path.exists():
        store = RunStore(path)
        try:
            for r in store.list_runs(limit, job=job):
                if r["status"] != "completed":
                    continue
                report = r["report_path"] or ""
                html_path = Path(report).with_suffix(".html") if report else None
                rows.append({"run_id": r["run_id"], "created_at": r["created_at"], "focus": r.focus,
                             "model": r["model"], "job": r["job"], "report_path": report or None,
                             "report_exists": bool(report) and Path(report).exists(),
                             "html_path": str(html_path) if html_path and html_path.exists() else None,
                             "renderable": store.has_records(r["run_id"])})
        finally:
            store.close()
    if json_out:
        common.emit_json(rows)
        return
    if not rows:
        common.out().print("No completed run yet. Start one with `finmatch analyze`.", markup=False)
        return
    view = Table(title="Reports", title_justify="left")
    for col in ("run", "created (UTC)", "focus", "model", "report", "html", "show/html"):
        view.add_column(col, no_wrap=col in ("run", "created (UTC)"), overflow="fold")
    for item in rows:
        view.add_row(Text(item["run_id"]), Text(item["created_at"][:16].replace("T", " ")),
                     Text(",".join(item["focus"])), Text(item["model"]),
                     Text((item["report_path"] or "") + ("" if item["report_exists"] else " (gone)")),
                     Text(item["html_path"] or ""), Text("yes" if item["renderable"] else "no (older run)"))
    common.out().print(view)
