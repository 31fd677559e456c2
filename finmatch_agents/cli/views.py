"""The views of a running analysis: a Rich live view on terminals, timestamped log lines otherwise, JSON
lines for ``--json`` and nothing but the report path for ``--quiet``. Views only consume events
(:mod:`finmatch_agents.events`); no view can change the analysis.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from finmatch_agents.agents import AGENTS
from finmatch_agents.events import plain_line, plural
from finmatch_agents.formatting import json_default


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _compact(n: int) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


class JsonLines:
    """``--json``: one JSON object per event on stdout. A reader that goes away (``| head``) does not stop
    the run: output just ends."""

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            sys.stdout.write(json.dumps(event, default=json_default, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            self.closed = True


class Quiet:
    """``--quiet``: nothing while running (the CLI prints only the report path)."""

    def __call__(self, event: dict[str, Any]) -> None:
        return None


class PlainLog:
    """No terminal: timestamped, greppable lines on stderr (cron, CI, log files)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr

    def line(self, event: dict[str, Any]) -> str | None:
        return plain_line(event)

    def __call__(self, event: dict[str, Any]) -> None:
        text = self.line(event)
        if text:
            try:
                self.stream.write(f"{event['ts']} {text}\n")
                self.stream.flush()
            except BrokenPipeError:
                pass


class LiveView:
    """Rich live display on a terminal: the focus agents side by side, each step with its status."""

    SYSTEM = (("prepare", "Prepare"), ("synthesize", "Synthesize"), ("publish", "Publish"))

    def __init__(self, console: Any = None) -> None:
        self.console = console or Console(stderr=True)
        self.focus: list[str] = []
        self.plan: dict[str, list[str]] = {}
        self.titles: dict[str, str] = {}
        self.status: dict[tuple[str, str], str] = {}
        self.elapsed: dict[tuple[str, str], float] = {}
        self.queries: dict[str, int] = {}
        self.scanned: dict[str, int] = {}
        self.latest: dict[str, str] = {}
        self.model: dict[str, list[int]] = {}  # agent -> [calls, tokens]
        self.table_rows: dict[str, int] = {}
        self.messages: list[str] = []
        self.run_id = ""
        self.started = 0.0
        self._live: Any = None

    def __enter__(self) -> LiveView:
        self.started = time.perf_counter()
        self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False,
                          get_renderable=self._render)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            self._live.__exit__(*exc)

    def __call__(self, event: dict[str, Any]) -> None:
        kind, agent, step = event["event"], event.get("agent"), event.get("step")
        if kind == "run_started":
            self.run_id = event["run_id"]
            self.focus = list(event["focus"])
            self.plan = {k: [s.name for s in AGENTS[k].steps] for k in self.focus}
            self.titles = {k: AGENTS[k].title for k in self.focus}
            for done in event.get("completed_steps", []):
                self.status[(done["agent"], done["step"])] = "restored"
                self.elapsed[(done["agent"], done["step"])] = (done.get("elapsed_ms") or 0) / 1000
        elif kind == "step_started" and agent:
            self.status[(agent, step or "")] = "running"
        elif kind == "step_finished" and agent:
            self.status[(agent, step or "")] = event.get("status", "done")
            self.elapsed[(agent, step or "")] = (event.get("elapsed_ms") or 0) / 1000
            if agent == "prepare" and event.get("tables"):
                self.table_rows = dict(event["tables"])
        elif kind == "query" and agent:
            self.queries[agent] = self.queries.get(agent, 0) + 1
            self.scanned[agent] = self.scanned.get(agent, 0) + sum(self.table_rows.get(t, 0)
                                                                   for t in event.get("tables", []))
        elif kind == "finding" and agent:
            self.latest[agent] = f"{event.get('title')}: {event.get('statement')}"
        elif kind == "model_call" and agent:
            calls, tokens = self.model.get(agent, [0, 0])
            self.model[agent] = [calls + int(event.get("attempts") or 1), tokens + int(event.get("total_tokens") or 0)]
        elif kind in ("warning", "error"):
            self.messages.append(f"{kind}: {agent or ''} {event.get('message', '')}")
        elif kind == "report_written":
            self.messages.append(f"report: {event['path']}")

    def _icon(self, key: tuple[str, str]) -> Any:
        state = self.status.get(key, "pending")
        if state == "running":
            return Spinner("dots", style="cyan")
        if state in ("done", "restored"):
            label = f"✓ {self.elapsed.get(key, 0):.1f}s" + (" (earlier)" if state == "restored" else "")
            return Text(label, style="green")
        if state == "failed":
            return Text("✗ failed", style="red")
        return Text("○", style="dim")

    def _agent_panel(self, key: str) -> Any:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for step in self.plan[key]:
            grid.add_row(self._icon((key, step)), Text(step, overflow="ellipsis", no_wrap=True))
        scanned = _compact(self.scanned.get(key, 0))
        queries = plural(self.queries.get(key, 0), "query", "queries")
        grid.add_row("", Text(f"{queries} · ~{scanned} rows scanned", style="dim", no_wrap=True, overflow="ellipsis"))
        if key in self.model:
            calls, tokens = self.model[key]
            grid.add_row("", Text(f"model: {calls} call(s) · {_compact(tokens)} tokens", style="magenta",
                                  no_wrap=True, overflow="ellipsis"))
        if key in self.latest:
            grid.add_row("", Text(_short(self.latest[key], 120), style="italic", no_wrap=True, overflow="ellipsis"))
        return Panel(grid, title=self.titles[key], title_align="left")

    def _render(self) -> Any:
        parts = []
        for key, label in self.SYSTEM:
            steps = [s for (a, s) in self.status if a == key]
            state = self.status.get((key, steps[0]), "pending") if steps else "pending"
            parts.append(f"{label}: {state}")
        elapsed = time.perf_counter() - self.started if self.started else 0.0
        header = Text(f"FinMatch analysis {self.run_id} · {elapsed:.1f}s · " + " · ".join(parts), style="bold")
        panels = [self._agent_panel(k) for k in self.focus]
        width = self.console.width
        per_row = max(1, min(len(panels), 4 if width >= 160 else 2 if width >= 90 else 1))
        grid = Table.grid(expand=True, padding=(0, 1))
        for _ in range(per_row):
            grid.add_column(ratio=1)
        for start in range(0, len(panels), per_row):
            row = panels[start:start + per_row]
            grid.add_row(*row, *([""] * (per_row - len(row))))
        body: list[Any] = [header, grid]
        body += [Text(m, style="yellow" if m.startswith(("warning", "error")) else "green")
                 for m in self.messages[-4:]]
        return Group(*body)
