"""Run history (SQLite, WAL, busy timeout) and the LangGraph checkpointer used for --resume.

``runs.sqlite`` keeps runs, steps (with attempt counts, so a resume provably skips finished steps),
queries, findings, model calls and each completed run's records (``run_records``, what its report renders
from); concurrent processes (scheduled jobs, chat, ad-hoc runs) can write it at the same time.
``checkpoints.sqlite`` holds LangGraph checkpoints, keyed by run id; a completed run's checkpoints are
deleted (its report, history row and records are the record), an interrupted run's are kept.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import socket
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents.clock import utc_now
from finmatch_agents.errors import StorageError
from finmatch_agents.files import locked
from finmatch_agents.processes import pid_alive
from finmatch_agents.records import CHECKPOINT_TYPES, Finding, Query, RunMeta, RunRecords

if TYPE_CHECKING:
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

BUSY_TIMEOUT_MS = 30_000
RUN_STATUSES = ("running", "completed", "failed", "interrupted")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT,
    finished_at TEXT,
    focus TEXT NOT NULL,
    model TEXT NOT NULL,
    db TEXT NOT NULL,
    table_name TEXT NOT NULL,
    job TEXT,
    fingerprint TEXT,
    dataset_rows INTEGER,
    report_path TEXT,
    queries INTEGER DEFAULT 0,
    findings INTEGER DEFAULT 0,
    model_calls INTEGER DEFAULT 0,
    tokens INTEGER DEFAULT 0,
    cost REAL DEFAULT 0,
    ungrounded INTEGER DEFAULT 0,
    duration_s REAL,
    attempts INTEGER DEFAULT 1,
    pid INTEGER,
    host TEXT,
    error TEXT,
    currency TEXT
);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    agent TEXT NOT NULL,
    step TEXT NOT NULL,
    idx INTEGER,
    status TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    elapsed_ms REAL,
    queries INTEGER DEFAULT 0,
    rows INTEGER DEFAULT 0,
    findings INTEGER DEFAULT 0,
    attempts INTEGER DEFAULT 0,
    error TEXT,
    PRIMARY KEY (run_id, agent, step)
);
CREATE TABLE IF NOT EXISTS queries (
    run_id TEXT NOT NULL,
    query_id TEXT NOT NULL,
    agent TEXT,
    step TEXT,
    title TEXT,
    sql TEXT,
    status TEXT,
    rows INTEGER,
    truncated INTEGER,
    elapsed_ms REAL,
    PRIMARY KEY (run_id, query_id)
);
CREATE TABLE IF NOT EXISTS findings (
    run_id TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    agent TEXT,
    step TEXT,
    key TEXT,
    title TEXT,
    statement TEXT,
    vals TEXT,
    query_ids TEXT,
    polarity TEXT,
    record TEXT,
    PRIMARY KEY (run_id, finding_id)
);
CREATE TABLE IF NOT EXISTS run_records (
    run_id TEXT PRIMARY KEY,
    saved_at TEXT NOT NULL,
    version TEXT,
    records TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS model_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    agent TEXT,
    step TEXT,
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    latency_ms REAL,
    cost REAL,
    status TEXT,
    error TEXT,
    ts TEXT
);
"""


def new_run_id() -> str:
    """Sortable and readable: ``20261122-0435-a1f3`` (UTC time plus four random hex digits)."""
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


#: columns added after the first release: (table, column, type), added to older stores when they are opened
MIGRATIONS = (("runs", "currency", "TEXT"), ("findings", "record", "TEXT"), ("sessions", "next_query", "INTEGER"))


@contextlib.contextmanager
def _setup_lock(path: Path) -> Iterator[None]:
    """Serialise opening ``path`` across processes: switching a new database to WAL takes an exclusive lock
    that SQLite does not wait for (two jobs starting at once got "database is locked")."""
    with locked(path.parent / f".{path.name}.setup-lock"):
        yield


def _open(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                          check_same_thread=False)
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    return con


def storage_error(path: Path, exc: BaseException) -> StorageError:
    """A SQLite or OS error on a state file as the error users see (title, cause, what to do)."""
    text = str(exc).lower()
    if "full" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return StorageError(f"{path}: the disk is full ({exc})", hint="free some space and run the command again")
    if "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        return StorageError(f"{path}: cannot write ({exc})",
                            hint="make the state folder writable or point FINMATCH_STATE_DIR elsewhere")
    return StorageError(f"{path} is not a usable SQLite database ({exc})",
                        hint=f"move {path.name} aside (a new empty one is created) or restore it from a backup")


def connect(path: Path, schema: str = "") -> sqlite3.Connection:
    """A WAL connection with a busy timeout, its ``schema`` (idempotent DDL) created. A corrupt or unwritable
    file is a :class:`StorageError`, not a raw SQLite error."""
    try:
        return _connect(path, schema)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise storage_error(path, exc) from exc


def _connect(path: Path, schema: str) -> sqlite3.Connection:
    with _setup_lock(path):
        con = _open(path)
        if schema:
            con.executescript(schema)  # executescript manages its own transaction
            for table, column, kind in MIGRATIONS:
                columns = {r[1] for r in con.execute(f"PRAGMA table_info({table})")}
                if f"TABLE IF NOT EXISTS {table} " in schema and column not in columns:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    return con


def open_saver(path: Path) -> SqliteSaver:
    """A LangGraph SQLite checkpointer on ``path``, its tables created (under the same setup lock)."""
    from langgraph.checkpoint.sqlite import SqliteSaver  # start-up speed: only runs and chats load LangGraph

    try:
        with _setup_lock(path):
            saver = SqliteSaver(_open(path), serde=checkpoint_serde())
            saver.setup()
    except (sqlite3.DatabaseError, OSError) as exc:
        raise storage_error(path, exc) from exc
    return saver


@dataclass
class RunRow:
    data: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def focus(self) -> list[str]:
        return list(json.loads(self.data["focus"]))


class RunStore:
    """History of runs; safe for several processes (WAL) and for the threads of one (a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._con = connect(path, SCHEMA)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._con.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise storage_error(self.path, exc) from exc
            try:
                yield self._con
            except sqlite3.DatabaseError as exc:
                self._con.execute("ROLLBACK")
                raise storage_error(self.path, exc) from exc
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            try:
                self._con.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise storage_error(self.path, exc) from exc

    def close(self) -> None:
        self._con.close()

    # -- runs -------------------------------------------------------------------------------------------
    def start_run(self, run: RunMeta) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT INTO runs (run_id, status, created_at, updated_at, focus, model, db, table_name, job, pid, "
                "host, currency) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run.run_id, run.created_at, utc_now(), json.dumps(list(run.focus)), run.model, run.db,
                 run.table, run.job, os.getpid(), socket.gethostname(), run.currency])

    def resume_run(self, run_id: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE runs SET status = 'running', attempts = attempts + 1, pid = ?, host = ?, "
                        "updated_at = ?, error = NULL WHERE run_id = ?",
                        [os.getpid(), socket.gethostname(), utc_now(), run_id])

    def finish_run(self, run_id: str, status: str, *, error: str | None = None, **stats: Any) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(status)
        allowed = {"fingerprint", "dataset_rows", "report_path", "queries", "findings", "model_calls", "tokens",
                   "cost", "ungrounded", "duration_s"}
        fields = {k: v for k, v in stats.items() if k in allowed and v is not None}
        sets = "".join(f", {k} = ?" for k in fields)
        with self._tx() as con:
            con.execute(f"UPDATE runs SET status = ?, finished_at = ?, updated_at = ?, error = ?{sets} "
                        "WHERE run_id = ?", [status, utc_now(), utc_now(), error, *fields.values(), run_id])

    def get(self, run_id: str) -> RunRow | None:
        self._reap_dead()
        cur = self._con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        row = cur.fetchone()
        return RunRow(dict(zip([d[0] for d in cur.description], row, strict=True))) if row else None

    def list_runs(self, limit: int = 20, job: str | None = None) -> list[RunRow]:
        self._reap_dead()
        where, args = ("WHERE job = ?", [job]) if job else ("", [])
        cur = self._con.execute(f"SELECT * FROM runs {where} ORDER BY created_at DESC, run_id DESC LIMIT ?",
                                [*args, limit])
        names = [d[0] for d in cur.description]
        return [RunRow(dict(zip(names, r, strict=True))) for r in cur.fetchall()]

    def _reap_dead(self) -> None:
        """Runs still marked running whose process died (SIGKILL, power loss) become 'interrupted'."""
        host = socket.gethostname()
        rows = self._con.execute("SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ?",
                                 [host]).fetchall()
        dead = [run_id for run_id, pid in rows if not pid_alive(pid)]
        if dead:
            with self._tx() as con:
                con.executemany("UPDATE runs SET status = 'interrupted', error = 'process ended without finishing "
                                "(killed?); resume with --resume' WHERE run_id = ? AND status = 'running'",
                                [[d] for d in dead])
                con.executemany("UPDATE steps SET status = 'interrupted' WHERE run_id = ? AND status = 'running'",
                                [[d] for d in dead])

    # -- events -----------------------------------------------------------------------------------------
    def record(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        run_id = event["run_id"]
        with self._tx() as con:
            if kind == "step_started":
                con.execute(
                    "INSERT INTO steps (run_id, agent, step, idx, status, started_at, attempts) "
                    "VALUES (?, ?, ?, ?, 'running', ?, 1) ON CONFLICT (run_id, agent, step) DO UPDATE SET "
                    "status = 'running', started_at = excluded.started_at, attempts = steps.attempts + 1, "
                    "error = NULL", [run_id, event["agent"], event["step"], event.get("index"), event["ts"]])
            elif kind == "step_finished":
                con.execute(
                    "UPDATE steps SET status = ?, finished_at = ?, elapsed_ms = ?, queries = ?, rows = ?, "
                    "findings = ?, error = ? WHERE run_id = ? AND agent = ? AND step = ?",
                    [event.get("status", "done"), event["ts"], event.get("elapsed_ms"), event.get("queries", 0),
                     event.get("rows", 0), event.get("findings", 0), event.get("error"), run_id, event["agent"],
                     event["step"]])
            elif kind == "query":
                con.execute(
                    "INSERT OR REPLACE INTO queries (run_id, query_id, agent, step, title, status, rows, elapsed_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, event["query_id"], event["agent"], event["step"], event.get("title"),
                     event.get("status"), event.get("rows"), event.get("elapsed_ms")])
            elif kind == "model_call":
                con.execute(
                    "INSERT INTO model_calls (run_id, agent, step, model, prompt_tokens, completion_tokens, "
                    "latency_ms, cost, status, error, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, event["agent"], event["step"], event.get("model"), event.get("prompt_tokens"),
                     event.get("completion_tokens"), event.get("latency_ms"), event.get("cost"),
                     event.get("status"), event.get("error"), event["ts"]])

    def save_results(self, run_id: str, queries: Sequence[Query], findings: Sequence[Finding]) -> None:
        """Full query text and findings of a finished run (for `history show` and `diff`). Each finding is also
        kept whole (``record``), so ``diff`` reads back the record the step produced."""
        with self._tx() as con:
            con.executemany(
                "INSERT OR REPLACE INTO queries (run_id, query_id, agent, step, title, sql, status, rows, truncated, "
                "elapsed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[run_id, q.id, q.agent, q.step, q.title, q.sql, q.status, q.rows, int(q.truncated), q.elapsed_ms]
                 for q in queries])
            con.executemany(
                "INSERT OR REPLACE INTO findings (run_id, finding_id, agent, step, key, title, statement, vals, "
                "query_ids, polarity, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[run_id, f.id, f.agent, f.step, f.key, f.title, f.statement,
                  json.dumps(f.to_json()["values"], sort_keys=True, default=str), json.dumps(list(f.query_ids)),
                  f.polarity, f.model_dump_json()] for f in findings])

    def save_records(self, records: RunRecords) -> None:
        """A finished run's records, so its report can be rendered again later (``finmatch report html``).
        Result samples stay out (they never reach the run store), as in :meth:`save_results`."""
        kept = records.model_copy(update={"queries": tuple(q.model_copy(update={"sample": ()})
                                                           for q in records.queries)})
        with self._tx() as con:
            con.execute("INSERT OR REPLACE INTO run_records (run_id, saved_at, version, records) VALUES (?, ?, ?, ?)",
                        [records.run.run_id, utc_now(), records.run.version, kept.model_dump_json()])

    def records(self, run_id: str) -> RunRecords | None:
        """The records a completed run's report was rendered from, or None (runs from before they were kept)."""
        row = self._con.execute("SELECT records FROM run_records WHERE run_id = ?", [run_id]).fetchone()
        return RunRecords.model_validate_json(row[0]) if row else None

    def has_records(self, run_id: str) -> bool:
        return self._con.execute("SELECT 1 FROM run_records WHERE run_id = ?", [run_id]).fetchone() is not None

    def findings(self, run_id: str) -> list[Finding]:
        """The findings of a run as records (rows written before records were kept whole are rebuilt)."""
        out = []
        for row in self.table_rows("findings", run_id):
            if row.get("record"):
                out.append(Finding.model_validate_json(row["record"]))
                continue
            out.append(Finding(id=row["finding_id"], agent=row["agent"] or "", step=row["step"] or "",
                               key=row["key"] or "", title=row["title"] or "", statement=row["statement"] or "",
                               values=json.loads(row["vals"] or "{}"), query_ids=tuple(json.loads(row["query_ids"]
                                                                                             or "[]")),
                               polarity=row["polarity"] or "neutral"))
        return out

    def mark_open_steps(self, run_id: str, status: str) -> None:
        with self._tx() as con:
            con.execute("UPDATE steps SET status = ? WHERE run_id = ? AND status = 'running'", [status, run_id])

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        cur = self._con.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY started_at, agent, idx", [run_id])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def table_rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        if table not in ("queries", "findings", "model_calls"):
            raise ValueError(table)
        order = {"queries": "query_id", "findings": "finding_id", "model_calls": "id"}[table]
        cur = self._con.execute(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY {order}", [run_id])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        if table == "queries":
            rows.sort(key=lambda r: int(str(r["query_id"])[1:]))
        return rows


#: LangChain message classes the chat and model loops checkpoint
_MESSAGE_TYPES = (("langchain_core.messages.ai", "AIMessage"), ("langchain_core.messages.human", "HumanMessage"),
                  ("langchain_core.messages.system", "SystemMessage"), ("langchain_core.messages.tool", "ToolMessage"),
                  ("langchain_core.messages.ai", "AIMessageChunk"))


def checkpoint_serde() -> JsonPlusSerializer:
    """The serializer for checkpoints: it rebuilds only our records and LangChain's messages (an allow-list,
    so a tampered checkpoint file cannot make it construct anything else)."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer  # start-up speed (see open_saver)

    allowed = [(t.__module__, t.__name__) for t in CHECKPOINT_TYPES] + list(_MESSAGE_TYPES)
    return JsonPlusSerializer(allowed_msgpack_modules=allowed)


def open_checkpointer(state_dir: Path) -> SqliteSaver:
    return open_saver(state_dir / "checkpoints.sqlite")
