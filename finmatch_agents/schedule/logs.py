"""Per-job log files and the lines written to them (the events' plain-log format).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finmatch_agents.clock import utc_now

if TYPE_CHECKING:
    from finmatch_agents.runner import Sink


class LogFile:
    """Append-only log file; each write is one ``write`` on an O_APPEND file (safe across processes and
    log rotation). Quacks like a stream so :class:`finmatch_agents.trace.PlainLog` can write to it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, text: str) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text)
        except OSError:
            pass  # a full disk must not turn a finished analysis into a failure
        return len(text)

    def flush(self) -> None:
        return None


class Logger:
    """Timestamped lines (the PlainLog format) to stderr and to a log file."""

    def __init__(self, path: Path | None, stream: Any = None) -> None:
        self.file = LogFile(path) if path else None
        self.stream = stream

    def __call__(self, message: str) -> None:
        line = f"{utc_now()} {message}\n"
        stream = self.stream if self.stream is not None else sys.stderr
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            stream.write(line)
            stream.flush()
        if self.file:
            self.file.write(line)


def job_log_path(state_dir: Path, name: str) -> Path:
    return state_dir / "logs" / f"{name}.log"


class Tee:
    """One event sink that feeds several."""

    def __init__(self, *sinks: Sink) -> None:
        self.sinks = sinks

    def __call__(self, event: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink(event)
