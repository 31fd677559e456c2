"""Why a model scores what it scores: permutation importance per model, top reasons per row.

- **Permutation importance**: how much the holdout AUC drops when one input's values are shuffled,
  averaged over a few seeded repeats, on at most 10,000 holdout rows (a seeded sample). An input the model
  barely uses drops it by about 0; a negative drop is noise. This is scikit-learn's
  ``permutation_importance`` with the shuffled copies stacked and scored in one ``predict`` call (the
  per-call overhead of a model pipeline, not the arithmetic, was the cost).
- **Top reasons for one score**: each input in turn is set to a *typical* value (the training median of a
  number, the most frequent category) and the row is scored again; the inputs whose typical value moves the
  score most are the reasons, with the direction ("raises" when the customer's real value gives a higher
  score than a typical one). This is model-agnostic and exact for the model at hand; it describes the
  model, not causes in the world.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.predict.metrics import Ranked

if TYPE_CHECKING:
    from finmatch_agents.predict.frame import Feature
    from finmatch_agents.predict.models import Fitted

IMPORTANCE_ROWS = 10_000
REPEATS = 3
STACK_ROWS = 600_000  # rows of one stacked predict call (about 100 MB at 20 inputs)


def permutation(model: Fitted, X: np.ndarray, y: np.ndarray, features: list[Feature],
                seed: int) -> list[dict[str, Any]]:
    def roc_auc_score(truth: np.ndarray, score: np.ndarray) -> float:  # sklearn's figure, without its checks
        return Ranked(truth.astype(np.float64), score).auc(np.ones(len(truth)))

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(X), size=min(len(X), IMPORTANCE_ROWS), replace=False))
    Xs, ys = X[rows], y[rows]
    n = len(rows)
    base = float(roc_auc_score(ys, model.predict(Xs)))
    p = Xs.shape[1]
    # every (input, repeat) copy of the rows, scored in as few predict calls as memory allows
    per_call = max(1, STACK_ROWS // max(1, n * REPEATS))
    out = []
    for start in range(0, p, per_call):
        js = range(start, min(p, start + per_call))
        stacked = np.tile(Xs, (REPEATS * len(js), 1))
        for k, j in enumerate(js):
            for r in range(REPEATS):
                block = (k * REPEATS + r) * n
                stacked[block:block + n, j] = Xs[rng.permutation(n), j]
        scores = model.predict(stacked)
        for k, j in enumerate(js):
            drops = np.array([base - roc_auc_score(ys, scores[(k * REPEATS + r) * n:(k * REPEATS + r + 1) * n])
                              for r in range(REPEATS)])
            out.append({"feature": features[j].name, "auc_drop": float(drops.mean()), "sd": float(drops.std())})
    return sorted(out, key=lambda r: -r["auc_drop"])


def reference_row(X: np.ndarray, features: list[Feature]) -> list[float]:
    """A typical row: the median of every number, the most frequent category (NaN when nothing is known)."""
    out = []
    for j, f in enumerate(features):
        x = X[:, j]
        known = x[~np.isnan(x)]
        if not len(known):
            out.append(math.nan)
        elif f.kind == "categorical":
            out.append(float(np.bincount(known.astype(np.int64)).argmax()))
        else:
            out.append(float(np.median(known)))
    return out


def describe(f: Feature, value: float) -> str:
    if math.isnan(value):
        return "unknown"
    if f.kind == "categorical":
        return f.categories[int(value)] if 0 <= int(value) < len(f.categories) else "unknown"
    return f"{value:,.4g}"


def reasons(model: Fitted, X: np.ndarray, features: list[Feature], reference: list[float],
            top: int = 3) -> list[list[dict[str, Any]]]:
    """For each row of ``X``: the ``top`` inputs whose typical value changes its score most."""
    base = model.predict(X)
    n, p = X.shape
    effects = np.zeros((n, p))
    for j in range(p):
        Xj = X.copy()
        Xj[:, j] = reference[j]
        effects[:, j] = base - model.predict(Xj)
    out = []
    for i in range(n):
        order = np.argsort(-np.abs(effects[i]), kind="stable")[:top]
        out.append([{"feature": features[j].name, "value": describe(features[j], X[i, j]),
                     "typical": describe(features[j], reference[j]), "effect": float(effects[i, j]),
                     "direction": "raises" if effects[i, j] > 0 else "lowers"}
                    for j in order if abs(effects[i, j]) > 1e-9])
    return out
