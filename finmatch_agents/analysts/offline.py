"""The offline analyst: deterministic rules that turn findings into insights and recommendations.

No network, no randomness. Findings are ranked by effect size x confidence (ties by id); each agent's
rules (declared next to the steps that produce the findings) phrase the insight and, where the finding
calls for action, a recommendation with impact, effort, owner and success metric. Rules only use the
numbers in a finding's values, which came from query results, so everything stays grounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from finmatch_agents.agents.base import FindingIndex
from finmatch_agents.analysts.advice import reconcile
from finmatch_agents.analysts.base import impact_from
from finmatch_agents.formatting import fmt_count, fmt_money
from finmatch_agents.ids import refs
from finmatch_agents.records import (
    HORIZON_BY_EFFORT,
    AgentAnalysis,
    Estimate,
    Finding,
    Insight,
    Profile,
    QualityFlag,
    Recommendation,
    Summary,
    impact_of,
    ranking_key,
)

if TYPE_CHECKING:
    from finmatch_agents.agents.base import AgentSpec
    from finmatch_agents.analysts.base import AnalysisRequest

INSIGHTS_PER_AGENT = 2


def effect_phrase(est: Estimate, currency: str) -> str:
    """An estimate as the recommendations table shows it: "about 549 acceptances (95% CI 488 to 609) [Q103]"."""
    if est.unit == "currency":
        low, high = (fmt_money(v, currency, compact=True) for v in (est.low, est.high))
        shown = f"about {fmt_money(est.value, currency, compact=True)} (95% CI {low} to {high})"
    else:
        shown = f"about {fmt_count(est.value)} {est.unit} (95% CI {fmt_count(est.low)} to {fmt_count(est.high)})"
    return f"{shown} [{est.query_id}]"


def with_refs(text: str, finding: Finding) -> str:
    missing = [q for q in finding.query_ids if f"[{q}]" not in text]
    return text if not missing else f"{text} {refs(missing)}"


def rank(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-(f.effect * f.confidence), f.id))


class OfflineAnalyst:
    name = "offline"

    def analyze(self, agent: AgentSpec, findings: Sequence[Finding], profile: Profile | None = None,
                request: AnalysisRequest | None = None) -> AgentAnalysis:
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
                insights.append(Insight(text=with_refs(out.insight, f), agent=agent.key, finding_ids=(f.id,),
                                        query_ids=f.query_ids, score=score, polarity=f.polarity))
            if out.recommendation:
                d = out.recommendation
                impact = impact_of(d.estimate) if d.estimate else d.impact or impact_from(f.effect, f.confidence)
                recs.append(Recommendation(
                    title=d.title, rationale=with_refs(d.rationale, f), impact=impact, effort=d.effort,
                    owner=d.owner, success_metric=d.success_metric,
                    horizon=d.horizon or HORIZON_BY_EFFORT[d.effort], finding_ids=(f.id,), query_ids=f.query_ids,
                    agent=agent.key, score=score, topic=d.topic, direction=d.direction,
                    counter_topic=d.counter_topic, estimate=d.estimate,
                    effect=effect_phrase(d.estimate, request.currency if request else "USD") if d.estimate else ""))
            if out.risk:
                risks.append(with_refs(out.risk, f))
        recs.sort(key=ranking_key)
        return AgentAnalysis(agent=agent.key, insights=tuple(insights), recommendations=tuple(recs),
                             risks=tuple(risks), analyst=self.name)

    def summarize(self, analyses: Sequence[AgentAnalysis], findings: Sequence[Finding], profile: Profile | None,
                  request: AnalysisRequest | None = None) -> Summary:
        headline = []
        if profile is not None:
            ids = profile.query_ids
            scope = f"{fmt_count(profile.rows)} recommendations"
            if profile.customers is not None:
                scope += f" to {fmt_count(profile.customers)} customers"
            if profile.date_min:
                scope += f", made between {profile.date_min} and {profile.date_max}"
            cited = refs([ids[k] for k in ("stats", "customers") if ids.get(k)])
            headline.append(f"The analysis covers {scope}. {cited}".strip())
        insights = [i for a in analyses for i in a.insights[:INSIGHTS_PER_AGENT]]
        advice = reconcile(analyses)
        caveats = [flag_text(f) for f in (profile.warnings() if profile else [])]
        caveats += [r for a in analyses for r in a.risks[:1]]
        return Summary(headline=tuple(headline), insights=tuple(insights), recommendations=advice.top,
                       all_recommendations=advice.all, tradeoffs=advice.tradeoffs, caveats=tuple(caveats),
                       analyst=self.name)


def flag_text(flag: QualityFlag) -> str:
    cited = f" [{flag.query_id}]" if flag.query_id else ""
    return f"Data quality ({flag.code}): {flag.message}{cited}"
