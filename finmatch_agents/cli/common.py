"""What every command shares: option types, settings resolution, consoles, JSON output, opening the sandbox.

Heavy libraries (DuckDB, NumPy, sqlglot, LangGraph) are imported inside functions so that ``finmatch --help``
stays fast; only Typer and Rich load at start-up.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pkgutil
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finmatch_agents.config import OPTION_BY_NAME, Settings, load_settings
from finmatch_agents.data.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED

__all__ = ["DEFAULT_CUSTOMERS", "DEFAULT_SEED"]

if TYPE_CHECKING:
    from rich.console import Console

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import DuckDBEngine

#: per-invocation state set by the root callback (reset on every invocation, also under CliRunner)
CONFIG_PATH: ContextVar[Path | None] = ContextVar("finmatch_config_path", default=None)
JSON_ERRORS: ContextVar[bool] = ContextVar("finmatch_json_errors", default=False)


def _help(name: str) -> str:
    return OPTION_BY_NAME[name].help


DbOpt = Annotated[Path | None, typer.Option("--db", help=_help("db"), envvar="FINMATCH_DB", show_default=False,
                                            metavar="PATH")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help=_help("engine"), envvar="FINMATCH_ENGINE",
                                                show_default=False, metavar="duckdb|spark|databricks")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]


def agent_modules() -> list[str]:
    """The focus agents' names, read from the agents package without importing it (an agent's key is its module
    name with '-' for '_'; the registry checks that)."""
    spec = importlib.util.find_spec("finmatch_agents.agents")
    paths = list(spec.submodule_search_locations or []) if spec else []
    return sorted(i.name.replace("_", "-") for i in pkgutil.iter_modules(paths) if i.name != "base")


def _focus_names() -> tuple[str, ...]:
    """For shell completion (values are checked by ``agents.resolve_focus``)."""
    from finmatch_agents.agents import FOCUS_ALL, FOCUS_ORDER  # start-up speed: loads every agent module

    return (*FOCUS_ORDER, FOCUS_ALL)


FocusOpt = Annotated[list[str] | None, typer.Option(
    "--focus", autocompletion=lambda incomplete: [n for n in _focus_names() if n.startswith(incomplete)],
    show_default=False,
    help=f"Focus agents to run, or all (default): {', '.join(agent_modules())}. Repeat the flag or separate with "
    "commas.")]
TableOpt = Annotated[str | None, typer.Option("--table", help=_help("table"), envvar="FINMATCH_TABLE",
                                              show_default=False, metavar="NAME")]


def want_json(enabled: bool) -> None:
    """Remember that this command speaks JSON, so errors are also reported as JSON on stdout."""
    if enabled:
        JSON_ERRORS.set(True)


def settings(*, allow_missing_config: bool = False, **flags: Any) -> Settings:
    """Resolve settings for this invocation: flags given here > env > finmatch.toml > defaults."""
    return load_settings(config_path=CONFIG_PATH.get(), allow_missing=allow_missing_config, **flags)


def _console(stderr: bool) -> Console:
    """A Rich console; off a terminal: no colour, fixed width for tables, and text never hard-wrapped."""
    from rich.console import Console

    tty = (sys.stderr if stderr else sys.stdout).isatty()
    width = None if tty else (int(os.environ.get("COLUMNS", "0") or 0) or 120)
    return Console(stderr=stderr, width=width, highlight=False, soft_wrap=not tty)


def out() -> Console:
    """Console for results (stdout)."""
    return _console(stderr=False)


def err() -> Console:
    """Console for progress, notes and errors (stderr), so stdout stays clean for pipes."""
    return _console(stderr=True)


def emit_json(obj: Any) -> None:
    from finmatch_agents.formatting import json_default

    sys.stdout.write(json.dumps(obj, default=json_default, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def ensure_database(s: Settings) -> None:
    """On a fresh checkout the default database does not exist yet: create the synthetic one, saying so."""
    from finmatch_agents.data.default_db import ensure_default_database

    ensure_default_database(s, lambda message: err().print(message, markup=False))


def open_sandbox(s: Settings, source: str, *, create_default: bool = True, max_rows: int | None = None,
                 min_timeout: float | None = None) -> tuple[DuckDBEngine, QueryLog]:
    """The read-only sandbox plus a query log that also appends to the SQL audit file (``max_rows`` and
    ``min_timeout`` as :func:`~finmatch_agents.warehouse.engine.open_engine` takes them)."""
    from finmatch_agents.evidence import AuditLog, QueryLog
    from finmatch_agents.warehouse.engine import open_engine

    if create_default:
        ensure_database(s)
    engine = open_engine(s, max_rows=max_rows, min_timeout=min_timeout)
    return engine, QueryLog(sinks=[AuditLog(s.state_dir / "sql-audit.jsonl", source)])


def open_bulk_sandbox(s: Settings, source: str, *, duckdb_only: bool = False, min_timeout: float | None = None
                      ) -> tuple[DuckDBEngine, QueryLog]:
    """The selected engine's sandbox for the engines' commands: the hard row cap (they read one row per customer;
    a larger result is fetched in partitions, never cut off) and, with ``min_timeout``, a longer deadline.
    ``duckdb_only``: the command writes a table or runs SQL without a Spark form, so it refuses other engines."""
    from finmatch_agents.warehouse.engine import HARD_ROW_CAP, require_duckdb

    if duckdb_only:
        require_duckdb(s, source.replace("-", " "))
    return open_sandbox(s, source, max_rows=HARD_ROW_CAP, min_timeout=min_timeout)


def require_table(engine: DuckDBEngine, table: str) -> None:
    from finmatch_agents.errors import UsageError

    if not engine.has_table(table):
        known = ", ".join(engine.tables()) or "none"
        raise UsageError(f"table '{table}' is not in {engine.location} (tables: {known})",
                         hint="load data with `finmatch data load FILE` or pick another --table")
