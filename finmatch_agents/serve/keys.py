"""API keys: created once by ``finmatch serve keys add NAME``, stored hashed, each with scopes.

A key is ``fmk_<id>_<secret>``: ``id`` (8 hex characters) finds the entry, ``secret`` (32 random bytes,
URL-safe base64) proves it. Only SHA-256 of the whole key is stored, in ``<state_dir>/serve-keys.json``
(mode 0600), and the key is shown once. Because the secret is 256 random bits, a fast hash is enough: a slow
password hash (argon2, bcrypt) protects *guessable* secrets, and would cost every request milliseconds.
Comparison is constant-time (:func:`hmac.compare_digest`).

Scopes: ``read`` (matches, scores, recommendations, similar, ask, runs and reports), ``feedback``
(``POST /v1/feedback``), ``analyze`` (``POST /v1/runs``). The server re-reads the file when it changes, so a
key added or removed while it runs takes effect at the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finmatch_agents.clock import utc_now
from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.files import atomic_write_text, locked

KEYS_FILE = "serve-keys.json"
SCOPES = ("read", "feedback", "analyze")
PREFIX = "fmk"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(rf"^{PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class ApiKey:
    name: str
    key_id: str
    digest: str  # sha256 hex of the whole key
    scopes: tuple[str, ...]
    created_at: str
    rate_limit: int | None = None  # requests per minute; None: the server's FINMATCH_SERVE_RATE_LIMIT

    def public(self) -> dict[str, Any]:
        """What ``keys list`` shows: never the digest."""
        return {"name": self.name, "key_id": self.key_id, "scopes": list(self.scopes), "created_at": self.created_at,
                "rate_limit": self.rate_limit}


def keys_path(state_dir: Path) -> Path:
    return state_dir / KEYS_FILE


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise UsageError(f"--scope: unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise UsageError(f"--scope: give at least one of {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in scopes)


def read_keys(state_dir: Path) -> list[ApiKey]:
    path = keys_path(state_dir)
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [ApiKey(k["name"], k["key_id"], k["digest"], tuple(k["scopes"]), k["created_at"], k.get("rate_limit"))
                for k in data["keys"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"{path}: cannot read the API keys ({exc})",
                           hint=f"fix or remove {path}, then add keys again with `finmatch serve keys add NAME`"
                           ) from exc


def _write(state_dir: Path, keys: list[ApiKey]) -> None:
    path = keys_path(state_dir)
    text = json.dumps({"version": 1, "keys": [{**k.public(), "digest": k.digest} for k in keys]}, indent=2) + "\n"
    try:
        atomic_write_text(path, text)
        path.chmod(0o600)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def add_key(state_dir: Path, name: str, scopes: list[str] | tuple[str, ...], *,
            rate_limit: int | None = None) -> tuple[ApiKey, str]:
    """Create a key; returns its entry and the key itself (the only time it exists in clear)."""
    if rate_limit is not None and rate_limit < 0:
        raise UsageError(f"--rate-limit must be 0 (no limit) or more (got {rate_limit})")
    if not _NAME.match(name):
        raise UsageError(f"NAME: '{name}' must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter or "
                         "digit)")
    chosen = check_scopes(scopes)
    state_dir.mkdir(parents=True, exist_ok=True)
    with locked(state_dir / f".{KEYS_FILE}.lock"):
        keys = read_keys(state_dir)
        if any(k.name == name for k in keys):
            raise UsageError(f"a key named '{name}' exists",
                             hint=f"remove it first: `finmatch serve keys remove {name}`")
        key_id = secrets.token_hex(4)
        while any(k.key_id == key_id for k in keys):
            key_id = secrets.token_hex(4)
        key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        entry = ApiKey(name, key_id, _digest(key), chosen, utc_now(), rate_limit)
        _write(state_dir, [*keys, entry])
    return entry, key


def remove_key(state_dir: Path, name: str) -> ApiKey:
    with locked(state_dir / f".{KEYS_FILE}.lock"):
        keys = read_keys(state_dir)
        found = next((k for k in keys if k.name == name), None)
        if found is None:
            known = ", ".join(k.name for k in keys) or "none"
            raise UsageError(f"no key named '{name}' (keys: {known})")
        _write(state_dir, [k for k in keys if k.name != name])
    return found


class KeyRing:
    """The keys a running server accepts, re-read when the file changes (checked at most once a second)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = keys_path(state_dir)
        self.state_dir = state_dir
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_id: dict[str, ApiKey] = {}
        self._checked = 0.0
        self.reload()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def reload(self) -> None:
        stamp = self._file_stamp()
        keys = read_keys(self.state_dir) if stamp is not None else []
        with self._lock:
            self._by_id = {k.key_id: k for k in keys}
            self._stamp = stamp

    def __len__(self) -> int:
        return len(self._by_id)

    def _maybe_reload(self, now: float) -> None:
        if now - self._checked < 1.0:
            return
        self._checked = now
        if self._file_stamp() != self._stamp:
            self.reload()

    def verify(self, key: str, now: float) -> ApiKey | None:
        """The entry of ``key``, or None when it is not a valid key."""
        self._maybe_reload(now)
        m = _KEY.match(key)
        if not m:
            return None
        entry = self._by_id.get(m.group(1))
        if entry is None or not hmac.compare_digest(entry.digest, _digest(key)):
            return None
        return entry
