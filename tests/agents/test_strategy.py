"""The Strategic Recommendations agent measures channels, targeting gain, readiness and segment roles with the
right numbers, lays out a Now / Next / Later roadmap, and degrades gracefully on thin data."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.agents import AGENTS
from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.data.generator import PLANTED
from finmatch_agents.data.loader import load_file
from finmatch_agents.stats import adjust, against_rest, compare_means
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
    return analyzed("strategy")


@pytest.fixture(scope="module")
def found(state):
    return findings_by_key(state, "strategy")


def _digital_list() -> str:
    return "[" + ", ".join(f"'{c}'" for c in load_assumptions()["digital_channels"]) + "]"


def test_steps_are_the_documents_in_order(state) -> None:
    names = [s.name for s in AGENTS["strategy"].steps]
    assert names == ["Banking Technology Assessment", "Financial Services Competitive Advantage Analysis",
                     "Emerging FinTech Integration", "Digital Banking Strategy Development",
                     "AI Banking Strategic Processing", "Digital Banking Report Generation"]
    assert section_steps(state["sections"]["strategy"]["markdown"]) == names
    assert [s["step"] for s in state["steps"] if s["agent"] == "strategy"] == names
    assert all(s["status"] == "done" for s in state["steps"] if s["agent"] == "strategy")


def test_best_channel_is_the_planted_one(found, small_db: Path) -> None:
    rows = query(small_db, f"SELECT channel, avg({ACCEPTED}), count(*) FROM {ACTIVE} GROUP BY 1 ORDER BY 2 DESC")
    (overall,) = query(small_db, f"SELECT avg({ACCEPTED}) FROM {ACTIVE}")[0]
    best = found["best_channel"]["values"]
    assert best["channel"] == rows[0][0] == PLANTED.best_channel
    assert best["acceptance_rate"] == pytest.approx(rows[0][1])
    assert best["lift"] == pytest.approx(rows[0][1] / overall)
    others = sum(r[1] * r[2] for r in rows[1:]) / sum(r[2] for r in rows[1:])
    assert best["others_rate"] == pytest.approx(others)
    assert best["acceptance_rate"] > 0.3 > others  # Mobile App ~35% vs ~21% elsewhere
    assert found["weakest_channel"]["values"]["channel"] == rows[-1][0] == PLANTED.worst_channel


def test_digital_share_and_acceptance(found, small_db: Path) -> None:
    digital = f"list_contains({_digital_list()}, channel)"
    share, dig, assisted = query(small_db, f"""SELECT avg({digital}::DOUBLE),
        avg({ACCEPTED}) FILTER (WHERE {digital}), avg({ACCEPTED}) FILTER (WHERE NOT {digital}) FROM {ACTIVE}""")[0]
    values = found["digital"]["values"]
    assert values["digital_share"] == pytest.approx(share)
    assert values["digital_acceptance"] == pytest.approx(dig)
    assert values["assisted_acceptance"] == pytest.approx(assisted)
    assert values["digital_vs_assisted"] == pytest.approx(dig - assisted)
    assert list(values["digital_channels"]) == list(load_assumptions()["digital_channels"])


def test_gain_at_the_top_tenth(found, small_db: Path) -> None:
    bins = rates_by_bin(small_db, "recommendation_score", 10)  # cut at score values: ties stay together
    _, top_rate, top_rows = bins[-1]  # the highest scores
    total_rows = sum(n for _, _, n in bins)
    total_accepted = sum(rate * n for _, rate, n in bins)
    top = found["targeting_advantage"]["values"]
    assert top["top_percent"] == round(100 * top_rows / total_rows)
    assert top["captured_share"] == pytest.approx(top_rate * top_rows / total_accepted)
    assert top["cumulative_rate"] == pytest.approx(top_rate)
    assert top["lift"] == pytest.approx(top_rate / (total_accepted / total_rows))
    assert top["lift"] > 2  # acceptance rises with the score
    half = found["capacity_focus"]["values"]["half"]
    assert half["captured_share"] >= 0.5 and half["top_percent"] < 50


def test_readiness_and_sync_latency(found, state, small_db: Path) -> None:
    (balance_nulls,) = query(small_db, f"SELECT 1 - count(account_balance) / count(*) FROM {ACTIVE}")[0]
    dims = {d["dimension"]: d for d in found["data_readiness"]["values"]["dimensions"]}
    assert dims["Account balance"]["null_rate"] == pytest.approx(balance_nulls)
    assert found["data_readiness"]["query_ids"] == [state["profile"]["query_ids"]["stats"]]
    assert found["source_quality"]["values"]["source_system"] == "Temenos"  # the planted gappy, stale feed
    (median,) = query(small_db, f"""SELECT quantile_cont(date_diff('minute', product_recommendation_date::TIMESTAMP,
        _fivetran_synced) / 1440.0, 0.5) FROM {ACTIVE}""")[0]
    assert found["sync_latency"]["values"]["median_days"] == pytest.approx(median)


def _expected_roles(db: Path, min_effect: float = 0.02) -> dict[str, str]:
    """Roles recomputed from independent SQL: a segment's acceptance against the other segments' (two-proportion
    z-test) and its customers' mean churn against the other customers' (Welch), Benjamini-Hochberg across the
    segments; a role needs a clear difference (adjusted p < 0.05 and at least ``min_effect``)."""
    acc = query(db, f"""SELECT customer_segment, count(*), sum({ACCEPTED}) FROM {ACTIVE} GROUP BY 1 ORDER BY 1""")
    churn = dict((s, (m, sd, n)) for s, m, sd, n in query(db, f"""WITH c AS (SELECT customer_id, customer_segment s,
        avg(customer_churn_probability) churn FROM {ACTIVE} GROUP BY ALL)
        SELECT s, avg(churn), stddev_samp(churn), count(*) FROM c GROUP BY 1"""))
    (sd_all,) = query(db, f"""SELECT stddev_samp(churn) FROM (SELECT avg(customer_churn_probability) churn
        FROM {ACTIVE} GROUP BY customer_id, customer_segment)""")[0]
    n_all, k_all = sum(n for _, n, _ in acc), sum(k for *_, k in acc)
    c_all = sum(n for _, _, n in churn.values())
    mean_all = sum(m * n for m, _, n in churn.values()) / c_all
    a_tests = adjust([against_rest(k, n, k_all, n_all) for _, n, k in acc])
    c_tests = adjust([compare_means(m, sd, n, (mean_all * c_all - m * n) / (c_all - n), sd_all, c_all - n)
                      for m, sd, n in (churn[s] for s, *_ in acc)])
    roles = {}
    for (segment, *_), a, c in zip(acc, a_tests, c_tests, strict=True):
        roles[segment] = ("Defend" if c.clear(min_effect) and c.diff > 0 else
                          ("Grow" if a.diff > 0 else "Nurture") if a.clear(min_effect) else "Hold")
    return roles


def test_segment_roles_rest_on_tests_not_on_the_side_of_the_average(found, small_db: Path) -> None:
    roles = found["segment_roles"]["values"]["roles"]
    assert {seg: role for role, segs in roles.items() for seg in segs} == _expected_roles(small_db)


def test_planted_segment_effects_get_their_roles(tmp_path: Path, small_db: Path) -> None:
    db = tmp_path / "planted.duckdb"
    shutil.copy(small_db, db)
    with duckdb.connect(str(db)) as con:  # Students accept far more; High Net Worth customers churn far more
        con.execute("""UPDATE fpr_records SET product_recommendation_status = 'Accepted'
                       WHERE customer_segment = 'Student' AND hash(record_id) % 2 = 0""")
        con.execute("""UPDATE fpr_records SET customer_churn_probability = least(1, customer_churn_probability + 0.3)
                       WHERE customer_segment = 'High Net Worth'""")
    found = findings_by_key(run_graph(db, ["strategy"], tmp_path / "reports"), "strategy")
    roles = {seg: role for role, segs in found["segment_roles"]["values"]["roles"].items() for seg in segs}
    assert roles == _expected_roles(db)
    assert roles["Student"] == "Grow" and roles["High Net Worth"] == "Defend"
    assert found["grow_segment"]["values"]["segment"] == "Student"
    assert found["defend_segment"]["values"]["segment"] == "High Net Worth"


def test_roadmap_covers_now_next_and_later(state) -> None:
    recs = state["sections"]["strategy"]["analysis"]["recommendations"]
    assert {r["horizon"] for r in recs} == {"Now", "Next", "Later"}
    titles = " | ".join(r["title"] for r in recs)
    assert f"towards {PLANTED.best_channel}" in titles
    for r in recs:
        assert r["impact"] in ("High", "Medium", "Low") and r["effort"] in ("Low", "Medium", "High")
        assert r["owner"] and r["success_metric"] and r["query_ids"]


def test_every_number_in_the_section_comes_from_a_query(state) -> None:
    assert_grounded(state["sections"]["strategy"]["markdown"], state)


def test_thin_data_reports_channels_and_says_what_was_not_analysed(tmp_path: Path) -> None:
    file = tmp_path / "thin.csv"
    channels = ("Branch", "Mobile App", "Online Banking", "Call Center", "Email")
    with file.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["customer_id", "product_type", "product_recommendation_status", "channel"])
        for i in range(1000):
            channel = channels[i % 5]
            accepted = (i // 5) % (3 if channel == "Mobile App" else 5) == 0  # about a third against a fifth
            out.writerow([f"C{i // 3:04d}", "Savings", "Accepted" if accepted else "Declined", channel])
    db = tmp_path / "thin.duckdb"
    load_file(db, file, table="fpr_records")
    state = run_graph(db, ["strategy"], tmp_path / "r")
    md = state["sections"]["strategy"]["markdown"]
    assert [s["status"] for s in state["steps"] if s["agent"] == "strategy"] == ["done"] * 6
    found = findings_by_key(state, "strategy")
    assert found["best_channel"]["values"]["channel"] == "Mobile App"
    assert "digital" in found
    for absent in ("gain", "segment", "readiness", "Sync latency"):
        assert any(absent.lower() in line.lower() and "Not analysed" in line for line in md.splitlines()), absent
    assert not {"targeting_advantage", "segment_roles", "sync_latency", "data_readiness"} & set(found)
    assert_grounded(md, state)
