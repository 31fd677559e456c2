"""What the data itself teaches the parser: each dimension's distinct values (so "mortgages" can mean
``product_type = 'Mortgage'`` and "students" ``segment = 'Student'``) and the span of the time column (so
"last quarter" is the latest quarter present in the data). Learned with two queries through the sandbox when
a session starts; dimensions with very many values keep only a group-by role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from finmatch_agents.warehouse.sqltext import literal, quote_ident

if TYPE_CHECKING:
    from finmatch_agents.semantic.model import SemanticModel
    from finmatch_agents.warehouse.engine import QueryResult

#: dimensions with more distinct values than this are not learned as value words
MAX_VALUES = 500

Run = Callable[[str, str], "QueryResult"]  # (sql, title) -> result, through the sandbox


@dataclass(frozen=True)
class Vocabulary:
    present: frozenset[str]  # columns of the records table (catalogue columns as products.<name>)
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # dimension -> distinct values present
    first_day: date | None = None
    last_day: date | None = None

    def has(self, dimension: str, value: str) -> bool:
        return value in self.values.get(dimension, ())


def learn(model: SemanticModel, run: Run, table: str, present: set[str]) -> Vocabulary:
    """Distinct values of every present, unbanded dimension and the time column's first and last day."""
    dims = [d for d in model.dimensions.values() if d.column in present and not d.bands]
    values: dict[str, tuple[str, ...]] = {d.name: () for d in dims}
    if dims:
        selects = [f"SELECT {literal(d.name)} AS dimension, CAST({quote_ident(d.column)} AS VARCHAR) AS value "
                   f"FROM {quote_ident(table)} WHERE {quote_ident(d.column)} IS NOT NULL GROUP BY 2" for d in dims]
        sql = ("WITH v AS (" + " UNION ALL ".join(selects) + "), counted AS (SELECT dimension, value, "
               "count(*) OVER (PARTITION BY dimension) AS n FROM v) SELECT dimension, value FROM counted "
               f"WHERE n <= {MAX_VALUES} ORDER BY dimension, value")
        found: dict[str, list[str]] = {}
        for dimension, value in run(sql, "Semantic model: distinct values of the dimensions").rows:
            found.setdefault(dimension, []).append(value)
        values.update({k: tuple(v) for k, v in found.items()})
    for d in model.dimensions.values():
        if d.bands and d.column in present:
            values[d.name] = tuple(b.label for b in d.bands)
    first = last = None
    if model.time_column in present:
        col = quote_ident(model.time_column)
        row = run(f"SELECT CAST(min({col}) AS DATE) AS first_day, CAST(max({col}) AS DATE) AS last_day "
                  f"FROM {quote_ident(table)}", f"Semantic model: span of the {model.time_label}").rows
        if row:
            first, last = row[0]
    return Vocabulary(frozenset(present), values, first, last)
