"""Ranking metrics by hand, both averaging conventions, and lists that never hold a blocked product."""

from __future__ import annotations

import math

import numpy as np
import pytest

from finmatch_agents.recommend.candidates import learn_weights, top_lists, weight_grid
from finmatch_agents.recommend.metrics import Resamples, coverage, per_user, popularity_bias, popularity_percentile


def test_metrics_at_k_match_the_definitions() -> None:
    top = np.array([[0, 1, 2], [3, -1, -1]])
    relevant = np.zeros((2, 4), dtype=bool)
    relevant[0, [1, 3]] = True  # customer 0: the 2nd recommendation is a hit, product 3 is missed
    relevant[1, 3] = True  # customer 1: the only recommendation is the hit
    v = per_user(top, relevant, 3)
    assert v["precision"].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert v["recall"].tolist() == pytest.approx([1 / 2, 1.0])
    assert v["f1"][0] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    assert v["map"].tolist() == pytest.approx([(1 / 2) / 2, 1.0])  # AP@K / min(|R|, K)
    assert v["ndcg"][0] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert per_user(top, relevant, 1)["map"].tolist() == [0.0, 1.0]


def test_the_two_averaging_conventions_differ_by_the_share_of_customers_with_a_positive() -> None:
    values = np.tile([0.5, 1.0, 0.0, 0.5], 10)
    res = Resamples.draw(40, 360, seed=1, resamples=200)
    positive, everyone = res.interval(values), res.interval(values, all_users=True)
    assert positive.value == pytest.approx(0.5) and everyone.value == pytest.approx(0.05)
    assert positive.low <= positive.value <= positive.high and everyone.n == 400
    assert everyone.high < positive.low  # an order of magnitude apart, as the issue warns


def test_lists_skip_blocked_products_and_coverage_and_bias_describe_them() -> None:
    scores = np.array([[0.9, 0.8, 0.1], [0.9, 0.8, 0.1]], dtype=np.float32)
    blocked = np.array([[True, False, False], [True, True, True]])
    top = top_lists(scores, blocked, 2)
    assert top.tolist() == [[1, 2], [-1, -1]]
    assert coverage(top, 2, 3) == pytest.approx(2 / 3)
    pct = popularity_percentile(np.array([10.0, 5.0, 1.0]))
    assert pct.tolist() == [1.0, 0.5, 0.0] and popularity_bias(top, 1, pct) == pytest.approx(0.5)


def test_hybrid_weights_are_learned_on_the_simplex() -> None:
    grid = weight_grid(3)
    assert len(grid) == 66 and np.allclose(grid.sum(axis=1), 1.0)
    relevant = np.array([[False, True], [False, True]])
    good = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)  # ranks product 1 first: right
    bad = 1 - good
    weights, value = learn_weights([bad, good], relevant, np.zeros((2, 2), dtype=bool), k=1)
    assert weights.tolist() == [0.0, 1.0] and value == 1.0
