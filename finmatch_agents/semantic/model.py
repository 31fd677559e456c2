"""The semantic model in use: measures, dimensions, numeric attributes and the time column, with their SQL
rendered (status values from the data dictionary, thresholds from the assumptions) and the columns each needs.

Built from :mod:`finmatch_agents.semantic.spec` (the built-in model plus ``[semantic]`` in finmatch.toml).
Everything that speaks about the data in business words reads this one object: the question compiler, the
chat model's context, ``/describe`` and docs/semantic-model.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.data.schema import PRODUCTS, STATUS_PARAMS
from finmatch_agents.errors import ConfigError
from finmatch_agents.semantic.spec import SECTION, SemanticSpec, load_spec
from finmatch_agents.warehouse.sqltext import quote_ident, render

if TYPE_CHECKING:
    from finmatch_agents.assumptions import Assumptions
    from finmatch_agents.config import Settings

GRAINS = ("year", "quarter", "month", "week")
#: catalogue columns a measure may use; the compiler joins them by product_id (one row per product)
CATALOGUE_COLUMNS = frozenset(c.name for c in PRODUCTS) - {"product_id", "product_name", "product_type",
                                                           "product_terms"}


def _columns(sql: str) -> frozenset[str]:
    """Columns an expression reads; catalogue columns as ``products.<name>`` (the named-query convention)."""
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    names = {c.name for c in tree.find_all(exp.Column)} - {"value"}
    return frozenset(f"products.{n}" if n in CATALOGUE_COLUMNS else n for n in names)


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    sql: str  # aggregate over records, or over customers of ``value`` when ``per_customer`` is set
    unit: str
    kind: str
    description: str = ""
    per_customer: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    uses_status: bool = False
    higher_is_better: bool = True
    synonyms: tuple[str, ...] = ()
    nouns: tuple[str, ...] = ()
    requires: frozenset[str] = frozenset()
    share: str | None = None

    @property
    def customer_level(self) -> bool:
        return self.per_customer is not None

    @property
    def catalogue(self) -> frozenset[str]:
        return frozenset(c.split(".", 1)[1] for c in self.requires if c.startswith("products."))


@dataclass(frozen=True)
class Band:
    label: str
    min: float | None
    max: float | None
    synonyms: tuple[str, ...] = ()

    def condition(self, column: str) -> str:
        col = quote_ident(column)
        parts = ([f"{col} >= {self.min!r}"] if self.min is not None else []) + (
            [f"{col} < {self.max!r}"] if self.max is not None else [])
        return " AND ".join(parts) or f"{col} IS NOT NULL"

    @property
    def range_text(self) -> str:
        if self.min is None:
            return f"below {self.max:g}"
        return f"{self.min:g} and over" if self.max is None else f"{self.min:g} to under {self.max:g}"


@dataclass(frozen=True)
class Dimension:
    name: str
    label: str
    column: str
    level: str
    description: str = ""
    qualified: bool = False
    synonyms: tuple[str, ...] = ()
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bands: tuple[Band, ...] = ()

    def expr(self) -> str:
        """The SQL of the dimension's value (a band label for banded columns)."""
        if not self.bands:
            return quote_ident(self.column)
        cases = " ".join(f"WHEN {b.condition(self.column)} THEN '{b.label}'" for b in self.bands)
        return f"CASE {cases} END"

    def band(self, label: str) -> Band | None:
        return next((b for b in self.bands if b.label == label), None)

    def condition(self, values: tuple[str, ...]) -> str:
        """``dimension in values`` as SQL (ranges for bands, so an index on the column still helps)."""
        if self.bands:
            parts = [f"({b.condition(self.column)})" for b in self.bands if b.label in values]
            return "(" + " OR ".join(parts) + ")" if len(parts) > 1 else parts[0][1:-1]
        items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
        col = quote_ident(self.column)
        return f"{col} = {items}" if len(values) == 1 else f"{col} IN ({items})"


@dataclass(frozen=True)
class Attribute:
    name: str
    label: str
    column: str
    ratio: bool = False
    level: str = "record"
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class SemanticModel:
    time_column: str
    time_label: str
    grains: dict[str, tuple[str, ...]]
    measures: dict[str, Measure]
    dimensions: dict[str, Dimension]
    attributes: dict[str, Attribute]
    filler: frozenset[str]
    params: dict[str, Any] = field(default_factory=dict)  # the placeholder values the SQL was rendered with

    def measure(self, name: str) -> Measure:
        return self.measures[name]

    def dimension(self, name: str) -> Dimension:
        return self.dimensions[name]

    def absent(self, present: set[str], name: str) -> tuple[str, ...]:
        """Columns a measure, dimension or attribute needs that the data lacks."""
        if name in self.measures:
            needed: set[str] = set(self.measures[name].requires)
        elif name in self.dimensions:
            needed = {self.dimensions[name].column}
        elif name in self.attributes:
            needed = {self.attributes[name].column}
        else:
            needed = {self.time_column}
        return tuple(sorted(needed - present))


def _render(sql: str | None, params: dict[str, Any]) -> str | None:
    return None if sql is None else render(" ".join(sql.split()), **params)


def build_model(spec: SemanticSpec, assumptions: Assumptions | None = None) -> SemanticModel:
    params: dict[str, Any] = {**STATUS_PARAMS, **(assumptions or load_assumptions()).params()}
    measures: dict[str, Measure] = {}
    for name, m in spec.measures.items():
        try:
            sql, per_customer = _render(m.sql, params), _render(m.per_customer, params)
            numerator, denominator = _render(m.numerator, params), _render(m.denominator, params)
            assert sql is not None
            requires = _columns(sql) | (_columns(per_customer) if per_customer else frozenset())
        except (KeyError, sqlglot.errors.ParseError) as exc:
            raise ConfigError(f"[{SECTION}] measures.{name}: the SQL cannot be used ({exc})") from exc
        if per_customer:
            requires |= {"customer_id"}
        measures[name] = Measure(name, m.label, sql, m.unit, m.kind, m.description, per_customer, numerator,
                                 denominator, m.uses_status, m.higher_is_better, tuple(m.synonyms), tuple(m.nouns),
                                 requires, m.share)
    dimensions = {
        name: Dimension(name, d.label, d.column, d.level, d.description, d.qualified, tuple(d.synonyms),
                        {k: (v,) if isinstance(v, str) else tuple(v) for k, v in d.values.items()},
                        tuple(Band(b.label, b.min, b.max, tuple(b.synonyms)) for b in d.bands))
        for name, d in spec.dimensions.items()}
    attributes = {name: Attribute(name, a.label, a.column, a.ratio, a.level, tuple(a.synonyms))
                  for name, a in spec.attributes.items()}
    grains = {g: tuple(spec.time.grains[g].synonyms) if g in spec.time.grains else () for g in GRAINS}
    return SemanticModel(spec.time.column, spec.time.label, grains, measures, dimensions, attributes,
                         frozenset(spec.vocabulary.filler), params)


def load_model(settings: Settings | None = None) -> SemanticModel:
    """The model for ``settings``: the built-in one extended by finmatch.toml's ``[semantic]``."""
    if settings is None:
        return build_model(load_spec())
    spec = load_spec(settings.section(SECTION), str(settings.config_path))
    return build_model(spec, load_assumptions(settings))
