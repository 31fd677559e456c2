"""Retention: keep the newest N reports of a job, never the one just written or one being written.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path

#: report files a job's retention may delete: ``<YYYY-MM-DD>-<run_id>.md`` (never latest.md, never temp files),
#: with the ``.html`` page beside it
REPORT_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{8}-\d{6}-[0-9a-f]{4}\.md$")


#: files modified more recently than this are never deleted by retention (being written or just written)
RETENTION_MIN_AGE_S = 10.0


def apply_retention(folder: Path, keep: int | None, *, protect: Iterable[str | Path | None] = (),
                    min_age_s: float = RETENTION_MIN_AGE_S, now: float | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` ``<date>-<run_id>.md`` reports in ``folder``; returns what went.

    Never touches ``latest.md``, temporary files, the ``protect``-ed paths (the report just written), or a
    file modified in the last ``min_age_s`` seconds (being written or just written by another run).
    Newest means by run id, which starts with the run's UTC start time. Readers that have a report open
    keep reading it after deletion (POSIX semantics).
    """
    if keep is None or not folder.is_dir():
        return []
    guarded = {Path(p).resolve() for p in protect if p}
    reports = sorted((p for p in folder.iterdir() if REPORT_FILE.match(p.name) and p.is_file()),
                     key=lambda p: (p.name[11:], p.name), reverse=True)
    now = time.time() if now is None else now
    deleted: list[Path] = []
    for path in reports[keep:]:
        try:
            if path.resolve() in guarded or now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink()
            deleted.append(path)
            page = path.with_suffix(".html")  # the report's HTML page goes with it
            if page.is_file() and page.resolve() not in guarded:
                page.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
    return deleted
