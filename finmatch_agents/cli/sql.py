"""``finmatch sql``: run one read-only query through the sandbox."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from finmatch_agents.cli import common
from finmatch_agents.cli.render import data_table

if TYPE_CHECKING:
    from finmatch_agents.warehouse.engine import QueryResult

FORMATS = ("table", "csv", "json", "markdown")


def sql(
    query: Annotated[str, typer.Argument(help="One SELECT statement ('-' reads it from stdin).", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Row cap for this query "
                                              "(default FINMATCH_SQL_MAX_ROWS, 10000).", show_default=False)] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.1, help="Deadline in seconds "
                                                  "(default FINMATCH_SQL_TIMEOUT, 30).", show_default=False)] = None,
    db: common.DbOpt = None,
    engine_name: common.EngineOpt = None,
) -> None:
    """Run one read-only SELECT against the data through the SQL sandbox.

    Refused statements exit 3 and name the rule (see docs/sql.md); results over the row cap are marked
    truncated; a query past its deadline is stopped. Every statement is appended to the SQL audit log.
    """
    from finmatch_agents.errors import UsageError

    common.want_json(fmt == "json")
    if fmt not in FORMATS:
        raise UsageError(f"--format: '{fmt}' is not one of {', '.join(FORMATS)}")
    text = sys.stdin.read() if query == "-" else query
    s = common.settings(db=db, engine=engine_name)
    engine, log = common.open_sandbox(s, "sql")
    with engine:
        result = engine.query(text, log=log, title="ad-hoc query", max_rows=limit, timeout=timeout)
    _print(result, fmt)


def _print(result: QueryResult, fmt: str) -> None:
    from finmatch_agents.formatting import csv_line

    note = (f"truncated: showing the first {len(result.rows):,} rows (row cap); add filters or LIMIT, or raise "
            "--limit") if result.truncated else None
    if fmt == "json":
        common.emit_json({"query_id": result.id, "columns": result.columns, "types": result.types,
                          "rows": result.dicts(), "row_count": len(result.rows), "truncated": result.truncated,
                          "elapsed_ms": result.record.elapsed_ms})
        return
    if fmt == "csv":
        sys.stdout.write(csv_line(result.columns))
        for row in result.rows:
            sys.stdout.write(csv_line(row))
        if note:
            common.err().print(f"[yellow]{note}[/]")
        return
    if fmt == "markdown":
        from finmatch_agents.report.markdown import table

        sys.stdout.write(table(result.columns, result.rows) + "\n")
        if note:
            sys.stdout.write(f"\n_{note}_\n")
        return
    console = common.out()
    console.print(data_table(result.columns, result.rows))
    footer = f"{len(result.rows):,} row(s) · {result.record.elapsed_ms:,.0f} ms · query {result.id}"
    console.print(f"[dim]{footer}[/]")
    if note:
        console.print(f"[yellow]{note}[/]")
