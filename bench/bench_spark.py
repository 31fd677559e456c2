"""Benchmark the full offline analysis on Spark (a local session) against DuckDB over the same data, in one run.

Generates the synthetic data (default 250,000 customers, about 1M records; seed 42) into a DuckDB file, writes
every table to Parquet (the Spark engine's local layout), then runs `finmatch analyze --json` once on each engine
and prints, per engine: wall time and CPU time (user+sys, the JVM included) of the process, the number of queries,
the sum of their times (it exceeds the wall time when queries run concurrently), and the per-query overhead of
Spark (the mean query time on Spark minus that on DuckDB). It also times opening the Spark engine and a
one-row query in a separate process (start-up and round trip). The load average is printed first: the machine is
shared, so compare CPU time as well as wall time. Not a test: numbers go in docs/benchmarks.md.

    python bench/bench_spark.py [--customers 250000] [--keep DIR] [--master local[2]]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """user + sys seconds of process ``pid`` so far (/proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [d for c in children for d in _descendants(c)]


def run(args: list[str], stdout: Path, cwd: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one `finmatch *args` process and its children: the Spark JVM is one, and the finmatch
    process does not wait for it, so its CPU seconds are read from /proc while it runs (sampled every 0.2 s)."""
    started = time.perf_counter()
    with stdout.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "finmatch_agents", *args], stdout=out,
                                stderr=subprocess.PIPE, cwd=cwd)
        seen: dict[int, float] = {}
        while proc.poll() is None:
            for child in _descendants(proc.pid):
                seen[child] = max(seen.get(child, 0.0), _cpu_of(child))
            time.sleep(0.2)
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"finmatch {' '.join(args)} exited {proc.returncode}: {proc.stderr.read().decode()[-500:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the finmatch processes, waited for
    return wall, usage.ru_utime + usage.ru_stime + sum(seen.values())

PROBE = """
import sys, time
from pathlib import Path
t = time.perf_counter()
from finmatch_agents.evidence import QueryLog
from finmatch_agents.warehouse.spark import SparkEngine
engine = SparkEngine(master=sys.argv[2], tables=Path(sys.argv[1]))
opened = time.perf_counter() - t
times = []
for _ in range(5):
    s = time.perf_counter()
    engine.query("SELECT count(*) AS n FROM products", log=QueryLog())
    times.append(time.perf_counter() - s)
engine.close()
print(opened, times[0], sorted(times[1:])[len(times[1:]) // 2])
"""


def events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, help="folder that keeps the generated database and Parquet files")
    parser.add_argument("--master", default="local[2]")
    opts = parser.parse_args()
    from finmatch_agents.data.generator import write_synthetic
    from finmatch_agents.warehouse.spark import export_parquet

    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="finmatch-bench-spark-") as scratch:
        home = opts.keep or Path(scratch)
        home.mkdir(parents=True, exist_ok=True)
        db, parquet = home / f"c{opts.customers}.duckdb", home / f"c{opts.customers}-parquet"
        if not db.exists():
            counts = write_synthetic(db, opts.customers, 42, force=False)
            print(f"generated {counts['fpr_records']:,} records")
        if not (parquet / "fpr_records.parquet").exists():
            export_parquet(db, parquet)
        probe = subprocess.run([sys.executable, "-c", PROBE, str(parquet), opts.master], capture_output=True,
                               text=True, check=True).stdout.split()
        print(f"spark {opts.master}: engine opened in {float(probe[0]):.1f} s, first query {float(probe[1]):.2f} s, "
              f"then {float(probe[2]) * 1000:.0f} ms per one-row query")
        rows: dict[str, tuple[float, float, int, float]] = {}
        for engine in ("duckdb", "spark"):
            work = Path(scratch) / engine
            work.mkdir()
            (work / "finmatch.toml").write_text(f'[sql]\ntimeout = 3600\n\n[engine.spark]\nmaster = "{opts.master}"\n'
                                                f'tables = "{parquet}"\n')
            out = work / "events.jsonl"
            print(f"load before {engine}: {os.getloadavg()[0]:.2f}")
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall, cpu = run(["analyze", "--db", str(db), "--engine", engine, "--json"], out, work)
            cpu -= before.ru_utime + before.ru_stime  # the probe and earlier runs
            queries = [e for e in events(out) if e["event"] == "query"]
            bad = [e["title"] for e in queries if e.get("status") != "ok"]
            if bad:
                raise SystemExit(f"{engine}: queries did not succeed: {bad}")
            rows[engine] = (wall, cpu, len(queries), sum(e["elapsed_ms"] for e in queries) / 1000)
        print(f"\n{'engine':<8} {'wall s':>8} {'CPU s':>8} {'queries':>8} {'sum of query s':>15}")
        for engine, (wall, cpu, n, total) in rows.items():
            print(f"{engine:<8} {wall:>8.1f} {cpu:>8.1f} {n:>8} {total:>15.1f}")
        (_, _, dn, dt), (sw, _, sn, st) = rows["duckdb"], rows["spark"]
        print(f"\nper-query overhead of spark: {(st / sn - dt / dn) * 1000:.0f} ms (mean query {st / sn * 1000:.0f} ms "
              f"against {dt / dn * 1000:.0f} ms); concurrency: spark wall {sw:.1f} s for {st:.1f} s of queries")


if __name__ == "__main__":
    main()
