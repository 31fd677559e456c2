"""Do the four agents overlap when the model is slow? Full analysis against a local OpenAI-protocol
server that answers every call after a fixed delay.

Each run makes one model call per agent plus one for the executive summary. If the agents waited for
each other the wall time would grow by about four delays; overlapping, it grows by about two (the slowest
agent, then the summary). Not a test: numbers go in the closing notes and docs/benchmarks.md.

    python bench/bench_model_parallel.py [--delay 2.0] [--customers 25000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.fake_openai import FakeOpenAI, analyst_responder  # noqa: E402


def run(work: Path, db: Path, *args: str) -> tuple[float, list[dict]]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FINMATCH_")}, "BENCH_KEY": "local"}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "finmatch_agents", "analyze", "--db", str(db), "--json", *args],
                         cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - started, [json.loads(line) for line in out.splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=2.0, help="seconds the endpoint takes per call")
    parser.add_argument("--customers", type=int, default=25_000)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="finmatch-bench-model-"))
    db = work / "bench.duckdb"
    subprocess.run([sys.executable, "-m", "finmatch_agents", "data", "generate", "--customers", str(opts.customers),
                    "--db", str(db)], check=True, capture_output=True)
    offline, _ = run(work, db)
    with FakeOpenAI(analyst_responder, delay=opts.delay) as server:
        (work / "finmatch.toml").write_text(f'[models.slow]\nbase_url = "{server.base_url}"\nmodel = "slow"\n'
                                            f'api_key_env = "BENCH_KEY"\ntimeout = {opts.delay * 5}\n')
        wall, events = run(work, db, "--model", "slow")
        calls = [e for e in events if e["event"] == "model_call"]
    agent_calls = [c for c in calls if c["agent"] != "synthesize"]
    sequential = offline + len(calls) * opts.delay
    print(f"delay per model call        {opts.delay:.2f} s")
    print(f"model calls                 {len(calls)} ({len(agent_calls)} agents + summary)")
    print(f"offline analysis (no model) {offline:.2f} s")
    print(f"with the slow model         {wall:.2f} s")
    print(f"if agents ran one by one    {sequential:.2f} s (offline + {len(calls)} x delay)")
    print(f"model time added            {wall - offline:.2f} s = {(wall - offline) / opts.delay:.2f} delays "
          f"(overlap: {len(calls) * opts.delay / max(wall - offline, 1e-9):.2f}x)")
    print(json.dumps({"delay_s": opts.delay, "calls": len(calls), "offline_s": round(offline, 2),
                      "model_s": round(wall, 2), "sequential_estimate_s": round(sequential, 2)}))


if __name__ == "__main__":
    main()
