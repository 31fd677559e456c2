"""The DuckDB sandbox end to end on real database files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.errors import MissingDatabase, QueryFailed, QueryTimeout, SQLRefused
from finmatch_agents.evidence import AuditLog, QueryLog
from finmatch_agents.warehouse.engine import DuckDBEngine, SandboxLimits

RUNAWAY = ("SELECT count(*) FROM fpr_records a, fpr_records b, fpr_records c "
           "WHERE a.recommendation_score + b.recommendation_score > c.recommendation_score")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def engine(db_copy: Path):
    with DuckDBEngine(db_copy, SandboxLimits(max_rows=50, timeout=5)) as e:
        yield e


def test_counts_exclude_soft_deleted_rows(db_copy: Path) -> None:
    with duckdb.connect(str(db_copy), read_only=True) as con:
        total, active = con.execute("SELECT count(*), count(*) FILTER (WHERE NOT _fivetran_deleted) "
                                    "FROM fpr_records").fetchone()
    log = QueryLog()
    with DuckDBEngine(db_copy) as engine:
        seen = engine.query("SELECT count(*) FROM fpr_records", log=log).scalar()
        sneaky = engine.query("SELECT count(*) FROM (SELECT * FROM fpr_records) WHERE _fivetran_deleted",
                              log=log).scalar()
        hidden = engine.soft_deleted_count("fpr_records", log=log)
    assert seen == active < total
    assert sneaky == 0
    assert hidden == total - active


@pytest.mark.parametrize("sql", [
    "DELETE FROM fpr_records",
    "DROP TABLE products",
    "COPY fpr_records TO '{tmp}/leak.csv'",
    "EXPORT DATABASE '{tmp}/dump'",
    "ATTACH '{tmp}/new.duckdb' AS n",
    "SELECT * FROM read_csv('{tmp}/leak.csv')",
    "INSTALL httpfs",
    "SELECT getenv('HOME')",
])
def test_refusals_change_nothing_and_touch_no_files(engine: DuckDBEngine, db_copy: Path, tmp_path: Path,
                                                    sql: str) -> None:
    before = digest(db_copy)
    files_before = sorted(p.name for p in tmp_path.rglob("*"))
    log = QueryLog()
    with pytest.raises(SQLRefused):
        engine.query(sql.format(tmp=tmp_path), log=log)
    assert digest(db_copy) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == files_before
    assert log.records[-1].status == "refused"


def test_connection_itself_is_locked_down(engine: DuckDBEngine, tmp_path: Path) -> None:
    """Second wall: even a statement that reached the connection cannot write or read files."""
    cur = engine._cursor()
    for sql in (f"COPY (SELECT 1) TO '{tmp_path}/x.csv'", "SET enable_external_access = true",
                "SET lock_configuration = false", "CREATE TABLE x (i INT)"):
        with pytest.raises(duckdb.Error):
            cur.execute(sql)
    assert not (tmp_path / "x.csv").exists()


def test_runaway_query_stops_at_deadline(db_copy: Path) -> None:
    log = QueryLog()
    with DuckDBEngine(db_copy, SandboxLimits(timeout=0.5)) as e, pytest.raises(QueryTimeout) as exc:
        e.query(RUNAWAY, log=log)
    assert exc.value.rule == "deadline"
    rec = log.records[-1]
    assert rec.status == "timeout" and rec.elapsed_ms < 5_000


def test_row_cap_marks_results_truncated(engine: DuckDBEngine) -> None:
    log = QueryLog()
    res = engine.query("SELECT record_id FROM fpr_records", log=log)
    assert len(res.rows) == 50 and res.truncated
    res = engine.query("SELECT record_id FROM fpr_records LIMIT 50", log=log)
    assert len(res.rows) == 50 and not res.truncated
    res = engine.query("SELECT record_id FROM fpr_records", log=log, max_rows=7)
    assert len(res.rows) == 7 and res.truncated


def test_every_query_is_logged_with_id_sql_rows_and_time(engine: DuckDBEngine, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    log = QueryLog(prefix="Q", start=101, sinks=[AuditLog(audit, "test")])
    engine.query("SELECT product_type, count(*) FROM fpr_records GROUP BY 1", log=log, title="by type")
    with pytest.raises(SQLRefused):
        engine.query("DROP TABLE products", log=log)
    with pytest.raises(QueryFailed):
        engine.query("SELECT no_such_column FROM products", log=log)
    assert [r.id for r in log.records] == ["Q101", "Q102", "Q103"]
    assert [r.status for r in log.records] == ["ok", "refused", "error"]
    first = log.records[0]
    assert first.rows == 8 and first.title == "by type" and first.elapsed_ms >= 0 and "GROUP BY" in first.sql
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["Q101", "Q102", "Q103"] and lines[1]["rule"] == "select-only"


def test_threads_share_the_engine_safely(engine: DuckDBEngine) -> None:
    log = QueryLog()
    results: dict[int, int] = {}

    def work(i: int) -> None:
        results[i] = engine.query(f"SELECT count(*) FROM fpr_records WHERE customer_satisfaction_score > {i}",
                                  log=log).scalar()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(6)] == sorted(results.values(), reverse=True)
    assert len({r.id for r in log.records}) == 6


def test_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingDatabase, match="no database at"):
        DuckDBEngine(tmp_path / "nope.duckdb")


def test_readers_in_other_processes_coexist(db_copy: Path) -> None:
    code = (f"import duckdb; c = duckdb.connect({str(db_copy)!r}, read_only=True); "
            "print(c.execute('SELECT count(*) FROM products').fetchone()[0])")
    with DuckDBEngine(db_copy) as engine:
        assert engine.query("SELECT count(*) FROM products", log=QueryLog()).scalar() == 40
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "40"
