"""DuckDB's file lock, as our errors: another process writing the database is :class:`Busy` (exit 75)."""

from __future__ import annotations

from pathlib import Path

from finmatch_agents.errors import Busy


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def busy_from(exc: BaseException, db: Path, *, writing: bool = False) -> Busy:
    """``writing``: we wanted to write and another process has the file open (a reader counts: DuckDB lets a
    writer in only alone); otherwise we wanted to read while a writer holds it."""
    held = str(exc).split("Conflicting lock")[-1].strip() or str(exc)
    if writing:
        return Busy(f"{db} is open in another process ({held})",
                    hint="an analysis, chat or `finmatch data` command has it open; retry when it finishes")
    return Busy(f"{db} is locked by another process ({held})",
                hint="a `finmatch data ...` command is writing it; retry when it finishes")
