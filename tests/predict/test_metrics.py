"""The metrics against scikit-learn and the bootstrap against what it must do."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from finmatch_agents.predict.frame import Feature
from finmatch_agents.predict.metrics import Ranked, auc_difference, lift_gain, scorecard, single_feature_auc
from finmatch_agents.predict.monitor import psi, snapshot, stability


def test_weighted_rank_metrics_equal_sklearn_at_unit_weights_ties_included() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 2_000).astype(float)
    s = np.round(rng.random(2_000) + 0.3 * y, 2)  # many ties
    r = Ranked(y, s)
    ones = np.ones(len(y))
    assert abs(r.auc(ones) - roc_auc_score(y, s)) < 1e-12
    assert abs(r.average_precision(ones) - average_precision_score(y, s)) < 1e-12
    w = rng.poisson(1.0, len(y)).astype(float)  # a weight of k is k copies of the row
    rows = np.repeat(np.arange(len(y)), w.astype(int))
    assert abs(r.auc(w) - roc_auc_score(y[rows], s[rows])) < 1e-12


def test_bootstrap_interval_covers_the_estimate_and_narrows_with_data() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (500, 8_000):
        y = rng.integers(0, 2, n)
        s = (rng.random(n) + 0.5 * y) / 1.5
        card = scorecard(y, s, resamples=100)
        assert card.auc.low < card.auc.value < card.auc.high
        widths.append(card.auc.high - card.auc.low)
    assert widths[1] < widths[0] / 2.5


def test_paired_difference_of_a_score_with_itself_is_zero_and_a_better_score_wins() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 3_000)
    weak = rng.random(3_000) + 0.2 * y
    strong = rng.random(3_000) + 1.0 * y
    same = auc_difference(y, weak, weak, resamples=50)
    assert same.value == 0 and same.low == 0 and same.high == 0
    diff = auc_difference(y, strong, weak, resamples=100)
    assert diff.low > 0


def test_lift_gain_and_single_feature_auc() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    s = np.arange(10, 0, -1, dtype=float)  # positives ranked first
    top = lift_gain(y, s, (0.2,))[0]
    assert top["rows"] == 2 and top["lift"] == 5.0 and top["gain"] == 1.0
    assert single_feature_auc(y, -s) == 1.0  # either direction
    assert np.isnan(single_feature_auc(y, np.full(10, np.nan)))


def test_psi_is_zero_for_the_same_population_and_flags_a_shift() -> None:
    rng = np.random.default_rng(5)
    X = np.c_[rng.normal(size=20_000), rng.integers(0, 3, 20_000)]
    feats = [Feature("x", "numeric"), Feature("c", "categorical", categories=("a", "b", "c"))]
    snap = snapshot(X, feats, X[:, 0])
    same = stability(snap, X, feats, X[:, 0])
    assert same["score"]["psi"] < 1e-9 and all(r["psi"] < 1e-9 for r in same["features"])
    shifted = X.copy()
    shifted[:, 0] += 1.0
    out = stability(snap, shifted, feats, shifted[:, 0])
    assert out["features"][0]["feature"] == "x" and out["features"][0]["level"] == "act"
    assert out["score"]["level"] == "act"
    assert abs(psi([0.5, 0.5], [0.6, 0.4]) - (0.1 * np.log(1.2) - 0.1 * np.log(0.8))) < 1e-12
