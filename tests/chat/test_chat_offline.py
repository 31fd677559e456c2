"""Chat without a model: slash commands, verified questions, honest "can't answer", /save, `ask`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from finmatch_agents.chat.questions import match
from finmatch_agents.chat.session import ChatSession
from finmatch_agents.cli.repl import ChatCompleter
from finmatch_agents.config import load_settings


@pytest.fixture
def session(small_db: Path, isolated: Path):
    s = ChatSession(load_settings(db=small_db, env={}), "t1")
    yield s
    s.close()


def active(db: Path, sql: str) -> list[tuple]:
    """Independent DuckDB computation in another process (this one holds a sandbox connection to the file)."""
    sql = sql.replace("{A}", "(SELECT * FROM fpr_records WHERE NOT _fivetran_deleted)")
    code = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))")
    out = subprocess.run([sys.executable, "-c", code, str(db), sql], capture_output=True, text=True, check=True)
    return [tuple(r) for r in json.loads(out.stdout)]


def test_highest_churn_segment(session: ChatSession, small_db: Path) -> None:
    answer = session.ask("Which segment has the highest churn?")
    assert answer.kind == "verified" and answer.matched == "churn_by_segment"
    (seg, churn), *_ = active(small_db, """SELECT s, avg(c) a FROM (SELECT customer_segment s, customer_id,
        avg(customer_churn_probability) c FROM {A} GROUP BY 1, 2) GROUP BY s ORDER BY a DESC""")
    assert answer.text.startswith(f"**{seg}** has the highest mean churn probability ({churn * 100:.1f}%)")
    assert answer.query_ids == ["Q1"] and "[Q1]" in answer.text
    assert answer.tables[0].rows[0]["label"] == seg


def test_declined_mortgage_offers_last_quarter(session: ChatSession, small_db: Path) -> None:
    answer = session.ask("show me declined mortgage offers last quarter")
    assert answer.matched == "offers"
    (total,) = active(small_db, """SELECT count(*) FROM {A} WHERE product_recommendation_status = 'Declined' AND
        product_type = 'Mortgage' AND product_recommendation_date >= DATE '2026-07-01'""")[0]
    assert f"{total:,} declined Mortgage recommendations were made in the latest quarter of the data (2026-07-01 to " \
           "2026-09-30)" in answer.text
    assert all(r["product_type"] == "Mortgage" for r in answer.tables[0].rows)


def test_unknown_questions_are_not_answered(session: ChatSession) -> None:
    answer = session.ask("What will the weather be tomorrow?")
    assert answer.kind == "unknown" and "can't answer that offline" in answer.text
    assert "/sql" in answer.text and not re.search(r"\d%|\d,\d", answer.text) and not answer.query_ids
    assert "no future" in answer.text and "“weather”" in answer.text


def test_slash_commands(session: ChatSession) -> None:
    assert "fpr_records" in str(session.ask("/tables").tables[0].rows)
    described = session.ask("/describe fpr_records").tables[0].rows
    assert {"column": "recommendation_score", "type": "DOUBLE"}.items() <= described[
        [r["column"] for r in described].index("recommendation_score")].items()
    result = session.ask("/sql SELECT channel, count(*) AS n FROM fpr_records GROUP BY 1 ORDER BY 1")
    assert result.kind == "command" and len(result.tables[0].rows) == 5
    refused = session.ask("/sql DELETE FROM fpr_records")
    assert refused.kind == "error" and "select-only" in refused.text and refused.exit_code == 3
    assert session.ask("/metrics").tables[0].rows
    assert "rows 1-20" in session.ask("/explore fpr_records channel = 'Email'").text.lower()
    assert session.ask("/help").text.count("- ") > 20
    assert session.ask("/nope").kind == "error"
    assert session.ask("/exit").kind == "exit"


def test_analyze_history_report_and_explain(session: ChatSession) -> None:
    ran = session.ask("/analyze optimization")
    assert ran.kind == "command" and "finished: report" in ran.text
    assert "Executive summary" in session.ask("/report").text
    assert "completed" in str(session.ask("/history").tables[0].rows)
    why = session.ask("Why is the optimization report recommending suppressing Wealth Management offers?")
    assert why.kind == "verified" and "Suppress Wealth Management offers to Mass Market customers" in why.text
    assert why.query_ids and why.query_ids[0].startswith("Q2")


def test_save_writes_the_session_with_provenance(session: ChatSession) -> None:
    session.ask("which channel converts best?")
    session.ask("/sql SELECT count(*) AS n FROM products")
    saved = Path(re.search(r"`(.+?)`", session.ask("/save").text).group(1))
    text = saved.read_text()
    assert "## which channel converts best?" in text and "Mobile App" in text
    assert "## Appendix — Evidence & provenance" in text and "### Q1 — Acceptance rate by channel" in text
    assert "### Q2 — chat /sql" in text and "SELECT count(*) AS n FROM products" in text


def test_ask_gives_the_same_verified_answer_as_chat(cli, session: ChatSession, small_db: Path) -> None:
    in_chat = session.ask("Which segment has the highest churn?")
    result = cli("ask", "Which segment has the highest churn?", "--db", small_db, "--json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["matched"] == in_chat.matched and got["markdown"] == in_chat.text  # both sessions start at Q1
    assert "**" not in got["text"] and got["text"].startswith(in_chat.text.split("**")[1])  # plain text
    expected = json.loads(json.dumps(in_chat.to_dict()["tables"][0]["rows"]))
    # parallel aggregation may sum in another order: equal to the last few bits
    assert got["tables"][0]["rows"] == [{k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v
                                         for k, v in row.items()} for row in expected]
    text = cli("ask", "Which segment has the highest churn?", "--db", small_db)
    assert "has the highest mean churn probability" in text.stdout


def test_ask_refused_sql_exits_3(cli, small_db: Path) -> None:
    result = cli("ask", "/sql DROP TABLE fpr_records", "--db", small_db, "--json")
    assert result.exit_code == 3 and json.loads(result.stdout)["kind"] == "error"


def test_question_matching() -> None:
    assert match("Which segment has the highest churn?").question.id == "churn_by_segment"
    found = match("list accepted credit card recommendations this year")
    assert found.question.id == "offers" and found.params == {"status": "Accepted", "product_type": "Credit Card",
                                                              "period": "year"}
    assert match("how do FIS and Temenos compare").question.id == "source_systems"
    assert match("what is the meaning of life") is None


def test_completion(session: ChatSession) -> None:
    from prompt_toolkit.document import Document

    completer = ChatCompleter(session)

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text), None)]

    assert complete("/de") == ["/describe"]
    assert complete("/describe fp") == ["fpr_records"]
    assert "customer_segment" in complete("SELECT customer_seg")


def test_sessions_are_listed_and_ids_continue(cli, small_db: Path, isolated: Path) -> None:
    settings = load_settings(db=small_db, env={})
    first = ChatSession(settings, "keep")
    first.ask("which channel converts best?")
    first.close()
    again = ChatSession(settings, "keep")
    assert again.resumed and again.ask("/sql SELECT 1 AS one").query_ids == ["Q2"]
    again.close()
    listed = cli("chat", "--list")
    assert "keep" in listed.stdout and "2" in listed.stdout
