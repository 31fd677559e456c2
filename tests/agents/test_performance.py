"""The Overall Performance agent finds the generator's planted patterns, with the right numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.agents import AGENTS
from finmatch_agents.data.generator import PLANTED
from tests.agents.conftest import ACTIVE, assert_grounded, findings_by_key, query, rates_by_bin, section_steps


@pytest.fixture(scope="module")
def state(analyzed):
    return analyzed("performance")


def test_steps_are_the_documents_in_order(state) -> None:
    names = [s.name for s in AGENTS["performance"].steps]
    assert names == ["Banking Customer Data Initialization", "Product Matching Performance Assessment",
                     "Banking Pattern Recognition", "AI Banking Intelligence Processing",
                     "Financial Services Report Compilation"]
    assert section_steps(state["sections"]["performance"]["markdown"]) == names
    assert [s["step"] for s in state["steps"] if s["agent"] == "performance"] == names


def test_acceptance_rate(state, small_db: Path) -> None:
    (rate,) = query(small_db, f"SELECT avg((product_recommendation_status = 'Accepted')::DOUBLE) FROM {ACTIVE}")[0]
    assert findings_by_key(state, "performance")["acceptance"]["values"]["acceptance_rate"] == pytest.approx(rate)


def test_calibration_by_decile(state, small_db: Path) -> None:
    """Deciles are cut at score values, so equal scores share a decile (never split by row order)."""
    rows = rates_by_bin(small_db, "recommendation_score", 10)
    values = findings_by_key(state, "performance")["calibration"]["values"]
    assert values["bottom_decile_rate"] == pytest.approx(rows[0][1])
    assert values["top_decile_rate"] == pytest.approx(rows[-1][1])
    assert values["top_bottom_ratio"] == pytest.approx(rows[-1][1] / rows[0][1])
    assert values["top_bottom_ratio"] > 5  # the planted pattern: acceptance rises with the score


def test_finds_the_mistargeted_pair_as_weakest(state, small_db: Path) -> None:
    worst = findings_by_key(state, "performance")["worst_cell"]["values"]
    assert (worst["segment"], worst["product_type"]) == (PLANTED.mistargeted_segment, PLANTED.mistargeted_type)
    (rate,) = query(small_db, f"""SELECT avg((product_recommendation_status = 'Accepted')::DOUBLE) FROM {ACTIVE}
        WHERE customer_segment = '{PLANTED.mistargeted_segment}' AND product_type = '{PLANTED.mistargeted_type}'""")[0]
    assert worst["acceptance_rate"] == pytest.approx(rate)


def test_affinity_and_churn_drivers(state, small_db: Path) -> None:
    found = findings_by_key(state, "performance")
    rates = dict(query(small_db, f"""SELECT customer_product_affinity, avg((product_recommendation_status =
        'Accepted')::DOUBLE) FROM {ACTIVE} WHERE customer_product_affinity IS NOT NULL GROUP BY 1"""))
    assert found["affinity"]["values"]["high_low_ratio"] == pytest.approx(rates["High"] / rates["Low"])
    churn = dict(query(small_db, f"""SELECT trend, avg(c) FROM (SELECT customer_id, customer_product_usage_trend trend,
        avg(customer_churn_probability) c FROM {ACTIVE} GROUP BY ALL) GROUP BY 1"""))
    usage = found["usage_churn"]["values"]
    assert usage["decreasing"]["avg_churn"] == pytest.approx(churn["Decreasing"])
    assert usage["ratio"] == pytest.approx(churn["Decreasing"] / churn["Increasing"])
    assert found["satisfaction_churn"]["values"]["ratio"] > 3


def test_offline_analyst_recommends_acting_on_the_planted_problems(state) -> None:
    recs = state["sections"]["performance"]["analysis"]["recommendations"]
    titles = " | ".join(r["title"] for r in recs)
    assert f"{PLANTED.mistargeted_type} offers to {PLANTED.mistargeted_segment}" in titles
    assert "usage turns downward" in titles
    for r in recs:
        assert r["impact"] in ("High", "Medium", "Low") and r["effort"] in ("Low", "Medium", "High")
        assert r["owner"] and r["success_metric"] and r["query_ids"]


def test_every_number_in_the_section_comes_from_a_query(state) -> None:
    assert_grounded(state["sections"]["performance"]["markdown"], state)
