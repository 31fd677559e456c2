"""Training: evaluate every candidate, then fit the one to serve on all the data and save it with its lists.

The served recommender is the gate's winner when one passed (:mod:`recommend.evaluate`), otherwise the
stronger popularity baseline (saved, but not promotable: the gate says why). It is refitted on every offer
(the content model on the newest window, features as of today; the hybrid with the weights learned on the
validation window), and each customer's first :data:`SERVED` products are computed once and stored with
their scores and the product each recommendation is "because of" (a held product that co-occurs with it,
or -1 for popularity). ``recommend for`` and ``export`` read those arrays; nothing is refitted to answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import UsageError
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.match.store import fingerprint
from finmatch_agents.recommend import candidates as cands
from finmatch_agents.recommend import registry
from finmatch_agents.recommend.data import date_of
from finmatch_agents.recommend.evaluate import BLOCK_ROWS, Cuts, Evaluation, Options, evaluate
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, open_engine

if TYPE_CHECKING:
    from finmatch_agents.config import Settings

SERVED = 10  # products kept per customer (the longest list `recommend for --top` can return)


@dataclass
class Trained:
    evaluation: Evaluation
    kind: str
    params: dict[str, Any]
    arrays: dict[str, np.ndarray]
    seconds: dict[str, float]

    def meta(self) -> dict[str, Any]:
        ev = self.evaluation
        return {"kind": self.kind, "label": cands.LABELS[self.kind], "table": ev.table,
                "promotable": ev.gate["promotable"] and self.kind == ev.winner,
                "gate": ev.gate, "params": self.params, "evaluation": ev.to_dict(),
                "served": {"customers": len(self.arrays["customer_ids"]), "per_customer": int(
                    self.arrays["top"].shape[1]), "fitted_on": "every dated offer", "last_date": ev.book_summary[
                    "last_date"]}, "seconds": self.seconds}


def train(engine: DuckDBEngine, log: QueryLog, table: str, options: Options | None = None, *,
          products: str = "products", progress: Any = None) -> Trained:
    """Evaluate, then fit the recommender to serve on all the data and compute every customer's list."""
    say = progress or (lambda _m: None)
    started = time.perf_counter()
    ev = evaluate(engine, log, table, options, products=products, progress=say)
    evaluated = time.perf_counter()
    book, cuts = ev._state["book"], ev._state["cuts"]
    kind = ev.winner or ev.gate["baseline"]
    say(f"fitting {cands.LABELS[kind].lower()} on all the data")
    ctx = _serving_context(kind, ev, cuts)
    rec = _served(kind, ev, cuts)
    rec.fit(ctx)
    if not rec.available:  # cannot happen for a winner (it was fitted at every cut); kept as a guard
        kind, rec = ev.gate["baseline"], cands.SegmentPopularity() if ev.gate["baseline"] == "segment_popularity" \
            else cands.Popularity()
        rec.fit(ctx)
    served = min(SERVED, book.m)
    n = book.n
    top = np.full((n, served), -1, dtype=np.int16)
    score = np.zeros((n, served), dtype=np.float32)
    rows = np.arange(n)
    for i in range(0, n, BLOCK_ROWS):
        r = rows[i: i + BLOCK_ROWS]
        s = rec.score(r)
        t = cands.top_lists(s, ctx.blocked[r], served)
        top[r] = t
        score[r] = np.where(t >= 0, np.take_along_axis(s, np.clip(t, 0, None), axis=1), 0.0)
    x = ctx.held.astype(np.float32)
    co = (x.T @ x).astype(np.int32)
    because = _because(ctx.held, co, top)
    seg_counts = np.zeros((max(len(book.segment_names), 1), book.m), dtype=np.int32)
    seg_sizes = np.zeros(max(len(book.segment_names), 1), dtype=np.int32)
    for k in range(len(book.segment_names)):
        members = ctx.segment == k
        seg_counts[k] = ctx.held[members].sum(axis=0)
        seg_sizes[k] = members.sum()
    arrays = {
        "customer_ids": np.array([str(c) for c in book.customer_ids], dtype=str),
        "product_ids": np.array([str(p) for p in book.product_ids], dtype=str),
        "product_names": np.array([str(p) for p in book.product_names], dtype=str),
        "product_types": np.array([str(p) for p in book.product_types], dtype=str),
        "segment_names": np.array(list(book.segment_names) or [""], dtype=str),
        "segment": ctx.segment.astype(np.int16), "top": top, "score": score, "because": because,
        "co": co, "popularity": ctx.held.sum(axis=0).astype(np.int32), "customers_known": np.int64(ctx.known.sum()),
        "segment_counts": seg_counts, "segment_sizes": seg_sizes,
    }
    params = {"recommender": kind, **rec.params(), "served_per_customer": served,
              "options": {"test_share": ev.options.test_share, "folds": ev.options.folds, "seed": ev.options.seed,
                          "resamples": ev.options.resamples,
                          "candidates": list(ev.options.candidates) if ev.options.candidates else None},
              "cuts": [date_of(d).isoformat() for d in ev.cuts]}
    done = time.perf_counter()
    return Trained(ev, kind, params, arrays, {"evaluate": round(evaluated - started, 2),
                                              "fit_and_lists": round(done - evaluated, 2),
                                              "total": round(done - started, 2)})


def _served(kind: str, ev: Evaluation, cuts: Cuts) -> cands.Recommender:
    if kind == "popularity":
        return cands.Popularity()
    if kind == "segment_popularity":
        return cands.SegmentPopularity()
    if kind == "item_cf":
        return cands.ItemCF()
    if kind == "match_engine":
        return cands.MatchEngine()
    if kind == "content":
        return cands.Content(cuts.context(ev.cuts[0]), seed=ev.options.seed)
    assert kind == "hybrid"
    parts = list(ev.hybrid_weights or {})
    ctx = _serving_context(kind, ev, cuts)
    comps = [_served(p, ev, cuts) for p in parts]
    for c in comps:
        c.fit(ctx)
    return cands.Hybrid(comps, np.array([ev.hybrid_weights[p] for p in parts]) if ev.hybrid_weights else
                        np.zeros(0))


def _needs_features(kind: str, ev: Evaluation) -> bool:
    if kind == "hybrid":
        return any(w and p in ("content", "match_engine") for p, w in (ev.hybrid_weights or {}).items())
    return kind in ("content", "match_engine")


def _serving_context(kind: str, ev: Evaluation, cuts: Cuts) -> cands.Context:
    """All the data; customer features as of today only when the served recommender uses them (building them
    for every customer is the most expensive step of a training)."""
    return cuts.context(None) if _needs_features(kind, ev) else cuts.context_without_features(None)


def _because(held: np.ndarray, co: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Per recommended product, the held product most often accepted together with it (-1: none, or fewer
    than 3 customers did; the reason is then popularity)."""
    pop = np.diag(co).astype(np.float64)
    lift = co / np.maximum(pop[:, None], 1.0)  # share of the holders of i who also hold j
    np.fill_diagonal(lift, 0.0)
    lift[co < 3] = 0.0
    out = np.full(top.shape, -1, dtype=np.int16)
    for i in range(0, len(top), BLOCK_ROWS):
        h = held[i: i + BLOCK_ROWS].astype(np.float32)
        t = np.clip(top[i: i + BLOCK_ROWS].astype(np.int64), 0, None)
        # strength[c, slot, i] = h[c, i] * lift[i, t[c, slot]]
        strength = h[:, None, :] * lift.T[t].astype(np.float32)
        best = strength.argmax(axis=2)
        ok = np.take_along_axis(strength, best[:, :, None], axis=2)[:, :, 0] > 0
        out[i: i + BLOCK_ROWS] = np.where(ok & (top[i: i + BLOCK_ROWS] >= 0), best, -1)
    return out


def train_and_save(settings: Settings, options: Options | None = None, *, products: str = "products",
                   promote: bool = True, progress: Any = None, source: str = "recommend-train",
                   keep: int | None = None) -> dict[str, Any]:
    """Train, save all or nothing, promote only through the gate, keep the ``keep`` newest (the CLI and the
    scheduled job call this)."""
    engine = open_engine(settings, max_rows=HARD_ROW_CAP, min_timeout=120.0)
    log = QueryLog(sinks=[AuditLog(settings.state_dir / "sql-audit.jsonl", source)])
    with engine:
        if not engine.has_table(settings.table):
            known = ", ".join(engine.tables()) or "none"
            raise UsageError(f"table '{settings.table}' is not in {engine.location} (tables: {known})",
                             hint="load data with `finmatch data load FILE` or pick another --table")
        trained = train(engine, log, settings.table, options, products=products, progress=progress)
        fp = fingerprint(engine, log, settings.table)
    info = registry.save(settings.state_dir, {**trained.meta(), "db": str(settings.db), "fingerprint": fp},
                         trained.arrays)
    promoted = False
    if promote and info.promotable:
        registry.promote(settings.state_dir, info.id)
        promoted = True
    removed = registry.keep_newest(settings.state_dir, keep) if keep else []
    return {"model_id": info.id, "path": str(info.path), "kind": info.kind, "label": info.meta["label"],
            "promotable": info.promotable, "promoted": promoted, "fingerprint": fp, "seconds": trained.seconds,
            "removed": removed, "evaluation": trained.evaluation.to_dict(),
            "query_log": [q.public() for q in log.records]}
