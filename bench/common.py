"""Measure one `finmatch` command as its own process: wall time and peak resident memory."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs the command as the only child of a small wrapper, so RUSAGE_CHILDREN is that command's peak RSS.
WRAPPER = ("import resource, subprocess, sys, time; out = open(sys.argv[1], 'w') if sys.argv[1] != '-' else "
           "subprocess.DEVNULL; t = time.perf_counter(); rc = subprocess.run(sys.argv[2:], stdout=out, "
           "stderr=subprocess.PIPE).returncode; "
           "u = resource.getrusage(resource.RUSAGE_CHILDREN); print(rc, time.perf_counter() - t, u.ru_maxrss, "
           "u.ru_utime + u.ru_stime)")


def child_env() -> dict[str, str]:
    """This environment without PYTHONDONTWRITEBYTECODE: with it set (as on some sandboxes) every process
    recompiles the editable package from source, about 85 ms of CPU that an installed tool never pays, so
    start-up figures would measure the sandbox rather than FinMatch."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(args: list[str], stdout: Path | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """(seconds, peak MiB) of one run of ``finmatch *args``; stdout goes to ``stdout`` if given."""
    seconds, mib, _cpu = measure_cpu(args, stdout, cwd)
    return seconds, mib


def measure_cpu(args: list[str], stdout: Path | None = None, cwd: Path | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak MiB, CPU seconds: user + system) of one run of ``finmatch *args``."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(stdout) if stdout else "-", sys.executable, "-m",
                          "finmatch_agents", *args], capture_output=True, text=True, check=True, cwd=cwd,
                         env=child_env()).stdout.split()
    rc, seconds, kib, cpu = int(out[0]), float(out[1]), int(out[2]), float(out[3])
    if rc != 0:
        raise SystemExit(f"finmatch {' '.join(args)} exited {rc}")
    return seconds, kib / 1024, cpu


def model_workspace(opts: argparse.Namespace, prefix: str) -> tuple[Path, Path, Path]:
    """(folder, database, state dir) of a predict benchmark: ``opts.keep`` or a new temporary folder, the
    settings exported for the child processes, the database generated once (seed 42, ``opts.customers``)."""
    work = opts.keep or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    db, state = work / f"bench-{opts.customers}.duckdb", work / "state"
    os.environ.update({"FINMATCH_DB": str(db), "FINMATCH_STATE_DIR": str(state), "FINMATCH_THREADS": str(opts.threads)})
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
    if not db.exists():
        subprocess.run([sys.executable, "-m", "finmatch_agents", "data", "generate", "--customers", str(opts.customers),
                        "--seed", "42"], check=True, capture_output=True)
    return work, db, state
