"""Statements that put a difference beside its interval must be about the same difference: the figure lies
inside its own 95% interval, with the same sign. A juxtaposition of one comparison's gap with another
comparison's interval (a gap against the overall rate beside the interval of a gap against the rest) reads as
a contradiction to a manager, so every agent's text is scanned for it."""

from __future__ import annotations

import re

import pytest

from finmatch_agents.agents import FOCUS_ORDER

#: "+6.4 pp (95% CI +5.6 pp to +7.3 pp)", "-5.6 pp against the other offers; 95% CI -6.3 pp to -5.0 pp"
GAP_THEN_CI = re.compile(r"([+-]\d+\.\d) pp(?:(?![+-]\d+\.\d pp)(?:[^.]|\.(?=\d)))*?95% CI ([+-]\d+\.\d) pp to "
                         r"([+-]\d+\.\d) pp")


#: "converts at 56.0% against 7.6% for ... (7.4×; 95% CI +47.7 pp to +49.1 pp)": the interval of A - B
RATES_THEN_CI = re.compile(r"(\d+\.\d)% against (\d+\.\d)%(?:(?!\d+\.\d%)(?:[^.]|\.(?=\d)))*?95% CI "
                           r"([+-]\d+\.\d) pp to ([+-]\d+\.\d) pp")


def _texts(state: dict) -> list[str]:
    texts = [f["statement"] for f in state["findings"]]
    for section in state["sections"].values():
        analysis = section["analysis"]
        texts += [i["text"] for i in analysis.get("insights", [])]
        texts += [r["rationale"] for r in analysis.get("recommendations", [])]
    return texts


@pytest.mark.parametrize("focus", FOCUS_ORDER)
def test_a_gap_lies_inside_the_interval_written_beside_it(analyzed, focus: str) -> None:
    state = analyzed(focus)
    checked = 0
    for text in _texts(state):
        for gap, low, high in GAP_THEN_CI.findall(text):
            checked += 1
            assert float(low) - 0.05 <= float(gap) <= float(high) + 0.05, text
    if focus in ("performance", "optimization", "strategy"):
        assert checked, "no gap with an interval was found: the pattern no longer matches the report's wording"


@pytest.mark.parametrize("focus", FOCUS_ORDER)
def test_two_rates_put_against_each_other_match_the_interval_beside_them(analyzed, focus: str) -> None:
    state = analyzed(focus)
    checked = 0
    for text in _texts(state):
        for a, b, low, high in RATES_THEN_CI.findall(text):
            checked += 1
            assert float(low) - 0.15 <= float(a) - float(b) <= float(high) + 0.15, text
    if focus in ("performance", "optimization", "strategy"):
        assert checked
