"""Create the default synthetic database on a fresh checkout, and nothing else.

Its own small module so that every command that might need the default database can ask without importing the
generator (about 13 ms of start-up that one-shot commands such as ``match customer`` pay for nothing when the
database exists or ``--db`` names another one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finmatch_agents.data.defaults import DEFAULT_CUSTOMERS, DEFAULT_SEED


def ensure_default_database(settings: Any, notify: Callable[[str], None]) -> bool:
    """Create the default synthetic database when it is missing (fresh checkout); True if it was created.

    Only the default path is created: a mistyped --db must be an error, not a silent new database.
    """
    if settings.db.exists() or not settings.db_is_default or getattr(settings, "engine", "duckdb") != "duckdb":
        return False
    from finmatch_agents.data.generator import write_synthetic  # start-up speed: only when creating one

    notify(f"No database at {settings.db} — creating the default synthetic dataset ({DEFAULT_CUSTOMERS:,} "
           f"customers, seed {DEFAULT_SEED}); see data/README.md.")
    counts = write_synthetic(settings.db, DEFAULT_CUSTOMERS, DEFAULT_SEED, force=False, co_acceptance=True)
    notify(f"Created {settings.db} with {counts['fpr_records']:,} recommendation records.")
    return True
