"""Score with a registered model: every open offer or customer in a batch (the ``scores`` table), or one
customer inside a running process.

Batch scoring reads the rows through the sandbox (partitioned like training), encodes them with the
model's stored encodings and writes ``scores`` with ``finmatch data``'s writer: one transaction replaces
that task's rows and appends the run to ``score_runs`` (model id, data fingerprint, row count), so a failure
leaves the previous scores in place. Only ``finmatch predict score`` writes these tables; the sandbox and
the agents read them like any table.

- conversion: the open offers (Pending, In Progress), or every offer with ``every_offer``;
- churn: every customer, from their latest record and the customer feature layer;
- nba: see :mod:`finmatch_agents.predict.nba` (rows ranked per customer).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from finmatch_agents.data import queries, writer
from finmatch_agents.errors import DataError
from finmatch_agents.features import present_columns
from finmatch_agents.predict.frame import (
    Frame,
    assemble,
    assemble_positions,
    fetch,
    layer_values,
    order_column,
    require_columns,
    small_pages,
    vocabulary,
)
from finmatch_agents.predict.tasks import get_task
from finmatch_agents.warehouse import named

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.predict.models import Fitted
    from finmatch_agents.predict.registry import ModelInfo
    from finmatch_agents.warehouse.engine import Engine

SCORES = "scores"
#: batch conversion scoring: the open offers with the text inputs encoded in SQL (``task.score_query`` as text)
CODED_QUERY = "predict/open_offers_coded"
RUNS = "score_runs"
SCORES_COLUMNS = (
    ("score_run_id", "VARCHAR", "The scoring run that wrote the row (score_runs.score_run_id)."),
    ("model_id", "VARCHAR", "The registered model that produced the score."),
    ("task", "VARCHAR", "conversion, churn or nba."),
    ("customer_id", "VARCHAR", "Customer."),
    ("record_id", "VARCHAR", "The offer scored (conversion); empty for churn and nba."),
    ("product_id", "VARCHAR", "The product (conversion: the offer's; nba: the recommended one)."),
    ("product_type", "VARCHAR", "Its product type."),
    ("score", "DOUBLE", "Calibrated probability: of accepting (conversion, nba) or leaving (churn)."),
    ("expected_value", "DOUBLE", "nba: score × the product's value per accepted offer; empty otherwise."),
    ("rank", "INTEGER", "nba: the product's place for the customer (1 = best); empty otherwise."),
)
RUNS_DDL = (f"CREATE TABLE IF NOT EXISTS {RUNS} (score_run_id VARCHAR PRIMARY KEY, created_at TIMESTAMP, "
            "model_id VARCHAR, task VARCHAR, source_table VARCHAR, fingerprint VARCHAR, rows BIGINT, details VARCHAR)")


def new_run_id() -> str:
    return "s-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


def scoring_frame(engine: Engine, log: QueryLog, table: str, info: ModelInfo, *,
                  customers: list[str] | None = None, every_offer: bool = False, labelled: bool = False) -> Frame:
    """The rows the model scores, encoded as at training (``labelled``: the task's labelled rows, for
    metrics on new outcomes). Missing or changed columns: exit 3.

    Batch conversion scoring gets its text inputs encoded by SQL (``predict/open_offers_coded``: each value's
    position in the model's vocabulary, mapped here to the input's category index), so no text value of an
    input becomes a Python object; the matrix equals the one :func:`~finmatch_agents.predict.frame.assemble`
    builds from the text (tests compare them)."""
    if customers is not None:  # one customer: small arrays, no reason to touch NumPy's page advice
        return _scoring_frame(engine, log, table, info, customers, every_offer, labelled)
    with small_pages():
        return _scoring_frame(engine, log, table, info, customers, every_offer, labelled)


def _scoring_frame(engine: Engine, log: QueryLog, table: str, info: ModelInfo, customers: list[str] | None,
                   every_offer: bool, labelled: bool) -> Frame:
    task = get_task(info.task)
    present = present_columns(engine, table)
    types = {c.name: c.type for c in engine.columns(table)}
    require_columns(info.features, types, info.id)
    features = info.features
    wanted = [f.name for f in features if f.source == "records"]
    column = order_column(present)
    used: dict[str, str] = {}
    if customers is not None:
        rows = len(customers) * 50
    else:
        res = queries.run(engine, log, "predict/rows", present=present, table=table)
        assert not isinstance(res, named.Skipped)  # requires nothing
        used["predict/rows"] = res.id
        rows = int(res.first()["records"])
    params: dict[str, Any] = {"table": table, "column": column, "features": wanted}
    #: a batch of offers gets its text inputs encoded by SQL (vocabulary positions), not as text; one customer's
    #: few rows come as text (parsing the vocabulary literal in the sandbox's guard costs more than it saves)
    positions = not labelled and task.name == "conversion" and customers is None
    vocab = vocabulary(features) if positions else []
    if not labelled:
        params["customers"] = customers
        if task.name == "conversion":
            params["every_offer"] = every_offer
    if positions:
        del params["features"]
        params["numbers"] = [f.name for f in features if f.source == "records" and f.kind == "numeric"]
        params["texts"] = [f.name for f in features if f.source == "records" and f.kind == "categorical"]
        params["vocabulary"] = vocab
    query = task.frame_query if labelled else CODED_QUERY if positions else task.score_query
    cols, qid = fetch(engine, log, query, present, params, rows, len(wanted))
    used[query] = qid
    layer: dict[str, np.ndarray] = {}
    layer_names = [f.name for f in features if f.source == "features"]
    if layer_names and len(cols):
        layer, absent, layer_queries = layer_values(engine, log, table, present, cols.objects("__customer"),
                                                    layer_names, customers=customers)
        used.update(layer_queries)
        if absent:
            name = next(iter(absent))
            raise DataError(f"model {info.id} needs feature-layer column(s) this data cannot give: "
                            + "; ".join(f"{k}: {v}" for k, v in absent.items()), column=name)
    if not len(cols):
        empty = np.zeros((0, len(features)))
        return Frame(task.name, empty, None, np.zeros(0, np.int64), np.zeros(0), np.zeros(0, object), features,
                     extra={"customer_id": np.zeros(0, object), "product_id": np.zeros(0, object)}, queries=used)
    if positions:
        X, y = assemble_positions(cols, features, layer, vocab), None
    else:
        X, y = assemble(task, cols, features, layer, labelled=labelled)
    if labelled:
        return Frame(task.name, X, y, cols.ints("__rix"), cols.floats("__day"), cols.objects("__row"), features,
                     queries=used)
    extra = {"customer_id": cols.objects("__customer")}
    if task.name == "conversion":
        extra["product_id"] = cols.objects("__product")
        extra["product_type"] = cols.objects("__type")
    return Frame(task.name, X, None, cols.ints("__rix"), cols.floats("__day"), cols.objects("__row"), features,
                 extra=extra, queries=used)


@dataclass
class Scored:
    frame: Frame
    scores: np.ndarray
    model_id: str
    task: str
    extra_columns: dict[str, np.ndarray] = field(default_factory=dict)

    def table(self) -> pa.Table:
        n = len(self.scores)
        none = pa.nulls(n, pa.string())
        is_conv = self.task == "conversion"
        cols = {
            "customer_id": pa.array(self.frame.extra["customer_id"], pa.string()),
            "record_id": pa.array(self.frame.row_id, pa.string()) if is_conv else none,
            "product_id": pa.array(self.frame.extra["product_id"], pa.string()) if is_conv else none,
            "product_type": pa.array(self.frame.extra.get("product_type", np.full(n, None, object)), pa.string())
            if is_conv else none,
            "score": pa.array(self.scores, pa.float64()),
            "expected_value": pa.nulls(n, pa.float64()),
            "rank": pa.nulls(n, pa.int32()),
        }
        return pa.table(cols)


def score_batch(engine: Engine, log: QueryLog, table: str, info: ModelInfo, model: Fitted, *,
                every_offer: bool = False) -> Scored:
    frame = scoring_frame(engine, log, table, info, every_offer=every_offer)
    return Scored(frame, model.predict(frame.X), info.id, info.task)


def write_scores(db: Path, task: str, model_id: str, rows: pa.Table, details: dict[str, Any]) -> str:
    """Replace ``task``'s rows of ``scores`` and append the run to ``score_runs`` in one transaction."""
    run_id = new_run_id()
    ddl = ", ".join(f'"{name}" {kind}' for name, kind, _ in SCORES_COLUMNS)

    def work(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"CREATE TABLE IF NOT EXISTS {SCORES} ({ddl})")
        con.execute(f"DELETE FROM {SCORES} WHERE task = ?", [task])
        con.register("_scored", rows)
        con.execute(f"INSERT INTO {SCORES} SELECT ?, ?, ?, customer_id, record_id, product_id, product_type, score, "
                    "expected_value, rank FROM _scored", [run_id, model_id, task])
        con.unregister("_scored")
        con.execute(RUNS_DDL)
        con.execute(f"INSERT INTO {RUNS} VALUES (?, now(), ?, ?, ?, ?, ?, ?)",
                    [run_id, model_id, task, details.get("table"), details.get("fingerprint"), rows.num_rows,
                     json.dumps(details, sort_keys=True, default=str)])
        writer.record_meta(con, SCORES, "predict score", {**details, "score_run_id": run_id, "task": task,
                                                          "model_id": model_id, "rows": rows.num_rows})

    writer.atomic_write(db, work)
    return run_id


def score_customer(engine: Engine, log: QueryLog, table: str, info: ModelInfo, model: Fitted,
                   customer_id: str) -> tuple[Frame, np.ndarray]:
    """One customer's rows and scores (conversion: their open offers; churn: one row)."""
    frame = scoring_frame(engine, log, table, info, customers=[customer_id])
    return frame, model.predict(frame.X)
