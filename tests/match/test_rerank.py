"""`match customer ID --model`: the model re-orders the engine's suitable shortlist through the shared loop,
against a local OpenAI-protocol server; invalid answers are repaired once, then the engine's order stands."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.fake_openai import FakeOpenAI, Reply, tool_call
from tests.llm.conftest import KEY, write_config

CUSTOMER = "C0000777"


@pytest.fixture(scope="module")
def engine_detail(match_db: Path) -> dict:
    """The engine's own explanation of the customer (no model)."""
    from tests.conftest import Cli

    result = Cli()("match", "customer", CUSTOMER, "--db", match_db, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _submit(ranking: list[tuple[str, str]]) -> Reply:
    return Reply(tool_calls=[tool_call("submit_ranking", ranking=[{"product_id": p, "reason": r}
                                                                  for p, r in ranking])])


def test_the_model_reorders_only_the_suitable_shortlist(cli, match_db: Path, isolated: Path, monkeypatch,
                                                        engine_detail: dict) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    engine = engine_detail
    shortlist = [p for p in sorted(engine["products"], key=lambda p: p["rank"] or 99) if p["shortlisted"]]
    assert len(shortlist) >= 3 and all(p["suitable"] for p in shortlist)
    wanted = [p["product_id"] for p in reversed(shortlist)]
    first = shortlist[-1]
    with FakeOpenAI() as server:
        write_config(isolated / "finmatch.toml", server.base_url)
        server.script = [_submit([(pid, f"distance {first['distance']:.3f} is close for this customer" if i == 0
                                   else "a reasonable alternative") for i, pid in enumerate(wanted)])]
        result = cli("match", "customer", CUSTOMER, "--db", match_db, "--model", "local", "--json")
        assert result.exit_code == 0, result.stderr
        out = json.loads(result.stdout)
        sent = json.dumps(server.requests)
    r = out["rerank"]
    assert r["source"] == "model" and r["model_calls"] == 1 and len(server.requests) == 1
    assert [x["product_id"] for x in r["ranking"]] == wanted and r["offers"] == wanted[:3]
    assert r["ranking"][0]["engine_rank"] == first["rank"]
    assert out["offers"] == engine["offers"]  # the engine's own ranking is unchanged beside it
    # the model saw only suitable products, and no personal data
    unsuitable = [p["product_id"] for p in engine["products"] if not p["suitable"]]
    assert unsuitable and not any(f'"product_id": "{pid}"' in sent.replace('\\"', '"') for pid in unsuitable)
    with duckdb.connect(str(match_db), read_only=True) as con:
        name = con.execute(f"SELECT any_value(customer_name) FROM fpr_records WHERE customer_id = '{CUSTOMER}'"
                           ).fetchone()[0]
    assert name and name not in sent


def test_an_unsuitable_product_or_an_invented_number_falls_back_to_the_engine(cli, match_db: Path, isolated: Path,
                                                                              monkeypatch, engine_detail: dict) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    engine = engine_detail
    shortlist = [p["product_id"] for p in sorted(engine["products"], key=lambda p: p["rank"] or 99)
                 if p["shortlisted"]]
    unsuitable = next(p["product_id"] for p in engine["products"] if not p["suitable"])
    with FakeOpenAI() as server:
        write_config(isolated / "finmatch.toml", server.base_url)
        server.script = [_submit([(unsuitable, "high value"), *((p, "fits") for p in shortlist[1:])]),
                         _submit([(p, "accepted 97.3% of the time") for p in shortlist])]
        result = cli("match", "customer", CUSTOMER, "--db", match_db, "--model", "local", "--json")
        assert result.exit_code == 0, result.stderr
        r = json.loads(result.stdout)["rerank"]
        repair = json.dumps(server.requests[1])
    assert len(server.requests) == 2 and "is not a candidate" in repair  # one repair, naming the problem
    assert r["source"] == "offline" and r["model_calls"] == 2 and "97.3%" in r["fallback_reason"]
    assert [x["product_id"] for x in r["ranking"]] == shortlist and unsuitable not in r["offers"]
    with FakeOpenAI() as server:
        write_config(isolated / "finmatch.toml", server.base_url, max_retries=0)
        server.script = [Reply(status=500, error="down")]
        result = cli("match", "customer", CUSTOMER, "--db", match_db, "--model", "local")
    assert result.exit_code == 0 and "the engine's order stands" in result.stdout
    result = cli("match", "customer", CUSTOMER, "--db", match_db, "--model", "nope")
    assert result.exit_code == 2 and "unknown model 'nope'" in result.stderr
