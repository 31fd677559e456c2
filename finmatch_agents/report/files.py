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


#: the report formats `analyze --format` and a job's `format` accept (markdown is always written)
FORMATS = ("md", "html")


def parse_formats(values: list[str] | tuple[str, ...] | None, flag: str = "--format") -> tuple[str, ...]:
    """``["md,html"]`` or ``["html"]`` -> ``("md", "html")``: markdown always, in a fixed order."""
    chosen = {"md"}
    for value in values or []:
        for item in (v.strip().lower() for v in str(value).split(",")):
            if item not in FORMATS:
                raise UsageError(f"{flag}: {item!r} is not one of {', '.join(FORMATS)}")
            chosen.add(item)
    return tuple(f for f in FORMATS if f in chosen)


def html_paths(path: Path, latest: Path) -> tuple[Path, Path]:
    """The HTML page beside the markdown: ``X.html`` and ``latest.html``."""
    return path.with_suffix(".html"), latest.with_suffix(".html")


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
