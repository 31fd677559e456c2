"""``finmatch explore``: page through a table (interactive paging when stdin and stdout are terminals)."""

from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from finmatch_agents.cli import common
from finmatch_agents.cli.render import data_table

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import DuckDBEngine

#: shown when no --columns are given and the table is too wide to read in a terminal
DEFAULT_VIEW = {
    "fpr_records": ["record_id", "customer_id", "customer_segment", "product_name", "product_recommendation_status",
                    "recommendation_score", "channel", "product_recommendation_date"],
}
MAX_DEFAULT_COLUMNS = 10


@dataclass
class Page:
    table: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    page: int
    page_size: int
    total: int
    query_ids: list[str]

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


def explore(
    table: Annotated[str | None, typer.Argument(help="Table to browse (default: the records table).",
                                                show_default=False)] = None,
    where: Annotated[str | None, typer.Option("--where", help="SQL condition, e.g. \"channel = 'Email'\".",
                                              show_default=False, metavar="EXPR")] = None,
    columns: Annotated[str | None, typer.Option("--columns", help="Comma-separated columns to show.",
                                                show_default=False, metavar="A,B")] = None,
    page: Annotated[int, typer.Option("--page", min=1, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=1000, help="Rows per page.")] = 20,
    db: common.DbOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Browse a table page by page; --where filters through the SQL sandbox.

    On a terminal, n/p move between pages, g jumps to a page and q quits; otherwise one page is printed.
    """
    from finmatch_agents.errors import UsageError

    common.want_json(json_out)
    s = common.settings(db=db)
    engine, log = common.open_sandbox(s, "explore")
    with engine:
        name = table or s.table
        common.require_table(engine, name)
        available = [c.name for c in engine.columns(name)]
        chosen = _columns(columns, available, name, json_out)
        condition = _where(where)
        current = fetch_page(engine, log, name, chosen, condition, page, page_size)
        if page > current.pages:
            raise UsageError(f"--page {page}: {name} has {current.pages} page(s) of {page_size} rows"
                             + (" matching --where" if where else ""))
        if json_out:
            common.emit_json({"table": name, "page": page, "page_size": page_size, "pages": current.pages,
                              "total_rows": current.total, "columns": current.columns,
                              "rows": [dict(zip(current.columns, r, strict=True)) for r in current.rows],
                              "queries": current.query_ids})
            return
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        hidden = len(available) - len(chosen)
        while True:
            _render(current, hidden, interactive)
            if not interactive:
                return
            key = typer.getchar().lower()
            target = {"n": current.page + 1, "p": current.page - 1, "q": 0, "\x1b": 0, "\x03": 0}.get(key)
            if key == "g":
                target = typer.prompt("page", type=int, default=current.page)
            if target == 0:
                return
            if target is None or not 1 <= target <= current.pages:
                continue
            current = fetch_page(engine, log, name, chosen, condition, target, page_size)


def _columns(spec: str | None, available: list[str], table: str, json_out: bool) -> list[str]:
    from finmatch_agents.errors import UsageError

    if not spec:
        if json_out or len(available) <= MAX_DEFAULT_COLUMNS:
            return available
        preferred = [c for c in DEFAULT_VIEW.get(table, []) if c in available]
        return preferred or available[:MAX_DEFAULT_COLUMNS]
    chosen = [c.strip() for c in spec.split(",") if c.strip()]
    for col in chosen:
        if col not in available:
            close = difflib.get_close_matches(col, available, n=1)
            raise UsageError(f"--columns: '{col}' is not a column of {table}"
                             + (f"; did you mean {close[0]}?" if close else ""))
    return chosen


def _where(expr: str | None) -> str | None:
    """Check that --where is one SQL condition (the full statement is then validated by the sandbox)."""
    if expr is None or not expr.strip():
        return None
    import sqlglot
    from sqlglot import exp

    from finmatch_agents.errors import UsageError

    try:
        parsed = sqlglot.parse(expr, read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise UsageError(f"--where: not a valid SQL condition ({str(exc).splitlines()[0]})") from exc
    if len(parsed) != 1 or parsed[0] is None or isinstance(parsed[0], exp.Query | exp.Command | exp.DDL | exp.DML):
        raise UsageError("--where: give one condition such as \"channel = 'Email' AND recommendation_score > 0.8\"")
    return expr


def fetch_page(engine: DuckDBEngine, log: QueryLog, table: str, columns: list[str], where: str | None, page: int,
               page_size: int) -> Page:
    from finmatch_agents.data.schema import PRIMARY_KEYS
    from finmatch_agents.warehouse.sqltext import quote_ident

    source = quote_ident(table)
    condition = f" WHERE ({where})" if where else ""
    total = engine.query(f"SELECT count(*) AS total FROM {source}{condition}", log=log,
                         title=f"Rows of {table} matching the filter").scalar()
    key = PRIMARY_KEYS.get(table)
    order = f" ORDER BY {quote_ident(key)}" if key and any(c.name == key for c in engine.columns(table)) else ""
    cols = ", ".join(quote_ident(c) for c in columns)
    res = engine.query(f"SELECT {cols} FROM {source}{condition}{order} LIMIT {page_size} "
                       f"OFFSET {(page - 1) * page_size}", log=log, title=f"Page {page} of {table}",
                       max_rows=page_size)
    return Page(table, res.columns, res.rows, page, page_size, int(total or 0),
                [r.id for r in log.records[-2:]])


def _render(p: Page, hidden: int, interactive: bool) -> None:
    first = (p.page - 1) * p.page_size + 1 if p.rows else 0
    last = first + len(p.rows) - 1 if p.rows else 0
    console = common.out()
    console.print(data_table(p.columns, p.rows, f"{p.table} — rows {first:,}-{last:,} of {p.total:,} "
                                                f"(page {p.page} of {p.pages:,})"))
    notes = []
    if hidden > 0:
        notes.append(f"{hidden} more column(s): pick with --columns")
    if interactive:
        notes.append("n next · p previous · g go to page · q quit")
    if notes:
        console.print(f"[dim]{' · '.join(notes)}[/]")
