"""`finmatch report show|html|list`, `analyze --format md,html` and a job's `format`: the HTML page is rendered
from the run's stored records (never from the markdown), escapes every data value, has no script or remote
asset, and is written atomically beside the markdown, readable by others (0644 under the default umask)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import pytest

from finmatch_agents.records import (
    AgentAnalysis,
    ChartBlock,
    Finding,
    FindingBlock,
    Insight,
    Profile,
    Query,
    Recommendation,
    ReportFile,
    ReportStats,
    RunMeta,
    RunRecords,
    StepRecord,
    Summary,
    TableBlock,
    TableColumn,
)
from finmatch_agents.report.document import render_report
from finmatch_agents.report.html import render_html
from finmatch_agents.report.measure import APPENDIX_HEADING, body
from finmatch_agents.runs import RunStore

EVIL = '<script>alert("x")</script> **bold** [link](http://evil.example) <img src=x onerror=1>'
STEP = "Product Matching Performance Assessment"


def evil_records() -> RunRecords:
    from finmatch_agents.agents.base import xy_chart

    run = RunMeta(run_id="r1", focus=("performance",), model="offline", db="bank.duckdb", table="fpr_records",
                  created_at="2026-01-01T00:00:00Z", currency="EUR")
    query = Query(id="Q101", sql="SELECT 1 AS n", title=f"Acceptance {EVIL}", rows=1, agent="performance", step=STEP)
    finding = Finding(id="F101", agent="performance", step=STEP, key="acceptance", title=f"Title {EVIL}",
                      statement=f"{EVIL} converts at 25.0% [Q101] [Q999].", values={"rate": 0.25},
                      units={"rate": "percent"}, query_ids=("Q101",))
    table = TableBlock(title=f"By segment {EVIL}", query="Q101",
                       columns=(TableColumn(key="segment", label=f"Segment {EVIL}", unit="text"),
                                TableColumn(key="revenue", label="Revenue", unit="currency")),
                       rows=({"segment": EVIL, "revenue": 1_500_000.0},))
    chart = ChartBlock(title=f"Chart {EVIL}", query="Q101",
                       spec=xy_chart(f"Spec {EVIL}", [EVIL, "b"], [("bar", [10.0, 20.0]), ("line", [5.0, None])],
                                     y_title="percent"))
    steps = (StepRecord(agent="performance", step=STEP, index=2, kind="data",
                        blocks=(FindingBlock(id="F101"), table, chart), finding_ids=("F101",), query_ids=("Q101",)),)
    rec = Recommendation(title=f"Act {EVIL}", rationale=f"Because {EVIL} [Q101].", impact="High", effort="Low",
                         owner=EVIL, success_metric=f"more {EVIL}", horizon="Now", finding_ids=("F101",),
                         query_ids=("Q101", "<script>", "Q9999"), agent="performance")
    insight = Insight(text=f"Insight {EVIL} [Q101].", agent="performance", finding_ids=("F101",))
    analysis = AgentAnalysis(agent="performance", insights=(insight,), recommendations=(rec,),
                             warnings=(f"warned {EVIL}",))
    summary = Summary(headline=(f"Headline {EVIL} [Q101]",), insights=(insight,), recommendations=(rec,),
                      caveats=(f"Caveat {EVIL}",))
    profile = Profile(db="bank.duckdb", table="fpr_records", rows=1, fingerprint="abc",
                      provenance={"source": "file", "file": f"x{EVIL}.csv", "mapping": EVIL})
    return RunRecords(run=run, profile=profile, queries=(query,), findings=(finding,), steps=steps,
                      analyses={"performance": analysis}, summary=summary)


def test_every_data_value_is_escaped_in_the_page() -> None:
    page = render_html(evil_records())
    assert "<script" not in page and "<img" not in page and "onerror=1>" not in page
    assert "http://evil.example" not in page.replace("[link](http://evil.example)", "")  # only as escaped text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert 'href="#q101"' in page and "#q999" not in page and "Q9999" not in page  # links only to the run's queries
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)  # no remote asset
    assert page.count("<svg") == 1 and 'id="fm-bar-0-0"' in page and 'id="fm-line-0"' in page
    assert "EUR 1.50M" in page  # money in the run's currency


def test_markdown_escapes_inside_raw_html_too() -> None:
    text, _ = render_report(evil_records())
    text = body(text) + text.split(APPENDIX_HEADING)[1]  # the front matter holds them as YAML strings
    assert "<script" not in text and "<img" not in text
    # HTML-escaped (markdown passes raw HTML through) and markdown-escaped: no emphasis or link from data
    assert "**Table: By segment &lt;script&gt;alert" in text
    assert "\\*\\*bold\\*\\*" in text and "](http://evil" not in text


def test_a_stored_run_renders_the_same_markdown_again(small_db: Path, tmp_path: Path, cli) -> None:
    result = cli("analyze", "--db", small_db, "--focus", "performance,strategy", "--quiet")
    path = Path(result.stdout.strip())
    store = RunStore(Path("data") / "runs.sqlite")
    run_id = store.list_runs(1)[0]["run_id"]
    records = store.records(run_id)
    store.close()
    assert records is not None and records.report is not None
    assert all(q.sample == () for q in records.queries)  # result samples never reach the run store
    again, _ = render_report(records)
    assert again == path.read_text()  # the records hold everything the report says


def test_analyze_format_html_writes_both_readable_by_others(cli, small_db: Path, isolated: Path) -> None:
    os.umask(0o022)
    result = cli("analyze", "--db", small_db, "--focus", "performance", "--format", "md,html")
    assert result.exit_code == 0, result.stderr
    md = Path(result.stdout.strip())
    html = md.with_suffix(".html")
    latest = isolated / "reports" / "latest.html"
    assert html.exists() and latest.read_text() == html.read_text()
    for path in (md, html, latest, isolated / "reports" / "latest.md"):
        assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert f"HTML: {html}" in result.stderr and "synthetic data (seed 7)" in result.stderr
    assert html.read_text().startswith("<!doctype html>")
    events = [json.loads(x) for x in cli("analyze", "--db", small_db, "--focus", "strategy", "--format", "html",
                                         "--json").stdout.splitlines()]
    written = next(e for e in events if e["event"] == "report_written")
    assert written["html"].endswith(".html") and Path(written["html"]).exists()
    bad = cli("analyze", "--db", small_db, "--format", "pdf")
    assert bad.exit_code == 2 and "--format: 'pdf'" in bad.stderr


def test_report_commands(cli, small_db: Path, isolated: Path) -> None:
    assert cli("report", "html", "latest").exit_code == 2  # no runs yet
    cli("analyze", "--db", small_db, "--focus", "performance", "--quiet")
    listed = json.loads(cli("report", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["renderable"] and listed[0]["html_path"] is None
    written = cli("report", "html", "latest")
    assert written.exit_code == 0, written.stderr
    page = Path(written.stdout.strip())
    assert page.suffix == ".html" and page.with_suffix(".md").exists()
    assert json.loads(cli("report", "list", "--json").stdout)[0]["html_path"] == str(page)
    out = isolated / "elsewhere" / "page.html"
    assert cli("report", "html", listed[0]["run_id"], "--out", out).stdout.strip() == str(out)
    assert out.read_text() == page.read_text()
    assert cli("report", "html", "latest", "--out", "-").stdout.startswith("<!doctype html>")
    shown = cli("report", "show", "latest")
    assert shown.exit_code == 0, shown.stderr
    assert "FinMatch analysis of fpr_records (synthetic data)" in shown.stdout
    assert "Executive summary" in shown.stdout and "█" in shown.stdout  # charts as bar charts
    text = " ".join(shown.stdout.split())
    refs = set(re.findall(r"\[(F\d+)\]", text))
    assert refs  # the recommendations refer to their findings
    for ref in refs:  # "see [F203]" points at a finding labelled so
        assert f"({ref})." in text, ref
    assert cli("report", "show", "nope").exit_code == 2


def test_an_older_run_without_records_says_so(cli, small_db: Path, isolated: Path) -> None:
    cli("analyze", "--db", small_db, "--focus", "performance", "--quiet")
    con = sqlite3.connect(isolated / "data" / "runs.sqlite")
    con.execute("DELETE FROM run_records")
    con.commit()
    con.close()
    for command in ("html", "show"):
        result = cli("report", command, "latest")
        assert result.exit_code == 2 and "before runs kept the records" in result.stderr
        assert "markdown report is reports" in result.stderr.replace("\n", " ")
    assert json.loads(cli("report", "list", "--json").stdout)[0]["renderable"] is False


@pytest.mark.slow
def test_a_job_with_format_html_writes_both(cli, small_db: Path, isolated: Path) -> None:
    os.umask(0o022)
    (isolated / "finmatch.toml").write_text(f'[finmatch]\ndb = "{small_db}"\n\n[schedule.jobs.weekly]\n'
                                            'cron = "0 7 * * MON"\nfocus = ["strategy"]\nformat = ["md", "html"]\n')
    result = cli("schedule", "run-once", "weekly")
    assert result.exit_code == 0, result.stderr
    md = Path(result.stdout.strip())
    folder = isolated / "reports" / "weekly"
    for path in (md, md.with_suffix(".html"), folder / "latest.md", folder / "latest.html"):
        assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o644", path
    assert "Changes since last run" in md.with_suffix(".html").read_text()
    (isolated / "finmatch.toml").write_text(f'[finmatch]\ndb = "{small_db}"\n\n[schedule.jobs.weekly]\n'
                                            'cron = "0 7 * * MON"\nformat = ["pdf"]\n')
    bad = cli("schedule", "run-once", "weekly")
    assert bad.exit_code == 2 and "format" in bad.stderr


def test_stats_of_a_published_run_come_from_its_report() -> None:
    records = evil_records()
    stats = ReportStats(queries=1, findings=1, duration_s=12.5, fallback_steps=("performance",), model_fallbacks=1)
    stored = records.model_copy(update={"report": ReportFile(path="r.md", latest="l.md", stats=stats)})
    text, again = render_report(stored)
    assert again == stats and "duration_s: 12.5" in text and "model_fallbacks: 1" in text
    assert 'fallback_steps: ["performance"]' in text
