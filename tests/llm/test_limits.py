"""What is read from a model is bounded: call deadlines, stream completeness, turns and tool calls per chat
answer and per session, tool arguments, response size. No model output makes a command exit 1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from finmatch_agents.chat.agent import bounded_history
from finmatch_agents.chat.session import ChatSession
from finmatch_agents.config import load_settings
from finmatch_agents.llm.tools import SqlArgs, Tool
from tests.fake_openai import FakeOpenAI, Reply, analyst_responder
from tests.llm.conftest import KEY, write_config
from tests.scripted_model import ScriptedChatModel, call


def scripted_session(db: Path, name: str, model: ScriptedChatModel, monkeypatch: pytest.MonkeyPatch,
                     **settings: object) -> ChatSession:
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    session = ChatSession(load_settings(db=db, model="scripted", env={}, **settings), name)
    session._agent.chat = model
    return session


def test_a_model_that_keeps_calling_tools_is_stopped(small_db: Path, isolated: Path, monkeypatch) -> None:
    model = ScriptedChatModel(default=lambda m: call("run_sql", f"c{len(m)}", sql="SELECT 1 AS n", purpose="again"))
    session = scripted_session(small_db, "loop", model, monkeypatch)
    started = time.perf_counter()
    answer = session.ask("Tell me something surprising.")
    session.close()
    assert time.perf_counter() - started < 120  # bounded: the turn cap below is what stops it
    assert answer.kind == "error" and answer.exit_code == 4 and "turns" in answer.text
    assert len(model.seen) == 8  # [llm] max_turns
    assert len([q for q in session.log.records if q.title.startswith("Chat model query")]) == 6  # max tool calls


def test_the_session_budget_of_model_calls_holds_across_answers(small_db: Path, isolated: Path, monkeypatch) -> None:
    (isolated / "finmatch.toml").write_text("[llm]\nmax_session_calls = 3\n")
    model = ScriptedChatModel(default=lambda m: AIMessage(content="Noted."))
    session = scripted_session(small_db, "budget", model, monkeypatch)
    kinds = [session.ask(f"Question {i}?").kind for i in range(5)]
    session.close()
    assert kinds == ["model", "model", "model", "error", "error"] and len(model.seen) == 3


def test_trimming_keeps_the_question_being_answered() -> None:
    old = [HumanMessage("old " * 2000), AIMessage("answer " * 2000)] * 5
    current = [HumanMessage("the question"), AIMessage("", tool_calls=[{"name": "run_sql", "args": {},
                                                                         "id": "t1"}])]
    kept = bounded_history([*old, *current], budget=200)
    assert kept[-2:] == current and all(not isinstance(m, SystemMessage) for m in kept)


def test_the_chat_checkpoint_does_not_grow_with_the_session(small_db: Path, isolated: Path, monkeypatch) -> None:
    model = ScriptedChatModel(default=lambda m: AIMessage(content="Short answer."))
    session = scripted_session(small_db, "grow", model, monkeypatch)
    sizes = []
    for i in range(12):
        session.ask(f"Question number {i}?")
        con = session._agent.checkpointer.conn
        sizes.append(con.execute("SELECT count(*) FROM checkpoints").fetchone()[0])
    session.close()
    assert max(sizes) == 1  # one checkpoint per session, however long it runs


def test_tool_arguments_are_validated_not_trusted() -> None:
    tool = Tool("run_sql", "x", SqlArgs, lambda a: f"ran {a.sql}")
    assert tool.call({"sql": "SELECT 1", "purpose": "p"}) == "ran SELECT 1"
    assert "invalid arguments" in tool.call({"sql": 5})
    assert "invalid arguments" in tool.call({"sql": "x" * 30_000})
    assert "invalid arguments" in tool.call(["SELECT 1"])
    assert "invalid arguments" in tool.call({"purpose": "no sql"})


def test_wrong_argument_types_from_a_model_do_not_crash_the_chat(small_db: Path, isolated: Path,
                                                                 monkeypatch) -> None:
    model = ScriptedChatModel(script=[call("find_customers", min_churn="high", limit=[1, 2]),
                                      AIMessage(content="I could not filter.")])
    session = scripted_session(small_db, "types", model, monkeypatch)
    answer = session.ask("Risky customers?")
    session.close()
    assert answer.kind == "model"
    tool_reply = next(m.content for m in model.seen[1] if m.type == "tool")
    assert "invalid arguments for find_customers" in tool_reply and "min_churn" in tool_reply


def _config(isolated: Path, server: FakeOpenAI, **extra: object) -> None:
    write_config(isolated / "finmatch.toml", server.base_url, **extra)


def test_a_slow_drip_is_cut_at_the_call_deadline(small_db: Path, isolated: Path, monkeypatch, cli) -> None:
    """A server sending a byte every 0.2 s never trips a per-read timeout; the deadline is per call."""
    monkeypatch.setenv("LOCAL_KEY", KEY)
    with FakeOpenAI(lambda body: Reply(content="The answer is fine.", drip=0.2)) as server:
        _config(isolated, server, timeout=1, max_retries=0)
        started = time.perf_counter()
        result = cli("ask", "Tell me a story about the acceptance rate", "--db", small_db, "--model", "local",
                     "--json")
        elapsed = time.perf_counter() - started
    assert elapsed < 25, elapsed  # the body alone would take 40 s at this pace
    assert result.exit_code == 4
    got = json.loads(result.stdout)
    assert got["kind"] == "error" and "did not answer within 1 s" in got["text"]


def test_a_truncated_stream_is_a_failure_not_an_answer(small_db: Path, isolated: Path, monkeypatch, cli) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    with FakeOpenAI(lambda body: Reply(content="Half an answ", truncate=True)) as server:
        _config(isolated, server, streaming=True, max_retries=0)
        result = cli("ask", "Tell me something surprising", "--db", small_db, "--model", "local", "--json")
    got = json.loads(result.stdout)
    assert result.exit_code == 4 and got["kind"] == "error" and "stream ended" in got["text"]


def test_a_failing_model_leaves_verified_and_compiled_answers_and_exits_4_only_when_needed(
        small_db: Path, isolated: Path, monkeypatch, cli) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    with FakeOpenAI(lambda body: Reply(status=401, error="bad key")) as server:
        _config(isolated, server)

        def ask(question: str) -> tuple[int, dict]:
            result = cli("ask", question, "--db", small_db, "--model", "local", "--json")
            return result.exit_code, json.loads(result.stdout)

        code, verified = ask("Which segment has the highest churn?")
        assert code == 0 and verified["kind"] == "verified" and verified["matched"] and verified["tables"]
        code, compiled = ask("What is the acceptance rate for Email in 2025?")
        assert code == 0 and compiled["kind"] == "compiled" and compiled["interpretation"].endswith("· 2025")
        assert not server.requests  # the model was not needed
        code, needed = ask("Tell me something surprising about Email")
    assert code == 4 and needed["kind"] == "error" and "model local failed" in needed["text"]
    assert "I can't answer that offline" in needed["text"] and server.requests


def test_an_oversized_model_answer_is_refused(small_db: Path, isolated: Path, monkeypatch) -> None:
    """10 MB of tool arguments is not parsed; the step falls back to the offline analyst (no hang, no exit 1)."""
    from finmatch_agents.analysts.registry import get_analyst
    from tests.agents.conftest import run_graph

    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    huge = call("submit_analysis", insights=[{"text": "x" * 10_000_000, "finding_ids": []}])
    model = ScriptedChatModel(default=lambda m: huge)
    analyst = get_analyst("scripted-model", load_settings(env={}), chat=model)
    started = time.perf_counter()
    state = run_graph(small_db, ["performance"], isolated / "r", analyst=analyst)
    assert time.perf_counter() - started < 60
    analysis = state["sections"]["performance"]["analysis"]
    assert analysis["analyst"] == "offline (fallback from scripted-model)"
    assert "longer than" in analysis["warnings"][0]


def test_analyst_endpoint_failures_fall_back(small_db: Path, isolated: Path, monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    with FakeOpenAI(analyst_responder) as server:
        server.responder = lambda body: Reply(content="not json", drip=0.0, status=200)
        _config(isolated, server, tools=False)
        from finmatch_agents.analysts.registry import get_analyst
        from tests.agents.conftest import run_graph

        analyst = get_analyst("local", load_settings(env=None))
        state = run_graph(small_db, ["performance"], isolated / "r", analyst=analyst)
    assert state["sections"]["performance"]["analysis"]["analyst"].startswith("offline (fallback")


def test_a_large_tool_result_is_cut_by_rows_and_stays_valid_json(small_db: Path, isolated: Path) -> None:
    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.llm.pii import Masker
    from finmatch_agents.llm.tools import MAX_RESULT_CHARS, DataAccess
    from finmatch_agents.warehouse.engine import open_engine

    settings = load_settings(db=small_db, reports_dir=isolated / "r", state_dir=isolated / "s", env={})
    engine = open_engine(settings)
    try:
        sql = "SELECT customer_id, product_type, customer_segment FROM fpr_records ORDER BY customer_id"
        result = engine.query(sql, log=QueryLog(), max_rows=200)
        access = DataAccess(run_sql=lambda *a: result, tables=["fpr_records"], describe=lambda t: [],
                            masker=Masker(KEY, ["customer_name"], values=lambda: []))
        text = access.rows_json(sql, result)
    finally:
        engine.close()
    assert len(json.dumps(result.dicts(), default=str)) > MAX_RESULT_CHARS  # the full result would not fit
    parsed = json.loads(text)
    assert len(text) <= MAX_RESULT_CHARS and parsed["truncated"] is True
    assert 0 < len(parsed["rows"]) < len(result.rows)
    assert [list(r) for r in result.rows[:len(parsed["rows"])]] == parsed["rows"]  # a prefix, row for row
