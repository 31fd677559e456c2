"""The chat store shared by processes (two API workers, a CLI chat beside the server): turns in one session
never share a number, and opening one session twice at once is one creation and one resume."""

from __future__ import annotations

import threading
from pathlib import Path

from finmatch_agents.chat.store import ChatStore


def test_concurrent_turns_in_one_session_get_distinct_numbers(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite"
    stores = [ChatStore(path) for _ in range(4)]  # one connection each, as separate workers have
    opened = [False] * 4
    start, errors, numbers = threading.Barrier(4), [], []

    def worker(k: int) -> None:
        try:
            start.wait()
            opened[k] = stores[k].open_session("shared", "offline", "db")
            for turn in range(100):
                numbers.append(stores[k].add_turn("shared", f"q{k}.{turn}", {"kind": "compiled"}, []))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == list(range(1, 401))
    assert opened.count(False) == 1  # exactly one of them created it
    turns = stores[0].turns("shared")
    assert [t["n"] for t in turns] == list(range(1, 401)) and stores[0].session("shared")["turns"] == 400
    for s in stores:
        s.close()
