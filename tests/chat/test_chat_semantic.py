"""The chat on top of the semantic model: compiled answers, the model's query_data tool, and the chat fixes
of issue 12 (cancellable /analyze, /exti, /sql figures, plain-text JSON, empty sessions, /model checks)."""

from __future__ import annotations

import _thread
import json
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from finmatch_agents.chat.session import ChatSession
from finmatch_agents.cli.repl import answer_table
from finmatch_agents.config import load_settings
from finmatch_agents.errors import Interrupted
from tests.fake_openai import FakeOpenAI, Reply
from tests.llm.conftest import KEY, write_config
from tests.scripted_model import ScriptedChatModel, call


@pytest.fixture
def session(small_db: Path, isolated: Path):
    s = ChatSession(load_settings(db=small_db, env={}), "sem")
    yield s
    s.close()


def test_a_compiled_answer_echoes_the_question_and_shows_its_sql(session: ChatSession) -> None:
    answer = session.ask("acceptance rate for students by channel in 2025")
    assert answer.kind == "compiled" and answer.query_ids == ["Q1"]
    assert answer.interpretation == "acceptance rate · by channel · segment = Student · 2025"
    assert f"```sql\n{answer.sql}\n```" in answer.text and "[Q1]" in answer.text
    record = session.log.records[-1]
    assert record.id == "Q1" and record.sql == answer.sql.strip() and record.status == "ok"
    assert {r["channel"] for r in answer.tables[0].rows} == {"Branch", "Call Center", "Email", "Mobile App",
                                                             "Online Banking"}


def test_ask_json_text_is_plain_and_markdown_is_kept(cli, small_db: Path) -> None:
    result = cli("ask", "What is the acceptance rate for Email in 2025?", "--db", small_db, "--json")
    got = json.loads(result.stdout)
    assert result.exit_code == 0 and got["kind"] == "compiled"
    assert {"question", "session", "kind", "text", "markdown", "tables", "query_ids", "matched", "exit_code",
            "interpretation", "sql", "structured"} <= set(got)
    assert "**" in got["markdown"] and "```sql" in got["markdown"]
    assert "**" not in got["text"] and "```" not in got["text"] and "Understood as: acceptance rate" in got["text"]
    assert got["structured"]["filters"] == [{"dimension": "channel", "values": ["Email"], "negate": False}]


def test_describe_shows_the_semantic_model(session: ChatSession) -> None:
    overview = session.ask("/describe")
    measures, dims = overview.tables
    assert "acceptance_rate" in [r["name"] for r in measures.rows] and "segment" in [r["name"] for r in dims.rows]
    assert "Student" in next(r["values"] for r in dims.rows if r["name"] == "segment")
    one = session.ask("/describe acceptance_rate")
    assert "count(*) FILTER (WHERE product_recommendation_status = 'Accepted')" in one.text
    assert session.ask("/describe fpr_records").tables[0].title == "Columns of fpr_records"


def test_typos_in_commands_suggest_the_command(session: ChatSession) -> None:
    assert "Did you mean `/exit`?" in session.ask("/exti").text
    assert "Did you mean `/describe`?" in session.ask("/descibe").text


def test_sql_shows_integers_as_integers_aligned_right(session: ChatSession) -> None:
    answer = session.ask("/sql SELECT channel, count(*) AS n, avg(recommendation_score) AS s FROM fpr_records "
                         "GROUP BY 1 ORDER BY 1")
    table = answer.tables[0]
    assert [u for _k, _h, u in table.columns] == ["text", "count", "number"]
    cells = table.formatted("USD", markdown=False)
    assert all("." not in row[1] for row in cells) and all("." in row[2] for row in cells)
    view = answer_table(table, "USD")
    assert [c.justify for c in view.columns] == ["left", "right", "right"]


def test_empty_sessions_are_not_listed(cli, small_db: Path, isolated: Path) -> None:
    ChatSession(load_settings(db=small_db, env={}), "nothing-asked").close()
    assert "No chat sessions yet." in cli("chat", "--list").stdout
    asked = ChatSession(load_settings(db=small_db, env={}), "asked")
    asked.ask("/tables")
    asked.close()
    listed = cli("chat", "--list").stdout
    assert "asked" in listed and "nothing-asked" not in listed


def test_ctrl_c_during_analyze_cancels_it_and_keeps_the_session(session: ChatSession) -> None:
    def interrupt_once(event: dict) -> None:
        if event["event"] == "analysis_step_finished" and not fired:
            fired.append(True)
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the session's thread
            time.sleep(0.5)  # the small analysis would otherwise finish before that thread wakes

    fired: list[bool] = []
    session.on_event = interrupt_once
    with pytest.raises(Interrupted, match="stopped; finished steps are saved"):
        session.ask("/analyze performance")
    history = session.ask("/history").tables[0].rows
    assert history[0]["status"] == "interrupted"
    assert session.ask("Which channel converts best?").kind == "verified"


def test_model_switch_tests_the_endpoint_first(session: ChatSession, isolated: Path, monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    with FakeOpenAI(lambda body: Reply(status=401, error="bad key")) as server:
        write_config(isolated / "finmatch.toml", server.base_url, max_retries=0)
        session.settings = load_settings(db=session.settings.db, config_path=isolated / "finmatch.toml", env={})
        refused = session.ask("/model local")
        assert refused.kind == "error" and "did not answer" in refused.text and session.model == "offline"
        server.responder = lambda body: Reply(content="ok")
        assert session.ask("/model local").text == "Model set to `local`."
    assert session.model == "local"


def test_with_an_unreachable_model_offline_answers_still_work(small_db: Path, isolated: Path, monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", KEY)
    write_config(isolated / "finmatch.toml", "http://127.0.0.1:9/v1", timeout=1, max_retries=0)
    s = ChatSession(load_settings(db=small_db, model="local", config_path=isolated / "finmatch.toml", env={}), "down")
    try:
        assert s.ask("Which segment has the highest churn?").kind == "verified"
        compiled = s.ask("churn for students")
        assert compiled.kind == "compiled" and compiled.exit_code == 0
        needed = s.ask("Write a poem about churn")
        assert needed.kind == "error" and needed.exit_code == 4 and "I can't answer that offline" in needed.text
    finally:
        s.close()


def test_the_model_fills_the_structured_query_and_the_compiler_runs_it(small_db: Path, isolated: Path,
                                                                       monkeypatch) -> None:
    def answer_from_tool(messages) -> AIMessage:
        tool = next(m for m in reversed(messages) if isinstance(m, ToolMessage))
        data = json.loads(tool.content)
        return AIMessage(content=f"{data['interpretation']}: {data['rows'][0][0]} [{data['query_id']}]")

    model = ScriptedChatModel(script=[call("query_data", measures=["recommendations"],
                                           filters=[{"dimension": "product_type", "values": ["Mortgage"]}],
                                           period="2024")], default=answer_from_tool)
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    s = ChatSession(load_settings(db=small_db, model="scripted", env={}), "tool")
    s._agent.chat = model
    try:
        answer = s.ask("In plain words, how busy were mortgages in 2024?")
        offline = s.semantic.compile(s.semantic.parse("How many mortgages in 2024?").query)
    finally:
        s.close()
    assert answer.kind == "model" and answer.query_ids == ["Q1"]
    assert "recommendations · product type = Mortgage · 2024" in answer.text and "[Q1]" in answer.text
    spec = next(t for t in model.tools if t["function"]["name"] == "query_data")["function"]["parameters"]
    assert "acceptance_rate" in spec["properties"]["measures"]["items"]["enum"]
    assert "Mortgage" in spec["properties"]["filters"]["items"]["properties"]["values"]["items"]["enum"]
    system = model.seen[0][0].content
    assert "acceptance_rate: acceptance rate (percent)" in system and "segment: segment — values:" in system
    assert s.log.records[0].sql == offline.sql.strip()  # the same statement the offline compiler runs
