"""The `finmatch recommend` commands on real DuckDB files: serving, export, feedback, bad input, the job."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.config import Settings
from finmatch_agents.errors import UsageError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.recommend.api import recommendations_for
from finmatch_agents.recommend.data import load_book
from finmatch_agents.warehouse.engine import DuckDBEngine
from tests.recommend.conftest import FAST, FAST_FLAGS, tiny_db


@pytest.fixture
def state(trained: dict, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("FINMATCH_STATE_DIR", str(trained["state"]))
    return trained


def _held(db: Path, customer: str) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT product_id FROM fpr_records WHERE customer_id = ? AND NOT _fivetran_deleted AND "
                       "product_recommendation_status = 'Accepted'", [customer]).fetchall()
    con.close()
    return {r[0] for r in rows}


def test_recommend_for_lists_products_not_held_with_scores_and_reasons(cli, state: dict) -> None:
    result = cli("recommend", "for", "C0000001", "--top", "3", "--db", state["db"], "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["customer_id"] == "C0000001" and got["model_id"] == state["model_id"] and got["promoted"]
    assert got["baseline"] in ("popularity", "segment_popularity") and got["model_version"]
    assert len(got["products"]) == 3 and [p["rank"] for p in got["products"]] == [1, 2, 3]
    scores = [p["score"] for p in got["products"]]
    assert scores == sorted(scores, reverse=True)
    assert not {p["product_id"] for p in got["products"]} & _held(state["db"], "C0000001")
    assert all(p["reason"] for p in got["products"])
    text = cli("recommend", "for", "C0000001", "--db", state["db"])
    assert text.exit_code == 0 and "1. " in text.stdout and "score" in text.stdout


def test_recommend_for_refuses_unknown_customers_and_missing_models(cli, state: dict, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = cli("recommend", "for", "C000001", "--db", state["db"])
    assert unknown.exit_code == 2 and "closest" in unknown.stderr and "Traceback" not in unknown.stderr
    too_many = cli("recommend", "for", "C0000001", "--top", "11", "--db", state["db"])
    assert too_many.exit_code == 2 and "--top 11" in too_many.stderr
    monkeypatch.setenv("FINMATCH_STATE_DIR", str(tmp_path / "empty"))
    none = cli("recommend", "for", "C0000001", "--db", state["db"])
    assert none.exit_code == 2 and "recommend train" in none.stderr
    with DuckDBEngine(state["db"]) as engine, pytest.raises(UsageError, match="no trained recommender"):
        recommendations_for(Settings(db=state["db"], state_dir=tmp_path / "empty"), engine, QueryLog(), "C1", 3)


def test_export_writes_every_customers_top_products(cli, state: dict, tmp_path: Path) -> None:
    out = tmp_path / "top.parquet"
    result = cli("recommend", "export", "--top", "5", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*), count(DISTINCT customer_id), max(rank) FROM '{out}'").fetchone()
    assert rows == (meta["rows"], meta["customers"], 5) and meta["customers"] > 3_900
    con.execute(f"ATTACH '{state['db']}' AS bank (READ_ONLY)")
    held = con.execute(f"""SELECT count(*) FROM '{out}' AS e JOIN (SELECT * FROM bank.fpr_records
        WHERE NOT _fivetran_deleted AND product_recommendation_status = 'Accepted') AS h
        USING (customer_id, product_id)""").fetchone()
    assert held == (0,)  # nobody is offered what they hold
    csv = cli("recommend", "export", "--format", "csv", "--top", "2", "-o", tmp_path / "top.csv")
    assert csv.exit_code == 0 and (tmp_path / "top.csv").read_text().startswith('"customer_id","rank"')
    bad = cli("recommend", "export", "--format", "xlsx")
    assert bad.exit_code == 2


def test_feedback_is_stored_append_only_and_changes_the_list(cli, state: dict, planted_copy: Path) -> None:
    first = json.loads(cli("recommend", "for", "C0000002", "--db", planted_copy, "--json").stdout)["products"][0]
    done = cli("recommend", "feedback", "C0000002", first["product_id"], "--declined", "--note", "not now",
               "--db", planted_copy, "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["model_id"] == state["model_id"]
    again = json.loads(cli("recommend", "for", "C0000002", "--db", planted_copy, "--json").stdout)
    assert first["product_id"] not in {p["product_id"] for p in again["products"]}
    cli("recommend", "feedback", "C0000002", first["product_id"], "--rating", "3", "--db", planted_copy)
    con = duckdb.connect(str(planted_copy), read_only=True)
    rows = con.execute("SELECT feedback_id, outcome, rating, note, recorded_by, model_id, source "
                       "FROM recommend_feedback ORDER BY feedback_id").fetchall()
    con.close()
    assert [r[:4] for r in rows] == [(1, "declined", None, "not now"), (2, None, 3, None)]
    assert rows[0][4] and rows[0][5] == state["model_id"] and rows[0][6] == "cli"
    assert cli("recommend", "feedback", "C0000003", "CC-05", "--rating", "5", "--db", planted_copy).exit_code == 0
    with DuckDBEngine(planted_copy) as engine:  # the next training and evaluation see it
        book = load_book(engine, QueryLog(), "fpr_records")
    c, j, d = book.index_of("C0000003"), book.product_index("CC-05"), book.index_of("C0000002")
    k = book.product_index(first["product_id"])
    assert c is not None and j is not None and d is not None and k is not None
    assert book.accepted_before(None)[c, j] and book.accepted_between(book.last_day + 1, None)[c, j]
    assert book.declined_by_feedback(None)[d, k]  # the decline stands: a rating of 3 is neutral
    assert book.feedback.rows == 3 and len(book.feedback.c) == 3


def test_bad_feedback_is_refused_with_exit_3_and_nothing_written(cli, state: dict, planted_copy: Path,
                                                                  tmp_path: Path) -> None:
    rating = cli("recommend", "feedback", "C0000002", "CC-01", "--rating", "6", "--db", planted_copy)
    assert rating.exit_code == 3 and "outside 1..5" in rating.stderr
    product = cli("recommend", "feedback", "C0000002", "CC-1", "--accepted", "--db", planted_copy)
    assert product.exit_code == 3 and "closest: CC-01" in product.stderr
    customer = cli("recommend", "feedback", "C00000022", "CC-01", "--accepted", "--db", planted_copy)
    assert customer.exit_code == 3 and "customer_id" in customer.stderr and "closest" in customer.stderr
    bad = tmp_path / "fb.csv"
    bad.write_text("customer_id,product_id,rating,outcome\nC0000002,CC-01,5,\nC0000003,CC-01,,maybe\n")
    file = cli("recommend", "feedback", "--file", bad, "--db", planted_copy)
    assert file.exit_code == 3 and "row 3" in file.stderr and "column 'outcome'" in file.stderr
    unknown = tmp_path / "fb2.csv"
    unknown.write_text("customer_id,product_id,rating\nC0000002,CC-01,5\nC9999999,CC-01,4\n")
    file2 = cli("recommend", "feedback", "--file", unknown, "--db", planted_copy)
    assert file2.exit_code == 3 and "row 3" in file2.stderr
    con = duckdb.connect(str(planted_copy), read_only=True)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    con.close()
    assert "recommend_feedback" not in tables  # nothing written by any of them
    good = tmp_path / "fb3.csv"
    good.write_text("customer_id,product_id,rating,note\nC0000002,CC-01,5,liked it\nC0000003,CC-01,1,\n")
    assert cli("recommend", "feedback", "--file", good, "--db", planted_copy).exit_code == 0


def test_bad_data_is_refused_with_exit_3(cli, tmp_path: Path) -> None:
    one = tiny_db(tmp_path / "one.duckdb", [(f"C{i}", "P1", "Savings", "Accepted", i) for i in range(30)])
    r = cli("recommend", "evaluate", "--db", one, *FAST_FLAGS)
    assert r.exit_code == 3 and "at least two" in r.stderr
    rows = [(f"C{i}", f"P{i % 3}", "Savings", "Declined", i) for i in range(200)]
    rows += [(f"C{i}", "P1", "Savings", "Accepted", 150 + i) for i in range(40)]
    late = tiny_db(tmp_path / "late.duckdb", rows)
    r = cli("recommend", "evaluate", "--db", late, *FAST_FLAGS)
    assert r.exit_code == 3 and "no accepted offers before" in r.stderr
    r = cli("recommend", "evaluate", "--db", late, "--k", "5", *FAST_FLAGS)
    assert r.exit_code == 3 and "larger than the catalogue" in r.stderr
    r = cli("recommend", "evaluate", "--db", late, "--candidates", "svd")
    assert r.exit_code == 2 and "svd" in r.stderr


def test_a_recommend_train_job_reports_the_trend_and_promotes_only_through_the_gate(
        cli, trained: dict, plain_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finmatch_agents.recommend import train as rec_train
    from finmatch_agents.schedule import recommend as job

    monkeypatch.setattr(job, "train_and_save", lambda s, **kw: rec_train.train_and_save(s, FAST, **kw))
    db = tmp_path / "plain.duckdb"
    shutil.copyfile(plain_db, db)
    db.chmod(0o644)
    earlier = Path(trained["path"])  # an earlier run (on other data) in the registry: the trend has two rows
    shutil.copytree(earlier, tmp_path / "state" / "recommenders" / earlier.name)
    Path("finmatch.toml").write_text(f'[finmatch]\ndb = "{db}"\nstate_dir = "state"\nreports_dir = "reports"\n\n'
                                     '[schedule.jobs.rec]\ncron = "0 4 * * 1"\ntask = "recommend-train"\nkeep = 5\n'
                                     'format = ["md", "html"]\n')
    run = cli("schedule", "run-once", "rec")
    assert run.exit_code == 0, run.stderr
    listed = json.loads(cli("recommend", "list", "--json").stdout)
    assert listed["promoted"] is None and len(listed["recommenders"]) == 2
    newest = listed["recommenders"][0]
    assert newest["model_id"] == run.stdout.strip() and not newest["promotable"]
    report = (tmp_path / "reports" / "rec" / "latest.md").read_text()
    assert "## Leaderboard" in report and "no candidate beats" in report and "## Trend across runs" in report
    assert report.count("| rec-") == 2  # both runs in the trend
    assert len(list((tmp_path / "reports" / "rec").glob("20*.md"))) == 1
    # what changed since the previous saved recommender of this table (the earlier run, on other data)
    changes = report.split("## Changes since the previous run", 1)[1].split("## Trend", 1)[0]
    assert f"Against `{earlier.name}`" in changes and "Data: fingerprint " in changes
    assert "Gate winner: Item-item collaborative filtering → none." in changes
    assert "| Popularity (overall): MAP@3 on the test window |" in changes
    page = (tmp_path / "reports" / "rec" / "latest.html").read_text()
    assert page.startswith("<!doctype html>") and "<h2>Leaderboard (test window, K = 3)</h2>" in page
    assert "<h2>Trend across runs</h2>" in page and page.count("<td>rec-") == 2 and "no candidate beats" in page
    assert len(list((tmp_path / "reports" / "rec").glob("20*.html"))) == 1
    refused = cli("recommend", "promote", newest["model_id"])
    assert refused.exit_code == 2 and "did not pass the promotion gate" in refused.stderr
    log = (tmp_path / "state" / "logs" / "rec.log").read_text()
    assert "not promoted" in log
