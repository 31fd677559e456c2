"""The Databricks SQL engine: the analysis sandbox over a Databricks SQL warehouse (docs/engines.md).

Connects with the official ``databricks-sql-connector`` (``pip install 'finmatch-agents[databricks]'``), configured
as the FinMatch seed app is: ``DATABRICKS_HOST``, ``DATABRICKS_SQL_HTTP_PATH``, ``DATABRICKS_TOKEN``, ``UC_CATALOG``,
``UC_SCHEMA``, ``UC_TABLE`` (the records table), or ``[engine.databricks]`` ``host`` / ``http_path`` / ``catalog`` /
``schema`` / ``table`` in finmatch.toml (the environment wins). The token is read from the environment only; it
is never logged, shown in an error, a repr or a report (server messages are scrubbed of it).

The tables are those of the one Unity Catalog schema (``information_schema.columns``). The connection opens with
that catalogue and schema as its defaults, so the unqualified names named queries use resolve there; a table with
a ``_fivetran_deleted`` column is read through a rewritten reference, ``(SELECT * FROM catalog.schema.t WHERE NOT
coalesce(_fivetran_deleted, false)) AS t``, so deleted rows stay invisible. Statements are translated to the
``databricks`` dialect (which reads the same ``.spark.sql`` variant files as Spark), capped with ``LIMIT``, and
stopped at their deadline or on cancel with the cursor's ``cancel()``. Each thread has its own connection (the
connector's connections are not shared between threads), so the analysis's concurrent queries run concurrently.
Run tables are not built here (a SQL warehouse session holds no cached views for us): their readers run their
standalone queries, which give the same figures.

A SQL warehouse has no read-only connection: grant the principal ``USE CATALOG``, ``USE SCHEMA`` and ``SELECT`` on
the one schema only; ``finmatch doctor`` lists the principal's grants (``SHOW GRANTS``) and warns when it can write.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from finmatch_agents.errors import ConfigError, EngineUnavailable, MissingExtra
from finmatch_agents.warehouse.remote import EngineFailed, RemoteEngine, _Held
from finmatch_agents.warehouse.results import SandboxLimits, first_line

if TYPE_CHECKING:
    import pyarrow as pa

#: privileges that let a principal change data or objects in the schema
WRITE_PRIVILEGES = frozenset({"ALL PRIVILEGES", "MODIFY", "CREATE", "CREATE TABLE", "CREATE VIEW", "CREATE FUNCTION",
                              "CREATE MATERIALIZED VIEW", "CREATE VOLUME", "WRITE VOLUME", "OWN", "OWNERSHIP",
                              "APPLY TAG", "MANAGE"})
_ENV = {"host": "DATABRICKS_HOST", "http_path": "DATABRICKS_SQL_HTTP_PATH", "catalog": "UC_CATALOG",
        "schema": "UC_SCHEMA", "table": "UC_TABLE"}
TOKEN_ENV = "DATABRICKS_TOKEN"


class _Secret:
    """A token that never prints: ``repr`` / ``str`` give ``***`` (engines, errors and logs may be printed)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def databricks_values(settings: Any) -> dict[str, str]:
    """host, http_path, catalog, schema, table: the environment's value, else finmatch.toml's (absent: omitted)."""
    section = settings.section("engine.databricks")
    values: dict[str, str] = {}
    for key, env in _ENV.items():
        value = os.environ.get(env) or section.get(key)
        if value:
            values[key] = str(value)
    return values


class DatabricksEngine(RemoteEngine):
    """The sandbox over a Databricks SQL warehouse (one Unity Catalog schema)."""

    name = "databricks"
    _dialect = "databricks"

    def __init__(self, *, host: str, http_path: str, token: str, catalog: str, schema: str,
                 limits: SandboxLimits | None = None) -> None:
        super().__init__(limits)
        self.host = re.sub(r"^https?://", "", host.strip()).rstrip("/")
        self.http_path, self.catalog, self.schema = http_path, catalog, schema
        self._token = _Secret(token)  # never in repr, str, messages or logs
        try:
            from databricks import sql as dbsql
        except ImportError as exc:
            raise MissingExtra("the databricks engine needs databricks-sql-connector",
                               hint="pip install 'finmatch-agents[databricks]'") from exc
        self._dbsql = dbsql
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()
        self._thread = threading.local()
        try:
            self._connection()
        except EngineFailed as exc:
            raise EngineUnavailable(f"databricks: cannot connect to {self.host} ({self.http_path}): {exc}",
                                    hint=f"check DATABRICKS_HOST, DATABRICKS_SQL_HTTP_PATH and that {TOKEN_ENV} is a "
                                    "valid token for that workspace") from None
        try:
            self._load_catalog()
        except EngineFailed as exc:
            self.close()
            raise EngineUnavailable(f"databricks: cannot read schema {self.catalog}.{self.schema}: {exc}",
                                    hint="check UC_CATALOG / UC_SCHEMA ([engine.databricks] catalog / schema) and "
                                    "that the principal has USE CATALOG, USE SCHEMA and SELECT there") from None
        if not self._catalog.tables:
            self.close()
            raise EngineUnavailable(f"databricks: schema {self.catalog}.{self.schema} does not exist or has no table "
                                    "this principal can read",
                                    hint="check UC_CATALOG / UC_SCHEMA and the principal's grants (USE CATALOG, "
                                    "USE SCHEMA, SELECT)")

    def __repr__(self) -> str:
        return f"DatabricksEngine(host={self.host!r}, http_path={self.http_path!r}, catalog={self.catalog!r}, " \
               f"schema={self.schema!r})"

    @classmethod
    def from_settings(cls, settings: Any, limits: SandboxLimits) -> DatabricksEngine:
        values = databricks_values(settings)
        missing = [f"{_ENV[k]} ([engine.databricks] {k})" for k in ("host", "http_path", "catalog", "schema")
                   if k not in values]
        if missing:
            raise ConfigError(f"databricks: {', '.join(missing)} not set", hint="docs/engines.md lists the settings")
        token = os.environ.get(TOKEN_ENV, "")
        if not token.strip():
            raise ConfigError(f"databricks: {TOKEN_ENV} is not set (tokens are read only from the environment)",
                              hint=f"export {TOKEN_ENV}=... with a token of a read-only principal")
        return cls(host=values["host"], http_path=values["http_path"], token=token.strip(), catalog=values["catalog"],
                   schema=values["schema"], limits=limits)

    @property
    def location(self) -> str:
        return f"databricks {self.host}: {self.catalog}.{self.schema}"

    def _scrub(self, text: str) -> str:
        secret = self._token.reveal()
        return text.replace(secret, "***") if secret else text

    def _message(self, exc: BaseException) -> str:
        return self._scrub(first_line(exc))

    # -- connections -----------------------------------------------------------------------------------------
    def _connection(self) -> Any:
        conn = getattr(self._thread, "connection", None)
        if conn is None:
            try:
                conn = self._dbsql.connect(server_hostname=self.host, http_path=self.http_path,
                                           access_token=self._token.reveal(), catalog=self.catalog, schema=self.schema)
            except Exception as exc:
                raise EngineFailed(self._message(exc)) from None
            self._thread.connection = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def _run(self, sql: str, limit: int, held: _Held) -> pa.Table:
        import pyarrow as pa  # the connector returns Arrow tables

        conn = self._connection()
        try:
            cursor = conn.cursor()
        except Exception as exc:
            raise EngineFailed(self._message(exc)) from None
        held.handle = cursor
        try:
            text = sql
            if limit and re.match(r"\s*(SELECT|WITH)\b", sql, re.IGNORECASE):
                text = f"SELECT * FROM ({sql}) AS finmatch_capped LIMIT {int(limit)}"
            cursor.execute(text)
            table = cursor.fetchmany_arrow(limit) if limit else cursor.fetchall_arrow()
            return table if isinstance(table, pa.Table) else pa.table({})
        except Exception as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise EngineFailed(self._message(exc)) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def _interrupt(self, held: _Held) -> None:
        if held.handle is not None:
            held.handle.cancel()

    # -- catalog ---------------------------------------------------------------------------------------------
    def _read_tables(self) -> dict[str, list[tuple[str, str]]]:
        schema = self.schema.replace("'", "''")
        table = self._run(f"SELECT table_name, column_name, full_data_type FROM {_q(self.catalog)}.information_schema."
                          f"columns WHERE table_schema = '{schema}' ORDER BY table_name, ordinal_position", 0,
                          _Held(self._tag()))
        tables: dict[str, list[tuple[str, str]]] = {}
        for name, column, dtype in zip(*(table.column(i).to_pylist() for i in range(3)), strict=True):
            tables.setdefault(str(name).lower(), []).append((str(column), str(dtype)))
        return tables

    def _base_reference(self, table: str) -> str:
        return f"{_q(self.catalog)}.{_q(self.schema)}.{_q(table)}"

    def _prepare(self, sql: str) -> str:
        """Each reference to a table with soft-deleted rows becomes the filtered subquery (CTE names are left)."""
        hidden = {t: c for t, c in self._catalog.deleted_when.items() if t not in self._catalog.unusable}
        if not hidden or not re.match(r"\s*(SELECT|WITH|\()", sql, re.IGNORECASE):
            return sql
        tree = sqlglot.parse_one(sql, read="databricks")
        ctes = {str(c.alias_or_name).lower() for c in tree.find_all(exp.CTE)}
        changed = False
        for table in list(tree.find_all(exp.Table)):
            name = str(table.name).lower()
            if table.args.get("db") or name in ctes or name not in hidden:
                continue
            alias = table.alias_or_name
            sub = sqlglot.parse_one(f"SELECT * FROM {self._base_reference(name)} WHERE NOT {hidden[name]}",
                                    read="databricks")
            table.replace(exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
            changed = True
        return tree.sql(dialect="databricks") if changed else sql

    # -- doctor ----------------------------------------------------------------------------------------------
    def write_access(self) -> tuple[bool | None, str]:
        """The principal's grants on the schema and its catalogue (``SHOW GRANTS``): True when any lets it write."""
        try:
            user = self._run("SELECT current_user() AS user", 1, _Held(self._tag())).column(0)[0].as_py()
            found: set[str] = set()
            for target in (f"SCHEMA {_q(self.catalog)}.{_q(self.schema)}", f"CATALOG {_q(self.catalog)}"):
                grants = self._run(f"SHOW GRANTS {_q(str(user))} ON {target}", 0, _Held(self._tag()))
                names = [n.lower() for n in grants.column_names]
                column = next((i for i, n in enumerate(names) if n in ("actiontype", "action_type", "privilege")), 1)
                found |= {str(v).upper() for v in grants.column(column).to_pylist()}
        except EngineFailed as exc:
            return None, f"databricks: cannot list the grants ({exc}); grant SELECT only (docs/engines.md)"
        writes = sorted(found & WRITE_PRIVILEGES)
        if writes:
            return True, (f"principal {user} can write to {self.catalog}.{self.schema} ({', '.join(writes)}): use a "
                          "principal with USE CATALOG, USE SCHEMA and SELECT only")
        return False, f"principal {user}: {', '.join(sorted(found)) or 'no direct grants'} (read-only)"

    def close(self) -> None:
        super().close()
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with contextlib.suppress(Exception):
                conn.close()
