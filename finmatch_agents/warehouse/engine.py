"""The engine interface analyses talk to, and the DuckDB sandbox that implements it (DESIGN §5).

Analysis connections are opened read-only with external access, extension auto-loading and Python
replacement scans off, threads and memory capped, then the configuration is locked. Each thread gets
its own cursor; on every cursor, tables with a ``_fivetran_deleted`` column are shadowed by a temporary
view without the deleted rows, so no analysis, chat or user query ever sees them (the guard forbids
qualified names, which would reach around the view). Every statement is validated by :mod:`guard`,
runs under a deadline (``interrupt()``), is capped at a row limit with an explicit ``truncated`` flag,
and is recorded in the caller's :class:`QueryLog` (refused and crashed statements included).

Results are fetched as Arrow record batches and measured *before* they become Python objects: a result
over :data:`MAX_RESULT_BYTES` or a single value over :data:`MAX_CELL_BYTES` is refused (DuckDB's memory
limit does not cover the conversion to Python). The deadline covers fetching and conversion too. Batches
are turned into Python rows by a private in-memory DuckDB connection, so values have exactly the types
DuckDB's own ``fetchall()`` gives.

Run tables (:meth:`DuckDBEngine.materialize`): an analysis run may build an intermediate result once (one row per
customer, say) and let many queries read it instead of scanning every record again. It lives in a private
in-memory database attached to this engine's connection (the data file stays read-only); every cursor sees it
under its plain name through a temporary view, so the guard's no-qualified-names rule still holds. Its
defining SELECT is checked by the guard and logged like any query, so the provenance appendix shows it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import duckdb
import numpy as np
import pyarrow as pa

from finmatch_agents.errors import (
    CorruptDatabase,
    FinMatchError,
    Interrupted,
    MissingDatabase,
    QueryFailed,
    QueryTimeout,
    SQLRefused,
    UsageError,
)
from finmatch_agents.evidence import SAMPLE_ROWS, QueryLog, QueryRecord, jsonable
from finmatch_agents.warehouse import verdicts
from finmatch_agents.warehouse.locking import busy_from, is_lock_error
from finmatch_agents.warehouse.prefetch import Prefetcher
from finmatch_agents.warehouse.results import HARD_ROW_CAP as HARD_ROW_CAP
from finmatch_agents.warehouse.results import MAX_CELL_BYTES as MAX_CELL_BYTES
from finmatch_agents.warehouse.results import MAX_RESULT_BYTES as MAX_RESULT_BYTES
from finmatch_agents.warehouse.results import SOFT_DELETE_COLUMN as SOFT_DELETE_COLUMN
from finmatch_agents.warehouse.results import CatalogReads, _Catalog, _check_cells, _Oversized
from finmatch_agents.warehouse.results import ColumnInfo as ColumnInfo
from finmatch_agents.warehouse.results import QueryResult as QueryResult
from finmatch_agents.warehouse.results import SandboxLimits as SandboxLimits
from finmatch_agents.warehouse.results import first_line as first_line
from finmatch_agents.warehouse.sqltext import MAX_SQL_CHARS, quote_ident

if TYPE_CHECKING:
    from finmatch_agents.units import Unit

#: rows per Arrow batch while fetching (DuckDB's vector size); limits and deadline are checked per batch
FETCH_BATCH_ROWS = 2048
#: result types whose Arrow values convert to exactly the Python values DuckDB's fetchall() gives; other types
#: (HUGEINT, UUID, INTERVAL, nested...) go through the private DuckDB connection instead
_ARROW_EXACT = frozenset({"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
                          "UBIGINT", "FLOAT", "DOUBLE", "VARCHAR", "DATE", "TIMESTAMP", "TIME", "BLOB"})
#: DuckDB error classes whose text may quote data values (redacted unless the value is in the SQL itself)
_VALUE_ERRORS = ("Conversion Error", "Invalid Input Error", "Out of Range Error", "Constraint Error",
                 "Invalid Error", "Not implemented Error")
_QUOTED = re.compile(r"'((?:[^']|'')*)'|\"((?:[^\"]|\"\")*)\"")


class Engine(Protocol):
    """What analyses need from a warehouse. Three implement it: :class:`DuckDBEngine` (the default, embedded),
    :class:`finmatch_agents.warehouse.spark.SparkEngine` and
    :class:`finmatch_agents.warehouse.databricks.DatabricksEngine` (docs/engines.md).

    Every engine takes DuckDB SQL (named queries are authored once, in DuckDB's dialect), checks it with the guard,
    translates it to its :attr:`dialect` (:func:`finmatch_agents.warehouse.dialect.to_dialect`), runs it under a
    deadline and a row cap, hides soft-deleted rows, logs it, and returns values of the Python types DuckDB's own
    ``fetchall()`` gives, so a figure is the same whichever engine computed it. Opening an engine connects
    (errors name the engine, the object and the server's message)."""

    #: ``"duckdb"``, ``"spark"`` or ``"databricks"``: the SQL dialect the engine runs (picks variant files)
    @property
    def dialect(self) -> str: ...

    @property
    def location(self) -> str: ...

    def tables(self) -> list[str]: ...

    def columns(self, table: str) -> list[ColumnInfo]: ...

    def has_table(self, table: str) -> bool: ...

    def query(self, sql: str, *, log: QueryLog, title: str = "", max_rows: int | None = None,
              timeout: float | None = None, units: dict[str, Unit] | None = None) -> QueryResult: ...

    def explain(self, sql: str) -> str: ...

    def soft_deleted_count(self, table: str, *, log: QueryLog) -> int: ...

    def cancel(self) -> None: ...

    def interrupt_running(self) -> None: ...

    def close(self) -> None: ...


class DuckDBEngine(CatalogReads):
    """Read-only, locked-down DuckDB connection shared by the threads of one process."""

    def __init__(self, path: Path, limits: SandboxLimits | None = None) -> None:
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
        config["arrow_lossless_conversion"] = True  # HUGEINT, UUID... survive the Arrow round trip exactly
        try:
            self._con = duckdb.connect(str(self.path), read_only=True, config=config)
        except duckdb.IOException as exc:
            if is_lock_error(exc):
                raise busy_from(exc, self.path) from exc
            raise CorruptDatabase(self.path, exc) from exc
        except duckdb.Error as exc:
            raise CorruptDatabase(self.path, exc) from exc
        try:
            self._catalog_name = self._con.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
            self._catalog = self._read_catalog()
            if not self._con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:  # type: ignore[index]
                self._con.execute("SET lock_configuration = true")
            # else: another engine of this process opened the same file and already locked the shared instance
        except duckdb.Error as exc:  # a damaged file can open and then fail on its first read
            self._con.close()
            raise CorruptDatabase(self.path, exc) from exc
        self._convert = duckdb.connect(":memory:", config={
            "enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False, "python_enable_replacements": False, "threads": 1})
        self._convert.execute("SET lock_configuration = true")
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._cursor_lock = threading.Lock()
        self._cancel = threading.Event()
        #: run tables built by :meth:`materialize`: name -> the SELECT that defined it
        self._run_tables: dict[str, str] = {}
        self._run_lock = threading.Lock()
        self._run_db: str | None = None  # alias of the attached in-memory database that holds them
        self._run_notes: dict[str, tuple[str, Any]] = {}  # check name -> (run table, its result)
        #: statements started by :meth:`prefetch`, waiting for the :meth:`query` call that asks for them
        self._prefetched = Prefetcher(lambda sql, log: self._query(sql, log=log), 2, "finmatch-prefetch")

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
        for table in catalog.soft_delete:
            self._soft_delete_rule(catalog, table)
        return catalog

    def _soft_delete_rule(self, catalog: _Catalog, table: str) -> None:
        """How ``table``'s soft-delete flag reads as a boolean; or why the table cannot be read safely.

        A BOOLEAN column is used as is. A column written by another tool as text or numbers is cast when
        every value is a boolean spelling (true/false, t/f, 1/0...). Anything else makes this table (and only
        this table) unusable: its rows cannot be told apart, so no query may read it."""
        dtype = next(c.type for c in catalog.tables[table] if c.name == SOFT_DELETE_COLUMN)
        col = quote_ident(SOFT_DELETE_COLUMN)
        if dtype == "BOOLEAN":
            catalog.deleted_when[table] = f"coalesce({col}, false)"
            return
        base = f"{quote_ident(self._catalog_name)}.main.{quote_ident(table)}"
        try:
            bad = self._con.execute(f"SELECT count(*) FROM {base} WHERE {col} IS NOT NULL AND "
                                    f"TRY_CAST({col} AS BOOLEAN) IS NULL").fetchone()
        except duckdb.Error:
            bad = None
        if bad is not None and bad[0] == 0:
            catalog.deleted_when[table] = f"coalesce(TRY_CAST({col} AS BOOLEAN), false)"
            return
        what = f"{bad[0]:,} value(s) that are not true/false" if bad is not None else "values that cannot be read"
        catalog.unusable[table] = (f"table {table} cannot be read safely: its soft-delete column {SOFT_DELETE_COLUMN} "
                                   f"is {dtype} with {what}, so deleted rows cannot be told apart")

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def dialect(self) -> str:
        return "duckdb"

    @property
    def name(self) -> str:
        return "duckdb"

    def explain(self, sql: str) -> str:
        """The plan DuckDB would run for ``sql`` (checked by the guard first; nothing is executed)."""
        text = sql if isinstance(sql, str) else str(sql)
        verdicts.check(text, frozenset(self._catalog.tables) | frozenset(self._run_tables))
        try:
            rows = self._cursor().execute(f"EXPLAIN {text}").fetchall()
        except duckdb.Error as exc:
            raise QueryFailed(redact_values(first_line(exc), text)) from exc
        return "\n".join(str(row[-1]) for row in rows)

    # -- execution -------------------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._con.cursor()
            for table, deleted in self._catalog.deleted_when.items():
                ident = quote_ident(table)
                try:
                    cur.execute(f"CREATE TEMP VIEW {ident} AS SELECT * FROM {quote_ident(self._catalog_name)}.main."
                                f"{ident} WHERE NOT {deleted}")
                except duckdb.Error as exc:  # one table's problem must never break the others
                    self._catalog.unusable[table] = f"table {table} cannot be read safely: {first_line(exc)}"
            self._local.cursor = cur
            with self._cursor_lock:
                self._cursors.append(cur)
        return cur

    def query(self, sql: str, *, log: QueryLog, title: str = "", max_rows: int | None = None,
              timeout: float | None = None, columnar: bool = False, units: dict[str, Unit] | None = None
              ) -> QueryResult:
        """Validate and run ``sql``. ``columnar`` fetches numpy arrays (``result.arrays``) instead of Python
        tuples: for engines that read one row per customer, several times faster and far smaller. ``units``
        (from a named query's header) are kept on the record, so grounding knows what each figure is."""
        text = sql if isinstance(sql, str) else str(sql)
        if max_rows is None and timeout is None and not columnar:
            adopted = self._prefetched.adopt(text, log, title, units or {})
            if adopted is not None:
                return adopted
        return self._query(text, log=log, title=title, max_rows=max_rows, timeout=timeout, columnar=columnar,
                           units=units)

    def _query(self, text: str, *, log: QueryLog, title: str = "", max_rows: int | None = None,
               timeout: float | None = None, columnar: bool = False, units: dict[str, Unit] | None = None
               ) -> QueryResult:
        qid = log.next_id()

        def refused(exc: SQLRefused) -> SQLRefused:
            log.add(QueryRecord(id=qid, sql=text.strip()[:MAX_SQL_CHARS], title=title, agent=log.agent,
                                step=log.step, status="refused", error=exc.message, rule=exc.rule))
            return exc

        try:
            checked = verdicts.check(text, frozenset(self._catalog.tables) | frozenset(self._run_tables))
        except SQLRefused as exc:
            raise refused(exc) from None
        except Exception as exc:  # the guard fails closed; the statement is still logged
            raise refused(SQLRefused("syntax", f"cannot check the statement ({type(exc).__name__})",
                                     sql=text)) from exc
        broken = [t for t in checked.tables if t in self._catalog.unusable]
        if broken:
            raise refused(SQLRefused("unusable-table", self._catalog.unusable[broken[0]], sql=text,
                                     hint=f"reload {broken[0]} with a boolean {SOFT_DELETE_COLUMN} (`finmatch data "
                                     f"load FILE --table {broken[0]} --replace`)"))
        return self._execute(qid, text, log=log, title=title, max_rows=max_rows, timeout=timeout,
                             tables=checked.tables, columnar=columnar, units=units or {})

    def prefetch(self, *statements: str) -> None:
        """Start ``statements`` now, two at a time beside the caller, because the caller will :meth:`query` each
        of them next (same text, default row cap and deadline, rows as tuples).

        Each runs exactly as :meth:`query` would (the guard, the views, the limits), but its record waits: the
        later ``query`` call gives it that call's id, title and log, in that call's order, so what a run logs
        and reports is the same as when the statements run one after another; only the wall time differs.
        A profile's independent full-table scans took 3.6 s this way against 5.5 s in sequence at 10M
        records (:class:`~finmatch_agents.warehouse.prefetch.Prefetcher`)."""
        self._prefetched.start(statements)

    def soft_deleted_count(self, table: str, *, log: QueryLog) -> int:
        """Rows hidden by the soft-delete view. Fixed system SQL: the only statement that reads the base table."""
        table = table.lower()
        if table not in self._catalog.soft_delete:
            return 0
        if table in self._catalog.unusable:
            raise SQLRefused("unusable-table", self._catalog.unusable[table],
                             hint=f"reload {table} with a boolean {SOFT_DELETE_COLUMN}")
        sql = (f"SELECT count(*) AS deleted_rows FROM {quote_ident(self._catalog_name)}.main.{quote_ident(table)} "
               f"WHERE {self._catalog.deleted_when[table]}")
        return int(self._execute(log.next_id(), sql, log=log, title=f"Soft-deleted rows in {table} (excluded)",
                                 max_rows=1, timeout=None, tables=(table,)).scalar())

    def distinct_values(self, table: str, column: str, *, log: QueryLog) -> list[str]:
        """Every distinct non-empty value of ``column`` as text (fixed system SQL, through the soft-delete view).

        The PII masker learns the dataset's personal data from this, so it can recognise it in any text."""
        table = table.lower()
        if table not in self._catalog.tables or table in self._catalog.unusable:
            return []
        ident = quote_ident(column)
        sql = (f"SELECT DISTINCT CAST({ident} AS VARCHAR) AS v FROM {quote_ident(table)} "
               f"WHERE {ident} IS NOT NULL")
        result = self._execute(log.next_id(), sql, log=log, title=f"Distinct values of {table}.{column}",
                               max_rows=HARD_ROW_CAP, timeout=None, tables=(table,))
        return [str(row[0]) for row in result.rows]

    def _converter(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the private in-memory connection that turns Arrow batches into rows."""
        conv = getattr(self._local, "convert", None)
        if conv is None:
            conv = self._convert.cursor()
            self._local.convert = conv
            with self._cursor_lock:
                self._cursors.append(conv)
        return conv

    def _rows(self, batch: pa.RecordBatch, exact: bool) -> list[tuple[Any, ...]]:
        """Python rows of ``batch``, typed exactly as DuckDB's own fetchall() would type them."""
        if exact:
            try:
                return list(zip(*(column.to_pylist() for column in batch.columns), strict=True))
            except (OverflowError, ValueError):  # e.g. infinite dates: let DuckDB convert them its way
                pass
        return self._converter().from_arrow(batch).fetchall()

    def _execute(self, qid: str, sql: str, *, log: QueryLog, title: str, max_rows: int | None,
                 timeout: float | None, tables: tuple[str, ...], columnar: bool = False,
                 units: dict[str, Unit] | None = None) -> QueryResult:
        if self._cancel.is_set():
            raise Interrupted("run cancelled")
        cap = min(max_rows or self.limits.max_rows, HARD_ROW_CAP)
        deadline = timeout or self.limits.timeout
        record = functools.partial(QueryRecord, id=qid, sql=sql.strip(), title=title, agent=log.agent, step=log.step,
                                   tables=tables, units=units or {})
        cur = self._cursor()
        self._run_views(cur, tables)
        broken = [t for t in tables if t in self._catalog.unusable]
        if broken:  # its shadow view could not be created on this cursor
            err = SQLRefused("unusable-table", self._catalog.unusable[broken[0]], sql=sql)
            log.add(record(status="refused", error=err.message, rule=err.rule))
            raise err
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            cur.interrupt()

        def ms() -> float:
            return round((time.perf_counter() - started) * 1000, 1)

        def failed(exc: BaseException) -> FinMatchError:
            """The domain error for a failure while running or fetching, logged once."""
            text = first_line(exc)
            if fired.is_set() and not self._cancel.is_set():
                timeout_err = QueryTimeout(deadline, sql=sql)
                log.add(record(status="timeout", elapsed_ms=ms(), error=timeout_err.message, rule="deadline"))
                return timeout_err
            if isinstance(exc, duckdb.InterruptException) or text.startswith("INTERRUPT Error"):
                log.add(record(status="error", elapsed_ms=ms(), error="interrupted"))
                return Interrupted("query interrupted")
            if isinstance(exc, duckdb.PermissionException) or text.startswith("Permission Error"):
                log.add(record(status="refused", elapsed_ms=ms(), error=text, rule="sandbox"))
                return SQLRefused("sandbox", f"the read-only sandbox blocked the statement: {text}", sql=sql)
            if text.startswith(("IO Error", "Corrupt database", "Serialization Error")):
                # external access is off: an I/O failure can only come from the database file itself
                log.add(record(status="error", elapsed_ms=ms(), error=text))
                return CorruptDatabase(self.path, text)
            message = redact_values(text, sql)
            log.add(record(status="error", elapsed_ms=ms(), error=message))
            hint = ("the query needs more memory than the sandbox allows (FINMATCH_MEMORY_LIMIT); aggregate or "
                    "filter more") if text.startswith("Out of Memory Error") else None
            return QueryFailed(message, hint=hint)

        timer = threading.Timer(deadline, stop)
        timer.daemon = True
        started = time.perf_counter()
        timer.start()
        reader: pa.RecordBatchReader | None = None
        rows: list[tuple[Any, ...]] = []
        batches: list[pa.RecordBatch] = []
        arrays: dict[str, Any] | None = None
        count = 0  # rows fetched so far
        try:
            rel = cur.sql(sql)
            columns, types = list(rel.columns), [str(t) for t in rel.types]
            exact = all(t in _ARROW_EXACT or t.startswith("DECIMAL(") for t in types)
            reader = rel.to_arrow_reader(FETCH_BATCH_ROWS)
            total = 0
            for batch in reader:
                total += batch.nbytes
                if total > MAX_RESULT_BYTES:
                    raise _Oversized("result-size", f"the result is larger than {MAX_RESULT_BYTES:,} bytes "
                                     f"(after {count:,} rows)")
                _check_cells(batch, columns, MAX_CELL_BYTES)
                if count + batch.num_rows > cap + 1:
                    batch = batch.slice(0, cap + 1 - count)
                if columnar:
                    batches.append(batch)
                    count += batch.num_rows
                else:
                    rows.extend(self._rows(batch, exact))
                    count = len(rows)
                if time.perf_counter() - started > deadline:
                    fired.set()
                    raise duckdb.InterruptException("INTERRUPT Error: deadline passed while fetching")
                if count > cap:
                    break
            if columnar:  # DuckDB's own numpy conversion (masked where NULL), as fetchnumpy() gives
                table = pa.Table.from_batches(batches, schema=reader.schema).slice(0, cap)
                arrays = self._converter().from_arrow(table).fetchnumpy()
        except _Oversized as exc:
            log.add(record(status="refused", elapsed_ms=ms(), error=exc.message, rule=exc.rule))
            raise SQLRefused(exc.rule, exc.message, sql=sql, hint="select fewer or smaller values: aggregate, "
                             "filter, LIMIT, or leave out long text and list columns") from None
        except KeyboardInterrupt:
            cur.interrupt()
            log.add(record(status="error", error="interrupted"))
            raise
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise failed(exc) from exc
        except Exception as exc:  # a bug of ours: still leave a record of the statement
            log.add(record(status="error", elapsed_ms=ms(), error=f"internal error ({type(exc).__name__})"))
            raise
        finally:
            timer.cancel()
            if reader is not None:
                with contextlib.suppress(Exception):
                    reader.close()
        elapsed = ms()
        truncated = count > cap
        if arrays is not None:
            head = [[None if v is np.ma.masked else v for v in arrays[c][:SAMPLE_ROWS].tolist()] for c in columns]
            sample = tuple(tuple(jsonable(v) for v in row) for row in zip(*head, strict=True))
        else:
            rows = rows[:cap]
            sample = tuple(tuple(jsonable(v) for v in row) for row in rows[:SAMPLE_ROWS])
        done = log.add(record(rows=min(count, cap), truncated=truncated, elapsed_ms=elapsed, columns=tuple(columns),
                              sample=sample))
        return QueryResult(columns=columns, types=types, rows=rows, truncated=truncated, record=done, arrays=arrays)

    # -- run tables ------------------------------------------------------------------------------------
    def has_run_table(self, name: str, sql: str | None = None) -> bool:
        """Whether run table ``name`` exists (and, with ``sql``, was defined by exactly that SELECT)."""
        defined = self._run_tables.get(name.lower())
        return defined is not None and (sql is None or defined == sql.strip())

    def materialize(self, name: str, sql: str, *, log: QueryLog, title: str, units: dict[str, Unit] | None = None
                    ) -> QueryResult | None:
        """Build run table ``name`` from ``sql`` (one SELECT over the data, checked by the guard like any query)
        and log it; later queries read it by name. Returns None when the same definition was built already.

        The result is kept in this engine's private in-memory database (never in the data file) until
        :meth:`close`. A name that is a table of the data is refused (it would hide that table)."""
        name, sql = name.lower(), sql.strip()
        with self._run_lock:
            if self._run_tables.get(name) == sql:
                return None
            qid = log.next_id()
            record = functools.partial(QueryRecord, id=qid, sql=sql, title=title, agent=log.agent, step=log.step,
                                       units=units or {})
            if name in self._catalog.tables or not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                err = SQLRefused("run-table", f"cannot build run table {name}: the name is taken or not plain",
                                 sql=sql)
                log.add(record(status="refused", error=err.message, rule=err.rule))
                raise err
            try:
                checked = verdicts.check(sql, frozenset(self._catalog.tables) | frozenset(self._run_tables))
            except SQLRefused as exc:
                log.add(record(status="refused", error=exc.message, rule=exc.rule))
                raise
            if self._cancel.is_set():
                raise Interrupted("run cancelled")
            cur = self._cursor()
            self._run_views(cur, checked.tables)
            fired = threading.Event()

            def stop() -> None:
                fired.set()
                cur.interrupt()

            timer = threading.Timer(self.limits.timeout, stop)
            timer.daemon = True
            started = time.perf_counter()
            timer.start()
            try:
                if self._run_db is None:
                    alias = f"finmatch_run_{uuid.uuid4().hex[:12]}"  # unique: engines may share one DuckDB instance
                    self._con.execute(f"ATTACH ':memory:' AS {alias} (READ_WRITE)")
                    self._run_db = alias
                target = f"{self._run_db}.main.{quote_ident(name)}"
                cur.execute(f"CREATE OR REPLACE TABLE {target} AS {sql}")
                count = int(cur.execute(f"SELECT count(*) FROM {target}").fetchone()[0])  # type: ignore[index]
                columns = tuple(str(row[0]) for row in cur.execute(f"DESCRIBE {target}").fetchall())
            except duckdb.Error as exc:
                elapsed = round((time.perf_counter() - started) * 1000, 1)
                if fired.is_set() and not self._cancel.is_set():
                    timeout_err = QueryTimeout(self.limits.timeout, sql=sql)
                    log.add(record(status="timeout", elapsed_ms=elapsed, error=timeout_err.message, rule="deadline"))
                    raise timeout_err from exc
                if self._cancel.is_set() or isinstance(exc, duckdb.InterruptException):
                    log.add(record(status="error", elapsed_ms=elapsed, error="interrupted"))
                    raise Interrupted("query interrupted") from exc
                message = redact_values(first_line(exc), sql)
                log.add(record(status="error", elapsed_ms=elapsed, error=message))
                raise QueryFailed(message) from exc
            finally:
                timer.cancel()
            self._run_tables[name] = sql  # cursors' views read the table by name: a rebuild needs no new view
            self._run_notes = {k: v for k, v in self._run_notes.items() if v[0] != name}  # checks of the old one
            done = log.add(record(rows=count, elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
                                  tables=checked.tables, columns=columns))
            return QueryResult(columns=list(columns), types=[], rows=[], truncated=False, record=done)

    def note_run_table(self, table: str, key: str, value: Any) -> None:
        """Keep the result of a check of run table ``table`` (forgotten when the table is rebuilt)."""
        self._run_notes[key] = (table.lower(), value)

    def run_table_note(self, key: str) -> Any:
        """The kept result of check ``key`` (None when it has not run on the current table)."""
        note = self._run_notes.get(key)
        return note[1] if note is not None else None

    def _run_views(self, cur: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> None:
        """Make the run tables among ``tables`` visible on ``cur`` under their plain names."""
        wanted = [t for t in tables if t in self._run_tables]
        if not wanted:
            return
        views: set[str] = self._local.__dict__.setdefault("views", set())
        for name in wanted:
            if name not in views:
                ident = quote_ident(name)
                cur.execute(f"CREATE OR REPLACE TEMP VIEW {ident} AS SELECT * FROM {self._run_db}.main.{ident}")
                views.add(name)

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
        self._prefetched.close(self.interrupt_running)
        with self._cursor_lock:
            for cur in self._cursors:
                with contextlib.suppress(Exception):
                    cur.close()
            self._cursors.clear()
        if self._run_db is not None:  # engines of one process may share the DuckDB instance: free the run tables
            with contextlib.suppress(Exception):
                self._con.execute(f"DETACH {self._run_db}")
            self._run_db, self._run_tables, self._run_notes = None, {}, {}
        self._con.close()

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def redact_values(message: str, sql: str) -> str:
    """``message`` without the data values DuckDB quotes in runtime errors ("Could not convert string 'Ann
    Lee' to INT32"): such text reaches the audit log and, through tools, a model. Quoted text that appears in
    the SQL itself (a literal the caller wrote, a column name) is kept."""
    if not message.startswith(_VALUE_ERRORS):
        return message

    def keep_or_hide(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if not inner or inner in sql else match.group(0)[0] + "…" + match.group(0)[0]

    return _QUOTED.sub(keep_or_hide, message)


def open_engine(settings: Any, *, max_rows: int | None = None, min_timeout: float | None = None) -> DuckDBEngine:
    """The engine ``settings`` (a :class:`finmatch_agents.config.Settings`) select: ``settings.engine`` is
    ``duckdb`` (the sandbox over ``settings.db``), ``spark`` or ``databricks`` (docs/engines.md). ``max_rows``
    replaces the settings' row cap (the engines read one row per customer: :data:`HARD_ROW_CAP`);
    ``min_timeout`` raises a shorter statement deadline to it (bulk reads of every customer).

    Typed as :class:`DuckDBEngine` for the callers: the remote engines implement its whole public surface (every
    public method and property, same parameters; tests/warehouse/test_engines.py checks it), so callers need not
    know which engine they hold."""
    kind = getattr(settings, "engine", "duckdb")
    timeout = max(settings.sql_timeout, min_timeout) if min_timeout else settings.sql_timeout
    limits = SandboxLimits(max_rows=max_rows or settings.sql_max_rows, timeout=timeout,
                           threads=settings.effective_threads, memory_limit=settings.memory_limit)
    if kind == "spark":
        from finmatch_agents.warehouse.spark import SparkEngine  # start-up speed: pyspark only when chosen

        return cast("DuckDBEngine", SparkEngine.from_settings(settings, limits))
    if kind == "databricks":
        from finmatch_agents.warehouse.databricks import DatabricksEngine  # start-up speed: the connector when chosen

        return cast("DuckDBEngine", DatabricksEngine.from_settings(settings, limits))
    if kind != "duckdb":
        raise UsageError(f"unknown engine {kind!r}; expected duckdb, spark or databricks")
    return DuckDBEngine(settings.db, limits)


def require_duckdb(settings: Any, command: str) -> None:
    """Refuse ``command`` on an engine other than DuckDB (commands that write tables into the database, and those
    whose queries have no Spark SQL form yet), naming the engine and the command; never fall back silently."""
    kind = getattr(settings, "engine", "duckdb")
    if kind != "duckdb":
        raise UsageError(f"`finmatch {command}` runs on the DuckDB engine only; the selected engine is {kind} "
                         "(--engine, FINMATCH_ENGINE or [engine] name in finmatch.toml)",
                         hint=f"select DuckDB (FINMATCH_ENGINE=duckdb or [engine] name = \"duckdb\") and point --db "
                         f"at a DuckDB copy of the data; analyze, ask, chat, sql, metrics, explore, data info, "
                         f"doctor, match customer / evaluate, recommend train / evaluate / for, similar and "
                         f"predict train / evaluate / score --customer run on {kind}")
