"""The AI step driven by a scripted tool-calling chat model (no HTTP at all)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from finmatch_agents.agents import AGENTS
from finmatch_agents.analysts.registry import get_analyst
from finmatch_agents.config import load_settings
from finmatch_agents.llm import prompts
from tests.agents.conftest import run_graph
from tests.scripted_model import ScriptedChatModel, call


def submit_from_prompt(messages) -> AIMessage:
    """Cite the first finding of the prompt's findings table, with its own statement as the insight."""
    human = messages[1].content
    for line in human.splitlines():
        parts = line.split(" | ")
        if parts[0].startswith("F") and parts[0][1:].isdigit():
            return call("submit_analysis", insights=[{"text": parts[2], "finding_ids": [parts[0]]}],
                        recommendations=[], risks=[])
    return call("submit_summary", headline=["The agents' findings are below."], insights=[], caveats=[])


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> ScriptedChatModel:
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")  # an unconfigured name then means an OpenAI-compatible model
    return ScriptedChatModel(default=submit_from_prompt)


def test_tool_calls_then_submit(scripted: ScriptedChatModel, small_db: Path, isolated: Path) -> None:
    scripted.script = [call("describe_table", table="products"),
                       call("run_sql", "c2", sql="SELECT count(*) AS n FROM products", purpose="catalogue size")]
    analyst = get_analyst("scripted-model", load_settings(env={}), chat=scripted)
    state = run_graph(small_db, ["performance"], isolated / "r", analyst=analyst)
    analysis = state["sections"]["performance"]["analysis"]
    assert analysis["analyst"] == "scripted-model" and analysis["model_calls"] == 3  # describe, query, submit
    third_turn = scripted.seen[2]
    tool_results = [m.content for m in third_turn if isinstance(m, ToolMessage)]
    assert '"name": "margin"' in tool_results[0] and '"rows": [[40]]' in tool_results[1]
    assert any(q["title"] == "Model query: catalogue size" for q in state["queries"])


def test_every_prompt_gets_exactly_its_variables(scripted: ScriptedChatModel, small_db: Path,
                                                 isolated: Path) -> None:
    """Rendering is strict both ways, so running each builder proves prompt files and code agree."""
    analyst = get_analyst("scripted-model", load_settings(env={}), chat=scripted)
    state = run_graph(small_db, list(AGENTS), isolated / "r", analyst=analyst)
    assert {a["analyst"] for a in (state["sections"][k]["analysis"] for k in AGENTS)} == {"scripted-model"}
    assert state["summary"]["analyst"] == "scripted-model"
    rendered = {m.content for conversation in scripted.seen for m in conversation}
    for key in AGENTS:
        assert any(f"# {AGENTS[key].title}" in text for text in rendered)
    for name in ("system", "summary", "repair", *AGENTS):
        assert prompts.variables(name), name  # every prompt file has variables and exists
    with pytest.raises(ValueError, match="missing"):
        prompts.render("repair", error="x")
    with pytest.raises(ValueError, match="unused"):
        prompts.render("repair", error="x", tool="t", extra="y")
