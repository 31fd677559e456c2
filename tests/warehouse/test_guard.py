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
    ("SELECT * FROM duckdb_settings()", "system-catalog"),
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
    ("SELECT * FROM information_schema.secrets", "system-catalog"),
    ("SELECT table_name FROM information_schema.tables", "system-catalog"),
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


# -- CTE scope: a WITH name shadows tables only inside its own WITH ------------------------------------------
@pytest.mark.parametrize("sql", [
    "WITH a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b",
    "SELECT * FROM (WITH a AS (SELECT 1 AS x) SELECT * FROM a) t",
    "WITH a AS (SELECT 1 AS x) SELECT * FROM (SELECT * FROM a) t WHERE x IN (SELECT x FROM a)",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "WITH fpr_records AS (SELECT 1 AS x) SELECT * FROM fpr_records",
])
def test_cte_names_resolve_in_their_scope(sql: str) -> None:
    check(sql, KNOWN)


@pytest.mark.parametrize(("sql", "rule"), [
    ("SELECT * FROM (WITH duckdb_databases AS (SELECT 1) SELECT 1) t, duckdb_databases", "system-catalog"),
    ("SELECT * FROM (WITH secret AS (SELECT 1) SELECT 1) t, secret", "unknown-table"),
    ("SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) t WHERE 1 IN (SELECT 1 FROM x)", "unknown-table"),
    ("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", "unknown-table"),
    ("WITH pg_settings AS (SELECT 1) SELECT * FROM pg_settings", "system-catalog"),
    ("SELECT * FROM duckdb_views", "system-catalog"),
    ("SELECT * FROM sqlite_master", "system-catalog"),
    ("SELECT * FROM pg_catalog.pg_settings", "system-catalog"),
    ('SELECT * FROM "duckdb_databases"', "system-catalog"),
    ("SELECT * FROM pragma_database_list", "system-catalog"),
])
def test_cte_scope_bypasses_and_system_catalogs_are_refused(sql: str, rule: str) -> None:
    with pytest.raises(SQLRefused) as exc:
        check(sql, KNOWN)
    assert exc.value.rule == rule


# -- statements the parser cannot digest are refused, not crashed on --------------------------------------
@pytest.mark.parametrize("sql", [
    "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "SELECT * FROM " + "(SELECT * FROM " * 5000 + "fpr_records" + ") t" * 5000,
    "SELECT " + "CASE WHEN true THEN " * 2000 + "1" + " END" * 2000,
    "SELECT " + "NOT " * 5000 + "true",
    "SELECT 1 WHERE 1 IN " + "(SELECT 1 WHERE 1 IN " * 3000 + "(1)" + ")" * 3000,
    "SELECT '" + "x" * 200_000 + "'",
])
def test_deep_or_huge_statements_are_refused_as_complexity(sql: str) -> None:
    with pytest.raises(SQLRefused) as exc:
        check(sql, KNOWN)
    assert exc.value.rule == "complexity"


def test_moderate_nesting_is_fine() -> None:
    check("SELECT " + "(" * 20 + "1" + ")" * 20, KNOWN)


# -- generator functions: the size of what they build must be known and small ----------------------------
@pytest.mark.parametrize("sql", [
    "SELECT range(300000000)",
    "SELECT range(0, 300000000, 1)",
    "SELECT generate_series(1, 10000000)",
    "SELECT unnest(range(100000000))",
    "SELECT * FROM unnest(range(100000000))",
    "SELECT repeat('x', 100000000) FROM range(60)",
    "SELECT repeat('x', 50000000)",
    "SELECT repeat(repeat('x', 60000), 1000)",
    "SELECT repeat('x', 100000000 + 0 * range) FROM range(60)",
    "SELECT repeat(customer_name, recommendation_score::INT) FROM fpr_records",
    "SELECT lpad('x', 1000000000, 'y')",
    "SELECT rpad(customer_name, 100000000, ' ') FROM fpr_records",
    "SELECT list_resize([1], 100000000)",
    "SELECT bar(1, 0, 1, 100000000)",
    "SELECT printf('%1000000000d', 1)",
    "SELECT format('{:>1000000000}', 'x')",
    "SELECT printf(customer_name, 1) FROM fpr_records",
    "SELECT range(x) FROM (SELECT 300000000 AS x)",
    "SELECT range(DATE '0001-01-01', DATE '9999-12-31', INTERVAL 1 SECOND)",
])
def test_huge_generated_values_are_refused(sql: str) -> None:
    with pytest.raises(SQLRefused) as exc:
        check(sql, KNOWN)
    assert exc.value.rule == "cell-size"


@pytest.mark.parametrize("sql", [
    "SELECT range(12)",
    "SELECT generate_series(1, 100, 10)",
    "SELECT * FROM range(1000000000)",
    "SELECT * FROM generate_series(1, 1000000000) t(i)",
    "SELECT repeat('=', 40)",
    "SELECT lpad(customer_id, 10, '0') FROM fpr_records",
    "SELECT printf('%5.1f%%', 12.345)",
    "SELECT bar(0.5, 0, 1, 30)",
])
def test_small_generated_values_are_allowed(sql: str) -> None:
    check(sql, KNOWN)


def test_a_remembered_verdict_holds_only_for_the_same_tables() -> None:
    """Passed statements are cached with the tables they may read: the same text against a catalogue without
    its table is refused, and a refusal is refused again (never cached as a pass)."""
    sql = "SELECT count(*) FROM fpr_records"
    assert check(sql, {"fpr_records"}).tables == ("fpr_records",)
    assert check(sql, {"fpr_records"}).tables == ("fpr_records",)
    for _ in range(2):
        with pytest.raises(SQLRefused):
            check(sql, {"other_table"})
        with pytest.raises(SQLRefused):
            check("SELECT * FROM read_csv('/etc/passwd')", {"fpr_records"})
