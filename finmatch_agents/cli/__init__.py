"""The ``finmatch`` command: a thin Typer shell over the library.

Errors cross the CLI boundary here, once: a :class:`FinMatchError` becomes ``title: message`` on stderr
(plus a JSON ``error`` object on stdout when the command was asked for ``--json``) and its exit code.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from finmatch_agents import __version__
from finmatch_agents.cli import common
from finmatch_agents.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, FinMatchError


def report_error(exc: FinMatchError) -> None:
    from rich.markup import escape

    console = common.err()
    console.print(f"[bold red]{escape(exc.title)}:[/] {escape(exc.message)}")
    if exc.hint:
        console.print(f"[dim]hint: {escape(exc.hint)}[/]")
    if common.JSON_ERRORS.get():
        from finmatch_agents.clock import utc_now

        payload: dict[str, Any] = {"event": "error", "run_id": None, "agent": None, "step": None, "ts": utc_now(),
                                   "error": exc.title, "message": exc.message, "exit_code": exc.exit_code}
        for key in ("rule", "file", "line", "row", "column"):
            if getattr(exc, key, None) is not None:
                payload[key] = getattr(exc, key)
        common.emit_json(payload)


class FinMatchGroup(TyperGroup):
    """Root group: maps domain errors and Ctrl-C to the documented exit codes."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FinMatchError as exc:
            report_error(exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            common.err().print("[yellow]Interrupted.[/]")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith("typer") or os.environ.get("FINMATCH_DEBUG"):
                raise
            traceback_text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            common.err().print(f"[bold red]Unexpected error:[/] {traceback_text}", markup=True)
            common.err().print("[dim]set FINMATCH_DEBUG=1 for the full traceback[/]")
            raise typer.Exit(EXIT_UNEXPECTED) from None


app = typer.Typer(
    name="finmatch",
    cls=FinMatchGroup,
    help="FinMatch Agents — a terminal analyst for retail banks' product-recommendation data.\n\n"
         "Agents study fpr_records through sandboxed SQL over DuckDB and write evidence-backed reports.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"finmatch {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.", callback=_version,
                                          is_eager=True)] = False,
    config: Annotated[Path | None, typer.Option("--config", help="Project config file.", envvar="FINMATCH_CONFIG",
                                                show_default="./finmatch.toml", metavar="PATH")] = None,
) -> None:
    """FinMatch Agents."""
    common.CONFIG_PATH.set(config)
    common.JSON_ERRORS.set(False)


def _register() -> None:
    from finmatch_agents.cli import (
        analyze,
        data,
        doctor,
        explore,
        history,
        match,
        metrics,
        models,
        predict,
        similar,
        sql,
    )

    app.command("analyze", rich_help_panel="Analysis")(analyze.analyze)
    from finmatch_agents.cli import chat

    app.command("chat", rich_help_panel="Analysis")(chat.chat)
    app.command("ask", rich_help_panel="Analysis")(chat.ask)
    app.add_typer(match.app, name="match", rich_help_panel="Analysis")
    app.add_typer(predict.app, name="predict", rich_help_panel="Analysis")
    from finmatch_agents.cli import recommend

    app.add_typer(recommend.app, name="recommend", rich_help_panel="Analysis")
    app.add_typer(similar.app, name="similar", rich_help_panel="Analysis")
    app.add_typer(history.app, name="history", rich_help_panel="Runs")
    from finmatch_agents.cli import diff as diff_cli
    from finmatch_agents.cli import schedule

    app.command("diff", rich_help_panel="Runs")(diff_cli.diff)
    app.add_typer(schedule.app, name="schedule", rich_help_panel="Runs")
    from finmatch_agents.cli import report

    app.add_typer(report.app, name="report", rich_help_panel="Runs")
    app.add_typer(data.app, name="data", rich_help_panel="Data")
    app.command("sql", rich_help_panel="Data")(sql.sql)
    app.command("explore", rich_help_panel="Data")(explore.explore)
    app.command("metrics", rich_help_panel="Data")(metrics.metrics)
    from finmatch_agents.cli import serve

    app.add_typer(serve.app, name="serve", rich_help_panel="Setup")
    app.add_typer(models.app, name="models", rich_help_panel="Setup")
    app.command("doctor", rich_help_panel="Setup")(doctor.doctor)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="finmatch")
    except KeyboardInterrupt:  # outside a command (e.g. during start-up)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # the reader of our stdout went away (`| head`): not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
