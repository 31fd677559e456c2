"""Records are the one shape of a run: a report renders from records alone, the run store gives back the
finding a step produced, and every figure carries the unit its query declares."""

from __future__ import annotations

from pathlib import Path

from finmatch_agents.agents.base import xy_chart
from finmatch_agents.config import load_settings
from finmatch_agents.records import (
    AgentAnalysis,
    ChartBlock,
    Finding,
    FindingBlock,
    Insight,
    Profile,
    Query,
    Recommendation,
    RunMeta,
    RunRecords,
    StepRecord,
    Summary,
    TableBlock,
    TableColumn,
)
from finmatch_agents.report.document import render_report
from finmatch_agents.runner import RunRequest, run_analysis
from finmatch_agents.runs import RunStore

STEPS = ("Banking Customer Data Initialization", "Product Matching Performance Assessment")


def _records() -> RunRecords:
    run = RunMeta(run_id="r1", focus=("performance",), model="offline", db="bank.duckdb", table="fpr_records",
                  created_at="2026-01-01T00:00:00Z", currency="EUR")
    queries = (Query(id="Q101", sql="SELECT 1 AS n", title="Acceptance", rows=1, agent="performance", step=STEPS[1]),)
    finding = Finding(id="F101", agent="performance", step=STEPS[1], key="acceptance", title="Acceptance <b>",
                      statement="25.0% of offers were accepted [Q101].", values={"acceptance_rate": 0.25},
                      units={"acceptance_rate": "percent"}, query_ids=("Q101",))
    table = TableBlock(title="By segment", query="Q101",
                       columns=(TableColumn(key="segment", label="Segment", unit="text"),
                                TableColumn(key="revenue", label="Revenue", unit="currency")),
                       rows=({"segment": "Students | *all*", "revenue": 1_500_000.0},))
    chart = ChartBlock(title="Acceptance", query="Q101",
                       spec=xy_chart("Acceptance by decile", [1, 2], [("bar", [10.0, 20.0])], y_title="percent"))
    steps = (StepRecord(agent="performance", step=STEPS[1], index=2, kind="data",
                        blocks=(FindingBlock(id="F101"), table, chart), finding_ids=("F101",), query_ids=("Q101",)),)
    rec = Recommendation(title="Act", rationale="Because [Q101].", impact="High", effort="Low", owner="Team",
                         success_metric="more", horizon="Now", finding_ids=("F101",),
                         query_ids=("Q101", "<script>alert(1)</script>", "Q9999"), agent="performance", score=0.5)
    analysis = AgentAnalysis(agent="performance", insights=(Insight(text="It converts [Q101].", agent="performance",
                                                                    finding_ids=("F101",)),),
                             recommendations=(rec,))
    summary = Summary(headline=("The analysis covers 1 recommendation.",), insights=analysis.insights,
                      recommendations=(rec,))
    profile = Profile(db="bank.duckdb", table="fpr_records", rows=1, fingerprint="abc")
    return RunRecords(run=run, profile=profile, queries=queries, findings=(finding,), steps=steps,
                      analyses={"performance": analysis}, summary=summary)


def test_a_report_renders_from_records_alone() -> None:
    text, stats = render_report(_records())
    assert stats.queries == 1 and stats.findings == 1
    assert "## Overall Performance" in text and "### Product Matching Performance Assessment" in text
    assert "- **Acceptance &lt;b&gt;.** 25.0% of offers were accepted [Q101](#q101)." in text
    assert "| Students \\| \\*all\\* | EUR 1.50M |" in text  # data values escaped, money in the run's currency
    assert 'x-axis ["1", "2"]' in text and "bar [10, 20]" in text  # the chart spec drawn as Mermaid
    # the summary's finding names its agent's section (not a guess); the section does not repeat it
    assert "- It converts [Q101](#q101). ([Overall Performance](#overall-performance))" in text
    assert "Its insights are in the executive summary." in text
    assert "<script>" not in text and "Q9999" not in text  # only ids the run has are rendered as evidence
    assert '<a id="q101"></a>\n\n### Q101 — Acceptance' in text
    again, _ = render_report(_records())
    assert again.split("duration_s")[0] == text.split("duration_s")[0]


def test_the_run_store_gives_back_the_findings_a_run_produced(small_db: Path, tmp_path: Path) -> None:
    settings = load_settings(db=small_db, reports_dir=tmp_path / "r", state_dir=tmp_path / "s", env={})
    result = run_analysis(settings, RunRequest(focus=["performance", "strategy"]), lambda e: None)
    produced = result.state["findings"]
    store = RunStore(tmp_path / "s" / "runs.sqlite")
    try:
        assert store.findings(result.run_id) == sorted(produced, key=lambda f: f.id)
    finally:
        store.close()


def test_every_figure_of_every_finding_has_a_unit(small_db: Path, tmp_path: Path) -> None:
    settings = load_settings(db=small_db, reports_dir=tmp_path / "r", state_dir=tmp_path / "s", env={})
    result = run_analysis(settings, RunRequest(focus=["all"]), lambda e: None)

    def numbers(values: object, prefix: str = "") -> list[str]:
        if isinstance(values, dict):
            return [p for k, v in values.items() for p in numbers(v, f"{prefix}.{k}" if prefix else str(k))]
        return [prefix] if isinstance(values, int | float) and not isinstance(values, bool) else []

    missing = [f"{f.id} {f.key}: {path}" for f in result.state["findings"] for path in numbers(f.values)
               if path not in f.units]
    assert not missing
