"""`finmatch schedule`: next-run computation (time zones, DST, catch-up), jobs in finmatch.toml, locks between
real processes, retention, the foreground scheduler under SIGTERM and crontab lines under `env -i`."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from finmatch_agents.errors import UsageError
from finmatch_agents.runs import RunStore
from finmatch_agents.schedule import (
    Job,
    Scheduler,
    apply_retention,
    missed_slot,
    next_run,
    previous_run,
    upcoming,
    validate_cron,
)

NY, LONDON, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Europe/London"), ZoneInfo("Asia/Tokyo")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=zone, fold=fold)


# -- the clock ------------------------------------------------------------------------------------------
def test_monday_seven_in_tokyo() -> None:
    when = next_run("0 7 * * MON", TOKYO, utc(2026, 1, 1, 0, 0))  # a Thursday
    assert when == local(TOKYO, 2026, 1, 5, 7, 0) and when.astimezone(UTC) == utc(2026, 1, 4, 22, 0)
    assert next_run("0 7 * * MON", TOKYO, when) == local(TOKYO, 2026, 1, 12, 7, 0)
    # exactly at the scheduled time, the next run is the following week; a second before, it is this one
    assert next_run("0 7 * * MON", TOKYO, when - timedelta(seconds=1)) == when


def test_monday_seven_in_london_keeps_wall_clock_time_across_dst() -> None:
    runs = upcoming("0 7 * * MON", LONDON, utc(2026, 3, 20), 3)
    assert [r.astimezone(UTC) for r in runs] == [utc(2026, 3, 23, 7), utc(2026, 3, 30, 6), utc(2026, 4, 6, 6)]
    assert all(r.astimezone(LONDON).hour == 7 for r in runs)


def _runs_per_local_day(cron: str, zone: ZoneInfo, start: datetime, days: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    when = start
    while True:
        when = next_run(cron, zone, when)
        if when > start + timedelta(days=days):
            return counts
        day = when.astimezone(zone).date().isoformat()
        counts[day] = counts.get(day, 0) + 1


def test_spring_forward_a_skipped_time_runs_once_when_the_clocks_jump() -> None:
    # New York, 2026-03-08: 02:00 EST -> 03:00 EDT, so 02:30 does not exist that day
    when = next_run("30 2 * * *", NY, local(NY, 2026, 3, 7, 12, 0))
    assert when == local(NY, 2026, 3, 8, 3, 0) and when.astimezone(UTC) == utc(2026, 3, 8, 7, 0)
    assert next_run("30 2 * * *", NY, when) == local(NY, 2026, 3, 9, 2, 30)
    assert set(_runs_per_local_day("30 2 * * *", NY, utc(2026, 3, 5), 6).values()) == {1}
    # London, 2026-03-29: 01:00 GMT -> 02:00 BST
    assert next_run("30 1 * * *", LONDON, utc(2026, 3, 28, 12)).astimezone(UTC) == utc(2026, 3, 29, 1, 0)
    assert set(_runs_per_local_day("30 1 * * *", LONDON, utc(2026, 3, 26), 6).values()) == {1}


def test_fall_back_a_repeated_time_runs_once_at_its_first_occurrence() -> None:
    # New York, 2026-11-01: 02:00 EDT -> 01:00 EST, so 01:30 happens twice that day
    first = next_run("30 1 * * *", NY, local(NY, 2026, 10, 31, 12, 0))
    assert first.astimezone(UTC) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert next_run("30 1 * * *", NY, first).astimezone(UTC) == utc(2026, 11, 2, 6, 30)  # not 01:30 EST again
    # a scheduler that wakes during the repeated hour does not run it a second time
    assert next_run("30 1 * * *", NY, local(NY, 2026, 11, 1, 1, 10, fold=1)) == local(NY, 2026, 11, 2, 1, 30)
    assert set(_runs_per_local_day("30 1 * * *", NY, utc(2026, 10, 29), 6).values()) == {1}
    # London, 2026-10-25: 02:00 BST -> 01:00 GMT
    assert set(_runs_per_local_day("30 1 * * *", LONDON, utc(2026, 10, 22), 6).values()) == {1}


def test_frequent_jobs_never_run_twice_for_one_instant_across_dst() -> None:
    for zone, start in ((NY, utc(2026, 3, 8, 4)), (NY, utc(2026, 11, 1, 3)), (LONDON, utc(2026, 10, 24, 22))):
        runs = upcoming("*/30 * * * *", zone, start, 16)
        assert runs == sorted(set(runs))
        assert all(b - a <= timedelta(minutes=90) for a, b in itertools.pairwise(runs))


def test_previous_run_across_dst() -> None:
    # the most recent 01:30 at 01:10 EST (second pass of the hour) is 01:30 EDT of the same morning
    assert previous_run("30 1 * * *", NY, local(NY, 2026, 11, 1, 1, 10, fold=1)).astimezone(UTC) == \
        utc(2026, 11, 1, 5, 30)
    assert previous_run("30 2 * * *", NY, local(NY, 2026, 3, 8, 3, 10)) == local(NY, 2026, 3, 8, 3, 0)
    at = local(TOKYO, 2026, 1, 5, 7, 0)
    assert previous_run("0 7 * * MON", TOKYO, at) == at  # at the scheduled time: that time


@pytest.mark.parametrize("expr", ["0 7 * * MON", "0 7 * JAN mon-fri", "@daily", "@hourly", "@WEEKLY",
                                  "*/15 9-17 * * 1-5", "  0  7 * * SUN "])
def test_valid_cron_expressions(expr: str) -> None:
    text = validate_cron(expr)
    next_run(text, LONDON, utc(2026, 1, 1))


@pytest.mark.parametrize("expr", ["0 7 * * FOO", "61 * * * *", "0 7 * *", "0 0 7 * * MON", "@reboot", "", "daily"])
def test_invalid_cron_expressions(expr: str) -> None:
    with pytest.raises(UsageError, match="--cron"):
        validate_cron(expr)


def test_aliases_mean_what_cron_means() -> None:
    assert next_run("@weekly", LONDON, utc(2026, 1, 1)) == local(LONDON, 2026, 1, 4, 0, 0)  # Sunday midnight
    assert next_run("@hourly", TOKYO, local(TOKYO, 2026, 1, 1, 5, 20)) == local(TOKYO, 2026, 1, 1, 6, 0)


# -- catch-up -------------------------------------------------------------------------------------------
def test_catch_up_runs_the_most_recent_missed_slot_once() -> None:
    job = Job("weekly", "0 7 * * MON", "Europe/London", catch_up=True)
    monday_nine = local(LONDON, 2026, 1, 12, 9, 0)  # the machine was off at 07:00
    slot = local(LONDON, 2026, 1, 12, 7, 0)
    assert missed_slot(job, monday_nine, None) == slot
    assert missed_slot(job, monday_nine, local(LONDON, 2026, 1, 5, 7, 0, )) == slot  # last ran a week earlier
    assert missed_slot(job, monday_nine, slot + timedelta(seconds=3)) is None  # it did run
    # several missed weeks still mean one run (of the latest slot)
    assert missed_slot(job, local(LONDON, 2026, 2, 4, 12, 0), local(LONDON, 2026, 1, 5, 7, 0)) == \
        local(LONDON, 2026, 2, 2, 7, 0)
    assert missed_slot(Job("weekly", "0 7 * * MON", "Europe/London"), monday_nine, None) is None  # not asked
    # a job added after the slot never catches up on it
    added = Job("weekly", "0 7 * * MON", "Europe/London", catch_up=True, added_at="2026-01-12T08:00:00Z")
    assert missed_slot(added, monday_nine, None) is None


class FakeProc:
    def __init__(self, code: int = 0) -> None:
        self.pid, self.code = 4242, code

    def wait(self, timeout: float | None = None) -> int:
        return self.code

    def send_signal(self, sig: int) -> None:
        raise AssertionError("not expected")


def test_scheduler_with_a_controlled_clock_catches_up_and_runs_due_jobs() -> None:
    now = [local(LONDON, 2026, 1, 12, 8, 30)]  # Monday; the machine was off at 07:00
    jobs = {"weekly": Job("weekly", "0 7 * * MON", "Europe/London", catch_up=True),
            "daily": Job("daily", "0 10 * * *", "Europe/London"),
            "off": Job("off", "* * * * *", "UTC", enabled=False)}
    started: list[tuple[str, str]] = []
    stop = threading.Event()
    lines: list[str] = []

    def spawn(job: Job) -> FakeProc:
        started.append((job.name, now[0].astimezone(LONDON).strftime("%a %H:%M")))
        if len(started) == 3:
            stop.set()
        return FakeProc()

    def clock() -> datetime:
        now[0] += timedelta(hours=1)  # every look at the clock advances it: a fast-forwarded day
        return now[0]

    sched = Scheduler(lambda: jobs, spawn, lines.append, clock=clock, tick_s=0.01, last_started=lambda _n: None)
    assert sched.run(stop) == 0
    # catch-up first (its slot is the oldest), then the daily job once per day, never the disabled one
    assert started == [("weekly", "Mon 10:30"), ("daily", "Mon 11:30"), ("daily", "Tue 10:30")]
    assert any("job weekly missed its run at 2026-01-12T07:00:00+00:00; catching up now" in line for line in lines)
    assert sched.history == [("weekly", 0), ("daily", 0), ("daily", 0)]
    assert any("job daily completed (exit 0" in line for line in lines) and lines[-1] == "scheduler: stopped"


# -- jobs in finmatch.toml ------------------------------------------------------------------------------
def write_config(path: Path, db: Path, extra: str = "") -> None:
    path.write_text(f'# team config: keep this comment\n[finmatch]\ndb = "{db}"  # the warehouse\n{extra}')


def test_add_list_remove_keep_comments(cli, small_db: Path, isolated: Path) -> None:
    config = isolated / "finmatch.toml"
    write_config(config, small_db)
    added = cli("schedule", "add", "weekly", "--cron", "0 7 * * MON", "--timezone", "Europe/London", "--keep", "3",
                "--catch-up", "--focus", "performance,strategy", "--json")
    assert added.exit_code == 0, added.stderr
    got = json.loads(added.stdout)
    assert got["focus"] == ["performance", "strategy"] and got["keep"] == 3 and got["catch_up"] is True
    text = config.read_text()
    assert "# team config: keep this comment" in text and "# the warehouse" in text
    assert "[schedule.jobs.weekly]" in text and 'cron = "0 7 * * MON"' in text
    assert cli("schedule", "add", "daily", "--cron", "@daily", "--timezone", "Asia/Tokyo").exit_code == 0

    listed = json.loads(cli("schedule", "list", "--json", "--now", "2026-03-25T12:00:00Z").stdout)
    by_name = {j["name"]: j for j in listed["jobs"]}
    assert by_name["weekly"]["next_run"] == "2026-03-30T07:00:00+01:00"  # BST from 2026-03-29
    assert by_name["weekly"]["next_run_utc"] == "2026-03-30T06:00:00Z"
    assert by_name["daily"]["next_run"] == "2026-03-26T00:00:00+09:00"
    assert by_name["weekly"]["last_run"] is None
    table = cli("schedule", "list", "--now", "2026-03-25T12:00:00Z")
    assert "weekly" in table.stdout and "2026-03-30 07:00" in table.stdout

    again = cli("schedule", "add", "weekly", "--cron", "0 8 * * MON")
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert cli("schedule", "add", "weekly", "--cron", "0 8 * * MON", "--timezone", "UTC", "--replace").exit_code == 0
    assert 'cron = "0 8 * * MON"' in config.read_text() and config.read_text().count("[schedule.jobs.weekly]") == 1

    assert cli("schedule", "remove", "daily").exit_code == 0
    text = config.read_text()
    assert "daily" not in text and "# team config: keep this comment" in text and "weekly" in text
    gone = cli("schedule", "remove", "daily")
    assert gone.exit_code == 2 and "no job 'daily'" in gone.stderr


def test_add_creates_the_config_file(cli, isolated: Path) -> None:
    assert not (isolated / "finmatch.toml").exists()
    result = cli("schedule", "add", "nightly", "--cron", "30 2 * * *", "--timezone", "America/New_York")
    assert result.exit_code == 0, result.stderr
    assert "Next runs:" in result.stderr
    import tomllib

    job = tomllib.loads((isolated / "finmatch.toml").read_text())["schedule"]["jobs"]["nightly"]
    assert job["cron"] == "30 2 * * *" and job["timezone"] == "America/New_York" and job["focus"] == ["all"]
    assert job["enabled"] is True and job["catch_up"] is False and "keep" not in job


@pytest.mark.parametrize(("args", "message"), [
    (["bad name!", "--cron", "@daily"], "not a valid job name"),
    (["9lives", "--cron", "@daily"], "not a valid job name"),
    (["ok", "--cron", "0 7 * * FOO"], "--cron: '0 7 * * FOO' is not a valid cron expression"),
    (["ok", "--cron", "@daily", "--timezone", "Mars/Olympus"], "--timezone: 'Mars/Olympus' is not an IANA time zone"),
    (["ok", "--cron", "@daily", "--focus", "marketing"], "--focus: 'marketing'"),
    (["ok", "--cron", "@daily", "--model", "no-such-model"], "--model:"),
])
def test_add_validates_at_add_time(cli, isolated: Path, args: list[str], message: str) -> None:
    result = cli("schedule", "add", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (isolated / "finmatch.toml").exists()


def test_a_bad_job_table_is_a_configuration_error(cli, isolated: Path) -> None:
    (isolated / "finmatch.toml").write_text('[schedule.jobs.weekly]\ncron = "0 7 * * MON"\nkeeep = 3\n')
    result = cli("schedule", "list")
    assert result.exit_code == 2 and "[schedule.jobs.weekly] keeep: unknown key" in result.stderr
    (isolated / "finmatch.toml").write_text('[schedule.jobs.weekly]\ncron = "every monday"\n')
    result = cli("schedule", "run-once", "weekly")
    assert result.exit_code == 2 and "[schedule.jobs.weekly] cron" in result.stderr
    unknown = cli("schedule", "run-once", "nope")
    assert unknown.exit_code == 2


# -- run-once, locks and retention ----------------------------------------------------------------------
def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_")}


def _finmatch(*args: str, cwd: Path, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "finmatch_agents", *args], cwd=cwd, env=_env(), text=True, **kw)


def _wait_for_line(path: Path, pattern: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                if re.search(pattern, line):
                    return line
        if proc is not None and proc.poll() is not None and not path.exists():
            raise AssertionError(f"process ended ({proc.returncode}) before {pattern!r} appeared in {path}")
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} did not appear in {path}: {path.read_text() if path.exists() else 'missing'}")


def test_run_once_writes_the_job_report_and_logs(cli, small_db: Path, isolated: Path) -> None:
    write_config(isolated / "finmatch.toml", small_db, '[schedule.jobs.weekly]\ncron = "0 7 * * MON"\n'
                                                       'focus = ["performance"]\n')
    result = cli("schedule", "run-once", "weekly")
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.parent == Path("reports/weekly") and re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{8}-\d{6}-[0-9a-f]{4}\.md",
                                                                   path.name)
    assert (isolated / "reports" / "weekly" / "latest.md").read_text() == path.read_text()
    assert "## Changes since last run" in path.read_text() and "First run of this job" in path.read_text()
    assert "\x1b[" not in result.stderr  # no terminal: no colours, no live view
    assert re.search(r"^\d{4}-\d{2}-\d{2}T[\d:.]+Z job weekly: started", result.stderr, re.M)
    log = (isolated / "data" / "logs" / "weekly.log").read_text()
    assert "job weekly: started" in log and "performance | Product Matching Performance Assessment started" in log
    assert re.search(r"job weekly: completed run \S+: reports/weekly/", log)
    runs = json.loads(cli("history", "list", "--job", "weekly", "--json").stdout)
    assert [r["status"] for r in runs] == ["completed"] and runs[0]["job"] == "weekly"


def test_two_processes_one_job_lock(small_db: Path, isolated: Path) -> None:
    """One run of a job holds its lock; a second run of the same job exits 75; a killed holder frees it."""
    write_config(isolated / "finmatch.toml", small_db,
                 '[schedule.jobs.weekly]\ncron = "0 7 * * MON"\nfocus = ["performance"]\n')
    log = isolated / "data" / "logs" / "weekly.log"
    first = _finmatch("schedule", "run-once", "weekly", cwd=isolated, stdout=subprocess.PIPE,
                      stderr=subprocess.DEVNULL)
    try:
        _wait_for_line(log, r"job weekly: started \(pid", proc=first)
        first.send_signal(signal.SIGSTOP)  # hold it mid-run, lock taken
        second = subprocess.run([sys.executable, "-m", "finmatch_agents", "schedule", "run-once", "weekly"],
                                cwd=isolated, env=_env(), capture_output=True, text=True, timeout=60)
        assert second.returncode == 75, second.stderr
        assert "skipped: previous run still running" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "skipped: previous run still running" in log.read_text()
    finally:
        first.send_signal(signal.SIGCONT)
    out, _ = first.communicate(timeout=120)
    assert first.returncode == 0 and Path(isolated / out.strip()).exists()

    # a holder that dies (SIGKILL) leaves no stale lock behind
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from finmatch_agents.schedule import job_lock; lock = job_lock(Path('data'), 'weekly')"
                               ".acquire(); print('locked', flush=True); time.sleep(120)"],
                              cwd=isolated, env=_env(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    busy = subprocess.run([sys.executable, "-m", "finmatch_agents", "schedule", "run-once", "weekly"], cwd=isolated,
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert busy.returncode == 75 and f"pid {holder.pid}" in busy.stderr
    holder.kill()
    holder.wait(timeout=10)
    again = subprocess.run([sys.executable, "-m", "finmatch_agents", "schedule", "run-once", "weekly"], cwd=isolated,
                           env=_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr


def test_two_different_jobs_run_at_the_same_time(small_db: Path, isolated: Path) -> None:
    """Read-only DuckDB connections and the WAL run store: concurrent jobs on one database both succeed."""
    write_config(isolated / "finmatch.toml", small_db,
                 '[schedule.jobs.one]\ncron = "@daily"\n\n[schedule.jobs.two]\ncron = "@daily"\n')
    procs = [_finmatch("schedule", "run-once", name, cwd=isolated, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name in ("one", "two")]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in results]
    store = RunStore(isolated / "data" / "runs.sqlite")
    assert sorted((r["job"], r["status"]) for r in store.list_runs()) == [("one", "completed"), ("two", "completed")]
    store.close()
    assert all((isolated / "reports" / name / "latest.md").exists() for name in ("one", "two"))


def _report(folder: Path, day: str, stamp: str, age_s: float, now: float) -> Path:
    path = folder / f"{day}-{stamp}.md"
    path.write_text(stamp)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_retention_keeps_the_newest_and_never_latest_the_current_or_fresh_files(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / "weekly"
    folder.mkdir(parents=True)
    now = time.time()
    old = [_report(folder, f"2026-01-{d:02d}", f"202601{d:02d}-070000-{d:04x}", 3600 * (40 - d), now)
           for d in range(1, 8)]
    latest = folder / "latest.md"
    latest.write_text("latest")
    os.utime(latest, (now - 99_999, now - 99_999))
    temp = folder / ".2026-01-09-20260109-070000-0009.md.abc.tmp"
    temp.write_text("being written")
    stray = folder / "notes.md"
    stray.write_text("mine")
    os.utime(stray, (now - 99_999, now - 99_999))
    # the oldest report is "in use": just touched (e.g. being written by a resumed run)
    os.utime(old[0], (now - 1, now - 1))

    deleted = apply_retention(folder, 3, protect=[old[3]], now=now)
    assert sorted(p.name for p in deleted) == sorted(p.name for p in (old[1], old[2]))
    left = {p.name for p in folder.iterdir()}
    assert {p.name for p in old[4:]} <= left  # the newest three
    assert old[3].name in left and old[0].name in left  # protected, recently modified
    assert {"latest.md", temp.name, "notes.md"} <= left
    assert apply_retention(folder, None, now=now) == []  # no keep: keep everything


def test_run_once_applies_the_job_retention(cli, small_db: Path, isolated: Path) -> None:
    write_config(isolated / "finmatch.toml", small_db, '[schedule.jobs.weekly]\ncron = "0 7 * * MON"\n'
                                                       'focus = ["strategy"]\nkeep = 2\n')
    folder = isolated / "reports" / "weekly"
    folder.mkdir(parents=True)
    now = time.time()
    older = [_report(folder, "2025-12-01", f"20251201-0700{i:02d}-00a{i}", 7200, now) for i in range(3)]
    result = cli("schedule", "run-once", "weekly")
    assert result.exit_code == 0, result.stderr
    current = Path(result.stdout.strip()).name
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([older[2].name, current, "latest.md"])
    assert "retention (keep 2) deleted 2 old report(s)" in result.stderr


# -- the scheduler process ------------------------------------------------------------------------------
def test_schedule_run_starts_due_jobs_and_stops_cleanly_on_sigterm(small_db: Path, isolated: Path) -> None:
    write_config(isolated / "finmatch.toml", small_db,
                 '[schedule.jobs.weekly]\ncron = "0 7 * * MON"\ntimezone = "UTC"\nfocus = ["performance"]\n')
    logs = isolated / "data" / "logs"
    with (isolated / "scheduler.err").open("w") as err:
        proc = _finmatch("schedule", "run", "--now", "2026-01-05T06:59:58Z", "--tick-seconds", "0.5", cwd=isolated,
                         stdout=subprocess.DEVNULL, stderr=err)
        try:
            _wait_for_line(logs / "scheduler.log", r"scheduler: started", proc=proc)
            finished = _wait_for_line(logs / "scheduler.log", r"job weekly (completed|failed)", timeout=90, proc=proc)
            assert "completed (exit 0" in finished
            report = (isolated / "reports" / "weekly" / "latest.md")
            assert report.exists() and "job: \"weekly\"" in report.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    log = (logs / "scheduler.log").read_text()
    assert "job weekly started (pid" in log and "scheduled run due 2026-01-05T07:00:00+00:00" in log
    assert log.rstrip().endswith("scheduler: stopped")
    stderr = (isolated / "scheduler.err").read_text()
    assert "scheduler: stopped" in stderr and "job weekly: completed run" in stderr  # the child logs there too
    assert "\x1b[" not in stderr


@pytest.fixture(scope="module")
def medium_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finmatch_agents.data.generator import write_synthetic

    path = tmp_path_factory.mktemp("sched-medium") / "medium.duckdb"
    write_synthetic(path, 60_000, 11, force=False)
    return path


@pytest.mark.slow
def test_sigterm_during_a_job_checkpoints_it_and_exits_zero(medium_db: Path, isolated: Path) -> None:
    write_config(isolated / "finmatch.toml", medium_db,
                 '[schedule.jobs.weekly]\ncron = "0 7 * * MON"\ntimezone = "UTC"\n')
    logs = isolated / "data" / "logs"
    proc = _finmatch("schedule", "run", "--now", "2026-01-05T06:59:59Z", "--tick-seconds", "0.5", cwd=isolated,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = _wait_for_line(logs / "scheduler.log", r"job weekly started \(pid \d+", proc=proc)
        child = int(re.search(r"pid (\d+)", started).group(1))
        _wait_for_line(logs / "weekly.log", r"prepare \| .* started", proc=proc)
        os.kill(child, signal.SIGSTOP)  # hold the job mid-run while the scheduler is told to stop
        proc.send_signal(signal.SIGTERM)
        _wait_for_line(logs / "scheduler.log", r"asking job weekly .* to checkpoint and stop", proc=proc)
        os.kill(child, signal.SIGCONT)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (logs / "scheduler.log").read_text()
    assert re.search(r"job weekly interrupted \(exit 130.*finish it with `finmatch analyze --resume \S+`", log), log
    store = RunStore(isolated / "data" / "runs.sqlite")
    (run,) = store.list_runs(job="weekly")
    assert run["status"] == "interrupted"
    store.close()


# -- crontab --------------------------------------------------------------------------------------------
def test_crontab_lines_run_under_an_empty_environment(cli, small_db: Path, isolated: Path) -> None:
    write_config(isolated / "finmatch.toml", small_db,
                 '[schedule.jobs.weekly]\ncron = "0 7 * * MON"\ntimezone = "Europe/London"\nfocus = ["strategy"]\n'
                 '\n[schedule.jobs.daily-utc]\ncron = "@daily"\ntimezone = "UTC"\nfocus = ["performance"]\n')
    result = cli("schedule", "crontab")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "CRON_TZ=Europe/London" in lines and "CRON_TZ=UTC" in lines
    jobs = [line for line in lines if line and not line.startswith(("#", "CRON_TZ="))]
    assert len(jobs) == 2 and jobs[0].startswith("0 0 * * * ") and jobs[1].startswith("0 7 * * MON ")
    command = jobs[1].split(None, 5)[5].replace("\\%", "%")  # what cron hands to sh
    words = shlex.split(command)
    assert all(Path(w.split("=", 1)[-1]).is_absolute() for w in words if w.startswith("FINMATCH_"))
    assert any(w.endswith(("/finmatch", "/python", "/python3")) and Path(w).is_absolute() for w in words)

    elsewhere = isolated / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run(["env", "-i", "PATH=/usr/bin:/bin", "sh", "-c", command], cwd=elsewhere,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    cron_log = (isolated / "data" / "logs" / "weekly.cron.log").read_text()
    report = Path(cron_log.strip().splitlines()[-1])
    assert report.is_absolute() and report.exists() and report.parent == isolated / "reports" / "weekly"
    assert "job weekly: completed run" in cron_log


@pytest.mark.parametrize("command", [["schedule"], ["schedule", "add"], ["schedule", "list"], ["schedule", "remove"],
                                     ["schedule", "run"], ["schedule", "run-once"], ["schedule", "crontab"], ["diff"]],
                         ids=" ".join)
def test_help(cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout
    assert "--now" not in result.stdout and "--tick-seconds" not in result.stdout  # testing hooks stay hidden


def test_crontab_escapes_percent_signs_and_names_model_keys(tmp_path: Path) -> None:
    from finmatch_agents.config import load_settings
    from finmatch_agents.schedule import crontab_lines, load_jobs

    project = tmp_path / "100% project"
    project.mkdir()
    config = project / "finmatch.toml"
    config.write_text('[models.gpt]\nbase_url = "https://example.invalid/v1"\nmodel = "m"\napi_key_env = "TEAM_KEY"\n'
                      '\n[schedule.jobs.ai]\ncron = "0 6 * * 1-5"\ntimezone = "Asia/Tokyo"\nmodel = "gpt"\n'
                      '\n[schedule.jobs.off]\ncron = "@monthly"\nenabled = false\n')
    settings = load_settings(config_path=config, env={"FINMATCH_CURRENCY": "EUR"})
    lines = crontab_lines(settings, load_jobs(settings).values(), workdir=project, command=["/opt/fm/bin/finmatch"],
                          env={"FINMATCH_CURRENCY": "EUR"})
    (job_line,) = [x for x in lines if x.startswith("0 6 * * 1-5 ")]
    assert "100\\% project" in job_line and "100% project" not in job_line  # cron turns a bare % into a newline
    assert "FINMATCH_CURRENCY=EUR" in job_line and "/opt/fm/bin/finmatch schedule run-once ai" in job_line
    assert any("TEAM_KEY must be set" in x for x in lines) and "# job off is disabled" in lines
    assert lines.index("CRON_TZ=Asia/Tokyo") < lines.index(job_line)
