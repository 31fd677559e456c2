"""What the recommenders read, as numpy arrays: customers, dated offers, segments, the catalogue, feedback.

Every figure comes from named SQL under ``warehouse/sql/recommend/`` run through the read-only sandbox (ids
in :attr:`Book.queries`). Customers are indexed in ``customer_id`` order (``cix``), products in catalogue
order. Results above the sandbox's row cap are fetched in partitions of customers, never cut off.

Feedback (``recommend_feedback``, written only by :mod:`recommend.feedback` through the writer) joins the
offers as signal: an acceptance or a rating of 4-5 counts as an acceptance on the day it was recorded, a
decline or a rating of 1-2 as a decline (the product is then kept off that customer's list); a rating of 3
is stored but neutral.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.data import queries
from finmatch_agents.errors import DataError
from finmatch_agents.features.build import QueryRunner, present_columns, result_columns
from finmatch_agents.features.products import Catalogue, load_catalogue
from finmatch_agents.recommend.common import FEEDBACK_TABLE, NEGATIVE_RATING, POSITIVE_RATING, REQUIRED
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.warehouse.engine import DuckDBEngine

EPOCH = date(1970, 1, 1)


def day_of(d: date) -> int:
    return (d - EPOCH).days


def date_of(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


@dataclass
class Feedback:
    """Feedback rows mapped to customer and product indices (rows naming neither are counted, not used)."""

    c: np.ndarray
    j: np.ndarray
    day: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    rows: int = 0
    unmatched: int = 0
    query_id: str | None = None

    @classmethod
    def empty(cls) -> Feedback:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z.astype(bool), z.astype(bool))


@dataclass
class Book:
    """The bank's book as the recommenders see it."""

    table: str
    customer_ids: np.ndarray  # object (str), cix order
    product_ids: np.ndarray  # object (str), catalogue order
    product_names: np.ndarray
    product_types: np.ndarray  # object ('' when unknown)
    c: np.ndarray  # per offer: customer index
    j: np.ndarray  # per offer: product index
    day: np.ndarray  # per offer: days since 1970-01-01
    accepted: np.ndarray
    declined: np.ndarray
    segment_names: tuple[str, ...]
    seg_c: np.ndarray  # per dated offer with a segment: customer, day, segment code
    seg_day: np.ndarray
    seg_code: np.ndarray
    feedback: Feedback
    catalogue: Catalogue | None
    present: set[str]
    notes: list[str] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)
    _index: dict[str, int] | None = None

    @property
    def n(self) -> int:
        return len(self.customer_ids)

    @property
    def m(self) -> int:
        return len(self.product_ids)

    @property
    def first_day(self) -> int:
        return int(self.day.min())

    @property
    def last_day(self) -> int:
        return int(self.day.max())

    def index_of(self, customer_id: str) -> int | None:
        if self._index is None:
            self._index = {str(c): i for i, c in enumerate(self.customer_ids)}
        return self._index.get(customer_id)

    def product_index(self, product_id: str) -> int | None:
        hits = np.flatnonzero(self.product_ids == product_id)
        return int(hits[0]) if len(hits) else None

    def accepted_before(self, day: int | None) -> np.ndarray:
        """Customers x products: accepted before ``day`` (None = ever), positive feedback included."""
        out = np.zeros((self.n, self.m), dtype=bool)
        sel = self.accepted if day is None else self.accepted & (self.day < day)
        out[self.c[sel], self.j[sel]] = True
        fb = self.feedback
        fsel = fb.positive if day is None else fb.positive & (fb.day < day)
        out[fb.c[fsel], fb.j[fsel]] = True
        return out

    def accepted_between(self, start: int, end: int | None) -> np.ndarray:
        """Customers x products: accepted (or rated 4-5 / marked accepted in feedback) in [start, end)."""
        out = np.zeros((self.n, self.m), dtype=bool)
        sel = self.accepted & (self.day >= start) & (True if end is None else self.day < end)
        out[self.c[sel], self.j[sel]] = True
        fb = self.feedback
        fsel = fb.positive & (fb.day >= start) & (True if end is None else fb.day < end)
        out[fb.c[fsel], fb.j[fsel]] = True
        return out

    def declined_by_feedback(self, day: int | None) -> np.ndarray:
        """Customers x products whose latest feedback before ``day`` is negative (kept off their lists)."""
        out = np.zeros((self.n, self.m), dtype=bool)
        fb = self.feedback
        sel = np.ones(len(fb.c), dtype=bool) if day is None else fb.day < day
        for c, j, neg, pos in zip(fb.c[sel], fb.j[sel], fb.negative[sel], fb.positive[sel], strict=True):
            if neg:
                out[c, j] = True
            elif pos:
                out[c, j] = False
        return out

    def known_before(self, day: int | None) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        out[self.c if day is None else self.c[self.day < day]] = True
        return out

    def segment_before(self, day: int | None) -> np.ndarray:
        """Each customer's segment code on their latest offer before ``day`` (-1 = unknown)."""
        out = np.full(self.n, -1, dtype=np.int64)
        if not len(self.seg_c):
            return out
        sel = np.ones(len(self.seg_c), dtype=bool) if day is None else self.seg_day < day
        c, d, s = self.seg_c[sel], self.seg_day[sel], self.seg_code[sel]
        order = np.lexsort((s, d, c))  # the last row per customer is the latest (ties: the larger code)
        out[c[order]] = s[order]
        return out

    def offered_between(self, start: int, end: int | None) -> np.ndarray:
        sel = (self.day >= start) & (True if end is None else self.day < end)
        out = np.zeros((self.n, self.m), dtype=bool)
        out[self.c[sel], self.j[sel]] = True
        return out


def load_book(engine: DuckDBEngine, log: QueryLog, table: str, *, products: str = "products",
              progress: Any = None) -> Book:
    """Read everything a recommender needs; :class:`DataError` (exit 3) when the data cannot support one."""
    say = progress or (lambda _m: None)
    present = present_columns(engine, table, products) if engine.has_table(products) else {
        c.name for c in engine.columns(table)}
    missing = [c for c in REQUIRED if c not in present]
    if missing:
        raise DataError(f"{table} has no {', '.join(missing)}: recommenders learn from dated offers with their "
                        "customer, product and outcome", column=missing[0])
    queries_run: dict[str, str] = {}
    notes: list[str] = []
    catalogue = None
    if engine.has_table(products):
        catalogue = load_catalogue(engine, log, present, products)
        queries_run["features/products"] = catalogue.query_id
        ids, names, types = catalogue.product_ids, catalogue.names, catalogue.types
    else:
        res = queries.run(engine, log, "recommend/product_types", present=present, table=table)
        if isinstance(res, named.Skipped):
            raise DataError(f"no product catalogue ('{products}' is missing) and {table} has no product_type",
                            hint="load one with `finmatch data load FILE --table products`")
        queries_run["recommend/product_types"] = res.id
        rows = res.dicts()
        ids = np.array([r["product_id"] for r in rows], dtype=object)
        names = ids.copy()
        types = np.array([r["product_type"] or "" for r in rows], dtype=object)
        notes.append(f"no '{products}' table: the catalogue is the {len(ids)} products offered in {table}; the "
                     "matching engine and product attributes are not available")
    if len(ids) < 2:
        raise DataError(f"the catalogue has {len(ids)} product{'s' if len(ids) != 1 else ''}: a recommender ranks "
                        "products, so it needs at least two", column="product_id",
                        hint="load a catalogue with two or more products (`finmatch data load FILE --table products`)")
    params = {"table": table}
    runner = QueryRunner(engine, log, present, params)
    say("reading customers")
    cust = runner.run("recommend/customers")
    assert not isinstance(cust, named.Skipped)
    queries_run["recommend/customers"] = cust[0].id
    customer_ids = result_columns(cust).objects("customer_id")
    del cust
    say("reading offers")
    count = queries.run(engine, log, "recommend/offer_count", present=present, table=table)
    assert not isinstance(count, named.Skipped)
    queries_run["recommend/offer_count"] = count.id
    cap = getattr(getattr(engine, "limits", None), "max_rows", None) or 10_000
    parts = max(1, math.ceil(int(count.scalar() or 0) / (0.8 * cap)))  # customers differ in size: some slack
    offers = runner.run("recommend/offers", start_parts=parts)
    assert not isinstance(offers, named.Skipped)
    queries_run["recommend/offers"] = offers[0].id
    got = result_columns(offers)
    del offers
    if not len(got):
        raise DataError(f"{table} has no dated offers with a customer and a product",
                        column="product_recommendation_date")
    pid = got.objects("product_id")
    uniq, inv = np.unique(pid.astype(str), return_inverse=True)
    column = {str(p): k for k, p in enumerate(ids)}
    jmap = np.array([column.get(str(u), -1) for u in uniq], dtype=np.int64)
    j = jmap[inv]
    c = got.ints("cix")
    day = got.ints("day")
    accepted = got.bools("accepted")
    declined = got.bools("declined")
    del got
    outside = j < 0
    excluded = {"offers": len(j), "offers_of_products_not_in_catalogue": int(outside.sum())}
    if outside.any():
        notes.append(f"{int(outside.sum()):,} offers of {int((jmap < 0).sum())} product(s) not in the catalogue are "
                     "left out")
    keep = ~outside
    c, j, day, accepted, declined = c[keep], j[keep], day[keep], accepted[keep], declined[keep]
    seg_names: tuple[str, ...] = ()
    seg_c = seg_day = seg_code = np.zeros(0, dtype=np.int64)
    seg = runner.run("recommend/segments", start_parts=parts)
    if isinstance(seg, named.Skipped):
        notes.append(f"segment popularity not available: {seg.reason}")
    else:
        queries_run["recommend/segments"] = seg[0].id
        sg = result_columns(seg)
        del seg
        labels = sg.objects("segment").astype(str)
        names_u, seg_code = np.unique(labels, return_inverse=True)
        seg_names = tuple(str(s) for s in names_u)
        seg_c, seg_day = sg.ints("cix"), sg.ints("day")
    feedback = _feedback(engine, log, customer_ids, ids)
    if feedback.query_id:
        queries_run["recommend/feedback"] = feedback.query_id
        if feedback.unmatched:
            notes.append(f"{feedback.unmatched} feedback row(s) name a customer or product no longer in the data "
                         "and are not used")
    return Book(table=table, customer_ids=customer_ids, product_ids=np.asarray(ids, dtype=object),
                product_names=np.asarray(names, dtype=object), product_types=np.asarray(types, dtype=object),
                c=c, j=j, day=day, accepted=accepted, declined=declined, segment_names=seg_names, seg_c=seg_c,
                seg_day=seg_day, seg_code=np.asarray(seg_code, dtype=np.int64), feedback=feedback,
                catalogue=catalogue, present=present, notes=notes, excluded=excluded, queries=queries_run)


def _feedback(engine: DuckDBEngine, log: QueryLog, customer_ids: np.ndarray, product_ids: np.ndarray) -> Feedback:
    if not engine.has_table(FEEDBACK_TABLE):
        return Feedback.empty()
    res = queries.run(engine, log, "recommend/feedback", present=set())
    assert not isinstance(res, named.Skipped)
    rows = res.dicts()
    cix = {str(c): i for i, c in enumerate(customer_ids)}
    pix = {str(p): k for k, p in enumerate(product_ids)}
    c, j, d, pos, neg = [], [], [], [], []
    unmatched = 0
    for r in rows:
        ci, pj = cix.get(str(r["customer_id"])), pix.get(str(r["product_id"]))
        if ci is None or pj is None:
            unmatched += 1
            continue
        rating, outcome = r["rating"], r["outcome"]
        c.append(ci)
        j.append(pj)
        d.append(int(r["day"]))
        pos.append(outcome == "accepted" or (rating is not None and rating >= POSITIVE_RATING))
        neg.append(outcome == "declined" or (rating is not None and rating <= NEGATIVE_RATING))
    return Feedback(_ints(c), _ints(j), _ints(d), np.array(pos, dtype=bool), np.array(neg, dtype=bool),
                    rows=len(rows), unmatched=unmatched, query_id=res.id)


def _ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)
