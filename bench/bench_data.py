"""Benchmark the data foundation at about 1M records: generate, metrics, data info, load, --help start-up.

Each step runs as its own `finmatch` process (as a user would run it); the script prints wall time and the
peak resident memory of that process. Not a test: numbers go in the closing notes and docs/benchmarks.md.

    python bench/bench_data.py [--customers 250000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=250_000)
    parser.add_argument("--keep", type=Path, help="keep the database in this folder")
    opts = parser.parse_args()
    work = opts.keep or Path(tempfile.mkdtemp(prefix="finmatch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.duckdb"
    db.unlink(missing_ok=True)
    rows: list[tuple[str, float, float]] = []

    secs, mib = measure(["data", "generate", "--customers", str(opts.customers), "--db", str(db), "--force"])
    rows.append((f"data generate --customers {opts.customers:,}", secs, mib))
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        records = con.execute("SELECT count(*) FROM fpr_records").fetchone()[0]
        csv = work / "records.csv"
        con.execute(f"COPY fpr_records TO '{csv}' (HEADER)")
    for label, args in (("metrics --json", ["metrics", "--json"]), ("data info --json", ["data", "info", "--json"]),
                        ("sql (group by segment x type)", ["sql", "SELECT customer_segment, product_type, count(*), "
                         "avg(recommendation_score) FROM fpr_records GROUP BY ALL", "--format", "json"])):
        secs, mib = measure([*args, "--db", str(db)])
        rows.append((label, secs, mib))
    secs, mib = measure(["data", "load", str(csv), "--db", str(work / "loaded.duckdb"), "--replace"])
    rows.append((f"data load ({records:,}-row CSV)", secs, mib))
    helps = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(["finmatch", "--help"], capture_output=True, check=True)
        helps.append(time.perf_counter() - started)
    print(f"records: {records:,}   machine: {sys.platform}, python {sys.version.split()[0]}")
    print(f"{'step':<48}{'seconds':>10}{'peak MiB':>12}")
    for label, secs, mib in rows:
        print(f"{label:<48}{secs:>10.2f}{mib:>12.0f}")
    print(f"{'finmatch --help (median of 5, console script)':<48}{statistics.median(helps):>10.3f}")
    print(json.dumps({"records": records, "steps": {label: {"seconds": round(s, 2), "peak_mib": round(m)}
                                                    for label, s, m in rows},
                      "help_seconds": round(statistics.median(helps), 3)}))


if __name__ == "__main__":
    main()
