"""The Optimization Opportunities agent finds the generator's planted inefficiencies, with the right numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.agents import AGENTS
from finmatch_agents.data.generator import PLANTED, STALE_LAG_DAYS, STALE_SYSTEM
from finmatch_agents.data.loader import load_file
from tests.agents.conftest import (
    ACTIVE,
    assert_grounded,
    findings_by_key,
    query,
    rates_by_bin,
    run_graph,
    section_steps,
)

ACCEPTED = "(product_recommendation_status = 'Accepted')::DOUBLE"


@pytest.fixture(scope="module")
def state(analyzed):
    return analyzed("optimization")


@pytest.fixture(scope="module")
def found(state):
    return findings_by_key(state, "optimization")


def test_steps_are_the_documents_in_order(state) -> None:
    names = [s.name for s in AGENTS["optimization"].steps]
    assert names == ["Banking Optimization Data Preparation", "Financial Product Inefficiency Detection",
                     "Banking Correlation Analysis", "Core Banking System Integration Optimization",
                     "AI Banking Optimization Intelligence", "Banking Strategy Finalization"]
    assert section_steps(state["sections"]["optimization"]["markdown"]) == names
    assert [s["step"] for s in state["steps"] if s["agent"] == "optimization"] == names
    assert all(s["status"] == "done" for s in state["steps"] if s["agent"] == "optimization")
    ids = [f["id"] for f in state["findings"] if f["agent"] == "optimization"]
    assert ids and all(i.startswith("F2") for i in ids)


def test_decision_scope(found, small_db: Path) -> None:
    decided, undecided, acc = query(small_db, f"""SELECT
        count(*) FILTER (WHERE product_recommendation_status IN ('Accepted', 'Declined')),
        count(*) FILTER (WHERE product_recommendation_status IN ('Pending', 'In Progress')),
        count(*) FILTER (WHERE product_recommendation_status = 'Accepted') FROM {ACTIVE}""")[0]
    v = found["scope"]["values"]
    assert (v["decided"], v["undecided"]) == (decided, undecided)
    assert v["decided_acceptance_rate"] == pytest.approx(acc / decided)
    assert found["readiness"]["polarity"] == "strength"  # every field is present on the synthetic data


def test_finds_the_mistargeted_pair(state, found, small_db: Path) -> None:
    mis = [f for f in state["findings"] if f["agent"] == "optimization" and f["key"] == "mistargeted"]
    assert len(mis) == 1
    v = mis[0]["values"]
    assert (v["segment"], v["product_type"]) == (PLANTED.mistargeted_segment, PLANTED.mistargeted_type)
    n, rate, score = query(small_db, f"""SELECT count(*), avg({ACCEPTED}), avg(recommendation_score) FROM {ACTIVE}
        WHERE customer_segment = '{PLANTED.mistargeted_segment}' AND product_type = '{PLANTED.mistargeted_type}'""")[0]
    assert v["recommendations"] == n
    assert v["acceptance_rate"] == pytest.approx(rate)
    assert v["avg_score"] == pytest.approx(score)
    (expected,) = query(small_db, f"""WITH s AS (SELECT customer_segment seg, product_type pt, {ACCEPTED} a,
        ntile(10) OVER (ORDER BY recommendation_score, record_id) d FROM {ACTIVE}),
        r AS (SELECT d, avg(a) rate FROM s GROUP BY d)
        SELECT avg(rate) FROM s JOIN r USING (d)
        WHERE seg = '{PLANTED.mistargeted_segment}' AND pt = '{PLANTED.mistargeted_type}'""")[0]
    assert v["expected_rate"] == pytest.approx(expected)
    assert v["gap"] == pytest.approx(expected - rate)
    assert v["missed_acceptances"] == pytest.approx((expected - rate) * n)
    assert v["mistarget_gap"] == pytest.approx(0.15) and v["gap"] > 0.4
    assert rate < 0.06 and score > 0.8  # the planted pattern: high scores, almost no acceptance


def test_low_affinity_share_and_acceptance(found, small_db: Path) -> None:
    rows = dict((r[0], r[1:]) for r in query(small_db, f"""SELECT customer_product_affinity, count(*), avg({ACCEPTED}),
        sum(1 - {ACCEPTED}) FROM {ACTIVE} GROUP BY 1"""))
    total = sum(r[0] for r in rows.values())  # one denominator: every recommendation, affinity recorded or not
    assert None in rows  # the data has recommendations without an affinity: they count, as "Not recorded"
    v = found["low_affinity"]["values"]
    assert v["low_recommendations"] == rows["Low"][0]
    assert v["low_share"] == pytest.approx(rows["Low"][0] / total)
    assert v["low_acceptance_rate"] == pytest.approx(rows["Low"][1])
    mh_n = rows["Medium"][0] + rows["High"][0]
    mh_rate = (rows["Medium"][0] * rows["Medium"][1] + rows["High"][0] * rows["High"][1]) / mh_n
    assert v["medium_high_acceptance_rate"] == pytest.approx(mh_rate)
    assert v["low_not_accepted_cost"] == pytest.approx(rows["Low"][2] * 1.5)


def test_transactions_and_lifecycle(found, small_db: Path) -> None:
    (corr,) = query(small_db, f"SELECT corr(customer_transaction_count, {ACCEPTED}) FROM {ACTIVE}")[0]
    tx = found["transactions"]["values"]
    assert tx["correlation"] == pytest.approx(corr)
    bins = rates_by_bin(small_db, "customer_transaction_count", 5)  # cut at count values: ties stay together
    assert tx["groups"] == len(bins) and tx["first"]["acceptance_rate"] == pytest.approx(bins[0][1])
    assert tx["top_bottom_gap"] == pytest.approx(bins[-1][1] - bins[0][1])
    assert tx["first"]["recommendations"] == bins[0][2] and tx["last"]["recommendations"] == bins[-1][2]
    rates = dict(query(small_db, f"SELECT customer_lifecycle_stage, avg({ACCEPTED}) FROM {ACTIVE} GROUP BY 1"))
    life = found["lifecycle"]["values"]
    assert life["spread"] == pytest.approx(max(rates.values()) - min(rates.values()))
    assert life["worst"]["stage"] == min(rates, key=lambda k: rates[k])


def test_temenos_is_flagged_stale_and_gappy(found, small_db: Path) -> None:
    stale = found["stale_source"]["values"]
    assert stale["system"] == STALE_SYSTEM
    assert stale["lag_days"] == STALE_LAG_DAYS
    assert found["source_gaps"]["values"]["system"] == STALE_SYSTEM
    stale_systems = [f for f in found.values() if f["key"] == "stale_source"]
    assert len(stale_systems) == 1


def test_source_system_acceptance(state, small_db: Path) -> None:
    rates = dict(query(small_db, f"SELECT source_system, avg({ACCEPTED}) FROM {ACTIVE} GROUP BY 1"))
    v = findings_by_key(state, "optimization")["source_systems"]["values"]
    assert v["best"]["acceptance_rate"] == pytest.approx(max(rates.values()))
    assert v["worst"]["acceptance_rate"] == pytest.approx(min(rates.values()))
    assert v["spread"] == pytest.approx(max(rates.values()) - min(rates.values()))
    table = next(b for s in state["steps"] if s["step"] == "Core Banking System Integration Optimization"
                 for b in s["blocks"] if b["type"] == "table")
    assert {r["system"]: r["acceptance_rate"] for r in table["rows"]} == pytest.approx(rates)


def test_offline_analyst_recommends_acting_on_the_planted_problems(state) -> None:
    recs = state["sections"]["optimization"]["analysis"]["recommendations"]
    titles = " | ".join(r["title"] for r in recs)
    assert f"Suppress {PLANTED.mistargeted_type} offers to {PLANTED.mistargeted_segment}" in titles
    assert f"Restore the {STALE_SYSTEM} core banking feed" in titles
    assert "Low-affinity" in titles
    stale = next(r for r in recs if STALE_SYSTEM in r["title"] and "Restore" in r["title"])
    assert stale["owner"] == "Data Engineering"
    mis = next(r for r in recs if r["title"].startswith("Suppress"))
    assert mis["impact"] == "High"
    for r in recs:
        assert r["impact"] in ("High", "Medium", "Low") and r["effort"] in ("Low", "Medium", "High")
        assert r["horizon"] in ("Now", "Next", "Later")
        assert r["owner"] and r["success_metric"] and r["query_ids"]


def test_every_number_in_the_section_comes_from_a_query(state) -> None:
    assert_grounded(state["sections"]["optimization"]["markdown"], state)


def test_thin_dataset_without_optional_columns(tmp_path: Path) -> None:
    csv = tmp_path / "thin.csv"
    statuses = ("Accepted", "Declined", "Declined", "Pending")
    types = ("Checking", "Savings", "Mortgage")
    lines = ["customer_id,product_type,product_recommendation_status"]
    lines += [f"C{i // 3:04d},{types[i % 3]},{statuses[i % 4]}" for i in range(240)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "thin.duckdb"
    load_file(db, csv, table="fpr_records")
    state = run_graph(db, ["optimization"], tmp_path / "r")
    steps = [s for s in state["steps"] if s["agent"] == "optimization"]
    assert len(steps) == len(AGENTS["optimization"].steps)
    assert all(s["status"] == "done" for s in steps)
    section = state["sections"]["optimization"]["markdown"]
    assert "Not analysed" in section
    reasons = " | ".join(b["reason"] for s in steps for b in s["blocks"] if b["type"] == "skipped")
    assert "recommendation_score" in reasons and "customer_product_affinity" in reasons
    assert "source_system" in reasons and "customer_transaction_count" in reasons
    found = findings_by_key(state, "optimization")
    assert found["scope"]["values"]["decided"] == 180
    assert found["readiness"]["polarity"] == "risk"
    assert "mistargeted" not in found and "stale_source" not in found
    assert_grounded(section, state)
