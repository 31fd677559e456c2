"""`finmatch models list|test` against a local OpenAI-protocol server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.fake_openai import FakeOpenAI, Reply
from tests.llm.conftest import KEY

REPO = Path(__file__).resolve().parents[2]


def test_list_shows_key_presence_never_the_key(cli, server: FakeOpenAI) -> None:
    result = cli("models", "list", "--json")
    data = json.loads(result.stdout)
    local = next(m for m in data["models"] if m["name"] == "local")
    assert local["key_present"] is True and local["api_key_env"] == "LOCAL_KEY"
    assert KEY not in result.stdout
    table = cli("models", "list")
    assert "LOCAL_KEY set" in table.stdout and KEY not in table.stdout


def test_example_config_lists_every_kind_of_endpoint(cli, isolated: Path) -> None:
    shutil.copy(REPO / "examples" / "finmatch.toml", isolated / "finmatch.toml")
    names = {m["name"] for m in json.loads(cli("models", "list", "--json").stdout)["models"]}
    for expected in ("openai-gpt-4o-mini", "azure-gpt-4o", "ollama-llama3", "vllm-local", "lmstudio-local",
                     "llamacpp-local", "databricks-claude-sonnet-4", "databricks-claude-opus-4",
                     "databricks-claude-3-7-sonnet", "databricks-meta-llama-3-1-8b-instruct",
                     "databricks-meta-llama-3-3-70b-instruct", "databricks-gemma-3-12b", "databricks-llama-4-maverick"):
        assert expected in names


def test_test_reports_latency_and_tool_calling(cli, server: FakeOpenAI) -> None:
    server.script = [Reply(content="ok")]
    server.responder = lambda body: Reply(tool_calls=[{"name": "ping", "arguments": {"status": "ok"}}])
    result = cli("models", "test", "local", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["tool_calling"] is True and report["latency_ms"] >= 0 and report["tokens"] > 0


def test_test_of_a_failing_endpoint_exits_4(cli, server: FakeOpenAI) -> None:
    server.responder = lambda body: Reply(status=401, error=f"nope {KEY}")
    result = cli("models", "test", "local")
    assert result.exit_code == 4 and "LOCAL_KEY" in result.stderr and KEY not in result.stderr


def test_a_missing_key_is_named(cli, server: FakeOpenAI, monkeypatch) -> None:
    monkeypatch.delenv("LOCAL_KEY")
    result = cli("models", "test", "local")
    assert result.exit_code == 4 and "LOCAL_KEY is not set" in result.stderr
