"""Intervals for the backtest: Wilson for a rate, Newcombe's hybrid score for a difference of two rates,
and a normal interval for a mean of per-customer values (precision@K, recall@K and their paired gaps)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson(successes: int, n: int, z: float = Z95) -> Estimate:
    """Wilson score interval of successes / n (well behaved near 0 and 1 and for small n)."""
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), n)


def newcombe(a: Estimate, b: Estimate) -> Estimate:
    """Difference a - b of two independent rates with Newcombe's (1998, method 10) hybrid score interval."""
    if not (a.n and b.n):
        return Estimate(math.nan, math.nan, math.nan, a.n + b.n)
    d = a.value - b.value
    low = d - math.sqrt((a.value - a.low) ** 2 + (b.high - b.value) ** 2)
    high = d + math.sqrt((a.high - a.value) ** 2 + (b.value - b.low) ** 2)
    return Estimate(d, low, high, a.n + b.n)


def mean_ci(values: np.ndarray, z: float = Z95) -> Estimate:
    """Mean with a normal-approximation interval (per-customer values; paired differences for gaps)."""
    n = len(values)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(np.mean(values))
    half = z * float(np.std(values, ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return Estimate(mean, mean - half, mean + half, n)
