"""The recommenders: each learns from a :class:`Context` (everything before one cut-off) and scores products.

A score matrix is customers x products, higher = recommend first; products a customer already holds (the
matching engine's H1 gate) or declined through feedback are removed from every list afterwards
(:func:`top_lists`), so no candidate can score by recommending what the customer has.

- ``popularity``: customers who accepted the product before the cut-off.
- ``segment_popularity``: the same within the customer's segment, shrunk towards overall popularity
  (``(count in segment + β · overall share) / (customers in segment + β)``, β = 20).
- ``item_cf``: item-item collaborative filtering on accepted products: cosine similarity of the products'
  customer sets with shrinkage (``C_ij / (√(n_i n_j) + λ)``, λ = 5); a customer's score for j is the sum of the
  similarities of j to the products they hold; customers holding nothing fall back to popularity.
- ``content``: a pairwise logistic model of "customer × product → accepted in the next window" on the
  customer feature layer (interest in the product's type, affinity and usage trend for the type, whether
  they hold the type, the four metrics × the product's attributes, segment × type, the product itself),
  trained on the window before the cut-off with features as of that window's start, so it learns from the
  past to predict the future exactly as it is used.
- ``hybrid``: a blend of the per-customer ranks of segment popularity, item CF and content; the weights
  (a 0.1 grid on the simplex) maximise MAP@3 on the validation window.
- ``match_engine``: the matching engine's order (suitable products by distance and preferences first).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import FinMatchError
from finmatch_agents.features.interests import interest_matrix
from finmatch_agents.match.engine import match_customers
from finmatch_agents.match.params import MatchParams
from finmatch_agents.recommend.metrics import per_user

if TYPE_CHECKING:
    from finmatch_agents.features.build import CustomerFeatures
    from finmatch_agents.recommend.data import Book

SEGMENT_SHRINK = 20.0
CF_SHRINK = 5.0
CONTENT_USERS = 5_000  # customers (with a positive in the label window) the content model trains on
CONTENT_C = 1.0
BLOCK = 50_000
METRIC_NAMES = ("churn_probability", "profit", "risk_appetite", "financial_acumen")
BASELINES = ("popularity", "segment_popularity")
CANDIDATES = ("item_cf", "content", "hybrid", "match_engine")
LABELS = {
    "popularity": "Popularity (overall)", "segment_popularity": "Popularity per segment",
    "item_cf": "Item-item collaborative filtering", "content": "Content-based (pairwise logistic)",
    "hybrid": "Hybrid blend", "match_engine": "Matching engine ranking", "bank_score": "Bank's recommendation_score",
}


@dataclass
class Context:
    """What a recommender may learn from at one cut-off: everything dated strictly before ``day``."""

    book: Book
    day: int | None  # None: all the data (the model that is served)
    held: np.ndarray  # customers x products, accepted before the cut-off
    blocked: np.ndarray  # held, or declined through feedback: never recommended
    known: np.ndarray  # customers with an offer before the cut-off
    segment: np.ndarray  # segment code at the cut-off (-1 unknown)
    features: CustomerFeatures | None = None
    feature_rows: np.ndarray | None = None  # book customer -> row in features (-1 = none)
    notes: list[str] = field(default_factory=list)

    @property
    def popularity(self) -> np.ndarray:
        return self.held.sum(axis=0).astype(float)

    @property
    def popularity_share(self) -> np.ndarray:
        pop = self.popularity
        return pop / pop.sum() if pop.sum() else np.full(len(pop), 1.0 / max(len(pop), 1))


def make_context(book: Book, day: int | None, features: CustomerFeatures | None = None) -> Context:
    held = book.accepted_before(day)
    ctx = Context(book=book, day=day, held=held, blocked=held | book.declined_by_feedback(day),
                  known=book.known_before(day), segment=book.segment_before(day), features=features)
    if features is not None:
        index = {str(c): i for i, c in enumerate(features.customer_ids)}
        ctx.feature_rows = np.array([index.get(str(c), -1) for c in book.customer_ids], dtype=np.int64)
    return ctx


class Recommender:
    """One candidate. ``fit`` learns from a context, ``score`` scores customers (rows of the book)."""

    name = ""
    available = True
    why_not = ""

    def fit(self, ctx: Context) -> None:
        self.ctx = ctx

    def score(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}


class Popularity(Recommender):
    name = "popularity"

    def fit(self, ctx: Context) -> None:
        super().fit(ctx)
        self.pop = ctx.popularity

    def score(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.pop.astype(np.float32), (len(rows), len(self.pop))).copy()


class SegmentPopularity(Recommender):
    name = "segment_popularity"

    def fit(self, ctx: Context) -> None:
        super().fit(ctx)
        book = ctx.book
        if not book.segment_names:
            self.available, self.why_not = False, "the data has no customer_segment"
            return
        share = ctx.popularity_share
        k = len(book.segment_names)
        counts = np.zeros((k, book.m))
        sizes = np.zeros(k)
        seg = ctx.segment
        for s in range(k):
            members = (seg == s) & ctx.known
            counts[s] = ctx.held[members].sum(axis=0)
            sizes[s] = members.sum()
        self.table = (counts + SEGMENT_SHRINK * share[None, :]) / (sizes[:, None] + SEGMENT_SHRINK)
        self.overall = share
        self.counts = counts

    def score(self, rows: np.ndarray) -> np.ndarray:
        seg = self.ctx.segment[rows]
        out = np.where((seg >= 0)[:, None], self.table[np.clip(seg, 0, None)], self.overall[None, :])
        return out.astype(np.float32)

    def params(self) -> dict[str, Any]:
        return {"shrinkage": SEGMENT_SHRINK}


class ItemCF(Recommender):
    name = "item_cf"

    def fit(self, ctx: Context) -> None:
        super().fit(ctx)
        x = ctx.held.astype(np.float32)
        co = x.T @ x
        n_i = np.diag(co).astype(float)
        sim = co / (np.sqrt(np.outer(n_i, n_i)) + CF_SHRINK)
        np.fill_diagonal(sim, 0.0)
        self.co, self.sim = co.astype(np.float64), sim.astype(np.float32)
        self.fallback = ctx.popularity_share.astype(np.float32)

    def score(self, rows: np.ndarray) -> np.ndarray:
        held = self.ctx.held[rows].astype(np.float32)
        return held @ self.sim + 1e-6 * self.fallback[None, :]

    def params(self) -> dict[str, Any]:
        return {"similarity": "cosine", "shrinkage": CF_SHRINK}


def _ranks(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    """Per customer, each product's rank among the products not blocked, scaled 0 (last) .. 1 (first)."""
    s = np.where(blocked, -np.inf, scores)
    order = np.argsort(s, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(s.shape[1]), s.shape), axis=1)
    return (ranks / max(s.shape[1] - 1, 1)).astype(np.float32)


class Content(Recommender):
    """Pairwise logistic model. Training builds the pair matrix for a sample of customers; scoring uses the
    same linear model decomposed into per-customer, per-type and per-product terms (no pair matrix)."""

    name = "content"

    def __init__(self, previous: Context | None, seed: int = 42) -> None:
        self.previous = previous
        self.seed = seed

    # --- the inputs ---------------------------------------------------------------------------------------
    def _inputs(self, ctx: Context) -> dict[str, Any] | None:
        f = ctx.features
        book = ctx.book
        if f is None or ctx.feature_rows is None:
            return None
        types = sorted({str(t) for t in book.product_types if t})
        type_of = np.array([types.index(str(t)) if t else -1 for t in book.product_types], dtype=np.int64)
        rows = ctx.feature_rows
        has = rows >= 0
        n, t_count = book.n, len(types)

        def per_type(matrix: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
            out = np.zeros((n, t_count), dtype=np.float32)
            missing = np.ones((n, t_count), dtype=np.float32)
            if matrix is not None:
                cols = {str(t): k for k, t in enumerate(f.types)}
                for k, t in enumerate(types):
                    if t in cols:
                        v = np.full(n, np.nan)
                        v[has] = matrix[rows[has], cols[t]]
                        known = ~np.isnan(v)
                        out[known, k] = v[known]
                        missing[known, k] = 0.0
            return out, missing

        affinity, affinity_missing = per_type(f.affinity)
        trend, _ = per_type(f.usage_trend)
        interest = np.zeros((n, t_count), dtype=np.float32)
        if f.interests is not None:
            im = interest_matrix(list(f.interests), types)
            interest[has] = im[rows[has]]
        held_type = np.zeros((n, t_count), dtype=np.float32)
        for k in range(t_count):
            held_type[:, k] = ctx.held[:, type_of == k].any(axis=1)
        metrics = np.full((n, len(METRIC_NAMES)), 0.5, dtype=np.float32)
        metric_missing = np.ones((n, len(METRIC_NAMES)), dtype=np.float32)
        for k, name in enumerate(METRIC_NAMES):
            if f.has(name):
                v = np.full(n, np.nan)
                v[has] = f.values[name][rows[has]]
                known = ~np.isnan(v)
                metrics[known, k] = v[known]
                metric_missing[known, k] = 0.0
        cat = book.catalogue
        attrs = (np.stack([cat.attrs[a] for a in sorted(cat.attrs)], axis=1).astype(np.float32)
                 if cat is not None and cat.attrs else np.zeros((book.m, 0), dtype=np.float32))
        return {"types": types, "type_of": type_of, "affinity": affinity, "affinity_missing": affinity_missing,
                "trend": trend, "interest": interest, "held_type": held_type, "metrics": metrics,
                "metric_missing": metric_missing, "attrs": attrs,
                "attr_names": sorted(cat.attrs) if cat is not None else [], "segment": ctx.segment,
                "segments": len(book.segment_names)}

    def _layout(self, x: dict[str, Any], m: int) -> list[tuple[str, int]]:
        t = len(x["types"])
        return [("type_features", 5), ("metric_x_attr", x["metrics"].shape[1] * x["attrs"].shape[1]),
                ("metric_missing", x["metrics"].shape[1]), ("segment_x_type", (x["segments"] + 1) * max(t, 1)),
                ("product", m)]

    def _pairs(self, x: dict[str, Any], users: np.ndarray, m: int) -> np.ndarray:
        """Pair matrix (users x products, features) for training."""
        u = np.repeat(users, m)
        j = np.tile(np.arange(m), len(users))
        t = x["type_of"][j]
        tk = np.clip(t, 0, None)
        ok = (t >= 0).astype(np.float32)
        blocks = [np.stack([x["interest"][u, tk] * ok, x["affinity"][u, tk] * ok, x["affinity_missing"][u, tk] * ok,
                            x["trend"][u, tk] * ok, x["held_type"][u, tk] * ok], axis=1)]
        blocks.append((x["metrics"][u][:, :, None] * x["attrs"][j][:, None, :]).reshape(len(u), -1))
        blocks.append(x["metric_missing"][u])
        t_count = max(len(x["types"]), 1)
        seg = np.where(x["segment"][u] >= 0, x["segment"][u], x["segments"])
        st = np.zeros((len(u), (x["segments"] + 1) * t_count), dtype=np.float32)
        st[np.arange(len(u)), seg * t_count + tk] = ok
        blocks.append(st)
        prod = np.zeros((len(u), m), dtype=np.float32)
        prod[np.arange(len(u)), j] = 1.0
        blocks.append(prod)
        return np.concatenate(blocks, axis=1)

    def fit(self, ctx: Context) -> None:
        super().fit(ctx)
        prev = self.previous
        self.x = self._inputs(ctx)
        if self.x is None or prev is None or prev.features is None:
            self.available = False
            self.why_not = ("no customer features at the cut-off" if self.x is None else
                            "no earlier window to learn from (the content model trains on the window before the "
                            "cut-off)")
            return
        x_prev = self._inputs(prev)
        assert x_prev is not None
        labels = ctx.held & ~prev.held  # accepted in the window before the cut-off, not held at its start
        users = np.flatnonzero(labels.any(axis=1) & prev.known)
        if len(users) < 20:
            self.available = False
            self.why_not = f"only {len(users)} customers accepted a new product in the window before the cut-off"
            return
        rng = np.random.default_rng(self.seed)
        if len(users) > CONTENT_USERS:
            users = np.sort(rng.choice(users, CONTENT_USERS, replace=False))
        m = ctx.book.m
        pairs = self._pairs(x_prev, users, m)
        y = labels[users].reshape(-1)
        keep = ~prev.blocked[users].reshape(-1)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as predict.models.passive_openmp: no spinning
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=CONTENT_C, max_iter=300, tol=1e-3)
        model.fit(pairs[keep], y[keep])
        self.coef = model.coef_[0].astype(np.float64)
        self.trained_on = {"customers": len(users), "pairs": int(keep.sum()), "positives": int(y[keep].sum())}

    @property
    def inputs(self) -> dict[str, Any]:
        assert self.x is not None, "fit first"
        return self.x

    def _split(self) -> dict[str, np.ndarray]:
        out, at = {}, 0
        for name, size in self._layout(self.inputs, self.ctx.book.m):
            out[name] = self.coef[at: at + size]
            at += size
        return out

    def score(self, rows: np.ndarray) -> np.ndarray:
        x, w, m = self.inputs, self._split(), self.ctx.book.m
        t = x["type_of"]
        tk = np.clip(t, 0, None)
        ok = (t >= 0).astype(np.float64)
        wt = w["type_features"]
        per_type = (wt[0] * x["interest"][rows] + wt[1] * x["affinity"][rows] + wt[2] * x["affinity_missing"][rows]
                    + wt[3] * x["trend"][rows] + wt[4] * x["held_type"][rows])
        s = per_type[:, tk] * ok[None, :] if per_type.shape[1] else np.zeros((len(rows), m))
        n_metric, n_attr = x["metrics"].shape[1], x["attrs"].shape[1]
        if n_attr:
            bilinear = w["metric_x_attr"].reshape(n_metric, n_attr)
            s = s + x["metrics"][rows] @ bilinear @ x["attrs"].T
        t_count = max(len(x["types"]), 1)
        seg = np.where(x["segment"][rows] >= 0, x["segment"][rows], x["segments"])
        st = w["segment_x_type"].reshape(x["segments"] + 1, t_count)
        s = s + st[seg][:, tk] * ok[None, :]
        s = s + w["product"][None, :]
        return s.astype(np.float32)  # the customer-only terms (missing metrics) do not change a ranking

    def pair_scores(self, rows: np.ndarray) -> np.ndarray:
        """The same scores from the explicit pair matrix (a check of the decomposition; tests use it), without
        the customer-only terms, which move every product of a customer alike."""
        w = self._split()
        pairs = self._pairs(self.inputs, rows, self.ctx.book.m)
        at = 5 + w["metric_x_attr"].size
        raw = pairs @ self.coef - pairs[:, at: at + w["metric_missing"].size] @ w["metric_missing"]
        return raw.reshape(len(rows), self.ctx.book.m).astype(np.float32)

    def params(self) -> dict[str, Any]:
        return {"model": "logistic regression", "C": CONTENT_C, "max_users": CONTENT_USERS, "seed": self.seed,
                **getattr(self, "trained_on", {})}


class MatchEngine(Recommender):
    name = "match_engine"

    def __init__(self, params: Any = None) -> None:
        self.match_params = params

    def fit(self, ctx: Context) -> None:
        super().fit(ctx)
        book = ctx.book
        if book.catalogue is None or ctx.features is None or ctx.feature_rows is None:
            self.available, self.why_not = False, "the matching engine needs a products catalogue"
            return
        params = self.match_params or MatchParams(top=min(3, book.m))
        try:
            run = match_customers(ctx.features, book.catalogue, params, keep_order=True)
        except FinMatchError as exc:
            self.available, self.why_not = False, f"the matching engine cannot rank this data: {exc.message}"
            return
        assert run.order_positions is not None
        self.positions = run.order_positions
        self.notes = run.notes

    def score(self, rows: np.ndarray) -> np.ndarray:
        assert self.ctx.feature_rows is not None
        fr = self.ctx.feature_rows[rows]
        out = np.zeros((len(rows), self.ctx.book.m), dtype=np.float32)
        has = fr >= 0
        out[has] = -self.positions[fr[has]].astype(np.float32)
        return out


class Hybrid(Recommender):
    """A blend of fitted components' per-customer ranks with fixed weights (learned by :func:`learn_weights`)."""

    name = "hybrid"

    def __init__(self, components: list[Recommender], weights: np.ndarray) -> None:
        self.components = components
        self.weights = weights

    def fit(self, ctx: Context) -> None:
        super().fit(ctx)

    def score(self, rows: np.ndarray) -> np.ndarray:
        blocked = self.ctx.blocked[rows]
        out = np.zeros((len(rows), self.ctx.book.m), dtype=np.float32)
        for comp, w in zip(self.components, self.weights, strict=True):
            if w:
                out += np.float32(w) * _ranks(comp.score(rows), blocked)
        return out

    def params(self) -> dict[str, Any]:
        return {"components": [c.name for c in self.components],
                "weights": {c.name: round(float(w), 2) for c, w in zip(self.components, self.weights, strict=True)},
                "learned_on": "validation window, MAP@3"}


def weight_grid(k: int, step: float = 0.1) -> np.ndarray:
    """Every weight vector of ``k`` components on the simplex in ``step`` increments (each row sums to 1)."""
    units = round(1 / step)
    rows: list[list[int]] = []

    def rec(prefix: list[int], left: int, slots: int) -> None:
        if slots == 1:
            rows.append([*prefix, left])
            return
        for v in range(left + 1):
            rec([*prefix, v], left - v, slots - 1)

    rec([], units, k)
    return np.array(rows, dtype=float) / units


def learn_weights(rank_matrices: list[np.ndarray], relevant: np.ndarray, blocked: np.ndarray, k: int = 3
                  ) -> tuple[np.ndarray, float]:
    """The grid weights that maximise MAP@k of the blended ranks on these customers (ties: first in grid)."""
    best, best_value = None, -math.inf
    for w in weight_grid(len(rank_matrices)):
        blend = sum(np.float32(wi) * r for wi, r in zip(w, rank_matrices, strict=True))
        top = top_lists(np.asarray(blend), blocked, k)
        value = float(per_user(top, relevant, k)["map"].mean())
        if value > best_value + 1e-12:
            best, best_value = w, value
    assert best is not None
    return best, best_value


def top_lists(scores: np.ndarray, blocked: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` products per customer, blocked products removed (-1 where fewer remain); ties by
    catalogue order, so lists are deterministic."""
    s = np.where(blocked, -np.inf, scores)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.where(np.take_along_axis(blocked, order, axis=1), -1, order)
