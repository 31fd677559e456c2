"""Runs survive what goes wrong around them: SIGKILL and resume, corrupt or unwritable state files, a reports
folder that cannot be written, audit failures, concurrent answers in one session, bad settings."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from finmatch_agents.chat.session import ChatSession
from finmatch_agents.config import load_settings
from finmatch_agents.errors import ConfigError
from finmatch_agents.evidence import AuditLog
from finmatch_agents.records import Query

SECTIONS = re.compile(r"^## (Overall Performance|Optimization Opportunities|Financial Impact|Strategic "
                      r"Recommendations)$", re.M)


def _env(tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_")}
    return {**keep, "FINMATCH_STATE_DIR": str(tmp / "s"), "FINMATCH_REPORTS_DIR": str(tmp / "r")}


def _kill_then_resume(db: Path, tmp: Path, after_events: int) -> tuple[int, list[dict], str]:
    env = _env(tmp)
    proc = subprocess.Popen([sys.executable, "-m", "finmatch_agents", "analyze", "--db", str(db), "--json"],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    run_id, seen, prepared = None, 0, False
    for line in proc.stdout:
        event = json.loads(line)
        run_id = run_id or event["run_id"]
        prepared = prepared or (event["event"] == "step_finished" and event["agent"] == "prepare")
        if prepared:
            seen += 1
            if seen >= after_events:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait()
    resumed = subprocess.run([sys.executable, "-m", "finmatch_agents", "analyze", "--resume", str(run_id), "--json"],
                             capture_output=True, text=True, env=env, timeout=300)
    events = [json.loads(line) for line in resumed.stdout.splitlines() if line.strip()]
    return resumed.returncode, events, resumed.stderr


@pytest.mark.slow
@pytest.mark.parametrize("after_events", [1, 1, 25, 60])
def test_a_killed_run_resumes_to_a_complete_report(small_db: Path, tmp_path: Path, after_events: int) -> None:
    """Killed just after prepare (twice: the timing varies) or among the agents: the resumed run is complete,
    or it is not called completed. Its report has every agent once and no query twice."""
    code, events, stderr = _kill_then_resume(small_db, tmp_path, after_events)
    finished = [e for e in events if e["event"] == "run_finished"]
    assert code == 0 and finished and finished[-1]["status"] == "completed", stderr
    report = Path(next(e["path"] for e in events if e["event"] == "report_written")).read_text()
    assert len(SECTIONS.findall(report)) == 4
    ids = re.findall(r"^### (Q\d+) — ", report, re.M)
    assert len(ids) == len(set(ids))


def test_a_run_is_not_completed_with_a_part_missing() -> None:
    from finmatch_agents.records import RunMeta
    from finmatch_agents.runner import missing_parts

    run = RunMeta(run_id="r", focus=("performance", "strategy"), model="offline", db="x", table="t", created_at="")
    assert missing_parts({"run": run, "analyses": {"performance": object()}}) == ["agent strategy", "summary",
                                                                                   "report"]


@pytest.mark.parametrize("name", ["runs.sqlite", "checkpoints.sqlite"])
def test_a_corrupt_state_file_is_a_clear_error(cli, small_db: Path, isolated: Path, name: str) -> None:
    state = isolated / "data"
    state.mkdir()
    (state / name).write_bytes(b"this is not a database " * 100)
    result = cli("analyze", "--db", small_db, "--focus", "performance")
    assert result.exit_code == 3
    assert "Storage problem" in result.stderr and name in result.stderr and "move" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_chat_history_is_a_clear_error(cli, small_db: Path, isolated: Path) -> None:
    (isolated / "data").mkdir()
    (isolated / "data" / "chat.sqlite").write_bytes(b"\x00garbage" * 512)
    result = cli("ask", "Which segment has the highest churn?", "--db", small_db)
    assert result.exit_code == 3 and "chat.sqlite" in result.stderr


def test_an_unwritable_reports_folder_fails_before_the_run(cli, small_db: Path, isolated: Path) -> None:
    (isolated / "a-file").write_text("not a folder")
    folder = isolated / "a-file" / "reports"  # cannot be created, even by root
    result = cli("analyze", "--db", small_db, "--out", folder, "--json")
    assert result.exit_code == 2 and str(folder) in result.stderr
    assert not [line for line in result.stdout.splitlines() if '"run_started"' in line]


def test_reports_are_readable_by_colleagues(cli, small_db: Path, isolated: Path) -> None:
    old = os.umask(0o022)
    try:
        result = cli("analyze", "--db", small_db, "--focus", "performance", "--quiet")
    finally:
        os.umask(old)
    path = Path(result.stdout.strip())
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert oct((isolated / "reports" / "latest.md").stat().st_mode & 0o777) == "0o644"


def test_an_audit_log_that_cannot_be_written_is_reported(tmp_path: Path) -> None:
    (tmp_path / "audit").mkdir()
    warnings: list[str] = []
    log = AuditLog(tmp_path / "audit", "test", warn=warnings.append)  # a folder: every write fails
    log(Query(id="Q1", sql="SELECT 1"))
    log(Query(id="Q2", sql="SELECT 2"))
    assert len(warnings) == 1 and "cannot be written" in warnings[0] and log.failures == 2


def test_two_answers_at_once_in_one_session_never_share_a_query_id(small_db: Path, isolated: Path) -> None:
    env = _env(isolated)
    procs = [subprocess.Popen([sys.executable, "-m", "finmatch_agents", "ask", "Which segment has the highest churn?",
                               "--db", str(small_db), "--session", "shared", "--json"], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    answers = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    ids = [qid for a in answers for qid in a["query_ids"]]
    assert len(ids) == 3 and len(set(ids)) == 3


@pytest.mark.parametrize("value", ["inf", "nan", "1e9", "-1"])
def test_an_unbounded_sql_timeout_is_refused(isolated: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="sql_timeout"):
        load_settings(env={"FINMATCH_SQL_TIMEOUT": value})


def test_a_typo_in_the_config_names_the_key(isolated: Path) -> None:
    (isolated / "finmatch.toml").write_text("[sql]\ntimeot = 60\n")
    with pytest.raises(ConfigError, match=r"\[sql\] timeot: unknown key; known: max_rows, memory_limit, threads"):
        load_settings(env={})
    (isolated / "finmatch.toml").write_text("[sqll]\ntimeout = 60\n")
    with pytest.raises(ConfigError, match=r"\[sqll\] is not a known section"):
        load_settings(env={})


def test_one_failed_answer_never_ends_the_chat(small_db: Path, isolated: Path, monkeypatch) -> None:
    from rich.console import Console

    from finmatch_agents.cli.repl import run_repl

    session = ChatSession(load_settings(db=small_db, env={}), "crash")
    original = session.ask
    calls = []

    def flaky(text: str, on_token=None):
        calls.append(text)
        if len(calls) == 1:
            raise RuntimeError("renderer exploded")
        return original(text, on_token)

    monkeypatch.setattr(session, "ask", flaky)
    monkeypatch.setattr(sys, "stdin", io.StringIO("/sql SELECT 1\n/tables\n"))
    out = io.StringIO()
    try:
        assert run_repl(session, Console(file=out, width=100)) == 0
    finally:
        session.close()
    assert calls == ["/sql SELECT 1", "/tables"] and "renderer exploded" in out.getvalue()


def test_schedule_add_creates_the_config_file_it_is_given(cli, isolated: Path) -> None:
    target = isolated / "conf" / "jobs.toml"
    target.parent.mkdir()
    result = cli("--config", target, "schedule", "add", "weekly", "--cron", "0 7 * * MON", "--timezone", "UTC")
    assert result.exit_code == 0, result.stderr
    assert "[schedule.jobs.weekly]" in target.read_text()


def test_a_writer_blocked_by_a_reader_is_told_so(db_copy: Path, cli) -> None:
    hold = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
            "time.sleep(30)")
    reader = subprocess.Popen([sys.executable, "-c", hold, str(db_copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        result = cli("data", "generate", "--db", db_copy, "--customers", "100", "--force")
    finally:
        reader.kill()
        reader.wait()
    assert result.exit_code == 75 and "open in another process" in result.stderr
