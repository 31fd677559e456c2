"""What a worker keeps between requests (the feature frame, the matchers and their cached blocks) never
outlives the data it was computed from: after the database changes, the answer is the new data's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from finmatch_agents.config import load_settings
from finmatch_agents.evidence import QueryLog
from finmatch_agents.features import present_columns
from finmatch_agents.match.explain import explain_customer_id
from finmatch_agents.serve.engines import Engines, SandboxGate
from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

CUSTOMER = "C0000042"
SAME = ("customer_id", "mode", "mode_reason", "metrics", "features", "targets", "suitable_products",
        "gate_failures", "offers", "customer_interest_first", "bank_weights_change_first", "products", "space",
        "notes", "params")


def cli_explanation(db: Path, params: object) -> dict:
    """`finmatch match customer` from the file as it is now (a fresh sandbox, nothing cached)."""
    with DuckDBEngine(db, SandboxLimits(max_rows=HARD_ROW_CAP)) as engine:
        present = present_columns(engine, "fpr_records", "products")
        return explain_customer_id(engine, QueryLog(), "fpr_records", present, params, CUSTOMER)  # type: ignore[arg-type]


def test_matches_after_the_catalogue_changes_are_the_new_catalogues(match_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "serve.duckdb"
    shutil.copyfile(match_db, db)
    db.chmod(0o644)
    settings = load_settings(db=db, state_dir=tmp_path / "state", env={"FINMATCH_THREADS": "1"})
    engines = Engines(settings, SandboxGate(settings), check_every=0.0)
    before = engines.start()
    params = before.params("auto", None, None, None)
    old = before.explain(CUSTOMER, params)
    before.explain("C0000041", params)  # the customer's cached block is used again
    assert {k: old[k] for k in SAME} == {k: v for k, v in cli_explanation(db, params).items() if k in SAME}
    first = old["offers"][0]["product_id"]
    income = old["features"]["income"]
    assert income is not None
    with duckdb.connect(str(db)) as con:  # the bank raises the product's minimum income above the customer's
        con.execute("UPDATE products SET min_income = ? WHERE product_id = ?", [income + 1, first])

    after = engines.wait_reloaded(before)
    new = after.explain(CUSTOMER, after.params("auto", None, None, None))
    product = next(p for p in new["products"] if p["product_id"] == first)
    assert "A2" in product["failed"] and not product["suitable"]
    assert new["offers"][0]["product_id"] != first
    assert {k: new[k] for k in SAME} == {k: v for k, v in cli_explanation(db, params).items() if k in SAME}
    assert before.explain(CUSTOMER, params) == old  # a request still holding the old snapshot: the old answer


def test_recommendations_are_read_again_when_the_recommenders_file_changes(match_db: Path, tmp_path: Path) -> None:
    """`recommendations_for` keeps a recommender's arrays between calls; a rewritten file is read again."""
    import numpy as np

    from finmatch_agents.config import Settings
    from finmatch_agents.recommend import registry
    from finmatch_agents.recommend.api import recommendations_for
    from finmatch_agents.recommend.train import train_and_save
    from tests.recommend.conftest import FAST

    settings = Settings(db=match_db, state_dir=tmp_path / "state")
    model_id = train_and_save(settings, FAST)["model_id"]
    with DuckDBEngine(match_db) as engine:
        first = recommendations_for(settings, engine, QueryLog(), CUSTOMER, 2)
        assert recommendations_for(settings, engine, QueryLog(), CUSTOMER, 2) == first
        info = registry.get(settings.state_dir, model_id)
        path = info.path / registry.ARRAYS_FILE
        arrays = info.arrays()
        row = int(np.flatnonzero(arrays["customer_ids"] == CUSTOMER)[0])
        arrays["top"][row, [0, 1]] = arrays["top"][row, [1, 0]]  # the same lists with the first two swapped
        arrays["score"][row, [0, 1]] = arrays["score"][row, [1, 0]]
        with path.open("wb") as f:
            np.savez(f, **arrays)
        again = recommendations_for(settings, engine, QueryLog(), CUSTOMER, 2)
        assert [p["product_id"] for p in again["products"]] == [p["product_id"] for p in reversed(first["products"])]
        # a new recommender promoted (here: a copy under a new id) serves from the next call on
        copy = info.path.parent / f"{model_id}-copy"
        shutil.copytree(info.path, copy)
        meta = json.loads((copy / registry.META_FILE).read_text())
        (copy / registry.META_FILE).write_text(json.dumps({**meta, "id": copy.name, "promotable": True}))
        registry.promote(settings.state_dir, copy.name)
        assert recommendations_for(settings, engine, QueryLog(), CUSTOMER, 2)["model_id"] == copy.name
        shutil.rmtree(copy)  # and when it is gone, what is left serves again (the newest trained one)
        assert recommendations_for(settings, engine, QueryLog(), CUSTOMER, 2)["model_id"] == model_id


def test_the_sandbox_closes_when_idle_and_reopens_for_the_next_request(match_db: Path, tmp_path: Path) -> None:
    """One janitor thread closes the idle connection (so `data load` can take the file); no thread per request."""
    import threading
    import time

    settings = load_settings(db=match_db, state_dir=tmp_path / "state", env={"FINMATCH_THREADS": "1"})
    gate = SandboxGate(settings, idle=0.2)
    try:
        for _ in range(20):
            with gate.lease() as engine:
                assert engine.has_table("fpr_records")
        janitors = [t for t in threading.enumerate() if t.name == "finmatch-sandbox-idle"]
        assert gate.is_open and gate.opens == 1 and len(janitors) == 1  # one thread, not one per lease
        deadline = time.monotonic() + 30
        while gate.is_open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not gate.is_open  # closed after the idle time
        with gate.lease():
            assert gate.is_open and gate.opens == 2
        with gate.exclusive():  # a write of the server's own: no connection while it runs
            assert not gate.is_open
    finally:
        gate.close()
    assert not gate.is_open
    with gate.lease():  # a lease after close() still gets a connection, closed again when idle
        assert gate.is_open
    deadline = time.monotonic() + 30
    while gate.is_open and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not gate.is_open
    gate.close()
