"""One recommendation per root cause across agents, and opposing advice shown as a trade-off, never as two
actions."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from finmatch_agents.analysts.advice import reconcile
from finmatch_agents.records import AgentAnalysis, Estimate, Recommendation
from tests.agents.conftest import run_graph


def _rec(agent: str, title: str, topic: str | None, direction: str | None, *, share: float | None = None,
         counter: str | None = None, qid: str = "Q1", fid: str = "F1") -> Recommendation:
    est = Estimate(value=share * 1000, low=0, high=share * 2000, unit="acceptances", share=share, basis="b",
                   query_id=qid) if share is not None else None
    return Recommendation(title=title, rationale=f"{title} [{qid}]", impact="High", effort="Low", owner="o",
                          success_metric="m", horizon="Now", finding_ids=(fid,), query_ids=(qid,), agent=agent,
                          topic=topic, direction=direction, counter_topic=counter, estimate=est)


def _analysis(agent: str, *recs: Recommendation) -> AgentAnalysis:
    return AgentAnalysis(agent=agent, recommendations=recs)


def test_agents_that_reach_one_root_cause_share_one_recommendation() -> None:
    a = _rec("optimization", "Fix the Temenos feed", "source:Temenos", "fix", share=0.02, qid="Q201", fid="F201")
    b = _rec("strategy", "Repair Temenos sync", "source:Temenos", "fix", qid="Q401", fid="F401")
    c = _rec("performance", "Retrain", "model-retrain", "fix", share=0.01, qid="Q101", fid="F101")
    advice = reconcile([_analysis("optimization", a), _analysis("strategy", b), _analysis("performance", c)])
    assert [r.title for r in advice.all] == ["Fix the Temenos feed", "Retrain"]  # ranked by estimated share
    temenos = advice.all[0]
    assert temenos.query_ids == ("Q201", "Q401") and temenos.finding_ids == ("F201", "F401")
    assert temenos.also_from == ("strategy",) and not advice.tradeoffs


def test_growing_what_another_agent_reduces_is_a_trade_off_not_two_actions() -> None:
    grow = _rec("strategy", "Expand offers to Students", "segment:Student", "grow", qid="Q403", fid="F403")
    shift = _rec("financial-impact", "Shift volume toward Mass Affluent customers", "segment:Mass Affluent", "grow",
                 counter="segment:Student", qid="Q305", fid="F305")
    other = _rec("optimization", "Backfill fields", "readiness", "fix", qid="Q1", fid="F201")
    advice = reconcile([_analysis("strategy", grow), _analysis("financial-impact", shift),
                        _analysis("optimization", other)])
    assert [t.topic for t in advice.tradeoffs] == ["segment:Student"]
    trade = advice.tradeoffs[0]
    assert {r.title for r in trade.sides} == {grow.title, shift.title}
    assert "Strategic Recommendations" in trade.text and "Financial Impact" in trade.text and "[Q403]" in trade.text
    assert [r.title for r in advice.all] == ["Backfill fields"] == [r.title for r in advice.top]


def test_a_planted_contradiction_reaches_the_summary_as_a_trade_off(tmp_path: Path, small_db: Path) -> None:
    db = tmp_path / "contradiction.duckdb"
    shutil.copy(small_db, db)
    with duckdb.connect(str(db)) as con:  # Students accept far more often but buy tiny amounts
        con.execute("""UPDATE fpr_records SET product_recommendation_status = 'Accepted'
                       WHERE customer_segment = 'Student' AND hash(record_id) % 2 = 0""")
        con.execute("UPDATE fpr_records SET product_sales_amount = 1 WHERE customer_segment = 'Student'")
    state = run_graph(db, ["financial-impact", "strategy"], tmp_path / "reports")
    summary = state["summary"]
    assert "segment:Student" in [t["topic"] for t in summary["tradeoffs"]]
    sides = {r["title"] for t in summary["tradeoffs"] for r in t["sides"]}
    assert not sides & {r["title"] for r in summary["all_recommendations"]}
    assert not sides & {r["title"] for r in summary["recommendations"]}
