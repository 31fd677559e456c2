"""`finmatch analyze` end to end: report files, events, determinism, grounding, history, stop and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.config import load_settings
from finmatch_agents.events import EVENT_KINDS
from finmatch_agents.llm.grounding import Evidence, ungrounded
from finmatch_agents.runner import RunRequest, run_analysis
from finmatch_agents.runs import RunStore
from tests.agents.conftest import body_of

VOLATILE = [(re.compile(r'^(run_id|created_at|duration_s): .*$', re.M), r"\1: <volatile>"),
            (re.compile(r"· [\d,.]+ ms"), "· <ms>")]


def normalise(report: str) -> str:
    for pattern, repl in VOLATILE:
        report = pattern.sub(repl, report)
    return report


def analyze_library(db: Path, focus: list[str] | None = None):
    settings = load_settings(db=db, env={})
    return run_analysis(settings, RunRequest(focus=focus or ["all"]), lambda _e: None)


def test_analyze_writes_the_report_and_prints_its_path(cli, small_db: Path, isolated: Path) -> None:
    result = cli("analyze", "--db", small_db)
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.exists() and path.parent.parent == Path("reports")
    assert re.fullmatch(r"finmatch-\d{8}-\d{6}-[0-9a-f]{4}\.md", path.name)
    text = path.read_text()
    assert (isolated / "reports" / "latest.md").read_text() == text
    front = text.split("\n---\n")[0]
    for key in ("run_id", "created_at", "focus", "model", "dataset", "path", "table", "rows", "fingerprint",
                "version", "duration_s", "queries", "model_calls", "tokens", "ungrounded_numbers"):
        assert f"{key}:" in front
    assert '"offline"' in front
    for spec in AGENTS.values():
        assert f"## {spec.title}" in text
        for step in spec.steps:
            assert f"### {step.name}" in text
    for heading in ("## Executive summary", "## Assumptions", "## Data quality", "## Appendix — Evidence & provenance"):
        assert heading in text
    assert "```mermaid" in text
    assert re.search(r"^\| .+ \| (High|Medium|Low) \| (Low|Medium|High) \| (Now|Next|Later) \|", text, re.M)
    runs = json.loads(cli("history", "--json").stdout)
    assert runs[0]["status"] == "completed" and runs[0]["report_path"] == str(path)


def test_every_number_in_the_report_body_comes_from_a_query(small_db: Path) -> None:
    result = analyze_library(small_db)
    text = Path(result.report_path).read_text()
    # a figure is a query value or one our code derived from query values (a test, an estimate) and kept in the
    # finding that cites those queries
    evidence = Evidence.from_queries(result.state["queries"], [f.values for f in result.state["findings"]])
    missing = ungrounded(body_of(text), evidence)
    assert missing == []
    assert result.stats["ungrounded_numbers"] == 0


def test_every_query_is_in_the_provenance_appendix(small_db: Path) -> None:
    result = analyze_library(small_db)
    appendix = Path(result.report_path).read_text().split("## Appendix — Evidence & provenance")[1]
    ids = [q.id for q in result.state["queries"]]
    assert len(ids) == len(set(ids)) > 30
    for qid in ids:
        assert f"### {qid} — " in appendix
    body = body_of(Path(result.report_path).read_text())
    cited = set(re.findall(r"\[(Q\d+)\]", body))
    assert cited <= set(ids)


def test_the_report_is_identical_across_runs(small_db: Path) -> None:
    first = Path(analyze_library(small_db).report_path).read_text()
    second = Path(analyze_library(small_db).report_path).read_text()
    assert first != second  # run ids and times differ...
    assert normalise(first) == normalise(second)  # ...and nothing else


def test_json_events(cli, small_db: Path) -> None:
    result = cli("analyze", "--db", small_db, "--focus", "performance", "--json")
    assert result.exit_code == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert {"step_started", "query", "finding", "step_finished", "report_written"} <= set(kinds)
    assert set(kinds) <= set(EVENT_KINDS)
    run_id = events[0]["run_id"]
    for e in events:
        assert e["run_id"] == run_id and "agent" in e and "step" in e and e["ts"].endswith("Z")
    assert events[-1]["status"] == "completed"
    written = next(e for e in events if e["event"] == "report_written")
    assert Path(written["path"]).exists()
    assert {e["agent"] for e in events if e["event"] == "step_finished"} == {"prepare", "performance", "synthesize",
                                                                              "publish"}


def test_quiet_prints_only_the_path(cli, small_db: Path) -> None:
    result = cli("analyze", "--db", small_db, "--focus", "strategy", "--quiet")
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1 and Path(result.stdout.strip()).exists()
    assert result.stderr == ""


def test_no_terminal_means_timestamped_log_lines(cli, small_db: Path) -> None:
    result = cli("analyze", "--db", small_db, "--focus", "optimization")
    lines = result.stderr.splitlines()
    assert any("run " in line and " started" in line for line in lines)
    stamped = [line for line in lines if re.match(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ", line)]
    assert len(stamped) > 10
    assert "\x1b[" not in result.stderr  # no colours, no live display


def test_agents_run_in_parallel(cli, small_db: Path) -> None:
    events = [json.loads(x) for x in cli("analyze", "--db", small_db, "--json").stdout.splitlines()]
    order = [(e["event"], e["agent"], e["step"]) for e in events if e["event"] in ("step_started", "step_finished")]
    first_finish_of_a_last_step = min(
        i for i, (kind, agent, step) in enumerate(order)
        if kind == "step_finished" and agent in AGENTS and step == AGENTS[agent].steps[-1].name)
    started_before = {agent for kind, agent, _ in order[:first_finish_of_a_last_step] if kind == "step_started"}
    assert set(FOCUS_ORDER) <= started_before


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--focus", "marketing"], 2, "--focus: 'marketing'"),
    (["--model", "gpt-nope"], 2, "unknown model"),
    (["--resume", "nope-run"], 2, "no run nope-run"),
])
def test_usage_errors(cli, small_db: Path, args: list[str], code: int, message: str) -> None:
    result = cli("analyze", "--db", small_db, *args)
    assert result.exit_code == code and message in result.stderr


def test_data_without_required_columns_is_refused(cli, tmp_path: Path) -> None:
    db = tmp_path / "bad.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE fpr_records AS SELECT 'C1' AS customer_id, 'Savings' AS product_type")
    result = cli("analyze", "--db", db)
    assert result.exit_code == 3 and "product_recommendation_status" in result.stderr


def test_uci_bank_marketing(cli, uci_csv: Path, tmp_path: Path) -> None:
    db = tmp_path / "uci.duckdb"
    mapping = Path(__file__).resolve().parent.parent / "examples" / "bank-marketing.toml"
    assert cli("data", "load", uci_csv, "--mapping", mapping, "--db", db).exit_code == 0
    result = cli("analyze", "--db", db)
    assert result.exit_code == 0, result.stderr
    text = Path(result.stdout.strip()).read_text()
    assert "Not analysed" in text and "recommendation\\_score" in text
    with duckdb.connect(str(db), read_only=True) as con:
        rate, (seg, seg_rate) = con.execute(
            "SELECT avg((product_recommendation_status = 'Accepted')::DOUBLE) FROM fpr_records").fetchone()[0], \
            con.execute("SELECT customer_segment, avg((product_recommendation_status = 'Accepted')::DOUBLE) r "
                        "FROM fpr_records WHERE customer_segment IS NOT NULL GROUP BY 1 ORDER BY r DESC, 1 LIMIT 1"
                        ).fetchone()
    assert "45,211 recommendations to" in text  # the scope states the count once
    assert f"{rate * 100:.1f}% of the recommendations were accepted" in text
    assert f"{seg} customers convert best at {seg_rate * 100:.1f}%" in text  # one product type: segments


# -- stop and resume ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def medium_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Big enough that a run takes a couple of seconds, so it can be stopped mid-way."""
    from finmatch_agents.data.generator import write_synthetic

    path = tmp_path_factory.mktemp("medium") / "medium.duckdb"
    write_synthetic(path, 60_000, 11, force=False)
    return path


def _start(db: Path, workdir: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_")}
    return subprocess.Popen([sys.executable, "-m", "finmatch_agents", "analyze", "--db", str(db), "--json", *extra],
                            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_start(proc: subprocess.Popen[str], agent: str, step: str) -> tuple[str, list[dict]]:
    events: list[dict] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "step_started" and event["agent"] == agent and event["step"] == step:
            return event["run_id"], events
    raise AssertionError(f"run ended before {agent} / {step} started")


def _wait_for(proc: subprocess.Popen[str], agent: str, step: str) -> tuple[str, list[dict]]:
    events: list[dict] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        events.append(event)
        if event["event"] == "step_finished" and event["agent"] == agent and event["step"] == step:
            return event["run_id"], events
    raise AssertionError(f"run ended before {agent} / {step} finished: {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_same_report_without_rerunning_steps(medium_db: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    workdir.mkdir()
    proc = _start(medium_db, workdir)
    killed_in = AGENTS["performance"].steps[2].name
    run_id, events = _wait_for_start(proc, "performance", killed_in)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    store = RunStore(workdir / "data" / "runs.sqlite")
    assert store.get(run_id)["status"] == "interrupted"  # the dead process is detected
    store.close()
    # a step is surely checkpointed once the next step of its agent has started (durability "sync")
    started = [(e["agent"], e["step"]) for e in events if e["event"] == "step_started"]
    done_before = {("prepare", "Dataset profiling and validation")} | {
        (agent, spec.steps[i].name) for agent, spec in AGENTS.items() for i in range(len(spec.steps) - 1)
        if (agent, spec.steps[i + 1].name) in started}
    assert ("performance", AGENTS["performance"].steps[1].name) in done_before

    resumed = _start(medium_db, workdir, "--resume", run_id)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    rerun = {(e["agent"], e["step"]) for e in events if e["event"] == "step_started"}
    assert not rerun & done_before  # completed steps are not re-run
    assert events[0]["resumed"] is True and events[-1]["status"] == "completed"
    store = RunStore(workdir / "data" / "runs.sqlite")
    assert all(s["attempts"] == 1 for s in store.steps(run_id) if (s["agent"], s["step"]) in done_before)
    assert store.get(run_id)["attempts"] == 2
    resumed_report = Path(workdir / store.get(run_id)["report_path"]).read_text()
    store.close()

    fresh = _start(medium_db, workdir)
    out, err = fresh.communicate(timeout=300)
    assert fresh.returncode == 0, err
    fresh_events = [json.loads(x) for x in out.splitlines()]
    fresh_path = next(e["path"] for e in fresh_events if e["event"] == "report_written")
    # once seen under full-suite load: 51 queries against 50; the runs' warnings say which step differed
    warnings = [(e.get("agent"), e.get("step"), e.get("message")) for e in [*events, *fresh_events]
                if e["event"] in ("warning", "error")]
    assert normalise(resumed_report) == normalise((workdir / fresh_path).read_text()), warnings


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_exit_130(medium_db: Path, tmp_path: Path) -> None:
    proc = _start(medium_db, tmp_path)
    run_id, _ = _wait_for(proc, "prepare", "Dataset profiling and validation")
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["status"] for e in events if e["event"] == "run_finished"] == ["interrupted"]
    assert events[-1]["event"] == "error" and events[-1]["exit_code"] == 130
    store = RunStore(tmp_path / "data" / "runs.sqlite")
    assert store.get(run_id)["status"] == "interrupted"
    store.close()


def test_resume_refuses_completed_runs_and_changed_data(cli, db_copy: Path, tmp_path: Path) -> None:
    result = cli("analyze", "--db", db_copy, "--focus", "performance", "--json")
    run_id = json.loads(result.stdout.splitlines()[0])["run_id"]
    again = cli("analyze", "--resume", run_id)
    assert again.exit_code == 2 and "already completed" in again.stderr
    # an interrupted run whose data changed meanwhile
    store = RunStore(tmp_path / "data" / "runs.sqlite")
    settings = load_settings(db=db_copy, env={})
    from finmatch_agents.graph import build_graph
    from finmatch_agents.runs import open_checkpointer

    graph = build_graph(open_checkpointer(settings.state_dir))
    config = {"configurable": {"thread_id": "old-run"}}
    from finmatch_agents.records import Profile, RunMeta

    run = RunMeta(run_id="old-run", table="fpr_records", db=str(db_copy), focus=("performance",), model="offline",
                  created_at="2026-01-01T00:00:00Z")
    graph.update_state(config, {"run": run, "profile": Profile(db=str(db_copy), table="fpr_records", rows=1,
                                                               fingerprint="0000000000000000")}, as_node="prepare")
    store.start_run(run)
    store.finish_run("old-run", "interrupted")
    store.close()
    changed = cli("analyze", "--resume", "old-run")
    assert changed.exit_code == 3 and "data changed" in changed.stderr
