"""The embedding ranker's fielded score on a hand-made index (no model needed): max pooling over a multi-valued
field, the weighted sum over fields, and the parts that explain it."""

from __future__ import annotations

import numpy as np

from finmatch_agents.similar.index import Field, Index
from finmatch_agents.similar.rank import intent_scores, order
from finmatch_agents.similar.text import FIELDS


def _index() -> Index:
    # 4 customers; interests: a multi-valued field of 3 values; goal: single-valued, 2 values
    member = np.array([[True, False, False],  # only the matching interest
                       [True, True, True],  # the matching interest among others
                       [False, True, True],  # none matching
                       [False, False, False]])  # no interest at all
    ids = np.array([1, 1, 0, -1], dtype=np.int32)
    fields = {"interests": Field("interests", ["a", "b", "c"], member=member),
              "goal": Field("goal", ["g0", "g1"], ids=ids)}
    n = 4
    index = Index(table="t", key="k", customer_ids=np.array([f"C{i}" for i in range(n)]), fields=fields,
                  numeric=[], raw=np.zeros((n, 0), np.float32), z=np.zeros((n, 0), np.float32))
    e = np.eye(3, dtype=np.float32)
    index.vectors = {"interests": e, "goal": np.array([e[1], (e[0] + e[2]) / np.sqrt(2)], dtype=np.float32)}
    return index


def test_a_multi_valued_field_counts_its_best_value_and_the_parts_add_up() -> None:
    index = _index()
    q = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    rows = np.arange(4)
    s = intent_scores(index, q, rows)
    w_int, w_goal = FIELDS["interests"][1], FIELDS["goal"][1]
    # interests: best value's cosine (1 for the first two, 0 for the third, no value 0), not the mean (1/3)
    assert np.allclose(s.parts["interests"], [w_int, w_int, 0.0, 0.0])
    assert np.allclose(s.parts["goal"], [w_goal / np.sqrt(2), w_goal / np.sqrt(2), 0.0, 0.0], atol=1e-6)
    assert np.allclose(s.scores, s.parts["interests"] + s.parts["goal"])
    # the distinct sets of interests, one per customer, rebuild the membership exactly
    combos, ids = index.combinations("interests")
    assert len(combos) == 4 and (combos[ids] == index.fields["interests"].member).all()
    # a subset of the customers scores the same as in the whole book
    sub = intent_scores(index, q, np.array([1, 3]))
    assert np.allclose(sub.scores, s.scores[[1, 3]])
    # ties keep customer order; the unmatched customers come last
    assert list(order(s.scores, rows, 4)) == [0, 1, 2, 3]
    # an intent close to value c: the customer with c among its interests and goal g1 first, then the one with
    # c alone (interests 1 x 0.25), then the one with only goal g1 (0.71 x 0.35 = 0.247)
    s2 = intent_scores(index, np.array([0.0, 0.0, 1.0], dtype=np.float32), rows)
    assert list(order(s2.scores, rows, 4)) == [1, 2, 0, 3]
    assert np.isclose(s2.scores[2], w_int) and np.isclose(s2.scores[0], w_goal / np.sqrt(2), atol=1e-6)
