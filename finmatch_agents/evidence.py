"""Where queries are recorded: the per-producer :class:`QueryLog` (hands out ids, keeps what ran) and the
append-only :class:`AuditLog` of every statement sent to the sandbox.

Ids must be the same on every run of the same analysis, even when agents run in parallel threads, so each
producer numbers its own block: a log is created with a prefix and a start number (``Q101``… for one agent,
``Q201``… for the next) and hands out ids in its own order.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from finmatch_agents.clock import utc_now
from finmatch_agents.files import append_text
from finmatch_agents.records import Query

__all__ = ["SAMPLE_ROWS", "AuditLog", "Query", "QueryLog", "QueryRecord", "Sink", "jsonable", "utc_now"]

SAMPLE_ROWS = 500
#: the name the warehouse layer uses for a query record (one type: :class:`finmatch_agents.records.Query`)
QueryRecord = Query


def jsonable(value: Any) -> Any:
    """A DuckDB value as a JSON-safe primitive (dates as ISO text, decimals as floats, NaN as None)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


Sink = Callable[[Query], None]


class QueryLog:
    """Hands out query ids for one producer and keeps what ran, in order. Thread-safe."""

    def __init__(self, prefix: str = "Q", start: int = 1, *, agent: str | None = None, step: str | None = None,
                 sinks: list[Sink] | None = None, allocate: Callable[[], int] | None = None) -> None:
        self.prefix, self._next, self._allocate = prefix, start, allocate
        self.agent, self.step = agent, step
        self.records: list[Query] = []
        self._sinks = list(sinks or [])
        self._lock = threading.Lock()

    def next_id(self) -> str:
        """The next id; with ``allocate`` (shared stores such as a chat session), the number comes from it."""
        if self._allocate is not None:
            return f"{self.prefix}{self._allocate()}"
        with self._lock:
            qid = f"{self.prefix}{self._next}"
            self._next += 1
            return qid

    def add(self, record: Query) -> Query:
        with self._lock:
            self.records.append(record)
        for sink in self._sinks:
            sink(record)
        return record

    def add_sink(self, sink: Sink) -> None:
        self._sinks.append(sink)


class AuditLog:
    """Append-only JSON-lines audit of every statement sent to the sandbox (``<state_dir>/sql-audit.jsonl``).

    Ops teams read it to see what SQL agents, chat sessions and users ran, including refused attempts.
    Lines are written with a single ``write`` on an O_APPEND file, so concurrent processes interleave whole
    lines. A failure to write the audit never fails the query itself, but it is reported once through
    ``warn`` (a warning event or a line on stderr): a silent gap in an audit is a defect.
    """

    def __init__(self, path: Path, source: str, *, warn: Callable[[str], None] | None = None) -> None:
        self.path, self.source, self.warn = path, source, warn
        self.failures = 0

    def __call__(self, record: Query) -> None:
        line = json.dumps({"source": self.source, **record.public()}, default=str) + "\n"
        if append_text(self.path, line):
            return
        self.failures += 1
        if self.failures == 1 and self.warn is not None:
            self.warn(f"the SQL audit log {self.path} cannot be written; statements are not being audited")
