"""One SQL source, many engines: DuckDB SQL translated to the dialect an engine speaks (Spark, Databricks SQL).

Named queries, the semantic layer's answers and the engines' feature queries are written once, in DuckDB SQL.
:func:`to_dialect` translates a statement for the engine that will run it. It is a wall as well as a
translator: the sandbox's parser rules (:mod:`finmatch_agents.warehouse.guard`) run on the DuckDB text before
it is translated and again, in the target dialect, on the translated text, so what reaches a Spark or
Databricks session is exactly one SELECT over the same known tables, whatever the translator made of it.

sqlglot translates without complaint many statements that then fail or, worse, give other numbers on Spark
(measured: 22 typical DuckDB queries all "translated", 7 did not run). So the translation here is explicit
about the differences that change results:

- division: DuckDB gives NULL for ``x / 0``; Spark and Databricks (ANSI mode) raise. Every division whose
  divisor is not a non-zero constant becomes ``try_divide`` (NULL on zero, as DuckDB), never ANSI off;
- decimal constants: DuckDB reads ``1.0`` as a DECIMAL but averages it as a DOUBLE; Spark keeps a DECIMAL of
  a few digits (``avg(CASE ... THEN 1.0 ...)`` was 0.12986 instead of 0.129858...). Non-integer constants are
  written as DOUBLEs;
- ``list_contains(NULL, x)`` (a parameter left empty) is NULL; Spark refuses ``array_contains`` of an untyped
  NULL, so it is written as a typed NULL;
- NULL ordering: DuckDB sorts NULLs last; Spark first for ascending keys. sqlglot writes ``NULLS LAST``;
- quantiles: ``quantile_cont`` / ``median`` / ``percentile_cont ... WITHIN GROUP`` become Spark's exact
  ``percentile`` (sqlglot would write ``percentile_approx`` for the last, an approximation);
  ``quantile_disc`` becomes ``percentile_disc(p) WITHIN GROUP (ORDER BY x)``;
- constructs Spark cannot run (``COLUMNS()``, ``* REPLACE``, list comprehensions, ``PIVOT ... USING``,
  ``ASOF JOIN``, fixed-size ``FLOAT[n]`` arrays) are refused with a :class:`SQLRefused` of rule
  ``dialect`` naming the construct, instead of reaching the engine as text that cannot run.

A text that starts with :data:`DIALECT_MARKER` is written in Spark SQL already (a variant file): for ``spark``
and ``databricks`` it is checked by the guard in that dialect and returned as it is; DuckDB refuses it.

A named query that cannot be written portably has a variant file beside it, ``name.spark.sql`` (used for
``spark`` and ``databricks``; see :mod:`finmatch_agents.warehouse.named`). Variant texts go through
:func:`to_dialect` too: they are written in Spark's SQL, which the DuckDB-side rules cannot parse, so a
variant is checked in its own dialect (:func:`check_variant`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

from finmatch_agents.errors import SQLRefused
from finmatch_agents.warehouse import guard
from finmatch_agents.warehouse.sqltext import DIALECT_MARKER as DIALECT_MARKER
from finmatch_agents.warehouse.sqltext import DIALECTS as DIALECTS
from finmatch_agents.warehouse.sqltext import VARIANT_FAMILY as VARIANT_FAMILY
from finmatch_agents.warehouse.sqltext import check_dialect as check_dialect

SOURCE = guard.DIALECT

#: DuckDB constructs Spark and Databricks cannot run: (node type name, what to call it in the refusal)
_NOT_PORTABLE: tuple[tuple[str, str], ...] = (
    ("Columns", "COLUMNS(...)"),
    ("Comprehension", "a list comprehension"),
    ("PivotAny", "PIVOT ... ANY"),
)


def to_dialect(sql: str, dialect: str, *, known_tables: Iterable[str] | None = None) -> str:
    """``sql`` (DuckDB SQL) as the text an engine speaking ``dialect`` runs; identity for ``"duckdb"``.

    The guard's rules run on ``sql`` and again on the result (in ``dialect``); ``known_tables`` are the
    tables the statement may read (default: the tables it names, so only the other rules apply — the engine
    that runs it checks its tables). Raises :class:`SQLRefused` (rule ``dialect``) for a statement that cannot
    be translated, and the guard's own refusals."""
    check_dialect(dialect)
    written_for_spark = sql.lstrip().startswith(DIALECT_MARKER)
    if dialect == SOURCE:
        if written_for_spark:
            raise SQLRefused("dialect", "this statement is written in Spark SQL (a .spark.sql variant); DuckDB runs "
                             "the query's own .sql file", sql=sql)
        return sql
    if written_for_spark and VARIANT_FAMILY[dialect] == "spark":
        return check_variant(sql, dialect, known_tables=known_tables)
    known = frozenset(t.lower() for t in known_tables) if known_tables is not None else None
    return _translate(sql, dialect, known)


def check_variant(sql: str, dialect: str, *, known_tables: Iterable[str] | None = None) -> str:
    """A variant text already written in ``dialect`` (a ``.spark.sql`` file): the guard's rules in that dialect."""
    check_dialect(dialect)
    known = frozenset(t.lower() for t in known_tables) if known_tables is not None else None
    guard.check(sql, known if known is not None else _named_tables(sql, dialect), dialect=dialect)
    return sql


@functools.lru_cache(maxsize=512)
def _translate(sql: str, dialect: str, known: frozenset[str] | None) -> str:
    before = guard.check(sql, known if known is not None else _named_tables(sql, SOURCE), dialect=SOURCE)
    try:
        tree = sqlglot.parse_one(sql, read=SOURCE)
    except (ParseError, TokenError) as exc:  # the guard parsed it: this is a sqlglot inconsistency
        raise SQLRefused("dialect", f"cannot read the statement to translate it to {dialect}: {exc}",
                         sql=sql) from exc
    tree = _portable(tree)
    _refuse_not_portable(tree, dialect, sql)  # what the rewrites could not make portable
    try:
        text = tree.sql(dialect=dialect, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as exc:
        raise SQLRefused("dialect", f"the statement cannot be translated to {dialect}: {exc}", sql=sql,
                         hint=_VARIANT_HINT) from exc
    try:
        after = guard.check(text, frozenset(before.tables), dialect=dialect)
    except SQLRefused as exc:
        raise SQLRefused(exc.rule, f"after translation to {dialect}: {exc.message.split('] ', 1)[-1]}",
                         sql=text, hint=exc.hint) from exc
    if not set(after.tables) <= set(before.tables):  # the translation must not read anything new
        raise SQLRefused("dialect", f"the {dialect} translation reads {', '.join(sorted(after.tables))}; the "
                         f"statement reads {', '.join(sorted(before.tables)) or 'no table'}", sql=text)
    return text


_VARIANT_HINT = "write the query portably, or (a named query) add a `.spark.sql` variant beside it"


def _named_tables(sql: str, dialect: str) -> frozenset[str]:
    """Every table name ``sql`` mentions (so the guard's other rules can run without a catalogue)."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (ParseError, TokenError):
        return frozenset()  # the guard reports the syntax error itself
    return frozenset(str(t.name).lower() for t in tree.find_all(exp.Table) if not isinstance(t.this, exp.Func))


def _refuse_not_portable(tree: exp.Expr, dialect: str, sql: str) -> None:
    for type_name, label in _NOT_PORTABLE:
        node_type = getattr(exp, type_name, None)
        if node_type is not None and tree.find(node_type) is not None:
            raise SQLRefused("dialect", f"{label} has no {dialect} equivalent", sql=sql, hint=_VARIANT_HINT)
    for star in tree.find_all(exp.Star):
        if star.args.get("replace") or star.args.get("rename"):
            raise SQLRefused("dialect", f"SELECT * REPLACE / RENAME has no {dialect} equivalent", sql=sql,
                             hint=_VARIANT_HINT)
        if star.args.get("except_") and dialect == "spark":
            raise SQLRefused("dialect", "SELECT * EXCLUDE has no spark equivalent", sql=sql, hint=_VARIANT_HINT)
    for join in tree.find_all(exp.Join):
        if "ASOF" in str(join.args.get("method") or "").upper():
            raise SQLRefused("dialect", f"ASOF JOIN has no {dialect} equivalent", sql=sql, hint=_VARIANT_HINT)
    for pivot in tree.find_all(exp.Pivot):
        if pivot.args.get("using"):
            raise SQLRefused("dialect", f"PIVOT ... USING has no {dialect} equivalent", sql=sql, hint=_VARIANT_HINT)
    for dtype in tree.find_all(exp.DataType):
        if dtype.args.get("values") and dtype.is_type(exp.DataType.Type.ARRAY):
            raise SQLRefused("dialect", f"a fixed-size array type ({dtype.sql(SOURCE)}) has no {dialect} "
                             "equivalent", sql=sql, hint=_VARIANT_HINT)


def _portable(tree: exp.Expr) -> exp.Expr:
    """The rewrites that keep DuckDB's results on Spark (see the module docstring). Each kind of rewrite is one
    pass over the nodes found before it starts, so a rewritten node's arguments are rewritten too."""
    tree = tree.copy()
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)  # AS [NOT] MATERIALIZED: Spark plans CTEs itself
    for columns in list(tree.find_all(exp.Columns)):
        _expand_columns(columns)
    for star in list(tree.find_all(exp.Star)):
        _resolve_exclude(star)
    for literal in list(tree.find_all(exp.Literal)):
        if not literal.is_string and not _is_integer(literal.this) and not isinstance(literal.parent, exp.Cast):
            literal.replace(exp.Cast(this=literal.copy(), to=exp.DataType.build("DOUBLE")))
    for contains in list(tree.find_all(exp.ArrayContains)):
        if isinstance(contains.this, exp.Null):  # list_contains(NULL, x): a parameter left empty
            contains.replace(exp.Cast(this=exp.Null(), to=exp.DataType.build("BOOLEAN")))
    for arg in list(tree.find_all(exp.ArgMax, exp.ArgMin)):
        _skip_null_args(arg)
    for epoch in list(tree.find_all(exp.UnixToTime)):
        if isinstance(epoch.this, exp.Cast | exp.TryCast) and epoch.this.to.is_type(*exp.DataType.TEMPORAL_TYPES):
            # epoch_ms(<a timestamp>) is the milliseconds since 1970 (sqlglot reads it the other way round); counted
            # without a time zone, as DuckDB does, whatever the session's zone
            epoch.replace(exp.Anonymous(this="TIMESTAMPDIFF", expressions=[
                exp.Var(this="MILLISECOND"),
                exp.Cast(this=exp.Literal.string("1970-01-01 00:00:00"), to=exp.DataType.build("TIMESTAMP_NTZ")),
                epoch.this.copy()]))
    for agg in list(tree.find_all(exp.ArrayAgg)):
        _empty_list_is_null(_ordered_list(agg))
    for any_value in list(tree.find_all(exp.AnyValue)):
        _any_value_ordered(any_value)
    for node in list(tree.find_all(exp.WithinGroup, exp.PercentileCont, exp.PercentileDisc, exp.Median,
                                   exp.Quantile)):
        replacement = _quantile(node)
        if replacement is not None:
            node.replace(replacement)
    for tup in list(tree.find_all(exp.Tuple)):
        if not isinstance(tup.parent, exp.In | exp.Values | exp.Group):  # (a, b) as a value: a row
            tup.replace(exp.Struct(expressions=[e.copy() for e in tup.expressions]))
    for func in list(tree.find_all(exp.Anonymous)):
        if str(func.name).lower() == "hash" and isinstance(func.parent, exp.Mod):
            # DuckDB's hash() is unsigned; Spark's is a signed INT, and a negative one fails `% parts = part`
            func.replace(exp.Anonymous(this="PMOD", expressions=[
                exp.Anonymous(this="XXHASH64", expressions=[e.copy() for e in func.expressions]),
                exp.Literal.number(str(2**63 - 1))]))
    for div in list(tree.find_all(exp.Div)):
        if not _nonzero_constant(div.expression):
            div.replace(exp.Anonymous(this="TRY_DIVIDE", expressions=[div.this, div.expression]))
    return tree


def _expand_columns(node: exp.Columns) -> None:
    """``COLUMNS(lambda c: list_contains(['a', 'b'], c))`` over a constant list names its columns: the select
    item holding it becomes one item per column (``f(COLUMNS(...))`` -> ``f(a) AS a, f(b) AS b``, as DuckDB names
    them). The columns come in the list's order (DuckDB: the table's)."""
    names = _lambda_list(node)
    item: exp.Expr = node
    while item.parent is not None and not isinstance(item.parent, exp.Select):
        item = item.parent
    select = item.parent
    if names is None or not isinstance(select, exp.Select) or item.arg_key != "expressions":
        return  # left as it is: refused by name in _refuse_not_portable
    expanded: list[exp.Expr] = []
    taken = {str(e.alias_or_name).lower() for e in select.expressions if e is not item}
    for name in names:
        copy = item.copy()
        target = copy.find(exp.Columns)
        assert target is not None
        column = exp.column(name, quoted=True)
        if target is copy:
            expanded.append(column)
            continue
        target.replace(column)
        alias, n = name, 0
        while alias.lower() in taken:  # DuckDB names a second column of the same name name_1
            n += 1
            alias = f"{name}_{n}"
        taken.add(alias.lower())
        expanded.append(exp.alias_(copy.this if isinstance(copy, exp.Alias) else copy, alias, quoted=True))
    position = select.expressions.index(item)
    select.set("expressions", select.expressions[:position] + expanded + select.expressions[position + 1:])


def _lambda_list(node: exp.Columns) -> list[str] | None:
    body = node.this
    if not isinstance(body, exp.Lambda) or len(body.expressions) != 1:
        return None
    var = str(body.expressions[0].name)
    test = body.this
    if not isinstance(test, exp.ArrayContains) or not isinstance(test.this, exp.Array) \
            or str(test.expression.name) != var:
        return None
    items = test.this.expressions
    if not all(isinstance(i, exp.Literal) and i.is_string for i in items):
        return None
    return [str(i.this) for i in items]


def _resolve_exclude(star: exp.Star) -> None:
    """``SELECT * EXCLUDE (a, b) FROM cte``: the CTE's other output columns, when its projections are explicit."""
    excluded = star.args.get("except_")
    select = star.parent
    if not excluded or not isinstance(select, exp.Select) or select.args.get("joins"):
        return
    source = select.args.get("from_") or select.args.get("from")
    table = source.this if isinstance(source, exp.From) else None
    if not isinstance(table, exp.Table) or table.db:
        return
    cte = next((c for w in _withs_above(select) for c in w.expressions
                if str(c.alias_or_name).lower() == str(table.name).lower()), None)
    body = cte.this if cte is not None else None
    if not isinstance(body, exp.Select) or any(isinstance(e, exp.Star) or isinstance(e.this if isinstance(
            e, exp.Alias) else e, exp.Star) for e in body.expressions):
        return
    drop = {str(e.name).lower() for e in excluded}
    kept = [exp.column(e.alias_or_name, quoted=True) for e in body.expressions
            if str(e.alias_or_name).lower() not in drop]
    position = select.expressions.index(star)
    select.set("expressions", select.expressions[:position] + kept + select.expressions[position + 1:])


def _withs_above(node: exp.Expr) -> list[exp.With]:
    found = []
    current: exp.Expr | None = node
    while current is not None:
        with_ = current.args.get("with_") or current.args.get("with")
        if isinstance(with_, exp.With):
            found.append(with_)
        current = current.parent
    return found


def _empty_list_is_null(outer: exp.Expr) -> None:
    """DuckDB's ``list()`` of no rows (an empty input, or a FILTER no row passes) is NULL; Spark's is ``[]``."""
    copy = outer.copy()
    outer.replace(exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Anonymous(this="SIZE", expressions=[copy.copy()]),
                                                    expression=exp.Literal.number(0)), true=exp.Null())],
                           default=copy))


def _ordered_list(node: exp.ArrayAgg) -> exp.Expr:
    """``list(v ORDER BY k)``: Spark's collect_list has no order (sqlglot drops it), so the values are collected
    with their keys and sorted: ``transform(array_sort(collect_list(struct(k, v))), s -> s.v)`` (ascending keys;
    the NULL values are kept, as DuckDB keeps them)."""
    order = node.this
    unchanged: exp.Expr = node.parent if isinstance(node.parent, exp.Filter) else node
    if not isinstance(order, exp.Order) or not order.expressions or any(
            k.args.get("desc") for k in order.expressions):
        return unchanged
    if isinstance(order.this, exp.Distinct):  # list(DISTINCT v ORDER BY v): the sorted set (NULLs left out)
        values = order.this.expressions
        if len(values) == 1 and len(order.expressions) == 1 and values[0] == order.expressions[0].this:
            collected_set: exp.Expr = exp.Anonymous(this="COLLECT_SET", expressions=[values[0].copy()])
            target_set: exp.Expr = node
            if isinstance(node.parent, exp.Filter):
                collected_set = exp.Filter(this=collected_set, expression=node.parent.expression.copy())
                target_set = node.parent
            return target_set.replace(exp.Anonymous(this="ARRAY_SORT", expressions=[collected_set]))
        return unchanged
    fields = [exp.alias_(k.this.copy(), f"k{i}") for i, k in enumerate(order.expressions)]
    collected: exp.Expr = exp.Anonymous(this="COLLECT_LIST", expressions=[
        exp.Struct(expressions=[*fields, exp.alias_(order.this.copy(), "v")])])
    target: exp.Expr = node
    if isinstance(node.parent, exp.Filter):
        collected = exp.Filter(this=collected, expression=node.parent.expression.copy())
        target = node.parent
    return target.replace(exp.Anonymous(this="TRANSFORM", expressions=[
        exp.Anonymous(this="ARRAY_SORT", expressions=[collected]),
        exp.Lambda(this=exp.Dot(this=exp.column("s"), expression=exp.to_identifier("v")),
                   expressions=[exp.to_identifier("s")])]))


def _skip_null_args(node: exp.Expr) -> None:
    """DuckDB's ``arg_max(a, k)`` skips the rows where ``a`` is NULL; Spark's ``max_by`` returns their NULL."""
    value = node.this
    if isinstance(value, exp.Columns):
        return  # expanded first (see _expand_columns); its copies are rewritten then
    condition: exp.Expr = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
    parent = node.parent
    if isinstance(parent, exp.Filter) and isinstance(parent.expression, exp.Where):
        parent.expression.set("this", exp.And(this=exp.Paren(this=parent.expression.this.copy()), expression=condition))
        return
    node.replace(exp.Filter(this=node.copy(), expression=exp.Where(this=condition)))


def _any_value_ordered(node: exp.AnyValue) -> None:
    """DuckDB's ``any_value(a ORDER BY b)``: the first non-NULL ``a`` by ``b`` (Spark has no ordered any_value)."""
    inner = node.this
    if not isinstance(inner, exp.Order) or len(inner.expressions) != 1:
        return
    value, key = inner.this, inner.expressions[0]
    if value == key.this:
        agg: exp.Expr = (exp.Max if key.args.get("desc") else exp.Min)(this=value.copy())
    else:
        agg = exp.Anonymous(this="MAX_BY" if key.args.get("desc") else "MIN_BY", expressions=[value.copy(),
                                                                                                key.this.copy()])
        agg = exp.Filter(this=agg, expression=exp.Where(this=exp.Not(this=exp.Is(this=value.copy(),
                                                                                   expression=exp.Null()))))
    (node.parent if isinstance(node.parent, exp.IgnoreNulls) else node).replace(agg)


def _quantile(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node, exp.WithinGroup):
        order = node.expression
        keys = order.expressions if isinstance(order, exp.Order) else []
        if isinstance(node.this, exp.PercentileCont) and len(keys) == 1 and not keys[0].args.get("desc"):
            return _percentile(keys[0].this, node.this.this)
        return None
    if isinstance(node.parent, exp.WithinGroup):
        return None
    if isinstance(node, exp.PercentileCont) and node.expression is not None:  # quantile_cont(x, p)
        return _percentile(node.this, node.expression)
    if isinstance(node, exp.Median):
        return _percentile(node.this, exp.Literal.number("0.5"))
    if isinstance(node, exp.PercentileDisc) and node.expression is not None:  # quantile_disc(x, p)
        return _percentile_disc(node.this, node.expression)
    if isinstance(node, exp.Quantile):  # DuckDB's quantile() is quantile_disc()
        return _percentile_disc(node.this, node.args["quantile"])
    return None


def _percentile(value: exp.Expr, fraction: exp.Expr) -> exp.Expr:
    """Spark's exact, interpolating ``percentile`` (DuckDB's quantile_cont)."""
    return exp.Anonymous(this="PERCENTILE", expressions=[value, fraction])


def _percentile_disc(value: exp.Expr, fraction: exp.Expr) -> exp.Expr:
    return exp.WithinGroup(this=exp.Anonymous(this="PERCENTILE_DISC", expressions=[fraction]),
                           expression=exp.Order(expressions=[exp.Ordered(this=value, nulls_first=False)]))


def _is_integer(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _nonzero_constant(node: exp.Expr) -> bool:
    value = guard._constant(node)  # the guard's constant folding, reused
    return value is not None and value != 0
