"""Evidence records: every query that ran (or was refused), with a stable id.

Query ids must be the same on every run of the same analysis, even when agents run in parallel threads,
so each producer numbers its own block: a :class:`QueryLog` is created with a prefix and a start number
(``Q101``… for one agent, ``Q201``… for the next) and hands out ids in its own order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class QueryRecord:
    id: str
    sql: str
    title: str = ""
    status: str = "ok"  # ok | refused | timeout | error
    rows: int = 0
    truncated: bool = False
    elapsed_ms: float = 0.0
    columns: tuple[str, ...] = ()
    error: str | None = None
    rule: str | None = None
    agent: str | None = None
    step: str | None = None
    ts: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = list(self.columns)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryRecord:
        return cls(**{**data, "columns": tuple(data.get("columns") or ())})


Sink = Callable[[QueryRecord], None]


class QueryLog:
    """Hands out query ids for one producer and keeps what ran, in order. Thread-safe."""

    def __init__(self, prefix: str = "Q", start: int = 1, *, agent: str | None = None, step: str | None = None,
                 sinks: list[Sink] | None = None) -> None:
        self.prefix, self._next = prefix, start
        self.agent, self.step = agent, step
        self.records: list[QueryRecord] = []
        self._sinks = list(sinks or [])
        self._lock = threading.Lock()

    def next_id(self) -> str:
        with self._lock:
            qid = f"{self.prefix}{self._next}"
            self._next += 1
            return qid

    def add(self, record: QueryRecord) -> QueryRecord:
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
    lines. A failure to write the audit never fails the query itself.
    """

    def __init__(self, path: Path, source: str) -> None:
        self.path, self.source = path, source

    def __call__(self, record: QueryRecord) -> None:
        line = json.dumps({"source": self.source, **record.to_dict()}, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError:
            pass
