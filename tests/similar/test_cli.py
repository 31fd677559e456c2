"""`finmatch similar` end to end with the real Typer app on the shared small database: the question, look-alikes,
the index, campaign exports, and bad input (exit 2, a message, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.similar.cases import EXAMPLES


@pytest.fixture
def shared_state(similar_state: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The session's state folder, so the index built once serves every CLI test (as one process would)."""
    monkeypatch.setenv("FINMATCH_STATE_DIR", str(similar_state))
    return similar_state


def last_json(stdout: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stdout.splitlines()[-1])
    return data


def test_question_prints_the_interpretation_then_ranked_customers(cli, small_db: Path, shared_state: Path) -> None:
    result = cli("similar", EXAMPLES[2].question, "--db", small_db, "--top", "5", "--explain")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Understood as: income band = high income (100k+) · age band = 55-64 · interested in: wealth " \
                       "management services"
    with duckdb.connect(str(small_db), read_only=True) as con:
        truth = con.execute("SELECT count(*) FROM (SELECT customer_id FROM fpr_records WHERE NOT _fivetran_deleted "
                            "GROUP BY customer_id HAVING avg(annual_income) >= 100000 AND avg(customer_age) >= 55 "
                            "AND avg(customer_age) < 65)").fetchone()[0]
    assert lines[1].startswith(f"{truth:,} of ") and "ranked by embedding" in lines[1]
    assert "annual income" in result.stdout and "Constraint filter" in result.stdout and "WHERE" in result.stdout
    js = cli("similar", EXAMPLES[2].question, "--db", small_db, "--top", "5", "--json")
    data = last_json(js.stdout)
    assert js.exit_code == 0 and data["matched"] == truth and len(data["results"]) == 5
    assert all(h["values"]["annual_income"] >= 100000 and 55 <= h["values"]["customer_age"] < 65
               for h in data["results"])
    lexical = cli("similar", EXAMPLES[2].question, "--db", small_db, "--ranker", "lexical", "--json")
    assert last_json(lexical.stdout)["ranker"] == "lexical" and last_json(lexical.stdout)["matched"] == truth


def test_look_alikes_index_and_exports(cli, small_db: Path, shared_state: Path, tmp_path: Path) -> None:
    one = cli("similar", "--like", "C0000042", "--db", small_db, "--top", "3", "--json")
    assert one.exit_code == 0, one.stderr
    data = last_json(one.stdout)
    assert data["seed"] == "C0000042" and len(data["results"]) == 3
    assert "C0000042" not in {h["customer_id"] for h in data["results"]}
    two = cli("similar", "--like", "C0000042,C0000043", "--db", small_db, "--top", "3")
    assert two.exit_code == 0 and two.stdout.startswith("Seed group: C0000042, C0000043 — 2 customers.")
    seg = cli("similar", "--like-segment", "accepted Mortgage in 2025", "--db", small_db, "--top", "4",
              "--export", tmp_path / "audience.parquet", "--json")
    audience = last_json(seg.stdout)
    assert seg.exit_code == 0 and audience["exported"]["rows"] == 4 and audience["lookalikes"] > 0
    with duckdb.connect() as con:
        got = con.execute(f"SELECT customer_id, rank FROM read_parquet('{tmp_path / 'audience.parquet'}') "
                          "ORDER BY rank").fetchall()
    assert [c for c, _r in got] == [h["customer_id"] for h in audience["results"]]
    csv = cli("similar", EXAMPLES[0].question, "--db", small_db, "--top", "7", "--export", tmp_path / "q.csv")
    assert csv.exit_code == 0 and "Wrote 7 customers to" in csv.stdout
    text = (tmp_path / "q.csv").read_text(encoding="utf-8").splitlines()
    assert text[0] == "rank,customer_id,score,reasons,interpretation,ranker" and len(text) == 8
    index = cli("similar", "index", "--db", small_db, "--json")
    info = last_json(index.stdout)
    assert index.exit_code == 0 and info["customers"] == data["customers"] and Path(info["path"]).exists()
    assert info["fields"]["goal"] == 38 and info["model"] == "all-MiniLM-L6-v2-int8"


@pytest.mark.parametrize(("args", "message"), [
    (["xyzzy plugh"], "nothing in the question says which customers"),
    (["customers with credit score over 800 and credit score under 700"], "contradictory constraints"),
    (["--like", "C9"], "customer 'C9' is not in fpr_records"),
    (["customers over 60", "--like", "C0000001"], "--like takes no question"),
    (["customers over 60", "--export", "out.xlsx"], "must end in .csv or .parquet"),
])
def test_bad_input_exits_2_with_a_message(cli, small_db: Path, shared_state: Path, args: list[str],
                                          message: str) -> None:
    result = cli("similar", *args, "--db", small_db)
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_help_names_the_extra_it_needs(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich markup would swallow a bare "[similarity]" from the help text."""
    monkeypatch.setenv("COLUMNS", "200")
    shown = cli("similar", "index", "--help")
    assert "[similarity] extra" in " ".join(shown.stdout.split())
