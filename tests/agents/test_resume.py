"""A run stopped after an agent's AI step finished and before its report step: resumed, it gives the same records
as a run that was never stopped (the AI step, whose own SQL adds queries and findings, is not run twice)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from finmatch_agents.analysts.offline import OfflineAnalyst
from finmatch_agents.assumptions import load_assumptions
from finmatch_agents.clock import utc_now
from finmatch_agents.config import load_settings
from finmatch_agents.errors import Interrupted
from finmatch_agents.graph import RunServices, build_graph
from finmatch_agents.records import AssumptionValue, RunMeta
from finmatch_agents.runs import open_checkpointer
from finmatch_agents.warehouse.engine import open_engine

AGENT = "financial-impact"  # its AI step runs SQL of its own (the scenario projections) before the analyst


class StopAfterAnalysis(OfflineAnalyst):
    """The offline analyst, asking the run to stop once it has written ``AGENT``'s analysis."""

    def __init__(self, cancel: threading.Event | None) -> None:
        super().__init__()
        self.cancel = cancel
        self.agents: list[str] = []

    def analyze(self, spec: Any, findings: Any, profile: Any, request: Any) -> Any:
        analysis = super().analyze(spec, findings, profile, request)
        self.agents.append(spec.key)
        if self.cancel is not None and spec.key == AGENT:
            self.cancel.set()
        return analysis


def _run(db: Path, state_dir: Path, thread: str, *, stop: bool) -> tuple[dict[str, Any], list[str]]:
    settings = load_settings(db=db, reports_dir=state_dir / "reports", state_dir=state_dir, env={})
    engine, saver, cancel = open_engine(settings), open_checkpointer(settings.state_dir), threading.Event()
    analysts = []
    try:
        graph = build_graph(saver)
        config: Any = {"configurable": {"thread_id": thread}}
        run = RunMeta(run_id=thread, focus=(AGENT,), model="offline", db=str(db), table="fpr_records",
                      created_at=utc_now(), currency="USD",
                      assumptions=tuple(AssumptionValue(**a) for a in load_assumptions(settings).to_list()))

        def services(analyst: OfflineAnalyst) -> RunServices:
            analysts.append(analyst)
            return RunServices(engine=engine, settings=settings, assumptions=load_assumptions(settings),
                               analyst=analyst, cancel=cancel)

        first: Any = {"run": run}
        if stop:
            with pytest.raises(Interrupted):
                for _ in graph.stream(first, config, context=services(StopAfterAnalysis(cancel)), durability="sync"):
                    pass
            cancel.clear()
            first = None
        for _ in graph.stream(first, config, context=services(StopAfterAnalysis(None)), durability="sync"):
            pass
        state = graph.get_state(config).values
    finally:
        saver.conn.close()
        engine.close()
    return state, [a for analyst in analysts for a in analyst.agents]


def test_resumed_after_the_ai_step_the_run_has_the_records_of_an_unstopped_run(small_db: Path, tmp_path: Path) -> None:
    resumed, analysed = _run(small_db, tmp_path / "resumed", "run-a", stop=True)
    fresh, _ = _run(small_db, tmp_path / "fresh", "run-a", stop=False)
    assert analysed == [AGENT]  # the agent's subgraph resumes after its checkpointed AI step
    assert resumed.get("report") is not None
    assert [q.id for q in resumed["queries"]] == [q.id for q in fresh["queries"]]
    assert [q.sql for q in resumed["queries"]] == [q.sql for q in fresh["queries"]]
    assert [(f.id, f.statement) for f in resumed["findings"]] == [(f.id, f.statement) for f in fresh["findings"]]
    steps = [(s.agent, s.step) for s in resumed["steps"]]
    assert len(steps) == len(set(steps)) and steps == [(s.agent, s.step) for s in fresh["steps"]]
    assert resumed["analyses"][AGENT].to_json() == fresh["analyses"][AGENT].to_json()
