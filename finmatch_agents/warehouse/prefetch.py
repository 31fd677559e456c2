"""Statements an engine starts early because the caller will ask for them next (every engine's ``prefetch``).

Each runs exactly as the engine's query would (the guard, the views, the limits), but its record waits: the later
``query`` call gives it that call's id, title and log, in that call's order, so what a run logs and reports is the
same as when the statements run one after another; only the wall time differs. A statement never asked for is
dropped when the engine closes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from finmatch_agents.errors import FinMatchError
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse.results import QueryResult, _Detached

if TYPE_CHECKING:
    from finmatch_agents.units import Unit


class Prefetcher:
    """``run(sql, log)`` is the engine's own query path; ``threads`` statements run at a time beside the caller."""

    def __init__(self, run: Callable[[str, QueryLog], QueryResult], threads: int, name: str) -> None:
        self._run, self._threads, self._name = run, threads, name
        self._started: dict[str, concurrent.futures.Future[_Detached]] = {}
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self, statements: tuple[str, ...]) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self._threads, thread_name_prefix=self._name)
            for text in statements:
                if text not in self._started:
                    self._started[text] = self._pool.submit(self._detached, text)

    def adopt(self, text: str, log: QueryLog, title: str, units: dict[str, Unit]) -> QueryResult | None:
        """The result of ``text`` if it was started, its records logged now as this call's; else None."""
        with self._lock:
            started = self._started.pop(text, None)
        if started is None:
            return None
        qid = log.next_id()
        done = started.result()
        records = [r.model_copy(update={"id": qid, "title": title, "agent": log.agent, "step": log.step,
                                        "units": units}) for r in done.records]
        for record in records:
            log.add(record)
        if done.error is not None:
            raise done.error
        assert done.result is not None and records
        return dataclasses.replace(done.result, record=records[-1])

    def close(self, interrupt: Callable[[], None]) -> None:
        """Cancel what has not started and ``interrupt`` what is running, then wait for the threads."""
        with self._lock:
            pool, self._pool, waiting = self._pool, None, list(self._started.values())
            self._started.clear()
        if pool is not None:
            for future in waiting:
                future.cancel()
            if not all(f.done() for f in waiting):
                interrupt()
            pool.shutdown(wait=True)

    def _detached(self, sql: str) -> _Detached:
        held = QueryLog(prefix="P")  # ids and sinks come from the log of the query() call that adopts it
        try:
            return _Detached(self._run(sql, held), held.records, None)
        except FinMatchError as exc:
            return _Detached(None, held.records, exc)
