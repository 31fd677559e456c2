"""Where reports go and how they are written (atomically, readable by colleagues: the umask decides)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
    atomic_write_text(path, text)
    atomic_write_text(latest, text)
