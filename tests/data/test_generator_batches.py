"""The generator draws in slices and writes in batches: the data must not depend on either (a seed gives the same
data at any size, and the data the tests and reports rely on stays exactly what it was)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from finmatch_agents.data import generator
from finmatch_agents.data.generator import _batches, _draw, generate_tables, load_catalogue, write_synthetic

SLICES = (3, 1000)


def _sliced(size: int, step: int, rng: np.random.Generator, draw: Callable[..., np.ndarray]) -> np.ndarray:
    return np.concatenate([draw(rng, a, min(size, a + step)) for a in range(0, size, step)])


@pytest.mark.parametrize("name", ["choice", "normal", "normal_params", "random", "random_2d", "integers",
                                  "integers_bounds", "poisson", "poisson_params", "gamma"])
def test_a_draw_in_slices_is_the_draw_in_one_go(name: str) -> None:
    size = 5_003
    params = np.random.default_rng(1).uniform(0.5, 300, size)
    draws = {
        "choice": lambda r, a, b: r.choice(6, size=b - a, p=(0.08, 0.17, 0.35, 0.20, 0.07, 0.13)),
        "normal": lambda r, a, b: r.normal(0, 55, b - a),
        "normal_params": lambda r, a, b: r.normal(params[a:b], params[a:b] / 10),
        "random": lambda r, a, b: r.random(b - a),
        "random_2d": lambda r, a, b: r.random((b - a, 10)),
        "integers": lambda r, a, b: r.integers(0, 86_400, b - a),
        "integers_bounds": lambda r, a, b: r.integers(0, params[a:b].astype(np.int64) + 1),
        "poisson": lambda r, a, b: r.poisson(3.0, b - a),
        "poisson_params": lambda r, a, b: r.poisson(params[a:b]),
        "gamma": lambda r, a, b: r.gamma(20, 1 / 20, (b - a, 6)),
    }
    draw = draws[name]
    whole = np.random.default_rng(42)
    expected, after = draw(whole, 0, size), whole.random(3)
    for step in SLICES:
        sliced = np.random.default_rng(42)
        assert np.array_equal(_sliced(size, step, sliced, draw), expected)
        assert np.array_equal(sliced.random(3), after)  # and the stream is left where one draw leaves it


def test_slice_and_batch_sizes_do_not_change_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    records, _ = generate_tables(700, 3, co_acceptance=True)
    monkeypatch.setattr(generator, "DRAW_STEP", 97)
    small = pa.Table.from_batches(list(_batches(_draw(700, 3, True), load_catalogue(), rows=333, encoded=False)))
    assert records.num_rows > 2_000 and small.num_rows == records.num_rows
    assert small.equals(records)


def _digest(table: pa.Table) -> str:
    digest = hashlib.sha256(str(table.schema).encode())
    for name in table.column_names:
        digest.update(repr(table.column(name).to_pylist()).encode())
    return digest.hexdigest()[:16]


def test_the_data_is_still_generator_version_3s() -> None:
    # digests of the data generator version 3 made before it drew in slices (the analyses' figures rest on it)
    assert _digest(generate_tables(300, 5)[0]) == "ad7265e12189d9d9"
    assert _digest(generate_tables(300, 5, co_acceptance=True)[0]) == "40d53cfcc880e285"


def test_the_database_holds_the_generated_rows_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "g.duckdb"
    monkeypatch.setattr(generator, "BATCH_ROWS", 1_000)  # several batches
    counts = write_synthetic(db, 900, 4, force=False, co_acceptance=True)
    records, _ = generate_tables(900, 4, co_acceptance=True)
    assert counts["fpr_records"] == records.num_rows > 3_000
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.sql("SELECT * FROM fpr_records").to_arrow_table()
        goals = con.sql("SELECT * FROM customer_goals").to_arrow_table()
    for name in records.column_names:
        assert stored.column(name).to_pylist() == records.column(name).to_pylist(), name
    assert goals.equals(generator.generate_goals(records, 4))


def _stored_digest(db: Path) -> dict[str, str]:
    """A digest of each stored table: its column names and types, then every row in the order it is stored."""
    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table in ("fpr_records", "products", "customer_goals"):
            digest = hashlib.sha256()
            cursor = con.execute(f"SELECT * FROM {table}")
            digest.update(repr([(c[0], c[1]) for c in cursor.description or ()]).encode())
            while rows := cursor.fetchmany(1_000):
                digest.update(repr(rows).encode())
            out[table] = digest.hexdigest()[:16]
    return out


@pytest.mark.parametrize("batch_rows", [None, 1_000])
def test_the_stored_tables_are_the_ones_written_before_the_row_group_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_rows: int | None) -> None:
    # digests of the database `write_synthetic` wrote before its batches were sized to whole row groups: same
    # rows, same values, same order, same types
    if batch_rows is not None:
        monkeypatch.setattr(generator, "BATCH_ROWS", batch_rows)
    db = tmp_path / "g.duckdb"
    write_synthetic(db, 900, 4, force=False, co_acceptance=True)
    assert _stored_digest(db) == {"fpr_records": "4cc38f3663e71a99", "products": "beca50d6e815d802",
                                  "customer_goals": "0ac338b29ea0371a"}


def test_the_batches_fill_whole_row_groups(tmp_path: Path) -> None:
    # a part-filled row group at the end of each batch made CHECKPOINT rewrite the whole table
    assert generator.BATCH_ROWS % generator.ROW_GROUP_ROWS == 0
    with duckdb.connect(str(tmp_path / "rg.duckdb")) as con:  # the row group size of this DuckDB
        con.execute("CREATE TABLE t AS SELECT range AS x FROM range(300000)")
        sizes = {r[0] for r in con.execute("SELECT count FROM pragma_storage_info('t') "
                                           "WHERE row_group_id = 0 AND column_id = 0").fetchall()}
    assert sizes == {generator.ROW_GROUP_ROWS}


def test_a_category_draw_by_binary_search_is_the_comparison_of_every_share() -> None:
    rng = np.random.default_rng(0)
    cum = np.cumsum(np.array(generator.SEGMENT_PRODUCT_MIX), axis=1)  # with zero shares: repeated boundaries
    cum /= cum[:, -1:]
    group = rng.integers(0, cum.shape[0], 50_000)
    u = rng.random(50_000)
    u[:cum.size] = cum.ravel()  # draws exactly on a boundary
    assert np.array_equal(generator._categories(u, cum, group), (u[:, None] > cum[group]).sum(axis=1))
