"""Financial Impact with a promoted conversion model: expected acceptances of the open offers are the sum of
the calibrated propensities in the `scores` table (checked against independent SQL and against scoring in
process), beside the flat historical rate; stale scores are named and not used; without scores the
agent's findings are exactly those of a database with no model at all."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finmatch_agents.evidence import QueryLog
from finmatch_agents.predict.api import expected_acceptances
from finmatch_agents.stats import Z95
from finmatch_agents.warehouse.engine import DuckDBEngine
from tests.agents.conftest import ACTIVE, assert_grounded, findings_by_key, run_graph

AGENT = "financial-impact"
OPEN = "product_recommendation_status IN ('Pending', 'In Progress')"


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def financial(db: Path, reports: Path) -> dict[str, Any]:
    return run_graph(db, [AGENT], reports)


def comparable(state: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Each finding as the report shows it (float sums may differ in the last bits between two runs)."""
    return [(f["key"], f["title"], f["statement"]) for f in state["findings"] if f["agent"] == AGENT]


def test_expected_acceptances_are_the_sum_of_the_scored_propensities(cli, trained, tmp_path: Path) -> None:
    db, model_id = trained["db"], trained["conversion"]["model_id"]
    assert cli("predict", "score", "conversion", "--db", db).exit_code == 0
    state = financial(db, tmp_path / "reports")
    found = findings_by_key(state, AGENT)
    assert "open_offers_stale" not in found
    v = found["open_offers"]["values"]

    (n, total, var), = q(db, f"SELECT count(*), sum(s.score), sum(s.score * (1 - s.score)) FROM scores AS s JOIN "
                            f"{ACTIVE} AS r USING (record_id) WHERE s.task = 'conversion' AND r.{OPEN}")
    (open_offers, decided, accepted), = q(db, f"SELECT count(*) FILTER (WHERE {OPEN}), count(*) FILTER (WHERE "
                                              "product_recommendation_status IN ('Accepted', 'Declined')), count(*) "
                                              "FILTER (WHERE product_recommendation_status = 'Accepted') "
                                              f"FROM {ACTIVE}")
    (per_acceptance,), = q(db, f"SELECT avg(r.product_sales_amount * c.margin) FROM {ACTIVE} AS r JOIN (SELECT "
                               "product_id, max(margin) AS margin FROM products GROUP BY 1) AS c USING (product_id) "
                               "WHERE r.product_recommendation_status = 'Accepted' AND r.product_sales_amount IS NOT "
                               "NULL AND c.margin IS NOT NULL")
    assert n == open_offers == v["open_offers"] == v["scored_offers"] > 0
    assert math.isclose(v["expected_acceptances"], total, rel_tol=1e-9)
    assert math.isclose(v["expected_acceptances_high"] - v["expected_acceptances"], Z95 * math.sqrt(var), rel_tol=1e-9)
    flat = open_offers * accepted / decided
    assert math.isclose(v["flat_expected_acceptances"], flat, rel_tol=1e-9)
    assert math.isclose(v["expected_revenue"], total * per_acceptance, rel_tol=1e-9)
    assert math.isclose(v["flat_expected_revenue"], flat * per_acceptance, rel_tol=1e-9)
    assert math.isclose(v["revenue_vs_flat"], (total - flat) * per_acceptance, rel_tol=1e-9)
    assert v["model_id"] == model_id
    # the same figure as scoring the open offers in process with the promoted model
    with DuckDBEngine(db) as engine:
        live = expected_acceptances(engine, QueryLog(), Path("data"), "fpr_records")
    assert live is not None and math.isclose(live["expected"], total, rel_tol=1e-9)
    statement = found["open_offers"]["statement"]
    assert model_id in statement and f"{round(total):,} expected acceptances" in statement
    assert f"against {round(flat):,} at the flat historical rate" in statement
    assert "On its time-ordered holdout the model predicted" in statement
    assert_grounded(statement, state)
    cited = [qr for qr in state["queries"] if qr["id"] in found["open_offers"]["query_ids"]]
    assert any("JOIN scores AS s" in qr["sql"] and "sum(s.score)" in qr["sql"] for qr in cited)
    assert all(qr["id"] in statement for qr in cited)


def test_stale_scores_are_named_and_not_used(cli, trained, tmp_path: Path) -> None:
    db = trained["db"]
    assert cli("predict", "score", "conversion", "--db", db).exit_code == 0
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE score_runs SET fingerprint = '0000000000000000'")
    found = findings_by_key(financial(db, tmp_path / "a"), AGENT)
    assert "open_offers" not in found
    assert "the data changed since they were written (fingerprint 0000000000000000" in \
        found["open_offers_stale"]["statement"]
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE scores SET model_id = 'conversion-old'")
    found = findings_by_key(financial(db, tmp_path / "b"), AGENT)
    assert "open_offers" not in found
    assert "written by model `conversion-old`, not by the promoted" in found["open_offers_stale"]["statement"]


def test_without_scores_the_findings_are_those_without_a_model(trained, match_db: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    with_model = financial(trained["db"], tmp_path / "a")  # a promoted model, nothing scored yet
    elsewhere = tmp_path / "no-models"
    elsewhere.mkdir()
    plain = elsewhere / "plain.duckdb"
    shutil.copyfile(match_db, plain)
    plain.chmod(0o644)
    monkeypatch.chdir(elsewhere)  # its state folder (./data) holds no model
    no_model = financial(plain, tmp_path / "b")
    assert comparable(with_model) == comparable(no_model)
    assert not {"open_offers", "open_offers_stale"} & set(findings_by_key(with_model, AGENT))
