"""`finmatch sql` and `finmatch explore` through the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest


def test_sql_formats(cli, small_db: Path) -> None:
    q = "SELECT product_type, count(*) AS n FROM fpr_records GROUP BY 1 ORDER BY 1"
    as_json = json.loads(cli("sql", q, "--db", small_db, "--format", "json").stdout)
    assert as_json["columns"] == ["product_type", "n"] and as_json["row_count"] == 8 and not as_json["truncated"]
    as_csv = list(csv.reader(io.StringIO(cli("sql", q, "--db", small_db, "--format", "csv").stdout)))
    assert as_csv[0] == ["product_type", "n"]
    assert [(r[0], int(r[1])) for r in as_csv[1:]] == [(r["product_type"], r["n"]) for r in as_json["rows"]]
    md = cli("sql", q, "--db", small_db, "--format", "markdown").stdout
    assert md.startswith("| product\\_type | n |\n|---|---:|")
    table = cli("sql", q, "--db", small_db).stdout
    assert "Wealth Management" in table and "8 row(s)" in table


def test_sql_marks_truncation(cli, small_db: Path) -> None:
    result = cli("sql", "SELECT record_id FROM fpr_records", "--db", small_db, "--format", "json", "--limit", "5")
    got = json.loads(result.stdout)
    assert got["row_count"] == 5 and got["truncated"] is True
    result = cli("sql", "SELECT record_id FROM fpr_records", "--db", small_db, "--format", "csv", "--limit", "5")
    assert len(result.stdout.splitlines()) == 6 and "truncated" in result.stderr


@pytest.mark.parametrize(("sql", "rule"), [
    ("DELETE FROM fpr_records", "select-only"),
    ("SELECT 1; SELECT 2", "single-statement"),
    ("COPY fpr_records TO 'out.csv'", "select-only"),
    ("ATTACH 'other.db'", "select-only"),
    ("INSTALL httpfs", "select-only"),
    ("LOAD httpfs", "select-only"),
    ("PRAGMA show_tables", "select-only"),
    ("SET threads = 1", "select-only"),
    ("SELECT * FROM read_csv('secrets.csv')", "file-function"),
    ("SELECT * FROM 'secrets.csv'", "path-table"),
    ("SELECT getenv('HOME')", "forbidden-function"),
    ("SELECT * FROM customers", "unknown-table"),
])
def test_sql_refusals_exit_3_and_name_the_rule(cli, db_copy: Path, tmp_path: Path, sql: str, rule: str) -> None:
    before = db_copy.read_bytes()
    result = cli("sql", sql, "--db", db_copy)
    assert result.exit_code == 3
    assert f"[{rule}]" in result.stderr
    assert db_copy.read_bytes() == before
    assert not (tmp_path / "out.csv").exists()
    as_json = cli("sql", sql, "--db", db_copy, "--format", "json")
    assert json.loads(as_json.stdout)["rule"] == rule


def test_sql_runaway_query_stops_at_deadline(cli, small_db: Path) -> None:
    result = cli("sql", "SELECT count(*) FROM fpr_records a, fpr_records b, fpr_records c "
                 "WHERE a.recommendation_score + b.recommendation_score > c.recommendation_score",
                 "--db", small_db, "--timeout", "0.5")
    assert result.exit_code == 3 and "deadline" in result.stderr


def test_sql_reads_stdin_and_writes_the_audit_log(cli, small_db: Path, tmp_path: Path) -> None:
    result = cli("sql", "-", "--db", small_db, "--format", "json", input="SELECT 41 + 1 AS answer")
    assert json.loads(result.stdout)["rows"] == [{"answer": 42}]
    audit = [json.loads(line) for line in (tmp_path / "data" / "sql-audit.jsonl").read_text().splitlines()]
    assert audit[-1]["sql"] == "SELECT 41 + 1 AS answer" and audit[-1]["source"] == "sql"


def test_explore_pages_with_totals(cli, small_db: Path) -> None:
    with duckdb.connect(str(small_db), read_only=True) as con:
        total = con.execute("SELECT count(*) FROM fpr_records WHERE NOT _fivetran_deleted AND channel = 'Email'"
                            ).fetchone()[0]
        expected_ids = [r[0] for r in con.execute(
            "SELECT record_id FROM fpr_records WHERE NOT _fivetran_deleted AND channel = 'Email' "
            "ORDER BY record_id LIMIT 5 OFFSET 5").fetchall()]
    result = cli("explore", "--db", small_db, "--where", "channel = 'Email'", "--columns", "record_id,channel",
                 "--page", "2", "--page-size", "5", "--json")
    got = json.loads(result.stdout)
    assert got["total_rows"] == total and got["pages"] == -(-total // 5)
    assert [r["record_id"] for r in got["rows"]] == expected_ids
    text = cli("explore", "--db", small_db, "--where", "channel = 'Email'", "--page", "2", "--page-size", "5")
    assert f"rows 6-10 of {total:,}" in text.stdout and "more column(s)" in text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--columns", "record_id,colour"], "--columns: 'colour'"),
    (["--where", "1=1; DROP TABLE products"], "--where"),
    (["--page", "100000"], "--page 100000"),
    (["no_such_table"], "table 'no_such_table'"),
])
def test_explore_usage_errors_name_the_flag(cli, small_db: Path, args: list[str], message: str) -> None:
    result = cli("explore", "--db", small_db, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_explore_where_goes_through_the_sandbox(cli, small_db: Path) -> None:
    result = cli("explore", "--db", small_db, "--where", "customer_id IN (SELECT * FROM read_csv('x.csv'))")
    assert result.exit_code == 3 and "[file-function]" in result.stderr
