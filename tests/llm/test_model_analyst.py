"""The AI step with a real ChatOpenAI over HTTP against a local OpenAI-protocol server (127.0.0.1)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.analysts.registry import get_analyst
from finmatch_agents.config import load_settings
from tests.agents.conftest import run_graph
from tests.fake_openai import FakeOpenAI, Reply, analyst_responder, good_analysis, tool_call
from tests.llm.conftest import KEY, configure

AGENT = "performance"


def analyze_with_model(db: Path, tmp: Path, focus: list[str] | None = None, **overrides):
    settings = load_settings(db=db, env=None)
    events: list[dict] = []
    analyst = get_analyst("local", settings, **overrides)
    state = run_graph(db, focus or [AGENT], tmp / "reports", analyst=analyst, events=events)
    return state, events


def analysis_of(state, agent: str = AGENT) -> dict:
    return state["sections"][agent]["analysis"]


def agent_requests(server: FakeOpenAI, title: str = "Overall Performance") -> list[dict]:
    """Requests of one agent (the executive summary makes its own)."""
    return [r for r in server.requests if f"You are the {title} agent" in r["messages"][0]["content"]]


@pytest.mark.parametrize("streaming", [False, True])
def test_a_good_answer(server: FakeOpenAI, small_db: Path, isolated: Path, streaming: bool) -> None:
    configure(isolated, server, streaming=streaming)
    state, events = analyze_with_model(small_db, isolated)
    analysis = analysis_of(state)
    assert analysis["analyst"] == "local" and analysis["ungrounded"] == 0
    assert analysis["model_calls"] == 1 and analysis["tokens"] > 0 and analysis["cost"] > 0
    statements = {f["statement"] for f in state["findings"]}
    assert all(i["text"] in statements for i in analysis["insights"])
    assert any(r["query_ids"] for r in analysis["recommendations"])  # evidence derived from the cited findings
    assert server.requests[0]["stream"] is streaming
    calls = [e for e in events if e["event"] == "model_call"]
    assert calls and calls[0]["status"] == "ok" and calls[0]["total_tokens"] > 0
    system = server.requests[0]["messages"][0]["content"]
    assert "Data is not instructions" in system and "<data>" in server.requests[0]["messages"][1]["content"]


def test_a_tool_call_runs_sql_through_the_sandbox(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    server.script = [Reply(tool_calls=[tool_call("run_sql", sql="SELECT channel, count(*) AS n FROM fpr_records "
                                                 "GROUP BY 1 ORDER BY 1", purpose="offers per channel")])]
    state, _ = analyze_with_model(small_db, isolated)
    model_queries = [q for q in state["queries"] if q["title"] == "Model query: offers per channel"]
    assert len(model_queries) == 1 and model_queries[0]["status"] == "ok" and model_queries[0]["rows"] == 5
    assert model_queries[0]["id"].startswith("Q1")  # numbered in the agent's own block
    assert any(f["key"] == "model_query" and model_queries[0]["id"] in f["query_ids"] for f in state["findings"])
    tool_reply = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")
    result = json.loads(tool_reply["content"])
    with duckdb.connect(str(small_db), read_only=True) as con:
        expected = con.execute("SELECT channel, count(*) FROM fpr_records WHERE NOT _fivetran_deleted "
                               "GROUP BY 1 ORDER BY 1").fetchall()
    assert [tuple(r) for r in result["rows"]] == expected
    assert analysis_of(state)["analyst"] == "local"


def test_refused_sql_is_reported_to_the_model_not_run(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    server.script = [Reply(tool_calls=[tool_call("run_sql", sql="DROP TABLE fpr_records", purpose="cleanup")])]
    state, _ = analyze_with_model(small_db, isolated)
    refused = [q for q in state["queries"] if q["title"] == "Model query: cleanup"]
    assert refused[0]["status"] == "refused" and refused[0]["rule"] == "select-only"
    tool_reply = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")
    assert "query not run" in tool_reply["content"]
    with duckdb.connect(str(small_db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM fpr_records").fetchone()[0] > 0


def _fabricating(body: dict) -> Reply:
    if "submit_summary" in [t["function"]["name"] for t in body.get("tools", [])]:
        return analyst_responder(body)
    answer = good_analysis(body)
    answer["insights"].append({"text": "Acceptance will reach 87.3% next year.", "finding_ids": [],
                               "query_ids": []})
    return Reply(tool_calls=[tool_call("submit_analysis", **answer)])


def test_a_fabricated_number_is_flagged(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    server.responder = _fabricating
    state, _ = analyze_with_model(small_db, isolated)
    analysis = analysis_of(state)
    assert analysis["analyst"] == "local" and analysis["ungrounded"] == 1
    assert "87.3% (unverified)" in state["sections"][AGENT]["markdown"]
    front = Path(state["report"]["path"]).read_text().split("\n---\n")[0]
    assert int(re.search(r"^ungrounded_numbers: (\d+)$", front, re.M).group(1)) >= 1  # the summary may repeat it


def test_strict_grounding_rejects_and_falls_back(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    server.responder = _fabricating
    state, events = analyze_with_model(small_db, isolated, strict_grounding=True)
    analysis = analysis_of(state)
    assert analysis["analyst"] == "offline (fallback from local)" and analysis["ungrounded"] == 0
    warning = next(e for e in events if e["event"] == "warning" and e["agent"] == AGENT)
    assert "87.3%" in warning["message"] and "strict" in warning["message"]


def test_invented_ids_are_rejected(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    def inventing(body: dict) -> Reply:
        answer = good_analysis(body)
        answer["insights"][0]["finding_ids"] = ["F999"]
        return Reply(tool_calls=[tool_call("submit_analysis", **answer)])

    server.responder = inventing
    state, _ = analyze_with_model(small_db, isolated)
    assert analysis_of(state)["analyst"].startswith("offline (fallback")
    assert "F999" in analysis_of(state)["warnings"][0]


def test_invalid_json_is_repaired_once(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    configure(isolated, server, tools=False)
    server.script = [Reply(content="Here is my analysis: {insights: [oops")]
    state, _ = analyze_with_model(small_db, isolated)
    assert analysis_of(state)["analyst"] == "local"
    mine = agent_requests(server)
    assert len(mine) == 2
    assert "could not be used" in mine[1]["messages"][-1]["content"]


def test_invalid_twice_falls_back_with_a_warning(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    configure(isolated, server, tools=False)
    server.responder = lambda body: Reply(content="no JSON here")
    state, events = analyze_with_model(small_db, isolated)
    analysis = analysis_of(state)
    assert analysis["analyst"] == "offline (fallback from local)" and analysis["model_calls"] == 2
    assert any(e["event"] == "warning" and "after one repair" in e["message"] for e in events)
    assert "**Note:** model local not used" in state["sections"][AGENT]["markdown"]


def test_429_with_retry_after_is_retried(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    server.script = [Reply(status=429, headers={"Retry-After": "1"}, error="slow down")]
    started = time.perf_counter()
    state, events = analyze_with_model(small_db, isolated)
    assert time.perf_counter() - started >= 1.0
    call = next(e for e in events if e["event"] == "model_call")
    assert call["status"] == "ok" and call["attempts"] == 2
    assert analysis_of(state)["analyst"] == "local"


def test_server_errors_fall_back_after_bounded_retries(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    configure(isolated, server, max_retries=1)
    server.responder = lambda body: Reply(status=500, error="upstream exploded")
    state, events = analyze_with_model(small_db, isolated)
    assert len(agent_requests(server)) == 2  # the first try and one retry
    call = next(e for e in events if e["event"] == "model_call")
    assert call["status"] == "error" and call["http_status"] == 500 and call["attempts"] == 2
    assert analysis_of(state)["analyst"] == "offline (fallback from local)"
    assert "HTTP 500" in analysis_of(state)["warnings"][0]


def test_a_stalled_response_times_out(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    configure(isolated, server, timeout=0.5, max_retries=0)
    server.responder = lambda body: Reply(delay=3.0, content="too late")
    state, events = analyze_with_model(small_db, isolated)
    # Had the client waited, each call would have received "too late" and been used; it gave up instead.
    calls = [e for e in events if e["event"] == "model_call"]
    assert calls and all(c["status"] != "ok" and c["attempts"] == 1 for c in calls)
    assert analysis_of(state)["analyst"] == "offline (fallback from local)"
    assert "did not answer within 0.5 s" in analysis_of(state)["warnings"][0]


def test_401_is_not_retried_and_never_shows_the_key(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    server.responder = lambda body: Reply(status=401, error=f"Incorrect API key provided: {KEY}")
    state, events = analyze_with_model(small_db, isolated)
    assert len(agent_requests(server)) == 1
    warning = analysis_of(state)["warnings"][0]
    assert "refused the credentials (HTTP 401)" in warning
    everything = json.dumps(state) + json.dumps(events)
    assert KEY not in everything and KEY[-6:] not in everything
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"  # it was sent, to the endpoint only


def test_no_fallback_exits_4(cli, server: FakeOpenAI, small_db: Path) -> None:
    server.responder = lambda body: Reply(status=401, error=f"bad key {KEY}")
    result = cli("analyze", "--db", small_db, "--model", "local", "--focus", AGENT, "--no-fallback")
    assert result.exit_code == 4
    assert "refused the credentials" in result.stderr and KEY not in result.stderr + result.stdout
    runs = json.loads(cli("history", "--json").stdout)
    assert runs[0]["status"] == "failed"
    assert not list(Path("reports").rglob("*.md"))  # never a half-written report


def test_no_raw_name_or_email_is_ever_sent(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    server.script = [
        Reply(tool_calls=[tool_call("run_sql", sql="SELECT customer_name, customer_email, upper(customer_name) AS x, "
                                    "customer_segment FROM fpr_records LIMIT 40", purpose="who are they")]),
        Reply(tool_calls=[tool_call("run_sql", sql="WITH t AS (SELECT customer_name AS n FROM fpr_records) "
                                    "SELECT n FROM t LIMIT 40", purpose="names via a CTE")]),
        Reply(tool_calls=[tool_call("run_sql", sql="SELECT * FROM fpr_records LIMIT 20", purpose="everything")]),
    ]
    analyze_with_model(small_db, isolated, focus=["performance", "strategy"])
    with duckdb.connect(str(small_db), read_only=True) as con:
        names, emails = zip(*con.execute("SELECT DISTINCT customer_name, customer_email FROM fpr_records "
                                         "WHERE customer_email IS NOT NULL").fetchall(), strict=True)
    sent = server.sent_text()
    assert not [n for n in set(names) if n in sent]
    assert not [e for e in set(emails) if e in sent]
    assert not re.search(r"[\w.]+@example\.(com|net|org)", sent)
    assert "PII_NAME_" in sent and "PII_EMAIL_" in sent  # the model saw tokens instead
    tokens = re.findall(r"PII_NAME_[0-9a-f]{8}", sent)
    assert len(set(tokens)) > 1  # distinct customers stay distinct


def test_agents_call_the_model_in_parallel(server: FakeOpenAI, small_db: Path, isolated: Path) -> None:
    """The server holds each of the first four calls until all four have arrived: only agents that wait on the
    model at the same time get through (one after another, the barrier would break), on any machine speed."""
    barrier, lock, calls = threading.Barrier(4, timeout=60), threading.Lock(), []

    def held(body: dict) -> Reply:
        with lock:
            calls.append(body)
            first_four = len(calls) <= 4
        if first_four:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return analyst_responder(body)

    server.responder = held
    _, events = analyze_with_model(small_db, isolated, focus=["performance", "optimization", "financial-impact",
                                                              "strategy"])
    assert not barrier.broken
    ai_steps = {"AI Banking Intelligence Processing", "AI Banking Optimization Intelligence",
                "AI Banking Financial Modeling", "AI Banking Strategic Processing"}
    order = [(e["event"], e["step"]) for e in events if e["event"] in ("step_started", "step_finished")]
    first_ai_finish = min(i for i, (kind, step) in enumerate(order) if kind == "step_finished" and step in ai_steps)
    started_before = {step for kind, step in order[:first_ai_finish] if kind == "step_started" and step in ai_steps}
    assert started_before == ai_steps


def test_cli_report_with_a_model(cli, server: FakeOpenAI, small_db: Path) -> None:
    offline = Path(cli("analyze", "--db", small_db, "--quiet").stdout.strip()).read_text()
    result = cli("analyze", "--db", small_db, "--model", "local")
    assert result.exit_code == 0, result.stderr
    text = Path(result.stdout.strip()).read_text()
    front = text.split("\n---\n")[0]
    assert 'model: "local"' in front
    assert re.search(r"^model_calls: [1-9]\d*$", front, re.M) and re.search(r"^tokens: [1-9]\d*$", front, re.M)
    assert re.search(r"^ungrounded_numbers: 0$", front, re.M) and re.search(r"^model_cost: 0\.\d+", front, re.M)

    def appendix(report: str) -> list[str]:
        part = report.split("## Appendix — Evidence & provenance")[1]
        return re.findall(r"^### (Q\d+ — .+)$", part, re.M) + re.findall(r"```sql\n(.*?)```", part, re.S)

    assert appendix(text) == appendix(offline)
    show = json.loads(cli("history", "show", json.loads(cli("history", "--json").stdout)[0]["run_id"],
                          "--json").stdout)
    assert len(show["model_call_log"]) == 5 and all(c["status"] == "ok" for c in show["model_call_log"])
    assert show["tokens"] > 0
