"""The chat model's similar_customers tool: the search through the session's sandbox, its queries cited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from finmatch_agents.chat.session import ChatSession
from finmatch_agents.config import load_settings
from tests.scripted_model import ScriptedChatModel, call


def test_the_model_asks_for_customers_like_these(small_db: Path, similar_state: Path, isolated: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    replies: list[dict] = []

    def answer_from_tool(messages) -> AIMessage:
        tool = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
        data = json.loads(tool.content) if tool.content.startswith("{") else {"refused": tool.content}
        replies.append(data)
        if "refused" in data:
            return AIMessage(content=data["refused"])
        return AIMessage(content=f"{data['interpretation']}: {data['matched']} customers, first "
                                 f"{data['results'][0]['customer_id']}")

    model = ScriptedChatModel(script=[call("similar_customers", question="customers over 60 interested in a "
                                           "steady retirement income", top=3)], default=answer_from_tool)
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    s = ChatSession(load_settings(db=small_db, model="scripted", env={}, state_dir=similar_state), "similar")
    s._agent.chat = model
    try:
        answer = s.ask("Who might want a steady retirement income among customers over 60?")
        filters = [r for r in s.log.records if r.title.startswith("Customers: ")]
    finally:
        s.close()
    data = replies[0]
    assert data["interpretation"] == "age > 60 · interested in: steady retirement income"
    assert len(data["results"]) == 3 and all(h["values"]["customer_age"] > 60 for h in data["results"])
    assert answer.kind == "model" and f"{data['matched']} customers" in answer.text
    assert filters and filters[0].id in answer.query_ids  # the constraint filter is cited
