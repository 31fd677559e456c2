"""The ``finmatch`` command: a thin Typer shell over the library.

Errors cross the CLI boundary here, once: a :class:`FinMatchError` becomes ``title: message`` on stderr
(plus a JSON ``error`` object on stdout when the command was asked for ``--json``) and its exit code.
"""

from __future__ import annotations

import atexit
import gc
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

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(_load_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """As Typer's, with "Did you mean" drawn from every command (Typer looks only at those loaded)."""
        from typer._click.exceptions import UsageError as ClickUsageError

        try:
            return super().resolve_command(ctx, args)
        except ClickUsageError as exc:
            if args and "Did you mean" not in exc.message:
                import difflib

                matches = difflib.get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise

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
    _end_startup()
    common.CONFIG_PATH.set(config)
    common.JSON_ERRORS.set(False)


#: every command, in help order (a panel lists its commands, then its groups): name -> (module of
#: finmatch_agents.cli, attribute, help panel, whether it is a group). A command's module is imported when the
#: command runs, or when --help lists it: `finmatch match customer` loads the match module, not the other 20.
COMMANDS: dict[str, tuple[str, str, str, bool]] = {
    "analyze": ("analyze", "analyze", "Analysis", False),
    "chat": ("chat", "chat", "Analysis", False),
    "ask": ("chat", "ask", "Analysis", False),
    "diff": ("diff", "diff", "Runs", False),
    "sql": ("sql", "sql", "Data", False),
    "explore": ("explore", "explore", "Data", False),
    "metrics": ("metrics", "metrics", "Data", False),
    "doctor": ("doctor", "doctor", "Setup", False),
    "match": ("match", "app", "Analysis", True),
    "predict": ("predict", "app", "Analysis", True),
    "recommend": ("recommend", "app", "Analysis", True),
    "similar": ("similar", "app", "Analysis", True),
    "history": ("history", "app", "Runs", True),
    "schedule": ("schedule", "app", "Runs", True),
    "report": ("report", "app", "Runs", True),
    "data": ("data", "app", "Data", True),
    "serve": ("serve", "app", "Setup", True),
    "models": ("models", "app", "Setup", True),
}


def _load_command(name: str) -> Any:
    """The click command ``name`` of :data:`COMMANDS`, built as ``app.command``/``app.add_typer`` would."""
    import importlib

    import typer.main

    module, attr, panel, group = COMMANDS[name]
    target = getattr(importlib.import_module(f"finmatch_agents.cli.{module}"), attr)
    shell = typer.Typer()
    if group:
        shell.add_typer(target, name=name, rich_help_panel=panel)
        return typer.main.get_group_from_info(
            shell.registered_groups[0], pretty_exceptions_short=app.pretty_exceptions_short,
            suggest_commands=app.suggest_commands, rich_markup_mode=app.rich_markup_mode)
    shell.command(name, rich_help_panel=panel)(target)
    return typer.main.get_command_from_info(shell.registered_commands[0],
                                            pretty_exceptions_short=app.pretty_exceptions_short,
                                            rich_markup_mode=app.rich_markup_mode)


#: whether :func:`main` switched garbage collection off for start-up (then :func:`_end_startup` switches it back on)
_startup_without_gc = False


def _end_startup() -> None:
    """Collection back on, the start-up's objects frozen out of it (see :func:`main`); a no-op when ``app`` runs
    without :func:`main` (tests invoke it in a process that collects as usual)."""
    global _startup_without_gc
    if _startup_without_gc:
        _startup_without_gc = False
        gc.freeze()
        gc.enable()


def main() -> None:
    """Console-script entry point."""
    global _startup_without_gc
    # Start-up (Typer, Rich, pydantic, the command's module) builds tens of thousands of objects that live as long
    # as the process, and the collector walked them over and over while they were built: ~45 ms of a 0.45 s
    # `match customer`. It is off until the root callback runs (the command resolved, nothing run yet), which
    # freezes those objects out of later collections and switches it back on for the command itself.
    if gc.isenabled():
        gc.disable()
        _startup_without_gc = True
    # At exit the interpreter's last garbage collection walks every object the imports built (~50k: Typer, Rich,
    # DuckDB, pydantic) only to free memory the OS is about to take back: ~0.1 s of a 0.5 s `match customer`.
    # Freezing them skips that walk. Registered first, so it runs after every other exit handler, which still
    # flush and close what they own (our files and connections are closed by their `with` blocks, not by GC).
    atexit.register(gc.freeze)
    try:
        app(prog_name="finmatch")
    except KeyboardInterrupt:  # outside a command (e.g. during start-up)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # the reader of our stdout went away (`| head`): not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
