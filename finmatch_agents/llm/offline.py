"""The offline analyst: deterministic rules that turn findings into insights and recommendations.

No network, no randomness. Findings are ranked by effect size x confidence (ties by id); each agent's
rules (declared next to the steps that produce the findings) phrase the insight and, where the finding
calls for action, a recommendation with impact, effort, owner and success metric. Rules only use the
numbers in a finding's values, which came from query results, so everything stays grounded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from finmatch_agents.llm.analyst import (
    HORIZON_BY_EFFORT,
    AgentAnalysis,
    AnalysisContext,
    Insight,
    Recommendation,
    Summary,
    impact_from,
)

if TYPE_CHECKING:
    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.evidence import Finding

TOP_RECOMMENDATIONS = 6
INSIGHTS_PER_AGENT = 2


def with_refs(text: str, finding: Finding) -> str:
    missing = [q for q in finding.query_ids if f"[{q}]" not in text]
    return text if not missing else f"{text} " + " ".join(f"[{q}]" for q in missing)


def rank(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-(f.effect * f.confidence), f.id))


class OfflineAnalyst:
    name = "offline"

    def analyze(self, agent: AgentSpec, findings: list[Finding], profile: dict[str, Any],
                actx: AnalysisContext | None = None) -> AgentAnalysis:
        from finmatch_agents.agents.base import FindingIndex

        index = FindingIndex(findings)
        insights: list[Insight] = []
        recs: list[Recommendation] = []
        risks: list[str] = []
        for f in rank(findings):
            rule = agent.rules.get(f.key)
            out = rule(f, index) if rule else None
            if out is None:
                continue
            score = round(f.effect * f.confidence, 4)
            if out.insight:
                insights.append(Insight(with_refs(out.insight, f), [f.id], list(f.query_ids), score, f.polarity))
            if out.recommendation:
                d = out.recommendation
                recs.append(Recommendation(
                    title=d.title, rationale=with_refs(d.rationale, f), impact=d.impact or impact_from(f.effect,
                                                                                                      f.confidence),
                    effort=d.effort, owner=d.owner, success_metric=d.success_metric,
                    horizon=d.horizon or HORIZON_BY_EFFORT[d.effort], finding_ids=[f.id],
                    query_ids=list(f.query_ids), agent=agent.key, score=score, topic=d.topic))
            if out.risk:
                risks.append(with_refs(out.risk, f))
        recs.sort(key=lambda r: (-r.priority, r.finding_ids))
        return AgentAnalysis(agent=agent.key, insights=insights, recommendations=recs, risks=risks,
                             analyst=self.name)

    def summarize(self, analyses: list[AgentAnalysis], findings: list[Finding], profile: dict[str, Any],
                  actx: AnalysisContext | None = None) -> Summary:
        from finmatch_agents.formatting import fmt_count

        ids = profile.get("query_ids", {})
        headline = []
        if profile.get("rows") is not None:
            scope = f"{fmt_count(profile['rows'])} recommendations"
            if profile.get("customers") is not None:
                scope += f" to {fmt_count(profile['customers'])} customers"
            if profile.get("date_min"):
                scope += f", made between {profile['date_min']} and {profile['date_max']}"
            refs = " ".join(f"[{ids[k]}]" for k in ("stats", "customers") if ids.get(k))
            headline.append(f"The analysis covers {scope}. {refs}".strip())
        insights = [i for a in analyses for i in a.insights[:INSIGHTS_PER_AGENT]]
        recs = merge_topics(sorted((r for a in analyses for r in a.recommendations),
                                   key=lambda r: (-r.priority, r.agent, r.finding_ids)))
        caveats = [flag_text(f) for f in profile.get("flags", []) if f.get("severity") in ("warning", "error")]
        caveats += [r for a in analyses for r in a.risks[:1]]
        return Summary(headline=headline, insights=insights, recommendations=recs[:TOP_RECOMMENDATIONS],
                       caveats=caveats, analyst=self.name)


def merge_topics(recs: list[Recommendation]) -> list[Recommendation]:
    """Keep the first (highest-priority) recommendation per topic; it also cites the others' evidence."""
    from dataclasses import replace

    kept: list[Recommendation] = []
    by_topic: dict[str, int] = {}
    for rec in recs:
        if rec.topic and rec.topic in by_topic:
            i = by_topic[rec.topic]
            merged = list(dict.fromkeys([*kept[i].query_ids, *rec.query_ids]))
            kept[i] = replace(kept[i], query_ids=merged, finding_ids=[*kept[i].finding_ids, *rec.finding_ids])
            continue
        if rec.topic:
            by_topic[rec.topic] = len(kept)
        kept.append(rec)
    return kept


def flag_text(flag: dict[str, Any]) -> str:
    refs = f" [{flag['query_id']}]" if flag.get("query_id") else ""
    return f"Data quality ({flag['code']}): {flag['message']}{refs}"
