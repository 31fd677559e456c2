"""Domain errors and the exit codes they map to (DESIGN §6) — the only place exit codes are decided.

Library code raises these; the CLI boundary prints ``title: message`` and exits with ``exit_code``.
Third-party exceptions (DuckDB, sqlglot, httpx...) are converted to one of these where they are caught,
so callers never need to know which library failed.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_MODEL = 4
EXIT_BUSY = 75
EXIT_INTERRUPTED = 130


class FinMatchError(Exception):
    """Base of every error the CLI knows how to report."""

    exit_code: int = EXIT_UNEXPECTED
    title: str = "Error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(FinMatchError):
    """A flag, argument or setting is wrong (names it)."""

    exit_code = EXIT_USAGE
    title = "Usage error"


class MissingExtra(UsageError):
    """An optional dependency group (an ``extra``) is not installed; the hint says how to install it."""

    title = "Missing optional dependency"


class ConfigError(UsageError):
    """``finmatch.toml`` or an environment variable holds a value we cannot use."""

    title = "Configuration error"


class DataError(FinMatchError):
    """Input data is malformed; ``location`` names file, row/line and column when known."""

    exit_code = EXIT_BAD_INPUT
    title = "Bad input data"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.file, self.row, self.line, self.column = file, row, line, column
        self.problems = problems or []
        parts = [p for p in (file, f"line {line}" if line else None,
                             f"row {row}" if row and not line else None,
                             f"column '{column}'" if column else None) if p]
        location = ", ".join(parts)
        full = f"{location}: {message}" if location else message
        if self.problems:
            full += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(full, hint=hint)


class CorruptDatabase(DataError):
    """The database file exists but is not a usable DuckDB database (truncated, damaged, another format)."""

    title = "Unusable database"

    def __init__(self, path: object, cause: BaseException | str) -> None:
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(f"not a usable DuckDB database ({text})", file=str(path),
                         hint="the file may be truncated or damaged: restore it from a backup, or rebuild the data "
                         "into a new file with `finmatch data generate --db NEW` or `finmatch data load FILE --db NEW`")


class DatabaseUnwritable(DataError):
    """The database cannot be written: a read-only file or folder, or a full disk. Nothing was changed."""

    title = "Cannot write the database"


class MissingDatabase(UsageError):
    """The database file named by --db / FINMATCH_DB does not exist."""

    title = "No database"


class SQLRefused(FinMatchError):
    """The sandbox refused a statement; ``rule`` says which rule (see docs/sql.md)."""

    exit_code = EXIT_BAD_INPUT
    title = "SQL refused"

    def __init__(self, rule: str, message: str, *, sql: str | None = None, hint: str | None = None) -> None:
        self.rule = rule
        self.sql = sql
        super().__init__(f"[{rule}] {message}", hint=hint)


class QueryTimeout(SQLRefused):
    """A query ran past its deadline and was interrupted."""

    title = "Query stopped"

    def __init__(self, seconds: float, *, sql: str | None = None) -> None:
        super().__init__(
            "deadline",
            f"query stopped at its deadline of {seconds:g} s",
            sql=sql,
            hint="narrow the query (filters, LIMIT) or raise --timeout / FINMATCH_SQL_TIMEOUT",
        )
        self.seconds = seconds


class QueryFailed(FinMatchError):
    """A validated query failed inside the database (binder/type errors in user SQL)."""

    exit_code = EXIT_BAD_INPUT
    title = "Query failed"


class ModelError(FinMatchError):
    """A model endpoint failed and no fallback was allowed."""

    exit_code = EXIT_MODEL
    title = "Model endpoint failed"


class StorageError(FinMatchError):
    """A state file (run store, checkpoints, chat history) or an output folder cannot be used: corrupt,
    read-only, or the disk is full. Nothing was half-written; the hint says how to recover."""

    exit_code = EXIT_BAD_INPUT
    title = "Storage problem"


class Busy(FinMatchError):
    """Something else holds a lock we need; retrying later will work."""

    exit_code = EXIT_BUSY
    title = "Busy"


class Interrupted(FinMatchError):
    """The user (or a signal) stopped the run; progress is checkpointed where possible."""

    exit_code = EXIT_INTERRUPTED
    title = "Interrupted"


class RunCancelled(Interrupted):
    """Raised inside a graph node when the run was asked to stop (Ctrl-C, SIGTERM)."""


class EngineUnavailable(UsageError):
    """The selected engine (Spark, Databricks SQL) cannot be reached or used as configured: no connection, no
    credentials, a catalogue / schema / table that does not exist. Names the engine, the object and the server's
    message (never a token)."""

    title = "Engine unavailable"
