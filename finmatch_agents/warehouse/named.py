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
per run by :func:`build_run_table`) names a variant that reads it::

    -- run-variant: run/clv

and the variant declares ``-- reads: finmatch_customers`` (and says so in its title). :func:`run` runs the
variant when the engine can hold run tables, the table's own columns are all present (it is built on first use)
and the check the variant names (``-- run-check:``) passed on it; otherwise it runs the standalone query. Both
give the same figures (tests compare them), and each is a complete statement: the variant's appendix entry
reads the run table, whose defining SELECT is in the appendix too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from finmatch_agents.errors import QueryFailed, QueryTimeout, SQLRefused
from finmatch_agents.units import UNITS, Unit
from finmatch_agents.warehouse.sqltext import render

_HEADER_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_INCLUDE = re.compile(r"\{\{>\s*([\w/]+)\s*\}\}")

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import Engine, QueryResult


#: run tables (built once per run, read by ``run/`` variants): table name -> the named query that defines it and
#: the checks run right after it is built (each returns ``usable``; a variant naming one in ``-- run-check:`` reads
#: the table only when it is true)
RUN_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {"finmatch_customers": ("run/customers", ("run/customers_check",))}


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


@cache
def load(name: str) -> NamedQuery:
    """``load("metrics/acceptance")`` reads ``warehouse/sql/metrics/acceptance.sql`` (fragments expanded)."""
    *folders, stem = name.split("/")
    node = resources.files("finmatch_agents.warehouse").joinpath("sql", *folders, stem + ".sql")
    query = _parse(name, node.read_text(encoding="utf-8"))
    sql = _INCLUDE.sub(lambda m: load(m.group(1)).sql, query.sql)
    return NamedQuery(query.name, query.title, query.requires, sql, query.units, query.variant, query.reads,
                      query.check)


def all_names() -> list[str]:
    root = resources.files("finmatch_agents.warehouse").joinpath("sql")
    names: list[str] = []
    for entry in root.iterdir():
        if entry.is_dir():
            names += [f"{entry.name}/{f.name[:-4]}" for f in entry.iterdir()
                      if f.name.endswith(".sql") and not f.name.startswith("_")]
        elif entry.name.endswith(".sql") and not entry.name.startswith("_"):
            names.append(entry.name[:-4])
    return sorted(names)


def _header(text: str, params: dict[str, object]) -> str:
    """Fill ``{{placeholders}}`` in a header line with the raw parameter values."""
    return _HEADER_PLACEHOLDER.sub(lambda m: str(params.get(m.group(1), m.group(0))), text)


def run(engine: Engine, log: QueryLog, name: str, *, present: set[str], title: str | None = None,
        **params: object) -> QueryResult | Skipped:
    """Render and run a named query, or skip it when a required column is absent."""
    query = load(name)
    heading = title or _header(query.title, params)
    absent = tuple(c for c in (_header(r, params) for r in query.requires) if c not in present)
    if absent:
        return Skipped(name, heading, absent)
    if query.variant is not None:
        variant = load(query.variant)
        built = all(build_run_table(engine, log, run_table, present=present, **params) for run_table in variant.reads)
        if built and (variant.check is None or engine.run_table_note(variant.check) is True):  # type: ignore[attr-defined]
            said = variant.title[len(query.title):] if variant.title.startswith(query.title) else ""
            return engine.query(render(variant.sql, **params), log=log, units=variant.units,
                                title=title + said if title else _header(variant.title, params))
    return engine.query(render(query.sql, **params), log=log, title=heading, units=query.units)


def statement(name: str, *, present: set[str], **params: object) -> str | None:
    """The text :func:`run` sends for ``name`` (None when it would skip it), for an engine's ``prefetch``.
    Only for queries without a run-table variant (which one runs depends on the run)."""
    query = load(name)
    if query.variant is not None or any(_header(r, params) not in present for r in query.requires):
        return None
    return render(query.sql, **params)


def build_run_table(engine: Engine, log: QueryLog, run_table: str, /, *, present: set[str], **params: object) -> bool:
    """Make run table ``run_table`` (:data:`RUN_TABLES`) exist on ``engine``, building and logging it unless the same
    definition exists already. False when it cannot: the engine holds no run tables, or a column it needs is
    absent (the callers then run their standalone queries)."""
    materialize = getattr(engine, "materialize", None)
    if materialize is None or run_table not in RUN_TABLES:
        return False
    definition, checks = RUN_TABLES[run_table]
    query = load(definition)
    if any(_header(r, params) not in present for r in query.requires):
        return False
    sql, failed = render(query.sql, **params), f"{run_table}:failed"
    if engine.run_table_note(failed) == sql:  # type: ignore[attr-defined]  # it failed once: do not retry
        return False
    try:
        if materialize(run_table, sql, log=log, title=_header(query.title, params),
                       units=query.units) is not None:  # built now: check it (the results are kept with it)
            for name in checks:
                check = load(name)
                result = engine.query(render(check.sql, **params), log=log, title=_header(check.title, params),
                                      units=check.units)
                engine.note_run_table(run_table, name,  # type: ignore[attr-defined]
                                      result.first().get("usable") is True)
    except (SQLRefused, QueryFailed, QueryTimeout):  # logged; its readers run their standalone queries instead
        engine.note_run_table(run_table, failed, sql)  # type: ignore[attr-defined]
        return False
    return True
