"""Run the real analysis graph (prepare -> agent(s) -> synthesize -> publish) on a database and return the
final state, so agent tests can compare findings with numbers computed independently in the test."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from finmatch_agents.agents import AGENTS
from finmatch_agents.analysts.offline import OfflineAnalyst
from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.clock import utc_now
from finmatch_agents.config import load_settings
from finmatch_agents.graph import RunServices, build_graph
from finmatch_agents.llm.grounding import Evidence, ungrounded
from finmatch_agents.records import AssumptionValue, RunMeta
from finmatch_agents.report.sections import render_agent_section
from finmatch_agents.warehouse.engine import open_engine

ACTIVE = "(SELECT * FROM fpr_records WHERE NOT coalesce(_fivetran_deleted, false))"


def run_graph(db: Path, focus: list[str], reports: Path, run_id: str = "test-run", analyst: Any = None,
              events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    settings = load_settings(db=db, reports_dir=reports, env={})
    engine = open_engine(settings)
    try:
        services = RunServices(engine=engine, settings=settings, assumptions=load_assumptions(settings),
                               analyst=analyst or OfflineAnalyst())
        run = RunMeta(run_id=run_id, focus=tuple(focus), model="offline", db=str(db), table="fpr_records",
                      created_at=utc_now(), currency="USD",
                      assumptions=tuple(AssumptionValue(**a) for a in services.assumptions.to_list()))
        graph = build_graph()
        state: dict[str, Any] = {}
        for namespace, mode, payload in graph.stream({"run": run}, context=services,
                                                     stream_mode=["custom", "values"], subgraphs=True):
            if mode == "values" and not namespace:
                state = payload
            elif mode == "custom" and events is not None:
                events.append(payload)
    finally:
        engine.close()
    return as_json(state)


def as_json(state: dict[str, Any]) -> dict[str, Any]:
    """The final state as plain JSON (what tests compare with SQL), plus each agent's section as the report
    renders it (``sections[agent]["markdown"]``)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, list):
            out[key] = [v.to_json() for v in value]
        elif isinstance(value, dict):
            out[key] = {k: v.to_json() for k, v in value.items()}
        else:
            out[key] = value.to_json()
    known = {q.id for q in state.get("queries", [])}
    out["sections"] = {
        key: {"analysis": analysis.to_json(),
              "markdown": render_agent_section(AGENTS[key], state.get("steps", []), analysis, state.get("findings", []),
                                               known, state["run"].currency)}
        for key, analysis in state.get("analyses", {}).items()}
    return out


@pytest.fixture(scope="session")
def analyzed(tmp_path_factory: pytest.TempPathFactory, small_db: Path) -> Callable[[str], dict[str, Any]]:
    """``analyzed("performance")``: the final state of one agent's run on the shared small database (cached)."""
    cache: dict[str, dict[str, Any]] = {}

    def get(focus: str) -> dict[str, Any]:
        if focus not in cache:
            cache[focus] = run_graph(small_db, [focus], tmp_path_factory.mktemp(f"reports-{focus}"))
        return cache[focus]

    return get


def findings_by_key(state: dict[str, Any], agent: str) -> dict[str, dict[str, Any]]:
    return {f["key"]: f for f in state["findings"] if f["agent"] == agent}


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def body_of(report: str) -> str:
    """The report without front matter and provenance appendix (where volatile values and SQL live)."""
    body = report.split("\n---\n", 1)[1] if report.startswith("---\n") else report
    return body.split("## Appendix — Evidence & provenance")[0]


def assert_grounded(text: str, state: dict[str, Any]) -> None:
    """Every number is in a query result, or in a finding's values (the tests and estimates a step computes
    from the result it cites)."""
    missing = ungrounded(text, Evidence.from_queries(state["queries"], [f["values"] for f in state["findings"]]))
    assert not missing, f"numbers not found in any query result: {missing[:20]}"


def section_steps(markdown: str) -> list[str]:
    return re.findall(r"^### (.+)$", markdown, flags=re.M)


def value_bins(values: list[float], bins: int) -> dict[float, int]:
    """The bin of each distinct value, computed independently of the SQL: few distinct values get one bin
    each; otherwise a value starts the bin its preceding share of rows falls in, so ties never split."""
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    distinct = sorted(counts)
    total = len(values)
    raw, before = {}, 0
    for rank, v in enumerate(distinct, start=1):
        raw[v] = rank if len(distinct) <= bins else min(bins, 1 + (before * bins) // total)
        before += counts[v]
    order = {b: i for i, b in enumerate(sorted(set(raw.values())), start=1)}
    return {v: order[b] for v, b in raw.items()}


def rates_by_bin(db: Path, column: str, bins: int) -> list[tuple[int, float, int]]:
    """(bin, acceptance rate, rows) per value bin of ``column`` over active records."""
    rows = query(db, f"SELECT {column}, (product_recommendation_status = 'Accepted')::INT FROM {ACTIVE} "
                     f"WHERE {column} IS NOT NULL")
    mapping = value_bins([r[0] for r in rows], bins)
    acc: dict[int, list[int]] = {}
    for value, accepted in rows:
        acc.setdefault(mapping[value], []).append(accepted)
    return [(b, sum(a) / len(a), len(a)) for b, a in sorted(acc.items())]
