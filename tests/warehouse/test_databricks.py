"""The Databricks SQL engine through a fake of the connector at its boundary (``databricks.sql.connect``).

The fake connection answers ``information_schema.columns``, ``current_user()`` and ``SHOW GRANTS`` from fixed data and
runs every other statement (Databricks SQL, as the engine sends it) on an in-memory DuckDB database holding the
small synthetic data under ``cat.sch`` (translated back by sqlglot). No network: the real connector is never used.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot

pytest.importorskip("databricks.sql")
from databricks import sql as dbsql
from databricks.sql import exc as dbexc

from finmatch_agents.config import load_settings
from finmatch_agents.errors import ConfigError, EngineUnavailable, QueryFailed, QueryTimeout
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse.databricks import DatabricksEngine
from finmatch_agents.warehouse.engine import DuckDBEngine, open_engine

TOKEN = "dapi-SECRET-0123456789abcdef"


class FakeWarehouse:
    """What the fake connections share: the data, the grants, the statements received, the connections made."""

    def __init__(self, db: Path) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
        self.con.execute("ATTACH ':memory:' AS cat")
        self.con.execute("CREATE SCHEMA cat.sch")
        for (table,) in self.con.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = "
                                         "'src' AND table_schema = 'main'").fetchall():
            self.con.execute(f'CREATE TABLE cat.sch."{table}" AS SELECT * FROM src.main."{table}"')
        self.lock = threading.Lock()
        self.statements: list[str] = []
        self.connects: list[dict] = []
        self.grants = ["USE SCHEMA", "SELECT"]
        self.schema_exists = True
        self.refuse_connect: Exception | None = None
        self.slow = threading.Event()  # set: the next statement runs until cancelled

    def columns(self, schema: str) -> pa.Table:
        if not self.schema_exists:
            return pa.table({"table_name": pa.array([], pa.string()), "column_name": pa.array([], pa.string()),
                             "full_data_type": pa.array([], pa.string())})
        rows = self.con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns WHERE "
                                "table_catalog = 'cat' AND table_schema = ? ORDER BY table_name, ordinal_position",
                                [schema]).fetchall()
        spark = {"VARCHAR": "string", "INTEGER": "int", "BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean",
                 "DATE": "date", "TIMESTAMP": "timestamp_ntz"}
        return pa.table({"table_name": [r[0] for r in rows], "column_name": [r[1] for r in rows],
                         "full_data_type": [spark.get(r[2], "string") for r in rows]})

    def run(self, sql: str) -> pa.Table:
        with self.lock:
            self.statements.append(sql)
        if "information_schema.columns" in sql:
            return self.columns(re.search(r"table_schema = '([^']*)'", sql).group(1))
        if "current_user()" in sql:
            return pa.table({"user": ["analyst@bank.example"]})
        if sql.startswith("SHOW GRANTS"):
            return pa.table({"Principal": ["analyst@bank.example"] * len(self.grants), "ActionType": self.grants,
                             "ObjectType": ["SCHEMA"] * len(self.grants), "ObjectKey": ["cat.sch"] * len(self.grants)})
        if "JAROWINKLER_SIMILARITY" in sql.upper():  # as Databricks SQL answers: it has no such function
            raise dbexc.ServerOperationError("[UNRESOLVED_ROUTINE] Cannot resolve routine `JAROWINKLER_SIMILARITY` "
                                             "on search path [`system`.`builtin`]. SQLSTATE: 42883")
        duck = sqlglot.transpile(sql, read="databricks", write="duckdb")[0]
        duck = re.sub(r'\b(FROM|JOIN)\s+("?)(fpr_records|products|customer_goals|finmatch_meta)\2(?=[\s)]|$)',
                      r'\1 cat.sch."\3"', duck)  # the session's default catalogue and schema
        try:
            with self.lock:
                return self.con.cursor().sql(duck).to_arrow_table()
        except duckdb.Error as exc:
            raise dbexc.ServerOperationError(f"[UNRESOLVED_ROUTINE] {str(exc).splitlines()[0]} SQLSTATE: 42883") \
                from None


class FakeCursor:
    def __init__(self, warehouse: FakeWarehouse) -> None:
        self.warehouse, self.result, self.cancelled = warehouse, None, threading.Event()

    def execute(self, sql: str) -> None:
        if self.warehouse.slow.is_set():
            self.warehouse.slow.clear()
            if not self.cancelled.wait(60):
                raise AssertionError("never cancelled")
            raise dbexc.RequestError("Query was cancelled")
        self.result = self.warehouse.run(sql)

    def fetchmany_arrow(self, size: int) -> pa.Table:
        return self.result.slice(0, size)

    def fetchall_arrow(self) -> pa.Table:
        return self.result

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, warehouse: FakeWarehouse) -> None:
        self.warehouse = warehouse

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.warehouse)

    def close(self) -> None:
        pass


@pytest.fixture
def warehouse(small_db, monkeypatch) -> FakeWarehouse:
    fake = FakeWarehouse(small_db)

    def connect(server_hostname, http_path, access_token=None, **kwargs):
        if fake.refuse_connect is not None:
            raise fake.refuse_connect
        assert access_token == TOKEN
        with fake.lock:
            fake.connects.append({"host": server_hostname, "http_path": http_path, **kwargs})
        return FakeConnection(fake)

    monkeypatch.setattr(dbsql, "connect", connect)
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-123.azuredatabricks.net/")
    monkeypatch.setenv("DATABRICKS_SQL_HTTP_PATH", "/sql/1.0/warehouses/abc")
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    monkeypatch.setenv("UC_CATALOG", "cat")
    monkeypatch.setenv("UC_SCHEMA", "sch")
    monkeypatch.setenv("UC_TABLE", "fpr_records")
    return fake


def _engine() -> DatabricksEngine:
    return open_engine(load_settings(engine="databricks"))  # type: ignore[return-value]


def test_connects_with_the_seed_variables_and_reads_the_schema(warehouse) -> None:
    with _engine() as engine:
        assert engine.dialect == "databricks"
        assert warehouse.connects[0] == {"host": "adb-123.azuredatabricks.net", "http_path": "/sql/1.0/warehouses/abc",
                                         "catalog": "cat", "schema": "sch"}
        assert "fpr_records" in engine.tables() and engine.location == "databricks adb-123.azuredatabricks.net: cat.sch"
        assert TOKEN not in repr(engine) and TOKEN not in str(vars(engine))


def test_soft_deleted_rows_are_filtered_by_a_rewritten_reference(warehouse, small_db) -> None:
    duck = DuckDBEngine(small_db)
    sql = "SELECT customer_segment, count(*) AS n, avg(account_balance) AS a FROM fpr_records GROUP BY 1 ORDER BY 1"
    with _engine() as engine, duck:
        got, want = engine.query(sql, log=QueryLog()), duck.query(sql, log=QueryLog())
        assert got.rows == want.rows and got.types == want.types
        assert engine.soft_deleted_count("fpr_records", log=QueryLog()) == \
            duck.soft_deleted_count("fpr_records", log=QueryLog()) > 0
    sent = next(s for s in warehouse.statements if "customer_segment" in s)
    assert "`cat`.`sch`.`fpr_records` WHERE NOT COALESCE(`_fivetran_deleted`, FALSE)" in sent
    assert sent.startswith("SELECT * FROM (") and sent.endswith("LIMIT 10001")  # the row cap, server-side


def test_each_thread_has_its_own_connection(warehouse) -> None:
    counts: list[int] = []
    with _engine() as engine:
        def count() -> None:
            counts.append(engine.query("SELECT count(*) AS n FROM products", log=QueryLog()).scalar())

        threads = [threading.Thread(target=count) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(warehouse.connects) == 4 and counts == [40, 40, 40]


def test_deadline_cancels_the_cursor(warehouse, monkeypatch) -> None:
    with _engine() as engine:
        warehouse.slow.set()
        log = QueryLog()
        started = time.perf_counter()
        with pytest.raises(QueryTimeout):
            engine.query("SELECT count(*) AS n FROM products", log=log, timeout=0.5)
        assert time.perf_counter() - started < 60 and log.records[-1].status == "timeout"


def test_a_statement_the_warehouse_cannot_run_exits_3_naming_it(warehouse, cli) -> None:
    result = cli("sql", "SELECT jaro_winkler_similarity(customer_name, 'Ann') AS s FROM fpr_records", "--engine",
                 "databricks")
    assert result.exit_code == 3
    assert "databricks: [UNRESOLVED_ROUTINE]" in result.stderr and "Traceback" not in result.stderr


def test_missing_token_exits_2_and_names_the_variable(warehouse, cli, monkeypatch) -> None:
    monkeypatch.delenv("DATABRICKS_TOKEN")
    result = cli("sql", "SELECT 1 AS one", "--engine", "databricks")
    assert result.exit_code == 2 and "DATABRICKS_TOKEN is not set" in result.stderr


def test_a_token_in_finmatch_toml_is_refused(warehouse, cli, tmp_path) -> None:
    (tmp_path / "finmatch.toml").write_text('[engine.databricks]\nhost = "h"\ntoken = "dapi-in-a-file"\n')
    result = cli("sql", "SELECT 1 AS one", "--engine", "databricks")
    assert result.exit_code == 2 and "only from the environment" in result.stderr
    assert "dapi-in-a-file" not in result.stderr + result.stdout


def test_refused_connection_exits_2_with_the_server_message_and_no_token(warehouse, cli, tmp_path) -> None:
    warehouse.refuse_connect = dbexc.RequestError(f"Error during request to server: 403 Forbidden (token {TOKEN})")
    result = cli("sql", "SELECT 1 AS one", "--engine", "databricks")
    assert result.exit_code == 2
    assert "databricks: cannot connect to adb-123.azuredatabricks.net" in result.stderr and "403" in result.stderr
    assert TOKEN not in result.stderr + result.stdout
    audit = list(tmp_path.rglob("*.jsonl"))
    assert all(TOKEN not in p.read_text() for p in audit)


def test_unknown_schema_exits_2_naming_it(warehouse, cli) -> None:
    warehouse.schema_exists = False
    result = cli("sql", "SELECT 1 AS one", "--engine", "databricks")
    assert result.exit_code == 2 and "schema cat.sch does not exist" in result.stderr


def test_doctor_warns_when_the_principal_can_write(warehouse, cli) -> None:
    ok = cli("doctor", "--engine", "databricks", "--json")
    assert '"read-only credentials", "ok": true' in ok.stdout and "analyst@bank.example" in ok.stdout
    warehouse.grants = ["SELECT", "MODIFY"]
    bad = cli("doctor", "--engine", "databricks")
    assert bad.exit_code == 1 and "can write to cat.sch (MODIFY)" in bad.stdout
    assert TOKEN not in ok.stdout + bad.stdout + bad.stderr


def test_settings_from_finmatch_toml_and_uc_table(warehouse, monkeypatch, tmp_path) -> None:
    for var in ("DATABRICKS_HOST", "DATABRICKS_SQL_HTTP_PATH", "UC_CATALOG", "UC_SCHEMA", "UC_TABLE"):
        monkeypatch.delenv(var)
    (tmp_path / "finmatch.toml").write_text('[engine]\nname = "databricks"\n[engine.databricks]\nhost = "h.example"\n'
                                            'http_path = "/p"\ncatalog = "cat"\nschema = "sch"\ntable = "products"\n')
    settings = load_settings()
    assert settings.engine == "databricks" and settings.table == "products"
    with open_engine(settings) as engine:
        assert engine.location == "databricks h.example: cat.sch"
    monkeypatch.delenv("DATABRICKS_TOKEN")
    with pytest.raises(ConfigError):
        open_engine(settings)


def test_missing_host_is_a_usage_error(warehouse, monkeypatch) -> None:
    monkeypatch.delenv("DATABRICKS_HOST")
    with pytest.raises(ConfigError, match="DATABRICKS_HOST"):
        _engine()


def test_failed_query_message_is_one_line(warehouse) -> None:
    with _engine() as engine, pytest.raises(QueryFailed) as failed:
        engine.query("SELECT jaro_winkler_similarity(customer_name, 'x') AS s FROM fpr_records", log=QueryLog())
    assert failed.value.message.startswith("databricks: ") and "\n" not in failed.value.message
    assert isinstance(failed.value, QueryFailed) and not isinstance(failed.value, EngineUnavailable)
