"""PII masking: nothing personal leaves the machine.

Before any text or query result goes to a remote model, personal data becomes stable tokens
(``PII_NAME_1a2b3c4d``). Tokens are an HMAC of the value with a key kept in the state folder, so the same
customer gets the same token in every run, and the model can still tell customers apart.

Masking looks at the *result*, never only at the query, because SQL can reach a column without naming it
(``SELECT fpr_records FROM fpr_records``, ``COLUMNS(*)``, ``#3``, ``to_json(t)``):

* **Lineage.** A result column or a nested struct field named after a PII column (``customer_name``,
  ``min(customer_name)``) has every text value under it tokenised. A query that names a PII column
  anywhere has *every* text value of its result tokenised (an alias cannot smuggle a name out).
* **Value.** The masker knows the dataset's actual PII values: built for a database
  (:meth:`Masker.for_engine`, :meth:`Masker.for_settings`), it reads the distinct values of the PII columns
  through the sandbox once, lazily. Any occurrence of a known value inside any text (rows, nested lists,
  structs and maps, JSON text, error messages, prompts) is tokenised, ignoring case and punctuation
  between words. E-mail addresses are masked in any text, known or not.
* Every pass is linear in the length of the text: words are looked up in a set of known values (windows
  of up to :data:`MAX_VALUE_WORDS` words), e-mail addresses are found without backtracking.
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
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from finmatch_agents.errors import ConfigError, MissingDatabase
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse.engine import DuckDBEngine, open_engine

if TYPE_CHECKING:
    from finmatch_agents.config import Settings

TOKEN = re.compile(r"PII_[A-Z]+_[0-9a-f]{8}")
KEY_FILE = "pii.key"
#: a key shorter than this is a damaged file, not a key
MIN_KEY_BYTES = 16
#: longest known value (in words) that is recognised inside text
MAX_VALUE_WORDS = 8
#: a known value shorter than this (in letters and digits) is not searched for in text (too many false hits)
MIN_VALUE_CHARS = 3

_WORD = re.compile(r"[^\W_]+")
_WORD_SPLIT = re.compile(r"([^\W_]+)")
#: an e-mail address, found in linear time: the look-behind lets a match start only where a run of
#: local-part characters starts, and the possessive ``++`` never gives those characters back, so no
#: position is scanned more than a few times (the plain pattern was quadratic on long runs without '@')
EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]++@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PLAIN = (bool, int, float, Decimal, date, datetime, time, timedelta)

#: (table, column, value) triples of the dataset's PII values
ValueSource = Callable[[], Iterable[tuple[str, str, str]]]


def load_key(state_dir: Path) -> bytes:
    """The installation's masking key (created on first use, readable only by its owner).

    An unreadable, empty or truncated key file is an error: silently using an empty HMAC key would make
    tokens guessable."""
    path = state_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        return _create_key(state_dir, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the PII masking key ({exc.strerror or exc})",
                          hint=f"make {path} readable by this user (chmod 600), or set FINMATCH_STATE_DIR to the "
                          "folder that holds your key") from exc
    if len(key) < MIN_KEY_BYTES:
        what = "empty" if not key else f"only {len(key)} bytes long"
        raise ConfigError(f"{path}: the PII masking key is {what} (a damaged file)",
                          hint=f"restore {path} from a backup to keep your tokens, or delete it to create a new key "
                          "(tokens in earlier reports will then differ)")
    return key


def _create_key(state_dir: Path, path: Path) -> bytes:
    """Write a new key atomically: another process sees no key file or a complete one, never an empty one."""
    key = secrets.token_bytes(32)
    tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process created it first: use theirs
            return load_key(state_dir)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the PII masking key ({exc.strerror or exc})",
                          hint="FINMATCH_STATE_DIR must be a writable folder") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return key


def references_columns(sql: str, columns: set[str], tables_with_pii: set[str]) -> bool:
    """Whether ``sql`` may return values of ``columns``, also transformed ones (``reverse(#3)``).

    True for a reference to such a column by name; and, when the query reads a table holding PII, for
    anything that reaches columns without naming them: a star (``SELECT *``, ``t.*``, ``struct_pack(*)``;
    not ``count(*)``), a positional reference (``#3``), ``COLUMNS(...)`` whose pattern may match a PII
    column, or a whole row used as a value (``SELECT t``, ``to_json(t)``)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except (sqlglot.errors.SqlglotError, RecursionError):
        return True  # cannot tell: treat as touching PII
    if tree is None:
        return False
    refs = list(tree.find_all(exp.Column))
    if any(str(col.name).lower() in columns for col in refs):
        return True
    tables = list(tree.find_all(exp.Table))
    names = {str(t.name).lower() for t in tables}
    if not names & tables_with_pii:
        # a star over no table at all may still come from a CTE the parser could not follow
        return not names and any(not isinstance(star.parent, exp.Count) for star in tree.find_all(exp.Star))
    if any(not isinstance(star.parent, exp.Count) for star in tree.find_all(exp.Star)):
        return True
    positional = getattr(exp, "PositionalColumn", None)
    if positional is not None and any(True for _ in tree.find_all(positional)):
        return True
    for node in tree.find_all(exp.Columns):
        pattern = node.this
        if not (isinstance(pattern, exp.Literal) and pattern.is_string):
            return True  # COLUMNS(*), COLUMNS(lambda): any column
        try:
            if any(re.search(str(pattern.this), c) for c in columns):
                return True
        except re.error:
            return True
    rows = names | {str(t.alias).lower() for t in tables if t.alias}
    return any(not col.table and str(col.name).lower() in rows for col in refs)


def pii_values(engine: DuckDBEngine, columns: Iterable[str]) -> list[tuple[str, str, str]]:
    """Every distinct value of every PII column in every table of ``engine`` (through the sandbox)."""
    wanted = {c.lower() for c in columns}
    log = QueryLog(prefix="PII")  # system SQL: not part of any run's provenance
    found: list[tuple[str, str, str]] = []
    for table in engine.tables():
        for col in engine.columns(table):
            if col.name.lower() in wanted:
                found += [(table, col.name, v) for v in engine.distinct_values(table, col.name, log=log)]
    return found


def _kind(column: str) -> str:
    name = column.lower()
    if "email" in name:
        return "EMAIL"
    if "name" in name:
        return "NAME"
    return "TEXT"


def _words(value: str) -> tuple[str, ...]:
    return tuple(w.casefold() for w in _WORD.findall(value))


class Masker:
    """Tokenises personal data in text and query results before they go to a model."""

    def __init__(self, key: bytes, pii_columns: Sequence[str], tables_with_pii: Sequence[str] = ("fpr_records",),
                 *, values: ValueSource | None = None) -> None:
        if not key:
            raise ConfigError("the PII masking key is empty")
        self._key = key
        self.columns = {c.lower() for c in pii_columns}
        self.tables = {t.lower() for t in tables_with_pii}
        self._lineage = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(c) for c in sorted(self.columns))
                                   + r")(?![A-Za-z0-9_])", re.IGNORECASE) if self.columns else None
        self._values: dict[str, str] = {}  # original -> token
        self._originals: dict[str, str] = {}  # token -> original
        self._known: dict[tuple[str, ...], tuple[str, str]] = {}  # words of a value -> (value, kind)
        self._lengths: dict[str, tuple[int, ...]] = {}  # first word -> window lengths to try, longest first
        self._lock = threading.RLock()
        self._source = values
        self._learned = values is None

    # -- construction for a database ------------------------------------------------------------------------
    @classmethod
    def for_engine(cls, key: bytes, pii_columns: Sequence[str], engine: DuckDBEngine) -> Masker:
        """A masker that learns the PII values of ``engine``'s database (lazily, on first use)."""
        wanted = {c.lower() for c in pii_columns}
        tables = [t for t in engine.tables() if any(c.name.lower() in wanted for c in engine.columns(t))]
        return cls(key, pii_columns, tables or ("fpr_records",), values=lambda: pii_values(engine, pii_columns))

    @classmethod
    def for_settings(cls, key: bytes, pii_columns: Sequence[str], settings: Settings) -> Masker:
        """A masker for the database of ``settings``: its own short-lived sandbox reads the PII values on first use."""
        def read() -> list[tuple[str, str, str]]:
            try:
                engine = open_engine(settings)
            except MissingDatabase:  # no data there, so none of it can reach a model
                return []
            with engine:
                return pii_values(engine, pii_columns)

        return cls(key, pii_columns, values=read)

    def _ensure_learned(self) -> None:
        if self._learned:
            return
        with self._lock:
            if self._learned or self._source is None:
                return
            found = list(self._source())  # a failure propagates: nothing may go to a model unmasked
            for table, column, value in found:
                self.tables.add(table.lower())
                self._remember(value, _kind(column))
            self._learned = True

    def learn(self, values: Iterable[str], kind: str = "TEXT") -> None:
        """Add known PII values: any later occurrence in any text is tokenised."""
        with self._lock:
            for value in values:
                self._remember(value, kind)

    def _remember(self, value: str, kind: str) -> None:
        words = _words(value)
        if not words or len(words) > MAX_VALUE_WORDS or sum(map(len, words)) < MIN_VALUE_CHARS:
            return
        if words in self._known:
            return
        self._known[words] = (value, kind)
        lengths = set(self._lengths.get(words[0], ())) | {len(words)}
        self._lengths[words[0]] = tuple(sorted(lengths, reverse=True))

    # -- tokens ---------------------------------------------------------------------------------------------
    def token(self, value: str, kind: str = "TEXT") -> str:
        with self._lock:
            if value in self._values:
                return self._values[value]
            digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:8]
            token = f"PII_{kind.upper()}_{digest}"
            self._values[value] = token
            self._originals[token] = value
            self._remember(value, kind)  # seen once, masked in any later text
            return token

    def _canonical_token(self, value: str, kind: str) -> str:
        """The token of the known value ``value`` spells (so 'ANN LEE' and 'Ann Lee' get one token)."""
        known = self._known.get(_words(value))
        return self.token(known[0], known[1]) if known else self.token(value, kind)

    def unmask(self, text: str) -> str:
        with self._lock:
            originals = dict(self._originals)
        return TOKEN.sub(lambda m: originals.get(m.group(0), m.group(0)), text)

    # -- text -----------------------------------------------------------------------------------------------
    def text(self, text: str) -> str:
        """``text`` with e-mail addresses and every known PII value tokenised (linear in its length)."""
        self._ensure_learned()
        if not text:
            return text
        return self._mask_known(self._mask_emails(text))

    def _mask_emails(self, text: str) -> str:
        if "@" not in text:
            return text
        return EMAIL.sub(lambda m: self._canonical_token(m.group(0), "EMAIL"), text)

    def _mask_known(self, text: str) -> str:
        """Replace known values, found as windows of words looked up in a dict (C-speed splitting and folding;
        Python work only where a word starts a known value)."""
        lengths = self._lengths
        if not lengths:
            return text
        parts = _WORD_SPLIT.split(text)  # separator, word, separator, word, ..., separator
        words = parts[1::2]
        folded = "\x00".join(words).casefold().split("\x00")
        if len(folded) != len(words):
            folded = [w.casefold() for w in words]
        if lengths.keys().isdisjoint(folded):
            return text
        free = 0
        for i in [j for j, w in enumerate(folded) if w in lengths]:
            if i < free:
                continue
            for length in lengths[folded[i]]:
                found = self._known.get(tuple(folded[i:i + length])) if i + length <= len(words) else None
                if found is not None:
                    parts[2 * i + 1] = self.token(*found)
                    for k in range(2 * i + 2, 2 * (i + length)):
                        parts[k] = ""  # the rest of the value: its words and the separators between them
                    free = i + length
                    break
        return "".join(parts)

    # -- query results --------------------------------------------------------------------------------------
    def _lineage_kind(self, label: str) -> str | None:
        """The token kind when ``label`` (a result column or struct field) is derived from a PII column."""
        if self._lineage is None:
            return None
        match = self._lineage.search(label)
        return _kind(match.group(1)) if match else None

    def value(self, value: Any, kind: str | None = None) -> Any:
        """``value`` as it may be shown to a model; ``kind`` set means it derives from a PII column.

        Recurses through lists, tuples, structs and maps (struct field names count for lineage, map keys are
        masked like any text)."""
        if value is None or isinstance(value, _PLAIN):
            return value
        if isinstance(value, str):
            return self._canonical_token(value, kind) if kind else self.text(value)
        if isinstance(value, bytes | bytearray):
            return self.value(bytes(value).decode("utf-8", "replace"), kind)
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                label = k if isinstance(k, str) else None
                field_kind = kind or (self._lineage_kind(label) if label is not None else None)
                masked_key = k if k is None or isinstance(k, _PLAIN) else self.value(k, kind)
                out[tuple(masked_key) if isinstance(masked_key, list) else masked_key] = self.value(v, field_kind)
            return out
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v, kind) for v in value]
        return self.value(str(value), kind)  # UUIDs and other objects travel as text

    def rows(self, sql: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """A query result as it may be shown to a model."""
        self._ensure_learned()
        touches = references_columns(sql, self.columns, self.tables)
        kinds = [self._lineage_kind(c) or ("TEXT" if touches else None) for c in columns]
        return [[self.value(v, kind) for v, kind in zip(row, kinds, strict=True)] for row in rows]
