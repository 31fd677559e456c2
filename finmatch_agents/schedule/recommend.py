"""Scheduled retraining of the recommenders (``task = "recommend-train"``).

The same pipeline as ``finmatch recommend train`` (time split, rolling folds, bootstrap, gate): a scheduled
recommender is promoted only when it beats popularity on the validation window beyond the interval. Each run
writes ``<reports_dir>/<job>/<date>-<model id>.md`` (and ``latest.md``) with the leaderboard, the gate and the
trend across the saved recommenders; ``keep`` applies to those reports and to the saved recommenders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from finmatch_agents.files import atomic_write_text
from finmatch_agents.recommend import registry
from finmatch_agents.recommend.report import render
from finmatch_agents.recommend.train import train_and_save
from finmatch_agents.schedule.retention import apply_retention

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.schedule.jobs import Job


def retrain_recommenders(settings: Settings, job: Job, *, log: Callable[[str], None]) -> tuple[str, Path, list[Path]]:
    result = train_and_save(settings, promote=True, keep=job.keep, source=f"recommend-train job {job.name}")
    info = registry.get(settings.state_dir, result["model_id"])
    state = "promoted" if result["promoted"] else "not promoted"
    log(f"saved {info.id} ({info.meta['label']}, {state}): {result['evaluation']['gate']['reason']}")
    if result["removed"]:
        log(f"retention (keep {job.keep}) deleted recommender(s) {', '.join(result['removed'])}")
    text = render(info, registry.list_models(settings.state_dir), promoted=result["promoted"])
    folder = settings.reports_dir / job.name
    day = str(info.meta["created_at"])[:10]
    path = folder / f"{day}-{info.id.removeprefix('rec-')}.md"
    atomic_write_text(path, text)
    latest = folder / "latest.md"
    atomic_write_text(latest, text)
    deleted = apply_retention(folder, job.keep, protect=[path, latest])
    if deleted:
        log(f"retention (keep {job.keep}) deleted {len(deleted)} old report(s): " + ", ".join(p.name for p in deleted))
    return info.id, path, deleted
