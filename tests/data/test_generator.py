"""The synthetic data: schema, determinism, and the planted patterns visible in plain SQL (computed here
with DuckDB directly, not through our code)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from finmatch_agents.data.generator import (
    NOT_GENERATED,
    PLANTED,
    STALE_LAG_DAYS,
    STALE_SYSTEM,
    generate_tables,
    write_synthetic,
)
from finmatch_agents.data.schema import CORE_COLUMNS, FPR_RECORDS, PRODUCT_TYPES
from finmatch_agents.errors import UsageError

ACTIVE = "SELECT * FROM fpr_records WHERE NOT _fivetran_deleted"


def q(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_has_the_30_core_columns_and_the_extras(small_db: Path) -> None:
    names = [r[0] for r in q(small_db, "DESCRIBE fpr_records")]
    assert len(CORE_COLUMNS) == 30
    assert names == [c.name for c in FPR_RECORDS if c.name not in NOT_GENERATED]
    assert NOT_GENERATED == ("campaign_contacts",)  # the dictionary's campaign column: absent, never made up
    types = dict(q(small_db, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'fpr_records'"))
    assert types["recommendation_score"] == "DOUBLE"
    assert types["product_recommendation_date"] == "DATE"
    assert types["customer_satisfaction_score"] == "INTEGER"


def test_products_catalogue_has_40_products_in_8_types(small_db: Path) -> None:
    rows = q(small_db, "SELECT product_type, count(*) FROM products GROUP BY 1")
    assert {t for t, _ in rows} == set(PRODUCT_TYPES)
    assert sum(n for _, n in rows) == 40
    bad = q(small_db, "SELECT count(*) FROM products WHERE risk_to_customer NOT BETWEEN 1 AND 5 "
                      "OR margin <= 0 OR margin >= 1 OR lock_in_months < 0")
    assert bad == [(0,)]


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, _ = generate_tables(500, 11)
    b, _ = generate_tables(500, 11)
    c, _ = generate_tables(500, 12)
    assert a.equals(b)
    assert not a.equals(c)


def test_values_respect_the_dictionary(small_db: Path) -> None:
    row = q(small_db, f"""SELECT min(recommendation_score), max(recommendation_score),
        min(customer_satisfaction_score), max(customer_satisfaction_score),
        min(customer_churn_probability), max(customer_churn_probability),
        count(*) FILTER (WHERE product_recommendation_status = 'Accepted' AND product_sales_amount IS NULL),
        count(*) FILTER (WHERE product_recommendation_status <> 'Accepted' AND product_sales_amount IS NOT NULL),
        count(DISTINCT record_id) = count(*)
        FROM ({ACTIVE})""")[0]
    assert row[0] >= 0 and row[1] <= 1
    assert row[2] >= 1 and row[3] <= 10
    assert row[4] >= 0 and row[5] <= 1
    assert row[6] == 0 and row[7] == 0 and row[8]


def test_acceptance_rises_with_score(small_db: Path) -> None:
    rates = [r[1] for r in q(small_db, f"""SELECT least(floor(recommendation_score * 5), 4) AS b,
        avg((product_recommendation_status = 'Accepted')::INT) FROM ({ACTIVE}) GROUP BY 1 ORDER BY 1""")]
    assert rates == sorted(rates)
    assert rates[-1] > 5 * rates[0]


def test_one_segment_product_pair_is_mistargeted(small_db: Path) -> None:
    rows = q(small_db, f"""SELECT customer_segment, product_type, avg(recommendation_score) s,
        avg((product_recommendation_status = 'Accepted')::INT) a, count(*) n
        FROM ({ACTIVE}) GROUP BY ALL HAVING count(*) >= 100 ORDER BY s - a DESC LIMIT 1""")
    seg, ptype, score, acc, _ = rows[0]
    assert (seg, ptype) == (PLANTED.mistargeted_segment, PLANTED.mistargeted_type)
    assert score > 0.75 and acc < 0.06


def test_churn_is_driven_by_falling_usage_and_low_satisfaction(small_db: Path) -> None:
    by_trend = dict(q(small_db, f"SELECT customer_product_usage_trend, avg(customer_churn_probability) "
                                f"FROM ({ACTIVE}) GROUP BY 1"))
    assert by_trend["Decreasing"] > 2.5 * by_trend["Stable"] > 2.5 * by_trend["Increasing"] / 2
    low, high = q(small_db, f"""SELECT avg(customer_churn_probability) FILTER (WHERE customer_satisfaction_score <= 4),
        avg(customer_churn_probability) FILTER (WHERE customer_satisfaction_score >= 8) FROM ({ACTIVE})""")[0]
    assert low > 3 * high


def test_one_source_system_is_stale_and_gappy(small_db: Path) -> None:
    rows = q(small_db, f"""SELECT source_system, max(product_recommendation_date),
        avg((customer_email IS NULL)::INT) FROM ({ACTIVE}) GROUP BY 1 ORDER BY 1""")
    newest = {r[0]: r[1] for r in rows}
    nulls = {r[0]: r[2] for r in rows}
    overall = max(newest.values())
    assert (overall - newest[STALE_SYSTEM]).days == STALE_LAG_DAYS
    assert all((overall - d).days == 0 for s, d in newest.items() if s != STALE_SYSTEM)
    assert nulls[STALE_SYSTEM] > 5 * max(v for s, v in nulls.items() if s != STALE_SYSTEM)


def test_one_channel_converts_far_better(small_db: Path) -> None:
    rows = q(small_db, f"""SELECT channel, avg((product_recommendation_status = 'Accepted')::INT) a
        FROM ({ACTIVE}) GROUP BY 1 ORDER BY a DESC""")
    assert rows[0][0] == PLANTED.best_channel
    assert rows[0][1] > 1.4 * rows[1][1]


def test_soft_deleted_rows_would_distort_figures(small_db: Path) -> None:
    with_deleted, without = q(small_db, """SELECT avg((product_recommendation_status = 'Accepted')::INT),
        avg((product_recommendation_status = 'Accepted')::INT) FILTER (WHERE NOT _fivetran_deleted)
        FROM fpr_records""")[0]
    assert q(small_db, "SELECT count(*) FROM fpr_records WHERE _fivetran_deleted")[0][0] > 0
    assert with_deleted > without


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"
    write_synthetic(db, 200, 1, force=False)
    with pytest.raises(UsageError, match="already has table") as exc:
        write_synthetic(db, 200, 2, force=False)
    assert "--force" in (exc.value.hint or "")
    write_synthetic(db, 300, 2, force=True)
    assert q(db, "SELECT count(DISTINCT customer_id) FROM fpr_records")[0][0] == 300


def test_readme_documents_every_planted_pattern() -> None:
    readme = (Path(__file__).resolve().parents[2] / "data" / "README.md").read_text()
    for phrase in (PLANTED.mistargeted_segment, PLANTED.mistargeted_type, PLANTED.best_channel, STALE_SYSTEM,
                   "_fivetran_deleted", "Decreasing", "satisfaction", "decile"):
        assert phrase in readme


def test_churn_outcome_is_one_draw_per_customer_consistent_with_the_probability(small_db: Path) -> None:
    per_customer = q(small_db, f"""SELECT count(DISTINCT customer_churned), any_value(customer_churned)::INT,
        any_value(customer_churn_probability) FROM ({ACTIVE}) GROUP BY customer_id""")
    assert all(r[0] == 1 for r in per_customer)  # the outcome is the customer's, on every record
    by_decile = q(small_db, f"""SELECT ntile(5) OVER (ORDER BY p) AS b, c, p FROM (SELECT customer_id,
        any_value(customer_churned)::INT AS c, any_value(customer_churn_probability) AS p FROM ({ACTIVE})
        GROUP BY 1)""")
    import collections
    groups: dict[int, list[tuple[int, float]]] = collections.defaultdict(list)
    for b, c, p in by_decile:
        groups[b].append((c, p))
    for members in groups.values():  # observed churn tracks the modelled probability in every fifth
        observed = sum(c for c, _ in members) / len(members)
        expected = sum(p for _, p in members) / len(members)
        assert abs(observed - expected) < 0.05
    rates = [sum(c for c, _ in groups[b]) / len(groups[b]) for b in sorted(groups)]
    assert rates[-1] > 4 * rates[0]


def test_the_churn_outcome_leaves_the_other_columns_unchanged() -> None:
    a, _ = generate_tables(300, 5)
    b, _ = generate_tables(300, 6)
    assert a.column_names[-1] == "customer_churned"
    # the outcome has its own random stream: the same seed's other columns do not depend on it
    import numpy as np
    churn = np.random.default_rng([5, 1]).random(300)
    ids = a.column("customer_id").to_pylist()
    probs = dict(zip(ids, a.column("customer_churn_probability").to_pylist(), strict=True))
    outcome = dict(zip(ids, a.column("customer_churned").to_pylist(), strict=True))
    assert all(outcome[c] == (churn[int(c[1:]) - 1] < probs[c]) for c in ids)
    assert not a.equals(b)
