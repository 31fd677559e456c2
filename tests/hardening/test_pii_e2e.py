"""Issue 20, item 1 end to end: `finmatch analyze` and `finmatch ask` with a model whose tool calls run every
leaky SQL form; every request body the (local, 127.0.0.1) model server receives is searched for raw PII."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fake_openai import FakeOpenAI, Reply, analyst_responder, tool_call
from tests.hardening.test_pii import LEAKY_FORMS, leaks, raw_pii
from tests.llm.conftest import KEY, write_config

#: forms that also go through error paths (the error text is returned to the model as the tool result)
ERROR_FORMS = ["SELECT customer_name::INT FROM fpr_records", "SELECT json_extract(customer_name, '$') FROM fpr_records"]


def tool_results(server: FakeOpenAI) -> list[str]:
    return [m["content"] for body in server.requests for m in body.get("messages", []) if m.get("role") == "tool"]


@pytest.fixture
def configured(isolated: Path, monkeypatch: pytest.MonkeyPatch):
    def configure(server: FakeOpenAI) -> None:
        monkeypatch.setenv("LOCAL_KEY", KEY)
        write_config(isolated / "finmatch.toml", server.base_url)
        with (isolated / "finmatch.toml").open("a") as fh:
            fh.write(f"\n[llm]\nmax_tool_calls = {len(LEAKY_FORMS) + len(ERROR_FORMS) + 2}\n")
    return configure


def test_analyze_sends_no_raw_pii(cli, small_db: Path, configured) -> None:
    names, emails = raw_pii(small_db)
    calls = [tool_call("run_sql", sql=sql, purpose=f"form {i}") for i, sql in enumerate(LEAKY_FORMS + ERROR_FORMS)]
    with FakeOpenAI(analyst_responder) as server:
        server.script = [Reply(tool_calls=calls)]
        configured(server)
        result = cli("analyze", "--db", small_db, "--model", "local", "--focus", "performance", "--quiet")
        assert result.exit_code == 0, result.stderr
        results = tool_results(server)
        sent = json.dumps(server.requests, ensure_ascii=False)
    assert len(results) == len(calls)
    ran = [r for r in results if r.startswith("{")]
    assert len(ran) == len(LEAKY_FORMS) and all(json.loads(r)["rows"] for r in ran)  # the forms really ran
    assert not leaks(sent, names, emails)
    assert "PII_NAME_" in sent and "PII_EMAIL_" in sent


def test_ask_sends_no_raw_pii(cli, small_db: Path, configured) -> None:
    names, emails = raw_pii(small_db)
    forms = LEAKY_FORMS + ERROR_FORMS
    batches = [forms[i:i + 5] for i in range(0, len(forms), 5)]  # the chat allows 6 tool calls per answer
    with FakeOpenAI(lambda body: Reply(content="Here is what I found.")) as server:
        configured(server)
        for n, batch in enumerate(batches):
            server.script = [Reply(tool_calls=[tool_call("run_sql", sql=sql, purpose="who") for sql in batch]),
                             Reply(content="Here is what I found.")]
            result = cli("ask", f"Tell me about customers, part {n}", "--db", small_db, "--model", "local",
                         "--session", f"pii{n}", "--json")
            assert result.exit_code == 0, result.stderr
        results = tool_results(server)
        sent = json.dumps(server.requests, ensure_ascii=False)
    assert sum(r.startswith('{"query_id"') for r in results) >= len(LEAKY_FORMS)
    assert not leaks(sent, names, emails)
    assert "PII_NAME_" in sent and "PII_EMAIL_" in sent
