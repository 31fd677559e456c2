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

from finmatch_agents.schedule.cron import (
    ALIASES,
    expand_cron,
    get_zone,
    local_zone_name,
    next_run,
    offset_clock,
    parse_instant,
    previous_run,
    resolve_wall_time,
    upcoming,
    validate_cron,
)
from finmatch_agents.schedule.crontab import crontab_lines, finmatch_command
from finmatch_agents.schedule.jobs import (
    JOB_KEYS,
    JOB_NAME,
    Job,
    delete_job,
    get_job,
    job_from_table,
    last_started,
    load_jobs,
    missed_slot,
    save_job,
    validate_name,
)
from finmatch_agents.schedule.locks import FileLock, job_lock, lock_holder, lock_path
from finmatch_agents.schedule.logs import LogFile, Logger, Tee, job_log_path
from finmatch_agents.schedule.retention import REPORT_FILE, RETENTION_MIN_AGE_S, apply_retention
from finmatch_agents.schedule.run import JobRun, run_job
from finmatch_agents.schedule.scheduler import EXIT_MEANING, Scheduler, spawn_run_once

__all__ = [
    "ALIASES",
    "EXIT_MEANING",
    "JOB_KEYS",
    "JOB_NAME",
    "REPORT_FILE",
    "RETENTION_MIN_AGE_S",
    "FileLock",
    "Job",
    "JobRun",
    "LogFile",
    "Logger",
    "Scheduler",
    "Tee",
    "apply_retention",
    "crontab_lines",
    "delete_job",
    "expand_cron",
    "finmatch_command",
    "get_job",
    "get_zone",
    "job_from_table",
    "job_lock",
    "job_log_path",
    "last_started",
    "load_jobs",
    "local_zone_name",
    "lock_holder",
    "lock_path",
    "missed_slot",
    "next_run",
    "offset_clock",
    "parse_instant",
    "previous_run",
    "resolve_wall_time",
    "run_job",
    "save_job",
    "spawn_run_once",
    "upcoming",
    "validate_cron",
    "validate_name",
]
