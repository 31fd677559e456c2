"""The parser wall of the sandbox: each refusal names its rule."""

from __future__ import annotations

import pytest

from finmatch_agents.errors import SQLRefused
from finmatch_agents.warehouse.guard import check

KNOWN = frozenset({"fpr_records", "products"})

REFUSED = [
    ("DELETE FROM fpr_records", "select-only"),
    ("UPDATE fpr_records SET recommendation_score = 1", "select-only"),
    ("INSERT INTO products VALUES (1)", "select-only"),
    ("DROP TABLE fpr_records", "select-only"),
    ("CREATE TABLE x AS SELECT 1", "select-only"),
    ("ALTER TABLE products ADD COLUMN x INT", "select-only"),
    ("WITH x AS (SELECT 1) INSERT INTO products SELECT * FROM x", "select-only"),
    ("SELECT 1; SELECT 2", "single-statement"),
    ("SELECT 1; DROP TABLE fpr_records", "single-statement"),
    ("COPY fpr_records TO '/tmp/out.csv'", "select-only"),
    ("EXPORT DATABASE '/tmp/dump'", "select-only"),
    ("ATTACH '/tmp/other.duckdb' AS other", "select-only"),
    ("INSTALL httpfs", "select-only"),
    ("LOAD httpfs", "select-only"),
    ("PRAGMA database_list", "select-only"),
    ("SET threads = 1", "select-only"),
    ("CALL pragma_version()", "select-only"),
    ("SELECT * FROM read_csv('/etc/passwd')", "file-function"),
    ("SELECT * FROM read_parquet('x.parquet')", "file-function"),
    ("SELECT * FROM read_json_auto('x.json')", "file-function"),
    ("SELECT * FROM glob('/etc/*')", "file-function"),
    ("SELECT * FROM duckdb_settings()", "file-function"),
    ("SELECT * FROM fpr_records WHERE customer_id IN (SELECT * FROM read_text('/etc/hosts'))", "file-function"),
    ("SELECT * FROM '/etc/passwd'", "path-table"),
    ("SELECT * FROM 'data.csv'", "path-table"),
    ('SELECT * FROM "~/secrets.parquet"', "path-table"),
    ("SELECT getenv('HOME')", "forbidden-function"),
    ("SELECT current_setting('home_directory')", "forbidden-function"),
    ("SELECT query('SELECT 1')", "forbidden-function"),
    ("SELECT * FROM main.fpr_records", "qualified-name"),
    ("SELECT * FROM other.main.fpr_records", "qualified-name"),
    ("SELECT * FROM customers", "unknown-table"),
    ("SELECT * FROM information_schema.secrets", "unknown-table"),
    ("SELEC 1", "syntax"),
    ("", "empty"),
    ("  ;  ", "empty"),
]


@pytest.mark.parametrize(("sql", "rule"), REFUSED)
def test_refuses_with_rule(sql: str, rule: str) -> None:
    with pytest.raises(SQLRefused) as exc:
        check(sql, KNOWN)
    assert exc.value.rule == rule
    assert f"[{rule}]" in str(exc.value)


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM fpr_records",
    "FROM fpr_records SELECT customer_id LIMIT 3",
    "WITH a AS (SELECT product_type FROM fpr_records) SELECT * FROM a",
    "SELECT 1 UNION ALL SELECT 2",
    "(SELECT 1)",
    "SELECT * FROM range(10)",
    "SELECT * FROM fpr_records f JOIN products p USING (product_id)",
    "SELECT ';' AS semicolon_in_a_string",
    "-- a comment\nSELECT 1;",
    "SELECT table_name FROM information_schema.tables",
    "SELECT list_transform([1, 2], x -> x + 1)",
])
def test_allows_read_only_selects(sql: str) -> None:
    check(sql, KNOWN)


def test_unknown_table_suggests_the_closest_name() -> None:
    with pytest.raises(SQLRefused) as exc:
        check("SELECT * FROM fpr_record", KNOWN)
    assert exc.value.hint == "did you mean fpr_records?"


def test_reports_the_tables_a_query_reads() -> None:
    checked = check("SELECT * FROM fpr_records f JOIN products p USING (product_id)", KNOWN)
    assert checked.tables == ("fpr_records", "products")
