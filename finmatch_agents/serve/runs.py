"""Background analyses: ``POST /v1/runs`` starts one in a worker thread, its events go to a file, and
``GET /v1/runs/{id}/events`` streams that file as server-sent events, from any worker.

The events are exactly those of ``finmatch analyze --json`` (DESIGN §6), one JSON object per line in
``<state_dir>/serve-runs/<run_id>.jsonl`` (appended with one write each, so a reader never sees half a line).
Any worker can stream any run's file, and a client that reconnects with ``Last-Event-ID`` (the line number)
continues where it stopped. Each worker runs at most ``max_active`` analyses at once; more get 503 ``busy``.
An analysis runs in its own thread and opens its own sandbox, as the CLI's does, so other requests go on.
``DELETE /v1/runs/{id}`` (or the server stopping) cancels a run at its next event: it is recorded as
interrupted, and ``finmatch analyze --resume RUN_ID`` finishes it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import Busy, FinMatchError, Interrupted
from finmatch_agents.files import append_text
from finmatch_agents.formatting import json_default
from finmatch_agents.runner import RunRequest, run_analysis

if TYPE_CHECKING:
    from pathlib import Path

    from finmatch_agents.config import Settings
    from finmatch_agents.serve.observe import Metrics

EVENTS_DIR = "serve-runs"
#: seconds ``POST /v1/runs`` waits for the run to start (its id) before answering
START_TIMEOUT = 60.0


def events_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / EVENTS_DIR / f"{run_id}.jsonl"


@dataclass
class Live:
    """A run this worker is running."""

    thread: threading.Thread
    started: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)
    run_id: str | None = None
    error: BaseException | None = None
    status: str | None = None


class RunManager:
    def __init__(self, settings: Settings, metrics: Metrics | None = None, *, max_active: int = 2) -> None:
        self.settings, self.metrics, self.max_active = settings, metrics, max_active
        self._live: dict[str, Live] = {}
        self._starting = 0
        self._lock = threading.Lock()

    def active(self) -> int:
        with self._lock:
            return self._starting + sum(1 for r in self._live.values() if r.thread.is_alive())

    def start(self, focus: list[str], formats: tuple[str, ...]) -> str:
        """Start an analysis; returns its run id once it has started (errors before that are raised here)."""
        with self._lock:
            running = self._starting + sum(1 for r in self._live.values() if r.thread.is_alive())
            if running >= self.max_active:
                raise Busy(f"{running} analyses are running in this worker (at most {self.max_active})",
                           hint="retry when one finishes; GET /v1/runs shows them")
            self._starting += 1
        live = Live(thread=threading.Thread())
        request = RunRequest(focus=focus, formats=formats)
        folder = self.settings.state_dir / EVENTS_DIR
        folder.mkdir(parents=True, exist_ok=True)

        def sink(event: dict[str, Any]) -> None:
            first = live.run_id is None
            run_id: str = event["run_id"] if live.run_id is None else live.run_id
            if first:
                live.run_id = run_id
                with self._lock:
                    self._live[run_id] = live
                    self._starting -= 1
            append_text(events_path(self.settings.state_dir, run_id),
                        json.dumps(event, default=json_default, ensure_ascii=False) + "\n")
            if first:  # only once its events file exists: the starter's client streams it at once
                live.started.set()
            if self.metrics is not None and event.get("event") == "model_call":
                self.metrics.model_call(event)
            if event.get("event") == "run_finished":
                live.status = event.get("status")
            if live.cancel.is_set() and event.get("event") != "run_finished":
                raise KeyboardInterrupt  # the runner records the run as interrupted (resumable)

        def work() -> None:
            if self.metrics is not None:
                self.metrics.runs.inc()
            try:
                run_analysis(self.settings, request, sink)
            except Interrupted:
                pass
            except BaseException as exc:  # reported to the starter, or in the run's events
                live.error = exc
            finally:
                if self.metrics is not None:
                    self.metrics.runs.dec()
                if live.run_id is None:
                    with self._lock:
                        self._starting -= 1
                live.started.set()

        live.thread = threading.Thread(target=work, name="finmatch-serve-run", daemon=True)
        live.thread.start()
        live.started.wait(START_TIMEOUT)
        if live.run_id is None:
            if isinstance(live.error, FinMatchError):
                raise live.error
            if live.error is not None:
                raise live.error
            raise Busy("the analysis did not start in time", hint="GET /v1/runs shows whether it started")
        return live.run_id

    def cancel(self, run_id: str) -> bool:
        """Ask a run of this worker to stop; False when it does not run here."""
        with self._lock:
            live = self._live.get(run_id)
        if live is None or not live.thread.is_alive():
            return False
        live.cancel.set()
        return True

    def is_live(self, run_id: str) -> bool:
        with self._lock:
            live = self._live.get(run_id)
        return live is not None and live.thread.is_alive()

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            lives = list(self._live.values())
        for live in lives:
            live.cancel.set()
        for live in lives:
            live.thread.join(timeout)


def read_events(path: Path, offset: int) -> tuple[list[str], int]:
    """Whole lines of ``path`` from byte ``offset``; returns them and the offset after the last whole line."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    chunk = data[: end + 1]
    return chunk.decode("utf-8").splitlines(), offset + len(chunk)
