"""Chat can call the matching engine for one customer (`match_customer`), as `finmatch match customer` does."""

from __future__ import annotations

import json
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage

from tests.chat.test_chat_model import model_session
from tests.scripted_model import ScriptedChatModel, call


def test_the_model_asks_the_engine_which_product_suits_a_customer(small_db: Path, isolated: Path, monkeypatch,
                                                                  cli) -> None:
    seen: list[dict] = []

    def answer(messages) -> AIMessage:
        tool = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
        data = json.loads(tool.content)
        seen.append(data)
        if "offers" not in data:
            return AIMessage(content=f"I could not look that up: {tool.content}")
        first = data["offers"][0]
        return AIMessage(content=f"The engine's first offer is {first['product_id']} ({first['product_name']}).")

    model = ScriptedChatModel(script=[call("match_customer", customer_id="C0000777")], default=answer)
    session = model_session(small_db, "match", model, monkeypatch)
    reply = session.ask("Which product should we offer customer C0000777, and why?")
    missing = ScriptedChatModel(script=[call("match_customer", customer_id="C9999999")],
                                default=lambda m: AIMessage(content=next(x for x in reversed(m)
                                                                         if isinstance(x, ToolMessage)).content))
    session._agent.chat = missing
    unknown = session.ask("And customer C9999999?")
    session.close()
    expected = json.loads(cli("match", "customer", "C0000777", "--db", small_db, "--json").stdout)
    data = seen[0]
    assert [o["product_id"] for o in data["offers"]] == [o["product_id"] for o in expected["offers"]]
    assert reply.text.startswith(f"The engine's first offer is {expected['offers'][0]['product_id']}")
    assert reply.query_ids and len(data["unsuitable"]) == 40 - expected["suitable_products"]
    assert all(u["failed"] for u in data["unsuitable"])  # every product left out names its failed gates
    assert "customer_name" not in json.dumps(data)
    assert "not done: customer 'C9999999' is not in fpr_records" in unknown.text
