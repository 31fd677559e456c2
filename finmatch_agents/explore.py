"""Paging through a table (used by `finmatch explore` and chat's /explore): validated columns, one SQL
condition, stable order, every query through the sandbox."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from finmatch_agents.data.schema import PRIMARY_KEYS
from finmatch_agents.errors import UsageError
from finmatch_agents.warehouse.sqltext import quote_ident

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import DuckDBEngine

#: shown when no columns are chosen and the table is too wide to read in a terminal
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


def choose_columns(spec: str | None, available: list[str], table: str, json_out: bool) -> list[str]:
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


def check_where(expr: str | None) -> str | None:
    """Check that --where is one SQL condition (the full statement is then validated by the sandbox)."""
    if expr is None or not expr.strip():
        return None
    try:
        parsed = sqlglot.parse(expr, read="duckdb")
    except sqlglot.errors.SqlglotError as exc:
        raise UsageError(f"--where: not a valid SQL condition ({str(exc).splitlines()[0]})") from exc
    if len(parsed) != 1 or parsed[0] is None or isinstance(parsed[0], exp.Query | exp.Command | exp.DDL | exp.DML):
        raise UsageError("--where: give one condition such as \"channel = 'Email' AND recommendation_score > 0.8\"")
    return expr


def fetch_page(engine: DuckDBEngine, log: QueryLog, table: str, columns: list[str], where: str | None, page: int,
               page_size: int) -> Page:
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
