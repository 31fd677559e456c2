"""DuckDB SQL translated for Spark / Databricks: the guard before and after, the rewrites that keep results equal.

These run without Spark (the results on Spark are compared in tests/spark/test_parity.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from finmatch_agents.errors import SQLRefused, UsageError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.dialect import DIALECT_MARKER, DIALECTS, check_variant, to_dialect

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
    assert out == ("SELECT PERCENTILE(x, CAST(0.9 AS DOUBLE)), PERCENTILE(x, 0.5), "
                   "PERCENTILE(x, CAST(0.25 AS DOUBLE)), PERCENTILE_DISC(CAST(0.5 AS DOUBLE)) WITHIN GROUP "
                   "(ORDER BY x NULLS LAST) FROM fpr_records")
    assert "APPROX" not in out.upper()


@pytest.mark.parametrize(("sql", "construct"), [
    ("SELECT COLUMNS('a.*') FROM fpr_records", "COLUMNS"),
    ("SELECT COLUMNS(lambda c: c LIKE 'a%') FROM fpr_records", "COLUMNS"),
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


def test_decimal_constants_are_doubles_as_duckdb_averages_them() -> None:
    out = to_dialect("SELECT avg(CASE WHEN a THEN 1.0 ELSE 0.0 END), round(x, 2), 3 FROM fpr_records", "spark")
    assert out == ("SELECT AVG(CASE WHEN a THEN CAST(1.0 AS DOUBLE) ELSE CAST(0.0 AS DOUBLE) END), ROUND(x, 2), 3 "
                   "FROM fpr_records")


def test_columns_over_a_constant_list_is_expanded_and_exclude_resolved() -> None:
    sql = ("WITH p AS NOT MATERIALIZED (SELECT k, min(d) AS first, arg_max(COLUMNS(lambda c: list_contains(['b', 'a'], "
           "c)), (d, k)) FROM fpr_records GROUP BY k), q AS (SELECT 1 AS r, * EXCLUDE (k, first) FROM p) "
           "SELECT * FROM q WHERE hash(r) % 4 = 1")
    assert to_dialect(sql, "spark") == (
        "WITH p AS (SELECT k, MIN(d) AS first, MAX_BY(`b`, STRUCT(d, k)) FILTER(WHERE NOT `b` IS NULL) AS `b`, "
        "MAX_BY(`a`, STRUCT(d, k)) FILTER(WHERE NOT `a` IS NULL) AS `a` FROM fpr_records GROUP BY k), "
        "q AS (SELECT 1 AS r, `b`, `a` FROM p) SELECT * FROM q "
        "WHERE PMOD(XXHASH64(r), 9223372036854775807) % 4 = 1")


def test_ordered_any_value_and_an_empty_list_parameter() -> None:
    out = to_dialect("SELECT any_value(g ORDER BY g), any_value(a ORDER BY b DESC) FROM fpr_records "
                     "WHERE NULL IS NULL OR list_contains(NULL, customer_id)", "spark")
    assert out == ("SELECT MIN(g), MAX_BY(a, b) FILTER(WHERE NOT a IS NULL) FROM fpr_records "
                   "WHERE NULL IS NULL OR CAST(NULL AS BOOLEAN)")


def test_arg_max_skips_null_values_and_ordered_lists_keep_their_order() -> None:
    out = to_dialect("SELECT arg_max(a, d), arg_min(a, d) FILTER (WHERE c), list(t ORDER BY i) FROM fpr_records",
                     "spark")
    ordered = "TRANSFORM(ARRAY_SORT(COLLECT_LIST(STRUCT(i AS k0, t AS v))), s -> s.v)"
    assert out == ("SELECT MAX_BY(a, d) FILTER(WHERE NOT a IS NULL), MIN_BY(a, d) FILTER(WHERE (c) AND NOT a IS NULL), "
                   f"CASE WHEN SIZE({ordered}) = 0 THEN NULL ELSE {ordered} END FROM fpr_records")


def test_an_ordered_distinct_list_is_a_sorted_set() -> None:
    """... and a list of no rows is NULL, as in DuckDB (Spark's is empty)."""
    held = "ARRAY_SORT(COLLECT_SET(p) FILTER(WHERE s = 'A'))"
    assert to_dialect("SELECT list(DISTINCT p ORDER BY p) FILTER (WHERE s = 'A') FROM fpr_records", "spark") == (
        f"SELECT CASE WHEN SIZE({held}) = 0 THEN NULL ELSE {held} END FROM fpr_records")


def test_epoch_ms_of_a_timestamp_counts_milliseconds() -> None:
    assert to_dialect("SELECT epoch_ms(TRY_CAST(d AS TIMESTAMP)) FROM fpr_records", "spark") == (
        "SELECT TIMESTAMPDIFF(MILLISECOND, CAST('1970-01-01 00:00:00' AS TIMESTAMP_NTZ), TRY_CAST(d AS TIMESTAMP_NTZ)) "
        "FROM fpr_records")


def test_a_variant_text_is_checked_in_spark_and_not_translated() -> None:
    text = "-- dialect: spark\nSELECT date_from_unix_date(1) AS d, `x` FROM fpr_records"
    assert to_dialect(text, "spark") == text
    assert to_dialect(text, "databricks") == text
    with pytest.raises(SQLRefused) as caught:
        to_dialect(text, "duckdb")
    assert caught.value.rule == "dialect"
    with pytest.raises(SQLRefused) as caught:
        to_dialect("-- dialect: spark\nSELECT reflect('java.lang.System', 'exit', 1)", "spark")
    assert caught.value.rule == "forbidden-function"


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


# -- dialect variants of named queries (name.spark.sql) ------------------------------------------------------
def test_every_variant_loads_with_its_originals_header() -> None:
    assert named.variants(), "the variant files are found"
    for variant in named.variants():
        name = variant.rsplit(".", 1)[0]
        base = named.load(name)
        for dialect in ("spark", "databricks"):
            query = named.load(name, dialect)
            assert query.sql.startswith(DIALECT_MARKER + "\n")
            assert (query.title, query.requires, query.units, query.variant, query.reads, query.check) == (
                base.title, base.requires, base.units, base.variant, base.reads, base.check)
        assert DIALECT_MARKER not in base.sql  # DuckDB never reads a variant


def test_variants_are_not_named_queries_of_their_own() -> None:
    names = named.all_names()
    assert not [n for n in names if n.endswith(".spark")]
    assert {v.rsplit(".", 1)[0] for v in named.variants()} <= set(names)


@pytest.fixture
def sql_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package folder of named queries of our own (``warehouse/sql`` under ``tmp_path``)."""
    root = tmp_path / "pkg"
    (root / "sql" / "demo").mkdir(parents=True)
    monkeypatch.setattr(named.resources, "files", lambda _package: root)
    named.load.cache_clear()
    yield root / "sql" / "demo"
    named.load.cache_clear()


def test_a_variant_whose_header_differs_fails_to_load(sql_root: Path) -> None:
    (sql_root / "q.sql").write_text("-- title: Acceptance\n-- units: rate=percent\nSELECT 1 AS rate\n")
    (sql_root / "q.spark.sql").write_text("-- title: Acceptance on Spark\nSELECT 1 AS rate\n")
    with pytest.raises(ValueError, match="'title' header"):
        named.load("demo/q", "spark")
    assert named.load("demo/q").sql == "SELECT 1 AS rate"


def test_variants_and_fragments(sql_root: Path) -> None:
    (sql_root / "_frag.sql").write_text("SELECT 1 AS a")
    (sql_root / "_frag.spark.sql").write_text("SELECT 1D AS a")
    (sql_root / "q.sql").write_text("-- title: Q\n-- units: a=number\nWITH f AS ({{> demo/_frag}}) SELECT a FROM f\n")
    (sql_root / "plain.sql").write_text("-- title: P\nWITH f AS ({{> demo/_frag}}) SELECT a FROM f\n")
    assert named.load("demo/q").sql == "WITH f AS (SELECT 1 AS a) SELECT a FROM f"
    # no variant of its own: DuckDB SQL throughout (translated whole), with the DuckDB fragment
    assert named.load("demo/q", "spark").sql == named.load("demo/q").sql
    (sql_root / "q.spark.sql").write_text("WITH f AS ({{> demo/_frag}}) SELECT a FROM f WHERE a > {{x}}\n")
    named.load.cache_clear()
    spark = named.load("demo/q", "spark")
    assert spark.sql == "-- dialect: spark\nWITH f AS (SELECT 1D AS a) SELECT a FROM f WHERE a > {{x}}"
    assert (spark.title, spark.units) == ("Q", {"a": "number"})
    assert named.render_sql(spark.sql, x="it's") == (
        "-- dialect: spark\nWITH f AS (SELECT 1D AS a) SELECT a FROM f WHERE a > 'it\\'s'")


class _Recorder:
    def __init__(self, dialect: str | None) -> None:
        if dialect is not None:
            self.dialect = dialect
        self.sent: list[str] = []

    def query(self, sql: str, **_kw: object) -> str:
        self.sent.append(sql)
        return sql


@pytest.mark.parametrize(("dialect", "variant"), [(None, False), ("duckdb", False), ("spark", True),
                                                  ("databricks", True)])
def test_run_picks_the_text_by_the_engines_dialect(dialect: str | None, variant: bool) -> None:
    engine = _Recorder(dialect)
    named.run(engine, QueryLog(), "match/cutoff", present={"product_recommendation_date"},  # type: ignore[arg-type]
              table="fpr_records", train_share=0.8)
    assert engine.sent[0].startswith(DIALECT_MARKER) is variant
    assert ("`fpr_records`" in engine.sent[0]) is variant
    assert named.statement("match/cutoff", present={"product_recommendation_date"}, dialect=dialect or "duckdb",
                           table="fpr_records", train_share=0.8) == engine.sent[0]
