"""Writing report files atomically: write a temporary file beside the target, fsync, rename.

A reader (or a crash) never sees a half-written report; ``latest.md`` is replaced the same way.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all at once; an existing file's permissions are kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def report_paths(reports_dir: Path, run: dict[str, Any]) -> tuple[Path, Path]:
    """``reports/<YYYY-MM-DD>/finmatch-<run_id>.md`` and ``reports/latest.md`` (scheduled jobs: per job)."""
    day = run["created_at"][:10]
    if run.get("job"):
        folder = reports_dir / run["job"]
        return folder / f"{day}-{run['run_id']}.md", folder / "latest.md"
    return reports_dir / day / f"finmatch-{run['run_id']}.md", reports_dir / "latest.md"


def write_report(text: str, path: Path, latest: Path) -> None:
    atomic_write_text(path, text)
    atomic_write_text(latest, text)
