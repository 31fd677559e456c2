"""Start-up cost: `finmatch --help` wall time, and which heavy libraries an offline analysis imports.

Not a test: the numbers go in docs/benchmarks.md and closing notes. The layers keep LangChain's OpenAI client
out of offline runs (it is imported only when a model is used); this prints whether that still holds.

    python bench/bench_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import child_env, measure

PROBE = """
import sys, time
from pathlib import Path
from finmatch_agents.config import load_settings
from finmatch_agents.runner import RunRequest, run_analysis
work = Path(sys.argv[1])
s = load_settings(db=work / "bench.duckdb", reports_dir=work / "r", state_dir=work / "s", env={})
run_analysis(s, RunRequest(focus=["all"]), lambda e: None)
heavy = ("langchain_openai", "openai", "langchain_core", "langgraph", "duckdb", "sqlglot", "pyarrow", "numpy")
print(" ".join(f"{m}={'yes' if m in sys.modules else 'no'}" for m in heavy))
"""


def children_cpu() -> float:
    """User + system CPU seconds of this script's finished child processes (their children included)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    opts = parser.parse_args()
    helps = []
    cpu = children_cpu()
    for _ in range(opts.repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "finmatch_agents", "--help"], capture_output=True, check=True,
                       env=child_env())
        helps.append(time.perf_counter() - started)
    print(f"finmatch --help: median {statistics.median(helps):.3f} s, min {min(helps):.3f} s, "
          f"{(children_cpu() - cpu) / opts.repeat:.3f} s CPU each (target <= 0.3 s) over {opts.repeat} runs; "
          f"load {os.getloadavg()[0]:.2f}")
    work = Path(tempfile.mkdtemp(prefix="finmatch-bench-startup-"))
    measure(["data", "generate", "--customers", "5000", "--db", str(work / "bench.duckdb")])
    probe = subprocess.run([sys.executable, "-c", PROBE, str(work)], capture_output=True, text=True, check=True)
    print(f"offline analyze imports: {probe.stdout.strip()} (langchain_openai must be 'no')")


if __name__ == "__main__":
    main()
