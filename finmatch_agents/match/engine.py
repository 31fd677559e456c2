"""The matching engine: gates, distance, shortlist, preference refinement, and the customer-only ranking.

For every customer, in blocks (so memory stays flat at any book size):

1. gates (:mod:`match.gates`) remove unsuitable products;
2. the distance (:mod:`match.space`; Mahalanobis in active mode, weighted vector distance in passive mode)
   orders the suitable ones and the closest ``shortlist`` go on;
3. preferences (:mod:`match.refine`) re-order the shortlist; the first ``top`` are the offers.

The same pipeline runs a second time with the bank's attributes (revenue potential, risk to bank) weighted
0: the customer-interest-only ranking, reported beside the first so the effect of the bank's weights is
visible. Ties break by product id, so a run is deterministic.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import DataError, UsageError
from finmatch_agents.features.products import ATTRIBUTES
from finmatch_agents.match.gates import RULE_BY_ID, RULES, Gates
from finmatch_agents.match.params import DIMS, MatchParams
from finmatch_agents.match.refine import Preferences
from finmatch_agents.match.space import TARGETS, Space, build_space, distances, targets

if TYPE_CHECKING:
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.features.products import Catalogue

BLOCK = 25_000
#: pushes unsuitable products behind every suitable one while keeping them in distance order
UNSUITABLE = 1e6


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def order_products(d: np.ndarray, suitable: np.ndarray, points: np.ndarray, shortlist: int) -> np.ndarray:
    """Customers x products: product indices in engine order (suitable by distance, shortlist re-ordered by
    preference points, then the rest; unsuitable last)."""
    key = d + np.where(suitable, 0.0, UNSUITABLE)
    order = np.argsort(key, axis=1, kind="stable")
    s = min(shortlist, d.shape[1])
    head = order[:, :s]
    head_suitable = np.take_along_axis(suitable, head, axis=1)
    pref_key = np.where(head_suitable, -np.take_along_axis(points, head, axis=1), np.inf)
    position = np.broadcast_to(np.arange(s), head.shape)
    reordered = np.lexsort((position, np.take_along_axis(key, head, axis=1), pref_key), axis=-1)
    order[:, :s] = np.take_along_axis(head, reordered, axis=1)
    return order


def positions(order: np.ndarray) -> np.ndarray:
    """Inverse of :func:`order_products`: each product's 0-based place in the customer's order."""
    out = np.empty_like(order)
    np.put_along_axis(out, order, np.broadcast_to(np.arange(order.shape[1]), order.shape), axis=1)
    return out


@dataclass
class Block:
    """Everything the engine computed for a block of customers (customers x products unless noted)."""

    rows: slice
    fails: dict[str, np.ndarray]
    suitable: np.ndarray
    distance: np.ndarray
    customer_distance: np.ndarray
    points: np.ndarray
    order: np.ndarray
    customer_order: np.ndarray
    n_suitable: np.ndarray  # per customer
    targets: np.ndarray | None = None  # customers x dims (NaN where the metric behind a target is unknown)


@dataclass(frozen=True)
class ExplainStatic:
    """The parts of a customer's explanation that are the same for every customer of a matcher (built once)."""

    products: list[dict[str, Any]]  # product_id, product_name, product_type, attributes
    target_rules: dict[str, dict[str, Any]]
    gate_rules: dict[str, dict[str, str]]


class Matcher:
    """The engine bound to one feature frame, catalogue and parameter set."""

    def __init__(self, features: CustomerFeatures, catalogue: Catalogue, params: MatchParams) -> None:
        if params.top > catalogue.m:
            raise UsageError(f"--top {params.top} is larger than the catalogue ({catalogue.m} product"
                             f"{'s' if catalogue.m != 1 else ''})", hint=f"use --top {catalogue.m} or less")
        usable = [m for m in ("churn_probability", "profit", "risk_appetite", "financial_acumen") if features.has(m)]
        if not usable:
            raise DataError("no customer metric can be computed from this data, so every customer would get the "
                            "same ranking: " + "; ".join(features.degradations()),
                            hint="the engine needs at least one of: churn probability, profit, risk appetite, "
                                 "financial acumen (see docs/features.md for the columns each needs)")
        self.f, self.c, self.p = features, catalogue, params
        self.space: Space = build_space(catalogue)
        self.gates = Gates(features, catalogue, params)
        self.prefs = Preferences(features, catalogue, params)
        self.passive = self._modes()
        self.weights = {(passive, customer): np.array([params.weights_for("passive" if passive else "active",
                                                                          customer_only=customer)[d]
                                                       for d in self.space.dims])
                        for passive in (False, True) for customer in (False, True)}
        self.cache_chunk = 0
        self.cache_rows = 0
        self._cache: OrderedDict[int, Block] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._static: ExplainStatic | None = None

    def keep_blocks(self, chunk: int = 512, rows: int = 50_000) -> Matcher:
        """Serve one customer at a time from blocks of ``chunk`` customers, each computed once and kept, when
        the whole book fits in ``rows`` customers (``finmatch serve``: a block of 512 costs about what 20
        blocks of one do, and about 2 KB per customer at 40 products). A larger book keeps the one-customer
        blocks: with random customers most chunks would be computed for one answer and dropped. A customer's
        numbers are the same bits in any block (see :func:`match.space.distances`), so this changes speed only."""
        if self.f.n <= rows:
            self.cache_chunk, self.cache_rows = max(1, chunk), max(chunk, rows)
        return self

    def fill_blocks(self) -> Matcher:
        """Compute every kept block now (``finmatch serve`` does it while loading, in the background, so no
        request waits for a block on the event loop). Does nothing unless :meth:`keep_blocks` is on."""
        chunk = self.cache_chunk
        if chunk:
            for start in range(0, self.f.n, chunk):
                self.block_for(start)
        return self

    def block_for(self, row: int) -> tuple[Block, int]:
        """The block holding customer ``row`` and the customer's index in it."""
        chunk = self.cache_chunk
        if not chunk:
            return self.block(slice(row, row + 1)), 0
        start = row - row % chunk
        with self._cache_lock:
            found = self._cache.get(start)
            if found is not None:
                self._cache.move_to_end(start)
                return found, row - start
        built = self.block(slice(start, min(start + chunk, self.f.n)))
        with self._cache_lock:
            self._cache[start] = built
            while len(self._cache) * chunk > self.cache_rows:
                self._cache.popitem(last=False)
        return built, row - start

    def explain_static(self) -> ExplainStatic:
        """What :func:`match.explain.explain_customer` shows the same for every customer (built on first use)."""
        if self._static is None:
            c = self.c
            products = [{"product_id": str(c.product_ids[j]), "product_name": str(c.names[j]),
                         "product_type": str(c.types[j]),
                         "attributes": {a.name: _num(float(c.attrs[a.name][j])) for a in ATTRIBUTES
                                        if a.name in c.attrs}} for j in range(c.m)]
            self._static = ExplainStatic(
                products=products,
                target_rules={d: {"active": TARGETS[d][0], "passive": TARGETS[d][1]} for d in self.space.dims},
                gate_rules={r.id: {"name": r.name, "rule": r.rule} for r in RULES})
        return self._static

    def _modes(self) -> np.ndarray:
        if self.p.mode != "auto":
            return np.full(self.f.n, self.p.mode == "passive")
        if not self.f.has("churn_probability"):
            return np.zeros(self.f.n, dtype=bool)
        churn = self.f.values["churn_probability"]
        return ~np.isnan(churn) & (np.nan_to_num(churn) >= self.p.high_churn_threshold)

    def block(self, rows: slice) -> Block:
        fails = {rule: self.gates.fails(rule, rows) for rule in self.gates.applied}
        n = len(range(*rows.indices(self.f.n)))
        suitable = np.ones((n, self.c.m), dtype=bool)
        for f in fails.values():
            suitable &= ~f
        t = targets(self.f, self.space, self.passive, rows)
        d = np.zeros((n, self.c.m))
        dc = np.zeros((n, self.c.m))
        passive = self.passive[rows]
        for is_passive in (False, True):
            sel = passive == is_passive
            if sel.any():
                d[sel] = distances(t[sel], self.space, self.weights[(is_passive, False)], mahalanobis=not is_passive)
                dc[sel] = distances(t[sel], self.space, self.weights[(is_passive, True)], mahalanobis=not is_passive)
        if not (np.isfinite(d).all() and np.isfinite(dc).all()):
            raise DataError("a distance came out non-finite; refusing to rank (please report this)")
        points = self.prefs.points(rows)
        size = self.p.shortlist_size
        return Block(rows, fails, suitable, d, dc, points, order_products(d, suitable, points, size),
                     order_products(dc, suitable, points, size), suitable.sum(axis=1), t)

    def blocks(self, size: int = BLOCK) -> Any:
        for start in range(0, self.f.n, size):
            yield self.block(slice(start, min(start + size, self.f.n)))


@dataclass
class MatchRun:
    """The offers for every customer plus what a reader needs to trust them."""

    params: MatchParams
    customer_ids: np.ndarray
    passive: np.ndarray
    top: np.ndarray  # customers x top: product index, -1 = no further suitable product
    distance: np.ndarray
    points: np.ndarray
    customer_rank: np.ndarray  # 1-based place of the offer in the customer-interest-only ranking
    n_suitable: np.ndarray
    customer_top1: np.ndarray  # product index, -1 = none
    gate_pairs: dict[str, int]
    gate_customers: dict[str, int]
    space: Space
    skipped: dict[str, str]
    notes: list[str]
    product_ids: np.ndarray
    order_positions: np.ndarray | None = None  # customers x products, 0-based engine place (evaluate)
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        n = len(self.customer_ids)
        with_offer = self.n_suitable > 0
        changed = with_offer & (self.top[:, 0] != self.customer_top1)
        firsts = Counter(self.product_ids[self.top[with_offer, 0]].tolist())
        worst = max(self.gate_pairs, key=lambda r: self.gate_pairs[r]) if self.gate_pairs else None
        return {
            "customers": n,
            "passive": int(self.passive.sum()), "active": int(n - self.passive.sum()),
            "customers_without_suitable_product": int((~with_offer).sum()),
            "mean_suitable_products": float(self.n_suitable.mean()) if n else 0.0,
            "offers": int((self.top >= 0).sum()),
            "gates": {r.id: {"name": r.name, "rule": r.rule, "applied": r.id not in self.skipped,
                             "skipped_because": self.skipped.get(r.id), "pairs_failing": self.gate_pairs.get(r.id, 0),
                             "customers_affected": self.gate_customers.get(r.id, 0)} for r in RULES},
            "gate_failing_most": worst,
            "business_weight": {
                "bank_dimensions": ["revenue", "bank_risk"],
                "customers_compared": int(with_offer.sum()),
                "top1_changed_by_bank_weights": int(changed.sum()),
                "top1_changed_share": float(changed.sum() / with_offer.sum()) if with_offer.any() else 0.0,
            },
            "top1_products": dict(firsts.most_common(10)),
            "space": self.space.to_dict(),
            "notes": self.notes,
        }


def match_customers(features: CustomerFeatures, catalogue: Catalogue, params: MatchParams, *,
                    keep_order: bool = False, block: int = BLOCK) -> MatchRun:
    """Score every customer of ``features`` against ``catalogue``."""
    matcher = Matcher(features, catalogue, params)
    n, k, m = features.n, params.top, catalogue.m
    top = np.full((n, k), -1, dtype=np.int64)
    dist = np.full((n, k), np.nan)
    pts = np.full((n, k), np.nan)
    crank = np.zeros((n, k), dtype=np.int64)
    n_suitable = np.zeros(n, dtype=np.int64)
    ctop1 = np.full(n, -1, dtype=np.int64)
    order_pos = np.zeros((n, m), dtype=np.int16) if keep_order else None
    pairs: Counter[str] = Counter()
    affected: Counter[str] = Counter()
    for b in matcher.blocks(block):
        for rule, f in b.fails.items():
            pairs[rule] += int(f.sum())
            affected[rule] += int(f.any(axis=1).sum())
        head = b.order[:, :k]
        valid = np.arange(k)[None, :] < b.n_suitable[:, None]
        top[b.rows] = np.where(valid, head, -1)
        dist[b.rows] = np.where(valid, np.take_along_axis(b.distance, head, axis=1), np.nan)
        pts[b.rows] = np.where(valid, np.take_along_axis(b.points, head, axis=1), np.nan)
        crank[b.rows] = np.where(valid, np.take_along_axis(positions(b.customer_order), head, axis=1) + 1, 0)
        n_suitable[b.rows] = b.n_suitable
        ctop1[b.rows] = np.where(b.n_suitable > 0, b.customer_order[:, 0], -1)
        if order_pos is not None:
            order_pos[b.rows] = positions(b.order)
    notes = [*features.degradations(), *matcher.space.notes]
    notes += [f"gate {rid} ({RULE_BY_ID[rid].name}) skipped: {why}" for rid, why in matcher.gates.skipped.items()]
    missing_prefs = [p for p in ("interests", "affinity", "usage_trend") if p not in matcher.prefs.used]
    if missing_prefs:
        notes.append(f"stage 2 ranks without {', '.join(missing_prefs)} (absent from the data)")
    unused = [d for d in DIMS if d in matcher.space.dims and all(w[matcher.space.dims.index(d)] == 0
                                                                   for w in matcher.weights.values())]
    notes += [f"{d} weighted 0 in every mode" for d in unused]
    return MatchRun(params=params, customer_ids=features.customer_ids, passive=matcher.passive, top=top, distance=dist,
                    points=pts, customer_rank=crank, n_suitable=n_suitable, customer_top1=ctop1,
                    gate_pairs=dict(pairs), gate_customers=dict(affected), space=matcher.space,
                    skipped=matcher.gates.skipped, notes=notes, product_ids=catalogue.product_ids,
                    order_positions=order_pos)
