"""The four focus agents, in report order. Names are the same everywhere (flags, events, history)."""

from __future__ import annotations

from finmatch_agents.agents import financial_impact, optimization, performance, strategy
from finmatch_agents.agents.base import AgentSpec  # noqa: TC001 - used at runtime in the registry

FOCUS_ORDER: tuple[str, ...] = ("performance", "optimization", "financial-impact", "strategy")
AGENTS: dict[str, AgentSpec] = {
    spec.key: spec for spec in (performance.AGENT, optimization.AGENT, financial_impact.AGENT, strategy.AGENT)
}
assert tuple(AGENTS) == FOCUS_ORDER
