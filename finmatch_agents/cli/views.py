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
from rich.rule import Rule
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


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class LiveView:
    """Rich live display on a terminal: every focus agent with its steps, at any terminal size.

    Wide and tall terminals get a panel per agent; smaller ones (80×24) get two compact lines per agent, so all
    agents stay visible. The status line (run, elapsed time, the data's origin, the graph's own nodes) is its
    own line above a rule; every warning and error stays listed below it, as the plain log shows them. Time
    comes from ``clock`` (tests pass a fixed one), so a rendering is reproducible.
    """

    SYSTEM = (("prepare", "Prepare"), ("synthesize", "Summary"), ("publish", "Publish"))

    def __init__(self, console: Any = None, clock: Any = None) -> None:
        self.console = console or Console(stderr=True)
        self.clock = clock or time.perf_counter
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
        self.messages: list[tuple[str, str]] = []  # (kind, text): every warning and error, then the report
        self.run_id = ""
        self.origin = ""
        self.started = 0.0
        self._live: Any = None

    def __enter__(self) -> LiveView:
        self.started = self.clock()
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
            if agent == "prepare":
                self.table_rows = dict(event.get("tables") or {})
                self.origin = event.get("dataset_origin") or self.origin
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
            line = plain_line(event) or f"{kind.upper()}: {event.get('message', '')}"
            self.messages.append((kind, line))
        elif kind == "report_written":
            self.messages.append(("report", f"report written: {event['path']}"
                                  + (f" (and {event['html']})" if event.get("html") else "")))

    # -- pieces ---------------------------------------------------------------------------------------------
    def _state(self, key: tuple[str, str]) -> str:
        return self.status.get(key, "pending")

    def _mark(self, key: tuple[str, str]) -> Text:
        """One character per step: ✓ done, ✗ failed, a spinner frame while running, ○ pending."""
        state = self._state(key)
        if state == "running":
            return Text(SPINNER[int((self.clock() - self.started) * 10) % len(SPINNER)], style="cyan")
        if state in ("done", "restored"):
            return Text("✓", style="green")
        if state == "failed":
            return Text("✗", style="red")
        return Text("○", style="dim")

    def _icon(self, key: tuple[str, str]) -> Text:
        state = self._state(key)
        if state in ("done", "restored"):
            return Text(f"✓ {self.elapsed.get(key, 0):.1f}s" + (" (earlier)" if state == "restored" else ""),
                        style="green")
        if state == "failed":
            return Text("✗ failed", style="red")
        return self._mark(key)

    def _counts(self, key: str) -> str:
        text = f"{plural(self.queries.get(key, 0), 'query', 'queries')} · ~{_compact(self.scanned.get(key, 0))} rows"
        if key in self.model:
            calls, tokens = self.model[key]
            text += f" · model {plural(calls, 'call')}, {_compact(tokens)} tokens"
        return text

    def _current(self, key: str) -> str:
        steps = self.plan[key]
        running = [s for s in steps if self._state((key, s)) == "running"]
        done = [s for s in steps if self._state((key, s)) in ("done", "restored", "failed")]
        if running:
            return running[0]
        if len(done) == len(steps):
            return f"done in {sum(self.elapsed.get((key, s), 0) for s in steps):.1f}s"
        return "waiting" if not done else f"after {done[-1]}"

    def _header(self) -> Text:
        elapsed = self.clock() - self.started if self.started else 0.0
        parts = [f"FinMatch analysis {self.run_id}".rstrip(), f"{elapsed:.1f}s"]
        if self.origin:
            parts.append(self.origin)
        header = Text(" · ".join(parts), style="bold", no_wrap=True, overflow="ellipsis")
        return header

    def _system(self) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        for i, (key, label) in enumerate(self.SYSTEM):
            steps = [s for (a, s) in self.status if a == key]
            if i:
                line.append(" · ")
            line.append(f"{label} ")
            line.append_text(self._icon((key, steps[0])) if steps else Text("○", style="dim"))
        return line

    def _agent_panel(self, key: str) -> Any:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for step in self.plan[key]:
            grid.add_row(self._icon((key, step)), Text(step, overflow="ellipsis", no_wrap=True))
        grid.add_row("", Text(self._counts(key), style="dim", no_wrap=True, overflow="ellipsis"))
        if key in self.latest:
            grid.add_row("", Text(_short(self.latest[key], 160), style="italic", no_wrap=True, overflow="ellipsis"))
        return Panel(grid, title=self.titles[key], title_align="left")

    def _compact_rows(self) -> Any:
        """Two lines per agent: title, step marks and counts; then what it is doing (or its latest finding)."""
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for key in self.focus:
            marks = Text()
            for step in self.plan[key]:
                marks.append_text(self._mark((key, step)))
            title = Text(self.titles[key], style="bold")
            grid.add_row(title, Text.assemble(marks, "  ", (self._counts(key), "dim")))
            detail = self._current(key)
            if key in self.latest:
                detail += f" — {_short(self.latest[key], 200)}"
            grid.add_row("", Text(detail, style="italic", no_wrap=True, overflow="ellipsis"))
        return grid

    def _messages(self, room: int) -> list[Text]:
        """Every warning and error (one line each when room is short, whole otherwise), then the report line."""
        if not self.messages:
            return []
        styles = {"warning": "yellow", "error": "red", "report": "green"}
        wrap = len(self.messages) <= room // 2
        return [Text(m, style=styles[k], no_wrap=not wrap, overflow="fold" if wrap else "ellipsis")
                for k, m in self.messages]

    def _render(self) -> Any:
        width, height = self.console.width, self.console.height
        per_row = 4 if width >= 160 else 2
        panel_rows = -(-len(self.focus) // per_row) if self.focus else 0
        tallest = max((len(self.plan[k]) for k in self.focus), default=0) + 4
        wide = width >= 100 and height >= 4 + panel_rows * tallest + len(self.messages)
        body: list[Any] = [self._header(), self._system(), Rule(style="dim")]
        if wide and self.focus:
            panels = [self._agent_panel(k) for k in self.focus]
            grid = Table.grid(expand=True, padding=(0, 1))
            for _ in range(per_row):
                grid.add_column(ratio=1)
            for start in range(0, len(panels), per_row):
                row = panels[start:start + per_row]
                grid.add_row(*row, *([""] * (per_row - len(row))))
            body.append(grid)
            used = 3 + panel_rows * tallest
        else:
            body.append(self._compact_rows())
            used = 3 + 2 * len(self.focus)
        if self.messages:
            body.append(Rule(style="dim"))
            body += self._messages(max(0, height - used - 1))
        return Group(*body)
