"""`finmatch match` end to end with the real Typer app: run, customer, evaluate, bad input, real UCI data."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.data import writer
from finmatch_agents.stats import rate_interval

REPO = Path(__file__).resolve().parents[2]


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_help(cli) -> None:
    for args in (["match"], ["match", "run"], ["match", "customer"], ["match", "evaluate"]):
        result = cli(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_run_writes_a_versioned_matches_table_the_sandbox_can_read(cli, match_copy: Path) -> None:
    result = cli("match", "run", "--db", match_copy, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)  # one JSON document
    customers = q(match_copy, "SELECT count(DISTINCT customer_id) FROM fpr_records WHERE NOT _fivetran_deleted")[0][0]
    assert out["customers"] == customers and out["rows"] == 3 * customers
    rows = q(match_copy, "SELECT count(*), count(DISTINCT customer_id), min(rank), max(rank), "
                         "count(DISTINCT run_id), any_value(run_id) FROM matches")[0]
    assert rows[:5] == (3 * customers, customers, 1, 3, 1) and rows[5] == out["run_id"]
    meta = json.loads(q(match_copy, "SELECT details FROM finmatch_meta WHERE table_name = 'matches'")[0][0])
    info = json.loads(cli("data", "info", "--db", match_copy, "--json").stdout)
    assert meta["fingerprint"] == info["fingerprint"] and meta["params"]["top"] == 3
    assert q(match_copy, "SELECT run_id, customers FROM match_runs") == [(out["run_id"], customers)]
    bw = out["summary"]["business_weight"]
    assert 0 < bw["top1_changed_by_bank_weights"] <= bw["customers_compared"] == customers
    held = q(match_copy, """SELECT count(*) FROM matches m JOIN fpr_records r ON r.customer_id = m.customer_id
        AND r.product_id = m.product_id AND r.product_recommendation_status = 'Accepted' AND NOT r._fivetran_deleted""")
    assert held == [(0,)]  # never offers a product the customer holds
    read = cli("sql", "SELECT count(*) AS n FROM matches WHERE rank = 1", "--db", match_copy, "--format", "json")
    assert json.loads(read.stdout)["rows"][0]["n"] == customers
    text = cli("match", "run", "--db", match_copy, "--top", "2", "--mode", "active")
    assert text.exit_code == 0 and "Business weight" in text.stdout and "S1" in text.stdout
    assert q(match_copy, "SELECT max(rank), count(DISTINCT run_id), any_value(mode) FROM matches") == [(2, 1, "active")]
    assert q(match_copy, "SELECT count(*) FROM match_runs") == [(2,)]


def test_a_failed_write_leaves_the_previous_matches(cli, match_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("match", "run", "--db", match_copy, "--top", "1").exit_code == 0
    before = q(match_copy, "SELECT count(*), any_value(run_id) FROM matches")

    def broken(con, table, source, details):  # fails after matches was replaced inside the transaction
        raise OSError("disk full")

    monkeypatch.setattr(writer, "record_meta", broken)
    result = cli("match", "run", "--db", match_copy, "--top", "3")
    assert result.exit_code == 3 and "disk is full" in result.stderr  # DatabaseUnwritable
    assert q(match_copy, "SELECT count(*), any_value(run_id) FROM matches") == before
    assert q(match_copy, "SELECT count(*) FROM match_runs") == [(1,)]


def test_customer_explains_metrics_gates_and_ranking(cli, match_db: Path) -> None:
    result = cli("match", "customer", "C0000007", "--db", match_db, "--json")
    assert result.exit_code == 0, result.stderr
    d = json.loads(result.stdout)
    assert d["customer_id"] == "C0000007" and len(d["products"]) == 40 and len(d["offers"]) == 3
    assert [o["rank"] for o in d["offers"]] == [1, 2, 3]
    for p in d["products"]:
        assert p["suitable"] == (not p["failed"]) and {g["rule"] for g in p["gates"]} >= {"H1", "S1", "L1"}
    held = {r[0] for r in q(match_db, "SELECT product_id FROM fpr_records WHERE customer_id = 'C0000007' AND "
                                      "product_recommendation_status = 'Accepted' AND NOT _fivetran_deleted")}
    assert held and all("H1" in p["failed"] for p in d["products"] if p["product_id"] in held)
    text = cli("match", "customer", "C0000007", "--db", match_db)
    assert "risk appetite" in text.stdout and "Every product" in text.stdout


def test_customer_ranking_matches_the_run(cli, match_copy: Path) -> None:
    """`match customer` (one customer, percentiles counted against one aggregate of the book) gives exactly
    the offers, distances and points `match run` (the whole book, percentiles by percent_rank) stored."""
    assert cli("match", "run", "--db", match_copy).exit_code == 0
    for cid in ("C0000777", "C0001500"):
        stored = q(match_copy, "SELECT product_id, distance, preference, customer_interest_rank FROM matches "
                               f"WHERE customer_id = '{cid}' ORDER BY rank")
        d = json.loads(cli("match", "customer", cid, "--db", match_copy, "--json").stdout)
        assert stored and [(o["product_id"], o["distance"], o["points"], o["customer_interest_rank"])
                           for o in d["offers"]] == stored, cid


def test_unknown_customer_suggests_close_ids(cli, match_db: Path) -> None:
    result = cli("match", "customer", "C000007", "--db", match_db)
    assert result.exit_code == 2 and "not in fpr_records" in result.stderr and "C0000007" in result.stderr
    as_json = cli("match", "customer", "nobody", "--db", match_db, "--json")
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["exit_code"] == 2


def test_evaluate_backtests_on_a_time_holdout(cli, match_db: Path) -> None:
    result = cli("match", "evaluate", "--db", match_db, "--json")
    assert result.exit_code == 0, result.stderr
    e = json.loads(result.stdout)
    cutoff = e["cutoff"]
    decided = q(match_db, f"""SELECT count(*) FROM fpr_records t WHERE NOT _fivetran_deleted
        AND product_recommendation_date >= DATE '{cutoff}' AND product_recommendation_status IN ('Accepted', 'Declined')
        AND customer_id IN (SELECT customer_id FROM fpr_records WHERE NOT _fivetran_deleted
                            AND product_recommendation_date < DATE '{cutoff}')""")[0][0]
    a = e["acceptance"]
    made, rest = a["groups"]["engine_top3"], a["groups"]["not_made"]
    assert a["decided_offers"] == decided == made["offers"] + rest["offers"]
    assert rest["offers"] == a["groups"]["suitable_not_top"]["offers"] + a["groups"]["unsuitable"]["offers"]
    assert made["rate"]["low"] == pytest.approx(rate_interval(made["accepted"], made["offers"]).low)
    diff = a["difference"]
    assert diff["low"] < diff["value"] < diff["high"]
    assert diff["value"] == pytest.approx(made["rate"]["value"] - rest["rate"]["value"])
    methods = e["ranking"]["methods"]
    assert {"engine", "popularity", "bank_score", "engine_on_bank_offers"} <= methods.keys()
    assert methods["bank_score"]["recall"]["value"] > 0.9  # its candidates are the offers made: noted as a caveat
    text = cli("match", "evaluate", "--db", match_db, "--test-from", "2025-06-01")
    assert text.exit_code == 0 and "2025-06-01" in text.stdout and "Newcombe" in text.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--weights", "revenue"], 2, "NAME=NUMBER"),
    (["--weights", "profit=2"], 2, "unknown dimension 'profit'"),
    (["--top", "41"], 2, "larger than the catalogue (40 products)"),
    (["--mode", "greedy"], 2, "is not one of active, passive, auto"),
    (["--products", "nope"], 3, "no product catalogue"),
])
def test_bad_flags_and_input_are_clear_errors(cli, match_db: Path, args, code, message) -> None:
    result = cli("match", "run", "--db", match_db, *args)
    assert result.exit_code == code and message in result.stderr


def test_evaluate_bad_date(cli, match_db: Path) -> None:
    assert cli("match", "evaluate", "--db", match_db, "--test-from", "June").exit_code == 2
    late = cli("match", "evaluate", "--db", match_db, "--test-from", "2030-01-01")
    assert late.exit_code == 2 and "no training or no test window" in late.stderr


@pytest.fixture
def uci_db(cli, uci_csv: Path, tmp_path: Path) -> Path:
    db = tmp_path / "uci.duckdb"
    assert cli("data", "load", uci_csv, "--mapping", REPO / "examples" / "bank-marketing.toml", "--db", db,
               "--replace").exit_code == 0
    return db


def test_real_uci_data_without_a_catalogue_is_a_clear_error(cli, uci_db: Path) -> None:
    result = cli("match", "run", "--db", uci_db)
    assert result.exit_code == 3 and "no product catalogue" in result.stderr and "--table products" in result.stderr
    evaluate = cli("match", "evaluate", "--db", uci_db)
    assert evaluate.exit_code == 3 and "product_recommendation_date" in evaluate.stderr


def test_real_uci_data_with_its_one_product_degrades_with_reasons(cli, uci_db: Path) -> None:
    load = cli("data", "load", REPO / "examples" / "uci-products.csv", "--table", "products", "--db", uci_db,
               "--replace")
    assert load.exit_code == 0, load.stderr
    result = cli("match", "run", "--db", uci_db, "--json")
    assert result.exit_code == 0, result.stderr
    s = json.loads(result.stdout)["summary"]
    notes = " | ".join(s["notes"])
    assert "one product in the catalogue" in notes and "churn probability absent" in notes
    assert "gate L1 (lock-in vs churn) skipped" in notes and "profit for the bank absent" in notes
    accepted = q(uci_db, "SELECT count(*) FROM fpr_records WHERE product_recommendation_status = 'Accepted'")[0][0]
    assert s["gates"]["H1"]["customers_affected"] == accepted == s["customers_without_suitable_product"]
    assert q(uci_db, "SELECT count(*), count(distance) FROM matches") == [(45_211 - accepted, 0)]  # no made-up 0
