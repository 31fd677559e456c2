"""The recommender inside the analysis and the chat: the Performance agent reports the promoted recommender's
test-window MAP@3 and precision@3 against popularity and the bank's score, every figure the stored
evaluation's (and adds nothing when no recommender is promoted); the chat answers "what should we offer
customer C… next?" with the recommender's products and reasons through the session's sandbox, refuses an
unknown customer with the closest ids, and says which command trains a recommender when there is none."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from langchain_core.messages import AIMessage, ToolMessage

from finmatch_agents.chat.session import ChatSession
from finmatch_agents.config import load_settings
from finmatch_agents.llm.grounding import UNVERIFIED, Sources, ungrounded_sentences
from finmatch_agents.recommend import registry
from tests.agents.conftest import run_graph
from tests.chat.test_chat_model import model_session
from tests.scripted_model import ScriptedChatModel, call

CUSTOMER = "C0000123"


@pytest.fixture
def state(trained: dict, isolated: Path) -> Path:
    """The session's trained (and promoted) recommender in this test's default state folder (``./data``)."""
    target = isolated / "data"
    shutil.copytree(trained["state"], target)
    return target


def stored_evaluation(state: Path) -> dict:
    info = registry.promoted(state)
    assert info is not None
    return json.loads((info.path / registry.META_FILE).read_text())["evaluation"]


def recommender_finding(result: dict) -> dict | None:
    return next((f for f in result["findings"] if f["key"] == "model_recommender"), None)


def test_performance_reports_the_promoted_recommender_from_its_stored_evaluation(state: Path, planted_copy: Path,
                                                                                 isolated: Path) -> None:
    result = run_graph(planted_copy, ["performance"], isolated / "reports")
    f = recommender_finding(result)
    assert f is not None
    ev = stored_evaluation(state)
    test, kind = ev["test"], f["values"]["recommender"]
    v = f["values"]
    for name, stored in (("recommender", kind), ("popularity", "popularity"),
                         ("segment_popularity", "segment_popularity"), ("bank_score", "bank_score")):
        card = test["recommenders"][stored]["@3"]["positive_customers"]
        assert v["test"][name] == {"map": card["map"], "precision": card["precision"]}
    rec = test["recommenders"][kind]["@3"]["positive_customers"]
    base = test["recommenders"][test["baseline"]]["@3"]["positive_customers"]["map"]
    assert v["minus_baseline"] == test["difference_vs_baseline"][kind]["@3"]["map"]
    assert v["map_all_customers"] == test["recommenders"][kind]["@3"]["all_customers"]["map"]["value"]
    assert v["positive_customers"] == test["positive_customers"] and v["customers"] == test["customers"]
    assert v["on_bank_offers_recommender_map"] == test["on_bank_offers"]["methods"][kind]["value"]
    assert v["on_bank_offers_bank_score_map"] == test["on_bank_offers"]["methods"]["bank_score"]["value"]
    assert v["verdict"] == ev["verdict"] and v["same_data"] is True

    statement = f["statement"]
    m, p = rec["map"], rec["precision"]
    assert f"MAP@3 {m['value']:.3f} (95% interval {m['low']:.3f} to {m['high']:.3f})" in statement
    assert f"precision@3 {p['value']:.3f} (95% interval {p['low']:.3f} to {p['high']:.3f})" in statement
    pop = test["recommenders"]["popularity"]["@3"]["positive_customers"]["map"]
    assert f"Overall popularity reaches MAP@3 {pop['value']:.3f}" in statement
    clear = m["low"] > base["high"]  # the planted co-acceptance pattern: non-overlapping intervals
    assert clear and v["versus_baseline"] == "above" and "a clear improvement" in statement
    assert "only re-ranks the offers the bank actually made" in statement
    bank = test["recommenders"]["bank_score"]["@3"]["positive_customers"]["map"]["value"]
    assert f"recommendation_score reaches MAP@3 {bank:.3f}" in statement

    # cites a query of this run, whose figures are the data's own
    (qid,) = f["query_ids"]
    query = next(q for q in result["queries"] if q["id"] == qid)
    assert query["title"].startswith("The promoted recommender's test window")
    with duckdb.connect(str(planted_copy), read_only=True) as con:
        offers, accepted = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE product_recommendation_status = 'Accepted') FROM fpr_records "
            "WHERE NOT _fivetran_deleted AND product_recommendation_date >= ?::DATE",
            [ev["windows"]["test"]["from"]]).fetchone()
    assert (v["window_offers"], v["window_accepted"]) == (offers, accepted)
    assert f"holds {offers:,} offers dated from {ev['windows']['test']['from']} on, {accepted:,} of them" in statement

    # every figure it, its insight and its recommendation write is grounded in what they cite
    sources = Sources(result["queries"], result["findings"], [result["run"]["assumptions"]])
    assert ungrounded_sentences(statement, sources, [f["id"]]) == []
    analysis = result["sections"]["performance"]["analysis"]
    texts = [(i["text"], i["finding_ids"]) for i in analysis["insights"] if f["id"] in i["finding_ids"]]
    texts += [(r["rationale"], r["finding_ids"]) for r in analysis["recommendations"] if f["id"] in r["finding_ids"]]
    assert len(texts) == 2  # an insight, and a recommendation because the improvement is clear
    assert all(ungrounded_sentences(text, sources, ids) == [] for text, ids in texts)
    assert "Recommenders on the test window at K = 3" in result["sections"]["performance"]["markdown"]


def test_overlapping_intervals_read_as_no_clear_difference(state: Path, planted_copy: Path, isolated: Path) -> None:
    info = registry.promoted(state)
    assert info is not None
    meta_path = info.path / registry.META_FILE
    meta = json.loads(meta_path.read_text())
    test = meta["evaluation"]["test"]
    base = test["recommenders"][test["baseline"]]["@3"]["positive_customers"]["map"]
    card = test["recommenders"][info.kind]["@3"]["positive_customers"]["map"]
    card["low"] = base["high"] - 0.005  # a stored evaluation whose intervals overlap
    meta_path.write_text(json.dumps(meta))
    f = recommender_finding(run_graph(planted_copy, ["performance"], isolated / "reports"))
    assert f is not None and f["values"]["versus_baseline"] == "no clear difference"
    assert f["values"]["test"]["recommender"]["map"]["low"] == card["low"]
    assert "The intervals overlap with popularity" in f["statement"] and "no clear difference" in f["statement"]


def test_no_finding_without_a_promoted_recommender(state: Path, planted_copy: Path, isolated: Path) -> None:
    (state / "recommenders" / registry.PROMOTED).unlink()  # trained, not promoted
    assert registry.list_models(state) and registry.promoted(state) is None
    result = run_graph(planted_copy, ["performance"], isolated / "reports")
    assert recommender_finding(result) is None
    assert "Recommender" not in result["sections"]["performance"]["markdown"]


def ask(db: Path, state: Path, *questions: str) -> tuple[list, list]:
    session = ChatSession(load_settings(db=db, state_dir=state, env={}), "rec")
    try:
        return [session.ask(q) for q in questions], list(session.log.records)
    finally:
        session.close()


def test_chat_says_what_to_offer_a_customer_next_with_reasons(cli, trained: dict, state: Path) -> None:
    db = trained["db"]
    (answer, close, short, unknown), records = ask(
        db, state, f"What should we offer customer {CUSTOMER} next?", "next best product for customer C0000042",
        "Recommend 2 products for C0000777", "What should we offer customer C123 next?")
    expected = json.loads(cli("recommend", "for", CUSTOMER, "--db", db, "--json").stdout)
    assert answer.kind == "verified" and answer.matched == "next_products"
    rows = answer.tables[0].rows
    assert [r["product_id"] for r in rows] == [p["product_id"] for p in expected["products"]]
    assert all(r["reason"][1:] in answer.text for r in rows)  # each product with its reason
    assert trained["model_id"] in answer.text and "promoted recommender" in answer.text
    with duckdb.connect(str(db), read_only=True) as con:
        held = {r[0] for r in con.execute(
            "SELECT product_id FROM fpr_records WHERE customer_id = ? AND product_recommendation_status = 'Accepted' "
            "AND NOT _fivetran_deleted", [CUSTOMER]).fetchall()}
    assert held and not held & {r["product_id"] for r in rows}
    # the held products were read through the session's sandbox, and the answer cites that query
    cited = {r.id: r for r in records if r.id in answer.query_ids}
    assert cited and all(r.title == "Products one customer holds now (accepted offers)" for r in cited.values())
    assert all(f"[{qid}]" in answer.text for qid in cited)
    assert close.matched == "next_products" and "C0000042" in close.text and close.tables[0].rows
    assert short.matched == "next_products" and len(short.tables[0].rows) == 2
    assert unknown.kind == "unavailable" and "'C123' is not among" in unknown.text and "closest: C000" in unknown.text


def test_chat_without_a_promoted_recommender_says_so_or_how_to_train_one(trained: dict, state: Path,
                                                                        isolated: Path) -> None:
    question = f"What should we offer customer {CUSTOMER} next?"
    (none,), _ = ask(trained["db"], isolated / "empty", question)
    assert none.kind == "unavailable" and "`finmatch recommend train`" in none.text and not none.query_ids
    (state / "recommenders" / registry.PROMOTED).unlink()
    (baseline,), _ = ask(trained["db"], state, question)
    assert baseline.kind == "verified" and "**baseline**, not a promoted model" in baseline.text
    assert baseline.tables[0].rows and baseline.query_ids


def test_chat_model_tool_recommend_customer(trained: dict, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(messages) -> AIMessage:
        tool = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
        if not tool.content.startswith("{"):
            return AIMessage(content=tool.content)
        first = json.loads(tool.content)["products"][0]
        return AIMessage(content=f"Offer {first['product_id']} next (score {first['score']:.3f}).")

    model = ScriptedChatModel(script=[call("recommend_customer", customer_id=CUSTOMER, top=2)], default=answer)
    session = model_session(trained["db"], "rec-model", model, monkeypatch, state_dir=state)
    try:
        reply = session.ask(f"Which product would you put in front of {CUSTOMER}, and why?")
        session._agent.chat = ScriptedChatModel(script=[call("recommend_customer", customer_id="C9")],
                                                default=answer)
        missing = session.ask("And C9?")
        outputs = session._agent.tools.outputs
    finally:
        session.close()
    first = outputs[0]["products"][0]
    assert reply.kind == "model" and reply.text.startswith(f"Offer {first['product_id']} next (score "
                                                           f"{first['score']:.3f}).")
    assert UNVERIFIED not in reply.text  # the score is grounded in the tool's output
    assert reply.query_ids and all(f"[{q}]" in reply.text for q in reply.query_ids)  # the held-products query
    assert len(outputs[0]["products"]) == 2 and outputs[0]["model_id"] == trained["model_id"]
    assert "not done: CUSTOMER: 'C9' is not among" in missing.text
