"""Benchmark the whole path at 100k, 1M and 10M records: generate, load (CSV and Parquet), analyze, metrics, ask.

Each step runs as its own `finmatch` process (as a user would run it); the script prints its wall time, CPU time
(user + sys, all threads) and peak resident memory per size, then the 10M/1M ratio of each. The CSV and Parquet
files loaded are exports of the generated table (written by DuckDB, not measured). Not a test: the numbers go
in docs/benchmarks.md with the machine's load (`uptime`), which the script prints before and after each size.

    python bench/bench_scale.py [--sizes 100k,1M,10M] [--keep DIR] [--data-only]

``--data-only`` runs only the data steps (generate, the two loads), for work on the generator and the loader.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: records -> customers (about 4.16 recommendations per customer with the bundle follow-ups)
SIZES = {"100k": 25_000, "1M": 250_000, "10M": 2_500_000}
QUESTION = "What is the acceptance rate by customer segment?"
# the child's rusage: wall seconds, CPU seconds (user + sys of the command and its threads), peak RSS in KiB
WRAPPER = ("import resource, subprocess, sys, time; t = time.perf_counter(); out = open(sys.argv[1], 'w'); "
           "rc = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.PIPE).returncode; "
           "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
           "print(rc, time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss)")


def run(args: list[str], stdout: Path, env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak MiB) of one `finmatch *args` process."""
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(stdout), sys.executable, "-m", "finmatch_agents", *args],
                         capture_output=True, text=True, check=True, env=env).stdout.split()
    if int(out[0]) != 0:
        raise SystemExit(f"finmatch {' '.join(args)} exited {out[0]} (output in {stdout})")
    return float(out[1]), float(out[2]), int(out[3]) / 1024


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M,10M", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep its files")
    parser.add_argument("--data-only", action="store_true", help="only data generate and data load")
    opts = parser.parse_args()
    sizes = [s.strip() for s in opts.sizes.split(",")]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"--sizes: unknown {', '.join(unknown)} (known: {', '.join(SIZES)})")
    work = opts.keep or Path(tempfile.mkdtemp(prefix="finmatch-bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "FINMATCH_STATE_DIR": str(work / "state"), "FINMATCH_MODEL": "offline"}
    import duckdb

    results: dict[str, dict[str, object]] = {}
    for size in sizes:
        customers = SIZES[size]
        db, loaded = work / f"{size}.duckdb", work / f"{size}-loaded.duckdb"
        csv, parquet = work / f"{size}.csv", work / f"{size}.parquet"
        for leftover in (db, loaded):
            leftover.unlink(missing_ok=True)
        before = load_average()
        steps: dict[str, tuple[float, float, float]] = {}
        steps["data generate"] = run(["data", "generate", "--customers", str(customers), "--db", str(db)],
                                     work / "generate.out", env)
        with duckdb.connect(str(db), read_only=True) as con:
            records = int(con.execute("SELECT count(*) FROM fpr_records").fetchone()[0])  # type: ignore[index]
            con.execute(f"COPY fpr_records TO '{csv}' (HEADER)")
            con.execute(f"COPY fpr_records TO '{parquet}' (FORMAT parquet)")
        steps["data load (CSV)"] = run(["data", "load", str(csv), "--db", str(loaded), "--replace"],
                                       work / "load.out", env)
        steps["data load (Parquet)"] = run(["data", "load", str(parquet), "--db", str(loaded), "--replace"],
                                           work / "load.out", env)
        if not opts.data_only:
            steps["analyze (offline)"] = run(["analyze", "--db", str(db), "--json"], work / f"analyze-{size}.jsonl",
                                             env)
            steps["metrics"] = run(["metrics", "--json", "--db", str(db)], work / "metrics.out", env)
            steps["ask (one question)"] = run(["ask", QUESTION, "--db", str(db)], work / "ask.out", env)
        results[size] = {"records": records, "load_before": before, "load_after": load_average(),
                         "steps": {k: {"wall_s": round(w, 2), "cpu_s": round(c, 2), "peak_mib": round(m)}
                                   for k, (w, c, m) in steps.items()}}
        print(f"\n{size}: {records:,} records ({customers:,} customers); load average before {before}, after "
              f"{results[size]['load_after']} (2 cores)")
        print(f"{'step':<24}{'wall s':>9}{'CPU s':>9}{'peak MiB':>10}")
        for step, (wall, cpu, mib) in steps.items():
            print(f"{step:<24}{wall:>9.2f}{cpu:>9.2f}{mib:>10.0f}")
        if not opts.keep:
            for path in (csv, parquet, loaded):
                path.unlink(missing_ok=True)
    if "1M" in results and "10M" in results:
        print("\n10M / 1M")
        small, big = results["1M"]["steps"], results["10M"]["steps"]
        assert isinstance(small, dict) and isinstance(big, dict)
        for step, a in small.items():
            b = big[step]
            print(f"{step:<24}{b['wall_s'] / a['wall_s']:>9.1f}{b['cpu_s'] / a['cpu_s']:>9.1f}"
                  f"{b['peak_mib'] / a['peak_mib']:>10.1f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
