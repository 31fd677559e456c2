"""The guard's verdicts, remembered across processes, so a one-shot command need not load the SQL parser.

A verdict (:func:`finmatch_agents.warehouse.guard.check`) depends only on the statement's text and dialect, the
set of table names the engine knows, the guard's code and the sqlglot release it parses with. One-shot commands
(``match customer``, ``recommend for``) run the same few named statements every time, and importing and
warming the parser is about a tenth of their start-up; so a statement that passed is remembered in the
user's cache folder (``$XDG_CACHE_HOME/finmatch``, else ``~/.cache/finmatch``) under a hash of those
inputs, and the next process that sends it skips the parser.

What is stored: hashes and the tables each statement reads, never SQL text (user questions can hold
names). Refusals are never stored: a refused statement is parsed again every time and names its rule. A
changed guard or sqlglot changes the hash, so old verdicts simply stop matching. The file carries the same
trust as the package's own bytecode cache beside it (whoever can write either can change what runs), and
the connection behind the guard stays read-only with file access off whatever the file says. Reading or
writing the cache never fails a query: an unreadable or corrupt file is ignored and rewritten.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import threading
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from finmatch_agents.warehouse.sqltext import Checked

#: most verdicts kept (the newest; ~100 bytes each, so reading them stays ~1 ms): a run sends ~50-120 statements
MAX_REMEMBERED = 1_000
_FILE = "sql-guard-verdicts.json"


def check(sql: str, known_tables: frozenset[str], *, dialect: str = "duckdb") -> Checked:
    """:func:`guard.check` with the verdicts of earlier processes: the parser loads only for a statement no
    process has passed before (or that the guard refuses)."""
    key = _key(sql, known_tables, dialect)
    tables = _store().get(key)
    if tables is not None:
        return Checked(sql=sql, tables=tables)
    from finmatch_agents.warehouse import guard  # start-up speed: the parser only for statements not seen before

    checked = guard.check(sql, known_tables, dialect=dialect)  # raises on a refusal, which is never remembered
    _store().put(key, checked.tables)
    return checked


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "finmatch" / _FILE


@cache
def _version() -> str:
    """What a verdict depends on besides its inputs: the guard's source and the sqlglot release."""
    digest = hashlib.sha256()
    guard_spec, sqlglot_spec = find_spec("finmatch_agents.warehouse.guard"), find_spec("sqlglot")
    for spec, extra in ((guard_spec, None), (sqlglot_spec, "_version.py")):
        origin = spec.origin if spec is not None else None
        path = Path(origin) if origin else None
        if path is not None and extra:
            path = path.parent / extra
        try:
            digest.update(path.read_bytes() if path is not None else b"?")
        except OSError:
            digest.update(b"?")
    return digest.hexdigest()[:32]


def _key(sql: str, known_tables: frozenset[str], dialect: str) -> str:
    digest = hashlib.sha256(f"{_version()}\0{dialect}".encode())
    digest.update(b"\0".join(t.encode() for t in sorted(known_tables)))
    digest.update(b"\1")
    digest.update(sql.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class _Store:
    """The verdicts read from disk once per process, and those added since (written at exit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.known: dict[str, tuple[str, ...]] = self._read()
        self.added: dict[str, tuple[str, ...]] = {}

    def _read(self) -> dict[str, tuple[str, ...]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(k): tuple(str(t) for t in v) for k, v in data["verdicts"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def get(self, key: str) -> tuple[str, ...] | None:
        return self.known.get(key)

    def put(self, key: str, tables: tuple[str, ...]) -> None:
        with self.lock:
            if not self.added:
                atexit.register(self.flush)
            self.known[key] = self.added[key] = tables

    def flush(self) -> None:
        """Merge the new verdicts into the file (another process may have written it meanwhile) and
        replace it in one rename, so a reader sees the old file or the new one, never half of one."""
        with self.lock:
            if not self.added:
                return
            merged = {**self._read(), **self.added}
            self.added = {}
        kept = dict(list(merged.items())[-MAX_REMEMBERED:])
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps({"verdicts": {k: list(v) for k, v in kept.items()}}), encoding="utf-8")
            partial.replace(self.path)
        except OSError:  # a read-only or full home: the next process parses again, nothing else changes
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)


_STORES: dict[Path, _Store] = {}
_STORES_LOCK = threading.Lock()


def _store() -> _Store:
    path = cache_path()
    with _STORES_LOCK:
        store = _STORES.get(path)
        if store is None:
            store = _STORES[path] = _Store(path)
        return store
