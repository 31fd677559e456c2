"""The catalogue's matching attributes: scaling, and the bad catalogues that must be refused or degraded."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from finmatch_agents.data.generator import load_catalogue as shipped_catalogue
from finmatch_agents.data.schema import column
from finmatch_agents.errors import DataError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.features import present_columns
from finmatch_agents.features.products import load_catalogue
from finmatch_agents.warehouse.engine import DuckDBEngine


def catalogue_of(db: Path):
    with DuckDBEngine(db) as e:
        return load_catalogue(e, QueryLog(), present_columns(e, "fpr_records"))


def with_products(db: Path, select: str) -> Path:
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE OR REPLACE TABLE products AS {select}")
    return db


def test_shipped_catalogue_has_the_new_optional_columns_within_the_dictionary() -> None:
    rows = shipped_catalogue()
    for name in ("complexity", "min_balance", "min_income", "min_age", "max_age"):
        col = column("products", name)
        assert col is not None and not col.required
        for r in rows:
            value = r[name]
            assert value is None or ((col.min is None or value >= col.min) and (col.max is None or value <= col.max))
    assert {r["complexity"] for r in rows} == {1, 2, 3, 4, 5}
    assert next(r for r in rows if r["product_id"] == "WM-01")["min_balance"] == 250_000


def test_attributes_are_scaled_to_0_1(match_db: Path) -> None:
    c = catalogue_of(match_db)
    assert c.m == 40 and list(c.product_ids) == sorted(c.product_ids)
    j = c.index_of("MTG-01")
    assert c.attrs["risk"][j] == (2 - 1) / 4 and c.attrs["retention"][j] == 1.0
    assert c.attrs["retention"][c.index_of("SAV-02")] == pytest.approx(math.log1p(12) / math.log1p(360))
    assert all(v.min() >= 0 and v.max() <= 1 for v in c.attrs.values())
    assert np.isnan(c.raw["min_balance"][c.index_of("CHK-01")])  # no minimum


def test_bad_catalogues_are_refused_naming_the_problem(match_copy: Path) -> None:
    with_products(match_copy, "SELECT * FROM products UNION ALL SELECT * FROM products WHERE product_id = 'CC-01'")
    with pytest.raises(DataError, match=r"more than once.*CC-01"):
        catalogue_of(match_copy)
    with_products(match_copy, "SELECT DISTINCT * REPLACE (CASE WHEN product_id IN ('INV-01', 'INV-02') THEN NULL "
                              "ELSE complexity END AS complexity) FROM products")
    with pytest.raises(DataError, match=r"complexity is empty for 2 of 40 products.*INV-01, INV-02"):
        catalogue_of(match_copy)
    with_products(match_copy, "SELECT * REPLACE (CASE WHEN product_id = 'CC-01' THEN 9 ELSE risk_to_customer END "
                              "AS risk_to_customer) FROM products")
    with pytest.raises(DataError, match="risk_to_customer outside 1 to 5 for CC-01"):
        catalogue_of(match_copy)
    with_products(match_copy, "SELECT * FROM products WHERE false")
    with pytest.raises(DataError, match="empty"):
        catalogue_of(match_copy)


def test_missing_or_empty_attributes_are_absent_with_a_reason(match_copy: Path) -> None:
    with_products(match_copy, "SELECT * EXCLUDE (complexity) REPLACE (NULL::INTEGER AS min_age) FROM products")
    c = catalogue_of(match_copy)
    assert "complexity" not in c.attrs and c.absent["complexity"] == "the catalogue has no complexity column"
    assert c.absent["min_age"] == "no product sets a min age" and c.has("max_age")


def test_no_catalogue_is_a_data_error_with_the_load_command(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE fpr_records AS SELECT 'C1' AS customer_id")
    with pytest.raises(DataError, match="no product catalogue") as exc:
        catalogue_of(db)
    assert "--table products" in (exc.value.hint or "")
