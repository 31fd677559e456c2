"""Issue 20, sandbox items: bounded results (4), deep SQL (6), one bad table (11), unusable database files (13),
every statement audited (15). Real DuckDB files in tmp_path, the real CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.errors import CorruptDatabase, DatabaseUnwritable, QueryTimeout, SQLRefused
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse import engine as engine_module
from finmatch_agents.warehouse.engine import DuckDBEngine, SandboxLimits


def audit(state: Path) -> list[dict]:
    path = state / "sql-audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# -- 4: result size is bounded, inside the engine, quickly -----------------------------------------------------
@pytest.mark.parametrize(("sql", "rule"), [
    ("SELECT range(300000000)", "cell-size"),  # was: 14 GB and 80 s inside DuckDB before any check
    ("SELECT repeat('x', 100000000) FROM range(60)", "cell-size"),
    ("SELECT repeat('x', 50000000)", "cell-size"),
    ("SELECT string_agg(repeat('x', 60000), '') FROM range(100)", "cell-size"),  # 6 MB built from small pieces
    ("SELECT list(fpr_records) FROM fpr_records", "cell-size"),  # the whole table in one value
])
def test_huge_values_are_refused_quickly(cli, small_db: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                        sql: str, rule: str) -> None:
    monkeypatch.setenv("FINMATCH_MEMORY_LIMIT", "1GB")
    result = cli("sql", sql, "--db", small_db, "--timeout", "5")
    assert result.exit_code == 3, result.stdout + result.stderr
    assert f"[{rule}]" in result.stderr and "Traceback" not in result.stderr
    assert audit(isolated / "data")[-1]["rule"] == rule


def test_result_bytes_are_capped_while_fetching(small_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "MAX_RESULT_BYTES", 200_000)
    log = QueryLog()
    with DuckDBEngine(small_db) as e:
        with pytest.raises(SQLRefused) as exc:
            e.query("SELECT * FROM fpr_records", log=log, max_rows=100_000)
        assert exc.value.rule == "result-size" and exc.value.exit_code == 3
        assert e.query("SELECT * FROM fpr_records LIMIT 20", log=log).rows  # small results still pass
    assert [r.status for r in log.records] == ["refused", "ok"]


def test_cell_size_counts_nested_values(small_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "MAX_CELL_BYTES", 10_000)
    log = QueryLog()
    with DuckDBEngine(small_db) as e:
        for sql in ("SELECT {'names': list(customer_name)} FROM fpr_records",
                    "SELECT map_from_entries(list((record_id, customer_name))) FROM fpr_records",
                    "SELECT list(fpr_records) FROM fpr_records GROUP BY customer_segment"):
            with pytest.raises(SQLRefused, match=r"\[cell-size\]"):
                e.query(sql, log=log)
        ok = e.query("SELECT customer_segment, list(customer_id)[1:3] AS ids FROM fpr_records GROUP BY 1", log=log)
        assert len(ok.rows) > 1


def test_values_keep_duckdb_types(small_db: Path) -> None:
    sql = ("SELECT sum(customer_transaction_count) AS s, 1::HUGEINT AS h, INTERVAL 3 DAY AS iv, MAP {'a': 1} AS m, "
           "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID AS u, 1.5::DECIMAL(10, 2) AS d, [1, 2] AS l, "
           "{'x': 'a'} AS st, DATE '2024-01-31' AS dt, TIMESTAMP '2024-01-31 10:00:00' AS ts FROM fpr_records")
    with DuckDBEngine(small_db) as e:
        got = e.query(sql, log=QueryLog()).rows
    with duckdb.connect(str(small_db), read_only=True) as con:
        expected = con.execute(sql.replace("FROM fpr_records", "FROM fpr_records WHERE NOT _fivetran_deleted")
                               ).fetchall()
    assert got == expected and [type(v) for v in got[0]] == [type(v) for v in expected[0]]


def test_the_deadline_covers_fetching(db_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A result that is slow to turn into rows still stops at the deadline (the check runs per batch)."""
    monkeypatch.setattr(engine_module, "FETCH_BATCH_ROWS", 10)
    real = DuckDBEngine._rows

    def slow(self, batch, exact):
        time.sleep(0.1)
        return real(self, batch, exact)

    monkeypatch.setattr(DuckDBEngine, "_rows", slow)
    log = QueryLog()
    started = time.monotonic()
    with DuckDBEngine(db_copy, SandboxLimits(timeout=0.5)) as e, pytest.raises(QueryTimeout):
        e.query("SELECT record_id FROM fpr_records", log=log, max_rows=5_000)
    assert time.monotonic() - started < 15  # the unbounded scan sleeps far longer
    assert log.records[-1].status == "timeout" and log.records[-1].rule == "deadline"


# -- 6 and 15: SQL the parser cannot digest is refused and audited ---------------------------------------------
@pytest.mark.parametrize("sql", [
    "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "SELECT * FROM " + "(SELECT * FROM " * 5000 + "fpr_records" + ") t" * 5000,
    "SELECT " + "NOT " * 5000 + "true",
    "SELECT 1 WHERE 1 IN " + "(SELECT 1 WHERE 1 IN " * 3000 + "(1)" + ")" * 3000,
])
def test_deeply_nested_sql_is_refused_and_logged(cli, small_db: Path, isolated: Path, sql: str) -> None:
    result = cli("sql", "-", "--db", small_db, input=sql)
    assert result.exit_code == 3, result.stderr
    assert "[complexity]" in result.stderr and "RecursionError" not in result.stderr
    last = audit(isolated / "data")[-1]
    assert last["status"] == "refused" and last["rule"] == "complexity"


def test_a_guard_crash_is_refused_and_logged(small_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finmatch_agents.warehouse import guard

    def broken(sql, known):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(guard, "check", broken)
    log = QueryLog()
    with DuckDBEngine(small_db) as e, pytest.raises(SQLRefused) as exc:
        e.query("SELECT 1", log=log)
    assert exc.value.rule == "syntax"
    assert log.records[-1].status == "refused" and log.records[-1].rule == "syntax"


# -- 11: one table with a non-boolean soft-delete flag does not break the others -------------------------------
@pytest.fixture
def mixed_db(db_copy: Path) -> Path:
    with duckdb.connect(str(db_copy)) as con:
        con.execute("CREATE TABLE accounts AS SELECT i AS id, CASE WHEN i % 2 = 0 THEN 'deleted' ELSE 'active' END "
                    "AS _fivetran_deleted FROM range(10) t(i)")
        con.execute("CREATE TABLE flags AS SELECT i AS id, CASE WHEN i % 2 = 0 THEN 'true' ELSE '0' END "
                    "AS _fivetran_deleted FROM range(10) t(i)")
    return db_copy


def test_a_bad_soft_delete_column_breaks_only_its_table(cli, mixed_db: Path) -> None:
    ok = cli("sql", "SELECT count(*) AS n FROM fpr_records", "--db", mixed_db, "--format", "json")
    assert ok.exit_code == 0, ok.stderr
    bad = cli("sql", "SELECT * FROM accounts", "--db", mixed_db)
    assert bad.exit_code == 3 and "[unusable-table]" in bad.stderr and "accounts" in bad.stderr
    assert "_fivetran_deleted" in bad.stderr and "--replace" in bad.stderr
    flags = cli("sql", "SELECT count(*) AS n FROM flags", "--db", mixed_db, "--format", "json")
    assert flags.exit_code == 0 and json.loads(flags.stdout)["rows"] == [{"n": 5}]  # 'true'/'0' cast safely
    assert cli("metrics", "--db", mixed_db, "--json").exit_code == 0
    assert cli("explore", "flags", "--db", mixed_db).exit_code == 0


# -- 13: unusable database files -------------------------------------------------------------------------------
@pytest.fixture
def truncated(small_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "truncated.duckdb"
    target.write_bytes(small_db.read_bytes()[:300_000])
    return target


@pytest.mark.parametrize("kind", ["truncated", "text", "tiny"])
def test_corrupt_database_is_a_domain_error(cli, small_db: Path, tmp_path: Path, kind: str) -> None:
    target = tmp_path / f"{kind}.duckdb"
    data = {"truncated": small_db.read_bytes()[:300_000], "text": b"not a database\n",
            "tiny": small_db.read_bytes()[:20_000]}[kind]
    target.write_bytes(data)
    for args in (["sql", "SELECT count(*) FROM fpr_records"], ["metrics"]):
        result = cli(*args, "--db", target)
        assert result.exit_code == 3, (args, result.stderr)
        assert "Unusable database" in result.stderr and "hint:" in result.stderr
        assert "Unexpected error" not in result.stderr


def test_loading_into_a_truncated_database(cli, truncated: Path, uci_csv: Path) -> None:
    before = truncated.read_bytes()
    result = cli("data", "load", uci_csv, "--mapping", Path(__file__).parents[2] / "examples" / "bank-marketing.toml",
                 "--db", truncated, "--replace")
    assert result.exit_code == 3, result.stderr
    assert "Unusable database" in result.stderr and "hint:" in result.stderr and "Unexpected" not in result.stderr
    assert truncated.read_bytes() == before


@pytest.mark.parametrize(("message", "error", "words"), [
    ("IO Error: Could not write file \"x\": No space left on device", DatabaseUnwritable, "disk is full"),
    ("IO Error: Cannot open file \"x\": Permission denied", DatabaseUnwritable, "read-only"),
    ("IO Error: Cannot open file \"x\": Read-only file system", DatabaseUnwritable, "read-only"),
    ("Corrupt database file: computed checksum 1 does not match stored checksum 2", CorruptDatabase, "usable"),
])
def test_storage_failures_while_loading_name_a_way_out(cli, db_copy: Path, uci_csv: Path,
                                                       monkeypatch: pytest.MonkeyPatch, message: str,
                                                       error: type, words: str) -> None:
    """A full disk or a read-only target (simulated: tests may run as root) exit 3 with a hint."""
    from finmatch_agents.data import writer

    real = writer.connect_writable

    class Failing:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            if sql.startswith(("COMMIT", "CHECKPOINT")):
                raise duckdb.IOException(message)
            return self.con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    monkeypatch.setattr(writer, "connect_writable", lambda db: Failing(real(db)))
    with duckdb.connect(str(db_copy), read_only=True) as con:
        before = con.execute("SELECT count(*), sum(hash(record_id)) FROM fpr_records").fetchone()
    result = cli("data", "load", uci_csv, "--mapping", Path(__file__).parents[2] / "examples" / "bank-marketing.toml",
                 "--db", db_copy, "--replace")
    assert result.exit_code == error.exit_code == 3, result.stderr
    assert error.title in result.stderr and words in result.stderr and "hint:" in result.stderr
    with duckdb.connect(str(db_copy), read_only=True) as con:  # the failed load was rolled back
        assert con.execute("SELECT count(*), sum(hash(record_id)) FROM fpr_records").fetchone() == before
