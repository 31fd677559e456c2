"""The Spark engine: the analysis sandbox over a Spark session (docs/engines.md).

Where it runs (``[engine.spark] master``, env FINMATCH_SPARK_MASTER):

- ``local[N]`` (default ``local[2]``): a Spark session in this process's own JVM, for development and tests;
- ``sc://host:port``: a cluster through Spark Connect (``pip install 'pyspark[connect]'``).

Where its tables come from:

- ``tables = "FOLDER"`` (env FINMATCH_SPARK_TABLES): every ``NAME.parquet`` in the folder (a file or a folder of
  part files) is table ``NAME``; the development layout (DuckDB writes it: ``COPY fpr_records TO
  'FOLDER/fpr_records.parquet' (FORMAT parquet)``, or :func:`export_parquet`);
- ``catalog`` / ``schema``: every table of that catalogue schema (``spark_catalog`` / ``default`` are Spark's own);
- neither: the tables of the session's current schema.

The engine works in a session of its own (``newSession()`` on a local session: the same JVM, separate temporary
views and settings). Every table is reachable only through a temporary view of its plain name; a table with a
``_fivetran_deleted`` column gets a view without the deleted rows (as DuckDB's shadow views), so no statement sees
them. Run tables are temporary views cached in memory (``CACHE TABLE``), built once per run from the same SELECT
DuckDB stores. A statement's deadline and cancel are job groups on a local session (``cancelJobGroup``) and
operation tags on Spark Connect (``interruptTag``). Concurrent statements from several threads run as concurrent
Spark jobs.

Spark has no read-only connection: the guard is the wall (one SELECT, known tables only, before and after
translation), and the credentials should only be able to read (docs/engines.md lists the grants;
``finmatch doctor`` warns when they can write).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents.errors import EngineUnavailable, Interrupted, MissingExtra, QueryFailed, QueryTimeout, SQLRefused
from finmatch_agents.evidence import QueryRecord
from finmatch_agents.warehouse.remote import EngineFailed, RemoteEngine, _Held
from finmatch_agents.warehouse.results import QueryResult, SandboxLimits, first_line

if TYPE_CHECKING:
    import pyarrow as pa

    from finmatch_agents.evidence import QueryLog
    from finmatch_agents.units import Unit

DEFAULT_MASTER = "local[2]"
#: settings of a local session this engine starts (tests use the same, tests/spark/conftest.py)
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "2g",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}
#: Spark's log4j settings for a session this engine starts: errors reach the user as one line through the CLI,
#: not as Java stack traces on stderr
_LOG4J = """rootLogger.level = off
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %m%n
"""
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _pyspark() -> Any:
    try:
        with warnings.catch_warnings():  # "PySpark does not yet fully support pandas >= 3.0.0": we do not use pandas
            warnings.simplefilter("ignore", FutureWarning)
            import pyspark
            from pyspark.logger import PySparkLogger
            from pyspark.sql import SparkSession  # noqa: F401
            from pyspark.testing import utils  # noqa: F401  # where the warning is raised, once
    except ImportError as exc:
        raise MissingExtra("the spark engine needs pyspark", hint="pip install 'finmatch-agents[spark]' (and Java 17: "
                           "apt-get install openjdk-17-jre-headless)") from exc
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):  # they print each failed statement's plan
        PySparkLogger.getLogger(name).disabled = True  # as JSON on stderr; the error reaches the user as one line
    return pyspark


def shown_master(master: str) -> str:
    """The master URL as messages show it: a Spark Connect URL's ``;token=...`` parameter is masked (the token
    belongs in SPARK_CONNECT_AUTHENTICATE_TOKEN, but a URL that carries one must not print it)."""
    return re.sub(r"(;\s*token\s*=)[^;]*", r"\1***", master, flags=re.IGNORECASE)


def _message(exc: BaseException) -> str:
    """The server's message of a Spark error, one line, without the Java stack.

    A Spark Connect failure is a gRPC error whose first line says only "<_MultiThreadedRendezvous of RPC that
    terminated with:"; the status and the server's details follow on later lines, so they are what is kept
    (e.g. "UNAUTHENTICATED: No authentication token provided")."""
    text = str(getattr(exc, "getMessage", lambda: "")() or "") if hasattr(exc, "getMessage") else ""
    text = text or str(exc)
    grpc = re.search(r"status = StatusCode\.(\w+)\s+details = \"(.*?)\"", text, re.DOTALL)
    if grpc:
        text = f"{grpc.group(1)}: {grpc.group(2)}"
    return first_line(RuntimeError(text.replace("\n: ", " ").split("\n\tat ")[0]))


#: retries of the first Spark Connect statement (the client's backoff: 50 ms, x4 each time): an unreachable server
#: is reported in seconds; the client's own policy (about 10 minutes) would look like a hang
CONNECT_RETRIES = 4


def _probe(session: Any) -> None:
    """Run ``SELECT 1`` on a new Spark Connect session with a short retry budget, then give the session back its
    client's default retries for the run (a transient failure mid-run is retried as the client would). When it
    fails, the session is released without retries: with the default policy that alone takes 10 minutes."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    client = session.client
    policies = client.get_retry_policies()
    client.set_retry_policies([DefaultPolicy(max_retries=CONNECT_RETRIES)])
    with warnings.catch_warnings():  # "[RETRIES_EXCEEDED] ...": the error itself says so, once
        warnings.simplefilter("ignore", UserWarning)
        try:
            session.sql("SELECT 1").collect()
        except BaseException:
            client.set_retry_policies([])
            with contextlib.suppress(Exception):
                session.stop()
            raise
    client.set_retry_policies(policies)


class SparkEngine(RemoteEngine):
    """The sandbox over a Spark session (a local one, or a cluster's through Spark Connect)."""

    name = "spark"
    _dialect = "spark"

    def __init__(self, *, master: str = DEFAULT_MASTER, tables: Path | None = None, catalog: str | None = None,
                 schema: str | None = None, conf: dict[str, str] | None = None, limits: SandboxLimits | None = None,
                 session: Any = None) -> None:
        super().__init__(limits)
        self.master = master
        self.tables_dir = Path(tables) if tables is not None else None
        self.catalog, self.schema = catalog, schema
        self._remote = master.startswith("sc://")
        self._owned: Any = None  # the session this engine started (stopped at close)
        self._lock = threading.Lock()
        self._base: dict[str, str] = {}  # table -> the reference to it with its deleted rows
        self._cached: set[str] = set()
        if self.tables_dir is not None and not self.tables_dir.is_dir():
            raise EngineUnavailable(f"spark: the tables folder {self.tables_dir} does not exist",
                                    hint="[engine.spark] tables / FINMATCH_SPARK_TABLES names a folder of "
                                    "NAME.parquet tables (docs/engines.md)")
        self._spark = session if session is not None else self._connect(conf or {})
        try:
            # "name" is an identifier, as in DuckDB (a rendered table name, a variant file): never a string literal
            self._spark.conf.set("spark.sql.ansi.doubleQuotedIdentifiers", "true")
            self._load_catalog()
        except EngineFailed as exc:
            self._stop()
            raise EngineUnavailable(f"spark: cannot read the tables of {self.location}: {exc}") from None
        except BaseException:
            self._stop()
            raise

    @classmethod
    def from_settings(cls, settings: Any, limits: SandboxLimits) -> SparkEngine:
        section = settings.section("engine.spark")
        env = os.environ
        master = env.get("FINMATCH_SPARK_MASTER") or section.get("master") or DEFAULT_MASTER
        tables: Path | None = None
        if env.get("FINMATCH_SPARK_TABLES"):
            tables = Path(env["FINMATCH_SPARK_TABLES"]).expanduser()
        elif section.get("tables"):
            tables = Path(str(section["tables"])).expanduser()
            if not tables.is_absolute():
                tables = Path(settings.config_path).parent / tables
        conf = {str(k): str(v) for k, v in dict(section.get("conf") or {}).items()}
        return cls(master=str(master), tables=tables, catalog=section.get("catalog"), schema=section.get("schema"),
                   conf=conf, limits=limits)

    # -- session ---------------------------------------------------------------------------------------------
    def _connect(self, conf: dict[str, str]) -> Any:
        _pyspark()
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        try:
            if self._remote:
                os.environ.setdefault("GRPC_VERBOSITY", "ERROR")  # gRPC's own lines (each failed handshake) stay off
                try:
                    with warnings.catch_warnings():  # the pandas-version FutureWarning again, from the Connect client
                        warnings.simplefilter("ignore", FutureWarning)
                        session = SparkSession.builder.remote(self.master).create()
                except ImportError as exc:
                    raise MissingExtra("Spark Connect needs its client libraries",
                                       hint="pip install 'pyspark[connect]'") from exc
                _probe(session)  # connects now: a wrong address fails here, in seconds, not mid-run
                self._owned = session
                return session
            if not re.fullmatch(r"local(\[(\d+|\*)\])?", self.master):
                raise EngineUnavailable(f"spark: master {shown_master(self.master)!r} is neither local[N] nor a "
                                        "Spark Connect URL sc://host:port")
            existing = SparkContext._active_spark_context  # a session this process runs already
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = SparkSession.builder.master(self.master).appName("finmatch")
            if existing is None:
                log4j = Path(tempfile.gettempdir()) / "finmatch-spark-log4j2.properties"
                if not log4j.exists():
                    log4j.write_text(_LOG4J, encoding="utf-8")
                builder = builder.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
            for key, value in {**LOCAL_CONF, **conf}.items():
                builder = builder.config(key, value)
            base = builder.getOrCreate()
            if existing is None:
                self._owned = base
                base.sparkContext.setLogLevel("OFF")
            return base.newSession()
        except (EngineUnavailable, MissingExtra):
            raise
        except Exception as exc:
            raise EngineUnavailable(f"spark: cannot start a session on {shown_master(self.master)}: {_message(exc)}",
                                    hint="a local session needs Java 17 (java on PATH or JAVA_HOME); a Spark Connect "
                                    "URL needs a reachable server, and its token in SPARK_CONNECT_AUTHENTICATE_TOKEN "
                                    "when the server asks for one (with a token the client speaks TLS, except to "
                                    "host localhost)") from None

    def _stop(self) -> None:
        if self._owned is not None:
            with contextlib.suppress(Exception):
                self._owned.stop()
            self._owned = None

    @property
    def location(self) -> str:
        if self.tables_dir is not None:
            where = str(self.tables_dir)
        elif self.catalog or self.schema:
            where = ".".join(p for p in (self.catalog, self.schema) if p)
        else:
            where = "current schema"
        return f"spark {shown_master(self.master)}: {where}"

    # -- catalog ---------------------------------------------------------------------------------------------
    def _read_tables(self) -> dict[str, list[tuple[str, str]]]:
        frames: dict[str, Any] = {}
        try:
            if self.tables_dir is not None:
                for entry in sorted(self.tables_dir.iterdir()):
                    if entry.name.endswith(".parquet") and _PLAIN.fullmatch(entry.name[:-8]):
                        name = entry.name[:-8].lower()
                        private = f"finmatch_base_{name}"
                        self._spark.read.parquet(str(entry)).createOrReplaceTempView(private)
                        self._base[name] = _q(private)
            else:
                scope = ".".join(_q(p) for p in (self.catalog, self.schema) if p)
                rows = self._spark.sql(f"SHOW TABLES IN {scope}" if scope else "SHOW TABLES").collect()
                for row in rows:
                    if row["isTemporary"]:
                        continue
                    name = str(row["tableName"]).lower()
                    self._base[name] = f"{scope}.{_q(name)}" if scope else _q(name)
            for name, ref in self._base.items():
                frames[name] = [(f.name, f.dataType.simpleString()) for f in self._spark.table(ref).schema.fields]
        except Exception as exc:
            raise EngineFailed(_message(exc)) from None
        return frames

    def _base_reference(self, table: str) -> str:
        return self._base[table]

    def _hide_deleted(self) -> None:
        for table, ref in self._base.items():
            deleted = self._catalog.deleted_when.get(table)
            if table in self._catalog.unusable:
                continue
            where = f" WHERE NOT {deleted}" if deleted else ""
            self._spark.sql(f"CREATE OR REPLACE TEMP VIEW {_q(table)} AS SELECT * FROM {ref}{where}")

    def write_access(self) -> tuple[bool | None, str]:
        if not self._remote:
            return None, ("local session: Spark has no access control here, so the sandbox's guard is the only wall "
                          "(one SELECT over known tables); the Parquet folder should be read-only to this user")
        return None, ("Spark Connect: open-source Spark has no privilege listing (SHOW GRANTS); give the server's "
                      "user read-only access to the tables (docs/engines.md)")

    # -- running ---------------------------------------------------------------------------------------------
    def _run(self, sql: str, limit: int, held: _Held) -> pa.Table:
        spark = self._spark
        try:
            if self._remote:
                spark.addTag(held.tag)
            else:
                spark.sparkContext.setJobGroup(held.tag, "finmatch", interruptOnCancel=True)
            try:
                frame = spark.sql(sql)
                return frame.limit(limit).toArrow() if limit else frame.limit(0).toArrow()
            finally:
                if self._remote:
                    spark.removeTag(held.tag)
        except Exception as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise EngineFailed(_message(exc)) from None

    def _interrupt(self, held: _Held) -> None:
        if self._remote:
            self._spark.interruptTag(held.tag)
        else:
            self._spark.sparkContext.cancelJobGroup(held.tag)

    # -- run tables ------------------------------------------------------------------------------------------
    def materialize(self, name: str, sql: str, *, log: QueryLog, title: str, units: dict[str, Unit] | None = None
                    ) -> Any:
        """Build run table ``name`` from ``sql`` as a cached temporary view and log it (as DuckDBEngine does).
        Returns None when the same definition was built already."""
        name, sql = name.lower(), sql.strip()
        with self._run_lock:
            if self._run_tables.get(name) == sql:
                return None
            qid = log.next_id()
            record = functools.partial(QueryRecord, id=qid, sql=sql, title=title, agent=log.agent, step=log.step,
                                       units=units or {})
            if name in self._catalog.tables or not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                err = SQLRefused("run-table", f"cannot build run table {name}: the name is taken or not plain", sql=sql)
                log.add(record(status="refused", error=err.message, rule=err.rule))
                raise err
            try:
                native, tables, duck = self._translate(sql)
            except SQLRefused as exc:
                log.add(record(status="refused", error=exc.message, rule=exc.rule))
                raise
            if self._cancel.is_set():
                raise Interrupted("run cancelled")
            held = _Held(self._tag())
            fired = threading.Event()

            def stop() -> None:
                fired.set()
                self._stop_until_done(held)

            timer = threading.Timer(self.limits.timeout, stop)
            timer.daemon = True
            with self._running_lock:
                self._running[held.tag] = held
            started = time.perf_counter()
            timer.start()
            try:
                if name in self._cached:
                    self._run(f"UNCACHE TABLE IF EXISTS {_q(name)}", 0, held)
                    self._cached.discard(name)
                self._run(f"CREATE OR REPLACE TEMP VIEW {_q(name)} AS {native}", 0, held)
                self._run(f"CACHE TABLE {_q(name)}", 0, held)
                self._cached.add(name)
                count = int(self._run(f"SELECT count(*) FROM {_q(name)}", 1, held).column(0)[0].as_py())
                schema = [(f.name, f.dataType.simpleString()) for f in self._spark.table(_q(name)).schema.fields]
            except EngineFailed as exc:
                elapsed = round((time.perf_counter() - started) * 1000, 1)
                if fired.is_set() and not self._cancel.is_set():
                    timeout_err = QueryTimeout(self.limits.timeout, sql=sql)
                    log.add(record(status="timeout", elapsed_ms=elapsed, error=timeout_err.message, rule="deadline"))
                    raise timeout_err from None
                if self._cancel.is_set() or held.interrupted:
                    log.add(record(status="error", elapsed_ms=elapsed, error="interrupted"))
                    raise Interrupted("query interrupted") from None
                message = f"spark: {exc}"
                log.add(record(status="error", elapsed_ms=elapsed, error=message))
                raise QueryFailed(message) from None
            finally:
                timer.cancel()
                with self._running_lock:
                    self._running.pop(held.tag, None)
            self._run_tables[name] = sql
            self._shadow_run_table(name, duck, schema)
            self._run_notes = {k: v for k, v in self._run_notes.items() if v[0] != name}
            done = log.add(record(rows=count, elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
                                  tables=tables, columns=tuple(c for c, _ in schema)))
            return QueryResult(columns=[c for c, _ in schema], types=[], rows=[], truncated=False, record=done)

    def close(self) -> None:
        super().close()
        for name in list(self._cached):
            with contextlib.suppress(Exception):
                self._spark.sql(f"UNCACHE TABLE IF EXISTS {_q(name)}")
        self._cached.clear()
        self._run_tables, self._run_notes = {}, {}
        self._stop()


def export_parquet(db: Path, folder: Path) -> list[str]:
    """Every table of DuckDB file ``db`` as ``folder/<table>.parquet`` (the Spark engine's local layout)."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [str(r[0]) for r in con.execute("SELECT table_name FROM information_schema.tables WHERE "
                                                 "table_schema = 'main' ORDER BY table_name").fetchall()]
        for table in tables:
            target = str(folder / f"{table}.parquet").replace("'", "''")
            con.execute(f"COPY (SELECT * FROM \"{table}\") TO '{target}' (FORMAT parquet)")
    finally:
        con.close()
    return tables
