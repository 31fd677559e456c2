"""Ranking metrics at K, per customer, and their bootstrap intervals under both averaging conventions.

For a customer with relevant products R (accepted in the window, not held before it) and a top-K list L:

- precision@K = |L ∩ R| / K; recall@K = |L ∩ R| / |R|; F1@K = 2PR / (P + R) (0 when both are 0), averaged
  per customer;
- MAP@K: AP@K = Σ_{i ≤ K} precision@i · [L_i ∈ R] / min(|R|, K) (the Kaggle/Santander definition);
- NDCG@K: Σ [L_i ∈ R] / log2(i + 1), divided by the same sum for an ideal list of min(|R|, K) hits.

Two conventions, because they differ by an order of magnitude: **over customers with a positive** in the
window (the usual one) and **over all customers** known before the window, who are scored 0 on every
metric when they accepted nothing (there was nothing to find). Catalogue coverage@K is the share of the
catalogue that appears in anyone's top K (all customers); popularity bias@K is the mean popularity
percentile of the recommended products (1 = the most accepted product before the cut-off, 0 = the least).

Intervals: 95% Poisson bootstrap over customers (the scheme of :func:`stats.bootstrap_interval`), with one
weight matrix shared by every metric and every recommender, so that a difference between two recommenders
is a paired comparison on the same resamples and all intervals of one window cost one matrix product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from finmatch_agents.stats import Interval

METRICS = ("precision", "recall", "f1", "map", "ndcg")
RESAMPLES = 200


def per_user(top: np.ndarray, relevant: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Per-customer metrics at ``k`` for lists ``top`` (customers x >= k product indices, -1 = no product) and
    ``relevant`` (customers x products, each row with at least one True)."""
    lists = top[:, :k]
    valid = lists >= 0
    hit = valid & np.take_along_axis(relevant, np.clip(lists, 0, None), axis=1)
    n_rel = relevant.sum(axis=1).astype(float)
    hits = hit.sum(axis=1).astype(float)
    precision = hits / k
    recall = np.divide(hits, n_rel, out=np.zeros_like(hits), where=n_rel > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(hits), where=denom > 0)
    ranks = np.arange(1, k + 1, dtype=float)
    prec_at = np.cumsum(hit, axis=1) / ranks
    ap = (prec_at * hit).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1)
    gains = 1.0 / np.log2(ranks + 1)
    dcg = (hit * gains).sum(axis=1)
    ideal = np.cumsum(gains)[np.clip(np.minimum(n_rel, k).astype(int) - 1, 0, None)]
    ndcg = np.divide(dcg, ideal, out=np.zeros_like(dcg), where=n_rel > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "map": ap, "ndcg": ndcg}


def coverage(top: np.ndarray, k: int, m: int) -> float:
    lists = top[:, :k]
    return float(len(np.unique(lists[lists >= 0])) / m) if m else math.nan


def popularity_percentile(popularity: np.ndarray) -> np.ndarray:
    """Each product's popularity percentile (1 = most accepted, 0 = least; ties share their mean rank)."""
    m = len(popularity)
    if m < 2:
        return np.ones(m)
    order = np.argsort(popularity, kind="stable")
    ranks = np.empty(m)
    ranks[order] = np.arange(m, dtype=float)
    for value in np.unique(popularity):  # ties: the mean rank
        same = popularity == value
        ranks[same] = ranks[same].mean()
    return ranks / (m - 1)


def popularity_bias(top: np.ndarray, k: int, percentile: np.ndarray) -> float:
    lists = top[:, :k]
    valid = lists >= 0
    return float(percentile[lists[valid]].mean()) if valid.any() else math.nan


@dataclass
class Resamples:
    """Poisson(1) weights for the customers with a positive (rows: resamples) plus, per resample, the total
    weight of the customers without one (their metrics are 0, so only their count matters)."""

    weights: np.ndarray  # resamples x positives (float32)
    zeros: np.ndarray  # resamples: Poisson(n_zero) draws
    n_zero: int

    @classmethod
    def draw(cls, n_positive: int, n_zero: int, *, seed: int, resamples: int = RESAMPLES) -> Resamples:
        rng = np.random.default_rng(seed)
        return cls(rng.poisson(1.0, size=(resamples, n_positive)).astype(np.float32),
                   rng.poisson(float(max(n_zero, 0)), size=resamples).astype(np.float64), max(n_zero, 0))

    def interval(self, values: np.ndarray, *, all_users: bool = False) -> Interval:
        """Mean of ``values`` (one per positive customer) with its 95% percentile interval; ``all_users`` adds the
        customers without a positive as zeros."""
        n_pos, n_zero = len(values), self.n_zero
        if n_pos == 0:
            return Interval(math.nan, math.nan, math.nan, n_zero if all_users else 0)
        total = float(values.sum())
        point = total / (n_pos + n_zero) if all_users else total / n_pos
        sums = self.weights @ values.astype(np.float32)
        counts = self.weights.sum(axis=1) + (self.zeros if all_users else 0.0)
        stats = np.divide(sums, counts, out=np.full(len(sums), np.nan, dtype=np.float64), where=counts > 0)
        finite = stats[np.isfinite(stats)]
        if not len(finite):
            return Interval(point, math.nan, math.nan, n_pos + (n_zero if all_users else 0))
        low, high = np.percentile(finite, [2.5, 97.5])
        return Interval(point, float(low), float(high), n_pos + (n_zero if all_users else 0))


    def spread(self, values: np.ndarray) -> float:
        """The bootstrap standard deviation of the mean of ``values`` over the customers with a positive."""
        if not len(values):
            return math.nan
        sums = self.weights @ values.astype(np.float32)
        counts = self.weights.sum(axis=1)
        stats = np.divide(sums, counts, out=np.full(len(sums), np.nan, dtype=np.float64), where=counts > 0)
        finite = stats[np.isfinite(stats)]
        return float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan


def interval_dict(iv: Interval, digits: int = 5) -> dict[str, Any]:
    def r(x: float) -> float | None:
        return None if not math.isfinite(x) else round(x, digits)

    return {"value": r(iv.value), "low": r(iv.low), "high": r(iv.high), "n": iv.n}
