"""The API the agents and the chat call: figures from the registry and the sandbox, checked independently."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb

from finmatch_agents.evidence import QueryLog
from finmatch_agents.predict.api import expected_acceptances, promoted_model_summary, top_customers
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits


def test_no_promoted_model_gives_none(tmp_path: Path, match_db: Path) -> None:
    assert promoted_model_summary(tmp_path) is None
    with DuckDBEngine(match_db) as engine:
        assert expected_acceptances(engine, QueryLog(), tmp_path, "fpr_records") is None
        assert top_customers(engine, QueryLog(), tmp_path, "fpr_records", "Mortgage") is None


def test_summary_expected_acceptances_and_top_customers(trained, tmp_path: Path) -> None:
    state, db = Path("data"), trained["db"]
    s = promoted_model_summary(state)
    d = trained["conversion"]
    assert s is not None and s["model_id"] == d["model_id"]
    assert s["holdout"]["auc"] == d["holdout"][d["kept"]]["auc"] and len(s["calibration"]) == 10
    assert s["bank_score"]["column"] == "recommendation_score"
    con = duckdb.connect(str(db), read_only=True)
    open_offers = con.execute("SELECT count(*) FROM fpr_records WHERE NOT _fivetran_deleted AND "
                              "product_recommendation_status IN ('Pending', 'In Progress')").fetchone()[0]
    con.close()
    log = QueryLog()
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine:
        e = expected_acceptances(engine, log, state, "fpr_records")
        assert e is not None and e["queries"] and all(q.status == "ok" for q in log.records)
        assert e["open_offers"] == open_offers and e["low"] < e["expected"] < e["high"]
        assert math.isclose(sum(v["expected"] for v in e["by_product_type"].values()), e["expected"])
        top = top_customers(engine, QueryLog(), state, "fpr_records", "Mortgage", n=5)
    assert top is not None and len(top["customers"]) == 5
    p = [c["propensity"] for c in top["customers"]]
    assert p == sorted(p, reverse=True) and all(c["product_id"].startswith("MTG") for c in top["customers"])
    assert top["suitable_customers"] + top["unsuitable_customers"] > top["suitable_customers"] > 0
