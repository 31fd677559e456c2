"""One list of advice for the whole report: every agent's recommendations, one per root cause, ranked, with
opposing advice turned into stated trade-offs.

Agents that reach the same root cause give their recommendations the same ``topic``; the highest-ranked one
is kept and cites the evidence of the others. When one recommendation grows what another reduces (a segment,
a channel, the programme), neither is listed as an action: the report states the trade-off instead, so a
reader never gets two actions that undo each other. Both analysts (offline and model) use this, so the
reconciliation does not depend on who wrote the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from finmatch_agents.agents import AGENTS
from finmatch_agents.ids import refs
from finmatch_agents.records import AgentAnalysis, Recommendation, Tradeoff, ranking_key

TOP_RECOMMENDATIONS = 6


@dataclass(frozen=True)
class Advice:
    top: tuple[Recommendation, ...]  # the summary's short list
    all: tuple[Recommendation, ...]  # every canonical recommendation, ranked
    tradeoffs: tuple[Tradeoff, ...]


def _key(rec: Recommendation) -> tuple[str, str, tuple[str, ...]]:
    return (rec.agent, rec.title, rec.finding_ids)


def _stances(rec: Recommendation) -> list[tuple[str, str]]:
    """(topic, grow | reduce) the recommendation takes; ``fix`` takes no side."""
    out: list[tuple[str, str]] = []
    if rec.topic and rec.direction in ("grow", "reduce"):
        out.append((rec.topic, rec.direction))
    if rec.counter_topic:
        out.append((rec.counter_topic, "reduce"))
    return out


def _agent_title(key: str) -> str:
    spec = AGENTS.get(key)
    return spec.title if spec else key


def _label(topic: str) -> str:
    kind, _, name = topic.partition(":")
    return f"{name} ({kind})" if name else kind


def tradeoffs_of(ranked: Sequence[Recommendation]) -> list[Tradeoff]:
    """Opposite directions on one topic, the highest-ranked recommendation of each side."""
    sides: dict[str, dict[str, Recommendation]] = {}
    for rec in ranked:
        for topic, direction in _stances(rec):
            sides.setdefault(topic, {}).setdefault(direction, rec)
    out = []
    for topic in sorted(sides):
        grow, reduce = sides[topic].get("grow"), sides[topic].get("reduce")
        if grow is None or reduce is None or _key(grow) == _key(reduce):
            continue
        cited = refs(list(dict.fromkeys([*grow.query_ids, *reduce.query_ids])))
        out.append(Tradeoff(
            topic=topic,
            text=f"Opposing advice on {_label(topic)}: {_agent_title(grow.agent)} advises “{grow.title}” while "
                 f"{_agent_title(reduce.agent)} advises “{reduce.title}”. The data supports both readings, so "
                 f"neither is listed as an action; decide which goal comes first. {cited}".strip(),
            sides=(grow, reduce)))
    return out


def merge_topics(recs: Sequence[Recommendation]) -> list[Recommendation]:
    """Keep the first (highest-ranked) recommendation per topic; it also cites the others' evidence."""
    kept: list[Recommendation] = []
    by_topic: dict[str, int] = {}
    for rec in recs:
        if rec.topic and rec.topic in by_topic:
            i = by_topic[rec.topic]
            kept[i] = kept[i].model_copy(update={
                "query_ids": tuple(dict.fromkeys([*kept[i].query_ids, *rec.query_ids])),
                "finding_ids": tuple(dict.fromkeys([*kept[i].finding_ids, *rec.finding_ids])),
                "also_from": tuple(dict.fromkeys([*kept[i].also_from,
                                                  *([rec.agent] if rec.agent != kept[i].agent else [])]))})
            continue
        if rec.topic:
            by_topic[rec.topic] = len(kept)
        kept.append(rec)
    return kept


def reconcile(analyses: Sequence[AgentAnalysis], limit: int = TOP_RECOMMENDATIONS) -> Advice:
    ranked = sorted((r for a in analyses for r in a.recommendations), key=ranking_key)
    tradeoffs = tradeoffs_of(ranked)
    opposed = {_key(r) for t in tradeoffs for r in t.sides}
    canonical = merge_topics([r for r in ranked if _key(r) not in opposed])
    return Advice(top=tuple(canonical[:limit]), all=tuple(canonical), tradeoffs=tuple(tradeoffs))
