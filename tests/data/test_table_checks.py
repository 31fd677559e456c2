"""Empty or wrong tables never "succeed" (issue 10, item 9).

A file with no data rows is refused by ``data load``; ``analyze``, ``metrics`` and the scheduler's jobs check,
before any work, that the table exists, is a recommendations table and has an active row, and exit 3 naming the
table and what is missing. Real DuckDB files, the real CLI.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HEADER = "customer_id,product_type,product_recommendation_status\n"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runs_recorded(state: Path) -> int:
    store = state / "runs.sqlite"
    if not store.exists():
        return 0
    with sqlite3.connect(store) as con:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]


@pytest.fixture
def seeded(cli, tmp_path: Path) -> Path:
    db = tmp_path / "seeded.duckdb"
    (tmp_path / "seed.csv").write_text(HEADER + "A1,Savings,Accepted\nA2,Mortgage,Declined\n")
    assert cli("data", "load", tmp_path / "seed.csv", "--db", db).exit_code == 0
    return db


# -- data load -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", [HEADER, HEADER + "\n\n", HEADER.replace(",", ";")])
def test_a_header_only_csv_is_refused_and_creates_no_database(cli, tmp_path: Path, content: str) -> None:
    path = tmp_path / "offers.csv"
    path.write_text(content)
    db = tmp_path / "new.duckdb"
    result = cli("data", "load", path, "--db", db)
    assert result.exit_code == 3, result.stdout
    assert "offers.csv" in result.stderr and "no data rows" in result.stderr and "nothing was loaded" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.exists()


def test_a_header_only_file_leaves_an_existing_table_as_it_was(cli, seeded: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(HEADER)
    before = digest(seeded)
    for extra in ((), ("--replace",)):
        result = cli("data", "load", path, "--db", seeded, *extra)
        assert result.exit_code == 3 and "empty.csv" in result.stderr and "no data rows" in result.stderr
        assert digest(seeded) == before
    with duckdb.connect(str(seeded), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM fpr_records").fetchone() == (2,)


def test_a_parquet_file_with_no_rows_is_refused(cli, tmp_path: Path) -> None:
    path = tmp_path / "none.parquet"
    pq.write_table(pa.table({"customer_id": pa.array([], pa.string()), "product_type": pa.array([], pa.string()),
                             "product_recommendation_status": pa.array([], pa.string())}), path)
    result = cli("data", "load", path, "--db", tmp_path / "p.duckdb")
    assert result.exit_code == 3 and "none.parquet" in result.stderr and "no data rows" in result.stderr
    assert not (tmp_path / "p.duckdb").exists()


# -- analyze / metrics / schedule ------------------------------------------------------------------------
def _analyze(cli, db: Path, *extra: str):
    return cli("analyze", "--db", db, "--quiet", "--focus", "performance", *extra)


def test_analyze_on_the_catalogue_is_refused_before_any_work(cli, db_copy: Path, isolated: Path) -> None:
    result = _analyze(cli, db_copy, "--table", "products")
    assert result.exit_code == 3, result.stdout
    assert "table 'products' is not a recommendations table: it lacks customer_id, product_recommendation_status" \
        in result.stderr
    assert "--table fpr_records" in result.stderr  # the hint names the table that is one
    assert runs_recorded(isolated / "data") == 0  # refused before a run was started
    assert not (isolated / "reports").exists() or not any((isolated / "reports").rglob("*.md"))


def test_analyze_on_a_missing_table_names_it_and_the_tables_there(cli, db_copy: Path, isolated: Path) -> None:
    result = _analyze(cli, db_copy, "--table", "offers")
    assert result.exit_code == 3
    assert "table 'offers' is not in the database (tables: customer_goals, fpr_records, products)" in result.stderr
    assert runs_recorded(isolated / "data") == 0


def test_analyze_on_an_empty_table_is_refused(cli, tmp_path: Path, isolated: Path) -> None:
    db = tmp_path / "empty.duckdb"
    with duckdb.connect(str(db)) as con:  # written by another tool: the loader refuses empty files
        con.execute("CREATE TABLE fpr_records (customer_id VARCHAR, product_type VARCHAR, "
                    "product_recommendation_status VARCHAR)")
    result = _analyze(cli, db)
    assert result.exit_code == 3
    assert "table 'fpr_records' has nothing to analyse: it has no rows" in result.stderr
    assert runs_recorded(isolated / "data") == 0


def test_analyze_on_a_table_whose_rows_are_all_soft_deleted_is_refused(cli, tmp_path: Path,
                                                                       isolated: Path) -> None:
    path = tmp_path / "gone.csv"
    path.write_text("customer_id,product_type,product_recommendation_status,_fivetran_deleted\n"
                    "A1,Savings,Accepted,true\nA2,Savings,Declined,true\n")
    db = tmp_path / "gone.duckdb"
    assert cli("data", "load", path, "--db", db).exit_code == 0  # deletions are data: they load
    result = _analyze(cli, db)
    assert result.exit_code == 3
    assert "nothing to analyse: all 2 of its rows are soft-deleted" in result.stderr
    assert runs_recorded(isolated / "data") == 0
    (tmp_path / "one.csv").write_text("customer_id,product_type,product_recommendation_status,_fivetran_deleted\n"
                                      "A3,Savings,Accepted,false\n")
    assert cli("data", "load", tmp_path / "one.csv", "--db", db).exit_code == 0
    result = _analyze(cli, db)  # one active row is enough to run
    assert result.exit_code == 0, result.stderr
    assert Path(result.stdout.strip()).exists() and runs_recorded(isolated / "data") == 1


def test_metrics_checks_the_table_the_same_way(cli, db_copy: Path) -> None:
    result = cli("metrics", "--db", db_copy, "--table", "products", "--json")
    assert result.exit_code == 3
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(e["event"], e["exit_code"]) for e in events] == [("error", 3)]  # no dashboard
    assert "table 'products' is not a recommendations table" in events[0]["message"]


def test_a_scheduled_job_on_a_wrong_table_exits_3_and_logs_why(cli, db_copy: Path, isolated: Path) -> None:
    (isolated / "finmatch.toml").write_text(f'[finmatch]\ndb = "{db_copy}"\ntable = "products"\n'
                                            '[schedule.jobs.weekly]\ncron = "0 7 * * MON"\nfocus = ["performance"]\n')
    result = cli("schedule", "run-once", "weekly")
    assert result.exit_code == 3
    log = (isolated / "data" / "logs" / "weekly.log").read_text()
    assert "table 'products' is not a recommendations table" in log and "(exit 3)" in log
    history = json.loads(cli("history", "list", "--json").stdout)
    assert history == []
