"""Structured query → one SQL statement over the records table, with the unit of every output column.

The statement reads the records once (``base``: filters, period and group keys applied), aggregates record
measures over records and customer measures over customers (each customer's ``per_customer`` figure first,
so a customer with five recommendations counts once), and joins the two on the group keys. A comparison
adds a period key and pivots it into ``<measure>__current``, ``__baseline`` and ``__change`` columns; a
breakdown ranks the groups of every candidate dimension by how much of the change happened in them.
Rows whose group value is unknown (NULL) are left out of grouped results, like the verified queries do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from finmatch_agents.errors import UsageError
from finmatch_agents.semantic.query import TIME_GROUP, group_label
from finmatch_agents.warehouse.sqltext import literal, quote_ident

if TYPE_CHECKING:
    from collections.abc import Iterable

    from finmatch_agents.semantic.model import Measure, SemanticModel
    from finmatch_agents.semantic.query import Filter, Period, Range, StructuredQuery

CATALOGUE_TABLE = "products"
STATUS_COLUMN = "product_recommendation_status"
CURRENT, BASELINE = "current", "baseline"
BREAKDOWN_ROWS = 8


class Unavailable(UsageError):
    """The data lacks a column the question needs (the answer says which instead of guessing)."""


@dataclass(frozen=True)
class Compiled:
    sql: str
    title: str
    columns: list[tuple[str, str, str]]  # (key, heading, unit)
    group_keys: list[str]
    measure_keys: list[str]


def time_expr(grain: str, column: str) -> str:
    col = quote_ident(column)
    return {"year": f"CAST(year({col}) AS VARCHAR)",
            "quarter": f"CAST(year({col}) AS VARCHAR) || ' Q' || CAST(quarter({col}) AS VARCHAR)",
            "month": f"strftime({col}, '%Y-%m')",
            "week": f"strftime(date_trunc('week', {col}), '%Y-%m-%d')"}[grain]


def period_condition(period: Period, column: str) -> str:
    col = quote_ident(column)
    return f"{col} >= {literal(period.start)} AND {col} < {literal(period.end)}"


def _customer_sql(m: Measure, alias: str) -> str:
    """A customer measure's aggregate with its ``value`` pointing at that measure's per-customer column."""
    tree = sqlglot.parse_one(m.sql, dialect="duckdb")
    tree = tree.transform(lambda node: exp.column(alias, quoted=True)
                          if isinstance(node, exp.Column) and node.name == "value" else node)
    return tree.sql(dialect="duckdb")


class Compiler:
    def __init__(self, model: SemanticModel, table: str, present: set[str]) -> None:
        self.model, self.table, self.present = model, table, present

    # -- checks ---------------------------------------------------------------------------------------------
    def check(self, q: StructuredQuery) -> None:
        """Every name known and every column present, else :class:`Unavailable` / UsageError naming it."""
        model = self.model
        names: list[tuple[str, str]] = [("measure", m) for m in q.measures]
        names += [("dimension", g) for g in q.group_by if not g.startswith(TIME_GROUP)]
        names += [("dimension", f.dimension) for f in q.filters] + [("attribute", r.attribute) for r in q.ranges]
        tables: dict[str, dict[str, Any]] = {"measure": model.measures, "dimension": model.dimensions,
                                             "attribute": model.attributes}
        for kind, name in names:
            table = tables[kind]
            if name not in table:
                raise UsageError(f"unknown {kind} {name!r}; known: {', '.join(table)}")
            absent = model.absent(self.present, name)
            if absent:
                what = table[name].label
                raise Unavailable(f"this data has no {', '.join(absent)} column, so {what} cannot be computed")
        timed = q.period or q.compare or any(g.startswith(TIME_GROUP) for g in q.group_by)
        if timed and model.time_column not in self.present:
            raise Unavailable(f"this data has no {model.time_column} column ({model.time_label}), so it cannot "
                              "be cut by period")

    # -- pieces ---------------------------------------------------------------------------------------------
    def conditions(self, filters: Iterable[Filter], ranges: Iterable[Range]) -> list[str]:
        """SQL conditions of dimension filters and attribute ranges, on the columns they name (the similarity
        search applies the same ones to one row per customer)."""
        conds = []
        for f in filters:
            cond = self.model.dimensions[f.dimension].condition(f.values)
            conds.append(f"coalesce(NOT ({cond}), true)" if f.negate else cond)
        for r in ranges:
            col = quote_ident(self.model.attributes[r.attribute].column)
            if r.op == "between":
                conds.append(f"{col} BETWEEN {r.low!r} AND {r.high!r}")
            else:
                conds.append(f"{col} {r.op} {(r.low if r.low is not None else r.high)!r}")
        return conds

    def _groups(self, q: StructuredQuery) -> list[tuple[str, str]]:
        out = []
        for g in q.group_by:
            if g.startswith(TIME_GROUP):
                out.append((g.removeprefix(TIME_GROUP), time_expr(g.removeprefix(TIME_GROUP), self.model.time_column)))
            else:
                out.append((g, self.model.dimensions[g].expr()))
        return out

    def _conditions(self, q: StructuredQuery) -> list[str]:
        conds = self.conditions(q.filters, q.ranges)
        if q.compare:
            conds.append("((" + ") OR (".join(period_condition(p, self.model.time_column) for p in q.compare) + "))")
        elif q.period:
            conds.append(period_condition(q.period, self.model.time_column))
        return conds

    def _source(self, measures: list[Measure]) -> str:
        catalogue = sorted(set().union(*(m.catalogue for m in measures))) if measures else []
        records = f"{quote_ident(self.table)} AS r"
        if not catalogue:
            return records
        cols = ", ".join(f"max({quote_ident(c)}) AS {quote_ident(c)}" for c in catalogue)
        return (f"{records} LEFT JOIN (SELECT product_id, {cols} FROM {quote_ident(CATALOGUE_TABLE)} "
                "GROUP BY product_id) AS c ON c.product_id = r.product_id")

    def _base(self, q: StructuredQuery, groups: list[tuple[str, str]], measures: list[Measure],
              extra: tuple[str, ...] = ()) -> str:
        """The matching records with only the columns the measures read (a CTE read twice is materialised, so
        ``r.*`` would copy every column of every matching record)."""
        catalogue = sorted(set().union(*(m.catalogue for m in measures))) if measures else []
        needed = {c for m in measures for c in m.requires if not c.startswith("products.")} | set(extra)
        if any(m.customer_level for m in measures):
            needed.add("customer_id")
        select = [f"r.{quote_ident(c)}" for c in sorted(needed)] + [f"c.{quote_ident(c)}" for c in catalogue]
        select += [f"{expr} AS {quote_ident('g_' + key)}" for key, expr in groups]
        if q.compare:
            current, baseline = q.compare
            select.append(f"CASE WHEN {period_condition(current, self.model.time_column)} THEN '{CURRENT}' "
                          f"WHEN {period_condition(baseline, self.model.time_column)} THEN '{BASELINE}' END "
                          "AS g_period")
        select = select or ["1 AS one"]  # count(*) alone reads no column
        conds = self._conditions(q) + [f"({expr}) IS NOT NULL" for _key, expr in groups]
        where = f"\n  WHERE {' AND '.join(conds)}" if conds else ""
        return f"base AS (\n  SELECT {', '.join(select)}\n  FROM {self._source(measures)}{where}\n)"

    # -- the statement ---------------------------------------------------------------------------------------
    def compile(self, q: StructuredQuery) -> Compiled:
        self.check(q)
        if q.breakdown:
            return self.breakdown(q)
        model = self.model
        measures = [model.measures[m] for m in q.measures]
        groups = self._groups(q)
        keys = [quote_ident("g_" + k) for k, _ in groups] + (["g_period"] if q.compare else [])
        by = ", ".join(keys)
        ctes = [self._base(q, groups, measures)]
        record = [m for m in measures if not m.customer_level]
        customer = [m for m in measures if m.customer_level]
        parts = []
        if record:
            cols = ", ".join([*keys, *(f"{m.sql} AS {quote_ident(m.name)}" for m in record)])
            ctes.append(f"records AS (\n  SELECT {cols}\n  FROM base{f' GROUP BY {by}' if by else ''}\n)")
            parts.append("records")
        if customer:
            per = ", ".join([*keys, "customer_id",
                             *(f"{m.per_customer} AS {quote_ident('v_' + m.name)}" for m in customer)])
            ctes.append(f"per_customer AS (\n  SELECT {per}\n  FROM base WHERE customer_id IS NOT NULL\n"
                        f"  GROUP BY {', '.join([*keys, 'customer_id'])}\n)")
            cols = ", ".join([*keys, *(f"{_customer_sql(m, 'v_' + m.name)} AS {quote_ident(m.name)}"
                                       for m in customer)])
            ctes.append(f"customers AS (\n  SELECT {cols}\n  FROM per_customer{f' GROUP BY {by}' if by else ''}\n)")
            parts.append("customers")
        joined = parts[0] if len(parts) == 1 else (
            f"records JOIN customers USING ({by})" if by else "records CROSS JOIN customers")
        columns = [(k, group_label(model, g).capitalize() if not g.startswith(TIME_GROUP) else k.capitalize(), "text")
                   for (k, _), g in zip(groups, q.group_by, strict=True)]
        group_out = [f"{quote_ident('g_' + k)} AS {quote_ident(k)}" for k, _ in groups]
        if q.compare:
            ctes.append(f"joined AS (\n  SELECT * FROM {joined}\n)")
            outer = [quote_ident("g_" + k) for k, _ in groups]
            select = list(group_out)
            for m in measures:
                name = quote_ident(m.name)
                cur = f"max({name}) FILTER (WHERE g_period = '{CURRENT}')"
                base = f"max({name}) FILTER (WHERE g_period = '{BASELINE}')"
                if m.kind == "count":
                    cur, base = f"coalesce({cur}, 0)", f"coalesce({base}, 0)"
                select += [f"{cur} AS {quote_ident(m.name + '__current')}",
                           f"{base} AS {quote_ident(m.name + '__baseline')}",
                           f"{cur} - {base} AS {quote_ident(m.name + '__change')}"]
                change_unit = "pp" if m.unit == "percent" else m.unit
                columns += [(m.name + "__current", f"{m.label.capitalize()} {q.compare[0].label}", m.unit),
                            (m.name + "__baseline", f"{m.label.capitalize()} {q.compare[1].label}", m.unit),
                            (m.name + "__change", "Change", change_unit)]
            group_by = f"\nGROUP BY {', '.join(outer)}" if outer else ""
            body = f"SELECT {', '.join(select)}\nFROM joined{group_by}"
            order_key = quote_ident(measures[0].name + "__current")
        else:
            select = group_out + [quote_ident(m.name) for m in measures]
            columns += [(m.name, m.label.capitalize(), m.unit) for m in measures]
            body = f"SELECT {', '.join(select)}\nFROM {joined}"
            order_key = quote_ident(measures[0].name)
        order = []
        if groups and (q.order or q.top):
            order.append(f"{order_key} {'ASC' if q.order == 'asc' else 'DESC'} NULLS LAST")
        order += [quote_ident(k) for k, _ in groups]
        if order:
            body += f"\nORDER BY {', '.join(order)}"
        if q.top and groups:
            body += f"\nLIMIT {int(q.top)}"
        sql = pretty("WITH " + ",\n".join(ctes) + "\n" + body)
        return Compiled(sql, q.echo(model), columns, [k for k, _ in groups], [c[0] for c in columns[len(groups):]])

    def breakdown(self, q: StructuredQuery) -> Compiled:
        """The compared measure per group of each candidate dimension, ranked by its share of the change."""
        assert q.compare is not None
        m = self.model.measures[q.measures[0]]
        if m.customer_level or not (m.numerator or m.kind in ("count", "total")):
            raise UsageError(f"{m.label} cannot be broken down into parts that add up to its change")
        num, den = (m.numerator, m.denominator) if m.numerator else (m.sql, None)
        fixed = {f.dimension for f in q.filters if len(f.values) == 1 and not f.negate}
        dims = [d for d in self.model.dimensions.values()
                if d.column in self.present and d.name not in fixed and d.name not in q.group_by
                and not (m.uses_status and d.column == STATUS_COLUMN)]
        ctes = [self._base(q.model_copy(update={"group_by": ()}), [], [m], tuple(d.column for d in dims))]
        den_sql = den or "NULL"
        cells = [f"SELECT '(all)' AS dimension, '(all)' AS value, g_period, {num} AS num, {den_sql} AS den "
                 "FROM base GROUP BY g_period"]
        cells += [f"SELECT {literal(d.name)} AS dimension, CAST({d.expr()} AS VARCHAR) AS value, g_period, "
                  f"{num} AS num, {den_sql} AS den FROM base WHERE ({d.expr()}) IS NOT NULL GROUP BY 2, 3"
                  for d in dims]
        ctes.append("cells AS (\n  " + "\n  UNION ALL ".join(cells) + "\n)")
        ctes.append(f"""by_group AS (
  SELECT dimension, value,
         coalesce(sum(num) FILTER (WHERE g_period = '{CURRENT}'), 0) AS num_current,
         coalesce(sum(num) FILTER (WHERE g_period = '{BASELINE}'), 0) AS num_baseline,
         sum(den) FILTER (WHERE g_period = '{CURRENT}') AS den_current,
         sum(den) FILTER (WHERE g_period = '{BASELINE}') AS den_baseline
  FROM cells GROUP BY dimension, value
)""")
        ctes.append("totals AS (\n  SELECT den_current AS total_current, den_baseline AS total_baseline FROM by_group "
                    "WHERE dimension = '(all)'\n)")
        if den:
            value_c, value_b = "num_current / nullif(den_current, 0)", "num_baseline / nullif(den_baseline, 0)"
            contribution = "num_current / nullif(total_current, 0) - num_baseline / nullif(total_baseline, 0)"
            volume = "coalesce(den_current, 0) AS n_current, coalesce(den_baseline, 0) AS n_baseline, "
        else:
            value_c, value_b, contribution, volume = "num_current", "num_baseline", "num_current - num_baseline", ""
        body = (f"SELECT dimension, value, {volume}{value_c} AS {quote_ident(m.name + '__current')}, "
                f"{value_b} AS {quote_ident(m.name + '__baseline')}, "
                f"({value_c}) - ({value_b}) AS {quote_ident(m.name + '__change')}, {contribution} AS contribution\n"
                "FROM by_group CROSS JOIN totals\n"
                "ORDER BY dimension = '(all)' DESC, abs(contribution) DESC NULLS LAST, dimension, value\n"
                f"LIMIT {BREAKDOWN_ROWS + 1}")
        unit = m.unit
        change_unit = "pp" if unit == "percent" else unit
        cur, base = q.compare
        columns = [("dimension", "Dimension", "text"), ("value", "Group", "text")]
        if den:
            noun = "Recommendations" if den == "count(*)" else "Base"
            columns += [("n_current", f"{noun} {cur.label}", "count"), ("n_baseline", f"{noun} {base.label}", "count")]
        columns += [(m.name + "__current", f"{m.label.capitalize()} {cur.label}", unit),
                    (m.name + "__baseline", f"{m.label.capitalize()} {base.label}", unit),
                    (m.name + "__change", "Change in the group", change_unit),
                    ("contribution", "Share of the overall change", change_unit)]
        sql = pretty("WITH " + ",\n".join(ctes) + "\n" + body)
        return Compiled(sql, q.echo(self.model), columns, ["dimension", "value"], [c[0] for c in columns[2:]])


def pretty(sql: str, width: int = 100) -> str:
    """Long lines broken at top-level ``AND`` and commas, so the statement shown (the one that ran) is readable
    in a terminal; the text is otherwise unchanged."""
    out = []
    for line in sql.splitlines():
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        while len(line) > width:
            cut = _break_at(line, width)
            if cut is None:
                break
            out.append(line[:cut].rstrip())
            line = indent + line[cut:].lstrip()
        out.append(line)
    return "\n".join(out)


def _break_at(line: str, width: int) -> int | None:
    """The last position before ``width`` outside quotes and brackets where a line may break (before AND, after
    a comma)."""
    depth, quote, best = 0, False, None
    for i, ch in enumerate(line):
        if ch == "'":
            quote = not quote
        elif not quote and ch in "(":
            depth += 1
        elif not quote and ch in ")":
            depth -= 1
        elif not quote and depth <= 1 and i > 20:
            if ch == "," and i + 1 < len(line):
                best = i + 1 if i < width else best
            elif line.startswith(" AND ", i) or line.startswith(" OR ", i) or line.startswith(" THEN ", i):
                best = i if i < width else best
        if i >= width and best is not None:
            return best
    return best if best and best < len(line) - 1 else None
