"""Files every part writes the same way: atomic replacement, append-only lines, and advisory locks.

* :func:`atomic_write_text` (and :func:`atomic_write_bytes`) writes a temporary file beside the target, fsyncs
  and renames it, so a reader (or a crash) never sees half a file. New files honour the umask (0644 by default).
* :func:`append_text` appends with one ``write`` on an ``O_APPEND`` file, so concurrent processes
  interleave whole lines (audit log, job logs).
* :class:`FileLock` is an ``fcntl.flock`` lock: the kernel releases it when the holder dies, however it
  dies, so nothing stale is left to clean up. The one lock helper for jobs, config edits and state files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from finmatch_agents.clock import utc_now
from finmatch_agents.errors import Busy


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) all at once; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once (written beside, synced, renamed). An existing file keeps its
    permissions; a new one gets 0666 minus the umask (like any file the user creates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def append_text(path: Path, text: str) -> bool:
    """Append ``text`` in one write; False (never an exception) when the file cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
        return True
    except OSError:
        return False


def lock_holder(path: Path) -> int | None:
    """The process id written in a lock file (only meaningful while the lock is held)."""
    try:
        text = path.read_text().split()
        return int(text[0]) if text else None
    except (OSError, ValueError):
        return None


class FileLock:
    """An exclusive ``flock`` on ``path``. Non-blocking by default: a held lock raises :class:`Busy` with
    ``busy_message`` and the holder's pid (written into the file while held)."""

    def __init__(self, path: Path, busy_message: str = "", *, blocking: bool = False) -> None:
        self.path, self.busy_message, self.blocking = path, busy_message, blocking
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if self.blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = lock_holder(self.path)
            who = f" (pid {holder})" if holder else ""
            raise Busy(f"{self.busy_message or 'locked'}{who}", hint=f"lock {self.path}; retry later") from None
        if not self.blocking:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {utc_now()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            if not self.blocking:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold a blocking lock on ``path`` for the block (serialising short critical sections)."""
    with FileLock(path, blocking=True):
        yield
