"""Where reports go and how they are written (atomically, readable by colleagues: the umask decides)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from finmatch_agents.errors import StorageError, UsageError
from finmatch_agents.files import atomic_write_text

if TYPE_CHECKING:
    from finmatch_agents.records import RunMeta


def report_paths(reports_dir: Path, run: RunMeta) -> tuple[Path, Path]:
    """``reports/<YYYY-MM-DD>/finmatch-<run_id>.md`` and ``reports/latest.md`` (scheduled jobs: per job)."""
    day = run.created_at[:10]
    if run.job:
        folder = reports_dir / run.job
        return folder / f"{day}-{run.run_id}.md", folder / "latest.md"
    return reports_dir / day / f"finmatch-{run.run_id}.md", reports_dir / "latest.md"


def write_report(text: str, path: Path, latest: Path) -> None:
    try:
        atomic_write_text(path, text)
        atomic_write_text(latest, text)
    except OSError as exc:  # a full or read-only disk: nothing half-written (the writes are atomic)
        raise StorageError(f"cannot write the report {path}: {exc.strerror or exc}",
                           hint="free space or fix permissions, then `finmatch analyze --resume RUN_ID` "
                                "writes it") from exc


def check_writable(folder: Path, flag: str = "--out") -> None:
    """Fail before any work when reports cannot be written to ``folder`` (exit 2, naming it)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot create the reports folder {folder} ({exc.strerror or exc})") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{flag}: the reports folder {folder} is not writable",
                         hint="pick another folder with --out or FINMATCH_REPORTS_DIR")
