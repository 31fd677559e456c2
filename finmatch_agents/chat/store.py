"""Chat sessions on disk (``<state_dir>/chat.sqlite``, WAL): sessions, turns and the queries each turn ran.

The transcript is what ``/save`` writes and what a resumed session continues from; query ids keep counting
across restarts so citations stay unique within a session. A model's own memory lives in the LangGraph
checkpointer (``chat_checkpoints.sqlite``, one thread per session).
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from finmatch_agents.clock import utc_now
from finmatch_agents.errors import UsageError
from finmatch_agents.ids import number
from finmatch_agents.records import Query
from finmatch_agents.runs import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT PRIMARY KEY, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, model TEXT, db TEXT,
    turns INTEGER DEFAULT 0, next_query INTEGER
);
CREATE TABLE IF NOT EXISTS turns (
    session TEXT NOT NULL, n INTEGER NOT NULL, question TEXT, answer TEXT, kind TEXT, matched TEXT,
    query_ids TEXT, created_at TEXT, PRIMARY KEY (session, n)
);
CREATE TABLE IF NOT EXISTS queries (
    session TEXT NOT NULL, query_id TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (session, query_id)
);
"""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"--session: '{name}' is not a valid session name (letters, digits, '.', '_', '-')")
    return name


class ChatStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._con = connect(path, SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._con.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): what it reads and writes is not interleaved with another
        process's write to the same store (two API workers, a CLI chat beside the server)."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def open_session(self, name: str, model: str, db: str) -> bool:
        """Create the session if new; True when it already existed (a resume). One transaction: two workers
        opening the same session at once both succeed, one of them as a resume."""
        now = utc_now()
        with self._transaction() as con:
            existed = con.execute("SELECT 1 FROM sessions WHERE name = ?", [name]).fetchone() is not None
            if existed:
                con.execute("UPDATE sessions SET updated_at = ?, model = ? WHERE name = ?", [now, model, name])
            else:
                con.execute("INSERT INTO sessions (name, created_at, updated_at, model, db) VALUES (?, ?, ?, ?, ?)",
                            [name, now, now, model, db])
        return existed

    def session(self, name: str) -> dict[str, Any] | None:
        cur = self._con.execute("SELECT * FROM sessions WHERE name = ?", [name])
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    def sessions(self) -> list[dict[str, Any]]:
        cur = self._con.execute("SELECT * FROM sessions ORDER BY updated_at DESC, name")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def add_turn(self, name: str, question: str, answer: dict[str, Any], queries: list[Query]) -> int:
        with self._transaction() as con:  # the number is taken inside the write: no two turns share it
            n = int(con.execute("SELECT coalesce(max(n), 0) FROM turns WHERE session = ?", [name]).fetchone()[0]) + 1
            con.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [name, n, question, json.dumps(answer, default=str), answer.get("kind"),
                         answer.get("matched"), json.dumps(answer.get("query_ids", [])), utc_now()])
            con.executemany("INSERT OR REPLACE INTO queries VALUES (?, ?, ?)",
                            [[name, q.id, json.dumps(q.public(), default=str)] for q in queries])
            con.execute("UPDATE sessions SET turns = ?, updated_at = ? WHERE name = ?", [n, utc_now(), name])
        return n

    def turns(self, name: str) -> list[dict[str, Any]]:
        rows = self._con.execute("SELECT n, question, answer, created_at FROM turns WHERE session = ? ORDER BY n",
                                 [name]).fetchall()
        return [{"n": n, "question": q, "answer": json.loads(a), "created_at": ts} for n, q, a, ts in rows]

    def queries(self, name: str) -> list[Query]:
        rows = self._con.execute("SELECT record FROM queries WHERE session = ?", [name]).fetchall()
        out = [Query.model_validate({k: v for k, v in json.loads(r[0]).items() if k in Query.model_fields})
               for r in rows]
        return sorted(out, key=lambda q: number(q.id))

    def allocate_query_number(self, name: str) -> int:
        """The next query number of a session, taken atomically: two processes answering in the same session
        at once never cite the same id."""
        with self._transaction() as con:
            used = [number(str(r[0])) for r in con.execute("SELECT query_id FROM queries WHERE session = ?",
                                                           [name]).fetchall()]
            row = con.execute("SELECT next_query FROM sessions WHERE name = ?", [name]).fetchone()
            n = max([*used, (row[0] or 1) - 1 if row else 0], default=0) + 1
            con.execute("UPDATE sessions SET next_query = ? WHERE name = ?", [n + 1, name])
        return n
