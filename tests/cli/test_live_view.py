"""The live view at every terminal size, rendered from fixed events with a fixed clock (snapshots at 80×24 and
140×40, Rich ``Console(record=True)``). Set UPDATE_SNAPSHOTS=1 to rewrite them after a deliberate change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console

from finmatch_agents.agents import AGENTS, FOCUS_ORDER
from finmatch_agents.cli.views import LiveView, PlainLog
from finmatch_agents.events import make_event

SNAPSHOTS = Path(__file__).parent / "snapshots"
RUN = "20260105-070000-ab12"
FALLBACK = "model local not used for {title} (answer failed validation); the offline analyst wrote this step"


def _event(kind: str, agent: str | None = None, step: str | None = None, **fields: object) -> dict:
    event = make_event(kind, RUN, agent, step, **fields)
    event["ts"] = "2026-01-05T07:00:01.000Z"
    return event


def events() -> list[dict]:
    """A run caught mid-way: prepare done, performance on its third step, optimization on its second, financial
    impact finished, strategy waiting; two AI steps fell back to the offline analyst."""
    out = [_event("run_started", focus=list(FOCUS_ORDER), model="local", db="data/finmatch.duckdb",
                  table="fpr_records", resumed=False, completed_steps=[]),
           _event("step_started", "prepare", "Dataset profiling and validation"),
           _event("step_finished", "prepare", "Dataset profiling and validation", status="done", elapsed_ms=412.0,
                  queries=13, findings=0, tables={"fpr_records": 98_841, "products": 40},
                  dataset_origin="synthetic data (seed 42)")]
    progress = {"performance": 2, "optimization": 1, "financial-impact": len(AGENTS["financial-impact"].steps),
                "strategy": 0}
    for agent, done in progress.items():
        steps = AGENTS[agent].steps
        for i, step in enumerate(steps[:done]):
            out += [_event("step_started", agent, step.name),
                    _event("query", agent, step.name, query_id=f"Q{AGENTS[agent].block + i + 1}",
                           tables=["fpr_records"]),
                    _event("step_finished", agent, step.name, status="done", elapsed_ms=100.0 * (i + 1), queries=1,
                           findings=1)]
        if done < len(steps) and agent != "strategy":
            out.append(_event("step_started", agent, steps[done].name))
        if done:
            out.append(_event("finding", agent, steps[done - 1].name, finding_id=f"F{AGENTS[agent].block + 1}",
                              title="Acceptance rate", statement="25.3% of 98,841 recommendations were accepted."))
    out.append(_event("model_call", "financial-impact", "AI Banking Financial Modeling", attempts=1,
                      total_tokens=1_850, status="ok"))
    for agent in ("performance", "financial-impact"):
        out.append(_event("warning", agent, next(s.name for s in AGENTS[agent].steps if s.kind == "ai"),
                          message=FALLBACK.format(title=AGENTS[agent].title)))
    return out


def render(width: int, height: int) -> tuple[str, list[dict]]:
    console = Console(record=True, width=width, height=height, color_system=None, force_terminal=False,
                      legacy_windows=False)
    view = LiveView(console, clock=lambda: 12.5)
    view.started = 10.0
    feed = events()
    for event in feed:
        view(event)
    console.print(view._render())
    return console.export_text(), feed


@pytest.mark.parametrize(("width", "height"), [(80, 24), (140, 40)])
def test_the_live_view_matches_its_snapshot(width: int, height: int) -> None:
    text, _ = render(width, height)
    path = SNAPSHOTS / f"live-{width}x{height}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize(("width", "height"), [(80, 24), (140, 40)])
def test_every_agent_and_every_warning_is_on_screen(width: int, height: int) -> None:
    text, feed = render(width, height)
    lines = text.splitlines()
    assert len(lines) <= height  # it fits: nothing scrolls away
    assert all(len(line) <= width for line in lines)
    for key in FOCUS_ORDER:
        assert AGENTS[key].title in text
    log = PlainLog()
    for event in feed:
        if event["event"] == "warning":
            assert log.line(event)[:40] in text  # each fallback warning shows, as in the plain log
    assert "1 query" in text and "1 queries" not in text
    assert "synthetic data (seed 42)" in lines[0]
    # the status line is a line of its own: never glued to a message
    assert lines[0].startswith(f"FinMatch analysis {RUN} · 2.5s")
    assert not any(line.startswith("WARNING") and "FinMatch analysis" in line for line in lines)


def test_at_80_columns_agents_are_compact_rows_not_panels() -> None:
    text, _ = render(80, 24)
    assert "╭" not in text  # no stacked panels
    assert "✓✓" in text  # step marks in one row
