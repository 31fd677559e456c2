"""What the engines that run SQL somewhere else (Spark, Databricks SQL) share: the sandbox around a remote session.

Statements arrive in DuckDB SQL (the one dialect named queries are written in) and go through the same steps as on
:class:`~finmatch_agents.warehouse.engine.DuckDBEngine`:

1. the guard's parser rules on the DuckDB text, against this engine's tables and run tables;
2. :func:`finmatch_agents.warehouse.dialect.to_dialect` (which checks again, in the target dialect, the translated
   text); a text already written in Spark SQL (a ``.spark.sql`` variant file, first line ``-- dialect: spark``) is
   checked in that dialect instead;
3. the engine runs it with a row cap (``LIMIT cap + 1``, so truncation is known), under the deadline (a timer
   interrupts it server-side) and a cancel that stops every running statement of this engine;
4. the Arrow result is measured (:data:`~finmatch_agents.warehouse.engine.MAX_RESULT_BYTES`, one value at most
   :data:`~finmatch_agents.warehouse.engine.MAX_CELL_BYTES`) and converted to Python by a private in-memory DuckDB
   connection, **cast to the types DuckDB gives the same statement**: a *shadow* DuckDB database holds empty tables
   with this engine's columns (types mapped), so DuckDB binds the original text and says what each output column
   would be (``count(*) * 1.0 / n`` is a DECIMAL on Spark and a DOUBLE on DuckDB; ``sum`` of integers a BIGINT
   on Spark and a HUGEINT on DuckDB). Values then have exactly the Python types a DuckDB run gives, so findings,
   formatting and grounding see the same numbers. Column names come from DuckDB's binding too.

Soft-deleted rows (``_fivetran_deleted`` true) are hidden as on DuckDB: each engine says how (Spark: a temporary view
per table over the real one; Databricks: each table reference rewritten to a filtered subquery). Statements that
read the unfiltered table are this module's own fixed SQL (the soft-deleted count) and never pass through the guard.

The log, record fields, ids, ``prefetch`` (here four at a time: every statement is a round trip) and run-table
notes behave as on DuckDB, so a run's appendix and events do not depend on the engine except for timings.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from finmatch_agents.errors import Interrupted, QueryFailed, QueryTimeout, SQLRefused
from finmatch_agents.evidence import SAMPLE_ROWS, QueryLog, QueryRecord, jsonable
from finmatch_agents.warehouse import guard
from finmatch_agents.warehouse.dialect import DIALECT_MARKER, to_dialect
from finmatch_agents.warehouse.prefetch import Prefetcher
from finmatch_agents.warehouse.results import (
    HARD_ROW_CAP,
    MAX_RESULT_BYTES,
    SOFT_DELETE_COLUMN,
    CatalogReads,
    ColumnInfo,
    QueryResult,
    SandboxLimits,
    _Catalog,
    _check_cells,
    _Oversized,
    first_line,
)
from finmatch_agents.warehouse.sqltext import quote_ident

if TYPE_CHECKING:
    from finmatch_agents.units import Unit

#: statements a remote engine runs at once for :meth:`RemoteEngine.prefetch`
PREFETCH_THREADS = 4
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


_QUOTED = re.compile(r"'((?:[^'\\]|\\.|'')*)'")


def _redact(message: str, *sql: str) -> str:
    """``message`` without the data values a server quotes in runtime errors (Spark's ``The value 'Ann Lee' of
    the type "STRING" cannot be cast``): quoted text that is not in the statement itself becomes ``'…'``."""

    def keep_or_hide(match: re.Match[str]) -> str:
        inner = match.group(1)
        return match.group(0) if not inner or any(inner in s for s in sql) else "'…'"

    return _QUOTED.sub(keep_or_hide, message)


class EngineFailed(Exception):
    """Raised by an engine's ``_run`` with the server's message (first line) when a statement fails there."""


def duck_type(engine_type: str) -> str:
    """The DuckDB type of a Spark / Databricks column type (``decimal(10,2)`` -> ``DECIMAL(10,2)``...)."""
    t = engine_type.strip().lower()
    simple = {"string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR", "int": "INTEGER", "integer": "INTEGER",
              "bigint": "BIGINT", "long": "BIGINT", "smallint": "SMALLINT", "short": "SMALLINT", "tinyint": "TINYINT",
              "byte": "TINYINT", "double": "DOUBLE", "float": "FLOAT", "real": "FLOAT", "boolean": "BOOLEAN",
              "date": "DATE", "timestamp": "TIMESTAMP WITH TIME ZONE", "timestamp_ltz": "TIMESTAMP WITH TIME ZONE",
              "timestamp_ntz": "TIMESTAMP", "binary": "BLOB", "void": "VARCHAR", "null": "VARCHAR"}
    if t in simple:
        return simple[t]
    if t.startswith(("varchar(", "char(")):
        return "VARCHAR"
    if (m := _DECIMAL.fullmatch(t)) is not None:
        return f"DECIMAL({m.group(1)},{m.group(2)})"
    if t == "decimal":
        return "DECIMAL(10,0)"
    if t.startswith("array<") and t.endswith(">"):
        return duck_type(t[6:-1]) + "[]"
    if t.startswith("interval"):
        return "INTERVAL"
    return "VARCHAR"  # maps, structs, variants: text is the safe shadow (the engine's own value is kept)


@dataclass
class _Held:
    """Where a statement is running, for the deadline and cancel (``tag``: the engine's handle for it)."""

    tag: str
    handle: Any = None
    #: set when cancel / interrupt_running stopped it (not the deadline)
    interrupted: bool = False


def _in_order_of(table: pa.Table, names: list[str]) -> pa.Table:
    """``table`` with its columns in the order of ``names`` when it holds exactly those names (case-insensitive,
    each once) in another order; otherwise unchanged."""
    have = [f.name.lower() for f in table.schema]
    want = [name.lower() for name in names]
    if have == want or sorted(have) != sorted(want) or len(set(want)) != len(want):
        return table
    return table.select([have.index(name) for name in want])


class RemoteEngine(CatalogReads):
    """The sandbox around a remote SQL session; :class:`SparkEngine` and :class:`DatabricksEngine` fill in the
    session. Subclasses set :attr:`name` and :attr:`dialect`, call :meth:`_load_catalog` once connected, and
    implement ``_read_tables``, ``_run``, ``_interrupt``, ``_base_reference`` and ``_hide_deleted``."""

    name = "remote"
    _dialect = "spark"

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._catalog = _Catalog()
        self._cancel = threading.Event()
        self._running: dict[str, _Held] = {}
        self._running_lock = threading.Lock()
        self._run_tables: dict[str, str] = {}
        self._run_lock = threading.Lock()
        self._run_notes: dict[str, tuple[str, Any]] = {}
        self._prefetched = Prefetcher(lambda sql, log: self._query(sql, log=log), PREFETCH_THREADS, "finmatch-pre")
        self._local = threading.local()
        self._shadow = duckdb.connect(":memory:", config={
            "enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False, "python_enable_replacements": False, "threads": 1})
        self._shadow_lock = threading.Lock()

    # -- to be provided by the engine ----------------------------------------------------------------------
    def _read_tables(self) -> dict[str, list[tuple[str, str]]]:
        """Every table this engine reads: name -> [(column, engine type)], in column order."""
        raise NotImplementedError

    def _run(self, sql: str, limit: int, held: _Held) -> pa.Table:
        """Run ``sql`` (engine dialect) and return at most ``limit`` rows as Arrow; raise :class:`EngineFailed`."""
        raise NotImplementedError

    def _interrupt(self, held: _Held) -> None:
        """Stop the statement ``held`` stands for (from another thread)."""
        raise NotImplementedError

    def _base_reference(self, table: str) -> str:
        """The engine-dialect reference to ``table`` with its soft-deleted rows (system SQL only)."""
        raise NotImplementedError

    def _hide_deleted(self) -> None:
        """Make every table of :attr:`_catalog` with a soft-delete rule read without its deleted rows."""

    def _prepare(self, sql: str) -> str:
        """``sql`` (engine dialect, checked) as the engine runs it (Databricks rewrites table references)."""
        return sql

    # -- catalog ---------------------------------------------------------------------------------------------
    def _load_catalog(self) -> None:
        catalog = _Catalog()
        for table, cols in sorted(self._read_tables().items()):
            catalog.tables[table.lower()] = [ColumnInfo(c, duck_type(t)) for c, t in cols]
        catalog.soft_delete = [t for t, cols in catalog.tables.items() if any(c.name == SOFT_DELETE_COLUMN
                                                                              for c in cols)]
        col = f"`{SOFT_DELETE_COLUMN}`"
        for table in catalog.soft_delete:
            dtype = next(c.type for c in catalog.tables[table] if c.name == SOFT_DELETE_COLUMN)
            if dtype == "BOOLEAN":
                catalog.deleted_when[table] = f"coalesce({col}, false)"
                continue
            try:  # text or numbers written by another tool: usable when every value is a boolean spelling
                bad = self._run(f"SELECT count(*) AS bad FROM {self._base_reference(table)} WHERE {col} IS NOT NULL "
                                f"AND try_cast({col} AS BOOLEAN) IS NULL", 1, _Held(self._tag())).column(0)[0].as_py()
            except EngineFailed:
                bad = None
            if bad == 0:
                catalog.deleted_when[table] = f"coalesce(try_cast({col} AS BOOLEAN), false)"
            else:
                what = f"{bad:,} value(s) that are not true/false" if bad is not None else "values that cannot be read"
                catalog.unusable[table] = (f"table {table} cannot be read safely: its soft-delete column "
                                           f"{SOFT_DELETE_COLUMN} is {dtype} with {what}, so deleted rows cannot be "
                                           "told apart")
        self._catalog = catalog
        with self._shadow_lock:
            for table, columns in catalog.tables.items():
                spec = ", ".join(f"{quote_ident(c.name)} {c.type}" for c in columns) or '"_" INTEGER'
                self._shadow.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} ({spec})")
        self._hide_deleted()

    @property
    def dialect(self) -> str:
        return self._dialect

    @property
    def location(self) -> str:
        return self.name

    def _known(self) -> frozenset[str]:
        return frozenset(self._catalog.tables) | frozenset(self._run_tables)

    # -- statements ------------------------------------------------------------------------------------------
    def _translate(self, text: str) -> tuple[str, tuple[str, ...], str | None]:
        """(engine SQL, tables read, the DuckDB text; None for a text written in Spark SQL already: a variant file
        starting with :data:`~finmatch_agents.warehouse.dialect.DIALECT_MARKER`); refusals raise."""
        known = self._known()
        if text.lstrip().startswith(DIALECT_MARKER):
            native = to_dialect(text, self._dialect, known_tables=known)
            return native, guard.check(native, known, dialect=self._dialect).tables, None
        checked = guard.check(text, known)
        return to_dialect(text, self._dialect, known_tables=known), checked.tables, text

    def query(self, sql: str, *, log: QueryLog, title: str = "", max_rows: int | None = None,
              timeout: float | None = None, columnar: bool = False, units: dict[str, Unit] | None = None
              ) -> QueryResult:
        """Validate, translate and run ``sql`` (DuckDB SQL, or a Spark SQL variant text)."""
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
        try:
            native, tables, duck = self._translate(text)
        except SQLRefused as exc:
            log.add(QueryRecord(id=qid, sql=text.strip()[:guard.MAX_SQL_CHARS], title=title, agent=log.agent,
                                step=log.step, status="refused", error=exc.message, rule=exc.rule))
            raise
        except Exception as exc:  # the guard fails closed; the statement is still logged
            err = SQLRefused("syntax", f"cannot check the statement ({type(exc).__name__})", sql=text)
            log.add(QueryRecord(id=qid, sql=text.strip()[:guard.MAX_SQL_CHARS], title=title, agent=log.agent,
                                step=log.step, status="refused", error=err.message, rule=err.rule))
            raise err from exc
        broken = [t for t in tables if t in self._catalog.unusable]
        if broken:
            err = SQLRefused("unusable-table", self._catalog.unusable[broken[0]], sql=text)
            log.add(QueryRecord(id=qid, sql=text.strip(), title=title, agent=log.agent, step=log.step,
                                status="refused", error=err.message, rule=err.rule))
            raise err
        return self._execute(qid, text, native, duck, log=log, title=title, max_rows=max_rows, timeout=timeout,
                             tables=tables, columnar=columnar, units=units or {})

    def explain(self, sql: str) -> str:
        """The engine's plan for ``sql`` (DuckDB SQL; checked and translated, not run)."""
        native, _, _ = self._translate(sql)
        table = self._run(f"EXPLAIN {self._prepare(native)}", 1000, _Held(self._tag()))
        return "\n".join(str(v) for v in table.column(0).to_pylist())

    def prefetch(self, *statements: str) -> None:
        """As :meth:`DuckDBEngine.prefetch`, :data:`PREFETCH_THREADS` at a time (each statement is a round trip)."""
        self._prefetched.start(statements)

    def _tag(self) -> str:
        return f"finmatch-{uuid.uuid4().hex[:16]}"

    def _duck_types(self, duck: str | None) -> list[tuple[str, str]] | None:
        """(name, type) of each output column DuckDB gives ``duck`` (bound on the shadow tables), or None."""
        if duck is None:
            return None
        try:
            with self._shadow_lock:
                rel = self._shadow.sql(duck)
                return [(str(c), str(t)) for c, t in zip(rel.columns, rel.types, strict=True)]
        except (duckdb.Error, RuntimeError, ValueError):
            return None

    def _converter(self) -> duckdb.DuckDBPyConnection:
        conv = getattr(self._local, "convert", None)
        if conv is None:
            conv = self._shadow.cursor()
            self._local.convert = conv
        return conv

    def _convert(self, table: pa.Table, wanted: list[tuple[str, str]] | None, columnar: bool
                 ) -> tuple[list[str], list[str], list[tuple[Any, ...]], dict[str, Any] | None]:
        """(columns, DuckDB types, rows, arrays) of an Arrow result, cast to the types DuckDB gives the statement.

        The engine may return the same columns in another order: ``COLUMNS(lambda c: list_contains([...], c))``
        is expanded in the list's order, DuckDB takes the table's. The result is put in DuckDB's order by name,
        so that no value is ever cast to, or labelled with, another column's type or name."""
        n = table.num_columns
        if wanted is not None and len(wanted) == n:
            table = _in_order_of(table, [w[0] for w in wanted])
        renamed = table.rename_columns([f"c{i}" for i in range(n)])
        conv = self._converter()
        rel = conv.from_arrow(renamed)
        names = [f.name for f in table.schema]
        if wanted is not None and len(wanted) == n:
            names = [w[0] for w in wanted]
            casts = ", ".join(f"CAST(c{i} AS {t}) AS c{i}" for i, (_, t) in enumerate(wanted))
            try:
                rel = conv.from_arrow(renamed).project(casts)
            except duckdb.Error:  # a value the DuckDB type cannot hold: keep the engine's own types
                rel = conv.from_arrow(renamed)
        types = [str(t) for t in rel.types]
        if columnar:
            raw = rel.fetchnumpy()
            return names, types, [], {name: raw[f"c{i}"] for i, name in enumerate(names)}
        return names, types, rel.fetchall(), None

    def _execute(self, qid: str, text: str, native: str, duck: str | None, *, log: QueryLog, title: str,
                 max_rows: int | None, timeout: float | None, tables: tuple[str, ...], columnar: bool = False,
                 units: dict[str, Unit] | None = None) -> QueryResult:
        if self._cancel.is_set():
            raise Interrupted("run cancelled")
        cap = min(max_rows or self.limits.max_rows, HARD_ROW_CAP)
        deadline = timeout or self.limits.timeout
        record = functools.partial(QueryRecord, id=qid, sql=text.strip(), title=title, agent=log.agent,
                                   step=log.step, tables=tables, units=units or {})
        held = _Held(self._tag())
        fired = threading.Event()

        def stop() -> None:
            fired.set()
            self._stop_until_done(held)

        def ms() -> float:
            return round((time.perf_counter() - started) * 1000, 1)

        timer = threading.Timer(deadline, stop)
        timer.daemon = True
        with self._running_lock:
            self._running[held.tag] = held
        started = time.perf_counter()
        timer.start()
        try:
            result = self._run(self._prepare(native), cap + 1, held)
            if fired.is_set():
                raise EngineFailed("deadline passed")
            if result.nbytes > MAX_RESULT_BYTES:
                raise _Oversized("result-size", f"the result is larger than {MAX_RESULT_BYTES:,} bytes")
            for batch in result.to_batches():
                _check_cells(batch, result.column_names)
            truncated = result.num_rows > cap
            columns, types, rows, arrays = self._convert(result.slice(0, cap), self._duck_types(duck), columnar)
        except _Oversized as exc:
            log.add(record(status="refused", elapsed_ms=ms(), error=exc.message, rule=exc.rule))
            raise SQLRefused(exc.rule, exc.message, sql=text, hint="select fewer or smaller values: aggregate, "
                             "filter, LIMIT, or leave out long text and list columns") from None
        except KeyboardInterrupt:
            self._interrupt(held)
            log.add(record(status="error", error="interrupted"))
            raise
        except (EngineFailed, duckdb.Error, pa.ArrowException) as exc:
            if fired.is_set() and not self._cancel.is_set():
                err = QueryTimeout(deadline, sql=text)
                log.add(record(status="timeout", elapsed_ms=ms(), error=err.message, rule="deadline"))
                raise err from None
            if self._cancel.is_set() or held.interrupted:
                log.add(record(status="error", elapsed_ms=ms(), error="interrupted"))
                raise Interrupted("query interrupted") from None
            message = f"{self.name}: {_redact(first_line(exc), text, native)}"
            log.add(record(status="error", elapsed_ms=ms(), error=message))
            raise QueryFailed(message, hint="the statement is valid DuckDB SQL but this engine could not run it: "
                              "write it portably, or (a named query) add a `.spark.sql` variant") from None
        except Exception as exc:  # a bug of ours: still leave a record of the statement
            log.add(record(status="error", elapsed_ms=ms(), error=f"internal error ({type(exc).__name__})"))
            raise
        finally:
            timer.cancel()
            with self._running_lock:
                self._running.pop(held.tag, None)
        if arrays is not None:
            head = [[None if v is np.ma.masked else v for v in arrays[c][:SAMPLE_ROWS].tolist()] for c in columns]
            sample = tuple(tuple(jsonable(v) for v in row) for row in zip(*head, strict=True))
        else:
            sample = tuple(tuple(jsonable(v) for v in row) for row in rows[:SAMPLE_ROWS])
        done = log.add(record(rows=min(result.num_rows, cap), truncated=truncated, elapsed_ms=ms(),
                              columns=tuple(columns), sample=sample))
        return QueryResult(columns=columns, types=types, rows=rows, truncated=truncated, record=done, arrays=arrays)

    # -- fixed system SQL ------------------------------------------------------------------------------------
    def soft_deleted_count(self, table: str, *, log: QueryLog) -> int:
        """Rows hidden from every query (the only statement that reads the unfiltered table)."""
        table = table.lower()
        if table not in self._catalog.soft_delete:
            return 0
        if table in self._catalog.unusable:
            raise SQLRefused("unusable-table", self._catalog.unusable[table],
                             hint=f"reload {table} with a boolean {SOFT_DELETE_COLUMN}")
        sql = (f"SELECT count(*) AS deleted_rows FROM {self._base_reference(table)} "
               f"WHERE {self._catalog.deleted_when[table]}")
        result = self._execute(log.next_id(), sql, sql, None, log=log, title=f"Soft-deleted rows in {table} (excluded)",
                               max_rows=1, timeout=None, tables=(table,))
        return int(result.scalar())

    def distinct_values(self, table: str, column: str, *, log: QueryLog) -> list[str]:
        """Every distinct non-empty value of ``column`` as text (through the soft-delete filter)."""
        table = table.lower()
        if table not in self._catalog.tables or table in self._catalog.unusable:
            return []
        ident = quote_ident(column)
        sql = f"SELECT DISTINCT CAST({ident} AS VARCHAR) AS v FROM {quote_ident(table)} WHERE {ident} IS NOT NULL"
        native, tables, duck = self._translate(sql)
        result = self._execute(log.next_id(), sql, native, duck, log=log, title=f"Distinct values of {table}.{column}",
                               max_rows=HARD_ROW_CAP, timeout=None, tables=tables)
        return [str(row[0]) for row in result.rows]

    # -- run tables ------------------------------------------------------------------------------------------
    def has_run_table(self, name: str, sql: str | None = None) -> bool:
        defined = self._run_tables.get(name.lower())
        return defined is not None and (sql is None or defined == sql.strip())

    def note_run_table(self, table: str, key: str, value: Any) -> None:
        self._run_notes[key] = (table.lower(), value)

    def run_table_note(self, key: str) -> Any:
        note = self._run_notes.get(key)
        return note[1] if note is not None else None

    def _shadow_run_table(self, name: str, duck: str | None, columns: list[tuple[str, str]]) -> None:
        """The run table's empty twin in the shadow database (so later statements bind against it)."""
        with self._shadow_lock:
            if duck is not None:
                with contextlib.suppress(duckdb.Error):
                    self._shadow.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * FROM ({duck}) "
                                         "LIMIT 0")
                    return
            cols = ", ".join(f"{quote_ident(c)} {duck_type(t)}" for c, t in columns)
            self._shadow.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} ({cols})")

    def write_access(self) -> tuple[bool | None, str]:
        """(True when the credentials can write / None when it cannot be told, what was found) for `doctor`."""
        return None, f"{self.name}: cannot tell whether the credentials can write; grant SELECT only (docs/engines.md)"

    # -- stopping --------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop every running statement of this engine and refuse new ones; safe from a signal handler."""
        self._cancel.set()
        self.interrupt_running()

    def interrupt_running(self) -> None:
        """Stop the statements running now but keep the engine usable."""
        with self._running_lock:
            running = list(self._running.values())
        for held in running:
            held.interrupted = True
            self._stop_until_done(held)

    def _stop_until_done(self, held: _Held) -> None:
        """Interrupt ``held`` now and again every quarter second until its statement has ended: a job that was
        still being planned when the first interrupt came is stopped as soon as it starts."""

        def keep_stopping() -> None:
            while True:
                with self._running_lock:
                    if held.tag not in self._running:
                        return
                with contextlib.suppress(Exception):
                    self._interrupt(held)
                time.sleep(0.25)

        threading.Thread(target=keep_stopping, name="finmatch-stop", daemon=True).start()

    def _close_pool(self) -> None:
        self._prefetched.close(self.interrupt_running)

    def close(self) -> None:
        self._close_pool()
        with contextlib.suppress(Exception):
            self._shadow.close()

    def __enter__(self) -> RemoteEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
