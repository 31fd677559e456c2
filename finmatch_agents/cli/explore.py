"""``finmatch explore``: page through a table (interactive paging when stdin and stdout are terminals)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from finmatch_agents.cli import common
from finmatch_agents.cli.render import data_table

if TYPE_CHECKING:
    from finmatch_agents.explore import Page


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
    engine_name: common.EngineOpt = None,
    json_out: common.JsonOpt = False,
) -> None:
    """Browse a table page by page; --where filters through the SQL sandbox.

    On a terminal, n/p move between pages, g jumps to a page and q quits; otherwise one page is printed.
    """
    from finmatch_agents.errors import UsageError
    from finmatch_agents.explore import check_where, choose_columns, fetch_page

    common.want_json(json_out)
    s = common.settings(db=db, engine=engine_name)
    engine, log = common.open_sandbox(s, "explore")
    with engine:
        name = table or s.table
        common.require_table(engine, name)
        available = [c.name for c in engine.columns(name)]
        chosen = choose_columns(columns, available, name, json_out)
        condition = check_where(where)
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
