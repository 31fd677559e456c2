"""The tests behind every comparison, checked against published worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from finmatch_agents.stats import (
    adjust,
    against_expected,
    against_rest,
    benjamini_hochberg,
    compare_means,
    compare_rates,
    mean_interval,
    monotone,
    newcombe,
    rate_interval,
    wilson,
)


def test_two_proportion_z_test_matches_the_textbook() -> None:
    c = compare_rates(45, 100, 30, 100)  # pooled p = 0.375, z = 0.15 / 0.06847 = 2.191
    assert c.diff == pytest.approx(0.15)
    assert c.p == pytest.approx(0.02846, abs=5e-5)
    se = math.sqrt(0.45 * 0.55 / 100 + 0.3 * 0.7 / 100)
    assert (c.low, c.high) == pytest.approx((0.15 - 1.96 * se, 0.15 + 1.96 * se), abs=1e-3)
    assert c.clear(0.02) and not c.clear(0.2)  # significant, but not if a bank only acts on 20 pp


def test_a_group_against_the_rest_excludes_itself() -> None:
    assert against_rest(45, 100, 75, 200) == compare_rates(45, 100, 30, 100)


def test_wilson_and_newcombe_match_newcombe_1998() -> None:
    assert wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    d = newcombe(rate_interval(56, 70), rate_interval(48, 80))  # Newcombe (1998), table II, example (b)
    assert (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    assert math.isnan(rate_interval(0, 0).value)


def test_benjamini_hochberg_adjusts_in_the_given_order() -> None:
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([]) == []
    many = adjust([compare_rates(52, 1000, 50, 1000)] * 20)  # twenty look-alike comparisons: none is clear
    assert not any(c.clear(0.0) for c in many)


def test_welch_on_means_and_a_rate_against_its_expectation() -> None:
    c = compare_means(0.30, 0.1, 400, 0.28, 0.1, 900)
    se = math.sqrt(0.01 / 400 + 0.01 / 900)
    assert c.diff == pytest.approx(0.02) and (c.high - c.low) == pytest.approx(2 * 1.959964 * se)
    assert compare_means(1, 0, 1, 0, 0, 10).p == 1.0  # one observation: no test
    e = against_expected(30, 1000, 0.05)  # 3% observed where the score expected 5%: z = -2.90
    assert e.diff == pytest.approx(-0.02) and e.p == pytest.approx(0.00373, abs=5e-5)


def test_mean_interval_and_monotone() -> None:
    m = mean_interval(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m.value == 2.5 and m.high - m.value == pytest.approx(1.959964 * np.std([1, 2, 3, 4], ddof=1) / 2)
    assert monotone([3, 2, 2, 1], decreasing=True) and not monotone([3, 2, 2.5], decreasing=True)
    assert monotone([1, 2], decreasing=False)
