"""``finmatch schedule``: scheduled analyses (add, list, remove, run-once, run, crontab); see docs/schedule.md."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finmatch_agents.cli import common

if TYPE_CHECKING:
    from datetime import datetime

    from finmatch_agents.config import Settings

app = typer.Typer(help="Scheduled analyses: jobs in finmatch.toml, run by `schedule run` or by cron.",
                  no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Job name: letters, digits, '-' and '_'.", show_default=False)]
NowOpt = Annotated[str | None, typer.Option("--now", hidden=True, help="Testing: pretend the time is this ISO "
                                            "instant (the clock then runs at real speed).", show_default=False)]


def _now(now: str | None) -> datetime:
    from datetime import UTC, datetime

    from finmatch_agents.schedule import parse_instant

    return parse_instant(now) if now else datetime.now(UTC)


@app.command("add")
def add(
    name: NameArg,
    cron: Annotated[str, typer.Option("--cron", help='When to run, as a cron expression in the job\'s time zone: '
                                      '"0 7 * * MON", "30 6 * * MON-FRI", "@daily".', show_default=False)],
    focus: common.FocusOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="Model for the AI steps (default: the project's "
                                              "model setting when the job runs).", show_default=False,
                                              metavar="NAME")] = None,
    keep: Annotated[int | None, typer.Option("--keep", min=1, help="Keep only the newest N reports of this job "
                                             "(default: keep all).", show_default=False, metavar="N")] = None,
    timezone: Annotated[str | None, typer.Option("--timezone", help="IANA time zone of the cron expression "
                                                 "(default: this machine's zone).", show_default=False,
                                                 metavar="TZ")] = None,
    catch_up: Annotated[bool, typer.Option("--catch-up/--no-catch-up", help="When `schedule run` starts after a "
                                           "missed run (machine off), run it once at start.")] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add the job switched off.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a job of the same name.")] = False,
    formats: Annotated[list[str] | None, typer.Option(
        "--format", help="Report files of each run: md (always) and html (the page beside it).",
        show_default="md", metavar="md,html")] = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Add a job to the project config ([schedule.jobs.NAME] in finmatch.toml; comments are kept)."""
    from finmatch_agents.clock import utc_now
    from finmatch_agents.errors import FinMatchError, UsageError
    from finmatch_agents.report.files import parse_formats
    from finmatch_agents.runner import FOCUS_ALL, resolve_focus
    from finmatch_agents.schedule import (
        Job,
        get_zone,
        local_zone_name,
        save_job,
        upcoming,
        validate_cron,
        validate_name,
    )

    common.want_json(json_out)
    validate_name(name)
    expr = validate_cron(cron)
    tz = timezone if timezone is not None else local_zone_name()
    zone = get_zone(tz)
    chosen = resolve_focus(focus or [FOCUS_ALL])
    wants_all = not focus or any(FOCUS_ALL in [p.strip() for p in f.split(",")] for f in focus)
    s = common.settings(allow_missing_config=True)  # `schedule add` creates the config file it names
    if model and model != "offline":
        from finmatch_agents.llm.models import resolve_model

        try:
            resolve_model(model, s)
        except FinMatchError as exc:
            message = exc.message if exc.message.startswith("--model") else f"--model: {exc.message}"
            raise UsageError(message, hint=exc.hint) from None
    job = Job(name=name, cron=expr, timezone=tz, focus=(FOCUS_ALL,) if wants_all else tuple(chosen), model=model,
              keep=keep, catch_up=catch_up, enabled=not disabled, added_at=utc_now(), formats=parse_formats(formats))
    replaced = save_job(s.config_path, s.state_dir, job, replace=replace)
    nxt = upcoming(expr, zone, _now(None), 3)
    if json_out:
        common.emit_json({**job.to_dict(), "config": str(s.config_path), "replaced": replaced,
                          "next_runs": [t.isoformat() for t in nxt]})
        return
    console = common.err()
    console.print(f"{'Replaced' if replaced else 'Added'} job {name} in {s.config_path}: {expr} ({tz})"
                  + (" — disabled" if disabled else ""), markup=False, highlight=False)
    console.print("Next runs: " + ", ".join(t.isoformat(timespec="minutes") for t in nxt), markup=False,
                  highlight=False)
    console.print("Start `finmatch schedule run` (foreground scheduler) or install the lines of "
                  "`finmatch schedule crontab`.", markup=False, highlight=False)


def _last_runs(s: Settings) -> dict[str, dict[str, Any]]:
    from finmatch_agents.runs import RunStore

    path = s.state_dir / "runs.sqlite"
    if not path.exists():
        return {}
    store = RunStore(path)
    try:
        out: dict[str, dict[str, Any]] = {}
        for row in store.list_runs(1000):
            job = row["job"]
            if job and job not in out:
                out[job] = {"run_id": row["run_id"], "status": row["status"], "created_at": row["created_at"],
                            "report_path": row["report_path"]}
        return out
    finally:
        store.close()


@app.command("list")
def list_jobs(json_out: common.JsonOpt = False, now: NowOpt = None) -> None:
    """Jobs with their next run times (in the job's zone and UTC) and their last run."""
    from datetime import UTC

    from rich.markup import escape
    from rich.table import Table

    from finmatch_agents.schedule import load_jobs

    common.want_json(json_out)
    s = common.settings()
    jobs = load_jobs(s)
    last = _last_runs(s)
    at = _now(now)
    rows = []
    for job in jobs.values():
        nxt = job.next_run(at) if job.enabled else None
        rows.append({**job.to_dict(), "next_run": nxt.isoformat() if nxt else None,
                     "next_run_utc": nxt.astimezone(UTC).isoformat().replace("+00:00", "Z") if nxt else None,
                     "last_run": last.get(job.name)})
    if json_out:
        common.emit_json({"config": str(s.config_path), "jobs": rows})
        return
    if not rows:
        common.out().print(f"No scheduled jobs in {escape(str(s.config_path))}. Add one with "
                           "`finmatch schedule add NAME --cron \"0 7 * * MON\"`.", highlight=False)
        return
    view = Table(title=f"Scheduled jobs ({escape(str(s.config_path))})", title_justify="left")
    for col in ("job", "cron", "time zone", "next run", "next run (UTC)", "focus", "model", "keep", "catch-up",
                "last run"):
        view.add_column(col, overflow="fold", no_wrap=col in ("job", "next run", "next run (UTC)"))
    for r in rows:
        lr = r["last_run"]
        view.add_row(r["name"], escape(r["cron"]), r["timezone"],
                     (r["next_run"] or "disabled")[:16].replace("T", " "),
                     (r["next_run_utc"] or "")[:16].replace("T", " "), ",".join(r["focus"]), r["model"] or "(default)",
                     str(r["keep"] or "all"), "yes" if r["catch_up"] else "no",
                     f"{lr['status']} {lr['created_at'][:16].replace('T', ' ')}" if lr else "never")
    common.out().print(view)


@app.command("remove")
def remove(name: NameArg) -> None:
    """Remove a job from the project config (its reports and history stay)."""
    from finmatch_agents.schedule import delete_job, validate_name

    validate_name(name)
    s = common.settings()
    delete_job(s.config_path, s.state_dir, name)
    common.err().print(f"Removed job {name} from {s.config_path}; its reports in {s.reports_dir / name} and its "
                       "history stay.", markup=False, highlight=False)


@app.command("run-once")
def run_once(
    name: NameArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON-lines run events on stdout.")] = False,
) -> None:
    """Run one job now, under its lock (what cron and the scheduler call).

    Exit 75 with "skipped: previous run still running" when a run of the same job is going. Log lines go to
    stderr and to <state_dir>/logs/NAME.log; the report path is printed on stdout.
    """
    from finmatch_agents.cli.views import JsonLines, LiveView, PlainLog
    from finmatch_agents.schedule import LogFile, Logger, Tee, get_job, job_log_path, run_job, validate_name

    common.want_json(json_out)
    validate_name(name)
    s = common.settings()
    job = get_job(s, name)
    path = job_log_path(s.state_dir, name)
    log = Logger(path)
    view: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if json_out:
        screen: Any = JsonLines()
    elif sys.stderr.isatty():
        live = LiveView(common.err())
        screen, view = live, live
    else:
        screen = PlainLog()
    sink = Tee(screen, PlainLog(LogFile(path)))
    notify = (lambda m: log(m)) if not json_out else (lambda _m: None)
    with view:
        done = run_job(s, job, sink, log, notify=notify)
    if not json_out:
        typer.echo(done.result.report_path if done.result else " ".join(done.models))


@app.command("run")
def run(
    tick_seconds: Annotated[float, typer.Option("--tick-seconds", hidden=True, min=0.05,
                                                help="How often to re-read the config and check the clock.")] = 30.0,
    now: NowOpt = None,
) -> None:
    """The scheduler: a foreground process that starts due jobs one at a time and logs each start and finish.

    Each job runs as `finmatch schedule run-once NAME` in a child process. SIGTERM or Ctrl-C lets the
    running job checkpoint and stop, then exits 0. Jobs are re-read from the config, so `schedule add` and
    `remove` apply without a restart. Fit for systemd and containers (logs on stderr, no terminal needed).
    """
    import signal
    import threading

    from finmatch_agents.schedule import (
        FileLock,
        Logger,
        Scheduler,
        last_started,
        load_jobs,
        offset_clock,
        parse_instant,
        spawn_run_once,
    )

    s = common.settings()
    load_jobs(s)  # a broken config is a usage error now, not a silent idle scheduler
    log = Logger(s.state_dir / "logs" / "scheduler.log")
    lock = FileLock(s.state_dir / "locks" / "scheduler.lock", "another scheduler is already running for this project")
    clock = offset_clock(parse_instant(now)) if now else None

    def describe(job: Any, code: int) -> str:
        runs = _last_runs(common.settings()).get(job.name)
        if not runs:
            return ""
        if code == 0:
            return f"run {runs['run_id']}: {runs['report_path']}"
        if code == 130 and runs["status"] == "interrupted":
            return f"run {runs['run_id']} checkpointed; finish it with `finmatch analyze --resume {runs['run_id']}`"
        return ""

    kwargs: dict[str, Any] = {"clock": clock} if clock else {}
    scheduler = Scheduler(lambda: load_jobs(common.settings()), spawn_run_once(common.CONFIG_PATH.get()), log,
                          tick_s=tick_seconds, last_started=lambda name: last_started(common.settings(), name),
                          describe=describe, **kwargs)
    stop = threading.Event()
    signals = {"count": 0}

    def handler(signum: int, frame: Any) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            scheduler.hurry.set()
        stop.set()

    with lock:
        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = scheduler.run(stop)
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
    raise typer.Exit(code)


@app.command("crontab")
def crontab() -> None:
    """Print crontab lines that run each job with absolute paths (work under cron's empty environment)."""
    from finmatch_agents.schedule import crontab_lines, load_jobs

    s = common.settings()
    jobs = load_jobs(s)
    if not jobs:
        common.err().print(f"No scheduled jobs in {s.config_path}; add one with `finmatch schedule add`.",
                           markup=False, highlight=False)
    for line in crontab_lines(s, jobs.values()):
        typer.echo(line)
