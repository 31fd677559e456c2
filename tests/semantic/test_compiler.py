"""The compiler against the verified questions' reviewed SQL, the four questions of issue 12 on the default
data, the model's tool arguments, and refusals that offer questions the compiler answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from finmatch_agents.chat.questions import LIBRARY
from finmatch_agents.chat.session import ChatSession
from finmatch_agents.config import load_settings
from finmatch_agents.data.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED
from finmatch_agents.data.generator import write_synthetic
from finmatch_agents.semantic.tool import to_query
from finmatch_agents.warehouse import named


@pytest.fixture
def session(small_db: Path, isolated: Path):
    s = ChatSession(load_settings(db=small_db, env={}), "compiler")
    yield s
    s.close()


def independent(db: Path, sql: str) -> list[tuple]:
    sql = sql.replace("{A}", "(SELECT * FROM fpr_records WHERE NOT coalesce(_fivetran_deleted, false))")
    code = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))")
    out = subprocess.run([sys.executable, "-c", code, str(db), sql], capture_output=True, text=True, check=True)
    return [tuple(r) for r in json.loads(out.stdout)]


@pytest.mark.parametrize("question", [q for q in LIBRARY if q.structured is not None], ids=lambda q: q.id)
def test_verified_answers_equal_the_compilers(session: ChatSession, question) -> None:
    verified = session.named(question.query, **question.params)
    assert not isinstance(verified, named.Skipped)
    compiled = session.semantic.compile(question.structured)
    result = session.query(compiled.sql, compiled.title)
    columns = dict(question.columns)
    group = question.structured.group_by[0] if question.structured.group_by else None
    label = next((col for col, key in columns.items() if key == group), None)
    mine = {(r[group] if group else ()): r for r in result.dicts()}
    checked = 0
    for row in verified.dicts():
        key = row[label] if label else ()
        for col, semantic in columns.items():
            if semantic in question.structured.measures:
                tolerance = 0.006 if col == "annual_revenue" else 1e-9  # the reviewed query rounds to cents
                assert row[col] == pytest.approx(mine[key][semantic], rel=tolerance, abs=tolerance), (key, col)
                checked += 1
    assert checked


@pytest.fixture(scope="module")
def default_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`finmatch data generate` with its defaults (25,000 customers, seed 42)."""
    path = tmp_path_factory.mktemp("default") / "finmatch.duckdb"
    write_synthetic(path, DEFAULT_CUSTOMERS, DEFAULT_SEED, force=False)
    return path


def test_the_four_questions_of_issue_12(default_db: Path, isolated: Path) -> None:
    s = ChatSession(load_settings(db=default_db, env={}), "issue-12")
    try:
        email = s.ask("What is the acceptance rate for Email in 2025?")
        mortgages = s.ask("How many mortgages were accepted in 2024?")
        students = s.ask("churn for students")
        drop = s.ask("What drove the drop in mortgage acceptance in Q3 compared to Q2?")
    finally:
        s.close()
    acc = "CASE WHEN product_recommendation_status = 'Accepted' THEN 1.0 ELSE 0.0 END"
    (rate,), = independent(default_db, f"SELECT avg({acc}) FROM {{A}} WHERE channel = 'Email' AND "
                                       "year(product_recommendation_date) = 2025")
    assert email.kind == "compiled" and email.tables[0].rows[0]["acceptance_rate"] == pytest.approx(rate)
    assert "**16.8%**" in email.text and f"{rate:.3f}" == "0.168"
    assert email.interpretation == "acceptance rate · channel = Email · 2025" and "```sql" in email.text
    (n,), = independent(default_db, "SELECT count(*) FROM {A} WHERE product_type = 'Mortgage' AND "
                                    "product_recommendation_status = 'Accepted' AND "
                                    "year(product_recommendation_date) = 2024")
    assert n == 858 and mortgages.tables[0].rows[0]["recommendations"] == 858 and "**858**" in mortgages.text
    (churn,), = independent(default_db, "SELECT avg(c) FROM (SELECT customer_id, avg(customer_churn_probability) c "
                                        "FROM {A} WHERE customer_segment = 'Student' GROUP BY 1)")
    assert students.tables[0].rows[0]["mean_churn"] == pytest.approx(churn)
    assert f"**{churn * 100:.1f}%**" in students.text and "segment = Student" in students.interpretation
    quarter = "quarter(product_recommendation_date)"
    (q3, q2), = independent(default_db, f"SELECT avg({acc}) FILTER (WHERE {quarter} = 3), avg({acc}) FILTER "
                                        f"(WHERE {quarter} = 2) FROM {{A}} WHERE product_type = 'Mortgage' AND "
                                        "year(product_recommendation_date) = 2026")
    overall = drop.tables[0].rows[0]
    assert overall["dimension"] == "(all)" and overall["acceptance_rate__current"] == pytest.approx(q3)
    assert overall["acceptance_rate__baseline"] == pytest.approx(q2)
    assert "2026 Q3 vs 2026 Q2" in drop.interpretation and "```sql" in drop.text
    assert "not why" in drop.text and ("did not drop" in drop.text) == (q3 >= q2)


def test_the_models_arguments_compile_to_the_same_query(session: ChatSession) -> None:
    layer = session.semantic
    by_tool = to_query(layer, {"measures": ["acceptance_rate"], "filters": [{"dimension": "channel",
                                                                              "values": ["Email"]}], "period": "2025"})
    assert by_tool == layer.parse("What is the acceptance rate for Email in 2025?").query
    compared = to_query(layer, {"measures": ["acceptance_rate"], "compare": ["Q2 2026", "Q3 2026"]})
    assert compared.compare[0].label == "2026 Q3" and compared.compare[1].label == "2026 Q2"
    for bad, message in (({"measures": ["profit"]}, "unknown measure 'profit'"),
                         ({"measures": ["customers"], "filters": [{"dimension": "channel", "values": ["Fax"]}]},
                          "channel has no value 'Fax'"),
                         ({"measures": ["customers"], "period": "next year"}, "no future"),
                         ({"measures": ["customers"], "period": "whenever"}, "not a time expression")):
        with pytest.raises(ValueError, match=message):
            to_query(layer, bad)


def test_refusals_offer_questions_that_compile(session: ChatSession) -> None:
    for question in ("What is the acceptance rate for retirees in 2025?", "Email in 2025", "revenue per customer",
                     "Why do students churn?"):
        answer = session.ask(question)
        assert answer.kind == "unknown" and not answer.query_ids
        offered = [line[2:] for line in answer.text.splitlines() if line.startswith("- ") and line.endswith("?")]
        assert 2 <= len(offered) <= 3, answer.text
        for text in offered:
            assert session.semantic.parse(text.replace("\\", "")).query is not None, text
