"""The analysis graph (DESIGN §3): prepare -> selected focus agents in parallel -> synthesize -> publish.

``prepare`` profiles and validates the dataset; each selected agent runs as its own subgraph (fanned out with
``Send``, so agents progress independently); ``synthesize`` writes the executive summary across agents;
``publish`` renders the report once and writes it atomically. The graph only wires nodes: agents live in
``agents/``, analysts in ``analysts/``, the report in ``report/``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph.graph import END, START, StateGraph

from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.graph.agent import build_agent_graph
from finmatch_agents.graph.nodes import PREPARE, PUBLISH, SYNTHESIZE, prepare, publish, route, synthesize
from finmatch_agents.graph.state import RunServices, RunState

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

__all__ = ["PREPARE", "PUBLISH", "SYNTHESIZE", "RunServices", "RunState", "build_graph"]


def build_graph(checkpointer: BaseCheckpointSaver[Any] | None = None) -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(RunState, context_schema=RunServices)
    graph.add_node(PREPARE, prepare)
    for key in FOCUS_ORDER:
        graph.add_node(key, build_agent_graph(AGENTS[key]))
        graph.add_edge(key, SYNTHESIZE)
    graph.add_node(SYNTHESIZE, synthesize)
    graph.add_node(PUBLISH, publish)
    graph.add_edge(START, PREPARE)
    graph.add_conditional_edges(PREPARE, route, [*FOCUS_ORDER, SYNTHESIZE])
    graph.add_edge(SYNTHESIZE, PUBLISH)
    graph.add_edge(PUBLISH, END)
    return graph.compile(checkpointer=checkpointer, name="finmatch")
