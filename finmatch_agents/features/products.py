"""Product attributes from the catalogue (``products``), scaled to 0-1 for matching.

The catalogue is small, so it is read whole (``features/products``) and checked here: duplicate ids, values
outside the dictionary's ranges and attributes empty for some products but not others are errors that
name the products (a matching attribute must be known for every product to place it in the space). An
attribute the catalogue lacks, or leaves empty everywhere, is *absent* and listed; eligibility limits
(minimum balance, income, age) are optional per product by definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import queries
from finmatch_agents.errors import DataError
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import Engine

#: lock-in at which the retention attribute reaches 1 (a 30-year mortgage)
LOCK_IN_FULL_MONTHS = 360


@dataclass(frozen=True)
class Attribute:
    name: str  # scaled attribute used by the engine
    column: str  # catalogue column it comes from
    formula: str
    lo: float
    hi: float


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("risk", "risk_to_customer", "(risk_to_customer − 1) / 4", 1, 5),
    Attribute("complexity", "complexity", "(complexity − 1) / 4", 1, 5),
    Attribute("revenue", "revenue_potential", "(revenue_potential − 1) / 4", 1, 5),
    Attribute("retention", "lock_in_months",
              f"ln(1 + lock_in_months) / ln(1 + {LOCK_IN_FULL_MONTHS}), at most 1 (0 months = 0, 12 = 0.44, "
              f"{LOCK_IN_FULL_MONTHS} = 1)", 0, math.inf),
    Attribute("value", "customer_value", "(customer_value − 1) / 4", 1, 5),
    Attribute("bank_risk", "risk_to_bank", "(risk_to_bank − 1) / 4", 1, 5),
)
ATTRIBUTE_BY_NAME = {a.name: a for a in ATTRIBUTES}
#: optional per-product eligibility limits (empty = no limit)
LIMITS = ("min_balance", "min_income", "min_age", "max_age")


@dataclass
class Catalogue:
    """The products in ``product_id`` order with scaled attributes (present ones only) and raw limits."""

    product_ids: np.ndarray  # object (str)
    names: np.ndarray
    types: np.ndarray
    attrs: dict[str, np.ndarray]  # scaled 0-1, no NaN
    raw: dict[str, np.ndarray]  # raw catalogue values of the attributes and limits (NaN = empty)
    absent: dict[str, str]  # attribute or limit -> why it is not used
    query_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def m(self) -> int:
        return len(self.product_ids)

    def has(self, name: str) -> bool:
        return name in self.attrs or (name in self.raw and name not in self.absent)

    def index_of(self, product_id: str) -> int | None:
        hits = np.flatnonzero(self.product_ids == product_id)
        return int(hits[0]) if len(hits) else None


def load_catalogue(engine: Engine, log: QueryLog, present: set[str], products: str = "products") -> Catalogue:
    """Read and check the catalogue; raise :class:`DataError` when it cannot be matched against."""
    res = queries.run(engine, log, "features/products", present=present, products=products)
    if isinstance(res, named.Skipped):
        raise DataError(f"no product catalogue: table '{products}' is missing or has no product_id",
                        hint="load one with `finmatch data load FILE --table products [--mapping M]` "
                             "(columns: docs/data-dictionary.md; example: examples/products-mapping.toml)")
    if res.truncated:
        raise DataError(f"the catalogue has more than {len(res.rows):,} products (the row cap)",
                        hint="raise FINMATCH_SQL_MAX_ROWS")
    rows = res.dicts()
    if not rows:
        raise DataError(f"the product catalogue '{products}' is empty", hint="load products with --table products")
    ids = [r["product_id"] for r in rows]
    if any(i is None for i in ids):
        raise DataError(f"{sum(i is None for i in ids)} product(s) in '{products}' have no product_id")
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise DataError(f"product id(s) listed more than once in '{products}': {', '.join(map(str, dupes[:10]))}",
                        hint="one row per product: the engine matches each product once")
    columns = set(res.columns)
    raw: dict[str, np.ndarray] = {}
    attrs: dict[str, np.ndarray] = {}
    absent: dict[str, str] = {}
    for a in ATTRIBUTES:
        if a.column not in columns:
            absent[a.name] = f"the catalogue has no {a.column} column"
            continue
        values = np.array([_number(r[a.column], a.column, r["product_id"]) for r in rows], dtype=float)
        raw[a.column] = values
        empty = np.isnan(values)
        if empty.all():
            absent[a.name] = f"{a.column} is empty for every product"
            continue
        if empty.any():
            missing = [str(i) for i, e in zip(ids, empty, strict=True) if e]
            raise DataError(f"{a.column} is empty for {len(missing)} of {len(ids)} products "
                            f"({', '.join(missing[:10])}{'…' if len(missing) > 10 else ''})",
                            column=a.column, hint="fill it for every product, or leave the column out")
        bad = [str(i) for i, v in zip(ids, values, strict=True) if not a.lo <= v <= a.hi]
        if bad:
            expect = f"{a.lo:g} to {a.hi:g}" if math.isfinite(a.hi) else f"at least {a.lo:g}"
            raise DataError(f"{a.column} outside {expect} for {', '.join(bad[:10])}", column=a.column)
        attrs[a.name] = _scale(a, values)
    for limit in LIMITS:
        if limit not in columns:
            absent[limit] = f"the catalogue has no {limit} column"
            continue
        values = np.array([_number(r[limit], limit, r["product_id"]) for r in rows], dtype=float)
        raw[limit] = values
        if np.isnan(values).all():
            absent[limit] = f"no product sets a {limit.replace('_', ' ')}"
        elif np.nanmin(values) < 0:
            raise DataError(f"{limit} is negative for some products", column=limit)
    return Catalogue(product_ids=np.array(ids, dtype=object),
                     names=np.array([r.get("product_name") or r["product_id"] for r in rows], dtype=object),
                     types=np.array([r.get("product_type") or "" for r in rows], dtype=object),
                     attrs=attrs, raw=raw, absent=absent, query_id=res.id, rows=rows)


def _number(value: Any, column: str, product: str) -> float:
    if value is None:
        return math.nan
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{column} of product {product} is not a number: {value!r}", column=column) from None
    if not math.isfinite(number):
        raise DataError(f"{column} of product {product} is not a finite number", column=column)
    return number


def _scale(a: Attribute, values: np.ndarray) -> np.ndarray:
    if a.name == "retention":
        return np.minimum(np.log1p(values) / math.log1p(LOCK_IN_FULL_MONTHS), 1.0)
    return (values - a.lo) / (a.hi - a.lo)
