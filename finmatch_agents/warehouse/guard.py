"""Parser validation of analysis SQL (DESIGN §5): exactly one read-only SELECT over known tables.

This is the first of two walls: the connection itself is read-only with external access disabled and its
configuration locked, so a statement that slipped past the parser still could not write or read files.
Each refusal names its rule so users (and tests) can tell exactly why a statement was rejected.

Rules: syntax, empty, single-statement, select-only, no-write, file-function, forbidden-function,
path-table, qualified-name, unknown-table.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from finmatch_agents.errors import SQLRefused

DIALECT = "duckdb"

#: table functions allowed in FROM (they generate rows, they read nothing)
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
#: scalar functions that expose the environment, run nested SQL or touch files
FORBIDDEN_FUNCTIONS = frozenset({
    "getenv", "current_setting", "query", "query_table", "glob", "sniff_csv", "read_text", "read_blob",
    "nextval", "currval", "setseed", "which_secret", "load_aws_credentials", "system", "shell",
    "enable_logging", "disable_logging", "make_timestamp_ns_tz_from_env",
})
FORBIDDEN_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "iceberg_", "delta_", "sqlite_", "postgres_",
                      "mysql_", "http_", "st_read", "json_execute", "icu_", "checkpoint", "force_checkpoint")
#: statement kinds named in refusals when the first keyword already tells (sqlglot cannot parse all of them)
STATEMENT_KEYWORDS = frozenset({
    "COPY", "EXPORT", "IMPORT", "ATTACH", "DETACH", "INSTALL", "LOAD", "FORCE", "PRAGMA", "SET", "RESET", "CALL",
    "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "TRUNCATE", "MERGE", "VACUUM", "CHECKPOINT",
    "USE", "BEGIN", "COMMIT", "ROLLBACK", "ABORT", "START", "DESCRIBE", "SHOW", "SUMMARIZE", "EXPLAIN",
    "PREPARE", "EXECUTE", "DEALLOCATE", "GRANT", "REVOKE", "COMMENT", "UPSERT", "REPLACE", "ANALYZE",
})
WRITE_NODES: tuple[type[exp.Expression], ...] = tuple(
    getattr(exp, name) for name in (
        "Insert", "Update", "Delete", "Create", "Drop", "Alter", "Copy", "Command", "Pragma", "Set", "Attach",
        "Detach", "Use", "Merge", "TruncateTable", "Transaction", "Commit", "Rollback", "Install", "Describe",
        "Summarize", "Into", "LoadData", "Analyze", "Grant", "Revoke",
    ) if hasattr(exp, name)
)
INFORMATION_SCHEMA_VIEWS = frozenset({"tables", "columns", "schemata"})
_PATH_LIKE = re.compile(r"[/\\:~*?]|\.\w+$|^\.")


@dataclass(frozen=True)
class Checked:
    """A statement that passed validation and the tables it reads."""

    sql: str
    tables: tuple[str, ...]


def _first_keywords(sql: str) -> list[str]:
    """First word of each top-level statement (comments and string literals handled by the tokenizer)."""
    try:
        tokens = sqlglot.tokenize(sql, read=DIALECT)
    except TokenError as exc:
        raise SQLRefused("syntax", f"cannot tokenize the statement: {exc}", sql=sql) from exc
    words, at_start = [], True
    for tok in tokens:
        if tok.token_type == sqlglot.TokenType.SEMICOLON:
            at_start = True
            continue
        if at_start:
            words.append(tok.text.upper())
            at_start = False
    return words


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _is_forbidden_function(name: str) -> bool:
    return name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES)


def check(sql: str, known_tables: set[str] | frozenset[str]) -> Checked:
    """Validate ``sql``; raise :class:`SQLRefused` naming the rule that failed."""
    if not sql or not sql.strip().strip(";").strip():
        raise SQLRefused("empty", "no statement given", sql=sql)
    keywords = _first_keywords(sql)
    if len(keywords) > 1:
        raise SQLRefused("single-statement", f"found {len(keywords)} statements; send exactly one SELECT", sql=sql)
    if keywords and keywords[0] in STATEMENT_KEYWORDS:
        raise SQLRefused("select-only", f"{keywords[0]} statements are not allowed; only a single SELECT (or WITH ... "
                         "SELECT) can run", sql=sql)
    try:
        statements = [s for s in sqlglot.parse(sql, read=DIALECT) if s is not None]
    except (ParseError, TokenError) as exc:
        first = exc.errors[0] if isinstance(exc, ParseError) and exc.errors else {}
        where = f" (line {first.get('line')}, column {first.get('col')})" if first else ""
        desc = first.get("description") if first else str(exc)
        raise SQLRefused("syntax", f"cannot parse the statement{where}: {desc}", sql=sql) from exc
    if not statements:
        raise SQLRefused("empty", "no statement given", sql=sql)
    if len(statements) > 1:
        raise SQLRefused("single-statement", f"found {len(statements)} statements; send exactly one SELECT", sql=sql)
    tree = statements[0]
    root = tree.this if isinstance(tree, exp.Subquery) else tree
    if not isinstance(root, exp.Select | exp.SetOperation):
        kind = type(root).__name__.upper()
        raise SQLRefused("select-only", f"{kind} statements are not allowed; only a single SELECT can run", sql=sql)

    for node in tree.walk():
        if isinstance(node, WRITE_NODES):
            raise SQLRefused("no-write", f"{type(node).__name__.upper()} is not allowed inside a query", sql=sql)

    cte_names = {str(cte.alias_or_name).lower() for cte in tree.find_all(exp.CTE)}
    used: list[str] = []
    for table in tree.find_all(exp.Table):
        target = table.this
        if isinstance(target, exp.Func):
            fname = _function_name(target)
            if fname not in ALLOWED_TABLE_FUNCTIONS:
                raise SQLRefused("file-function", f"table function {fname}() is not allowed; only tables in the "
                                 "database (and range/generate_series/unnest) can be read", sql=sql)
            continue
        name = str(table.name)
        if table.catalog or (table.db and table.db.lower() != "information_schema"):
            qualified = ".".join(p for p in (table.catalog, table.db, name) if p)
            raise SQLRefused("qualified-name", f"'{qualified}': use the bare table name", sql=sql)
        if table.db:
            if name.lower() not in INFORMATION_SCHEMA_VIEWS:
                raise SQLRefused("unknown-table", f"information_schema.{name} is not available", sql=sql)
            continue
        if _PATH_LIKE.search(name):
            raise SQLRefused("path-table", f"'{name}' looks like a file path; only tables in the database can be "
                             "read", sql=sql)
        lowered = name.lower()
        if lowered in cte_names:
            continue
        if lowered not in known_tables:
            close = difflib.get_close_matches(lowered, sorted(known_tables), n=1)
            hint = f"did you mean {close[0]}?" if close else f"known tables: {', '.join(sorted(known_tables))}"
            raise SQLRefused("unknown-table", f"table '{name}' does not exist", sql=sql, hint=hint)
        used.append(lowered)

    for func in tree.find_all(exp.Func):
        fname = _function_name(func)
        if _is_forbidden_function(fname):
            raise SQLRefused("forbidden-function", f"function {fname}() is not allowed in analysis SQL", sql=sql)
    return Checked(sql=sql, tables=tuple(dict.fromkeys(used)))
