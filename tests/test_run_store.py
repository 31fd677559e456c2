"""The state databases are opened by several processes at once (scheduled jobs, chat, ad-hoc runs)."""

from __future__ import annotations

import multiprocessing
from multiprocessing.synchronize import Barrier
from pathlib import Path

from finmatch_agents.chat.store import ChatStore
from finmatch_agents.runs import RunStore, open_checkpointer


def _open_all(state: str, barrier: Barrier) -> None:
    barrier.wait()
    RunStore(Path(state) / "runs.sqlite").close()
    ChatStore(Path(state) / "chat.sqlite").close()
    saver = open_checkpointer(Path(state))
    saver.setup()
    saver.conn.close()


def test_processes_opening_new_state_databases_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new SQLite file to WAL takes a lock SQLite does not wait for ("database is locked" when two
    jobs started together, about one round in three before opening was serialised)."""
    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):
        state = tmp_path / f"state{round_}"
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_open_all, args=(str(state), barrier)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 4, f"round {round_}"
        store = RunStore(state / "runs.sqlite")
        assert store.list_runs() == []
        store.close()
