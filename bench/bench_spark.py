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
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_analyze import run  # type: ignore[import-not-found]

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
            wall, _, cpu = run(["analyze", "--db", str(db), "--engine", engine, "--json"], out, work)
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
