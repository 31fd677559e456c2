"""DuckDB SQL translated for Spark / Databricks: the guard before and after, the rewrites that keep results equal.

These run without Spark (the results on Spark are compared in tests/spark/test_parity.py)."""

from __future__ import annotations

import pytest

from finmatch_agents.errors import SQLRefused, UsageError
from finmatch_agents.warehouse.dialect import DIALECTS, check_variant, to_dialect

KNOWN = frozenset({"fpr_records", "products"})


def test_duckdb_is_the_identity() -> None:
    sql = 'SELECT "customer_segment", count(*) / 2 FROM fpr_records  -- a comment\n'
    assert to_dialect(sql, "duckdb") == sql


@pytest.mark.parametrize("dialect", ["spark", "databricks"])
def test_identifiers_are_quoted_for_the_target(dialect: str) -> None:
    out = to_dialect('SELECT "customer segment" FROM "fpr_records"', dialect, known_tables=KNOWN)
    assert out == "SELECT `customer segment` FROM `fpr_records`"


def test_division_is_null_on_zero_as_in_duckdb() -> None:
    out = to_dialect("SELECT a / b, a / 2, a / (1 + 1), a / 0 FROM fpr_records", "spark")
    assert out == "SELECT TRY_DIVIDE(a, b), a / 2, a / (1 + 1), TRY_DIVIDE(a, 0) FROM fpr_records"


def test_nulls_sort_last_as_in_duckdb() -> None:
    assert to_dialect("SELECT a FROM fpr_records ORDER BY a, b DESC", "spark") \
        == "SELECT a FROM fpr_records ORDER BY a NULLS LAST, b DESC"


def test_quantiles_become_exact_percentiles() -> None:
    out = to_dialect("SELECT quantile_cont(x, 0.9), median(x), percentile_cont(0.25) WITHIN GROUP (ORDER BY x), "
                     "quantile_disc(x, 0.5) FROM fpr_records", "spark")
    assert out == ("SELECT PERCENTILE(x, 0.9), PERCENTILE(x, 0.5), PERCENTILE(x, 0.25), "
                   "PERCENTILE_DISC(0.5) WITHIN GROUP (ORDER BY x NULLS LAST) FROM fpr_records")
    assert "APPROX" not in out.upper()


@pytest.mark.parametrize(("sql", "construct"), [
    ("SELECT COLUMNS('a.*') FROM fpr_records", "COLUMNS"),
    ("SELECT * REPLACE (1 AS a) FROM fpr_records", "REPLACE"),
    ("SELECT [x * 2 FOR x IN l] FROM fpr_records", "comprehension"),
    ("SELECT * FROM fpr_records ASOF JOIN products ON fpr_records.a >= products.a", "ASOF"),
    ("SELECT CAST(x AS FLOAT[3]) FROM fpr_records", "fixed-size array"),
    ("SELECT * EXCLUDE (a) FROM fpr_records", "EXCLUDE"),
])
def test_constructs_spark_cannot_run_are_refused_by_name(sql: str, construct: str) -> None:
    with pytest.raises(SQLRefused) as caught:
        to_dialect(sql, "spark")
    assert caught.value.rule == "dialect"
    assert construct in caught.value.message
    assert caught.value.hint and ".spark.sql" in caught.value.hint


def test_databricks_has_star_except() -> None:
    assert to_dialect("SELECT * EXCLUDE (a) FROM fpr_records", "databricks") == "SELECT * EXCEPT (a) FROM fpr_records"


@pytest.mark.parametrize(("sql", "rule"), [
    ("DELETE FROM fpr_records", "select-only"),
    ("SELECT 1; SELECT 2", "single-statement"),
    ("SELECT * FROM read_parquet('/etc/x')", "file-function"),
    ("SELECT getenv('HOME')", "forbidden-function"),
    ("SELECT * FROM secrets", "unknown-table"),
    ("SELECT * FROM information_schema.tables", "system-catalog"),
])
def test_the_guard_runs_before_translating(sql: str, rule: str) -> None:
    with pytest.raises(SQLRefused) as caught:
        to_dialect(sql, "spark", known_tables=KNOWN)
    assert caught.value.rule == rule


@pytest.mark.parametrize(("sql", "rule"), [
    ("SELECT reflect('java.lang.System', 'getenv', 'HOME')", "forbidden-function"),
    ("SELECT java_method('java.lang.System', 'exit', 1)", "forbidden-function"),
    ("SELECT raise_error(customer_name) FROM fpr_records", "forbidden-function"),
    ("SELECT input_file_name() FROM fpr_records", "forbidden-function"),
    ("SELECT * FROM parquet.`/tmp/x`", "qualified-name"),
    ("SELECT * FROM read_files('/tmp/x')", "file-function"),
    ("INSERT INTO fpr_records SELECT * FROM fpr_records", "select-only"),
])
def test_the_guard_knows_spark_sql(sql: str, rule: str) -> None:
    """Variant files are written in Spark SQL and checked in it (the rules after translation are these too)."""
    with pytest.raises(SQLRefused) as caught:
        check_variant(sql, "spark", known_tables=KNOWN)
    assert caught.value.rule == rule


def test_the_guard_runs_again_on_the_translated_text() -> None:
    """A function the DuckDB rules allow but Spark's forbid (it would call into the JVM there) is refused."""
    with pytest.raises(SQLRefused) as caught:
        to_dialect("SELECT reflect('java.lang.System', 'getenv', 'HOME')", "spark")
    assert caught.value.rule == "forbidden-function"


def test_an_unknown_dialect_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="duckdb, spark, databricks"):
        to_dialect("SELECT 1", "postgres")
    assert DIALECTS == ("duckdb", "spark", "databricks")
