"""Cron expressions in a job's time zone: one run per slot, across DST changes.

Cron fields are read as wall-clock time in the job's zone. A wall-clock time that does not exist (skipped
when clocks go forward) runs at the moment the clocks jump; a time that happens twice (clocks go back) runs
at its first occurrence only. So a daily job runs exactly once a day across DST changes.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finmatch_agents.errors import UsageError

ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
           "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


#: the widest wall-clock shift a DST change makes (2 h in Antarctica/Troll); searches start this far away
_SHIFT = timedelta(hours=3)


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


def _show(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def offset_clock(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and runs at real speed (``schedule run --now``)."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)
