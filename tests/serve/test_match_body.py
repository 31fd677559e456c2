"""The matches body the API writes (serve/match_body.py) is byte for byte the explanation the engine builds,
serialised as the API serialises any answer: for every customer of the book, with several parameter sets, and
on books that lack metrics, preferences, product limits and values (skipped gates, absent metrics, unknown
values in the reasons)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.config import load_settings
from finmatch_agents.serve.app import dumps
from finmatch_agents.serve.engines import Engines, Loaded, SandboxGate

QUERIES = [("auto", None, None, None), ("passive", 5, None, None), ("active", 2, "revenue=0,bank_risk=2", 3)]


def loaded(db: Path, tmp_path: Path) -> Loaded:
    settings = load_settings(db=db, state_dir=tmp_path / "state", env={"FINMATCH_THREADS": "1"})
    return Engines(settings, SandboxGate(settings)).start()


def same_bytes(snap: Loaded, step: int) -> tuple[int, int, int]:
    """Compares every ``step``-th customer (all for the default parameters); returns (customers compared,
    products failing a gate, skipped gates) so a test can see what it exercised."""
    assert snap.customer_ids is not None
    compared = failing = skipped = 0
    for k, query in enumerate(QUERIES):
        params = snap.params(*query)
        for customer_id in snap.customer_ids[:: 1 if k == 0 else step].tolist():
            want = snap.explain(customer_id, params)
            assert snap.explain_json(customer_id, params) == dumps(want), (customer_id, query)
            compared += 1
            failing += sum(bool(p["failed"]) for p in want["products"])
            skipped += sum(g["status"] == "skipped" for g in want["products"][0]["gates"])
    return compared, failing, skipped


def test_the_body_is_the_explanation_for_every_customer(match_db: Path, tmp_path: Path) -> None:
    compared, failing, _ = same_bytes(loaded(match_db, tmp_path), step=7)
    assert compared > 2_000 and failing > 0


def test_a_degraded_book_gives_the_same_bytes(match_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "degraded.duckdb"
    shutil.copyfile(match_db, db)
    db.chmod(0o644)
    with duckdb.connect(str(db)) as con:
        for column in ("customer_churn_probability", "customer_product_affinity", "customer_product_interests"):
            con.execute(f"ALTER TABLE fpr_records DROP COLUMN {column}")
        for column in ("min_income", "risk_to_customer", "revenue_potential"):
            con.execute(f"ALTER TABLE products DROP COLUMN {column}")
        # unknown values for some customers: the reasons say "unknown"
        con.execute("UPDATE fpr_records SET account_balance = NULL, customer_age = NULL "
                    "WHERE customer_id IN (SELECT DISTINCT customer_id FROM fpr_records ORDER BY 1 LIMIT 300)")
    snap = loaded(db, tmp_path)
    assert snap.features is not None and not snap.features.has("churn_probability")
    _, failing, skipped = same_bytes(snap, step=11)
    assert failing > 0 and skipped > 0
    some = snap.explain(snap.customer_ids[0], snap.params("auto", None, None, None))  # type: ignore[index]
    assert some["mode_reason"] == "churn unknown: active" and some["features"]["balance"] is None
    assert any("unknown" in g["reason"] for p in some["products"] for g in p["gates"] if g["status"] == "fail")


@pytest.mark.parametrize("query", QUERIES[1:])
def test_a_body_follows_its_matcher_out_of_the_cache(match_db: Path, tmp_path: Path,
                                                     query: tuple[object, ...]) -> None:
    snap = loaded(match_db, tmp_path)
    params = snap.params(*query)  # type: ignore[arg-type]
    first = snap.explain_json("C0000042", params)
    snap._matchers.clear()  # evicted: the next body is built on the new matcher
    assert snap.explain_json("C0000042", params) == first == dumps(snap.explain("C0000042", params))
