"""Parser validation of analysis SQL (DESIGN §5): exactly one read-only SELECT over known tables.

This is the first of two walls: the connection itself is read-only with external access disabled and its
configuration locked, so a statement that slipped past the parser still could not write or read files.
Each refusal names its rule so users (and tests) can tell exactly why a statement was rejected. The guard
fails closed: a statement it cannot analyse (too long, too deeply nested, or one that trips the parser in
an unexpected way) is refused, never waved through.

Rules: syntax, empty, complexity, single-statement, select-only, no-write, file-function, forbidden-function,
system-catalog, path-table, qualified-name, unknown-table, cell-size.
"""

from __future__ import annotations

import difflib
import functools
import math
import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError

from finmatch_agents.errors import SQLRefused
from finmatch_agents.warehouse.sqltext import MAX_SQL_CHARS, Checked

DIALECT = "duckdb"
#: dialects the guard can parse: the authored one, and the ones :mod:`finmatch_agents.warehouse.dialect` writes
#: (the transpiled text is checked again, in its own dialect, before a Spark or Databricks engine runs it)
DIALECTS = frozenset({"duckdb", "spark", "databricks"})

#: deepest nesting of brackets and CASE ... END; sqlglot's recursive parser overflows the stack near 40
MAX_NESTING = 32
#: largest value a generator function (range(), repeat(), lpad()...) may build from constant arguments;
#: DuckDB builds such values outside its memory limit and cannot interrupt them
MAX_GENERATED_BYTES = 64 * 1024
#: size assumed for a value whose size the parser cannot know (a column, a function result)
UNKNOWN_VALUE_BYTES = 256

#: table functions allowed in FROM (they generate rows, they read nothing)
ALLOWED_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
#: scalar functions that expose the environment, run nested SQL or touch files
FORBIDDEN_FUNCTIONS = frozenset({
    "getenv", "current_setting", "query", "query_table", "glob", "sniff_csv", "read_text", "read_blob",
    "nextval", "currval", "setseed", "which_secret", "load_aws_credentials", "system", "shell",
    "enable_logging", "disable_logging", "make_timestamp_ns_tz_from_env", "getvariable", "enable_profiling",
    "disable_profiling", "truncate_duckdb_logs",
    "error",  # error(customer_name) would carry a data value out in the error text
    # Spark / Databricks: JVM reflection, files, secrets, the network, model calls, values carried out in errors
    "reflect", "java_method", "try_reflect", "input_file_name", "input_file_block_start",
    "input_file_block_length", "secret", "try_secret", "http_request", "raise_error", "assert_true",
})
FORBIDDEN_PREFIXES = ("read_", "parquet_", "duckdb_", "pragma_", "iceberg_", "delta_", "sqlite_", "postgres_",
                      "mysql_", "http_", "st_read", "json_execute", "icu_", "checkpoint", "force_checkpoint",
                      "pg_get_", "ai_", "vector_search", "cloud_files", "list_secrets")
#: catalog objects refused by name wherever they appear (also as CTE names): the sandbox's own views,
#: settings, databases and secrets live there. Listing tables and columns is what /tables and describe are for.
SYSTEM_NAMES = frozenset({"information_schema", "pg_catalog", "system", "temp", "sqlite_master", "sqlite_schema",
                          "sqlite_temp_master", "sqlite_temp_schema"})
SYSTEM_PREFIXES = ("duckdb_", "pragma_", "pg_", "sqlite_")
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
_PATH_LIKE = re.compile(r"[/\\:~*?]|\.\w+$|^\.")
_OPEN = frozenset({sqlglot.TokenType.L_PAREN, sqlglot.TokenType.L_BRACKET, sqlglot.TokenType.L_BRACE,
                   sqlglot.TokenType.CASE})
_CLOSE = frozenset({sqlglot.TokenType.R_PAREN, sqlglot.TokenType.R_BRACKET, sqlglot.TokenType.R_BRACE,
                    sqlglot.TokenType.END})
_FORMAT_NUMBER = re.compile(r"\d+")


def check(sql: str, known_tables: set[str] | frozenset[str], *, dialect: str = DIALECT) -> Checked:
    """Validate ``sql`` (written in ``dialect``, one of :data:`DIALECTS`); raise :class:`SQLRefused` naming the rule
    that failed.

    Fails closed: an unexpected failure while analysing the statement is a refusal too. A statement that
    passed is remembered with the tables it may read (the verdict depends on nothing else): named queries and
    a chat's verified questions run the same text again and again, and parsing it cost ~10 ms each time."""
    try:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {', '.join(sorted(DIALECTS))}")
        return _check_cached(sql, frozenset(known_tables), dialect)
    except (SQLRefused, ValueError):
        raise
    except RecursionError as exc:
        raise SQLRefused("complexity", "the statement is nested too deeply to check", sql=sql,
                         hint="flatten it: use a WITH clause instead of deeply nested subqueries") from exc
    except Exception as exc:  # a parser bug must never let a statement through unchecked
        raise SQLRefused("syntax", f"cannot check the statement ({type(exc).__name__})", sql=sql) from exc


@functools.lru_cache(maxsize=256)  # at most ~25 MB of statement text
def _check_cached(sql: str, known_tables: frozenset[str], dialect: str) -> Checked:
    return _check(sql, known_tables, dialect)  # a refusal raises, and an exception is never cached


def _check(sql: str, known_tables: set[str] | frozenset[str], dialect: str = DIALECT) -> Checked:
    if not sql or not sql.strip().strip(";").strip():
        raise SQLRefused("empty", "no statement given", sql=sql)
    if len(sql) > MAX_SQL_CHARS:
        raise SQLRefused("complexity", f"the statement is {len(sql):,} characters long; the limit is "
                         f"{MAX_SQL_CHARS:,}", sql=sql)
    tokens = _tokens(sql, dialect)
    depth = _nesting(tokens)
    if depth > MAX_NESTING:
        raise SQLRefused("complexity", f"the statement is nested {depth:,} levels deep; the limit is {MAX_NESTING}",
                         sql=sql, hint="flatten it: use a WITH clause instead of deeply nested subqueries")
    keywords = _first_keywords(tokens)
    if len(keywords) > 1:
        raise SQLRefused("single-statement", f"found {len(keywords)} statements; send exactly one SELECT", sql=sql)
    if keywords and keywords[0] in STATEMENT_KEYWORDS:
        raise SQLRefused("select-only", f"{keywords[0]} statements are not allowed; only a single SELECT (or WITH ... "
                         "SELECT) can run", sql=sql)
    try:
        # the tokens read above, parsed as they are (sqlglot.parse would tokenize the text a second time)
        statements = [s for s in _dialect(dialect).parser().parse(tokens, sql) if s is not None]
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

    for cte in tree.find_all(exp.CTE):
        if _is_system_name(str(cte.alias_or_name)):
            raise SQLRefused("system-catalog", f"'{cte.alias_or_name}' is the name of a system catalog object; "
                             "name the WITH query something else", sql=sql)
    used = [name for table in tree.find_all(exp.Table) if (name := _check_table(table, known_tables, sql))]

    for func in tree.walk():
        if not isinstance(func, exp.Func | exp.Comprehension):
            continue
        fname = "" if isinstance(func, exp.Comprehension) else _function_name(func)
        if _is_forbidden_function(fname):
            raise SQLRefused("forbidden-function", f"function {fname}() is not allowed in analysis SQL", sql=sql)
        _check_generated_size(func, fname, sql)
    return Checked(sql=sql, tables=tuple(dict.fromkeys(used)))


# -- tokens ------------------------------------------------------------------------------------------------
@functools.cache
def _dialect(name: str = DIALECT) -> Dialect:
    return Dialect.get_or_raise(name)


def _tokens(sql: str, dialect: str = DIALECT) -> list[sqlglot.Token]:
    try:
        return _dialect(dialect).tokenize(sql)
    except TokenError as exc:
        raise SQLRefused("syntax", f"cannot tokenize the statement: {exc}", sql=sql) from exc


def _nesting(tokens: list[sqlglot.Token]) -> int:
    """Deepest bracket / CASE nesting (linear; runs before the recursive parser sees the statement)."""
    depth = deepest = 0
    for tok in tokens:
        if tok.token_type in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif tok.token_type in _CLOSE:
            depth = max(0, depth - 1)
    return deepest


def _first_keywords(tokens: list[sqlglot.Token]) -> list[str]:
    """First word of each top-level statement (comments and string literals handled by the tokenizer)."""
    words, at_start = [], True
    for tok in tokens:
        if tok.token_type == sqlglot.TokenType.SEMICOLON:
            at_start = True
            continue
        if at_start:
            words.append(tok.text.upper())
            at_start = False
    return words


# -- tables ------------------------------------------------------------------------------------------------
def _is_system_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in SYSTEM_NAMES or lowered.startswith(SYSTEM_PREFIXES)


def _check_table(table: exp.Table, known_tables: set[str] | frozenset[str], sql: str) -> str | None:
    """The database table ``table`` reads (``None`` for a CTE or a row-generating function), or a refusal."""
    target = table.this
    if isinstance(target, exp.Func):
        fname = _function_name(target)
        if fname not in ALLOWED_TABLE_FUNCTIONS:
            rule = "system-catalog" if _is_system_name(fname) else "file-function"
            raise SQLRefused(rule, f"table function {fname}() is not allowed; only tables in the database (and "
                             "range/generate_series/unnest) can be read", sql=sql)
        return None
    name = str(table.name)
    parts = [p for p in (table.catalog, table.db, name) if p]
    if any(_is_system_name(p) for p in parts):
        raise SQLRefused("system-catalog", f"'{'.'.join(parts)}' is a system catalog object; list tables and "
                         "columns with `finmatch data info`, chat /tables or the describe_table tool", sql=sql)
    if table.catalog or table.db:
        raise SQLRefused("qualified-name", f"'{'.'.join(parts)}': use the bare table name", sql=sql)
    if _PATH_LIKE.search(name):
        raise SQLRefused("path-table", f"'{name}' looks like a file path; only tables in the database can be "
                         "read", sql=sql)
    lowered = name.lower()
    if _cte_in_scope(table, lowered):
        return None
    if lowered not in known_tables:
        close = difflib.get_close_matches(lowered, sorted(known_tables), n=1)
        hint = f"did you mean {close[0]}?" if close else f"known tables: {', '.join(sorted(known_tables))}"
        raise SQLRefused("unknown-table", f"table '{name}' does not exist", sql=sql, hint=hint)
    return lowered


def _cte_in_scope(table: exp.Table, name: str) -> bool:
    """Whether ``name`` at ``table`` means a WITH query: one of its own WITH's scope, not one elsewhere.

    Walking up from the table: in the body of a query with a WITH, all its CTEs are visible; inside the
    definition of CTE *i*, only CTEs defined before it (and itself when RECURSIVE)."""
    child: exp.Expr = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            ctes = list(node.expressions)
            index = next((i for i, c in enumerate(ctes) if c is child), len(ctes))
            visible = ctes[:index + 1] if node.args.get("recursive") else ctes[:index]
            if any(str(c.alias_or_name).lower() == name for c in visible):
                return True
        else:
            with_ = next((v for v in node.args.values() if isinstance(v, exp.With)), None)
            if with_ is not None and with_ is not child and any(
                    str(c.alias_or_name).lower() == name for c in with_.expressions):
                return True
        child, node = node, node.parent
    return False


# -- functions ---------------------------------------------------------------------------------------------
def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _is_forbidden_function(name: str) -> bool:
    return name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES)


def _constant(node: exp.Expr | None) -> float | None:
    """The value of a constant numeric expression (literals, signs, + - * /, casts), else ``None``."""
    if node is None:
        return None
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Paren | exp.Cast | exp.TryCast):
        return _constant(node.this)
    if isinstance(node, exp.Neg):
        value = _constant(node.this)
        return None if value is None else -value
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        left, right = _constant(node.this), _constant(node.expression)
        if left is None or right is None:
            return None
        if isinstance(node, exp.Add):
            return left + right
        if isinstance(node, exp.Sub):
            return left - right
        if isinstance(node, exp.Mul):
            return left * right
        return left / right if right else None
    return None


def _size_estimate(node: exp.Expr | None) -> float:
    """Upper bound in bytes of the value ``node`` builds (unknown values count as UNKNOWN_VALUE_BYTES)."""
    if node is None:
        return 0
    if isinstance(node, exp.Literal):
        return len(str(node.this).encode()) if node.is_string else 8
    if isinstance(node, exp.DPipe | exp.Concat | exp.Array):
        return sum(_size_estimate(c) for c in node.iter_expressions()) or 8
    if isinstance(node, exp.Func | exp.Comprehension):
        name = _function_name(node) if isinstance(node, exp.Func) else ""
        generated = _generated_bytes(node, name)
        if generated is not None:
            return generated[0]
    return max([UNKNOWN_VALUE_BYTES, *(_size_estimate(c) for c in node.iter_expressions())])


def _count(node: exp.Expr | None, what: str) -> float:
    value = _constant(node)
    if value is None or not math.isfinite(value):
        raise _NotConstant(what)
    return max(0.0, value)


class _NotConstant(Exception):
    """A size argument of a generator function is not a constant number."""


def _series_items(node: exp.GenerateSeries) -> float:
    start = _constant(node.args.get("start")) if node.args.get("start") is not None else 0.0
    end = _constant(node.args.get("end"))
    step = _constant(node.args.get("step")) if node.args.get("step") is not None else 1.0
    if start is None or end is None or step is None or not all(map(math.isfinite, (start, end, step))):
        raise _NotConstant("constant whole-number bounds")
    if step == 0:
        return 0.0  # DuckDB refuses a zero step itself
    span = (end - start) / step
    items = math.ceil(span) if node.args.get("is_end_exclusive") else math.floor(span) + 1
    return max(0.0, float(items))


GENERATOR_NODES: tuple[type[exp.Expression], ...] = (exp.GenerateSeries, exp.Repeat, exp.Pad, exp.Format)
GENERATOR_NAMES = frozenset({"list_resize", "array_resize", "bar", "to_base", "printf", "sprintf", "format"})
LAMBDA_FUNCTIONS = frozenset({"list_transform", "list_apply", "array_transform", "array_apply", "apply"})


def _builds_values(body: exp.Expr) -> bool:
    return any(isinstance(n, GENERATOR_NODES) or (isinstance(n, exp.Anonymous) and str(n.name).lower()
                                                  in GENERATOR_NAMES) for n in body.walk())


def _lambda_parts(func: exp.Expr, fname: str) -> tuple[exp.Expr | None, exp.Expr | None]:
    """(the per-element body, the list it runs over) of a comprehension or list_transform(); else Nones."""
    if isinstance(func, exp.Comprehension):
        return func.this, func.args.get("iterator")
    if isinstance(func, exp.Transform) and isinstance(func.expression, exp.Lambda):
        return func.expression.this, func.this
    if isinstance(func, exp.Anonymous) and fname in LAMBDA_FUNCTIONS and len(func.expressions) >= 2 \
            and isinstance(func.expressions[1], exp.Lambda):
        return func.expressions[1].this, func.expressions[0]
    return None, None


def _generated_bytes(func: exp.Expr, fname: str) -> tuple[float, str] | None:
    """(bytes the generator builds, what its size argument is) or ``None`` for other functions."""
    args = list(func.expressions) if isinstance(func, exp.Anonymous) else []
    body, source = _lambda_parts(func, fname)
    if body is not None:
        if not _builds_values(body):
            return None
        items = (_series_items(source) if isinstance(source, exp.GenerateSeries)
                 else _size_estimate(source) / 8)
        return items * _size_estimate(body), "a constant, smaller list"
    if isinstance(func, exp.GenerateSeries):
        if isinstance(func.parent, exp.Table) and func.arg_key == "this":
            return None  # FROM range(...) streams rows: the row cap and the deadline bound it
        return _series_items(func) * 8, "constant whole-number bounds"
    if isinstance(func, exp.Repeat):
        return _size_estimate(func.this) * _count(func.args.get("times"), "a constant count"), "a constant count"
    if isinstance(func, exp.Pad):
        return _count(func.expression, "a constant length"), "a constant length"
    if fname in ("list_resize", "array_resize") and len(args) >= 2:
        return _count(args[1], "a constant size") * max(8, _size_estimate(args[2]) if len(args) > 2 else 8), \
            "a constant size"
    if fname == "bar" and len(args) >= 4:
        return _count(args[3], "a constant width") * 3, "a constant width"
    if fname == "to_base" and len(args) >= 3:
        return _count(args[2], "a constant length"), "a constant length"
    if fname in ("printf", "sprintf", "format"):
        fmt = func.this if isinstance(func, exp.Format) else (args[0] if args else None)
        if not (isinstance(fmt, exp.Literal) and fmt.is_string):
            raise _NotConstant("a constant format string")
        widths = [int(n) for n in _FORMAT_NUMBER.findall(str(fmt.this))]
        return float(max(widths, default=0)) + len(str(fmt.this)), "a constant format string"
    return None


def _check_generated_size(func: exp.Expr, fname: str, sql: str) -> None:
    label = f"{fname}()" if fname else "a list comprehension"
    try:
        generated = _generated_bytes(func, fname)
    except _NotConstant as exc:
        raise SQLRefused("cell-size", f"{label} needs {exc} here, so the size of the value it builds is known "
                         "before it runs", sql=sql, hint="to generate rows use FROM range(...) / "
                         "generate_series(...) as a table") from exc
    if generated is not None and generated[0] > MAX_GENERATED_BYTES:
        raise SQLRefused("cell-size", f"{label} would build a value of about {generated[0]:,.0f} bytes; the "
                         f"limit for a generated value is {MAX_GENERATED_BYTES:,} bytes", sql=sql,
                         hint="to generate rows use FROM range(...) / generate_series(...) as a table")
