"""One SQL source, the same numbers on every engine: each named query (with the parameters FinMatch's own callers
pass), each run/ variant over its run table, the engines' feature queries and the chat answers the semantic
layer compiles run on DuckDB and on local Spark over the same ~100k records, and the results are compared:
the same columns, exact for counts, integers, text and dates, 1e-9 relative for floating-point values, and
the same row order where the query orders its rows.

The DuckDB side runs through :class:`DuckDBEngine` (the sandbox); the Spark side through the path a Spark engine
takes: the query's text for the ``spark`` dialect (its ``.spark.sql`` variant when it has one),
:func:`to_dialect`, and the session's ``spark.sql``. No query is "known failing": a query that cannot be
portable has a variant file, and this test runs it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from finmatch_agents.config import load_settings
from finmatch_agents.errors import SQLRefused
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.dialect import to_dialect
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, SOFT_DELETE_COLUMN, open_engine
from finmatch_agents.warehouse.sqltext import placeholders, render
from tests.spark.capture import Call, capture
from tests.spark.conftest import export_parquet

REL = 1e-9
#: at most this many different parameter sets of one query are compared (the first ones its callers used)
PER_QUERY = 2
#: parameters for the queries no caller above reaches on this data (the values their callers pass)
EXTRA: dict[str, Any] = {
    "customer": "C0000042", "train_share": 0.8, "window_from": dt.date(2026, 4, 1), "window_to": None,
    "goals": "customer_goals", "every_offer": True, "z": 1.96, "task": "conversion", "model_id": "m-parity",
    "drift_run_id": "d-parity", "gain": 0.05, "gain_low": 0.02, "gain_high": 0.08, "replaced_offers": 1200,
    "test_days": 90,
    # batch scoring's coded inputs (predict/open_offers_coded): a model's numeric and text inputs and its sorted
    # vocabulary (one value no record has, so "not in it" is compared too)
    "numbers": ["recommendation_score", "account_balance"], "texts": ["customer_segment", "channel"],
    "vocabulary": sorted(["Branch", "Email", "Mass Market", "Mobile App", "Student", "Unseen Segment",
                          "Young Professional"]),
}
#: result columns whose value is the engine's own, by design (compared on one engine only), and why
ENGINE_SPECIFIC: dict[str, tuple[str, ...]] = {
    # the data fingerprint hashes every row with the engine's hash function (DuckDB hash(), Spark xxhash64):
    # it tells a later run on the same engine whether the data changed; its row count is compared
    "profile/fingerprint": ("row_hash",),
}
#: more parameter sets for a query (each over the union above): values a user's text puts there
VARIANTS_OF: dict[str, list[dict[str, Any]]] = {
    "features/close_ids": [{"customer": "C0000042"}, {"customer": "c42x"}, {"customer": "C00000421"}],
}
#: queries only a DuckDB-only command runs (the command exits 2 on another engine), and which the translator
#: refuses by name rather than running something else: batch scoring expands its inputs with COLUMNS over a
#: concatenated list inside a function call. `predict score` writes its scores into the database, so it stays on
#: DuckDB (a warehouse is read-only to FinMatch); a Spark variant is due if it ever reads from one.
DUCKDB_ONLY: dict[str, str] = {"predict/open_offers_coded": "finmatch predict score (batch)"}


# -- the data: the shared records, and the tables scoring and feedback write ------------------------------------
@pytest.fixture(scope="module")
def parity_db(spark_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shared data with the tables `predict score` and `recommend feedback` add, written by their
    own writers (scores of every open offer and customer, a few feedback entries), so the queries over them
    are compared too."""
    import shutil

    import duckdb

    from finmatch_agents.predict.score import write_scores
    from finmatch_agents.recommend.feedback import Entry, record

    path = tmp_path_factory.mktemp("parity-data") / "finmatch.duckdb"
    shutil.copyfile(spark_db, path)
    path.chmod(0o644)
    con = duckdb.connect(str(path), read_only=True)
    try:
        offers = con.sql(
            "SELECT customer_id, record_id, product_id, product_type, (hash(record_id) % 1000) / 1000.0 AS score, "
            "CAST(NULL AS DOUBLE) AS expected_value, CAST(NULL AS INTEGER) AS rank FROM fpr_records "
            "WHERE product_recommendation_status IN ('Pending', 'In Progress')").to_arrow_table()
        customers = con.sql(
            "SELECT customer_id, CAST(NULL AS VARCHAR) AS record_id, CAST(NULL AS VARCHAR) AS product_id, "
            "CAST(NULL AS VARCHAR) AS product_type, (hash(customer_id) % 1000) / 1000.0 AS score, "
            "CAST(NULL AS DOUBLE) AS expected_value, CAST(NULL AS INTEGER) AS rank "
            "FROM (SELECT DISTINCT customer_id FROM fpr_records WHERE customer_id IS NOT NULL)").to_arrow_table()
    finally:
        con.close()
    details = {"table": "fpr_records", "fingerprint": "parity"}
    write_scores(path, "conversion", EXTRA["model_id"], offers, details)
    write_scores(path, "churn", "m-parity-churn", customers, details)
    record(path, [Entry("C0000042", "P001", rating=4), Entry("C0000042", "P002", outcome="accepted"),
                  Entry("C0000777", "P003", rating=2, note="it's too dear")], model_id=None, source="parity")
    _drift_and_match_run(path, tmp_path_factory.mktemp("parity-state"))
    return path


def _drift_and_match_run(path: Path, state: Path) -> None:
    """The tables `predict monitor --record` and `match run` add, by their own writers: two drift measurements of
    the parity model (the newest must win) and a real match run of the data."""
    import os
    import subprocess
    import sys

    from finmatch_agents.predict.monitor import record_drift

    for i, psi in enumerate((0.04, 0.31)):
        features = [{"feature": f, "psi": psi / (k + 1), "level": "act" if psi / (k + 1) >= 0.25 else "stable"}
                    for k, f in enumerate(("account_balance", "recommendation_score", "channel"))]
        summary = {"score_psi": psi, "score_level": "act" if psi >= 0.25 else "stable",
                   "worst_input": "account_balance",
                   "worst_input_psi": psi, "inputs": 3, "inputs_watch": i, "inputs_act": i, "training_rows": 60_000,
                   "current_rows": 61_000 + i, "new_outcome_rows": 500 * i, "new_outcomes_after": "2026-06-01",
                   "new_outcome_auc": 0.71 if i else None, "new_outcome_auc_low": 0.66 if i else None,
                   "new_outcome_auc_high": 0.76 if i else None, "watch": 0.1, "act": 0.25}
        record_drift(path, {"model_id": EXTRA["model_id"], "task": "conversion", "new_outcomes": {},
                            "stability": {"features": features}}, summary, table="fpr_records",
                     fingerprint="parity", source="parity")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_")}, "FINMATCH_STATE_DIR": str(state)}
    done = subprocess.run([sys.executable, "-m", "finmatch_agents", "match", "run", "--db", str(path)],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr


# -- the cases ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def calls(parity_db: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Call]:
    return capture(parity_db, tmp_path_factory.mktemp("parity-work"))


def cases_of(calls: list[Call]) -> dict[str, list[dict[str, Any]]]:
    """Per named query, up to :data:`PER_QUERY` distinct parameter sets; queries no caller reached get the union
    of the callers' parameters and :data:`EXTRA`."""
    union: dict[str, Any] = {}
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: set[tuple[str, Any]] = set()
    for call in calls:
        for key, value in call.kwargs().items():
            union.setdefault(key, value)
        if (call.name, call.params) in seen or len(by_name[call.name]) >= PER_QUERY:
            continue
        seen.add((call.name, call.params))
        by_name[call.name].append(call.kwargs())
    for name in named.all_names():
        if name not in by_name:
            by_name[name].append({**union, **EXTRA})
        by_name[name] += [{**union, **EXTRA, **more} for more in VARIANTS_OF.get(name, [])]
    return by_name


def ordered(sql: str) -> bool:
    """Whether the statement's outermost SELECT orders its rows."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return tree.args.get("order") is not None


# -- comparing ----------------------------------------------------------------------------------------------
def same_value(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return fa == fb or abs(fa - fb) <= REL * max(abs(fa), abs(fb))
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and hasattr(b, "asDict"):
        return same_value(a, b.asDict())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A total order for rows of mixed values (unordered results are compared as sorted lists)."""
    out = []
    for v in row:
        if v is None:
            out.append((0, ""))
        elif isinstance(v, bool | int | float | Decimal):
            out.append((1, float(v)))
        else:
            out.append((2, str(v)))
    return tuple(out)


def differences(duck: tuple[list[str], list[tuple[Any, ...]]], spark: tuple[list[str], list[tuple[Any, ...]]],
                *, in_order: bool) -> str | None:
    (dcols, drows), (scols, srows) = duck, spark
    if dcols != scols:
        return f"columns differ: duckdb {dcols} / spark {scols}"
    if len(drows) != len(srows):
        return f"{len(drows)} rows on duckdb, {len(srows)} on spark"
    if not in_order:
        drows, srows = sorted(drows, key=sort_key), sorted(srows, key=sort_key)
    for i, (d, s) in enumerate(zip(drows, srows, strict=True)):
        for col, x, y in zip(dcols, d, s, strict=True):
            if not same_value(x, y):
                return f"row {i} column {col}: duckdb {x!r} / spark {y!r}"
    return None


Result = tuple[list[str], list[tuple[Any, ...]]]


def by_name(result: Result) -> Result:
    cols, rows = result
    order = sorted(range(len(cols)), key=lambda i: cols[i])
    return [cols[i] for i in order], [tuple(r[i] for i in order) for r in rows]


def without(result: Result, column: str) -> Result:
    cols, rows = result
    i = cols.index(column)
    return cols[:i] + cols[i + 1:], [r[:i] + r[i + 1:] for r in rows]


# -- running ------------------------------------------------------------------------------------------------
class Both:
    """The same data on DuckDB (the sandbox) and on Spark (the session's views), one statement at a time."""

    def __init__(self, db: Path, spark: Any, parquet: Path) -> None:
        tables = export_parquet(db, parquet)  # before the sandbox opens the file (one configuration per process)
        self.engine = open_engine(load_settings(db=db, env={}))
        self.spark = spark
        for table in tables:  # soft-deleted rows hidden, as DuckDBEngine's shadow views (and SparkEngine's) do
            df = spark.read.parquet(str(parquet / f"{table}.parquet"))
            if SOFT_DELETE_COLUMN in df.columns:
                df = df.where(f"NOT coalesce({SOFT_DELETE_COLUMN}, false)")
            df.cache().createOrReplaceTempView(table)  # in memory: ~150 statements read the same 100k rows
        self.log = QueryLog()
        self.present = {c.name for c in self.engine.columns("fpr_records")} | {
            f"{t}.{c.name}" for t in self.engine.tables() if t != "fpr_records" for c in self.engine.columns(t)}
        self.run_tables: set[str] = set()

    def duck(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        res = self.engine.query(sql, log=self.log, title="parity", max_rows=HARD_ROW_CAP)
        assert not res.truncated
        return list(res.columns), [tuple(r) for r in res.rows]

    def on_spark(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        df = self.spark.sql(sql)
        return list(df.columns), [tuple(r) for r in df.collect()]

    def build_run_table(self, run_table: str, params: dict[str, Any]) -> None:
        """The run table on both sides, each from its dialect's definition (DuckDB: the engine's materialize)."""
        if run_table in self.run_tables:
            return
        assert named.build_run_table(self.engine, self.log, run_table, present=self.present, **params)
        definition = named.RUN_TABLES[run_table][0]
        sql = to_dialect(named.render_sql(named.load(definition, "spark").sql, **params), "spark")
        self.spark.sql(sql).cache().createOrReplaceTempView(run_table)
        self.run_tables.add(run_table)

    def compare(self, name: str, params: dict[str, Any]) -> str | None:
        query = named.load(name)
        for run_table in query.reads:
            self.build_run_table(run_table, params)
        parts = int(params.get("parts", 1) or 1)
        if parts > 1:  # each engine hashes rows into parts its own way: all the parts together are compared
            runs = [self._both(name, {**params, "part": part}) for part in range(parts)]
            duck = (runs[0][0][0], [row for run in runs for row in run[0][1]])
            spark = (runs[0][1][0], [row for run in runs for row in run[1][1]])
            sorted_rows = False
        else:
            duck, spark = self._both(name, params)
            sorted_rows = ordered(render(query.sql, **params))
        duck_sql = render(query.sql, **params)
        if "COLUMNS(" in duck_sql:  # expanded in the parameter list's order on Spark, the table's on DuckDB
            duck, spark = by_name(duck), by_name(spark)
        for column in ENGINE_SPECIFIC.get(name, ()):
            duck, spark = without(duck, column), without(spark, column)
        return differences(duck, spark, in_order=sorted_rows)

    def _both(self, name: str, params: dict[str, Any]) -> tuple[Result, Result]:
        duck_sql = render(named.load(name).sql, **params)
        spark_sql = to_dialect(named.render_sql(named.load(name, "spark").sql, **params), "spark")
        return self.duck(duck_sql), self.on_spark(spark_sql)


@pytest.fixture(scope="module")
def both(spark_data: Any, parity_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    pair = Both(parity_db, spark_data.session, tmp_path_factory.mktemp("parity-parquet"))
    yield pair
    pair.engine.close()
    spark_data.session.catalog.clearCache()
    for table in spark_data.tables:  # the shared fixture's views again, for the test files after this one
        spark_data.session.read.parquet(str(spark_data.parquet / f"{table}.parquet")).createOrReplaceTempView(table)


# -- the tests ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", named.all_names())
def test_named_query_gives_the_same_result_on_spark(name: str, both: Both, calls: list[Call]) -> None:
    cases = cases_of(calls)[name]
    query = named.load(name)
    checked = 0
    for params in cases:
        missing = placeholders(query.sql) - params.keys()
        assert not missing, f"{name}: no caller value for {sorted(missing)}: add one to EXTRA"
        if name in DUCKDB_ONLY:
            with pytest.raises(SQLRefused) as refused:
                to_dialect(render(query.sql, **params), "spark")
            assert refused.value.rule == "dialect", f"{name}: {refused.value.message}"
            checked += 1
            continue
        if any(_absent(r, params, both.present) for r in query.requires):
            continue
        problem = both.compare(name, params)
        assert problem is None, f"{name} {params}: {problem}"
        checked += 1
    assert checked, f"{name}: every parameter set lacks a column of the test data"


def _absent(requirement: str, params: dict[str, Any], present: set[str]) -> bool:
    column = named._header(requirement, params)  # the header placeholders, as named.run fills them
    return column not in present


# -- the chat's compiled answers ----------------------------------------------------------------------------
def semantic_kind(query: Any) -> tuple[Any, ...]:
    """What makes two compiled statements differ in shape: the measures, grouping, comparison, breakdown, top-n,
    and whether a period or a range filters them."""
    return (query.measures, bool(query.group_by), query.compare is not None, query.breakdown, query.top is not None,
            query.period is not None, bool(query.ranges))


@pytest.fixture(scope="module")
def compiled(parity_db: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """(question, compiled DuckDB statement): one evaluation question (tests/semantic) per kind the compiler
    answers, compiled as the chat compiles it."""
    from finmatch_agents.chat.session import ChatSession
    from finmatch_agents.errors import UsageError
    from tests.semantic.cases_default import CASES
    from tests.semantic.evaluate import REFUSE

    session = ChatSession(load_settings(db=parity_db, env={}), "parity-semantic")
    try:
        layer = session.semantic
        out: dict[tuple[Any, ...], tuple[str, str]] = {}
        for text, expect in CASES:
            if expect is REFUSE:
                continue
            parse = layer.parse(text)
            if parse.query is None or semantic_kind(parse.query) in out:
                continue
            try:
                out[semantic_kind(parse.query)] = (text, layer.compile(parse.query).sql)
            except UsageError:
                continue
        return list(out.values())
    finally:
        session.close()


def test_the_chats_compiled_answers_are_the_same_on_spark(both: Both, compiled: list[tuple[str, str]]) -> None:
    assert len(compiled) >= 20  # every kind of question the compiler answers, one each
    problems = []
    for question, sql in compiled:
        problem = differences(both.duck(sql), both.on_spark(to_dialect(sql, "spark")), in_order=ordered(sql))
        if problem is not None:
            problems.append(f"{question!r}: {problem}")
    assert not problems, "\n".join(problems)
