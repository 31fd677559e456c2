"""Benchmark a full offline analysis (all four agents) at ~100k and ~1M records (10M with --sizes ...,2500000).

Prints, per size, wall time, CPU time (user+sys) and peak memory of the `finmatch analyze` process, the
prepare step's and the agents' wall time, the total SQL time (sum of query times from the --json events; it
exceeds wall time because the agents run in parallel) and the slowest queries. The load average is printed
before each run: the machine is shared, so compare CPU time across runs, not only wall time. Not a test:
numbers go in the closing notes and docs/benchmarks.md.

    python bench/bench_analyze.py [--sizes 25000,250000] [--repeat 2] [--keep DIR] [--top 8]

``--keep DIR`` generates each database once into DIR (c<customers>.duckdb) and reuses it on later runs: the
10M-record database takes minutes and ~9 GB to generate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

# RUSAGE_CHILDREN of a wrapper that runs only the command: its peak RSS and CPU seconds
WRAPPER = ("import resource, subprocess, sys, time; out = open(sys.argv[1], 'w'); t = time.perf_counter(); "
           "rc = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE).returncode; "
           "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(rc, time.perf_counter() - t, u.ru_maxrss, u.ru_utime + u.ru_stime)")


def run(args: list[str], stdout: Path, cwd: Path) -> tuple[float, float, float]:
    """(wall s, peak MiB, CPU s) of one `finmatch *args` process."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(stdout), sys.executable, "-m", "finmatch_agents", *args],
                         capture_output=True, text=True, check=True, cwd=cwd).stdout.split()
    if int(out[0]) != 0:
        raise SystemExit(f"finmatch {' '.join(args)} exited {out[0]}")
    return float(out[1]), int(out[2]) / 1024, float(out[3])


def seconds_between(events: list[dict], start: str, end: str, agents: set[str] | None, exclude: bool) -> float:
    def pick(e: dict) -> bool:
        return agents is None or ((e["agent"] in agents) != exclude)

    starts = [e["ts"] for e in events if e["event"] == start and pick(e)]
    ends = [e["ts"] for e in events if e["event"] == end and pick(e)]
    if not starts or not ends:
        return 0.0
    parse = lambda ts: datetime.fromisoformat(ts.replace("Z", "+00:00"))  # noqa: E731
    return (parse(max(ends)) - parse(min(starts))).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,250000", help="customer counts (x4 = records)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="folder that keeps the generated databases between runs")
    parser.add_argument("--top", type=int, default=8, help="slowest queries to list per size")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="finmatch-bench-analyze-"))
    store = opts.keep or work
    store.mkdir(parents=True, exist_ok=True)
    os.environ["FINMATCH_STATE_DIR"] = str(work / "state")
    results = []
    for customers in (int(c) for c in opts.sizes.split(",")):
        db = store / f"c{customers}.duckdb"
        if not db.exists():
            subprocess.run([sys.executable, "-m", "finmatch_agents", "data", "generate", "--customers", str(customers),
                            "--db", str(db)], check=True, capture_output=True)
        walls, mems, cpus, sqls, prepares, agent_walls = [], [], [], [], [], []
        records = queries = 0
        slowest: dict[str, list[float]] = {}
        for i in range(opts.repeat):
            events_file = work / f"events-{customers}-{i}.jsonl"
            load = os.getloadavg()[0]
            wall, mib, cpu = run(["analyze", "--db", str(db), "--json", "--model", "offline", "--out",
                                  str(work / "reports")], events_file, work)
            events = [json.loads(line) for line in events_file.read_text().splitlines()]
            query_events = [e for e in events if e["event"] == "query"]
            sqls.append(sum(e["elapsed_ms"] for e in query_events) / 1000)
            queries = len(query_events)
            for e in query_events:
                slowest.setdefault(f"{e['query_id']} {e['title'][:70]}", []).append(e["elapsed_ms"] / 1000)
            prepared = next(e for e in events if e["event"] == "step_finished" and e["agent"] == "prepare")
            records = prepared.get("dataset_rows", 0)
            prepares.append(prepared["elapsed_ms"] / 1000)
            agent_walls.append(seconds_between(events, "step_started", "step_finished",
                                               {"prepare", "synthesize", "publish"}, exclude=True))
            walls.append(wall)
            mems.append(mib)
            cpus.append(cpu)
            print(f"  {customers:,} customers, run {i + 1}: load {load:.2f} before, wall {wall:.2f} s, "
                  f"CPU {cpu:.2f} s, peak {mib:,.0f} MiB", flush=True)
        row = {"records": records, "wall_s": round(statistics.median(walls), 2),
               "cpu_s": round(statistics.median(cpus), 2), "prepare_s": round(statistics.median(prepares), 2),
               "agents_wall_s": round(statistics.median(agent_walls), 2), "sql_s": round(statistics.median(sqls), 2),
               "queries": queries, "peak_mib": round(max(mems))}
        results.append(row)
        top = sorted(slowest.items(), key=lambda kv: -statistics.median(kv[1]))[:opts.top]
        row["slowest"] = [(name, round(statistics.median(times), 2)) for name, times in top]
    print(f"\n{'records':>11}{'wall s':>9}{'CPU s':>8}{'prepare s':>11}{'agents s':>10}{'SQL s':>8}{'queries':>9}"
          f"{'peak MiB':>10}")
    for row in results:
        print(f"{row['records']:>11,}{row['wall_s']:>9.2f}{row['cpu_s']:>8.2f}{row['prepare_s']:>11.2f}"
              f"{row['agents_wall_s']:>10.2f}{row['sql_s']:>8.2f}{row['queries']:>9}{row['peak_mib']:>10,}")
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(f"ratio {last['records']:,} / {first['records']:,} records: "
              f"wall {last['wall_s'] / first['wall_s']:.1f}x, CPU {last['cpu_s'] / first['cpu_s']:.1f}x")
    for row in results:
        print(f"\nslowest queries at {row['records']:,} records (median s, parallel agents share the cores):")
        for name, seconds in row["slowest"]:
            print(f"  {seconds:7.2f}  {name}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
