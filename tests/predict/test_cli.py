"""`finmatch predict` end to end with the real Typer app on real DuckDB files: train, registry, scores,
next best action, monitoring, the leakage guard, bad input, and the UCI file with both splits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.predict.conftest import FAST


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def run(cli, *args):
    result = cli("predict", *args)
    return result, (json.loads(result.stdout.splitlines()[-1]) if "--json" in args and result.stdout else None)


def test_help(cli) -> None:
    for args in (["predict"], ["predict", "train"], ["predict", "score"], ["predict", "monitor"]):
        result = cli(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout


def test_train_reports_an_honest_time_holdout_and_saves_the_gated_model(cli, trained, tmp_path: Path) -> None:
    d, db = trained["conversion"], trained["db"]
    rows = q(db, "SELECT count(*), count(*) FILTER (WHERE product_recommendation_status = 'Accepted') FROM fpr_records "
                 "WHERE NOT _fivetran_deleted AND product_recommendation_status IN ('Accepted', 'Declined')")[0]
    assert (d["rows"], d["positives"]) == rows
    sp = d["split"]
    assert sp["kind"] == "time-ordered" and sp["train_rows"] + sp["test_rows"] == rows[0]
    # the cut is a date: every training offer is older than every test offer (checked in SQL)
    older = q(db, f"SELECT count(*) FROM fpr_records WHERE NOT _fivetran_deleted AND product_recommendation_status "
                  f"IN ('Accepted', 'Declined') AND product_recommendation_date < DATE '{sp['test_from']}'")[0][0]
    assert older == sp["train_rows"] and 0.15 < sp["test_rows"] / rows[0] < 0.3
    for key in ("logistic", "gbm", "bank_score"):
        auc = d["holdout"][key]["auc"]
        assert auc["low"] <= auc["value"] <= auc["high"] and 0.6 < auc["value"] < 0.95
    # the bank's score AUC, independently: the test window's decided offers in SQL, sklearn's AUC
    ys = q(db, f"SELECT (product_recommendation_status = 'Accepted')::INT, recommendation_score FROM fpr_records WHERE "
               f"NOT _fivetran_deleted AND product_recommendation_status IN ('Accepted', 'Declined') AND "
               f"product_recommendation_date >= DATE '{sp['test_from']}'")
    y, s = np.array([r[0] for r in ys]), np.array([r[1] for r in ys])
    assert abs(roc_auc_score(y, s) - d["holdout"]["bank_score"]["auc"]["value"]) < 1e-9
    diff = d["comparisons"]["gbm_minus_logistic_auc"]
    assert d["kept"] == ("gbm" if diff["low"] > 0 else "logistic")
    assert d["kfold"]["folds"] == 2 and set(d["kfold"]["models"]) == {"logistic", "gbm"}
    excluded = {e["column"]: e["rule"] for e in d["excluded"]}
    assert excluded["product_recommendation_status"] == "label"
    assert excluded["product_sales_amount"] == excluded["product_sales_date"] == "after-outcome"
    assert excluded["recommendation_score"] == "bank-score" and excluded["customer_name"] == "identifier"
    assert excluded["customer_lifecycle_stage_transition_date"] == "after-outcome"  # dates after the offer
    names = {f["name"] for f in d["features"]}
    assert "customer_product_affinity" in names and not names & set(excluded)
    assert d["importance"][0]["feature"] == "customer_product_affinity"  # the planted driver
    listed = json.loads(cli("predict", "list", "--json").stdout)["models"]
    promoted = {m["id"] for m in listed if m["promoted"]}
    assert promoted == {trained["conversion"]["model_id"], trained["churn"]["model_id"]}
    meta = json.loads(Path(d["path"], "model.json").read_text())
    info = json.loads(cli("data", "info", "--db", db, "--json").stdout)
    assert meta["fingerprint"] == info["fingerprint"] and meta["task"] == "conversion"
    text = cli("predict", "show", d["model_id"])
    assert text.exit_code == 0 and "Time-ordered holdout" in text.stdout and "Leakage guard" in text.stdout


def test_churn_learns_the_outcome_not_the_probability(trained) -> None:
    d = trained["churn"]
    excluded = {e["column"]: e["rule"] for e in d["excluded"]}
    assert excluded["customer_churned"] == "label" and excluded["customer_churn_probability"] == "bank-score"
    churned = q(trained["db"], "SELECT count(*) FILTER (WHERE c), count(*) FROM (SELECT bool_or(customer_churned) c "
                               "FROM fpr_records WHERE NOT _fivetran_deleted GROUP BY customer_id)")[0]
    assert (d["positives"], d["rows"]) == churned
    assert {"accepted_offers", "financial_acumen"} <= {f["name"] for f in d["features"] if f["source"] == "features"}
    assert d["holdout"]["bank_score"]["auc"]["value"] > 0.75


def test_scores_table_is_written_whole_per_task_and_read_by_the_sandbox(cli, trained) -> None:
    db = trained["db"]
    result, d = run(cli, "score", "conversion", "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    open_offers = q(db, "SELECT count(*) FROM fpr_records WHERE NOT _fivetran_deleted AND "
                        "product_recommendation_status IN ('Pending', 'In Progress')")[0][0]
    assert d["rows"] == open_offers and d["model_id"] == trained["conversion"]["model_id"]
    result, _ = run(cli, "score", "churn", "--db", db, "--json")
    assert result.exit_code == 0
    per_task = dict(q(db, "SELECT task, count(*) FROM scores GROUP BY 1"))
    customers = q(db, "SELECT count(DISTINCT customer_id) FROM fpr_records WHERE NOT _fivetran_deleted")[0][0]
    assert per_task == {"conversion": open_offers, "churn": customers}
    assert q(db, "SELECT min(score) >= 0 AND max(score) <= 1 FROM scores") == [(True,)]
    runs = q(db, "SELECT task, model_id, rows FROM score_runs ORDER BY created_at")
    assert [r[0] for r in runs] == ["conversion", "churn"] and runs[1][2] == customers
    # scoring again replaces only that task's rows
    assert cli("predict", "score", "conversion", "--db", db).exit_code == 0
    runs_per_task = dict(q(db, "SELECT task, count(DISTINCT score_run_id) FROM scores GROUP BY 1"))
    assert runs_per_task == {"conversion": 1, "churn": 1}
    read = cli("sql", "SELECT count(*) AS n FROM scores WHERE task = 'churn'", "--db", db, "--format", "json")
    assert json.loads(read.stdout)["rows"][0]["n"] == customers


def test_one_customer_scores_agree_with_the_batch_and_give_reasons(cli, trained) -> None:
    db = trained["db"]
    assert cli("predict", "score", "churn", "--db", db).exit_code == 0
    cid, batch = q(db, "SELECT customer_id, score FROM scores WHERE task = 'churn' ORDER BY customer_id LIMIT 1")[0]
    result, one = run(cli, "score", "churn", "--customer", cid, "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    assert abs(one["rows"][0]["score"] - batch) < 1e-9 and one["rows"][0]["reasons"]
    text = cli("predict", "explain", "churn", "--customer", cid, "--db", db)
    assert text.exit_code == 0 and "churn risk" in text.stdout and "typical" in text.stdout


def test_next_best_action_is_suitable_and_ranked_by_expected_value(cli, trained) -> None:
    db = trained["db"]
    result, _ = run(cli, "score", "nba", "--top", "2", "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    rows = q(db, "SELECT customer_id, rank, product_id, score, expected_value FROM scores WHERE task = 'nba' "
                 "ORDER BY customer_id, rank")
    assert rows and {r[1] for r in rows} <= {1, 2}
    by_customer: dict[str, list] = {}
    for r in rows:
        by_customer.setdefault(r[0], []).append(r)
    assert all(len(v) == 1 or v[0][4] >= v[1][4] for v in by_customer.values())
    held = q(db, """SELECT count(*) FROM scores s JOIN fpr_records r ON r.customer_id = s.customer_id AND
        r.product_id = s.product_id AND r.product_recommendation_status = 'Accepted' AND NOT r._fivetran_deleted
        WHERE s.task = 'nba'""")
    assert held == [(0,)]  # the already-held gate: never proposes a product the customer holds
    cid = rows[0][0]
    match = json.loads(cli("match", "customer", cid, "--db", db, "--json").stdout)
    suitable = {p["product_id"] for p in match["products"] if p["suitable"]}
    assert {r[2] for r in by_customer[cid]} <= suitable  # the matching engine's gates agree


def test_monitor_promote_delete(cli, trained) -> None:
    db = trained["db"]
    result, d = run(cli, "monitor", "conversion", "--db", db, "--json")
    assert result.exit_code == 0, result.stderr
    assert d["stability"]["score"]["level"] == "stable"
    assert "note" in d["new_outcomes"]  # the data has no outcome after the training data
    conv = trained["conversion"]["model_id"]
    result, gone = run(cli, "delete", conv, "--json")
    assert result.exit_code == 0 and gone == {"deleted": conv, "was_promoted": True}
    result = cli("predict", "score", "conversion", "--db", db)
    assert result.exit_code == 2 and "no promoted conversion model" in result.stderr


def test_a_failed_write_leaves_the_previous_scores(cli, trained, monkeypatch: pytest.MonkeyPatch) -> None:
    from finmatch_agents.data import writer

    db = trained["db"]
    assert cli("predict", "score", "churn", "--db", db).exit_code == 0
    before = q(db, "SELECT count(*), any_value(score_run_id) FROM scores")

    def broken(con, table, source, details):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "record_meta", broken)
    result = cli("predict", "score", "churn", "--db", db)
    assert result.exit_code == 3 and "disk is full" in result.stderr
    assert q(db, "SELECT count(*), any_value(score_run_id) FROM scores") == before


def _write(db: Path, sql: str) -> None:
    con = duckdb.connect(str(db))
    con.execute(sql)
    con.close()


def test_bad_input_exits_3_naming_task_column_and_count(cli, match_copy: Path, tmp_path: Path) -> None:
    few = tmp_path / "few.duckdb"
    shutil.copyfile(match_copy, few)
    _write(few, "UPDATE fpr_records SET product_recommendation_status = 'Declined' WHERE record_id NOT IN (SELECT "
                "record_id FROM fpr_records WHERE product_recommendation_status = 'Accepted' ORDER BY record_id "
                "LIMIT 30)")
    result = cli("predict", "train", "conversion", "--db", few, *FAST)
    assert result.exit_code == 3 and "conversion" in result.stderr and "product_recommendation_status" in result.stderr
    left = q(few, "SELECT count(*) FROM fpr_records WHERE NOT _fivetran_deleted AND "
                  "product_recommendation_status = 'Accepted'")[0][0]  # soft-deleted rows never count
    assert left < 50 and f"only {left} positives" in result.stderr
    _write(few, "UPDATE fpr_records SET product_recommendation_status = 'Declined'")
    result = cli("predict", "train", "conversion", "--db", few)
    assert result.exit_code == 3 and "constant" in result.stderr
    _write(few, "ALTER TABLE fpr_records DROP COLUMN customer_churned")
    result = cli("predict", "train", "churn", "--db", few)
    assert result.exit_code == 3 and "customer_churned" in result.stderr
    assert not Path("data", "models").exists()  # never a model saved from a failed fit
    result = cli("predict", "train", "conversion", "--db", match_copy, "--allow-feature", "customer_name")
    assert result.exit_code == 2 and "identifier" in result.stderr


def test_no_usable_input_and_a_model_whose_columns_the_data_lacks(cli, trained, tmp_path: Path) -> None:
    bare = tmp_path / "bare.duckdb"
    _write(bare, f"ATTACH '{trained['db']}' AS src (READ_ONLY); CREATE TABLE fpr_records AS SELECT record_id, "
           "customer_id, product_recommendation_status, product_recommendation_date, 'x' AS constant_text "
           "FROM src.fpr_records WHERE NOT _fivetran_deleted")
    result = cli("predict", "train", "conversion", "--db", bare, *FAST)
    assert result.exit_code == 3 and "no usable input" in result.stderr and "constant_text" in result.stderr
    result = cli("predict", "score", "conversion", "--db", bare)
    assert result.exit_code == 3 and "needs column(s) the data lacks" in result.stderr
    assert "customer_product_affinity" in result.stderr


def test_the_guard_flags_a_single_input_that_is_too_good(cli, match_copy: Path) -> None:
    _write(match_copy, "ALTER TABLE fpr_records ADD COLUMN call_outcome_code INTEGER; UPDATE fpr_records SET "
                       "call_outcome_code = CASE WHEN product_recommendation_status = 'Accepted' THEN 7 ELSE 2 END")
    result, d = run(cli, "evaluate", "conversion", "--db", match_copy, "--json", *FAST)
    assert result.exit_code == 0, result.stderr
    flagged = {e["column"]: e for e in d["excluded"]}["call_outcome_code"]
    assert flagged["rule"] == "leak-auc" and "1.000" in flagged["reason"]
    assert "call_outcome_code" not in {f["name"] for f in d["features"]}
    result, allowed = run(cli, "evaluate", "conversion", "--db", match_copy, "--json", "--allow-feature",
                          "call_outcome_code", *FAST)
    assert "call_outcome_code" in {f["name"] for f in allowed["features"]}
    assert allowed["holdout"]["logistic"]["auc"]["value"] > 0.99


def test_uci_time_split_is_the_headline_and_duration_is_excluded(cli, uci_db: Path) -> None:
    result, d = run(cli, "evaluate", "conversion", "--db", uci_db, "--json", "--folds", "3", "--kfold-rows", "9000")
    assert result.exit_code == 0, result.stderr
    assert d["split"]["by"] == "file order (record id)" and d["split"]["test_from_row"] == "UCI-R036170"
    excluded = {e["column"]: e for e in d["excluded"]}
    assert excluded["duration"]["rule"] == "after-outcome" and "call" in excluded["duration"]["reason"]
    assert "duration" not in {f["name"] for f in d["features"]}
    time_auc = d["holdout"][d["kept"]]["auc"]["value"]
    random_auc = d["kfold"]["models"][d["kept"]]["mean"]
    assert 0.6 < time_auc < 0.75 and random_auc > time_auc + 0.04  # a random split flatters the model
    assert "bank_score" not in d["holdout"]  # the file has no bank score: nothing invented
    leaky = cli("predict", "train", "conversion", "--db", uci_db, "--allow-feature", "duration", "--json", *FAST)
    info = json.loads(leaky.stdout)
    assert info["leaky"] == ["duration"] and info["holdout"]["logistic"]["auc"]["value"] > time_auc + 0.05
    refused = cli("predict", "promote", info["model_id"])
    assert refused.exit_code == 2 and "known only after the outcome" in refused.stderr
