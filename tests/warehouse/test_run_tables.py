"""Run tables: an intermediate result built once per run and read by many queries (issue 18).

The sandbox keeps it outside the data file, shows it to every thread under its plain name, and refuses what it
refuses for any query. Each query with a ``run/`` variant gives the same figures through the run table as its
standalone statement, and falls back to the standalone statement when the table cannot stand in for the records.
"""

from __future__ import annotations

import math
import shutil
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.data import queries
from finmatch_agents.data.schema import STATUS_PARAMS
from finmatch_agents.errors import SQLRefused
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse import named
from finmatch_agents.warehouse.engine import DuckDBEngine
from finmatch_agents.warehouse.sqltext import render

PER_CUSTOMER = "SELECT customer_id, count(*) AS n FROM fpr_records GROUP BY customer_id"


def digest(path: Path) -> bytes:
    return path.read_bytes()


def test_a_run_table_is_built_once_read_by_name_from_any_thread_and_never_written_to_the_file(db_copy: Path
                                                                                             ) -> None:
    before = digest(db_copy)
    log = QueryLog()
    with DuckDBEngine(db_copy) as engine:
        built = engine.materialize("run_demo", PER_CUSTOMER, log=log, title="Run table run_demo")
        assert built is not None and built.record.rows > 0 and built.record.columns == ("customer_id", "n")
        assert engine.materialize("run_demo", PER_CUSTOMER, log=log, title="again") is None  # same definition
        here = engine.query("SELECT count(*) AS c, sum(n) AS n FROM run_demo", log=log).first()
        active = engine.query("SELECT count(DISTINCT customer_id) AS c, count(*) AS n FROM fpr_records", log=log)
        assert here == active.first()  # soft-deleted records excluded, as in every query
        seen: list[Any] = []
        worker = threading.Thread(target=lambda: seen.append(
            engine.query("SELECT sum(n) AS n FROM run_demo", log=log).scalar()))
        worker.start()
        worker.join()
        assert seen == [here["n"]]
        assert "run_demo" not in engine.tables()  # not part of the data's catalogue (chat schemas, profiles)
        assert [r.title for r in log.records].count("Run table run_demo") == 1
    assert digest(db_copy) == before


def test_a_run_table_is_refused_what_any_query_is_refused(db_copy: Path) -> None:
    log = QueryLog()
    with DuckDBEngine(db_copy) as engine:
        with pytest.raises(SQLRefused):
            engine.materialize("run_bad", "DELETE FROM fpr_records", log=log, title="bad")
        with pytest.raises(SQLRefused):  # it would hide the data's own table
            engine.materialize("products", PER_CUSTOMER, log=log, title="shadow")
        engine.materialize("run_demo", PER_CUSTOMER, log=log, title="ok")
        with pytest.raises(SQLRefused) as qualified:  # its home database stays out of reach
            engine.query(f"SELECT * FROM {engine._run_db}.main.run_demo", log=log)
        assert qualified.value.rule == "qualified-name"
        assert [r.status for r in log.records][:2] == ["refused", "refused"]


def _params() -> dict[str, Any]:
    return {**STATUS_PARAMS, "table": "fpr_records", "products": "products", **load_assumptions(None).params()}


def _present(engine: DuckDBEngine) -> set[str]:
    return ({c.name for c in engine.columns("fpr_records")}
            | {f"products.{c.name}" for c in engine.columns("products")})


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows; floats equal to 1e-9 (sums regrouped differ only in the last bits)."""
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


VARIANTS = [n for n in named.all_names() if named.load(n).variant]


def test_every_variant_has_its_standalone_querys_columns_and_requirements() -> None:
    assert len(VARIANTS) >= 7
    for name in VARIANTS:
        query, variant = named.load(name), named.load(named.load(name).variant or "")
        assert variant.requires == query.requires and variant.units == query.units, name
        assert variant.reads and all(t in named.RUN_TABLES for t in variant.reads), name
        assert "run table" in variant.title and variant.title.startswith(query.title), name  # says so


#: the placeholders a templated query is run with by its callers (each set is compared)
GROUPINGS: dict[str, list[dict[str, str]]] = {
    "financial/efficiency": [
        {"group_column": "customer_segment", "group_alias": "segment", "group_label": "customer segment"},
        {"group_column": "product_type", "group_alias": "product_type", "group_label": "product type"}],
}


@pytest.mark.parametrize("name", VARIANTS)
def test_a_variant_gives_the_standalone_figures(small_db: Path, name: str) -> None:
    for grouping in GROUPINGS.get(name, [{}]):
        params = {**_params(), **grouping}
        with DuckDBEngine(small_db) as engine:
            log = QueryLog()
            standalone = engine.query(render(named.load(name).sql, **params), log=log)
            through = queries.run(engine, log, name, present=_present(engine), **params)
            assert not isinstance(through, named.Skipped)
            read = named.load(named.load(name).variant or "").reads
            assert all(f"run table {t}" in through.record.title for t in read)  # the variant ran
            assert through.columns == standalone.columns
            assert standalone.rows and _same(through.rows, standalone.rows)
            assert set(read) <= {t for r in log.records for t in r.tables}


def test_customers_with_two_segments_keep_the_queries_on_the_records(small_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "varying.duckdb"
    shutil.copyfile(small_db, db)
    db.chmod(0o644)
    with duckdb.connect(str(db)) as con:  # one record of one customer moves to another segment
        con.execute("UPDATE fpr_records SET customer_segment = 'Student' WHERE record_id = (SELECT min(record_id) "
                    "FROM fpr_records WHERE customer_segment <> 'Student' AND NOT _fivetran_deleted)")
    params = _params()
    with DuckDBEngine(db) as engine:
        log = QueryLog()
        assert named.build_run_table(engine, log, "finmatch_customers", present=_present(engine), **params)
        check = next(r for r in log.records if "does each customer have one row" in r.title)
        assert check.sample[0][0] is False
        for name in ("strategy/segment_roles", "financial/clv_segment", "financial/clv"):
            res = queries.run(engine, log, name, present=_present(engine), **params)
            assert not isinstance(res, named.Skipped) and "run table" not in res.record.title
            standalone = engine.query(render(named.load(name).sql, **params), log=log)
            assert res.record.sql == standalone.record.sql and _same(res.rows, standalone.rows)


def test_without_the_columns_it_needs_no_run_table_is_built_and_the_standalone_query_runs(small_db: Path) -> None:
    params = _params()
    with DuckDBEngine(small_db) as engine:
        log = QueryLog()
        present = _present(engine) - {"customer_satisfaction_score"}
        res = queries.run(engine, log, "financial/cross_sell", present=present, **params)
        assert not isinstance(res, named.Skipped) and "run table" not in res.record.title
        assert not engine.has_run_table("finmatch_customers")


def test_a_run_table_that_cannot_be_built_is_tried_once_and_its_readers_run_standalone(small_db: Path,
                                                                                         tmp_path: Path) -> None:
    db = tmp_path / "taken.duckdb"
    shutil.copyfile(small_db, db)
    db.chmod(0o644)
    with duckdb.connect(str(db)) as con:  # the data itself has a table of that name: never hidden
        con.execute("CREATE TABLE finmatch_customers AS SELECT 1 AS x")
    params = _params()
    with DuckDBEngine(db) as engine:
        log = QueryLog()
        for name in ("financial/cross_sell", "financial/clv"):
            res = queries.run(engine, log, name, present=_present(engine), **params)
            assert not isinstance(res, named.Skipped) and "run table" not in res.record.title
        assert [r.status for r in log.records if r.title.startswith("Run table")] == ["refused"]
        assert engine.query("SELECT x FROM finmatch_customers", log=log).scalar() == 1
