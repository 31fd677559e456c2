"""Jobs: tables ``[schedule.jobs.NAME]`` in finmatch.toml (cron, time zone, focus, model, keep, catch-up,
enabled, report format), read and edited with tomlkit so comments and layout are kept; and catch-up of a missed slot.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import tomlkit
from tomlkit.exceptions import TOMLKitError

from finmatch_agents.errors import ConfigError, UsageError
from finmatch_agents.files import atomic_write_text, locked
from finmatch_agents.report.files import parse_formats
from finmatch_agents.runs import RunStore
from finmatch_agents.schedule.cron import get_zone, next_run, parse_instant, previous_run, validate_cron

if TYPE_CHECKING:
    from finmatch_agents.config import Settings


JOB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


JOB_KEYS = ("cron", "timezone", "focus", "model", "keep", "catch_up", "enabled", "format", "added_at", "task",
            "predict_tasks")
#: what a job runs: an analysis (the default), the retraining of the predictive models or of the recommenders
JOB_TASKS = ("analyze", "predict-train", "recommend-train")
PREDICT_TASKS = ("conversion", "churn")


def validate_name(name: str) -> str:
    if not JOB_NAME.match(name or ""):
        raise UsageError(f"NAME: {name!r} is not a valid job name",
                         hint="start with a letter; use letters, digits, '-' and '_' (at most 64 characters)")
    return name


@dataclass(frozen=True)
class Job:
    name: str
    cron: str
    timezone: str = "UTC"
    focus: tuple[str, ...] = ("all",)
    model: str | None = None  # None: the project's model setting
    keep: int | None = None  # None: keep every report
    catch_up: bool = False
    enabled: bool = True
    added_at: str | None = None  # ISO UTC; catch-up never runs a slot from before the job existed
    formats: tuple[str, ...] = ("md",)  # `format = ["md", "html"]`: the HTML page beside each report
    task: str = "analyze"  # analyze | predict-train | recommend-train
    predict_tasks: tuple[str, ...] = PREDICT_TASKS  # predict-train: the models to retrain

    @property
    def zone(self) -> ZoneInfo:
        return get_zone(self.timezone, f"[schedule.jobs.{self.name}] timezone")

    def next_run(self, after: datetime) -> datetime:
        return next_run(self.cron, self.zone, after)

    def previous_run(self, at: datetime) -> datetime:
        return previous_run(self.cron, self.zone, at)

    def to_table(self) -> dict[str, Any]:
        data: dict[str, Any] = {"cron": self.cron, "timezone": self.timezone, "focus": list(self.focus)}
        if self.model:
            data["model"] = self.model
        if self.keep is not None:
            data["keep"] = self.keep
        data["catch_up"] = self.catch_up
        data["enabled"] = self.enabled
        if self.formats != ("md",):
            data["format"] = list(self.formats)
        if self.added_at:
            data["added_at"] = self.added_at
        if self.task != "analyze":
            data["task"] = self.task
        if self.task == "predict-train":
            data["predict_tasks"] = list(self.predict_tasks)
        return data

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.to_table(), "model": self.model, "keep": self.keep,
                "format": list(self.formats)}


def job_from_table(name: str, table: Any) -> Job:
    """A job from its config table; errors name the table and key (exit 2)."""
    where = f"[schedule.jobs.{name}]"
    if not JOB_NAME.match(name):
        raise ConfigError(f"{where}: not a valid job name (letters, digits, '-' and '_', starting with a letter)")
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - set(JOB_KEYS))
    if unknown:
        raise ConfigError(f"{where} {unknown[0]}: unknown key; known: {', '.join(JOB_KEYS)}")
    if "cron" not in table:
        raise ConfigError(f"{where}: 'cron' is required")
    try:
        cron = validate_cron(str(table["cron"]), f"{where} cron")
        timezone = str(table.get("timezone", "UTC"))
        get_zone(timezone, f"{where} timezone")
    except UsageError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None
    focus = table.get("focus", ["all"])
    if isinstance(focus, str):
        focus = [focus]
    if not isinstance(focus, list) or not all(isinstance(f, str) for f in focus) or not focus:
        raise ConfigError(f"{where} focus: expected a list of agent names")
    keep = table.get("keep")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ConfigError(f"{where} keep: expected a whole number of at least 1, got {keep!r}")
    model = table.get("model")
    if model is not None and not isinstance(model, str):
        raise ConfigError(f"{where} model: expected a model name")
    for key in ("catch_up", "enabled"):
        if key in table and not isinstance(table[key], bool):
            raise ConfigError(f"{where} {key}: expected true or false, got {table[key]!r}")
    formats = table.get("format", ["md"])
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        raise ConfigError(f"{where} format: expected a list of report formats (md, html)")
    try:
        chosen = parse_formats(formats, f"{where} format")
    except UsageError as exc:
        raise ConfigError(exc.message) from None
    task = table.get("task", "analyze")
    if task not in JOB_TASKS:
        raise ConfigError(f"{where} task: expected one of {', '.join(JOB_TASKS)}, got {task!r}")
    tasks = table.get("predict_tasks", list(PREDICT_TASKS))
    if not isinstance(tasks, list) or not tasks or any(t not in PREDICT_TASKS for t in tasks):
        raise ConfigError(f"{where} predict_tasks: expected a list of {', '.join(PREDICT_TASKS)}, got {tasks!r}")
    added = table.get("added_at")
    return Job(task=task, predict_tasks=tuple(tasks),
               name=name, cron=cron, timezone=timezone, focus=tuple(focus), model=model or None, keep=keep,
               catch_up=bool(table.get("catch_up", False)), enabled=bool(table.get("enabled", True)),
               added_at=str(added) if added else None, formats=chosen)


def load_jobs(settings: Settings) -> dict[str, Job]:
    """Every job in ``[schedule.jobs]`` of the project config, by name."""
    schedule = settings.section("schedule")
    unknown = sorted(set(schedule) - {"jobs"})
    if unknown:
        raise ConfigError(f"{settings.config_path}: [schedule] {unknown[0]}: unknown key; jobs go in "
                          "[schedule.jobs.NAME]")
    jobs = settings.section("schedule.jobs")
    return {name: job_from_table(name, table) for name, table in sorted(jobs.items())}


def get_job(settings: Settings, name: str) -> Job:
    jobs = load_jobs(settings)
    if name not in jobs:
        known = ", ".join(jobs) or "none"
        raise UsageError(f"NAME: no job {name!r} in {settings.config_path} (jobs: {known})",
                         hint="`finmatch schedule list` shows jobs; `finmatch schedule add` creates one")
    return jobs[name]


@contextlib.contextmanager
def _editing(config_path: Path, state_dir: Path) -> Iterator[Any]:
    """The config as a tomlkit document (comments and layout kept); saved atomically on success.

    A lock in the state folder serialises concurrent edits (two `schedule add` at once both land).
    """
    with locked(state_dir / "locks" / "config.lock"):
        try:
            text = config_path.read_text(encoding="utf-8") if config_path.exists() else ""
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot read ({exc.strerror})") from exc
        try:
            doc = tomlkit.parse(text)
        except TOMLKitError as exc:
            raise ConfigError(f"{config_path}: not valid TOML ({exc})") from exc
        yield doc
        out = tomlkit.dumps(doc)
        atomic_write_text(config_path, out.rstrip("\n") + "\n" if out.strip() else "")


def _jobs_table(doc: Any, config_path: Path, *, create: bool) -> Any:
    """``[schedule.jobs]`` of the config document (created on demand), or None when absent."""
    table = doc
    for key, label in (("schedule", "[schedule]"), ("jobs", "[schedule.jobs]")):
        child = table.get(key)
        if child is None:
            if not create:
                return None
            child = tomlkit.table(is_super_table=True)
            table[key] = child
        if not isinstance(child, dict):
            raise ConfigError(f"{config_path}: {label} must be a table")
        table = child
    return table


def save_job(config_path: Path, state_dir: Path, job: Job, *, replace: bool = False) -> bool:
    """Add (or with ``replace`` overwrite) ``[schedule.jobs.NAME]``; True if it replaced a job."""
    with _editing(config_path, state_dir) as doc:
        jobs = _jobs_table(doc, config_path, create=True)
        existed = job.name in jobs
        if existed and not replace:
            raise UsageError(f"NAME: job {job.name!r} already exists in {config_path}",
                             hint="use --replace to overwrite it, or `finmatch schedule remove` first")
        table = tomlkit.table()
        for key, value in job.to_table().items():
            table[key] = value
        jobs[job.name] = table
    return existed


def delete_job(config_path: Path, state_dir: Path, name: str) -> None:
    with _editing(config_path, state_dir) as doc:
        jobs = _jobs_table(doc, config_path, create=False)
        if jobs is None or name not in jobs:
            raise UsageError(f"NAME: no job {name!r} in {config_path}", hint="`finmatch schedule list` shows jobs")
        del jobs[name]


def missed_slot(job: Job, now: datetime, last_started: datetime | None) -> datetime | None:
    """The scheduled time to catch up on at start, or None.

    With ``catch_up = true``: the most recent scheduled time at or before ``now`` is missed when no run of
    the job (completed, or still running) started at or after it, and the job already existed then
    (``added_at``). Only that one slot is caught up on, however many were missed.
    """
    if not job.catch_up or not job.enabled:
        return None
    slot = job.previous_run(now)
    if last_started is not None and last_started.astimezone(UTC) >= slot.astimezone(UTC):
        return None
    added = parse_instant(job.added_at, f"[schedule.jobs.{job.name}] added_at") if job.added_at else None
    if added is not None and added.astimezone(UTC) > slot.astimezone(UTC):
        return None
    return slot


def last_started(settings: Settings, name: str) -> datetime | None:
    """When the newest completed or running run of job ``name`` started (from the run store)."""
    path = settings.state_dir / "runs.sqlite"
    if not path.exists():
        return None
    store = RunStore(path)
    try:
        for row in store.list_runs(200, job=name):
            if row["status"] in ("completed", "running"):
                return parse_instant(row["created_at"])
    finally:
        store.close()
    return None
