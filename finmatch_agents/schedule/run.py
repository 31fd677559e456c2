"""One run of a job: under its lock, through the runner, then retention.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from finmatch_agents.errors import Busy, FinMatchError
from finmatch_agents.runner import RunRequest, resolve_focus, run_analysis
from finmatch_agents.schedule.locks import job_lock
from finmatch_agents.schedule.recommend import retrain_recommenders
from finmatch_agents.schedule.retention import apply_retention
from finmatch_agents.schedule.train import retrain

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.runner import RunResult, Sink
    from finmatch_agents.schedule.jobs import Job


@dataclass
class JobRun:
    result: RunResult | None  # None for a predict-train job
    deleted: list[Path] = field(default_factory=list)
    models: list[str] = field(default_factory=list)  # predict-train / recommend-train: the models saved
    report: Path | None = None  # recommend-train: the evaluation report written


def run_job(settings: Settings, job: Job, sink: Sink, log: Callable[[str], None], *,
            notify: Callable[[str], None] | None = None) -> JobRun:
    """Run ``job`` once now under its lock, then apply its retention. Busy (exit 75) if a run is going."""
    if job.task == "predict-train":
        return _run_training(settings, job, log)
    if job.task == "recommend-train":
        return _run_recommend_training(settings, job, log)
    focus = resolve_focus(list(job.focus))
    with _locked_run(settings, job, log):
        s = settings.with_overrides(model=job.model) if job.model else settings
        log(f"job {job.name}: started (pid {os.getpid()}; focus {','.join(focus)}; model {s.model}; db {s.db})")
        result = run_analysis(s, RunRequest(focus=focus, job=job.name, formats=job.formats), sink, notify=notify)
        log(f"job {job.name}: completed run {result.run_id}: {result.report_path}")
        deleted = apply_retention(s.reports_dir / job.name, job.keep,
                                  protect=[result.report_path, result.latest_path])
        if deleted:
            log(f"job {job.name}: retention (keep {job.keep}) deleted {len(deleted)} old report(s): "
                + ", ".join(p.name for p in deleted))
        return JobRun(result, deleted)


@contextlib.contextmanager
def _locked_run(settings: Settings, job: Job, log: Callable[[str], None]) -> Iterator[None]:
    """One run of ``job`` under its lock, with one log line for how a failure ended it: another run holds
    the lock (Busy), a domain error with its exit code and hint, or anything else (exit 1)."""
    lock = job_lock(settings.state_dir, job.name)
    try:
        lock.acquire()
    except Busy as exc:
        log(f"job {job.name}: {exc.message}")
        raise
    try:
        yield
    except FinMatchError as exc:
        log(f"job {job.name}: {exc.title.lower()}: {exc.message} (exit {exc.exit_code})"
            + (f"; {exc.hint}" if exc.hint else ""))
        raise
    except BaseException as exc:
        log(f"job {job.name}: failed: {type(exc).__name__}: {exc} (exit 1)")
        raise
    finally:
        lock.release()


def _run_training(settings: Settings, job: Job, log: Callable[[str], None]) -> JobRun:
    """A ``task = "predict-train"`` job: retrain, save and promote its models under the job's lock; keep the
    ``keep`` newest models per task (never the promoted one)."""
    with _locked_run(settings, job, log):
        log(f"job {job.name}: started (pid {os.getpid()}; predict-train {','.join(job.predict_tasks)}; "
            f"db {settings.db})")
        saved = retrain(settings, job.predict_tasks, keep=job.keep, log=lambda m: log(f"job {job.name}: {m}"))
        log(f"job {job.name}: completed: {', '.join(saved)}")
        return JobRun(None, models=saved)


def _run_recommend_training(settings: Settings, job: Job, log: Callable[[str], None]) -> JobRun:
    """A ``task = "recommend-train"`` job: retrain and evaluate the recommenders under the job's lock, promote
    only through the gate, write the evaluation report (with the trend across runs) to the job's reports
    folder; ``keep`` applies to the reports and to the saved recommenders (never the promoted one)."""
    with _locked_run(settings, job, log):
        log(f"job {job.name}: started (pid {os.getpid()}; recommend-train; db {settings.db})")
        model_id, report, deleted = retrain_recommenders(settings, job, log=lambda m: log(f"job {job.name}: {m}"))
        log(f"job {job.name}: completed: {model_id}; report {report}")
        return JobRun(None, deleted=deleted, models=[model_id], report=report)
