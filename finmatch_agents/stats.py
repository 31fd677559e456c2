"""Is a difference real? The tests behind every comparison that drives advice.

Rates are compared with a two-proportion z-test (normal approximation, pooled variance) and reported with
a Wilson interval; many comparisons from one table are adjusted with Benjamini-Hochberg so a long table does
not produce "significant" differences by chance. A difference is *clear* only when it is both significant
after adjustment and at least the minimum effect a bank would act on (the ``min_effect`` assumption);
otherwise the report says "no clear difference" instead of recommending anything.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Z95 = 1.959963984540054
ALPHA = 0.05


def _phi(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def two_sided_p(z: float) -> float:
    return max(0.0, min(1.0, 2.0 * (1.0 - _phi(abs(z)))))


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0..1); (0, 1) when there is no data."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Interval:
    """A value with its 95% interval and the number of observations behind it (NaN when there are none)."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate_interval(successes: int, n: int, z: float = Z95) -> Interval:
    """successes / n with its Wilson interval (well behaved near 0 and 1 and for small n)."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    low, high = wilson(successes, n, z)
    return Interval(successes / n, low, high, n)


def newcombe(a: Interval, b: Interval) -> Interval:
    """Difference a - b of two independent rates with Newcombe's (1998, method 10) hybrid score interval."""
    if not (a.n and b.n):
        return Interval(math.nan, math.nan, math.nan, a.n + b.n)
    d = a.value - b.value
    low = d - math.sqrt((a.value - a.low) ** 2 + (b.high - b.value) ** 2)
    high = d + math.sqrt((a.high - a.value) ** 2 + (b.value - b.low) ** 2)
    return Interval(d, low, high, a.n + b.n)


def mean_interval(values: np.ndarray, z: float = Z95) -> Interval:
    """Mean with a normal-approximation interval (per-customer values; paired differences for gaps)."""
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(np.mean(values))
    half = z * float(np.std(values, ddof=1)) / math.sqrt(n) if n > 1 else math.nan
    return Interval(mean, mean - half, mean + half, n)


@dataclass(frozen=True)
class RateComparison:
    """Group A's rate against group B's: the difference, its 95% interval and the test."""

    rate_a: float
    n_a: float
    rate_b: float
    n_b: float
    diff: float  # rate_a - rate_b
    low: float  # 95% interval of the difference (unpooled)
    high: float
    p: float  # two-sided, unadjusted
    p_adjusted: float = 1.0

    def clear(self, min_effect: float) -> bool:
        """Significant after adjustment and at least ``min_effect`` (a difference of rates)."""
        return self.p_adjusted < ALPHA and abs(self.diff) >= min_effect


def compare_rates(k_a: float, n_a: float, k_b: float, n_b: float) -> RateComparison:
    """Two-proportion z-test of k_a/n_a against k_b/n_b."""
    if n_a <= 0 or n_b <= 0:
        return RateComparison(0.0, n_a, 0.0, n_b, 0.0, -1.0, 1.0, 1.0, 1.0)
    pa, pb = k_a / n_a, k_b / n_b
    pooled = (k_a + k_b) / (n_a + n_b)
    se_pooled = math.sqrt(max(pooled * (1 - pooled) * (1 / n_a + 1 / n_b), 0.0))
    z = (pa - pb) / se_pooled if se_pooled > 0 else 0.0
    se = math.sqrt(max(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b, 0.0))
    diff = pa - pb
    p = two_sided_p(z) if se_pooled > 0 else (0.0 if diff else 1.0)
    return RateComparison(pa, n_a, pb, n_b, diff, diff - Z95 * se, diff + Z95 * se, p, p)


def against_rest(k: float, n: float, k_total: float, n_total: float) -> RateComparison:
    """A group's rate against everyone else's (the rest of the same table)."""
    return compare_rates(k, n, k_total - k, n_total - n)


def compare_means(mean_a: float, sd_a: float, n_a: float, mean_b: float, sd_b: float, n_b: float
                  ) -> RateComparison:
    """Welch's test of two means (large samples: normal approximation), in the same record shape."""
    if n_a < 2 or n_b < 2:
        return RateComparison(mean_a, n_a, mean_b, n_b, mean_a - mean_b, -math.inf, math.inf, 1.0, 1.0)
    se = math.sqrt(sd_a * sd_a / n_a + sd_b * sd_b / n_b)
    diff = mean_a - mean_b
    p = two_sided_p(diff / se) if se > 0 else (0.0 if diff else 1.0)
    return RateComparison(mean_a, n_a, mean_b, n_b, diff, diff - Z95 * se, diff + Z95 * se, p, p)


def against_expected(k: float, n: float, expected_rate: float) -> RateComparison:
    """An observed rate against the rate a model expected for the same offers (one-sample z-test)."""
    if n <= 0:
        return RateComparison(0.0, n, expected_rate, n, 0.0, -1.0, 1.0, 1.0, 1.0)
    p_obs = k / n
    se0 = math.sqrt(max(expected_rate * (1 - expected_rate) / n, 0.0))
    low, high = wilson(k, n)
    p = two_sided_p((p_obs - expected_rate) / se0) if se0 > 0 else (0.0 if p_obs != expected_rate else 1.0)
    return RateComparison(p_obs, n, expected_rate, n, p_obs - expected_rate, low - expected_rate,
                          high - expected_rate, p, p)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Adjusted p-values (false discovery rate), in the order given."""
    m = len(p_values)
    if m == 0:
        return []
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def adjust(comparisons: Sequence[RateComparison]) -> list[RateComparison]:
    """The comparisons of one family (one table) with Benjamini-Hochberg adjusted p-values."""
    adjusted = benjamini_hochberg([c.p for c in comparisons])
    return [RateComparison(c.rate_a, c.n_a, c.rate_b, c.n_b, c.diff, c.low, c.high, c.p, q)
            for c, q in zip(comparisons, adjusted, strict=True)]


def monotone(values: Sequence[float], *, decreasing: bool) -> bool:
    """Whether a series never moves against the stated direction."""
    pairs = list(itertools.pairwise(values))
    return all(b <= a for a, b in pairs) if decreasing else all(b >= a for a, b in pairs)


def bootstrap_interval(statistic: Any, n: int, *, resamples: int = 200, seed: int = 0, block: int = 25,
                       point: float | None = None) -> Interval:
    """95% percentile interval of ``statistic(weights)`` over Poisson bootstrap resamples of n observations.

    The Poisson bootstrap (each observation weighted by a Poisson(1) draw) approximates the classic multinomial
    resampling for large n and lets a statistic keep the data in its original (sorted) order. A paired
    comparison computes both sides from the same weights inside ``statistic``.

    ``statistic`` takes one weight vector (length n) and returns a float; ``point`` is the estimate on the
    data itself (``statistic`` with unit weights when not given). Resamples are drawn ``block`` at a time so
    memory stays at block x n weights."""
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    value = float(statistic(np.ones(n))) if point is None else float(point)
    values: list[float] = []
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        k = min(block, resamples - done)
        for w in rng.poisson(1.0, size=(k, n)).astype(np.float64):
            values.append(float(statistic(w)))
        done += k
    finite = np.array([v for v in values if math.isfinite(v)])
    if not len(finite):
        return Interval(value, math.nan, math.nan, n)
    low, high = np.percentile(finite, [2.5, 97.5])
    return Interval(value, float(low), float(high), n)
