"""The run manager, without a server: what a client may rely on once ``POST /v1/runs`` answered."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from finmatch_agents.config import Settings
from finmatch_agents.serve import runs


def test_the_events_file_exists_once_start_returns(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The starter's client streams the events at once; a 404 there was a race CI found (the id was
    handed out before the first event was written)."""
    release = threading.Event()
    real_append = runs.append_text

    def slow_append(path: Any, text: str) -> None:
        time.sleep(0.2)  # a slow disk: the first write lands well after the run id is known
        real_append(path, text)

    def fake_run(settings: Settings, request: Any, sink: Any) -> None:
        sink({"event": "run_started", "run_id": "R-test"})
        release.wait(10)
        sink({"event": "run_finished", "run_id": "R-test", "status": "completed"})

    monkeypatch.setattr(runs, "append_text", slow_append)
    monkeypatch.setattr(runs, "run_analysis", fake_run)
    manager = runs.RunManager(Settings(state_dir=tmp_path))
    run_id = manager.start(["performance"], ("md",))
    try:
        assert run_id == "R-test"
        lines, _ = runs.read_events(runs.events_path(tmp_path, run_id), 0)
        assert len(lines) == 1 and '"run_started"' in lines[0]
        assert manager.is_live(run_id)
    finally:
        release.set()
        manager.shutdown()
    assert not manager.is_live(run_id)
