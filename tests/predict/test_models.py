"""Prediction in blocks gives exactly the numbers of one call; OpenMP waits passively unless told otherwise."""

from __future__ import annotations

import os

import numpy as np
import pytest

from finmatch_agents.predict import models
from finmatch_agents.predict.frame import Feature


@pytest.mark.parametrize("kind", models.KINDS)
def test_block_prediction_equals_one_call(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    n = 3_000
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 4, n).astype(float), rng.normal(size=n)])
    X[rng.random(n) < 0.05, 0] = np.nan
    y = (X[:, 2] + (X[:, 1] == 2) + rng.normal(size=n) > 1.2).astype(np.int8)
    features = [Feature("a", "numeric"), Feature("b", "categorical", categories=("0", "1", "2", "3")),
                Feature("c", "numeric")]
    with models.limit_threads(1):
        fitted = models.fit(kind, X, y, features, seed=0)
        whole = fitted.predict(X)
        monkeypatch.setattr(models, "PREDICT_BLOCK", 257)
        blocks = fitted.predict(X)
    assert np.array_equal(whole, blocks) and 0 < whole.min() < whole.max() < 1


def test_openmp_waits_passively_unless_the_environment_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    models.passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    models.passive_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
