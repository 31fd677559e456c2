"""Scheduled analyses: cron jobs kept in finmatch.toml, their clocks, locks, logs, retention and the scheduler.

A job is a table ``[schedule.jobs.NAME]`` in the project config (cron expression, IANA time zone, focus,
model, how many reports to keep, catch-up, enabled). Three ways to run jobs, all through
:func:`run_job`:

- ``finmatch schedule run-once NAME``: one run now, under the job's lock (what a crontab line calls);
- ``finmatch schedule run``: :class:`Scheduler`, a foreground process that starts due jobs one at a time,
  each in its own ``run-once`` child process, and stops cleanly on SIGTERM;
- system cron, with the lines ``finmatch schedule crontab`` prints.

Clock rules (:func:`next_run`): cron fields are read as wall-clock time in the job's zone. A wall-clock
time that does not exist (skipped when clocks go forward) runs at the moment the clocks jump; a time that
happens twice (clocks go back) runs at its first occurrence only. So a daily job runs exactly once a day
across DST changes.

Locks are ``fcntl.flock`` locks on ``<state_dir>/locks/<job>.lock``: the kernel releases them when the
holding process dies, however it dies, so a crashed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finmatch_agents.errors import Busy, ConfigError, UsageError
from finmatch_agents.evidence import utc_now
from finmatch_agents.report.files import atomic_write_text

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.runner import RunResult, Sink

JOB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
JOB_KEYS = ("cron", "timezone", "focus", "model", "keep", "catch_up", "enabled", "added_at")
#: report files a job's retention may delete: ``<YYYY-MM-DD>-<run_id>.md`` (never latest.md, never temp files)
REPORT_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{8}-\d{6}-[0-9a-f]{4}\.md$")
#: files modified more recently than this are never deleted by retention (being written or just written)
RETENTION_MIN_AGE_S = 10.0
#: the widest wall-clock shift a DST change makes (2 h in Antarctica/Troll); searches start this far away
_SHIFT = timedelta(hours=3)


# -- validation -----------------------------------------------------------------------------------------
def validate_name(name: str) -> str:
    if not JOB_NAME.match(name or ""):
        raise UsageError(f"NAME: {name!r} is not a valid job name",
                         hint="start with a letter; use letters, digits, '-' and '_' (at most 64 characters)")
    return name


def expand_cron(expr: str) -> str:
    """The five-field form of ``expr`` (aliases such as ``@daily`` expanded)."""
    text = " ".join(str(expr).split())
    return ALIASES.get(text.lower(), text)


def validate_cron(expr: str, where: str = "--cron") -> str:
    """``expr`` tidied (single spaces) if it is a valid five-field cron expression or alias; else UsageError."""
    from croniter import croniter

    text = " ".join(str(expr).split())
    five = expand_cron(text)
    if text.startswith("@") and text.lower() not in ALIASES:
        raise UsageError(f"{where}: {expr!r} is not a supported alias (use one of {', '.join(ALIASES)})")
    if len(five.split()) != 5 or not croniter.is_valid(five):
        raise UsageError(f"{where}: {expr!r} is not a valid cron expression",
                         hint='five fields: minute hour day-of-month month day-of-week, e.g. "0 7 * * MON"; '
                              "names (MON, JAN) and @hourly/@daily/@weekly/@monthly work")
    return text


def get_zone(name: str, where: str = "--timezone") -> ZoneInfo:
    try:
        if not name or name != name.strip() or name.startswith(("/", ".")):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"{where}: {name!r} is not an IANA time zone",
                         hint="for example Europe/London, America/New_York, Asia/Tokyo or UTC") from exc


def local_zone_name() -> str:
    """This machine's IANA zone name (TZ, /etc/localtime, /etc/timezone), or UTC when it cannot be told."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        target = str(Path("/etc/localtime").readlink())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    for name in candidates:
        if name:
            with contextlib.suppress(UsageError):
                get_zone(name)
                return "UTC" if name in ("Etc/UTC", "UCT", "Etc/UCT", "Universal", "Zulu") else name
    return "UTC"


def parse_instant(text: str, where: str = "--now") -> datetime:
    """An ISO 8601 instant; without an offset it is UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{where}: {text!r} is not an ISO 8601 date-time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- clock ----------------------------------------------------------------------------------------------
def _exists(aware: datetime) -> bool:
    back = aware.astimezone(UTC).astimezone(aware.tzinfo)
    return back.replace(tzinfo=None) == aware.replace(tzinfo=None)


def resolve_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a wall-clock time names in ``zone``.

    A time skipped when clocks go forward becomes the moment they jump (the first wall-clock minute that
    exists after it); a time that happens twice when clocks go back is its first occurrence.
    """
    first = wall.replace(tzinfo=zone, fold=0)
    if _exists(first):
        return first
    probe = wall.replace(second=0, microsecond=0)
    for _ in range(3 * 24 * 60):  # the longest gap on record is one day (Samoa, 2011)
        probe += timedelta(minutes=1)
        candidate = probe.replace(tzinfo=zone, fold=0)
        if _exists(candidate):
            return candidate
    raise ValueError(f"no valid time after {wall} in {zone}")


def next_run(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first scheduled instant strictly after ``after`` (aware), in ``zone``."""
    from croniter import croniter

    start = after.astimezone(zone).replace(tzinfo=None) - _SHIFT
    limit = after.astimezone(UTC)  # compare in UTC: same-zone comparisons ignore fold (DST's repeated hour)
    it = croniter(expand_cron(cron), start)
    for _ in range(200_000):
        when = resolve_wall_time(it.get_next(datetime), zone)
        if when.astimezone(UTC) > limit:
            return when
    raise ValueError(f"{cron!r} has no run after {after}")


def previous_run(cron: str, zone: ZoneInfo, at: datetime) -> datetime:
    """The latest scheduled instant at or before ``at`` (aware), in ``zone``."""
    from croniter import croniter

    start = at.astimezone(zone).replace(tzinfo=None) + _SHIFT
    limit = at.astimezone(UTC)
    it = croniter(expand_cron(cron), start)
    for _ in range(200_000):
        when = resolve_wall_time(it.get_prev(datetime), zone)
        if when.astimezone(UTC) <= limit:
            return when
    raise ValueError(f"{cron!r} has no run before {at}")


def upcoming(cron: str, zone: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    out: list[datetime] = []
    when = after
    for _ in range(count):
        when = next_run(cron, zone, when)
        out.append(when)
    return out


# -- jobs -----------------------------------------------------------------------------------------------
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
        if self.added_at:
            data["added_at"] = self.added_at
        return data

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.to_table(), "model": self.model, "keep": self.keep}


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
    added = table.get("added_at")
    return Job(name=name, cron=cron, timezone=timezone, focus=tuple(focus), model=model or None, keep=keep,
               catch_up=bool(table.get("catch_up", False)), enabled=bool(table.get("enabled", True)),
               added_at=str(added) if added else None)


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


# -- the config file ------------------------------------------------------------------------------------
@contextlib.contextmanager
def _editing(config_path: Path, state_dir: Path) -> Iterator[Any]:
    """The config as a tomlkit document (comments and layout kept); saved atomically on success.

    A lock in the state folder serialises concurrent edits (two `schedule add` at once both land).
    """
    import fcntl

    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    lock_path = state_dir / "locks" / "config.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
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
    import tomlkit

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
    import tomlkit

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


# -- locks ----------------------------------------------------------------------------------------------
def lock_path(state_dir: Path, name: str) -> Path:
    return state_dir / "locks" / f"{name}.lock"


def lock_holder(path: Path) -> int | None:
    """The process id written in a lock file (only meaningful while the lock is held)."""
    try:
        text = path.read_text().split()
        return int(text[0]) if text else None
    except (OSError, ValueError):
        return None


class FileLock:
    """A non-blocking exclusive ``flock`` on ``path``; the holder's pid is written into the file.

    The kernel drops the lock when the process exits or dies (SIGKILL, OOM, power loss): nothing stale
    to clean up. The file itself stays (deleting it would race with a process about to lock it).
    """

    def __init__(self, path: Path, busy_message: str) -> None:
        self.path, self.busy_message = path, busy_message
        self._fd: int | None = None

    def acquire(self) -> FileLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = lock_holder(self.path)
            who = f" (pid {holder})" if holder else ""
            raise Busy(f"{self.busy_message}{who}", hint=f"lock {self.path}; retry later") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {utc_now()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def job_lock(state_dir: Path, name: str) -> FileLock:
    return FileLock(lock_path(state_dir, name), f"skipped: previous run still running for job {name}")


# -- logs -----------------------------------------------------------------------------------------------
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


# -- retention ------------------------------------------------------------------------------------------
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
        except FileNotFoundError:
            continue
    return deleted


# -- catch-up -------------------------------------------------------------------------------------------
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
    from finmatch_agents.runs import RunStore

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


# -- one run --------------------------------------------------------------------------------------------
@dataclass
class JobRun:
    result: RunResult
    deleted: list[Path] = field(default_factory=list)


def run_job(settings: Settings, job: Job, sink: Sink, log: Callable[[str], None], *,
            notify: Callable[[str], None] | None = None) -> JobRun:
    """Run ``job`` once now under its lock, then apply its retention. Busy (exit 75) if a run is going."""
    from finmatch_agents.errors import FinMatchError
    from finmatch_agents.runner import RunRequest, resolve_focus, run_analysis

    focus = resolve_focus(list(job.focus))
    lock = job_lock(settings.state_dir, job.name)
    try:
        lock.acquire()
    except Busy as exc:
        log(f"job {job.name}: {exc.message}")
        raise
    try:
        s = settings.with_overrides(model=job.model) if job.model else settings
        log(f"job {job.name}: started (pid {os.getpid()}; focus {','.join(focus)}; model {s.model}; db {s.db})")
        try:
            result = run_analysis(s, RunRequest(focus=focus, job=job.name), sink, notify=notify)
        except FinMatchError as exc:
            log(f"job {job.name}: {exc.title.lower()}: {exc.message} (exit {exc.exit_code})"
                + (f"; {exc.hint}" if exc.hint else ""))
            raise
        except BaseException as exc:
            log(f"job {job.name}: failed: {type(exc).__name__}: {exc} (exit 1)")
            raise
        log(f"job {job.name}: completed run {result.run_id}: {result.report_path}")
        deleted = apply_retention(s.reports_dir / job.name, job.keep,
                                  protect=[result.report_path, result.latest_path])
        if deleted:
            log(f"job {job.name}: retention (keep {job.keep}) deleted {len(deleted)} old report(s): "
                + ", ".join(p.name for p in deleted))
        return JobRun(result, deleted)
    finally:
        lock.release()


# -- the scheduler --------------------------------------------------------------------------------------
EXIT_MEANING = {0: "completed", 1: "failed (unexpected error)", 2: "failed (usage or configuration error)",
                3: "failed (bad data or refused SQL)", 4: "failed (model endpoint)",
                75: "skipped: previous run still running", 130: "interrupted"}


class Scheduler:
    """Starts due jobs one at a time, each as a child process, until ``stop`` is set.

    ``jobs`` is re-read every tick, so `schedule add/remove` take effect without a restart. ``spawn``
    starts ``finmatch schedule run-once NAME`` and returns the process; ``clock`` gives the time (tests pass
    a controlled one). On stop, a running child gets SIGTERM (it checkpoints and exits 130) and is waited
    for; after ``grace_s`` it gets a second signal, which ends it at once (still resumable).
    """

    def __init__(self, jobs: Callable[[], dict[str, Job]], spawn: Callable[[Job], subprocess.Popen[Any]],
                 log: Callable[[str], None], *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 tick_s: float = 30.0, last_started: Callable[[str], datetime | None] = lambda _n: None,
                 grace_s: float = 120.0, describe: Callable[[Job, int], str] = lambda _j, _rc: "") -> None:
        self.load, self.spawn, self.log, self.clock = jobs, spawn, log, clock
        self.tick_s, self.last_started, self.grace_s, self.describe = tick_s, last_started, grace_s, describe
        self.jobs: dict[str, Job] = {}
        self.next_due: dict[str, datetime] = {}
        self.queue: list[tuple[datetime, str, str]] = []  # (due, name, why)
        self.history: list[tuple[str, int]] = []  # (job, exit code) of finished children
        self.hurry = threading.Event()  # a second stop signal: end the running child at once

    def _reload(self, now: datetime, *, first: bool = False) -> None:
        try:
            jobs = {n: j for n, j in self.load().items() if j.enabled}
        except Exception as exc:  # a bad edit must not stop the scheduler: keep the jobs we had
            message = getattr(exc, "message", str(exc))
            if first:
                raise
            self.log(f"scheduler: config not reloaded ({message}); keeping {len(self.jobs)} job(s)")
            return
        for name, job in jobs.items():
            if self.jobs.get(name) != job:
                self.next_due[name] = job.next_run(now).astimezone(UTC)
                if not first:
                    self.log(f"scheduler: job {name} {'changed' if name in self.jobs else 'added'}; next run "
                             f"{_show(self.next_due[name])}")
        for name in set(self.jobs) - set(jobs):
            self.next_due.pop(name, None)
            self.log(f"scheduler: job {name} removed or disabled")
        self.jobs = jobs

    def _enqueue(self, due: datetime, name: str, why: str) -> None:
        if all(n != name for _, n, _ in self.queue):
            self.queue.append((due, name, why))
            self.queue.sort()

    def run(self, stop: threading.Event) -> int:
        now = self.clock()
        self._reload(now, first=True)
        names = ", ".join(f"{n} (next {_show(self.next_due[n])})" for n in self.jobs) or "none"
        self.log(f"scheduler: started (pid {os.getpid()}); jobs: {names}")
        if not self.jobs:
            self.log("scheduler: no enabled jobs yet; add one with `finmatch schedule add` (re-read every tick)")
        for job in self.jobs.values():
            slot = missed_slot(job, now, self.last_started(job.name))
            if slot is not None:
                self.log(f"scheduler: job {job.name} missed its run at {_show(slot.astimezone(UTC))}; catching up now")
                self._enqueue(slot.astimezone(UTC), job.name, "catch-up")
        last_reload = time.monotonic()
        while not stop.is_set():
            now = self.clock()
            if time.monotonic() - last_reload >= self.tick_s:
                self._reload(now)
                last_reload = time.monotonic()
            for name, due in list(self.next_due.items()):
                if due <= now.astimezone(UTC):
                    self._enqueue(due, name, "scheduled")
                    self.next_due[name] = self.jobs[name].next_run(now).astimezone(UTC)
            if self.queue:
                due, name, why = self.queue.pop(0)
                if name in self.jobs:
                    self._run_child(self.jobs[name], due, why, stop)
                continue
            wait = self.tick_s
            if self.next_due:
                wait = min(wait, (min(self.next_due.values()) - now.astimezone(UTC)).total_seconds())
            stop.wait(max(0.05, min(wait, self.tick_s - (time.monotonic() - last_reload))))
        self.log("scheduler: stopped")
        return 0

    def _run_child(self, job: Job, due: datetime, why: str, stop: threading.Event) -> None:
        started = time.monotonic()
        try:
            proc = self.spawn(job)
        except OSError as exc:
            self.log(f"scheduler: job {job.name} could not start: {exc}")
            return
        self.log(f"scheduler: job {job.name} started (pid {proc.pid}; {why} run due {_show(due)})")
        signalled_at: float | None = None
        escalated = False
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop.is_set() and signalled_at is None:
                self.log(f"scheduler: stopping; asking job {job.name} (pid {proc.pid}) to checkpoint and stop")
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                signalled_at = time.monotonic()
            elif signalled_at is not None and not escalated and (
                    self.hurry.is_set() or time.monotonic() - signalled_at > self.grace_s):
                self.log(f"scheduler: job {job.name} did not stop {'on request' if self.hurry.is_set() else ''}"
                         f"{'' if self.hurry.is_set() else f'within {self.grace_s:g} s'}; ending it")
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)  # a second signal ends a run at once (still resumable)
                escalated = True
        self.history.append((job.name, code))
        meaning = EXIT_MEANING.get(code, "failed" if code > 0 else f"ended by signal {-code}")
        detail = self.describe(job, code)
        self.log(f"scheduler: job {job.name} {meaning} (exit {code}, {time.monotonic() - started:.1f} s)"
                 + (f"; {detail}" if detail else ""))


def _show(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def offset_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and runs at real speed (``schedule run --now``)."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


# -- crontab --------------------------------------------------------------------------------------------
def finmatch_command() -> list[str]:
    """An absolute command line that starts this installation's ``finmatch``."""
    import shutil

    beside = Path(sys.executable).absolute().parent / "finmatch"  # not resolved: keep the venv
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("finmatch")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "finmatch_agents"]


def crontab_lines(settings: Settings, jobs: Iterable[Job], *, workdir: Path | None = None,
                  command: list[str] | None = None, env: dict[str, str] | None = None) -> list[str]:
    """Crontab lines that run each enabled job with ``run-once`` (absolute paths, no reliance on cron's env).

    Every path the run needs is passed explicitly, so the line works under cron's bare environment; ``%``
    (a newline to cron) is escaped. ``CRON_TZ=`` before a line gives the job's time zone (cronie and
    systemd-cron honour it; Debian's Vixie cron does not: there, set the machine's zone or use
    `finmatch schedule run`).
    """
    import shlex

    from finmatch_agents.config import OPTIONS

    env = dict(os.environ) if env is None else env
    cwd = (workdir or Path.cwd()).absolute()
    exe = " ".join(shlex.quote(p) for p in (command or finmatch_command()))
    assigns = {"FINMATCH_CONFIG": str(settings.config_path.absolute())}
    for opt in OPTIONS:  # the paths always (absolute); other settings when they came from the environment
        value = getattr(settings, opt.name)
        if isinstance(value, Path):
            assigns[opt.env] = str(value.absolute())
        elif settings.sources.get(opt.name) == "env":
            assigns[opt.env] = env.get(opt.env, str(value))
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in assigns.items())
    logs = (settings.state_dir / "logs").absolute()
    out = [f"# FinMatch scheduled jobs for {cwd} — from `finmatch schedule crontab` ({utc_now()[:10]}).",
           "# Install with `crontab -e` (paste) or `finmatch schedule crontab | crontab -` (replaces the crontab).",
           "# A run still going when the next starts makes it exit 75 (skipped); see docs/schedule.md."]
    current_tz: str | None = None
    for job in jobs:
        if not job.enabled:
            out.append(f"# job {job.name} is disabled")
            continue
        if job.timezone != current_tz:
            out.append(f"CRON_TZ={job.timezone}")
            current_tz = job.timezone
        key_env = _key_env(job.model or settings.model, settings)
        if key_env:
            out.append(f"# job {job.name} calls a model: cron passes no environment, so {key_env} must be set for "
                       "it (a line NAME=value in this crontab, or source a protected file before the command)")
        log = shlex.quote(str(logs / f"{job.name}.cron.log"))
        line = (f"cd {shlex.quote(str(cwd))} && mkdir -p {shlex.quote(str(logs))} && {prefix} {exe} schedule "
                f"run-once {job.name} >> {log} 2>&1")
        out.append(f"{expand_cron(job.cron)} {line.replace('%', chr(92) + '%')}")
    return out


def _key_env(model: str, settings: Settings) -> str | None:
    """The environment variable holding the key of ``model`` (None for the offline analyst or no key)."""
    from finmatch_agents.errors import FinMatchError
    from finmatch_agents.llm.models import OFFLINE, resolve_model

    if model == OFFLINE:
        return None
    try:
        return resolve_model(model, settings).api_key_env
    except FinMatchError:
        return None


def spawn_run_once(config: Path | None) -> Callable[[Job], subprocess.Popen[Any]]:
    """How the scheduler starts a job: ``python -m finmatch_agents schedule run-once NAME``, in its own
    process group (a terminal's Ctrl-C reaches only the scheduler, which forwards one SIGTERM)."""
    base = [sys.executable, "-m", "finmatch_agents"] + (["--config", str(config.absolute())] if config else [])

    def spawn(job: Job) -> subprocess.Popen[Any]:
        stdout: Any = None
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stdout = sys.stderr.fileno()  # the report path joins the log stream; stdout stays quiet
        return subprocess.Popen([*base, "schedule", "run-once", job.name], stdin=subprocess.DEVNULL,
                                stdout=stdout, process_group=0)

    return spawn
