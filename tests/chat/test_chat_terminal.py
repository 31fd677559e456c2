"""The chat driven end to end through a pseudo-terminal (prompt_toolkit input, Rich output)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.fake_openai import FakeOpenAI, Reply
from tests.llm.conftest import KEY, write_config


def spawn(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> pexpect.spawn:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FINMATCH_", "OPENAI_"))}
    base.update({"TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "120", "LINES": "40", "NO_COLOR": "1",
                 **(env or {})})
    child = pexpect.spawn(sys.executable, ["-m", "finmatch_agents", "chat", *args], cwd=str(cwd), env=base,
                          encoding="utf-8", timeout=60, dimensions=(40, 120))
    child.expect("finmatch>")
    return child


@pytest.mark.slow
def test_offline_session_in_a_terminal(small_db: Path, tmp_path: Path) -> None:
    child = spawn(["--db", str(small_db), "--session", "tty1"], tmp_path)
    child.sendline("/tables")
    child.expect("fpr_records")
    child.expect("finmatch>")
    child.sendline("Which segment has the highest churn?")
    child.expect("has the highest mean churn probability")
    child.expect("finmatch>")
    child.sendline("/save")
    child.expect("Session saved to")
    child.expect("finmatch>")
    child.sendcontrol("c")  # at the prompt: clears the line, keeps the session
    child.sendline("/history")
    child.expect("No runs yet")
    child.expect("finmatch>")
    child.sendcontrol("d")
    child.expect("resume it with `finmatch chat --session tty1`")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    saved = next((tmp_path / "reports" / "chat").glob("tty1-*.md")).read_text()
    assert "## Which segment has the highest churn?" in saved and "Appendix — Evidence & provenance" in saved
    assert (tmp_path / "data" / "chat_history").read_text().count("Which segment") == 1


@pytest.mark.slow
def test_ctrl_c_cancels_the_answer_not_the_session(small_db: Path, tmp_path: Path) -> None:
    with FakeOpenAI(lambda body: Reply(content="late", delay=20)) as server:
        write_config(tmp_path / "finmatch.toml", server.base_url, timeout=30, max_retries=0)
        child = spawn(["--db", str(small_db), "--model", "local"], tmp_path, {"LOCAL_KEY": KEY})
        child.sendline("How are offers converting this month, in your own words?")
        deadline = time.time() + 10
        while not server.requests and time.time() < deadline:
            time.sleep(0.1)
        assert server.requests, "the model was never called"
        child.sendintr()
        child.expect("Answer cancelled")
        child.expect("finmatch>")
        server.responder = lambda body: Reply(content="Back again.")
        child.sendline("/sql SELECT count(*) AS n FROM products")
        child.expect("40")
        child.expect("finmatch>")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
