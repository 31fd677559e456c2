"""One lock per job (``<state_dir>/locks/<job>.lock``): the overlapping run exits 75.

Locks are ``fcntl.flock`` locks (:class:`finmatch_agents.files.FileLock`): the kernel releases them when the
holding process dies, however it dies, so a crashed run never blocks the next one.
"""

from __future__ import annotations

from pathlib import Path

from finmatch_agents.files import FileLock, lock_holder

__all__ = ["FileLock", "job_lock", "lock_holder", "lock_path"]


def lock_path(state_dir: Path, name: str) -> Path:
    return state_dir / "locks" / f"{name}.lock"


def job_lock(state_dir: Path, name: str) -> FileLock:
    return FileLock(lock_path(state_dir, name), f"skipped: previous run still running for job {name}")
