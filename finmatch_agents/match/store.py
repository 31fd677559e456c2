"""Write the engine's offers as the ``matches`` table: all-or-nothing, versioned, through the data writer.

``finmatch match run`` is the only writer. It goes through :func:`data.writer.atomic_write` (one
transaction on the existing database, the same lock as ``finmatch data``), replacing ``matches`` whole and
appending the run to ``match_runs``; ``finmatch_meta`` records the parameters and the data fingerprint.
A failure anywhere leaves the previous ``matches`` in place. The sandbox then reads ``matches`` like any
table (``finmatch sql "SELECT ... FROM matches"``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from finmatch_agents.data import queries, writer
from finmatch_agents.data.profile import _fingerprint
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    import duckdb

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.features.products import Catalogue
    from finmatch_agents.match.engine import MatchRun
    from finmatch_agents.warehouse.engine import Engine

MATCHES = "matches"
RUNS = "match_runs"
ENGINE_VERSION = "1"
MATCHES_COLUMNS = (
    ("run_id", "VARCHAR", "The match run that wrote the row (match_runs.run_id)."),
    ("customer_id", "VARCHAR", "Customer."),
    ("rank", "INTEGER", "Place of the offer in the customer's list (1 = first)."),
    ("product_id", "VARCHAR", "Offered product (products.product_id)."),
    ("product_name", "VARCHAR", "Product name."),
    ("product_type", "VARCHAR", "Product type."),
    ("mode", "VARCHAR", "active (Mahalanobis) or passive (weighted vector distance, retention first)."),
    ("distance", "DOUBLE", "Stage-1 distance between the customer's targets and the product (smaller = closer)."),
    ("preference", "DOUBLE", "Stage-2 preference points (interest, affinity, usage trend)."),
    ("customer_interest_rank", "INTEGER", "Place of the same product when revenue and risk to the bank weigh 0."),
    ("suitable_products", "INTEGER", "How many catalogue products passed every gate for the customer."),
)
RUNS_DDL = (f"CREATE TABLE IF NOT EXISTS {RUNS} (run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, "
            "engine_version VARCHAR, source_table VARCHAR, fingerprint VARCHAR, products_fingerprint VARCHAR, "
            "customers BIGINT, offers BIGINT, params VARCHAR, summary VARCHAR)")


def new_run_id() -> str:
    return "m-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


def fingerprint(engine: Engine, log: QueryLog, table: str) -> str | None:
    """The same data fingerprint ``finmatch data info`` shows."""
    res = queries.run(engine, log, "profile/fingerprint", present=set(), table=table)
    if isinstance(res, named.Skipped):
        return None
    cols = [(c.name, c.type) for c in engine.columns(table)]
    return _fingerprint(int(res.first()["rows"]), res.first()["row_hash"], cols)


def matches_table(run: MatchRun, catalogue: Catalogue) -> dict[str, pa.Table]:
    """The offers as Arrow tables of indices plus the customer and product lookups (joined by the writer,
    so 750k product names are not built in Python)."""
    rows, slots = np.nonzero(run.top >= 0)
    offers = pa.table({
        "cix": pa.array(rows, pa.int64()),
        "pix": pa.array(run.top[rows, slots], pa.int64()),
        "rank": pa.array(slots + 1, pa.int32()),
        "passive": pa.array(run.passive[rows]),
        # one-product catalogues have no distance: NULL, not a made-up 0
        "distance": pa.array(run.distance[rows, slots], pa.float64(), mask=np.full(len(rows), not run.space.dims)),
        "preference": pa.array(run.points[rows, slots], pa.float64()),
        "customer_interest_rank": pa.array(run.customer_rank[rows, slots], pa.int32()),
        "suitable_products": pa.array(run.n_suitable[rows], pa.int32()),
    })
    customers = pa.table({"cix": pa.array(np.arange(len(run.customer_ids)), pa.int64()),
                          "customer_id": pa.array(run.customer_ids, pa.string())})
    products = pa.table({"pix": pa.array(np.arange(catalogue.m), pa.int64()),
                         "product_id": pa.array(catalogue.product_ids, pa.string()),
                         "product_name": pa.array(catalogue.names, pa.string()),
                         "product_type": pa.array(catalogue.types, pa.string())})
    return {"_offers": offers, "_customers": customers, "_products": products}


def write_matches(db: Path, tables: dict[str, pa.Table], details: dict[str, Any], summary: dict[str, Any]) -> int:
    """Replace ``matches`` and append to ``match_runs`` in one transaction (or not at all); returns the rows."""
    ddl = ", ".join(f'"{name}" {kind}' for name, kind, _ in MATCHES_COLUMNS)
    offers = tables["_offers"].num_rows

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"CREATE OR REPLACE TABLE {MATCHES} ({ddl})")
        for name in ("_offers", "_customers", "_products"):
            con.register(name, tables[name])
        con.execute(f"INSERT INTO {MATCHES} SELECT ?, c.customer_id, o.rank, p.product_id, p.product_name, "
                    "p.product_type, CASE WHEN o.passive THEN 'passive' ELSE 'active' END, o.distance, o.preference, "
                    "o.customer_interest_rank, o.suitable_products "
                    "FROM _offers AS o JOIN _customers AS c USING (cix) JOIN _products AS p USING (pix) "
                    "ORDER BY o.cix, o.rank", [details["run_id"]])  # cix follows customer_id
        for name in ("_offers", "_customers", "_products"):
            con.unregister(name)
        con.execute(RUNS_DDL)
        con.execute(f"INSERT INTO {RUNS} VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?)",
                    [details["run_id"], ENGINE_VERSION, details["table"], details["fingerprint"],
                     details["products_fingerprint"], details["customers"], offers,
                     json.dumps(details["params"], sort_keys=True, default=str),
                     json.dumps(summary, sort_keys=True, default=str)])
        writer.record_meta(con, MATCHES, "match run", {**details, "engine_version": ENGINE_VERSION, "rows": offers})

    writer.atomic_write(db, work)
    return offers
