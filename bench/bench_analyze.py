"""Benchmark a full offline analysis (all four agents) at ~100k and ~1M records.

Prints wall time, total SQL time (sum of query times from the --json events), query count and peak memory
of the `finmatch analyze` process. Not a test: numbers go in the closing notes and docs/benchmarks.md.

    python bench/bench_analyze.py [--sizes 25000,250000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,250000", help="customer counts (x4 = records)")
    parser.add_argument("--repeat", type=int, default=2)
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="finmatch-bench-analyze-"))
    print(f"{'records':>10}{'wall s':>9}{'SQL s':>8}{'queries':>9}{'agents wall s':>15}{'peak MiB':>10}")
    results = []
    for customers in (int(c) for c in opts.sizes.split(",")):
        db = work / f"c{customers}.duckdb"
        measure(["data", "generate", "--customers", str(customers), "--db", str(db), "--force"])
        walls, mems, sqls, agent_walls = [], [], [], []
        records = queries = 0
        for i in range(opts.repeat):
            events_file = work / f"events-{customers}-{i}.jsonl"
            wall, mib = measure(["analyze", "--db", str(db), "--json"], stdout=events_file, cwd=work)
            events = [json.loads(line) for line in events_file.read_text().splitlines()]
            query_events = [e for e in events if e["event"] == "query"]
            sqls.append(sum(e["elapsed_ms"] for e in query_events) / 1000)
            queries = len(query_events)
            prepared = next(e for e in events if e["event"] == "step_finished" and e["agent"] == "prepare")
            records = prepared.get("dataset_rows", 0)
            starts = [e["ts"] for e in events if e["event"] == "step_started" and e["agent"] not in
                      ("prepare", "synthesize", "publish")]
            ends = [e["ts"] for e in events if e["event"] == "step_finished" and e["agent"] not in
                    ("prepare", "synthesize", "publish")]
            from datetime import datetime

            agent_walls.append((datetime.fromisoformat(max(ends).replace("Z", "+00:00"))
                                - datetime.fromisoformat(min(starts).replace("Z", "+00:00"))).total_seconds())
            walls.append(wall)
            mems.append(mib)
        row = {"records": records, "wall_s": round(statistics.median(walls), 2),
               "sql_s": round(statistics.median(sqls), 2), "queries": queries,
               "agents_wall_s": round(statistics.median(agent_walls), 2), "peak_mib": round(max(mems))}
        results.append(row)
        print(f"{records:>10,}{row['wall_s']:>9.2f}{row['sql_s']:>8.2f}{queries:>9}{row['agents_wall_s']:>15.2f}"
              f"{row['peak_mib']:>10}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
