"""Benchmark the product-matching engine: `match run` at 25k and 250k customers x 40 products (time, peak
memory, cost per customer), `match customer ID` as a process, and the backtest on the default data.

Each step runs as its own `finmatch` process; the script prints numbers (not a test).

    python bench/bench_match.py [--sizes 25000,250000] [--keep DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure


def children_cpu() -> float:
    """User + system CPU seconds of this script's finished child processes (their children included)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def finmatch_json(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-m", "finmatch_agents", *args, "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,250000")
    parser.add_argument("--keep", type=Path, help="keep the databases in this folder")
    parser.add_argument("--repeat", type=int, default=5, help="runs of `match customer` (median)")
    parser.add_argument("--repeat-run", type=int, default=3, help="runs of `match run` (median)")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="finmatch-bench-match-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in opts.sizes.split(",")]
    load = os.getloadavg()
    rows: list[tuple[str, float, float]] = []
    per_customer: dict[int, float] = {}
    for n in sizes:
        db = work / f"match-{n}.duckdb"
        if not db.exists():
            measure(["data", "generate", "--customers", str(n), "--db", str(db), "--force"])
        runs = [measure(["match", "run", "--db", str(db)]) for _ in range(opts.repeat_run)]
        secs, mib = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
        rows.append((f"match run, {n:,} customers x 40 products (median of {opts.repeat_run})", secs, mib))
        per_customer[n] = secs / n * 1e6
        cpu = children_cpu()
        times = [measure(["match", "customer", "C0000042", "--db", str(db)])[0] for _ in range(opts.repeat)]
        cpu = (children_cpu() - cpu) / opts.repeat
        rows.append((f"match customer C0000042 ({n:,}), median of {opts.repeat}", statistics.median(times),
                     float("nan")))
        print(f"match customer C0000042 ({n:,}): median {statistics.median(times):.2f} s wall, {cpu:.2f} s CPU "
              "(user + system, mean, with the measuring wrapper's ~0.02 s)  [target <= 0.5 s]", flush=True)
    default = work / f"match-{sizes[0]}.duckdb"
    ev = finmatch_json(["match", "evaluate", "--db", str(default)])
    acc = ev["acceptance"]
    made, rest, diff = acc["groups"]["engine_top3"], acc["groups"]["not_made"], acc["difference"]
    print(f"machine: {sys.platform}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}; load average "
          f"{load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end (other processes share the CPUs)")
    print(f"{'step':<56}{'seconds':>10}{'peak MiB':>10}")
    for label, secs, mib in rows:
        print(f"{label:<56}{secs:>10.2f}{'' if mib != mib else f'{mib:>10.0f}'}")
    print("cost per customer (µs): " + ", ".join(f"{n:,}: {v:.1f}" for n, v in per_customer.items()))
    print(f"backtest on {sizes[0]:,} customers, cut-off {ev['cutoff']}: engine top-3 offers the bank made accepted "
          f"{made['rate']['value']:.1%} [{made['rate']['low']:.1%}, {made['rate']['high']:.1%}] "
          f"(n={made['offers']:,}); "
          f"offers it would not make {rest['rate']['value']:.1%} [{rest['rate']['low']:.1%}, "
          f"{rest['rate']['high']:.1%}] (n={rest['offers']:,}); difference {diff['value'] * 100:+.1f} pp "
          f"[{diff['low'] * 100:+.1f}, {diff['high'] * 100:+.1f}] (Newcombe 95%)")
    ranking = ev["ranking"]["methods"]
    print("precision@3: " + ", ".join(f"{k} {v['precision']['value']:.3f} [{v['precision']['low']:.3f}, "
                                      f"{v['precision']['high']:.3f}]" for k, v in ranking.items()))
    print(json.dumps({"steps": {label: {"seconds": round(s, 2), "peak_mib": None if m != m else round(m)}
                                for label, s, m in rows},
                      "us_per_customer": per_customer, "backtest": {"made": made, "not_made": rest,
                                                                   "difference": diff}}))


if __name__ == "__main__":
    main()
