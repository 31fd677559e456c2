"""DuckDB's file lock, as our errors: another process writing the database is :class:`Busy` (exit 75)."""

from __future__ import annotations

from pathlib import Path

from finmatch_agents.errors import Busy


def is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set lock" in text)


def busy_from(exc: BaseException, db: Path) -> Busy:
    return Busy(f"{db} is locked by another process ({str(exc).split('Conflicting lock')[-1].strip() or exc})",
                hint="another `finmatch data ...` command is writing it; retry when it finishes")
