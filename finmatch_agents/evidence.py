"""Evidence records: every query that ran (or was refused) and every finding drawn from them, with stable ids.

Ids must be the same on every run of the same analysis, even when agents run in parallel threads, so each
producer numbers its own block: a :class:`QueryLog` is created with a prefix and a start number (``Q101``…
for one agent, ``Q201``… for the next) and hands out ids in its own order; findings use the same blocks
(``F101``…).

Records travel through the graph state and the checkpointer, so they convert to plain JSON-safe dicts.
A query keeps a capped sample of its result (``sample``) so report numbers can be traced back to it; the
sample never leaves the machine's state folder (the audit log and run store keep only metadata).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

SAMPLE_ROWS = 500


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    tables: tuple[str, ...] = ()
    #: first rows of the result (JSON-safe); kept in run state for grounding, never written to the audit log
    sample: tuple[tuple[Any, ...], ...] = ()
    ts: str = field(default_factory=utc_now)

    def to_dict(self, *, with_sample: bool = True) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = list(self.columns)
        data["tables"] = list(self.tables)
        data["sample"] = [list(r) for r in self.sample] if with_sample else []
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryRecord:
        return cls(**{**data, "columns": tuple(data.get("columns") or ()), "tables": tuple(data.get("tables") or ()),
                      "sample": tuple(tuple(r) for r in data.get("sample") or ())})


@dataclass(frozen=True)
class Finding:
    """A fact an agent established with SQL: what it says, the numbers behind it, and the queries."""

    id: str
    agent: str
    step: str
    key: str  # what kind of finding (the offline analyst's rules are keyed on it)
    title: str
    statement: str  # one or two sentences with [Qn] references
    values: dict[str, Any]
    query_ids: tuple[str, ...]
    effect: float = 0.0  # effect size used for ranking (0 = none, 1 = large)
    confidence: float = 1.0  # from sample size (0..1)
    polarity: str = "neutral"  # risk | opportunity | strength | neutral

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["query_ids"] = list(self.query_ids)
        data["values"] = jsonable(self.values)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(**{**data, "query_ids": tuple(data.get("query_ids") or ())})

    @property
    def refs(self) -> str:
        return " ".join(f"[{q}]" for q in self.query_ids)


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
        line = json.dumps({"source": self.source, **record.to_dict(with_sample=False)}, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError:
            pass
