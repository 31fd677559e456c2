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


def test_a_resumed_ai_step_does_not_repeat_finished_model_calls(scripted: ScriptedChatModel, small_db: Path,
                                                                 isolated: Path) -> None:
    """Each model call is a checkpointed step of the loop: stop the run after the first call, resume it with
    a fresh model, and the fresh model is asked only for what was left (with the first call's tool result)."""
    import threading

    from finmatch_agents.assumptions import load_assumptions
    from finmatch_agents.clock import utc_now
    from finmatch_agents.errors import Interrupted
    from finmatch_agents.graph import RunServices, build_graph
    from finmatch_agents.records import AssumptionValue, RunMeta
    from finmatch_agents.runs import open_checkpointer
    from finmatch_agents.warehouse.engine import open_engine

    settings = load_settings(db=small_db, reports_dir=isolated / "r", state_dir=isolated / "s", env={})
    cancel = threading.Event()

    def first(messages) -> AIMessage:
        cancel.set()  # the stop request arrives while the model answers its first call
        return call("run_sql", sql="SELECT count(*) AS n FROM products", purpose="catalogue size")

    before = ScriptedChatModel(default=first)
    after = ScriptedChatModel(default=submit_from_prompt)
    engine = open_engine(settings)
    saver = open_checkpointer(settings.state_dir)
    try:
        graph = build_graph(saver)
        config = {"configurable": {"thread_id": "resume-test"}}
        run = RunMeta(run_id="resume-test", focus=("performance",), model="scripted", db=str(small_db),
                      table="fpr_records", created_at=utc_now(),
                      assumptions=tuple(AssumptionValue(**a) for a in load_assumptions(settings).to_list()))

        def services(chat: ScriptedChatModel) -> RunServices:
            analyst = get_analyst("scripted-model", settings, chat=chat)
            return RunServices(engine=engine, settings=settings, assumptions=load_assumptions(settings),
                               analyst=analyst, cancel=cancel)

        with pytest.raises(Interrupted):
            for _ in graph.stream({"run": run}, config, context=services(before), durability="sync"):
                pass
        assert len(before.seen) == 1
        cancel.clear()
        for _ in graph.stream(None, config, context=services(after), durability="sync"):
            pass
        state = graph.get_state(config).values
    finally:
        saver.conn.close()
        engine.close()
    assert state["analyses"]["performance"].analyst == "scripted-model" and state.get("report") is not None
    agent_calls = [c for c in after.seen if "Overall Performance agent" in c[0].content]
    assert len(agent_calls) == 1  # only the call that had not run yet (the other call is the summary's)
    tools = [m.content for m in agent_calls[0] if isinstance(m, ToolMessage)]
    assert tools and '"rows": [[40]]' in tools[0]  # the first call's tool result, restored from the checkpoint


@pytest.mark.parametrize("bad", [
    {"insights": [{"text": "Churn rises with falling usage.", "finding_ids": ["the churn finding"]}]},
    {"insights": [{"text": "See [F999].", "finding_ids": ["F999"]}]},
    {"insights": [{"text": "Fine.", "query_ids": [12]}]},
    {"insights": [{"text": "x" * 5000}]},
    {"insights": "not a list"},
    {},
])
def test_a_model_answer_that_does_not_fit_the_records_falls_back_for_that_step(
        bad: dict, scripted: ScriptedChatModel, small_db: Path, isolated: Path) -> None:
    scripted.default = lambda messages: call("submit_analysis", **bad)  # the same bad answer to every repair
    analyst = get_analyst("scripted-model", load_settings(env={}), chat=scripted)
    events: list[dict] = []
    state = run_graph(small_db, ["performance"], isolated / "r", analyst=analyst, events=events)
    analysis = state["sections"]["performance"]["analysis"]
    assert analysis["analyst"] == "offline (fallback from scripted-model)"
    assert analysis["insights"] and all(i["finding_ids"] for i in analysis["insights"])
    warnings = [e for e in events if e["event"] == "warning" and e.get("agent") == "performance"]
    assert warnings and "offline analyst wrote this step" in warnings[0]["message"]
    assert state["report"]["path"]  # the run published its report
