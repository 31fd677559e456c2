"""PII masking: nothing personal leaves the machine.

Before any text or query result goes to a remote model, personal data becomes stable tokens
(``PII_NAME_1a2b3c4d``). Tokens are an HMAC of the value with a key kept in the state folder, so the same
customer gets the same token in every run, and the model can still tell customers apart.

* A query that references a PII column anywhere (also ``SELECT *``, aliases, CTEs) has *every* text value
  of its result tokenised. This is conservative: an alias or a function such as ``upper(customer_name)`` cannot
  smuggle a name out.
* E-mail addresses are masked in any text, and PII values seen earlier in the run are masked in any text.
* The token map stays in memory. Only when ``[privacy] unmask_in_report = true`` are tokens in model-written
  text mapped back, and only in the local report.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
TOKEN = re.compile(r"PII_[A-Z]+_[0-9a-f]{8}")
KEY_FILE = "pii.key"


def load_key(state_dir: Path) -> bytes:
    """The installation's masking key (created on first use, readable only by its owner)."""
    path = state_dir / KEY_FILE
    if path.exists():
        return path.read_bytes()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    return key


def references_columns(sql: str, columns: set[str], tables_with_pii: set[str]) -> bool:
    """Whether ``sql`` may return values of ``columns`` (a column reference, or a star over such a table)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return True  # cannot tell: treat as touching PII
    if any(str(col.name).lower() in columns for col in tree.find_all(exp.Column)):
        return True
    # a star in a projection (SELECT *, t.*) exposes every column; count(*) does not
    projected_star = any(isinstance(star.parent, exp.Select | exp.Column) for star in tree.find_all(exp.Star))
    if projected_star:
        tables = {str(t.name).lower() for t in tree.find_all(exp.Table)}
        return bool(tables & tables_with_pii) or not tables
    return False


class Masker:
    def __init__(self, key: bytes, pii_columns: Sequence[str], tables_with_pii: Sequence[str] = ("fpr_records",)):
        self._key = key
        self.columns = {c.lower() for c in pii_columns}
        self.tables = {t.lower() for t in tables_with_pii}
        self._values: dict[str, str] = {}  # original -> token
        self._originals: dict[str, str] = {}  # token -> original
        self._lock = threading.Lock()

    def token(self, value: str, kind: str = "TEXT") -> str:
        with self._lock:
            if value in self._values:
                return self._values[value]
            digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:8]
            token = f"PII_{kind.upper()}_{digest}"
            self._values[value] = token
            self._originals[token] = value
            return token

    def _kind(self, column: str) -> str:
        name = column.lower()
        if "email" in name:
            return "EMAIL"
        if "name" in name:
            return "NAME"
        return "TEXT"

    def text(self, text: str) -> str:
        """Mask e-mail addresses and every PII value already seen in this run."""
        masked = EMAIL.sub(lambda m: self.token(m.group(0), "EMAIL"), text)
        with self._lock:
            known = sorted(self._values, key=len, reverse=True)
        for value in known:
            if len(value) >= 3 and value in masked:
                masked = masked.replace(value, self._values[value])
        return masked

    def rows(self, sql: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """A query result as it may be shown to a model."""
        touches = references_columns(sql, self.columns, self.tables)
        kinds = [self._kind(c) for c in columns]
        out = []
        for row in rows:
            masked_row: list[Any] = []
            for value, kind in zip(row, kinds, strict=True):
                if isinstance(value, str):
                    value = self.token(value, kind) if touches else self.text(value)
                masked_row.append(value)
            out.append(masked_row)
        return out

    def unmask(self, text: str) -> str:
        with self._lock:
            originals = dict(self._originals)
        return TOKEN.sub(lambda m: originals.get(m.group(0), m.group(0)), text)
