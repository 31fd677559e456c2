"""Running named SQL with the data dictionary's vocabulary filled in.

Named queries (``warehouse/sql/*.sql``) write status values as placeholders (``{{accepted}}``); this is the
one place that supplies them from the dictionary, so every caller (agents, metrics, chat, the profile, the
engines' feature queries) runs the same statement for the same question.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from finmatch_agents.data.schema import STATUS_PARAMS
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import Engine, QueryResult

Skipped = named.Skipped


def run(engine: Engine, log: QueryLog, name: str, *, present: set[str], title: str | None = None,
        **params: object) -> QueryResult | named.Skipped:
    """Run a named query (or skip it when a column it requires is absent)."""
    return named.run(engine, log, name, present=present, title=title, **{**STATUS_PARAMS, **params})


def statement(name: str, *, present: set[str], dialect: str = "duckdb", **params: object) -> str | None:
    """The statement :func:`run` would send to an engine speaking ``dialect`` (None when it would skip it)."""
    return named.statement(name, present=present, dialect=dialect, **{**STATUS_PARAMS, **params})
