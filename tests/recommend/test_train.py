"""Training on planted and unplanted data: the gate promotes only a real improvement over popularity."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from finmatch_agents.data.generator import BUNDLES, generate_tables
from finmatch_agents.errors import StorageError
from finmatch_agents.recommend import registry
from finmatch_agents.recommend.api import promoted_summary


def test_on_the_planted_pattern_collaborative_filtering_beats_popularity_and_is_promoted(trained: dict) -> None:
    ev = trained["evaluation"]
    assert trained["promoted"] and trained["kind"] in ("item_cf", "hybrid")
    assert ev["gate"]["winner"] == trained["kind"] and ev["gate"]["candidates"][trained["kind"]]["promotable"]
    assert "non-overlapping intervals" in ev["verdict"]  # the bar, on the test window
    test = ev["test"]["recommenders"]
    assert {"popularity", "segment_popularity", "item_cf", "hybrid", "bank_score"} <= set(test)
    assert ev["ks"] == [1, 3, 5]
    for name in ("popularity", "item_cf"):
        card = test[name]["@3"]
        positive, everyone = card["positive_customers"]["map"], card["all_customers"]["map"]
        assert positive["low"] <= positive["value"] <= positive["high"]
        assert everyone["value"] < positive["value"] / 3  # the two conventions, an order of magnitude apart
        assert 0 < card["coverage"] <= 1 and 0 <= card["popularity_bias"] <= 1
    assert test["item_cf"]["@3"]["coverage"] > test["popularity"]["@3"]["coverage"]
    # windows in time order: validation before the test window, both after what the models learnt from
    assert ev["windows"]["fold1"]["to"] == ev["windows"]["test"]["from"]
    assert len(ev["cv"]["windows"]) == 2 and "map@3" in ev["cv"]["recommenders"]["item_cf"]


def test_promoted_summary_reports_the_holdout_against_popularity_and_the_bank(trained: dict) -> None:
    summary = promoted_summary(trained["state"])
    assert summary is not None and summary["model_id"] == trained["model_id"]
    t = summary["test"]
    assert t["recommender"]["map"]["value"] > t["popularity"]["map"]["value"]
    assert t["minus_baseline"]["low"] > 0 and t["bank_score"] is not None
    json.dumps(summary)
    assert promoted_summary(Path("no-state")) is None


def test_the_saved_model_holds_its_lists_parameters_and_fingerprint(trained: dict) -> None:
    info = registry.get(trained["state"], trained["model_id"])
    assert info.meta["fingerprint"] and info.meta["params"]["recommender"] == trained["kind"]
    arrays = info.arrays()
    top = arrays["top"]
    assert top.shape == (len(arrays["customer_ids"]), 10)
    held = duckdb.connect(str(trained["db"]), read_only=True).execute(
        "SELECT DISTINCT customer_id, product_id FROM fpr_records WHERE product_recommendation_status = 'Accepted' "
        "AND NOT _fivetran_deleted"
    ).fetchall()
    row = {c: i for i, c in enumerate(arrays["customer_ids"].tolist())}
    col = {p: j for j, p in enumerate(arrays["product_ids"].tolist())}
    for c, p in held[:2000]:  # never recommends what the customer holds
        assert col[p] not in top[row[c]]


def test_without_the_pattern_the_gate_refuses_and_says_why(cli, plain_db: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.recommend.conftest import FAST_FLAGS

    monkeypatch.setenv("FINMATCH_STATE_DIR", str(tmp_path / "state"))
    result = cli("recommend", "evaluate", "--db", plain_db, *FAST_FLAGS)
    assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "Leaderboard @3" in out and "MAP all" in out and "Gate" in out
    assert "no candidate beats popularity" in out and "nothing is promoted" in out
    assert not (tmp_path / "state" / "recommenders").exists()  # evaluate saves nothing


def test_with_nothing_to_learn_every_candidate_is_refused(shuffled_db: Path, tmp_path: Path) -> None:
    """Every candidate (content and the matching engine included), outcomes shuffled: nothing is promotable,
    and each candidate's row says how it stood against both baselines."""
    from finmatch_agents.config import Settings
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.recommend.evaluate import Options, evaluate
    from finmatch_agents.warehouse.engine import HARD_ROW_CAP, DuckDBEngine, SandboxLimits

    with DuckDBEngine(shuffled_db, SandboxLimits(max_rows=HARD_ROW_CAP, timeout=120)) as engine:
        ev = evaluate(engine, QueryLog(), Settings(db=shuffled_db, state_dir=tmp_path).table,
                      Options(folds=1, resamples=100))
    gate = ev.gate
    assert set(gate["candidates"]) == {"item_cf", "content", "hybrid", "match_engine"}
    assert gate["winner"] is None and not gate["promotable"] and "nothing is promoted" in gate["reason"]
    for name, row in gate["candidates"].items():
        assert not row["promotable"], name
        if "adjusted" in row:
            assert set(row["adjusted"]["vs"]) == {"popularity", "segment_popularity"}
            assert row["adjusted"]["comparisons"] == len([r for r in gate["candidates"].values() if "adjusted" in r])
            assert any(v["low"] is None or v["low"] <= 0 for v in row["adjusted"]["vs"].values())


def test_a_failed_save_leaves_no_half_written_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        registry.save(tmp_path, {"kind": "popularity"}, {"bad": np.array(["x"], dtype=object)})
    assert not (tmp_path / "recommenders").exists() or not list((tmp_path / "recommenders").iterdir())
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "recommenders").write_text("not a folder")
    with pytest.raises(StorageError, match="nothing was saved"):
        registry.save(tmp_path / "ro", {"kind": "popularity"}, {"top": np.zeros(2)})


def test_the_co_acceptance_rows_are_appended_and_leave_every_other_row_unchanged() -> None:
    plain, _ = generate_tables(300, 5)  # the default: generator version 2's rows exactly
    planted, _ = generate_tables(300, 5, co_acceptance=True)
    assert planted.num_rows > plain.num_rows
    assert planted.slice(0, plain.num_rows).equals(plain)
    accepted = {}
    for r in plain.to_pylist():
        if r["product_recommendation_status"] == "Accepted" and not r["_fivetran_deleted"]:
            accepted.setdefault(r["customer_id"], []).append((r["product_id"], r["product_recommendation_date"]))
    follow_ups = planted.slice(plain.num_rows).to_pylist()
    for r in follow_ups:  # each follow-up offers a bundle's second product after its first was accepted
        firsts = [p for p, d in accepted[r["customer_id"]]
                  if BUNDLES.get(p) == r["product_id"] and d < r["product_recommendation_date"]]
        assert firsts, r
    accepted_share = sum(r["product_recommendation_status"] == "Accepted" for r in follow_ups) / len(follow_ups)
    assert accepted_share > 0.45  # against about 25% for an ordinary offer
