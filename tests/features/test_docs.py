"""docs/features.md is generated from the feature spec, and the spec declares exactly what the SQL returns."""

from __future__ import annotations

from pathlib import Path

from finmatch_agents.data import queries
from finmatch_agents.evidence import QueryLog
from finmatch_agents.features import present_columns, spec
from finmatch_agents.warehouse.engine import DuckDBEngine

ROOT = Path(__file__).resolve().parents[2]


def test_features_page_is_generated_from_the_spec() -> None:
    assert (ROOT / "docs" / "features.md").read_text() == spec.features_markdown()


def test_every_column_a_feature_query_returns_is_declared(match_db: Path) -> None:
    params = {"table": "fpr_records", "products": "products", "as_of": None, "column": "product_recommendation_date",
              "customers": ["C0000001"], "parts": 1, "part": 0, **spec.PARAMS}
    declared = {f.name for f in spec.FEATURES if f.query} | {p.name for p in spec.PREFERENCES}
    with DuckDBEngine(match_db) as e:
        present = present_columns(e, "fpr_records")
        for query in (*spec.CUSTOMER_QUERIES, spec.COMBINED_QUERY):
            res = queries.run(e, QueryLog(), query, present=present, **params)
            cols = set(res.columns) - {"cix", "customer_id"}
            if query == spec.COMBINED_QUERY:
                # the per-type preferences come packed: the types list and one list of (tix, affinity, trend) each
                assert cols == (declared - {"affinity", "usage_trend"}) | {"types", "preferences"}, query
            else:
                assert cols == set(spec.columns_of_query(query)), query
    documented = spec.features_markdown()
    for name in declared | {f.name for f in spec.FEATURES}:
        assert f"`{name}`" in documented
