"""Named queries: the ``.sql`` files under ``warehouse/sql/`` that metrics and agents run.

A file starts with header comments::

    -- title: Acceptance rate by customer segment
    -- requires: customer_segment, product_recommendation_status
    -- units: segment=text, recommendations=count, acceptance_rate=percent

``requires`` lists the records-table columns the query reads (``products.margin`` for catalogue columns).
On data that lacks one of them (real files often do) the query is not run and the caller gets a
:class:`Skipped` naming the absent columns, so the report can say so instead of failing or inventing a
figure. ``units`` declares the unit of every output column (see :mod:`finmatch_agents.units`); findings
and tables take their units from it, so a figure is shown the same way wherever it appears. Status values
come from the data dictionary through placeholders (``{{accepted}}``), never as literals. Headers may use
the query's ``{{placeholders}}`` (one file can serve several grouping columns).

A rule several queries share (e.g. one margin per catalogue product) lives once, in a fragment file whose
name starts with ``_``, and is pulled in with ``{{> folder/_fragment}}``. Fragments are expanded when the
file is loaded, so the logged SQL (and the provenance appendix) is still the complete statement that ran.

Scanning every record once per question does not scale (ten million records, a dozen per-customer questions).
A query whose rows can be regrouped from a run table (:data:`RUN_TABLES`: e.g. one row per customer, built once
per run by :func:`build_run_table`; or ``finmatch_offers``, one row per combination of the offer dimensions) names a
variant that reads it::

    -- run-variant: run/clv

and the variant declares ``-- reads: finmatch_customers`` (and says so in its title). :func:`run` runs the
variant when the engine can hold run tables, the table's own columns are all present (it is built on first use)
and the check the variant names (``-- run-check:``) passed on it; otherwise it runs the standalone query. Both
give the same figures (tests compare them), and each is a complete statement: the variant's appendix entry
reads the run table, whose defining SELECT is in the appendix too.

Every query is written once, in DuckDB SQL; an engine that speaks another dialect (Spark, Databricks SQL)
translates it with :func:`finmatch_agents.warehouse.dialect.to_dialect`. A query that cannot be written
portably has a **dialect variant** beside it, ``name.spark.sql`` (read for the ``spark`` and ``databricks``
dialects; :data:`~finmatch_agents.warehouse.dialect.VARIANT_FAMILY`), written in Spark SQL::

    metrics/acceptance.sql         the query (DuckDB SQL)
    metrics/acceptance.spark.sql   the same question in Spark SQL

:func:`load` with ``dialect="spark"`` (or ``"databricks"``) reads the variant when there is one. A variant
answers the same question, so it may leave out the header (it is the original's) and any header line it
does give must equal the original's (``title``, ``requires``, ``units``, ``run-variant``, ``reads``,
``run-check``; a mismatch fails when the file is loaded). Its text starts with the line ``-- dialect: spark``
(:data:`~finmatch_agents.warehouse.dialect.DIALECT_MARKER`), which tells ``to_dialect`` that it is written in
Spark SQL already: the guard checks it in that dialect and it is not translated again. In a variant,
fragments (``{{> folder/_x}}``) expand to their own ``.spark.sql`` variant when there is one (a query without
a variant is DuckDB SQL throughout, translated whole). :func:`run`,
:func:`statement` and :func:`build_run_table` pick the text by ``engine.dialect`` (``"duckdb"`` for an engine
without one); DuckDB never reads a variant, so its statements are exactly what they were.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from finmatch_agents.errors import QueryFailed, QueryTimeout, SQLRefused
from finmatch_agents.units import UNITS, Unit
from finmatch_agents.warehouse.sqltext import DIALECT_MARKER, VARIANT_FAMILY, check_dialect, render

_HEADER_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_INCLUDE = re.compile(r"\{\{>\s*([\w/]+)\s*\}\}")

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import Engine, QueryResult


#: run tables (built once per run, read by ``run/`` variants): table name -> the named query that defines it and
#: the checks run right after it is built (each returns ``usable``; a variant naming one in ``-- run-check:`` reads
#: the table only when it is true)
RUN_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "finmatch_customers": ("run/customers", ("run/customers_check",)),
    # every combination of the offer dimensions with its record count and revenue: a regrouping of it is exact
    "finmatch_offers": ("run/offers", ()),
}


@dataclass(frozen=True)
class NamedQuery:
    name: str
    title: str
    requires: tuple[str, ...]
    sql: str
    units: dict[str, Unit] = field(default_factory=dict)
    #: the variant that reads a run table instead of every record (``-- run-variant:``)
    variant: str | None = None
    #: run tables this query reads (``-- reads:``)
    reads: tuple[str, ...] = ()
    #: a check of the run table that must pass for this variant to be used (``-- run-check:``)
    check: str | None = None


@dataclass(frozen=True)
class Skipped:
    name: str
    title: str
    absent: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"needs column(s) absent from the data: {', '.join(self.absent)}"


#: header lines and the NamedQuery field each fills (a dialect variant must agree with its original on them)
_HEADER_FIELDS = {"title": "title", "requires": "requires", "units": "units", "run-variant": "variant",
                  "reads": "reads", "run-check": "check"}


def _header_keys(text: str) -> set[str]:
    keys = set()
    for line in text.splitlines():
        stripped = line.strip().lower()
        for key in _HEADER_FIELDS:
            if stripped.startswith(f"-- {key}:"):
                keys.add(key)
    return keys


def _parse(name: str, text: str) -> NamedQuery:
    title, body = name, []
    requires: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    variant: str | None = None
    check: str | None = None
    units: dict[str, Unit] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith("-- title:"):
            title = stripped.split(":", 1)[1].strip()
        elif stripped.lower().startswith("-- reads:"):
            reads = tuple(t.strip() for t in stripped.split(":", 1)[1].split(",") if t.strip())
        elif stripped.lower().startswith("-- run-variant:"):
            variant = stripped.split(":", 1)[1].strip()
        elif stripped.lower().startswith("-- run-check:"):
            check = stripped.split(":", 1)[1].strip()
        elif stripped.lower().startswith("-- requires:"):
            requires = tuple(c.strip() for c in stripped.split(":", 1)[1].split(",") if c.strip())
        elif stripped.lower().startswith("-- units:"):
            units = _units(name, stripped.split(":", 1)[1])
        else:
            body.append(line)
    return NamedQuery(name=name, title=title, requires=requires, sql="\n".join(body).strip(), units=units,
                      variant=variant, reads=reads, check=check)


def _units(name: str, text: str) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for item in (i.strip() for i in text.split(",") if i.strip()):
        column, _, unit = item.partition("=")
        if unit.strip() not in UNITS:
            raise ValueError(f"{name}.sql: unit {unit.strip()!r} of column {column.strip()!r} is not one of "
                             f"{', '.join(UNITS)}")
        units[column.strip()] = unit.strip()  # type: ignore[assignment]  # checked against UNITS above
    return units


def render_sql(sql: str, **params: object) -> str:
    """A loaded query's text with its placeholders filled: as Spark SQL writes values for a variant's text (it
    starts with :data:`DIALECT_MARKER`), as DuckDB does otherwise."""
    return render(sql, spark=sql.startswith(DIALECT_MARKER), **params)


def engine_dialect(engine: object) -> str:
    """The SQL dialect ``engine`` speaks (``"duckdb"`` for an engine that does not say)."""
    return str(getattr(engine, "dialect", "duckdb"))


@cache
def load(name: str, dialect: str = "duckdb") -> NamedQuery:
    """``load("metrics/acceptance")`` reads ``warehouse/sql/metrics/acceptance.sql`` (fragments expanded);
    ``dialect="spark"`` / ``"databricks"`` reads ``acceptance.spark.sql`` instead when it exists."""
    family = VARIANT_FAMILY[check_dialect(dialect)]
    *folders, stem = name.split("/")
    folder = resources.files("finmatch_agents.warehouse").joinpath("sql", *folders)
    original = folder.joinpath(stem + ".sql")
    variant = folder.joinpath(f"{stem}.{family}.sql") if family != "duckdb" else None
    if variant is None or not variant.is_file():
        query = _parse(name, original.read_text(encoding="utf-8"))  # DuckDB SQL, with DuckDB's fragments
        sql = _INCLUDE.sub(lambda m: load(m.group(1)).sql, query.sql)
        return NamedQuery(query.name, query.title, query.requires, sql, query.units, query.variant, query.reads,
                          query.check)
    base = load(name)  # the DuckDB query: the header the variant must agree with
    text = variant.read_text(encoding="utf-8")
    given = _parse(name, text)
    for key in _header_keys(text):
        field_name = _HEADER_FIELDS[key]
        if getattr(given, field_name) != getattr(base, field_name):
            raise ValueError(f"{name}.{family}.sql: its '{key}' header ({getattr(given, field_name)!r}) differs from "
                             f"{name}.sql's ({getattr(base, field_name)!r}); a dialect variant answers the same "
                             "question: leave the header out or copy it")
    body = _INCLUDE.sub(lambda m: _spark_fragment(load(m.group(1), dialect).sql), given.sql)
    return NamedQuery(name, base.title, base.requires, f"{DIALECT_MARKER}\n{body}", base.units, base.variant,
                      base.reads, base.check)


def _spark_fragment(sql: str) -> str:
    """A fragment's text inside a variant: without the marker of its own variant (the variant has one)."""
    return sql.removeprefix(DIALECT_MARKER + "\n")


def variants() -> list[str]:
    """Names of the queries (and fragments) that have a dialect variant file, e.g. ``["metrics/x.spark"]``."""
    root = resources.files("finmatch_agents.warehouse").joinpath("sql")
    found: list[str] = []
    for entry in root.iterdir():
        files = list(entry.iterdir()) if entry.is_dir() else [entry]
        prefix = f"{entry.name}/" if entry.is_dir() else ""
        for f in files:
            for family in set(VARIANT_FAMILY.values()) - {"duckdb"}:
                if f.name.endswith(f".{family}.sql"):
                    found.append(prefix + f.name[:-4])
    return sorted(found)


def all_names() -> list[str]:
    root = resources.files("finmatch_agents.warehouse").joinpath("sql")
    names: list[str] = []
    for entry in root.iterdir():
        if entry.is_dir():
            names += [f"{entry.name}/{f.name[:-4]}" for f in entry.iterdir()
                      if f.name.endswith(".sql") and not f.name.startswith("_") and not _is_variant(f.name)]
        elif entry.name.endswith(".sql") and not entry.name.startswith("_") and not _is_variant(entry.name):
            names.append(entry.name[:-4])
    return sorted(names)


def _is_variant(filename: str) -> bool:
    return any(filename.endswith(f".{family}.sql") for family in VARIANT_FAMILY.values() if family != "duckdb")


def _header(text: str, params: dict[str, object]) -> str:
    """Fill ``{{placeholders}}`` in a header line with the raw parameter values."""
    return _HEADER_PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), text)


def run(engine: Engine, log: QueryLog, name: str, *, present: set[str], title: str | None = None,
        **params: object) -> QueryResult | Skipped:
    """Render and run a named query (its variant for ``engine``'s dialect), or skip it when a required column is
    absent."""
    dialect = engine_dialect(engine)
    query = load(name, dialect)
    heading = title or _header(query.title, params)
    absent = tuple(c for c in (_header(r, params) for r in query.requires) if c not in present)
    if absent:
        return Skipped(name, heading, absent)
    if query.variant is not None:
        variant = load(query.variant, dialect)
        built = all(build_run_table(engine, log, run_table, present=present, **params) for run_table in variant.reads)
        if built and (variant.check is None or engine.run_table_note(variant.check) is True):  # type: ignore[attr-defined]
            said = variant.title[len(query.title):] if variant.title.startswith(query.title) else ""
            return engine.query(render_sql(variant.sql, **params), log=log, units=variant.units,
                                title=title + said if title else _header(variant.title, params))
    return engine.query(render_sql(query.sql, **params), log=log, title=heading, units=query.units)


def statement(name: str, *, present: set[str], dialect: str = "duckdb", **params: object) -> str | None:
    """The text :func:`run` sends for ``name`` to an engine speaking ``dialect`` (None when it would skip it), for
    an engine's ``prefetch``. Only for queries without a run-table variant (which one runs depends on the run)."""
    query = load(name, dialect)
    if query.variant is not None or any(_header(r, params) not in present for r in query.requires):
        return None
    return render_sql(query.sql, **params)


def build_run_table(engine: Engine, log: QueryLog, run_table: str, /, *, present: set[str], **params: object) -> bool:
    """Make run table ``run_table`` (:data:`RUN_TABLES`) exist on ``engine``, building and logging it unless the same
    definition exists already. False when it cannot: the engine holds no run tables, or a column it needs is
    absent (the callers then run their standalone queries)."""
    materialize = getattr(engine, "materialize", None)
    if materialize is None or run_table not in RUN_TABLES:
        return False
    definition, checks = RUN_TABLES[run_table]
    dialect = engine_dialect(engine)
    query = load(definition, dialect)
    if any(_header(r, params) not in present for r in query.requires):
        return False
    sql, failed = render_sql(query.sql, **params), f"{run_table}:failed"
    if engine.run_table_note(failed) == sql:  # type: ignore[attr-defined]  # it failed once: do not retry
        return False
    try:
        if materialize(run_table, sql, log=log, title=_header(query.title, params),
                       units=query.units) is not None:  # built now: check it (the results are kept with it)
            for name in checks:
                check = load(name, dialect)
                result = engine.query(render_sql(check.sql, **params), log=log, title=_header(check.title, params),
                                      units=check.units)
                engine.note_run_table(run_table, name,  # type: ignore[attr-defined]
                                      result.first().get("usable") is True)
    except (SQLRefused, QueryFailed, QueryTimeout):  # logged; its readers run their standalone queries instead
        engine.note_run_table(run_table, failed, sql)  # type: ignore[attr-defined]
        return False
    return True
