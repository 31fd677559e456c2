"""The matching engine's evidence in the Optimization and Financial Impact agents: only with a match run,
the same numbers as `finmatch match evaluate`, grounded and cited; the revenue arithmetic in SQL."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.engine import DuckDBEngine
from tests.agents.conftest import assert_grounded, findings_by_key, query, run_graph


@pytest.fixture(scope="module")
def matched(match_db: Path, tmp_path_factory: pytest.TempPathFactory, cli_module) -> tuple[Path, dict, dict]:
    db = tmp_path_factory.mktemp("matched") / "matched.duckdb"
    shutil.copyfile(match_db, db)
    db.chmod(0o644)
    assert cli_module("match", "run", "--db", db).exit_code == 0
    evaluation = json.loads(cli_module("match", "evaluate", "--db", db, "--json").stdout)
    state = run_graph(db, ["optimization", "financial-impact"], db.parent / "reports")
    return db, evaluation, state


@pytest.fixture(scope="module")
def cli_module():
    from tests.conftest import Cli

    return Cli()


def test_optimization_states_how_past_offers_fare_against_the_gates(matched) -> None:
    db, evaluation, state = matched
    f = findings_by_key(state, "optimization")["engine_suitability"]
    v, acc = f["values"], evaluation["acceptance"]
    unsuitable, top = acc["groups"]["unsuitable"], acc["groups"]["engine_top3"]
    assert v["run_id"] == query(db, "SELECT run_id FROM match_runs")[0][0] and v["cutoff"] == evaluation["cutoff"]
    assert (v["decided_offers"], v["unsuitable_offers"], v["top_offers"]) == (
        acc["decided_offers"], unsuitable["offers"], top["offers"])
    assert v["unsuitable_rate"] == pytest.approx(unsuitable["rate"]["value"])
    assert v["top_rate"] == pytest.approx(top["rate"]["value"])
    gates = acc["first_failing_gate"]
    assert v["most_failed_gate"] == max(gates, key=lambda g: (gates[g]["offers"], g))
    assert v["most_failed_gate_offers"] == gates[v["most_failed_gate"]]["offers"]
    assert_grounded(f["statement"], state)
    titles = {q["id"]: q["title"] for q in state["queries"]}
    assert titles[f["query_ids"][0]].startswith("The latest match run")
    assert any(titles[i].startswith("Backtest test window") for i in f["query_ids"])
    # 2,000 customers: the gap is not clear, so Financial Impact adds no revenue estimate from it
    assert v["clear"] == (v["gap_low"] > 0)
    if not v["clear"]:
        assert "engine_replacement" not in findings_by_key(state, "financial-impact")


def test_without_a_match_run_the_agents_add_nothing(analyzed) -> None:
    for focus in ("optimization", "financial-impact"):
        state = analyzed(focus)
        keys = {f["key"] for f in state["findings"]}
        assert not keys & {"engine_suitability", "engine_replacement"}
        assert not any(q["title"].startswith("The latest match run") for q in state["queries"])


def test_the_replacement_estimate_is_computed_in_sql(match_db: Path) -> None:
    with DuckDBEngine(match_db) as engine:
        present = {c.name for c in engine.columns("fpr_records")} | {
            f"products.{c.name}" for c in engine.columns("products")}
        res = named.run(engine, QueryLog(), "financial/engine_replacement", present=present, table="fpr_records",
                        products="products", accepted="Accepted", replaced_offers=1000, test_days=200, gain=0.1,
                        gain_low=-0.02, gain_high=0.2)
    assert not isinstance(res, named.Skipped)
    row = res.first()
    per = query(match_db, "SELECT avg(r.product_sales_amount * p.margin) FROM fpr_records AS r JOIN "
                          "(SELECT product_id, max(margin) AS margin FROM products GROUP BY 1) AS p USING (product_id) "
                          "WHERE NOT _fivetran_deleted AND product_recommendation_status = 'Accepted' "
                          "AND product_sales_amount IS NOT NULL AND p.margin IS NOT NULL")[0][0]
    assert row["revenue_per_acceptance"] == pytest.approx(per)
    assert (row["extra_acceptances"], row["extra_acceptances_low"], row["extra_acceptances_high"]) == (
        pytest.approx(100), 0, pytest.approx(200))  # a negative lower bound is no gain, not a loss
    assert row["extra_revenue_per_year"] == pytest.approx(100 * per * 365.25 / 200)
