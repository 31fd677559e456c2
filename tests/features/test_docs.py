"""docs/features.md is generated from the feature spec, and the spec declares exactly what the SQL returns."""

from __future__ import annotations

import ast
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
                assert cols == declared - {"affinity", "usage_trend"}, query
            else:
                assert cols == set(spec.columns_of_query(query)), query
    documented = spec.features_markdown()
    for name in declared | {f.name for f in spec.FEATURES}:
        assert f"`{name}`" in documented


def _imports(folder: Path) -> set[str]:
    out: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("finmatch_agents"):
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name.startswith("finmatch_agents")}
    return out


def test_layers_features_and_match_import_only_below() -> None:
    pkg = ROOT / "finmatch_agents"
    core = ("finmatch_agents.errors", "finmatch_agents.evidence", "finmatch_agents.formatting",
            "finmatch_agents.config", "finmatch_agents.assumptions")
    below = ("finmatch_agents.data", "finmatch_agents.warehouse", *core)
    for module in _imports(pkg / "features"):
        assert module.startswith((*below, "finmatch_agents.features")), module
    for module in _imports(pkg / "match"):
        assert module.startswith((*below, "finmatch_agents.features", "finmatch_agents.match")), module
    assert not any(m.startswith("finmatch_agents.cli") for m in _imports(pkg / "match") | _imports(pkg / "features"))
