"""The only code that opens the database writable (``finmatch data ...``).

Every write is all-or-nothing: a new database is built in a temporary file beside the target and renamed
into place; an existing one is changed inside a single transaction, which DuckDB rolls back if the process
dies before COMMIT. Readers in other processes keep seeing the previous state until then.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents.data.schema import columns_of
from finmatch_agents.errors import Busy, CorruptDatabase, DatabaseUnwritable, DataError, FinMatchError, UsageError
from finmatch_agents.processes import pid_alive
from finmatch_agents.warehouse.locking import busy_from, is_lock_error
from finmatch_agents.warehouse.sqltext import quote_ident

if TYPE_CHECKING:
    import duckdb

META_TABLE = "finmatch_meta"
#: DuckDB's memory while a large write runs (it caches written blocks up to its limit, 80% of RAM by default;
#: beyond this it writes them out or spills to a temporary file beside the database instead)
WRITE_MEMORY_LIMIT = "512MB"
#: how DuckDB and the OS word the storage failures we can explain (matched case-insensitively)
_FULL = ("no space left", "disk full", "not enough space", "errno 28")
_READ_ONLY = ("permission denied", "read-only file system", "read only", "errno 13", "errno 30",
              "operation not permitted")
_CORRUPT = ("not a valid duckdb database", "corrupt database", "could not read enough bytes", "checksum",
            "serialization error", "failed to read", "invalid magic")


def storage_error(exc: BaseException, db: Path) -> FinMatchError:
    """The domain error for a failure to open, read or write ``db`` (DuckDB or OS error), with a way out."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    if is_lock_error(exc):
        return busy_from(exc, db, writing=True)
    if any(k in lowered for k in _FULL):
        return DatabaseUnwritable(f"the disk is full ({text}); nothing was changed", file=str(db),
                                  hint=f"free space on the disk that holds {db.parent}, or pass --db with a path on "
                                  "another disk, then run the command again")
    if any(k in lowered for k in _READ_ONLY):
        return DatabaseUnwritable(f"the database or its folder is read-only ({text}); nothing was changed",
                                  file=str(db), hint=f"make {db} and {db.parent} writable by this user, or pass "
                                  "--db with a writable path")
    if any(k in lowered for k in _CORRUPT):
        return CorruptDatabase(db, text)
    return DataError(f"cannot write the database ({text}); nothing was changed", file=str(db),
                     hint="check the disk and the file, then run the command again")


def connect_writable(db: Path) -> duckdb.DuckDBPyConnection:
    import duckdb

    try:
        db.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(db), config={"autoinstall_known_extensions": False,
                                               "autoload_known_extensions": False})
    except (duckdb.Error, OSError) as exc:
        raise storage_error(exc, db) from exc


def table_ddl(table: str, present: list[str], extra_types: dict[str, str] | None = None) -> str:
    """CREATE TABLE with dictionary types for ``present`` columns (in dictionary order, extras last)."""
    known = {c.name: c for c in columns_of(table) or ()}
    extra_types = extra_types or {}
    ordered = [c.name for c in known.values() if c.name in present] + [n for n in present if n not in known]
    cols = ", ".join(f"{quote_ident(n)} {known[n].type if n in known else extra_types[n]}" for n in ordered)
    return f"CREATE OR REPLACE TABLE {quote_ident(table)} ({cols})"


def ensure_meta(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (table_name VARCHAR PRIMARY KEY, source VARCHAR, "
                "details VARCHAR, written_at TIMESTAMP)")


def record_meta(con: duckdb.DuckDBPyConnection, table: str, source: str, details: dict[str, Any]) -> None:
    ensure_meta(con)
    con.execute(f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?, ?, now())",
                [table, source, json.dumps(details, sort_keys=True, default=str)])


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()
    return {r[0] for r in rows}


def remove_stale_temp_files(db: Path) -> None:
    """Temp databases left by writers that were killed (their PID is gone) are garbage."""
    for leftover in db.parent.glob(f".{db.name}.*.tmp*"):
        pid = leftover.name[len(db.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def _temp_database(db: Path) -> Iterator[Path]:
    remove_stale_temp_files(db)
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        yield tmp
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def atomic_write(db: Path, work: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """Run ``work`` on a writable connection so that its effect lands completely or not at all.

    Storage failures (a damaged file, a read-only folder, a full disk) become domain errors naming the file
    and a way out; what ``work`` raises itself (validation errors) passes through unchanged."""
    import duckdb

    try:
        _atomic_write(db, work)
    except FinMatchError:
        raise
    except (duckdb.IOException, duckdb.PermissionException, duckdb.SerializationException, OSError) as exc:
        raise storage_error(exc, db) from exc
    except duckdb.Error as exc:
        if any(k in str(exc).lower() for k in (*_FULL, *_READ_ONLY, *_CORRUPT)):
            raise storage_error(exc, db) from exc
        raise


def _atomic_write(db: Path, work: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
    """A new database is built statement by statement in a temporary file (no transaction: DuckDB holds what a
    transaction's statements appended until it commits, about 100 MB per million generated records)."""
    import duckdb

    if not db.exists():
        with _temp_database(db) as tmp:
            con = connect_writable(tmp)
            try:
                work(con)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            if db.exists():  # someone created it meanwhile: do not clobber their data
                raise Busy(f"{db} appeared while it was being created; run the command again")
            tmp.replace(db)
        return
    con = connect_writable(db)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            work(con)
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        con.execute("CHECKPOINT")
    finally:
        con.close()


def check_replace(con: duckdb.DuckDBPyConnection, tables: list[str], force: bool, db: Path) -> None:
    clash = sorted(set(tables) & existing_tables(con))
    if clash and not force:
        raise UsageError(f"{db} already has table(s) {', '.join(clash)}",
                         hint="pass --force to replace them")
