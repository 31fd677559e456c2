"""The customer feature layer: numbers recomputed with plain DuckDB/numpy, absent inputs, cut-off, partitions."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from finmatch_agents.errors import DataError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.features import build_customer_features, present_columns, spec
from finmatch_agents.features.build import MAX_COMBINED_CUSTOMERS
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

ACTIVE = "(SELECT * FROM fpr_records WHERE NOT _fivetran_deleted)"


def engine(db: Path, max_rows: int = HARD_ROW_CAP) -> DuckDBEngine:
    return DuckDBEngine(db, SandboxLimits(max_rows=max_rows, threads=2))


def features_of(db: Path, **kw):
    with engine(db) as e:
        return build_customer_features(e, QueryLog(), "fpr_records", present_columns(e, "fpr_records"), **kw)


@pytest.fixture(scope="module")
def frame(match_db: Path):
    return features_of(match_db)


def sql(db: Path, text: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(text).fetchall()


def percent_rank(x: np.ndarray) -> np.ndarray:
    """DuckDB's percent_rank: (rank - 1) / (n - 1), ties share the lowest rank."""
    order = np.sort(x)
    return np.searchsorted(order, x, side="left") / (len(x) - 1)


def test_one_row_per_active_customer_in_id_order(frame, match_db: Path) -> None:
    ids = [r[0] for r in sql(match_db, f"SELECT DISTINCT customer_id FROM {ACTIVE} ORDER BY 1")]
    assert list(frame.customer_ids) == ids
    assert not frame.absent  # the synthetic data has every input


def test_direct_inputs_match_plain_sql(frame, match_db: Path) -> None:
    rows = sql(match_db, f"""SELECT customer_id, avg(customer_churn_probability), avg(customer_age),
        avg(credit_score), count(*) FILTER (WHERE product_recommendation_status = 'Accepted'),
        count(DISTINCT product_type) FILTER (WHERE product_recommendation_status = 'Accepted'),
        count(*) FILTER (WHERE product_recommendation_status = 'Accepted'
                           AND product_type IN ('Investment', 'Wealth Management'))
        FROM {ACTIVE} GROUP BY 1 ORDER BY 1""")
    churn, age, credit, accepted, types, invest = (np.array([r[k] for r in rows], dtype=float) for k in range(1, 7))
    assert np.allclose(frame.column("churn_probability"), churn)
    assert np.allclose(frame.column("age_score"), np.clip((75 - age) / 55, 0, 1))
    assert np.allclose(frame.column("credit_score_score"), np.clip((credit - 300) / 550, 0, 1))
    assert np.allclose(frame.column("accepted_offers"), accepted)
    assert np.allclose(frame.column("breadth_score"), np.minimum(types / 4, 1))
    assert np.allclose(frame.column("investment_score"), np.minimum(invest / 2, 1))


def test_profit_is_the_revenue_percentile(frame, match_db: Path) -> None:
    rows = sql(match_db, f"""SELECT r.customer_id, coalesce(sum(r.product_sales_amount * p.margin)
        FILTER (WHERE r.product_recommendation_status = 'Accepted'), 0)
        FROM {ACTIVE} r LEFT JOIN products p USING (product_id) GROUP BY 1 ORDER BY 1""")
    revenue = np.array([r[1] for r in rows], dtype=float)
    assert np.allclose(frame.column("annual_revenue"), revenue)
    assert np.allclose(frame.column("profit"), percent_rank(revenue))


def test_percentile_inputs_rank_known_values_only(frame, match_db: Path) -> None:
    rows = sql(match_db, f"SELECT customer_id, avg(account_balance) FROM {ACTIVE} GROUP BY 1 ORDER BY 1")
    balance = np.array([np.nan if r[1] is None else r[1] for r in rows])
    known = ~np.isnan(balance)
    expected = np.full(len(balance), np.nan)
    expected[known] = percent_rank(balance[known])
    assert np.allclose(frame.column("balance_score"), expected, equal_nan=True)


def test_composite_metrics_are_weighted_means_of_the_inputs_present(frame) -> None:
    for metric in (m for m in spec.METRICS if m.composite):
        x = np.column_stack([frame.column(c) for c in metric.inputs])
        w = np.array(metric.weights)
        ok = ~np.isnan(x)
        expected = (np.nan_to_num(x) * w).sum(axis=1) / (ok * w).sum(axis=1)
        assert np.allclose(frame.column(metric.name), expected)
        assert np.nanmin(frame.column(metric.name)) >= 0 and np.nanmax(frame.column(metric.name)) <= 1


def test_holdings_and_preferences_match_sql(frame, match_db: Path) -> None:
    held = sql(match_db, f"""SELECT customer_id, list(DISTINCT product_id ORDER BY product_id) FROM {ACTIVE}
        WHERE product_recommendation_status = 'Accepted' GROUP BY 1 ORDER BY 1 LIMIT 20""")
    for cid, products in held:
        assert frame.holdings.of(frame.index_of(cid)) == products
    cid, ptype, affinity = sql(match_db, f"""SELECT customer_id, product_type, avg(CASE customer_product_affinity
        WHEN 'High' THEN 1 WHEN 'Medium' THEN 0 WHEN 'Low' THEN -1 END) FROM {ACTIVE}
        GROUP BY ALL HAVING count(customer_product_affinity) > 0 ORDER BY 1, 2 LIMIT 1""")[0]
    assert frame.row(frame.index_of(cid))["affinity"][ptype] == pytest.approx(affinity)


def test_one_statement_and_per_group_queries_agree(match_db: Path, frame) -> None:
    ids = [str(frame.customer_ids[i]) for i in (0, 7, -1)]
    fast = features_of(match_db, customers=ids)
    slow = features_of(match_db, customers=ids, combined=False)
    assert spec.COMBINED_QUERY in fast.queries and spec.COMBINED_QUERY not in slow.queries
    rows = [frame.index_of(i) for i in ids]
    for name, values in fast.values.items():
        assert np.array_equal(values, slow.values[name], equal_nan=True), name
        assert np.array_equal(values, frame.values[name][rows], equal_nan=True), name  # percentiles: whole book
    assert [fast.holdings.of(i) for i in range(3)] == [frame.holdings.of(r) for r in rows]
    assert np.allclose(fast.affinity, slow.affinity, equal_nan=True)


@pytest.fixture(scope="module")
def tied_db(match_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic records with ties and gaps in every percentile input (unknown incomes, equal balances,
    equal transaction counts, customers with no revenue)."""
    path = tmp_path_factory.mktemp("tied") / "tied.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"ATTACH '{match_db}' AS src (READ_ONLY)")
        con.execute("CREATE TABLE fpr_records AS SELECT * FROM src.fpr_records")
        con.execute("CREATE TABLE products AS SELECT * FROM src.products")
        con.execute("UPDATE fpr_records SET annual_income = NULL WHERE hash(customer_id) % 5 = 0")
        con.execute("UPDATE fpr_records SET account_balance = 1000 WHERE hash(customer_id) % 7 = 0")
        con.execute("UPDATE fpr_records SET customer_transaction_count = 12 WHERE hash(customer_id) % 3 = 0")
    return path


def test_a_few_customers_get_the_whole_books_percentiles_exactly(tied_db: Path) -> None:
    """The one-statement path counts a customer against one aggregate of the book instead of ranking it
    with percent_rank(): the same numbers, ties (lowest rank), unknown values (NULL) and the extremes included."""
    book = features_of(tied_db)
    names = ("profit", "income_score", "balance_score", "activity_score", "risk_appetite", "financial_acumen")
    picks: set[int] = set()
    for name in names[:4]:
        v = book.values[name]
        known = np.flatnonzero(~np.isnan(v))
        values, counts = np.unique(v[known], return_counts=True)
        tie = values[counts > 1][0]  # every input has ties here (the fixture makes them)
        picks |= {int(known[np.argmin(v[known])]), int(known[np.argmax(v[known])])}
        picks |= {int(i) for i in np.flatnonzero(v == tie)[:2]} | {int(i) for i in np.flatnonzero(np.isnan(v))[:1]}
    ids = sorted(str(book.customer_ids[i]) for i in picks)
    assert len(ids) >= 8
    few = features_of(tied_db, customers=ids)
    assert spec.COMBINED_QUERY in few.queries
    rows = [book.index_of(i) for i in ids]
    assert np.isnan(book.values["income_score"][rows]).any()  # an unknown income stays unknown
    for name in few.values:
        assert np.array_equal(few.values[name], book.values[name][rows], equal_nan=True), name


def test_a_long_customer_list_ranks_the_book_once(match_db: Path, frame) -> None:
    ids = [str(c) for c in frame.customer_ids[: MAX_COMBINED_CUSTOMERS + 1]]
    many = features_of(match_db, customers=ids)
    assert spec.COMBINED_QUERY not in many.queries and "features/profit" in many.queries
    assert np.array_equal(many.values["profit"], frame.values["profit"][: len(ids)])


def test_results_over_the_row_cap_are_fetched_in_parts(match_db: Path, frame) -> None:
    with engine(match_db, max_rows=700) as e:
        log = QueryLog()
        small = build_customer_features(e, log, "fpr_records", present_columns(e, "fpr_records"))
    assert any("part 1 of" in q.title for q in log.records)
    assert list(small.customer_ids) == list(frame.customer_ids)
    for name, values in frame.values.items():
        assert np.allclose(small.values[name], values, equal_nan=True), name


def test_cut_off_reads_only_earlier_records(match_db: Path) -> None:
    cut = date(2025, 6, 1)
    before = features_of(match_db, as_of=cut)
    rows = sql(match_db, f"""SELECT customer_id, count(*) FROM {ACTIVE} WHERE product_recommendation_date < DATE
        '{cut}' GROUP BY 1 ORDER BY 1""")
    assert list(before.customer_ids) == [r[0] for r in rows]
    assert np.array_equal(before.column("records"), [r[1] for r in rows])


@pytest.fixture(scope="module")
def thin_db(match_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic records without income, credit score, churn, interests and affinity."""
    path = tmp_path_factory.mktemp("thin") / "thin.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"ATTACH '{match_db}' AS src (READ_ONLY)")
        con.execute("CREATE TABLE fpr_records AS SELECT * EXCLUDE (annual_income, credit_score, "
                    "customer_churn_probability, customer_product_interests, customer_product_affinity) "
                    "FROM src.fpr_records")
        con.execute("CREATE TABLE products AS SELECT * FROM src.products")
    return path


def test_absent_columns_make_features_absent_not_zero(thin_db: Path) -> None:
    f = features_of(thin_db)
    assert not f.has("churn_probability") and "customer_churn_probability" in f.status["churn_probability"].reason
    assert not f.has("income_score") and "annual_income" in f.status["income_score"].reason
    risk = f.status["risk_appetite"]
    assert risk.present and "income_score" in risk.inputs_absent and "age_score" in risk.inputs_used
    assert f.affinity is None and f.interests is None and f.usage_trend is not None
    notes = " | ".join(f.degradations())
    assert "churn probability absent" in notes and "risk appetite computed without income_score" in notes
    table = f.to_arrow()
    assert table.column("churn_probability").null_count == f.n  # NULL, never 0
    assert "customer_churn_probability" in table.schema.metadata[b"absent"].decode()


def test_no_customer_id_or_no_dates_for_a_cut_off_is_a_data_error(tmp_path: Path) -> None:
    db = tmp_path / "bare.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE fpr_records AS SELECT 'Savings' AS product_type")
        con.execute("CREATE TABLE t2 AS SELECT 'C1' AS customer_id")
    with engine(db) as e, pytest.raises(DataError, match="no customer_id"):
        build_customer_features(e, QueryLog(), "fpr_records", present_columns(e, "fpr_records"))
    with engine(db) as e, pytest.raises(DataError, match="cut-off date needs dated records"):
        build_customer_features(e, QueryLog(), "t2", present_columns(e, "t2"), as_of=date(2025, 1, 1))


def test_columnar_results_equal_row_results(match_db: Path) -> None:
    sql_text = "SELECT customer_id, avg(account_balance) AS b, count(*) AS n FROM fpr_records GROUP BY 1 ORDER BY 1"
    with engine(match_db, max_rows=50) as e:
        rows = e.query(sql_text, log=QueryLog())
        cols = e.query(sql_text, log=QueryLog(), columnar=True)
    assert cols.rows == [] and cols.truncated and rows.truncated and cols.record.rows == 50
    assert list(cols.arrays["customer_id"]) == [r[0] for r in rows.rows]
    assert cols.record.sample == rows.record.sample  # the provenance sample is the same either way


def test_equal_length_holdings_survive_the_row_path(match_db: Path, frame) -> None:
    two = [str(c) for i, c in enumerate(frame.customer_ids) if len(frame.holdings.of(i)) == 2][:3]
    few = features_of(match_db, customers=two)
    assert [few.holdings.of(i) for i in range(len(two))] == [frame.holdings.of(frame.index_of(c)) for c in two]


def test_the_few_customers_records_fragment_is_the_records_fragment_with_hints() -> None:
    """`_records_few` only adds materialisation hints to `_records` (the same rows, read differently)."""
    def bare(name: str) -> str:
        text = re.sub(r"--[^\n]*", "", named.load(name).sql)
        return " ".join(re.sub(r"\b(NOT )?MATERIALIZED\b", "", text).split())

    assert bare("features/_records_few") == bare("features/_records")
    assert "MATERIALIZED" in named.load("features/_records_few").sql
