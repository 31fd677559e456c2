"""The lines ``finmatch schedule crontab`` prints for system cron (absolute paths, env, the job's lock).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from finmatch_agents.clock import utc_now
from finmatch_agents.config import OPTIONS
from finmatch_agents.errors import FinMatchError
from finmatch_agents.llm.models import OFFLINE, resolve_model
from finmatch_agents.schedule.cron import expand_cron

if TYPE_CHECKING:
    from finmatch_agents.config import Settings
    from finmatch_agents.schedule.jobs import Job


def finmatch_command() -> list[str]:
    """An absolute command line that starts this installation's ``finmatch``."""
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
    if model == OFFLINE:
        return None
    try:
        return resolve_model(model, settings).api_key_env
    except FinMatchError:
        return None
