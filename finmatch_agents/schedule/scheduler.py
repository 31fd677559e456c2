"""The foreground scheduler: starts due jobs one at a time, each in its own ``run-once`` child process,
and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finmatch_agents.schedule.cron import _show
from finmatch_agents.schedule.jobs import Job, missed_slot

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
