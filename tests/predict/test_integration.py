"""The models inside the analysis and the chat: the Performance agent cites the promoted models' holdout
AUC and calibration (and adds nothing when no model is promoted), the chat answers "which customers are most
likely to churn / to accept a Mortgage offer?" from the scores table through the sandbox, and the API facade
scores one customer as the batch does."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from finmatch_agents.chat.session import ChatSession
from finmatch_agents.config import load_settings
from finmatch_agents.evidence import QueryLog
from finmatch_agents.predict.api import model_summary, score_customer
from finmatch_agents.warehouse.engine import DuckDBEngine


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def ask(db: Path, question: str):
    session = ChatSession(load_settings(db=db, env={}), "predict")
    try:
        return session.ask(question)
    finally:
        session.close()


def test_chat_answers_from_the_scores_table_and_says_how_to_get_them(cli, trained) -> None:
    db = trained["db"]
    before = ask(db, "Which customers are most likely to churn?")
    assert before.kind == "unavailable" and before.matched == "likely_churners"
    assert "`finmatch predict score churn`" in before.text and not before.query_ids
    assert cli("predict", "score", "churn", "--db", db).exit_code == 0
    assert cli("predict", "score", "conversion", "--db", db).exit_code == 0
    top = q(db, "SELECT customer_id, score, model_id FROM scores WHERE task = 'churn' ORDER BY score DESC, customer_id "
                "LIMIT 10")
    (above,) = q(db, "SELECT count(*) FROM scores WHERE task = 'churn' AND score >= 0.5")[0]
    mortgage = q(db, "SELECT customer_id, product_id, score FROM scores WHERE task = 'conversion' AND "
                     "product_type = 'Mortgage' ORDER BY score DESC, record_id LIMIT 10")

    churn = ask(db, "Which customers are most likely to churn?")
    assert churn.kind == "verified" and churn.matched == "likely_churners" and churn.query_ids
    assert [r["customer_id"] for r in churn.tables[0].rows] == [r[0] for r in top]
    assert f"**{top[0][0]}** is highest at {top[0][1] * 100:.1f}%" in churn.text
    assert f"{above:,} have a churn probability of 50% or more" in churn.text
    assert top[0][2] == trained["churn"]["model_id"] and trained["churn"]["model_id"] in churn.text

    accept = ask(db, "which customers are most likely to accept a mortgage offer?")
    assert accept.matched == "likely_acceptors" and accept.kind == "verified"
    assert [(r["customer_id"], r["product_id"]) for r in accept.tables[0].rows] == [r[:2] for r in mortgage]
    assert all(r["product_id"].startswith("MTG") for r in accept.tables[0].rows)
    # a count by segment is still the bank's churn-probability ranking, not the model's list
    assert ask(db, "how many customers are likely to churn, by segment?").matched == "high_churn_customers"


def test_performance_agent_cites_the_promoted_models(cli, trained) -> None:
    db = trained["db"]
    result = cli("analyze", "--db", db, "--focus", "performance", "--json")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    found = {e["title"]: e for e in events if e["event"] == "finding"}
    for task in ("conversion", "churn"):
        d = trained[task]
        auc = d["holdout"][d["kept"]]["auc"]
        statement = found[f"Predictive model: {task}"]["statement"]
        assert d["model_id"] in statement and f"AUC {auc['value']:.3f} (95% interval {auc['low']:.3f}" in statement
        assert f"logistic baseline reaches {d['holdout']['logistic']['auc']['value']:.3f}" in statement
        assert f"tested on the {d['split']['test_rows']:,} " in statement
    report = Path(next(e for e in events if e["event"] == "report_written")["path"]).read_text()
    assert "Calibration of the conversion model on its time-ordered holdout" in report


def test_no_promoted_model_adds_nothing_to_the_report(cli, match_copy: Path) -> None:
    result = cli("analyze", "--db", match_copy, "--focus", "performance", "--json")
    assert result.exit_code == 0, result.stderr
    assert "Predictive model" not in result.stdout


def test_model_summary_and_one_customer_scoring(cli, trained) -> None:
    db, state = trained["db"], Path("data")
    summary = model_summary(state)
    assert summary is not None and set(summary) == {"conversion", "churn"}
    assert summary["churn"]["model_id"] == trained["churn"]["model_id"]
    assert model_summary(Path("elsewhere")) is None
    assert cli("predict", "score", "conversion", "--db", db).exit_code == 0
    cid, n = q(db, "SELECT customer_id, count(*) FROM scores WHERE task = 'conversion' GROUP BY 1 "
                   "ORDER BY 2 DESC, 1 LIMIT 1")[0]
    batch = dict(q(db, f"SELECT record_id, score FROM scores WHERE task = 'conversion' AND customer_id = '{cid}'"))
    with DuckDBEngine(db) as engine:
        one = score_customer(engine, QueryLog(), state, "fpr_records", cid)
        churn = score_customer(engine, QueryLog(), state, "fpr_records", cid, task="churn")
        nobody = score_customer(engine, QueryLog(), state, "fpr_records", "NOBODY")
    assert one is not None and len(one["scores"]) == n
    assert all(abs(r["score"] - batch[r["record_id"]]) < 1e-12 for r in one["scores"])
    assert all(r["reasons"] and r["reasons"][0]["direction"] in {"raises", "lowers"} for r in one["scores"])
    assert churn is not None and len(churn["scores"]) == 1 and churn["model_id"] == trained["churn"]["model_id"]
    assert nobody is not None and nobody["scores"] == []
