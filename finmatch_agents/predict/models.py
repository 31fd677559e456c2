"""The two model types, built the same way for every task: a logistic-regression baseline and a
gradient-boosted model (scikit-learn's ``HistGradientBoostingClassifier``).

Why these: scikit-learn is the well-kept standard, gives both models, their metrics and permutation
importance from one dependency, and its gradient boosting handles missing values and categories natively
(no imputation, no one-hot). LightGBM was measured on the same 800k-row matrix at about 1.7× the speed of
HistGradientBoosting, which does not pay for a second native library and a second model format.

- **logistic**: numbers imputed with the training median plus a missing-value indicator, standardised;
  categories one-hot encoded (unknown ones ignored); L2-regularised logistic regression.
- **gbm**: up to 200 boosting rounds, early stopping on a seeded 10% validation slice of the training rows.

Both use balanced class weights when positives are rare (under 15% of the training rows) and then correct
the probabilities back to the real base rate (prior correction: the weighted odds times
w_negative / w_positive), so a score stays a calibrated propensity. Everything is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from finmatch_agents.errors import MissingExtra

if TYPE_CHECKING:
    from finmatch_agents.predict.frame import Feature

KINDS = ("logistic", "gbm")
LABELS = {"logistic": "logistic regression (baseline)", "gbm": "gradient boosting"}
RARE_SHARE = 0.15
GBM_PARAMS: dict[str, Any] = {"learning_rate": 0.1, "max_iter": 200, "max_leaf_nodes": 31, "min_samples_leaf": 40,
                              "l2_regularization": 1.0, "validation_fraction": 0.1, "n_iter_no_change": 10}
LOGISTIC_PARAMS: dict[str, Any] = {"C": 1.0, "max_iter": 500}
EARLY_STOPPING_ROWS = 2_000  # below this a 10% validation slice is too small to stop on: all max_iter rounds
PREDICT_BLOCK = 32_768  # rows predicted at a time (see Fitted.predict)


def passive_openmp() -> None:
    """Let OpenMP threads sleep when they wait (``OMP_WAIT_POLICY=PASSIVE``, unless the environment sets it).

    GNU OpenMP's default spins a waiting thread for a while before it sleeps. Gradient boosting opens a
    parallel region per node, so on a shared 2-core machine whose other work takes the second core, the two
    threads spun against it: a 700k-row fit measured 200 s wall and 89 s CPU with 2 threads at load 10,
    against 31 s wall and 13 s CPU with passive waiting (11 s CPU on one thread), same model. The policy is
    read when the OpenMP runtime loads, i.e. on the first scikit-learn import, so this runs before any."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def require_sklearn() -> None:
    """Predictive models need the ``ml`` extra; say how to install it instead of a traceback. (The first
    scikit-learn import of a process goes through here, so OpenMP's wait policy is set first.)"""
    passive_openmp()
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise MissingExtra("predictive models need scikit-learn and skops, which are not installed",
                           hint="pip install 'finmatch-agents[ml]' (or, in a checkout, "
                                ".venv/bin/pip install -e '.[ml]')") from None


def class_weights(y: np.ndarray) -> dict[int, float] | None:
    """Balanced weights when the positive class is rare, else None."""
    pos = int(y.sum())
    share = pos / len(y) if len(y) else 0.0
    if not 0 < share < RARE_SHARE:
        return None
    return {0: len(y) / (2.0 * (len(y) - pos)), 1: len(y) / (2.0 * pos)}


def build(kind: str, features: list[Feature], seed: int, weights: dict[int, float] | None, n: int,
          iterations: int | None = None) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cat = np.array([f.kind == "categorical" for f in features], dtype=bool)
    if kind == "gbm":
        params = dict(GBM_PARAMS)
        if iterations:  # a fixed number of rounds (the k-fold refits the holdout model's configuration)
            params["max_iter"] = iterations
        return HistGradientBoostingClassifier(**params, early_stopping=n >= EARLY_STOPPING_ROWS and not iterations,
                                              categorical_features=cat if cat.any() else None,
                                              class_weight=weights, random_state=seed)
    parts = []
    if (~cat).any():
        parts.append(("numbers", make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                                             keep_empty_features=True), StandardScaler()),
                      np.flatnonzero(~cat)))
    if cat.any():
        parts.append(("categories", make_pipeline(SimpleImputer(strategy="constant", fill_value=-1.0,
                                                                keep_empty_features=True),
                                                  OneHotEncoder(handle_unknown="ignore")), np.flatnonzero(cat)))
    return make_pipeline(ColumnTransformer(parts), LogisticRegression(**LOGISTIC_PARAMS, class_weight=weights,
                                                                      random_state=seed))


@dataclass
class Fitted:
    """A fitted model and the prior correction that turns its scores back into probabilities."""

    kind: str
    estimator: Any
    odds_factor: float = 1.0  # w_negative / w_positive when class weights were used

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the rows of ``X``, in blocks of :data:`PREDICT_BLOCK` rows: a tree at a
        time over 1M rows streamed the whole matrix from memory once per tree; a block stays in cache for
        every tree (the same numbers, about a quarter less CPU at 1M rows)."""
        if not len(X):
            return np.zeros(0)
        if len(X) <= PREDICT_BLOCK:
            raw = self.estimator.predict_proba(X)[:, 1]
        else:
            raw = np.concatenate([self.estimator.predict_proba(X[i: i + PREDICT_BLOCK])[:, 1]
                                  for i in range(0, len(X), PREDICT_BLOCK)])
        q = np.clip(raw, 1e-12, 1 - 1e-12)
        if self.odds_factor == 1.0:
            return q
        odds = q / (1 - q) * self.odds_factor
        return odds / (1 + odds)

    @property
    def iterations(self) -> int | None:
        if self.kind != "gbm":
            return None
        return int(getattr(self.estimator, "n_iter_", 0)) or None


def fit(kind: str, X: np.ndarray, y: np.ndarray, features: list[Feature], seed: int,
        iterations: int | None = None) -> Fitted:
    """Fit one model type; ``iterations`` fixes the boosting rounds (no early stopping) for ``gbm``."""
    weights = class_weights(y)
    est = build(kind, features, seed, weights, len(y), iterations)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the baseline is a baseline: max_iter is its budget
        est.fit(X, y)
    factor = weights[0] / weights[1] if weights else 1.0
    return Fitted(kind, est, factor)


def params_of(kind: str) -> dict[str, Any]:
    return dict(GBM_PARAMS if kind == "gbm" else LOGISTIC_PARAMS)


def limit_threads(threads: int) -> Any:
    """Cap the OpenMP/BLAS threads of the fit (``FINMATCH_THREADS``): on a shared machine more threads than
    free cores make gradient boosting slower, not faster.

    threadpoolctl can only limit the thread pools of libraries already loaded, so scikit-learn's OpenMP
    code is imported first: entered before that import (as the CLI did), the limit silently missed OpenMP
    and the fits ran on every core, spinning against the other work of a busy machine (a gradient-boosting
    fit measured 40x slower on a loaded 2-core machine)."""
    require_sklearn()  # without the ml extra: a clear error, not an ImportError
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime the limit must see)
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, threads))
