"""The Spark engine over the shared 100k-record data: same values and types as DuckDB, the sandbox's limits, and
the same report from `finmatch analyze --engine spark` as from DuckDB (one JVM for the whole file)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from finmatch_agents.errors import Interrupted, QueryFailed, QueryTimeout, SQLRefused
from finmatch_agents.evidence import QueryLog
from finmatch_agents.runs import RunStore
from finmatch_agents.warehouse.engine import DuckDBEngine
from finmatch_agents.warehouse.spark import SparkEngine

SAME_SQL = [
    # integer sums (HUGEINT on DuckDB, BIGINT on Spark), averages, a DECIMAL-literal ratio, dates and timestamps
    "SELECT customer_segment, count(*) AS n, avg(account_balance) AS mean_balance, "
    "sum(customer_transaction_count) AS tx, count(*) * 1.0 / 4 AS quarter, max(_fivetran_synced) AS synced, "
    "min(product_sales_date) AS first_sale FROM fpr_records GROUP BY customer_segment ORDER BY customer_segment",
    "SELECT count(*) AS n, count(DISTINCT customer_id) AS customers FROM fpr_records",
    "SELECT product_type, round(sum(product_sales_amount), 2) AS sold FROM fpr_records GROUP BY 1 ORDER BY 2 DESC",
    "SELECT customer_churned, count(*) AS n FROM fpr_records GROUP BY 1 ORDER BY 1",
    # COLUMNS over a list in another order than the table's: Spark gets them in the list's order, the result
    # comes back in DuckDB's (the table's), each value under its own column's name and type
    "SELECT record_id, COLUMNS(lambda c: list_contains(['product_type', 'account_balance', 'customer_segment'], c)) "
    "FROM fpr_records ORDER BY record_id LIMIT 20",
]


@pytest.fixture(scope="module")
def engines(spark_data):
    spark = SparkEngine(tables=spark_data.parquet, session=spark_data.session.newSession())
    duck = DuckDBEngine(spark_data.db)
    yield spark, duck
    spark.close()
    duck.close()


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    return a == b


@pytest.mark.parametrize("sql", SAME_SQL)
def test_values_columns_and_python_types_equal_duckdb(engines, sql) -> None:
    spark, duck = engines
    got, want = spark.query(sql, log=QueryLog()), duck.query(sql, log=QueryLog())
    assert got.columns == want.columns and got.types == want.types
    assert len(got.rows) == len(want.rows) > 0
    for row_got, row_want in zip(got.rows, want.rows, strict=True):
        assert [type(v) for v in row_got] == [type(v) for v in row_want]
        assert all(_close(a, b) for a, b in zip(row_got, row_want, strict=True)), (row_got, row_want)


def test_catalog_and_soft_deleted_rows_as_duckdb(engines) -> None:
    spark, duck = engines
    assert spark.dialect == "spark" and duck.dialect == "duckdb"
    assert spark.tables() == duck.tables()
    assert spark.columns("fpr_records") == duck.columns("fpr_records")
    hidden = spark.soft_deleted_count("fpr_records", log=QueryLog())
    assert hidden == duck.soft_deleted_count("fpr_records", log=QueryLog()) > 0
    total = duck.query("SELECT count(*) FROM fpr_records", log=QueryLog()).scalar()
    assert spark.query("SELECT count(*) FROM fpr_records", log=QueryLog()).scalar() == total
    assert spark.query("SELECT count(*) FROM fpr_records WHERE _fivetran_deleted", log=QueryLog()).scalar() == 0
    assert "Physical Plan" in spark.explain("SELECT count(*) AS n FROM fpr_records")


def test_row_cap_marks_truncation_and_logs(engines) -> None:
    spark, _ = engines
    log = QueryLog()
    result = spark.query("SELECT record_id FROM fpr_records ORDER BY record_id", log=log, max_rows=5)
    assert len(result.rows) == 5 and result.truncated
    assert log.records[-1].rows == 5 and log.records[-1].truncated and log.records[-1].status == "ok"


def test_guard_runs_before_translation(engines) -> None:
    spark, _ = engines
    log = QueryLog()
    with pytest.raises(SQLRefused) as refused:
        spark.query("SELECT * FROM finmatch_base_fpr_records", log=log)  # the unfiltered table is unreachable
    assert refused.value.rule == "unknown-table" and log.records[-1].status == "refused"
    with pytest.raises(SQLRefused):
        spark.query("DROP VIEW fpr_records", log=QueryLog())


def test_a_query_spark_cannot_run_names_the_engine_and_the_server_message(engines) -> None:
    spark, _ = engines
    log = QueryLog()
    with pytest.raises(QueryFailed) as failed:
        spark.query("SELECT CAST(customer_name AS INTEGER) AS n FROM fpr_records", log=log)  # ANSI: a cast error
    message = failed.value.message
    assert message.startswith("spark: [CAST_INVALID_INPUT]") and "Traceback" not in message and "\n" not in message
    name = spark.query("SELECT customer_name FROM fpr_records LIMIT 1", log=QueryLog()).scalar()
    assert name not in message and "'…'" in message  # the customer's name is not carried out in the error
    assert log.records[-1].status == "error" and name not in (log.records[-1].error or "")


def test_deadline_and_cancel_stop_the_job(engines) -> None:
    spark, _ = engines
    slow = "SELECT count(*) FROM fpr_records a CROSS JOIN fpr_records b WHERE a.record_id < b.record_id"
    log = QueryLog()
    with pytest.raises(QueryTimeout):
        spark.query(slow, log=log, timeout=1.0)
    assert log.records[-1].status == "timeout"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            spark.query(slow, log=QueryLog())
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    while not spark._running:
        worker.join(0.05)
    worker.join(1.0)
    spark.interrupt_running()
    worker.join(120)
    assert not worker.is_alive() and len(errors) == 1 and isinstance(errors[0], Interrupted)
    assert spark.query("SELECT 1 AS one", log=QueryLog()).scalar() == 1  # still usable after an interrupt


def test_run_table_is_a_cached_view_with_the_same_rows(engines) -> None:
    spark, duck = engines
    sql = ("SELECT customer_id, count(*) AS n, sum(product_sales_amount) AS sold FROM fpr_records "
           "GROUP BY customer_id")
    assert spark.materialize("finmatch_customers", sql, log=QueryLog(), title="customers") is not None
    assert spark.materialize("finmatch_customers", sql, log=QueryLog(), title="customers") is None
    duck.materialize("finmatch_customers", sql, log=QueryLog(), title="customers")
    check = "SELECT count(*) AS customers, sum(n) AS n, round(sum(sold), 4) AS sold FROM finmatch_customers"
    got, want = spark.query(check, log=QueryLog()), duck.query(check, log=QueryLog())
    assert got.rows == want.rows and got.types == want.types


def test_prefetched_statements_are_adopted_in_order(engines) -> None:
    spark, _ = engines
    first, second = SAME_SQL[1], SAME_SQL[3]
    spark.prefetch(first, second)
    log = QueryLog()
    a = spark.query(first, log=log, title="a")
    b = spark.query(second, log=log, title="b")
    assert [r.id for r in log.records] == ["Q1", "Q2"] and [r.title for r in log.records] == ["a", "b"]
    assert a.scalar() > 0 and len(b.rows) == 2


def _findings(state: Path) -> dict[str, tuple[str, dict]]:
    store = RunStore(state / "runs.sqlite")
    try:
        runs = store.list_runs()
        assert len(runs) == 1 and runs[0]["status"] == "completed"
        return {f.id: (f.statement, f.values) for f in store.findings(runs[0]["run_id"])}
    finally:
        store.close()


def test_same_report_on_spark_as_on_duckdb(spark_data, cli, tmp_path, monkeypatch) -> None:
    """`finmatch analyze` (offline analyst) on DuckDB and with --engine spark over the same data: every finding's
    statement and values are equal (only timings, the SQL text and the dataset fingerprint differ)."""
    (tmp_path / "finmatch.toml").write_text(f'[engine.spark]\ntables = "{spark_data.parquet}"\n')
    assert_same_report(spark_data.db, cli, tmp_path, monkeypatch)


def assert_same_report(db: Path, cli, tmp_path: Path, monkeypatch) -> None:
    """Analyze ``db`` on DuckDB and with --engine spark (as tmp_path/finmatch.toml configures it) and compare."""
    monkeypatch.setenv("FINMATCH_SQL_TIMEOUT", "900")  # a loaded CI machine: a deadline is not what this checks
    found = {}
    for engine in ("duckdb", "spark"):
        monkeypatch.setenv("FINMATCH_STATE_DIR", str(tmp_path / engine))
        result = cli("analyze", "--db", db, "--engine", engine, "--out", tmp_path / engine / "reports", "--json")
        assert result.exit_code == 0, result.stdout + result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        failed = [e for e in events if e.get("event") == "query" and e.get("status") != "ok"]
        assert not failed, failed
        found[engine] = _findings(tmp_path / engine)
    duck, spark = found["duckdb"], found["spark"]
    assert len(duck) >= 30 and duck.keys() == spark.keys()
    for key, (statement, values) in duck.items():
        assert spark[key][0] == statement, key
        assert _same(spark[key][1], values), (key, spark[key][1], values)


def _same(a, b) -> bool:
    """Equal values: exact for counts, text and dates; floats to 1e-9 relative (summation order differs)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return _close(a, b)
    return type(a) is type(b) and a == b


def test_doctor_shows_the_spark_engine_and_that_it_connects(spark_data, cli, tmp_path) -> None:
    (tmp_path / "finmatch.toml").write_text(f'[engine.spark]\ntables = "{spark_data.parquet}"\n')
    result = cli("doctor", "--engine", "spark", "--json")
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["engine"]["ok"] and checks["engine"]["detail"].startswith(f"spark local[2]: {spark_data.parquet}")
    assert checks["database"]["ok"] and "fpr_records has" in checks["database"]["detail"]
    assert "no access control" in checks["read-only credentials"]["detail"]


@pytest.mark.parametrize("question", ["Which segment has the highest churn?", "acceptance rate by channel"])
def test_ask_answers_the_same_on_spark(spark_data, cli, tmp_path, monkeypatch, question) -> None:
    (tmp_path / "finmatch.toml").write_text(f'[engine.spark]\ntables = "{spark_data.parquet}"\n')
    answers = {}
    for engine in ("duckdb", "spark"):
        monkeypatch.setenv("FINMATCH_STATE_DIR", str(tmp_path / engine))  # each session numbers its queries from Q1
        result = cli("ask", question, "--db", spark_data.db, "--engine", engine, "--json")
        assert result.exit_code == 0, result.stdout + result.stderr
        answer = json.loads(result.stdout)
        answers[engine] = (answer["markdown"], [table["rows"] for table in answer["tables"]])
    assert answers["spark"][0] == answers["duckdb"][0] and answers["duckdb"][1]
    assert _same(answers["spark"][1], answers["duckdb"][1])


def _without(d: dict, *keys: str) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


def test_match_and_recommend_answer_the_same_on_spark(spark_data, cli, tmp_path, monkeypatch) -> None:
    """The engines that only read (match customer and evaluate, recommend train, evaluate and for) run their
    feature queries on Spark and give DuckDB's answers; `match run`, which writes a table, stays on DuckDB."""
    (tmp_path / "finmatch.toml").write_text(f'[engine.spark]\ntables = "{spark_data.parquet}"\n')
    monkeypatch.setenv("FINMATCH_SQL_TIMEOUT", "900")
    got: dict[str, dict] = {}
    for engine in ("duckdb", "spark"):
        monkeypatch.setenv("FINMATCH_STATE_DIR", str(tmp_path / engine))  # each its own recommender registry
        answers = {}
        for name, args in (("customer", ("match", "customer", "C0000042")), ("evaluate", ("match", "evaluate")),
                           ("train", ("recommend", "train", "--candidates", "item_cf")),
                           ("for", ("recommend", "for", "C0000042"))):
            result = cli(*args, "--db", spark_data.db, "--engine", engine, "--json")
            assert result.exit_code == 0, (engine, name, result.stdout + result.stderr)
            answers[name] = json.loads(result.stdout)
        got[engine] = answers
    duck, spark = got["duckdb"], got["spark"]
    assert duck["customer"]["offers"] and _same(_without(spark["customer"], "queries"),
                                                _without(duck["customer"], "queries"))
    assert _same(_without(spark["evaluate"], "query_log"), _without(duck["evaluate"], "query_log"))
    assert _same(spark["train"]["evaluation"], duck["train"]["evaluation"])
    assert duck["for"]["products"] and spark["for"]["products"] == duck["for"]["products"]
    monkeypatch.setenv("FINMATCH_ENGINE", "spark")
    refused = cli("match", "run", "--db", spark_data.db)
    assert refused.exit_code == 2 and "runs on the DuckDB engine only" in refused.stdout + refused.stderr


def test_a_conversion_model_trained_on_spark_is_the_one_trained_on_duckdb(spark_data, cli, tmp_path,
                                                                          monkeypatch) -> None:
    """`predict train conversion` reads its frames on Spark (the input columns come back in DuckDB's order) and
    fits the same models: every holdout, k-fold and importance figure equal; only the fingerprint differs."""
    (tmp_path / "finmatch.toml").write_text(f'[engine.spark]\ntables = "{spark_data.parquet}"\n')
    monkeypatch.setenv("FINMATCH_SQL_TIMEOUT", "900")
    got = {}
    for engine in ("duckdb", "spark"):
        monkeypatch.setenv("FINMATCH_STATE_DIR", str(tmp_path / engine))
        result = cli("predict", "train", "conversion", "--promote", "--db", spark_data.db, "--engine", engine,
                     "--json")
        assert result.exit_code == 0, (engine, result.stdout + result.stderr)
        scored = cli("predict", "score", "conversion", "--customer", "C0000042", "--db", spark_data.db, "--engine",
                     engine, "--json")  # one customer: printed, nothing written, so any engine
        assert scored.exit_code == 0, (engine, scored.stdout + scored.stderr)
        got[engine] = {**_without(json.loads(result.stdout), "model_id", "path", "queries", "query_log", "timings",
                                  "fingerprint"), "scored": json.loads(scored.stdout)["rows"]}
    assert got["duckdb"]["holdout"] and got["duckdb"]["scored"] and _same(got["spark"], got["duckdb"])
    monkeypatch.setenv("FINMATCH_ENGINE", "spark")
    batch = cli("predict", "score", "conversion", "--db", spark_data.db)  # writes the scores table: DuckDB only
    assert batch.exit_code == 2 and "runs on the DuckDB engine only" in batch.stderr


def test_similar_customers_are_the_same_on_spark(spark_data, cli, tmp_path, monkeypatch) -> None:
    """`finmatch similar` builds its index from the feature queries on Spark and ranks the same customers, with
    the same reasons, as on DuckDB (only the index key, which holds the engine's own data fingerprint, differs)."""
    (tmp_path / "finmatch.toml").write_text(f'[engine.spark]\ntables = "{spark_data.parquet}"\n')
    monkeypatch.setenv("FINMATCH_SQL_TIMEOUT", "900")
    got: dict[str, list[dict]] = {}
    for engine in ("duckdb", "spark"):
        monkeypatch.setenv("FINMATCH_STATE_DIR", str(tmp_path / engine))
        answers = []
        for args in (("customers with credit score above 750 interested in investment products",),
                     ("--like", "C0000042")):
            result = cli("similar", *args, "--top", "10", "--ranker", "lexical", "--db", spark_data.db,
                         "--engine", engine, "--json")
            assert result.exit_code == 0, (engine, args, result.stdout + result.stderr)
            answers.append(_without(json.loads(result.stdout), "index_key", "ms", "query_ids"))
        got[engine] = answers
    assert got["duckdb"][0]["results"] and got["duckdb"][1]["results"]
    assert _same(got["spark"], got["duckdb"])
