"""The engine interface analyses talk to, and the DuckDB sandbox that implements it (DESIGN §5).

Analysis connections are opened read-only with external access, extension auto-loading and Python
replacement scans off, threads and memory capped, then the configuration is locked. Each thread gets
its own cursor; on every cursor, tables with a ``_fivetran_deleted`` column are shadowed by a temporary
view without the deleted rows, so no analysis, chat or user query ever sees them (the guard forbids
qualified names, which would reach around the view). Every statement is validated by :mod:`guard`,
runs under a deadline (``interrupt()``), is capped at a row limit with an explicit ``truncated`` flag,
and is recorded in the caller's :class:`QueryLog`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from finmatch_agents.errors import (
    DataError,
    Interrupted,
    MissingDatabase,
    QueryFailed,
    QueryTimeout,
    SQLRefused,
)
from finmatch_agents.evidence import SAMPLE_ROWS, QueryLog, QueryRecord, jsonable
from finmatch_agents.warehouse import guard
from finmatch_agents.warehouse.sqltext import quote_ident

if TYPE_CHECKING:
    import duckdb

SOFT_DELETE_COLUMN = "_fivetran_deleted"
HARD_ROW_CAP = 1_000_000


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str


@dataclass
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    record: QueryRecord
    #: ``columnar=True`` results: one numpy array per column (masked where NULL) instead of ``rows``
    arrays: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.record.id

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def first(self) -> dict[str, Any]:
        """The first row as a dict (``{}`` when the result is empty)."""
        return dict(zip(self.columns, self.rows[0], strict=True)) if self.rows else {}

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class Engine(Protocol):
    """What analyses need from a warehouse; a later engine (Databricks SQL, Postgres...) implements this."""

    @property
    def location(self) -> str: ...

    def tables(self) -> list[str]: ...

    def columns(self, table: str) -> list[ColumnInfo]: ...

    def query(self, sql: str, *, log: QueryLog, title: str = "", max_rows: int | None = None,
              timeout: float | None = None) -> QueryResult: ...

    def soft_deleted_count(self, table: str, *, log: QueryLog) -> int: ...

    def close(self) -> None: ...


@dataclass
class SandboxLimits:
    max_rows: int = 10_000
    timeout: float = 30.0
    threads: int = 2
    memory_limit: str = "4GB"


@dataclass
class _Catalog:
    tables: dict[str, list[ColumnInfo]] = field(default_factory=dict)
    soft_delete: list[str] = field(default_factory=list)


class DuckDBEngine:
    """Read-only, locked-down DuckDB connection shared by the threads of one process."""

    def __init__(self, path: Path, limits: SandboxLimits | None = None) -> None:
        import duckdb

        self.path = Path(path)
        self.limits = limits or SandboxLimits()
        if not self.path.exists():
            raise MissingDatabase(f"no database at {self.path}",
                                  hint="create one with `finmatch data generate` or `finmatch data load FILE`")
        config: dict[str, str | bool | int | float | list[str]] = {
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "python_enable_replacements": False,
            "threads": self.limits.threads,
            "memory_limit": self.limits.memory_limit,
        }
        try:
            self._con = duckdb.connect(str(self.path), read_only=True, config=config)
        except duckdb.IOException as exc:
            from finmatch_agents.data.writer import busy_from, is_lock_error

            if is_lock_error(exc):
                raise busy_from(exc, self.path) from exc
            raise DataError(f"cannot open database: {exc}", file=str(self.path)) from exc
        except duckdb.Error as exc:
            raise DataError(f"not a usable DuckDB database: {exc}", file=str(self.path)) from exc
        self._catalog_name = self._con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        self._catalog = self._read_catalog()
        if not self._con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:  # type: ignore[index]
            self._con.execute("SET lock_configuration = true")
        # else: another engine of this process opened the same file and already locked the shared instance
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursor_lock = threading.Lock()
        self._cancel = threading.Event()

    # -- catalog ---------------------------------------------------------------------------------------
    def _read_catalog(self) -> _Catalog:
        rows = self._con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_catalog = current_database() "
            "ORDER BY table_name, ordinal_position").fetchall()
        catalog = _Catalog()
        for table, column, dtype in rows:
            catalog.tables.setdefault(table, []).append(ColumnInfo(column, dtype))
        catalog.soft_delete = [t for t, cols in catalog.tables.items()
                               if any(c.name == SOFT_DELETE_COLUMN for c in cols)]
        return catalog

    @property
    def location(self) -> str:
        return str(self.path)

    def tables(self) -> list[str]:
        return sorted(self._catalog.tables)

    def columns(self, table: str) -> list[ColumnInfo]:
        return list(self._catalog.tables.get(table.lower(), []))

    def has_table(self, table: str) -> bool:
        return table.lower() in self._catalog.tables

    def soft_delete_tables(self) -> list[str]:
        return list(self._catalog.soft_delete)

    # -- execution -------------------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            for table in self._catalog.soft_delete:
                ident = quote_ident(table)
                cur.execute(f"CREATE TEMP VIEW {ident} AS SELECT * FROM {quote_ident(self._catalog_name)}.main."
                            f"{ident} WHERE NOT coalesce({SOFT_DELETE_COLUMN}, false)")
            self._local.cursor = cur
            with self._cursor_lock:
                self._cursors.append(cur)
        return cur

    def query(self, sql: str, *, log: QueryLog, title: str = "", max_rows: int | None = None,
              timeout: float | None = None, columnar: bool = False) -> QueryResult:
        """Validate and run ``sql``. ``columnar`` fetches numpy arrays (``result.arrays``) instead of Python
        tuples: for engines that read one row per customer, several times faster and far smaller."""
        qid = log.next_id()
        try:
            checked = guard.check(sql, frozenset(self._catalog.tables))
        except SQLRefused as exc:
            log.add(QueryRecord(id=qid, sql=sql.strip(), title=title, agent=log.agent, step=log.step,
                                status="refused", error=exc.message, rule=exc.rule))
            raise
        return self._execute(qid, sql, log=log, title=title, max_rows=max_rows, timeout=timeout,
                             tables=checked.tables, columnar=columnar)

    def soft_deleted_count(self, table: str, *, log: QueryLog) -> int:
        """Rows hidden by the soft-delete view. Fixed system SQL: the only statement that reads the base table."""
        if table.lower() not in self._catalog.soft_delete:
            return 0
        sql = (f"SELECT count(*) AS deleted_rows FROM {quote_ident(self._catalog_name)}.main.{quote_ident(table)} "
               f"WHERE coalesce({SOFT_DELETE_COLUMN}, false)")
        return int(self._execute(log.next_id(), sql, log=log, title=f"Soft-deleted rows in {table} (excluded)",
                                 max_rows=1, timeout=None, tables=(table,)).scalar())

    def _execute(self, qid: str, sql: str, *, log: QueryLog, title: str, max_rows: int | None,
                 timeout: float | None, tables: tuple[str, ...], columnar: bool = False) -> QueryResult:
        import duckdb

        if self._cancel.is_set():
            raise Interrupted("run cancelled")
        cap = min(max_rows or self.limits.max_rows, HARD_ROW_CAP)
        deadline = timeout or self.limits.timeout
        record = functools.partial(QueryRecord, id=qid, sql=sql.strip(), title=title, agent=log.agent, step=log.step,
                                   tables=tables)
        cur = self._cursor()
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            cur.interrupt()

        timer = threading.Timer(deadline, stop)
        timer.daemon = True
        started = time.perf_counter()
        timer.start()
        try:
            cur.execute(sql)
            description = cur.description or []
            arrays = cur.fetchnumpy() if columnar else None
            fetched = [] if columnar else cur.fetchmany(cap + 1)
        except duckdb.InterruptException as exc:
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            if fired.is_set() and not self._cancel.is_set():
                err = QueryTimeout(deadline, sql=sql)
                log.add(record(status="timeout", elapsed_ms=elapsed, error=err.message, rule="deadline"))
                raise err from exc
            log.add(record(status="error", elapsed_ms=elapsed, error="interrupted"))
            raise Interrupted("query interrupted") from exc
        except KeyboardInterrupt:
            cur.interrupt()
            log.add(record(status="error", error="interrupted"))
            raise
        except duckdb.PermissionException as exc:
            log.add(record(status="refused", error=str(exc), rule="sandbox"))
            raise SQLRefused("sandbox", f"the read-only sandbox blocked the statement: {first_line(exc)}",
                             sql=sql) from exc
        except duckdb.Error as exc:
            elapsed = round((time.perf_counter() - started) * 1000, 1)
            log.add(record(status="error", elapsed_ms=elapsed, error=first_line(exc)))
            raise QueryFailed(first_line(exc)) from exc
        finally:
            timer.cancel()
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        columns = [d[0] for d in description]
        types = [str(d[1]) for d in description]
        if arrays is not None:
            import numpy as np  # only columnar callers need it (keeps this module light for the CLI)

            count = len(next(iter(arrays.values()))) if arrays else 0
            truncated = count > cap
            arrays = {k: v[:cap] for k, v in arrays.items()}
            head = [[None if v is np.ma.masked else v for v in arrays[c][:SAMPLE_ROWS].tolist()] for c in columns]
            rows: list[tuple[Any, ...]] = []
            sample = tuple(tuple(jsonable(v) for v in row) for row in zip(*head, strict=True))
            n = min(count, cap)
        else:
            truncated = len(fetched) > cap
            rows = fetched[:cap]
            sample = tuple(tuple(jsonable(v) for v in row) for row in rows[:SAMPLE_ROWS])
            n = len(rows)
        done = log.add(record(rows=n, truncated=truncated, elapsed_ms=elapsed, columns=tuple(columns),
                              sample=sample))
        return QueryResult(columns=columns, types=types, rows=rows, truncated=truncated, record=done, arrays=arrays)

    def cancel(self) -> None:
        """Stop every running query (Ctrl-C, SIGTERM) and refuse new ones; safe from a signal handler."""
        self._cancel.set()
        self.interrupt_running()

    def interrupt_running(self) -> None:
        """Stop the queries running now but keep the engine usable (chat: Ctrl-C cancels one answer)."""
        with self._cursor_lock:
            cursors = list(self._cursors)
        for cur in cursors:
            with contextlib.suppress(Exception):
                cur.interrupt()

    def close(self) -> None:
        with self._cursor_lock:
            for cur in self._cursors:
                with contextlib.suppress(Exception):
                    cur.close()
            self._cursors.clear()
        self._con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def open_engine(settings: Any) -> DuckDBEngine:
    """The sandbox for ``settings`` (a :class:`finmatch_agents.config.Settings`)."""
    return DuckDBEngine(settings.db, SandboxLimits(max_rows=settings.sql_max_rows, timeout=settings.sql_timeout,
                                                   threads=settings.effective_threads,
                                                   memory_limit=settings.memory_limit))
