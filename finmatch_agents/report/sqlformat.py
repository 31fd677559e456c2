"""SQL as the appendix shows it: statements written on one long line (the generated profile queries) are
pretty-printed with sqlglot; statements already laid out by hand (the named SQL files) are kept as written.
No line stays longer than :data:`WIDTH` unless a single token is (a long string literal)."""

from __future__ import annotations

import textwrap

import sqlglot
from sqlglot.errors import SqlglotError

WIDTH = 120


def formatted_sql(sql: str, width: int = WIDTH) -> str:
    text = sql.strip()
    if all(len(line) <= width for line in text.splitlines()):
        return text
    try:
        pretty = ";\n\n".join(s for s in sqlglot.transpile(text, read="duckdb", write="duckdb", pretty=True) if s)
    except (SqlglotError, ValueError, RecursionError):
        pretty = text
    return "\n".join(_wrap(line, width) for line in (pretty or text).splitlines())


def _wrap(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    indent = line[: len(line) - len(line.lstrip())]
    return "\n".join(textwrap.wrap(line.strip(), width=width, initial_indent=indent, subsequent_indent=indent + "  ",
                                   break_long_words=False, break_on_hyphens=False)) or line
