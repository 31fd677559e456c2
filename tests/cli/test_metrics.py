"""`finmatch metrics` figures against an independent DuckDB computation on the same file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest


def independent(db: Path) -> dict:
    active = "(SELECT * FROM fpr_records WHERE NOT _fivetran_deleted)"
    with duckdb.connect(str(db), read_only=True) as con:
        one = lambda sql: con.execute(sql).fetchone()  # noqa: E731
        recs, customers, accepted, score = one(
            f"SELECT count(*), count(DISTINCT customer_id), count(*) FILTER (WHERE product_recommendation_status = "
            f"'Accepted'), avg(recommendation_score) FROM {active}")
        per_customer = one(f"""SELECT avg(s), avg(c), sum(b), avg(b), sum(v), sum(n) FROM (
            SELECT customer_id, avg(customer_satisfaction_score) s, avg(customer_churn_probability) c,
                   avg(account_balance) b, avg(customer_transaction_value) v, avg(customer_transaction_count) n
            FROM {active} GROUP BY customer_id)""")
        sales = one(f"SELECT sum(product_sales_amount) FROM {active} "
                    "WHERE product_recommendation_status = 'Accepted'")[0]
        status = dict(con.execute(f"SELECT product_recommendation_status, count(*) FROM {active} GROUP BY 1"
                                  ).fetchall())
        stages = dict(con.execute(f"SELECT customer_lifecycle_stage, count(DISTINCT customer_id) FROM {active} "
                                  "GROUP BY 1").fetchall())
        top_type = con.execute(f"SELECT product_type, count(*) FROM {active} GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
                               ).fetchone()
    return {"records": recs, "customers": customers, "accepted": accepted, "acceptance_rate": accepted / recs,
            "avg_recommendation_score": score, "avg_satisfaction": per_customer[0],
            "avg_churn_probability": per_customer[1], "total_account_balance": per_customer[2],
            "avg_account_balance": per_customer[3], "total_transaction_value": per_customer[4],
            "total_transaction_count": per_customer[5], "total_product_sales": sales, "status": status,
            "stages": stages, "top_type": top_type}


def test_metrics_json_matches_independent_sql(cli, small_db: Path) -> None:
    result = cli("metrics", "--db", small_db, "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    want = independent(small_db)
    for key in ("records", "customers", "accepted", "acceptance_rate", "avg_recommendation_score",
                "avg_satisfaction", "avg_churn_probability", "total_product_sales"):
        assert got["kpis"][key]["value"] == pytest.approx(want[key], rel=1e-9), key
    for key in ("total_account_balance", "avg_account_balance", "total_transaction_value", "total_transaction_count"):
        assert got["financial"][key]["value"] == pytest.approx(want[key], rel=1e-9), key
    status = {r["label"]: r["count"] for r in got["distributions"]["recommendation_status"]["rows"]}
    assert status == want["status"]
    stages = {r["label"]: r["count"] for r in got["distributions"]["lifecycle_stage"]["rows"]}
    assert stages == want["stages"]
    top = got["top_product_types"]["rows"][0]
    assert (top["label"], top["recommendations"]) == want["top_type"]
    assert sum(r["share"] for r in got["distributions"]["recommendation_status"]["rows"]) == pytest.approx(1.0)


def test_every_metric_names_the_query_that_produced_it(cli, small_db: Path) -> None:
    got = json.loads(cli("metrics", "--db", small_db, "--json").stdout)
    ids = {q["id"] for q in got["queries"]}
    for section in ("kpis", "financial"):
        for metric in got[section].values():
            assert metric["query"] in ids
    assert all(q["sql"].lstrip().upper().startswith(("SELECT", "WITH")) for q in got["queries"])


def test_metrics_on_data_without_optional_columns_say_absent(cli, tmp_path: Path) -> None:
    (tmp_path / "thin.csv").write_text("customer_id,product_type,product_recommendation_status\n"
                                       "C1,Savings,Accepted\nC2,Savings,Declined\nC2,Mortgage,Declined\n")
    db = tmp_path / "thin.duckdb"
    assert cli("data", "load", tmp_path / "thin.csv", "--db", db).exit_code == 0
    got = json.loads(cli("metrics", "--db", db, "--json").stdout)
    assert got["kpis"]["acceptance_rate"]["value"] == pytest.approx(1 / 3)
    assert got["kpis"]["avg_recommendation_score"]["value"] is None
    assert got["kpis"]["avg_recommendation_score"]["absent_columns"] == ["recommendation_score"]
    text = cli("metrics", "--db", db)
    assert text.exit_code == 0 and "column absent" in text.stdout


def test_metrics_dashboard_renders(cli, small_db: Path) -> None:
    result = cli("metrics", "--db", small_db)
    assert result.exit_code == 0
    for title in ("Key performance indicators", "Financial metrics", "Recommendation status", "Product affinity",
                  "Customer lifecycle stage", "Top product types", "Customer segments"):
        assert title in result.stdout
    assert "█" in result.stdout
