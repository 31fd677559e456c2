"""SQL text helpers: identifier quoting, literals and ``{{placeholder}}`` rendering.

Placeholders are ``{{name}}``: ``{{table}}`` and other identifiers are quoted, values are inlined as SQL
literals. Inlining (rather than bind parameters) keeps the logged SQL exactly what ran, so the provenance
appendix can be pasted into ``finmatch sql`` to reproduce a figure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from finmatch_agents.errors import UsageError

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
#: longest statement the guard reads (a model can send megabytes of tool arguments)
MAX_SQL_CHARS = 100_000
IDENTIFIER_PARAMS = frozenset({"table", "products", "goals", "column", "group_column", "group_alias", "count_column"})


#: every dialect an engine may speak (the translator, :mod:`finmatch_agents.warehouse.dialect`, loads sqlglot; these
#: names do not, so named queries can pick their variant without it)
DIALECTS: tuple[str, ...] = ("duckdb", "spark", "databricks")
#: the family of per-dialect variant files each dialect reads (``name.spark.sql`` serves Databricks too)
VARIANT_FAMILY: dict[str, str] = {"duckdb": "duckdb", "spark": "spark", "databricks": "spark"}
#: first line of a text already written in Spark SQL (a ``.spark.sql`` variant): checked, not translated again
DIALECT_MARKER = "-- dialect: spark"


def check_dialect(dialect: str) -> str:
    """``dialect`` if it is one of :data:`DIALECTS`, else a :class:`UsageError` naming them."""
    if dialect not in DIALECTS:
        raise UsageError(f"unknown SQL dialect {dialect!r}; expected one of {', '.join(DIALECTS)}")
    return dialect


@dataclass(frozen=True)
class Checked:
    """A statement that passed the guard and the tables it reads."""

    sql: str
    tables: tuple[str, ...]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_spark_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def spark_literal(value: object) -> str:
    """``value`` as a Spark SQL literal (strings escape with a backslash there; lists are ``array(...)``)."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list | tuple):
        return "array(" + ", ".join(spark_literal(v) for v in value) + ")"
    return literal(value)


def literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot inline non-finite number {value!r}")
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def render(sql: str, *, spark: bool = False, **params: object) -> str:
    """Fill ``{{placeholders}}``; every placeholder must be given. ``spark``: quote and write values as Spark SQL
    does (a ``.spark.sql`` variant's text; DuckDB texts are translated, literals and all, by sqlglot)."""
    ident, value_of = (quote_spark_ident, spark_literal) if spark else (quote_ident, literal)

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in params:
            raise KeyError(f"SQL placeholder {{{{{key}}}}} has no value")
        value = params[key]
        return ident(str(value)) if key in IDENTIFIER_PARAMS else value_of(value)

    return _PLACEHOLDER.sub(fill, sql)


def placeholders(sql: str) -> set[str]:
    return set(_PLACEHOLDER.findall(sql))
