"""Measure one `finmatch` command as its own process: wall time and peak resident memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Runs the command as the only child of a small wrapper, so RUSAGE_CHILDREN is that command's peak RSS.
WRAPPER = ("import resource, subprocess, sys, time; out = open(sys.argv[1], 'w') if sys.argv[1] != '-' else "
           "subprocess.DEVNULL; t = time.perf_counter(); rc = subprocess.run(sys.argv[2:], stdout=out, "
           "stderr=subprocess.PIPE).returncode; "
           "print(rc, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def measure(args: list[str], stdout: Path | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """(seconds, peak MiB) of one run of ``finmatch *args``; stdout goes to ``stdout`` if given."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(stdout) if stdout else "-", sys.executable, "-m",
                          "finmatch_agents", *args], capture_output=True, text=True, check=True, cwd=cwd).stdout.split()
    rc, seconds, kib = int(out[0]), float(out[1]), int(out[2])
    if rc != 0:
        raise SystemExit(f"finmatch {' '.join(args)} exited {rc}")
    return seconds, kib / 1024
