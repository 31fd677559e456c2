"""Ledoit-Wolf covariance shrinkage (closed form), so a small catalogue still gives an invertible matrix.

Ledoit & Wolf (2004), "A well-conditioned estimator for large-dimensional covariance matrices": the sample
covariance S is pulled towards mu * I (mu = mean variance) by the intensity that minimises the expected
Frobenius loss, estimated from the data. Written with numpy (the same estimator as scikit-learn's
``ledoit_wolf``), so scikit-learn is not a dependency.
"""

from __future__ import annotations

import numpy as np


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """(shrunk covariance, shrinkage intensity in 0..1) of the rows of ``x`` (samples x features)."""
    x = np.asarray(x, dtype=float)
    n, p = x.shape
    if n < 2:
        raise ValueError("Ledoit-Wolf needs at least two samples")
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n  # the biased sample covariance, as in the paper
    mu = np.trace(s) / p
    delta = float(((s - mu * np.eye(p)) ** 2).sum()) / p  # squared distance of S from the target
    x2 = xc**2
    beta_bar = float((x2.T @ x2).sum() / n - (s**2).sum()) / (n * p)  # estimated variance of S
    beta = min(beta_bar, delta)
    shrinkage = 0.0 if delta == 0 else beta / delta
    return (1 - shrinkage) * s + shrinkage * mu * np.eye(p), shrinkage
