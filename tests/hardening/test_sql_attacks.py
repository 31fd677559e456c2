"""Issue 20: the SQL attack list, through the real CLI (`finmatch sql`). Every statement is refused with
exit 3 and logged as refused; the database file's md5 is unchanged; no file outside the database is read
(a canary file's content never appears) or written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

CANARY_TEXT = "canary_9f3a7c1e_do_not_read"

ATTACKS = [
    # CTE scope: a WITH name only shadows tables inside its own WITH
    "SELECT * FROM (WITH duckdb_databases AS (SELECT 1) SELECT 1) t, duckdb_databases",
    "SELECT * FROM (WITH pg_settings AS (SELECT 1) SELECT 1) t, pg_settings",
    "SELECT * FROM (WITH duckdb_views AS (SELECT 1) SELECT 1) t, duckdb_views",
    "SELECT * FROM (WITH sqlite_master AS (SELECT 1) SELECT 1) t, sqlite_master",
    "SELECT * FROM (SELECT * FROM (WITH duckdb_settings AS (SELECT 1) SELECT 1) a) b, duckdb_settings",
    "WITH a AS (SELECT * FROM (WITH x AS (SELECT 1) SELECT 1)) SELECT * FROM a, x",
    "WITH pg_tables AS (SELECT 1) SELECT * FROM pg_tables",
    # system catalogs, however spelled
    "SELECT * FROM duckdb_databases",
    "SELECT path FROM duckdb_databases()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_secrets()",
    "SELECT sql FROM duckdb_views()",
    "SELECT * FROM duckdb_extensions()",
    'SELECT * FROM "DUCKDB_TABLES"',
    "SELECT * FROM system.main.duckdb_tables",
    "SELECT * FROM pg_catalog.pg_settings",
    "SELECT * FROM pg_settings",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM information_schema.columns",
    "SELECT * FROM pragma_database_list",
    "SELECT * FROM pragma_table_info('fpr_records')",
    "SELECT * FROM pragma_storage_info('fpr_records')",
    "SELECT pg_get_viewdef('fpr_records')",
    # file readers in every spelling
    "SELECT * FROM read_csv('{canary}')",
    "SELECT * FROM read_csv_auto('{canary}')",
    "SELECT * FROM read_parquet('{canary}')",
    "SELECT * FROM parquet_scan('{canary}')",
    "SELECT * FROM read_json('{canary}')",
    "SELECT * FROM read_json_auto('{canary}')",
    "SELECT * FROM read_ndjson_objects('{canary}')",
    "SELECT * FROM read_text('{canary}')",
    "SELECT content FROM read_blob('{canary}')",
    "SELECT read_text('{canary}')",
    "SELECT * FROM glob('{tmp}/*')",
    "SELECT * FROM sniff_csv('{canary}')",
    "SELECT * FROM parquet_schema('{canary}')",
    "SELECT * FROM read_duckdb('{db}')",
    "SELECT * FROM '{canary}'",
    'SELECT * FROM "{canary}"',
    "FROM '{canary}'",
    "SELECT * FROM 'canary.csv'",
    "SELECT * FROM 'https://example.com/data.csv'",
    "SELECT * FROM read_csv('s3://bucket/data.csv')",
    "SELECT * FROM fpr_records WHERE customer_id IN (SELECT * FROM read_csv('{canary}'))",
    "SELECT (SELECT count(*) FROM read_text('{canary}'))",
    "SELECT * FROM query_table('fpr_records')",
    "SELECT query('SELECT 1')",
    # statements that are not a query
    "ATTACH '{tmp}/other.duckdb' AS other",
    "ATTACH ':memory:' AS m",
    "DETACH copy",
    "COPY fpr_records TO '{tmp}/out.csv'",
    "COPY (SELECT * FROM fpr_records) TO '{tmp}/out.parquet' (FORMAT parquet)",
    "COPY products FROM '{canary}'",
    "EXPORT DATABASE '{tmp}/dump'",
    "IMPORT DATABASE '{tmp}'",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "RESET lock_configuration",
    "CALL duckdb_settings()",
    "PRAGMA enable_profiling",
    "USE memory",
    "CREATE MACRO leak() AS getenv('HOME')",
    "CREATE TEMP VIEW fpr_records AS SELECT * FROM main.fpr_records",
    "CHECKPOINT",
    "BEGIN TRANSACTION",
    "DESCRIBE fpr_records",
    "SHOW TABLES",
    "SUMMARIZE fpr_records",
    "WITH x AS (DELETE FROM products RETURNING *) SELECT * FROM x",
    # more than one statement, comments hiding statements
    "SELECT 1; SELECT 2",
    "SELECT 1; ATTACH '{tmp}/other.duckdb' AS other",
    "/* harmless */ DROP TABLE fpr_records",
    "-- just a comment\nCOPY fpr_records TO '{tmp}/c.csv'",
    "SELECT 1 /* ; */ ; DROP TABLE products",
    "SELECT 1 -- ;\n; DELETE FROM products",
    "SELECT ';' AS a; DELETE FROM products",
    # deeply nested or huge
    "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "SELECT * FROM " + "(SELECT * FROM " * 2000 + "fpr_records" + ") t" * 2000,
    "SELECT " + "NOT " * 5000 + "true",
    "SELECT 1 WHERE 'x' = '" + "x" * 150_000 + "'",
    # the environment
    "SELECT getenv('HOME')",
    "SELECT current_setting('home_directory')",
    "SELECT current_setting('secret_directory')",
    "SELECT getvariable('x')",
    "SELECT * FROM fpr_records WHERE getenv('PATH') IS NOT NULL",
    "SELECT list_transform([1], x -> getenv('HOME'))",
    "SELECT error(customer_name) FROM fpr_records",
    # reaching around the soft-delete view
    "SELECT * FROM main.fpr_records",
    "SELECT count(*) FROM copy.main.fpr_records",
    "SELECT * FROM temp.main.fpr_records",
    # values built outside DuckDB's memory limit
    "SELECT range(300000000)",
    "SELECT repeat('x', 100000000) FROM range(60)",
    "SELECT printf('%1000000000d', 1)",
]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): md5(p) for p in sorted(root.rglob("*")) if p.is_file()
            and p.name != "sql-audit.jsonl"}


@pytest.fixture
def target(db_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    canary = tmp_path / "canary.csv"
    canary.write_text(f"secret\n{CANARY_TEXT}\n")
    return db_copy, canary


def test_the_list_is_long_enough() -> None:
    assert len(ATTACKS) >= 40 + 36  # at least 40 more than the 36 statements of tests/warehouse/test_guard.py


@pytest.mark.parametrize("attack", ATTACKS, ids=[f"{i:03d}" for i in range(len(ATTACKS))])
def test_attack_is_refused_and_changes_nothing(cli, target: tuple[Path, Path], tmp_path: Path, isolated: Path,
                                               attack: str) -> None:
    db, canary = target
    sql = attack.replace("{canary}", str(canary)).replace("{tmp}", str(tmp_path)).replace("{db}", str(db))
    before_db, before_files = md5(db), files(tmp_path)
    result = cli("sql", "-", "--db", db, "--format", "json", "--timeout", "5", input=sql)
    assert result.exit_code == 3, (sql[:200], result.stdout, result.stderr)
    error = json.loads(result.stdout.splitlines()[-1])
    assert error["event"] == "error" and error["exit_code"] == 3 and error["rule"]
    assert CANARY_TEXT not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Unexpected error" not in result.stderr
    assert md5(db) == before_db
    assert files(tmp_path) == before_files  # nothing written (COPY, EXPORT, ATTACH) and nothing created
    audit = [json.loads(line) for line in (isolated / "data" / "sql-audit.jsonl").read_text().splitlines()]
    assert audit[-1]["status"] == "refused" and audit[-1]["rule"] == error["rule"]
