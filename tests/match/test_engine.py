"""The engine's numbers recomputed independently: shrinkage, Mahalanobis and weighted distances, gates, ranking."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from finmatch_agents.errors import DataError, UsageError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.features import build_customer_features, present_columns
from finmatch_agents.features.products import load_catalogue
from finmatch_agents.match.engine import Matcher, match_customers
from finmatch_agents.match.params import MatchParams, parse_weights
from finmatch_agents.match.shrinkage import ledoit_wolf
from finmatch_agents.stats import newcombe, rate_interval
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits


def load(db: Path):
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as e:
        present = present_columns(e, "fpr_records")
        log = QueryLog()
        return build_customer_features(e, log, "fpr_records", present), load_catalogue(e, log, present)


@pytest.fixture(scope="module")
def data(match_db: Path):
    return load(match_db)


@pytest.fixture(scope="module")
def run(data):
    return match_customers(*data, MatchParams())


def paper_ledoit_wolf(x: np.ndarray) -> np.ndarray:
    """Ledoit & Wolf (2004), lemma 3.2-3.4, written as loops over samples."""
    n, p = x.shape
    xc = x - x.mean(axis=0)
    s = xc.T @ xc / n
    m = np.trace(s) / p
    d2 = np.linalg.norm(s - m * np.eye(p), "fro") ** 2 / p
    b2 = sum(np.linalg.norm(np.outer(r, r) - s, "fro") ** 2 for r in xc) / p / n**2
    shrink = min(b2, d2) / d2
    return shrink * m * np.eye(p) + (1 - shrink) * s


def test_ledoit_wolf_matches_the_paper() -> None:
    x = np.random.default_rng(3).normal(size=(12, 5)) @ np.diag([1, 2, 3, 0.1, 0.5])
    cov, shrink = ledoit_wolf(x)
    assert np.allclose(cov, paper_ledoit_wolf(x)) and 0 < shrink < 1


def test_a_two_product_catalogue_gets_an_invertible_covariance(match_copy: Path) -> None:
    with_products(match_copy, "SELECT * FROM products WHERE product_id IN ('SAV-02', 'MTG-03')")
    features, catalogue = load(match_copy)
    result = match_customers(features, catalogue, MatchParams(top=1))
    space = result.space
    assert space.rank == 1 and space.shrinkage == pytest.approx(0.1)
    assert np.linalg.eigvalsh(space.cov).min() > 0 and np.isfinite(result.distance[result.top[:, 0] >= 0]).all()
    assert any("rank 1 of" in n for n in result.notes)


def test_mahalanobis_distance_of_one_pair_by_hand(data) -> None:
    features, catalogue = data
    m = Matcher(features, catalogue, MatchParams(mode="active"))
    i, j = 11, catalogue.index_of("INV-01")
    row = features.row(i)
    target = np.array([row["risk_appetite"], row["financial_acumen"], row["profit"],
                       1 - row["churn_probability"], 1.0, 0.0])
    position = np.array([catalogue.attrs[d][j] for d in ("risk", "complexity", "revenue", "retention", "value",
                                                         "bank_risk")])
    products = np.column_stack([catalogue.attrs[d] for d in ("risk", "complexity", "revenue", "retention", "value",
                                                             "bank_risk")])
    delta = target - position
    expected = float(np.sqrt(delta @ np.linalg.inv(paper_ledoit_wolf(products)) @ delta))
    assert m.block(slice(i, i + 1)).distance[0, j] == pytest.approx(expected)


def test_passive_weighted_distance_by_hand(data) -> None:
    features, catalogue = data
    m = Matcher(features, catalogue, MatchParams(mode="passive"))
    i, j = 5, catalogue.index_of("SAV-02")
    row = features.row(i)
    target = np.array([0.0, row["financial_acumen"], row["profit"], 1.0, 1.0, 0.0])
    dims = ("risk", "complexity", "revenue", "retention", "value", "bank_risk")
    position = np.array([catalogue.attrs[d][j] for d in dims])
    var = np.diag(paper_ledoit_wolf(np.column_stack([catalogue.attrs[d] for d in dims])))
    w = np.array([2, 1, 0.5, 2, 2, 2])
    expected = float(np.sqrt((w * (target - position) ** 2 / var).sum()))
    assert m.block(slice(i, i + 1)).distance[0, j] == pytest.approx(expected)


def test_offers_pass_every_gate_and_follow_the_documented_order(data, run) -> None:
    features, catalogue = data
    m = Matcher(features, catalogue, MatchParams())
    b = m.block(slice(0, features.n))
    assert (run.top >= 0).all()  # every synthetic customer has at least 3 suitable products
    offered = np.take_along_axis(b.suitable, run.top, axis=1)
    assert offered.all()
    assert np.isfinite(run.distance).all() and np.isfinite(run.points).all()
    for i in (0, 1, 2, 500, 1500):
        suitable = np.flatnonzero(b.suitable[i])
        shortlist = suitable[np.lexsort((suitable, b.distance[i, suitable]))][:6]
        expected = sorted(shortlist, key=lambda j: (-b.points[i, j], b.distance[i, j], j))[:3]
        assert list(run.top[i]) == expected
    again = match_customers(features, catalogue, MatchParams())
    assert np.array_equal(again.top, run.top)


def test_gates_follow_their_rules(data) -> None:
    features, catalogue = data
    m = Matcher(features, catalogue, MatchParams())
    b = m.block(slice(0, features.n))
    risk = catalogue.raw["risk_to_customer"]
    allowed = 1 + np.floor(4 * features.column("risk_appetite") + 0.5)
    assert np.array_equal(b.fails["S1"], risk[None, :] > allowed[:, None])
    held = np.zeros_like(b.fails["H1"])
    for i in range(features.n):
        for p in features.holdings.of(i):
            held[i, catalogue.index_of(p)] = True
    assert np.array_equal(b.fails["H1"], held)
    wm1 = catalogue.index_of("WM-01")
    balance = features.column("balance")
    assert np.isnan(balance).any()  # unknown balance: the cautious reading, no minimum is met
    assert np.array_equal(b.fails["A1"][:, wm1], np.isnan(balance) | (np.nan_to_num(balance) < 250_000))
    churn = features.column("churn_probability")
    mortgage = catalogue.index_of("MTG-01")
    assert np.array_equal(b.fails["L1"][:, mortgage], churn >= 0.5)
    i = int(np.flatnonzero(b.fails["S1"][:, catalogue.index_of("MTG-03")])[0])
    assert "risk level 4 is above the level" in m.gates.reason("S1", i, catalogue.index_of("MTG-03"))


def test_auto_mode_is_passive_from_the_high_churn_threshold(data, run) -> None:
    features, _ = data
    assert np.array_equal(run.passive, features.column("churn_probability") >= 0.5)


def test_business_weight_disclosure_equals_a_run_without_the_bank_dimensions(data, run) -> None:
    customer_only = match_customers(*data, MatchParams(weights={"revenue": 0.0, "bank_risk": 0.0}))
    assert np.array_equal(customer_only.top[:, 0], run.customer_top1)
    changed = int((run.top[:, 0] != customer_only.top[:, 0]).sum())
    assert run.summary()["business_weight"]["top1_changed_by_bank_weights"] == changed > 0


def test_parse_weights() -> None:
    assert parse_weights("revenue=0.5, bank-risk=2") == {"revenue": 0.5, "bank_risk": 2.0}
    for bad, message in (("revenue", "NAME=NUMBER"), ("profit=1", "unknown dimension"), ("risk=x", "not a number"),
                         ("risk=-1", "≥ 0"), ("risk=nan", "finite"),
                         ("risk=0,complexity=0,revenue=0,retention=0,value=0,bank_risk=0", "every dimension is 0")):
        with pytest.raises(UsageError, match=message):
            parse_weights(bad)


def test_top_larger_than_the_catalogue_is_a_usage_error(data) -> None:
    with pytest.raises(UsageError, match="--top 41 is larger than the catalogue \\(40 products\\)"):
        match_customers(*data, MatchParams(top=41))


def with_products(db: Path, select: str) -> Path:
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE OR REPLACE TABLE products AS {select}")
    return db


def test_a_constant_attribute_is_dropped_from_the_distance(match_copy: Path) -> None:
    with_products(match_copy, "SELECT * REPLACE (3 AS complexity) FROM products")
    result = match_customers(*load(match_copy), MatchParams())
    assert "complexity" not in result.space.dims
    assert any("complexity left out of the distance: complexity is the same for every product (3)" in n
               for n in result.notes)


def test_all_constant_attributes_are_an_error(match_copy: Path) -> None:
    with_products(match_copy, "SELECT product_id, product_name, product_type, 2 AS risk_to_customer, margin "
                              "FROM products")
    with pytest.raises(DataError, match="products cannot be told apart"):
        match_customers(*load(match_copy), MatchParams())


def test_a_single_product_catalogue_only_applies_the_gates(match_copy: Path) -> None:
    with_products(match_copy, "SELECT * FROM products WHERE product_id = 'MTG-01'")
    features, catalogue = load(match_copy)
    result = match_customers(features, catalogue, MatchParams(top=1))
    assert result.space.dims == () and any("one product in the catalogue" in n for n in result.notes)
    suitable = result.top[:, 0] == 0
    assert suitable.any() and (~suitable).any()  # L1/L2/A2/S1 keep the mortgage from some customers
    assert np.isnan(result.distance[~suitable, 0]).all() and (result.distance[suitable, 0] == 0).all()


def test_customers_with_no_usable_columns_are_an_error(tmp_path: Path, match_db: Path) -> None:
    db = tmp_path / "bare.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"ATTACH '{match_db}' AS src (READ_ONLY)")
        con.execute("CREATE TABLE fpr_records AS SELECT customer_id, product_type FROM src.fpr_records")
        con.execute("CREATE TABLE products AS SELECT * FROM src.products")
    with pytest.raises(DataError, match="no customer metric can be computed"):
        match_customers(*load(db), MatchParams())


def test_intervals() -> None:
    a, b = rate_interval(56, 70), rate_interval(48, 80)
    d = newcombe(a, b)  # Newcombe (1998), table II, example (b): 0.0524 to 0.3339
    assert (round(d.low, 4), round(d.high, 4)) == (0.0524, 0.3339)
    assert (round(rate_interval(0, 10).high, 4)) == 0.2775
